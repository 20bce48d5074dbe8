import ArgumentParser
import Foundation
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
                      AuditCommand.self, Backup.self, RestoreCommand.self, Check.self, RunCommand.self, ImportCommand.self, ExportCommand.self,
                      UpgradeCommand.self]
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
        guard let code = Self.console?(vault.path, vault.options) else {
            Terminal.out(Self.shortHelp())
            return
        }
        if code != 0 { throw ExitCode(code) }
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
        let created: (session: Session, recoveryKey: SecureBytes)
        do {
            guard let password = Credentials.newPassword(from: "KEYHOLD_PASSWORD") else {
                Terminal.err("keyhold: no password given")
                throw ExitCode(Exit.usage)
            }
            created = try Vault.create(at: path, admin: user, password: password, options: vault.options)
        } catch let e as ExitCode { throw e } catch { throw fail(error) }
        showRecoveryKey(created.recoveryKey)
        Terminal.err("Vault created. Administrator: \(user)")
        try? Status.show(created.session)
    }

    /// Shows the recovery key once and, on a terminal, asks for it back.
    private func showRecoveryKey(_ key: SecureBytes) {
        let text = key.utf8String() ?? ""
        Terminal.out("""

            RECOVERY KEY (shown this once; write it down and keep it offline):

                \(text)

            With it, access can be regained if every administrator is locked out.
            """)
        guard Terminal.stdinIsTTY else { return }
        while true {
            guard let typed = Terminal.readSecret(prompt: "Type the recovery key back to confirm you saved it: ") else { return }
            do {
                let parsed = try RecoveryKey.parse(typed.utf8String() ?? "")
                if RecoveryKey.encode(parsed) == text {
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
            let opened = try Vault.open(at: vault.path, options: vault.options)
            try Status.show(try Credentials.login(opened))
        } catch { throw fail(error) }
    }

    static func show(_ session: Session) throws {
        let summary = try session.vault.summary()
        let perms = try session.permissions().sorted().map(\.rawValue)
        var lines = [
            "vault:        \(session.vault.path)",
            "logged in as: \(session.username) (\(perms.isEmpty ? "no permissions" : perms.joined(separator: ", ")))",
            "users:        \(summary.users)",
            "secrets:      \(summary.secrets)",
            "data key:     version \(summary.activeDataKey)",
            "audit events: \(summary.auditEvents)",
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
            lines.append(v.ok ? "audit chain:  verified, head \(v.head ?? "-")"
                              : "audit chain:  BROKEN at event \(v.failure!.seq): \(Validate.visible(v.failure!.reason))")
        }
        Terminal.out(lines.joined(separator: "\n"))
    }
}
