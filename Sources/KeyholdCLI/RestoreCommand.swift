import ArgumentParser
import Foundation
import KeyholdCore

/// `keyhold restore BACKUP`: the one way back from a backup (docs/CLI.md, "restore").
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup of the vault in place; the replaced contents are kept beside it.",
        discussion: """
            The backup must be a vault of this release's format that passes `check`, with the same vault id \
            (--other-vault for another vault). You log in to the vault and, with the same username, to the backup \
            (KEYHOLD_BACKUP_PASSWORD if your password was different then); you need keys.manage in both. Nobody \
            else may have the vault open. On a terminal you type the vault's file name to confirm (--yes otherwise). \
            Exit codes: 0 restored; 1 cancelled, the vault open elsewhere, BACKUP not a vault of this format; \
            64 no terminal and no --yes; 65 a login failed; 66 no keys.manage; 67 no file at BACKUP; \
            68 BACKUP is another vault (without --other-vault); 70 BACKUP is damaged or fails check.
            """)

    @OptionGroup var vault: VaultOptionsGroup
    @Argument(help: "The backup to restore (a vault file written by `keyhold backup`).") var backup: String
    @Flag(name: .customLong("other-vault"), help: "Allow a backup of another vault (a different vault id).")
    var otherVault = false
    @Flag(help: "Do not ask to type the vault's name (needed without a terminal).") var yes = false
    @OptionGroup var output: JSONFlag

    func run() throws {
        try runReporting {
            if !yes, !Terminal.stdinIsTTY {
                throw usageError(
                    "--yes",
                    """
                    restore replaces the vault at \(Validate.visible(vault.path)) with \(Validate.visible(backup)); there is \
                    no terminal to confirm on, so give --yes to say that is intended
                    """)
            }
            let live = try Vault.open(at: vault.path, options: vault.options)
            var password: SecureBytes?
            let session = try Credentials.login(live, resume: false, passwordUsed: { password = $0 })
            let restore: Restore
            do {
                restore = try session.beginRestore(from: backup, allowOtherVault: otherVault)
            } catch KeyholdError.store(.notFound(let path)) {
                throw KeyholdError.notFound(kind: "backup file", name: path)
            }
            defer { restore.cancel() }  // nothing once committed
            let check = try verify(restore, username: session.username, password: password)
            if !check.report.ok {
                for p in check.report.problems {
                    Terminal.err("PROBLEM [\(p.area)] \(Validate.visible(p.location)): \(Validate.visible(p.message))")
                }
                throw KeyholdError.integrity(
                    "the backup \(Validate.visible(restore.backup)) fails check "
                        + "(\(check.report.problems.count) problem(s)); nothing was restored")
            }
            for w in check.report.warnings { Terminal.err("keyhold: note: the backup: \(Validate.visible(w.message))") }
            if !yes { try confirm(restore, check) }
            let reporter = ProgressReporter("restoring")
            let r = try restore.commit(progress: { reporter.report($0, $1) })
            if output.json {
                try Output.printJSON([
                    "restored": r.backup, "vault": r.vault, "kept": r.kept, "cut_events": r.cutEvents,
                    "cut_through": r.cutThrough.map { $0 as Any } ?? NSNull(), "event_seq": r.eventSeq,
                    "other_vault": r.otherVault, "checkpointed": r.checkpointed
                ])
            } else {
                try Terminal.out(
                    "Restored \(Validate.visible(r.backup)) into \(Validate.visible(r.vault))"
                        + (r.otherVault ? " (another vault: its vault id replaces this one's)." : "."))
                try Terminal.out(
                    "The replaced contents are kept in \(Validate.visible(r.kept)); delete it once you no longer "
                        + "need it (like any backup, it holds the old keys and values, encrypted).")
                try Terminal.out(
                    r.cutEvents == 0
                        ? "No events were cut: the backup holds every event of the replaced audit log."
                        : "Cut \(r.cutEvents) event(s) of the replaced audit log, through seq \(r.cutThrough ?? 0) "
                            + "(they remain in the kept copy).")
                try Terminal.out("Recorded as vault.restore, event \(r.eventSeq).")
            }
            if !r.checkpointed {
                Terminal.err(
                    "warning: a reader outside Keyhold holds the vault's write-ahead log, so it could not be "
                        + "truncated yet: pages of the replaced contents may remain in the -wal file until it is. "
                        + "Run `keyhold check` when it has closed the vault.")
            }
        }
    }

    /// Logs in to the backup: with KEYHOLD_BACKUP_PASSWORD if set, else with the password just
    /// used, and on a terminal once more with one typed for the backup.
    private func verify(_ restore: Restore, username: String, password: SecureBytes?) throws -> RestoreCheck {
        if let p = Terminal.passwordVariable("KEYHOLD_BACKUP_PASSWORD") {
            return try restore.verify(password: p)
        }
        guard let password else { throw KeyholdError.authenticationFailed }
        do {
            return try restore.verify(password: password)
        } catch KeyholdError.authenticationFailed {
            let hint = "keyhold: the backup did not accept the password of \(Validate.visible(username))"
            guard Terminal.stdinIsTTY else {
                Terminal.err(hint + "; if it was different when the backup was made, give that one in KEYHOLD_BACKUP_PASSWORD")
                throw KeyholdError.authenticationFailed
            }
            Terminal.err(hint + ".")
            guard let other = try Terminal.readSecret(prompt: "Password of \(Validate.visible(username)) in the backup: ") else {
                throw KeyholdError.authenticationFailed
            }
            return try restore.verify(password: other)
        }
    }

    /// On a terminal: says what will happen, and the vault's file name must be typed back.
    private func confirm(_ restore: Restore, _ check: RestoreCheck) throws {
        Terminal.err(
            "This replaces the vault \(Validate.visible(vault.path)) with the backup \(Validate.visible(restore.backup))"
                + (restore.sameVault
                    ? "."
                    : ", which is ANOTHER vault (vault id \(restore.backupVaultID); this one's is \(restore.liveVaultID))."))
        Terminal.err(
            check.cutEvents == 0
                ? "The backup holds every event of the vault's audit log; none is cut."
                : "The vault's \(check.cutEvents) newest audit event(s), through seq \(check.cutThrough ?? 0), are not in "
                    + "the backup and will be cut (the replaced contents are kept beside the vault).")
        let name = restore.vaultName
        let typed = try Terminal.ask("To restore, type the vault's file name (\(Validate.visible(name))); anything else cancels: ")
        guard typed?.trimmingCharacters(in: .whitespaces) == name else {
            Terminal.err("Cancelled; nothing was changed.")
            throw ExitCode(Exit.failure)
        }
    }
}
