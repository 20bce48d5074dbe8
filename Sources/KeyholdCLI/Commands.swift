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
        subcommands: [Init.self, Status.self, UserCommand.self, RoleCommand.self, SecretCommand.self, KeyCommand.self,
                      AuditCommand.self, Backup.self, Check.self, RunCommand.self, ImportCommand.self, ExportCommand.self,
                      UpgradeCommand.self, UnlockCommand.self, LockCommand.self, AgentServeCommand.self]
    )
    public init() {}

    @OptionGroup var vault: VaultOptionsGroup

    /// Opens the console on a vault and returns its exit code, or nil when
    /// there is no terminal. Set by the executable (the CLI does not link the
    /// console, so the two front ends stay independent).
    nonisolated(unsafe) public static var console: (@Sendable (_ path: String, _ options: VaultOptions) -> Int32?)?

    /// No subcommand: the console on a terminal; otherwise the short help
    /// (usage and the list of subcommands) on stdout, exit 0.
    public func run() throws {
        // The console asks for its password in its own form: a password taken from the
        // environment at start is not kept (guarded) for the whole session.
        for name in ProcessSetup.passwordVariables { _ = ProcessSetup.takePassword(name) }
        guard let code = Self.console?(vault.path, vault.options) else {
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
            do {
                let opened = try Vault.open(at: path, options: vault.options)
                let session = try Credentials.login(opened)
                try Status.show(session)
            } catch { throw fail(error) }
            return
        }
        Terminal.err("Creating a new vault at \(path)")
        guard let user = Credentials.username(default: "admin") else { throw ExitCode(Exit.usage) }
        Terminal.err("Choose the administrator's password: at least \(vault.options.passwordMinLength) characters, "
                     + "not a common password, not containing the username. A long passphrase is best.")
        let session: Session
        var shown: SecureBytes?
        do {
            guard let password = Credentials.newPassword(from: "KEYHOLD_PASSWORD") else {
                Terminal.err("keyhold: no password given")
                throw ExitCode(Exit.usage)
            }
            // The recovery key is written (and the write checked) before the vault is committed:
            // if it cannot be shown, no vault is made.
            session = try Vault.create(at: path, admin: user, password: password, options: vault.options) { key in
                shown = try Init.showRecoveryKey(key)
            }.session
        } catch let e as ExitCode { throw e } catch { throw fail(error) }
        Terminal.err("Vault created. Administrator: \(user)")
        if let shown { confirmRecoveryKey(shown) }
        try runReporting { try Status.show(session) }
    }

    /// Shows the recovery key once, on stdout, straight from guarded memory; returns it. A failed
    /// write says no vault was made.
    private static func showRecoveryKey(_ key: SecureBytes) throws -> SecureBytes {
        do {
            try Terminal.outSecret("\nRECOVERY KEY (shown this once; write it down and keep it offline):\n\n    ", key,
                                   "\n\nWith it, access can be regained if every administrator is locked out.\n")
        } catch var o as OutputFailure {
            o.consequence = "the recovery key could not be shown, so no vault was created"
            throw o
        }
        return key
    }

    /// On a terminal, asks for the recovery key back (read and compared in guarded memory).
    private func confirmRecoveryKey(_ shown: SecureBytes) {
        guard Terminal.stdinIsTTY else { return }
        while true {
            guard let typed = Terminal.readSecret(prompt: "Type the recovery key back to confirm you saved it: ") else { return }
            do {
                let parsed = try RecoveryKey.parse(typed: typed)
                if RecoveryKey.encodeGuarded(parsed).constantTimeEquals(shown) {
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

/// `keyhold status`: log in and show counts, key status and the audit chain.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Log in and show the vault's status.")

    @OptionGroup var vault: VaultOptionsGroup

    func run() throws {
        do {
            if let held = Terminal.io.session { return try Status.show(held) }
            let opened = try Vault.open(at: vault.path, options: vault.options)
            try Status.show(try Credentials.login(opened))
        } catch { throw fail(error) }
    }

    static func show(_ session: Session) throws {
        let summary = try session.vault.summary()
        let perms = try session.permissions().sorted().map(\.rawValue)
        let agent = AgentClient.status(vault: session.vault.path, environment: Terminal.environment).map {
            "agent:        unlocked for \($0.user) until \(Clock.format($0.idleDeadline)) if idle, "
                + "\(Clock.format($0.maxDeadline)) at the latest (keyhold lock ends it)"
        } ?? "agent:        none (keyhold unlock keeps the vault unlocked for later commands)"
        var lines = [
            "vault:        \(session.vault.path)",
            "logged in as: \(session.username) (\(perms.isEmpty ? "no permissions" : perms.joined(separator: ", ")))",
            "users:        \(summary.users)",
            "secrets:      \(summary.secrets)",
            "data key:     version \(summary.activeDataKey)",
            "audit events: \(summary.auditEvents)",
            agent,
        ]
        if perms.contains(Permission.keysManage.rawValue) {
            let keys = try session.keyStatus()
            if !keys.pendingGrants.isEmpty { lines.append("pending key grants: \(keys.pendingGrants.joined(separator: ", "))") }
            if let w = keys.revocationWarning {
                lines.append("WARNING: \(w.split(separator: "\n").map { Validate.visible(String($0)) }.joined(separator: "; ")); rotate the root key (and the data key for full revocation)")
            }
        }
        if perms.contains(Permission.auditRead.rawValue) {
            let v = try session.verifyAudit()
            if let f = v.failure {
                lines.append("audit chain:  BROKEN at event \(f.seq): \(Validate.visible(f.reason))")
            } else {
                lines.append("audit chain:  verified, head \(v.head ?? "-")")
            }
        }
        try Terminal.out(lines.joined(separator: "\n"))
    }
}
