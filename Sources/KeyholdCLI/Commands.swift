import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore

/// `keyhold`: the root of the command tree.
public struct KeyholdCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keyhold",
        abstract: "Users, roles and encrypted secrets of a web application, in one local vault.",
        discussion: """
            Passwords and secret values are never taken from the command line: they are \
            prompted for without echo, or read from KEYHOLD_USER / KEYHOLD_PASSWORD.

            \(Exit.help)
            """,
        version: "0.1.0",
        subcommands: [
            Init.self, Status.self, UserCommand.self, RoleCommand.self, SecretCommand.self, KeyCommand.self,
            AuditCommand.self, Backup.self, RestoreCommand.self, Check.self, RunCommand.self, ImportCommand.self, ExportCommand.self,
            UpgradeCommand.self, UnlockCommand.self, LockCommand.self, AgentServeCommand.self,
            AppServeCommand.self
        ]
    )
    public init() {}

    @OptionGroup var vault: VaultOptionsGroup

    /// Opens the console on a vault and returns its exit code, or nil when
    /// there is no terminal. Set by the executable (the CLI does not link the
    /// console, so the two front ends stay independent).
    /// `useAgent`: false with --no-agent (the console then logs in itself).
    nonisolated(unsafe) public static var console: (@Sendable (_ path: String, _ options: VaultOptions, _ useAgent: Bool) -> Int32?)?
    /// Makes the agent's answerer of console requests for its session (`keyhold unlock` serves the
    /// console too). Set by the executable that links the console.
    nonisolated(unsafe) public static var consoleAgent: (@Sendable (Session) -> AgentConsoleServer)?

    /// No subcommand: the console on a terminal; otherwise the short help
    /// (usage and the list of subcommands) on stdout, exit 0.
    public func run() throws {
        // The console asks for its password in its own form: a password taken from the
        // environment at start is not kept (guarded) for the whole session.
        for name in ProcessSetup.passwordVariables { _ = ProcessSetup.takePassword(name) }
        guard let code = Self.console?(vault.path, vault.options, !vault.noAgent) else {
            try runReporting { try Terminal.out(Self.shortHelp()) }
            return
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// Parses the command line, runs the command and exits with its code. As
    /// ArgumentParser's `main()`, except that help and messages are written with
    /// checked writes: help that cannot be written exits 72, like any command's output.
    public static func runAndExit() -> Never {
        Foundation.exit(run(arguments: Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs one command line (without the program's name) in this process, with
    /// its standard streams; returns the exit code (what `runAndExit` exits with).
    public static func run(arguments: [String]) -> Int32 {
        var code = Exit.ok
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let o as OutputFailure {
            code = fail(o).rawValue
        } catch {
            code = exitCode(for: error).rawValue
            let text = fullMessage(for: error)
            if !text.isEmpty {
                if code == Exit.ok {
                    // Help, --version or a completion script: keyhold's own text, written as it is.
                    do { try Terminal.outRaw(text) } catch { code = fail(error).rawValue }
                } else {
                    Terminal.err(text)
                }
            }
        }
        return code
    }

    /// The usage line and the subcommands with their one-line abstracts.
    static func shortHelp() -> String {
        let full = helpMessage(columns: 80)
        // Everything from USAGE on: the overview and the exit codes stay in `--help`.
        let usage = full.range(of: "USAGE:").map { String(full[$0.lowerBound...]) } ?? full
        return usage.trimmingCharacters(in: .whitespacesAndNewlines)
            + "\n\nRun 'keyhold --help' for the exit codes and how passwords are given."
    }
}

/// `keyhold init`: the first-run flow. Creates the vault and its first
/// administrator, or, if the vault exists, logs in and shows its status.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the vault and its first administrator (or open it if it exists).")

    @OptionGroup var vault: VaultOptionsGroup

    func run() throws {
        let path = vault.path
        if Vault.exists(at: path) {
            Terminal.err("A vault already exists at \(path). Log in to open it.")
            var code = Exit.ok
            do {
                let opened = try Vault.open(at: path, options: vault.options)
                let session = try Credentials.login(opened)
                code = try Status.show(session)
            } catch { throw fail(error) }
            if code != Exit.ok { throw ExitCode(code) }
            return
        }
        Terminal.err("Creating a new vault at \(path)")
        let user: String
        do { user = try Credentials.username(default: "admin") } catch { throw fail(error) }
        Terminal.err(
            "Choose the administrator's password: at least \(vault.options.passwordMinLength) characters, "
                + "not a common password, not a repeat, sequence or keyboard row, not containing the username. "
                + "A long passphrase is best.")
        let session: Session
        var shown: SecureBytes?
        do {
            let password: SecureBytes
            do { password = try Credentials.newPassword(from: "KEYHOLD_PASSWORD") } catch var m as MissingCredential {
                m.code = Exit.usage  // no login here: a first run without a password is a usage error
                throw m
            }
            // The recovery key is written (and the write checked) before the vault is committed:
            // if it cannot be shown, no vault is made.
            session = try Vault.create(at: path, admin: user, password: password, options: vault.options) { key in
                shown = try Init.showRecoveryKey(key)
            }.session
        } catch let e as ExitCode { throw e } catch {
            // Shown, then the commit failed (a full disk): that key opens nothing.
            if shown != nil { Terminal.err("keyhold: the recovery key shown belongs to no vault (none was created): disregard it") }
            throw fail(error)
        }
        Terminal.err("Vault created. Administrator: \(user)")
        if let shown { try confirmRecoveryKey(shown) }
        try runReporting { try Status.show(session) }
    }

    /// Shows the recovery key once, on stdout, straight from guarded memory; returns it. A failed
    /// write says no vault was made.
    private static func showRecoveryKey(_ key: SecureBytes) throws -> SecureBytes {
        do {
            try Terminal.outSecret(
                "\nRECOVERY KEY (shown this once; write it down and keep it offline):\n\n    ", key,
                "\n\nWith it, access can be regained if every administrator is locked out.\n")
        } catch var o as OutputFailure {
            o.consequence = "the recovery key could not be shown, so no vault was created"
            throw o
        }
        return key
    }

    /// On a terminal, asks for the recovery key back (read and compared in guarded memory).
    private func confirmRecoveryKey(_ shown: SecureBytes) throws {
        guard Terminal.stdinIsTTY else { return }
        while true {
            guard let typed = try Terminal.readSecret(prompt: "Type the recovery key back to confirm you saved it: ") else { return }
            do {
                let parsed = try RecoveryKey.parse(typed: typed)
                if try RecoveryKey.encodeGuarded(parsed).constantTimeEquals(shown) {
                    Terminal.err("Recovery key confirmed.")
                    return
                }
                Terminal.err("That is a valid recovery key, but not this vault's. Try again.")
            } catch {
                Terminal.err("\(error). Try again.")
            }
        }
    }
}

/// `keyhold status`: log in and show, on one screen, what needs doing: the audit chain, an
/// unfinished data-key rotation, secrets past or near their rotate-by date, accounts about to
/// expire, key requests awaiting approval, the standing revocation warning; also the agent.
/// Each part needs the permission that reads it (else it is listed as skipped). Exits 70 when
/// the audit chain fails, else 71 while a data-key rotation is unfinished (docs/CLI.md).
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log in and show the vault's status: what needs doing, on one screen.",
        discussion: """
            Shows the vault, who you are, counts, the agent, and what needs attention: the audit chain \
            (with audit.read), an unfinished data-key rotation, secrets past their rotate-by date or due \
            within \(Status.windowDays) days (with secrets.list), accounts that expire within \(Status.windowDays) \
            days (with users.read), key requests awaiting approval and the standing revocation warning \
            (with keys.manage). A part you lack the permission for is listed as skipped. It only reports: \
            an interrupted rotation is left for `keyhold key resume`.

            Exit status: 0; 70 when the audit chain does not verify; otherwise 71 while a data-key rotation \
            is unfinished (interrupted, or running in another process).
            """)

    /// How far ahead rotate-by dates and account expiries are reported.
    static let windowDays = 14
    /// How many of each list are shown (the count is always complete).
    static let listed = 10

    @OptionGroup var session: SessionOptions
    @OptionGroup var output: JSONFlag

    func run() throws {
        var code = Exit.ok
        try runReporting {
            // A report: it leaves an interrupted rotation alone (`key resume` finishes it), so it can say so.
            code = try Status.show(try session.session(resume: false), json: output.json)
        }
        if code != Exit.ok { throw ExitCode(code) }
    }

    /// Prints the status; returns the exit code it calls for (70 audit chain broken, 71 rotation unfinished, else 0).
    @discardableResult
    static func show(_ session: Session, json: Bool = false) throws -> Int32 {
        let summary = try session.vault.summary()
        let permissions = try session.permissions()
        let perms = permissions.sorted().map(\.rawValue)
        let agent = AgentClient.status(vault: session.vault.path, environment: Terminal.environment)
        let window = Int64(windowDays) * 86_400_000
        var skipped: [String] = []

        let due = permissions.contains(.secretsList) ? try session.rotationDue(within: window, first: listed) : nil
        if due == nil { skipped.append("rotate-by dates (needs secrets.list)") }
        let expiring = permissions.contains(.usersRead) ? try session.usersExpiring(within: window, first: listed) : nil
        if expiring == nil { skipped.append("expiring accounts (needs users.read)") }
        let keys = permissions.contains(.keysManage) ? try session.keyStatus() : nil
        if keys == nil { skipped.append("key requests and the revocation warning (needs keys.manage)") }
        let audit = permissions.contains(.auditRead) ? try session.verifyAudit() : nil
        if audit == nil { skipped.append("audit chain (needs audit.read)") }
        let rotation = try session.pendingRotation()
        let code = audit.map { !$0.ok } ?? false ? Exit.integrity : rotation != nil ? Exit.rotationInProgress : Exit.ok

        if json {
            func dueJSON(_ list: [DueSecret], _ count: Int) -> [String: Any] {
                ["count": count, "first": list.map { ["name": $0.name, "rotate_by": Clock.format($0.rotateBy)] }]
            }
            try Output.printJSON([
                "vault": session.vault.path, "user": session.username, "permissions": perms,
                "users": summary.users, "secrets": summary.secrets, "audit_events": summary.auditEvents,
                "active_data_key": summary.facts.activeDataKey, "window_days": windowDays,
                "agent": agent.map {
                    [
                        "user": $0.user, "idle_until": Clock.format($0.idleDeadline),
                        "max_until": Clock.format($0.maxDeadline)
                    ] as Any
                } ?? NSNull(),
                "audit": audit.map { v -> Any in
                    [
                        "ok": v.ok, "events": v.events, "head": v.head.map { $0 as Any } ?? NSNull(),
                        "failure": v.failure.map { ["seq": $0.seq, "reason": $0.reason] as Any } ?? NSNull()
                    ]
                } ?? NSNull(),
                "rotation": rotation.map {
                    ["to": $0.targetVersion, "total": $0.total, "remaining": $0.remaining, "running": $0.leaseHeld] as Any
                } ?? NSNull(),
                "secrets_overdue": due.map { dueJSON($0.overdue, $0.overdueCount) as Any } ?? NSNull(),
                "secrets_due_soon": due.map { dueJSON($0.dueSoon, $0.dueSoonCount) as Any } ?? NSNull(),
                "users_expiring": expiring.map {
                    ["count": $0.count, "first": $0.first.map { ["username": $0.username, "expires_at": Clock.format($0.expiresAt)] }]
                        as Any
                } ?? NSNull(),
                "key_requests": keys.map {
                    $0.requests.map {
                        [
                            "username": $0.username, "fingerprint": $0.fingerprint.map { $0 as Any } ?? NSNull(),
                            "requested_at": Clock.format($0.requestedAt)
                        ]
                    } as Any
                } ?? NSNull(),
                "revocation_warning": keys?.revocationWarning.map { $0 as Any } ?? NSNull(),
                "skipped": skipped
            ])
            return code
        }

        var lines = [
            "vault:        \(session.vault.path)",
            "logged in as: \(session.username) (\(perms.isEmpty ? "no permissions" : perms.joined(separator: ", ")))",
            "users:        \(summary.users)",
            "secrets:      \(summary.secrets)",
            "data key:     version \(summary.facts.activeDataKey)",
            "audit events: \(summary.auditEvents)",
            agent.map {
                "agent:        unlocked for \($0.user) until \(Clock.format($0.idleDeadline)) if idle, "
                    + "\(Clock.format($0.maxDeadline)) at the latest (keyhold lock ends it)"
            } ?? "agent:        none (keyhold unlock keeps the vault unlocked for later commands)"
        ]
        if let v = audit {
            if let f = v.failure {
                lines.append("audit chain:  BROKEN at event \(f.seq): \(Validate.visible(f.reason))")
            } else {
                lines.append("audit chain:  verified, head \(v.head ?? "-")")
            }
        }
        if let job = rotation {
            lines.append(
                "rotation:     UNFINISHED: data-key rotation to key \(job.targetVersion), \(job.remaining) of \(job.total) "
                    + "version(s) left; "
                    + (job.leaseHeld
                        ? "running in another process"
                        : "interrupted: `keyhold key resume` finishes it"))
        } else {
            lines.append("rotation:     none unfinished")
        }
        if let due {
            lines.append("rotate-by:    \(due.overdueCount) overdue, \(due.dueSoonCount) due within \(windowDays) days")
            for d in due.overdue { lines.append("  OVERDUE  \(d.name)  \(Clock.format(d.rotateBy))") }
            if due.overdueCount > due.overdue.count {
                lines.append("  ... and \(due.overdueCount - due.overdue.count) more overdue (keyhold secret list)")
            }
            for d in due.dueSoon { lines.append("  due      \(d.name)  \(Clock.format(d.rotateBy))") }
            if due.dueSoonCount > due.dueSoon.count {
                lines.append("  ... and \(due.dueSoonCount - due.dueSoon.count) more due soon (keyhold secret list)")
            }
        }
        if let expiring {
            lines.append("expiring:     \(expiring.count) account\(expiring.count == 1 ? "" : "s") within \(windowDays) days")
            for u in expiring.first { lines.append("  \(u.username)  \(Clock.format(u.expiresAt))") }
            if expiring.count > expiring.first.count {
                lines.append("  ... and \(expiring.count - expiring.first.count) more (keyhold user list)")
            }
        }
        if let keys {
            lines.append(
                "key requests: \(keys.requests.isEmpty ? "none" : "\(keys.requests.count) awaiting approval (keyhold key approve USER)")")
            for r in keys.requests {
                lines.append("  \(r.username)  " + (r.fingerprint.map { "fingerprint \($0)" } ?? "no key yet (until their first login)"))
            }
            if let w = keys.revocationWarning {
                lines.append(
                    "WARNING: \(w.split(separator: "\n").map { Validate.visible(String($0)) }.joined(separator: "; ")); rotate the root key (and the data key for full revocation)"
                )
            }
        }
        if !skipped.isEmpty { lines.append("skipped:      " + skipped.joined(separator: "; ")) }
        try Terminal.out(lines.joined(separator: "\n"))
        return code
    }
}
