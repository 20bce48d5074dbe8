import ArgumentParser
import Foundation
import KeyholdCore

/// Progress for long jobs: a bar redrawn in place on a terminal, plain lines otherwise.
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let tty = Terminal.stderrIsTTY
    private var lastLine = -1
    private let lock = NSLock()

    init(_ label: String) { self.label = label }

    var handler: ProgressHandler { { [self] done, total in self.report(done, total) } }

    func report(_ done: Int, _ total: Int) {
        lock.withLock {
            if tty {
                let width = 30
                let filled = total == 0 ? width : width * done / max(total, 1)
                let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
                Terminal.errRaw("\r\(label) [\(bar)] \(done)/\(total)")
                if done >= total { Terminal.errRaw("\n") }
            } else {
                // One line per tenth, and the last one.
                let step = total == 0 ? 10 : done * 10 / max(total, 1)
                if step != lastLine || done >= total {
                    lastLine = step
                    Terminal.err("\(label): \(done)/\(total)")
                }
            }
        }
    }
}

extension KeyCommand {
    static func report(_ r: RotationResult, json: Bool) throws {
        if json {
            try Output.printJSON([
                "active_data_key": r.targetVersion, "resealed": r.resealed,
                "destroyed": r.destroyed, "checkpointed": r.checkpointed
            ])
        } else {
            try Terminal.out(
                "data key \(r.targetVersion) is active; \(r.resealed) secret version(s) re-sealed"
                    + (r.destroyed.isEmpty ? "" : "; destroyed data key(s) \(r.destroyed.map(String.init).joined(separator: ", "))"))
        }
        if !r.checkpointed { Terminal.err(Confirm.checkpointWarning) }
    }

    struct RotateData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-data",
            abstract: "Make a new data key active and re-seal every secret under it, in batches (safe to interrupt).",
            discussion: "Interrupted or killed, the job resumes with `keyhold key resume` and loses nothing.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "Secret versions per transaction.") var batch: Int = Session.defaultBatchSize
        @Flag(
            name: .customLong("keep-old-minimum"),
            help: "Do not raise the minimum decryption version when done (older keys are destroyed either way).")
        var keepMinimum = false
        @Flag(help: "If another process is running a data-key rotation, wait for it to end, then rotate (else exit 71 at once).")
        var wait = false

        func validate() throws { try checkOption(batch, "--batch", Validate.batchSizeRange) }

        func run() throws {
            try runReporting {
                let r = try session.session().rotateDataKey(
                    batchSize: batch, raiseMinimum: !keepMinimum, wait: wait,
                    progress: ProgressReporter("re-sealing").handler)
                try KeyCommand.report(r, json: output.json)
            }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Finish a data-key rotation that was interrupted.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "Secret versions per transaction.") var batch: Int = Session.defaultBatchSize
        @Flag(help: "If another process is running the rotation, wait for it to end, then finish what is left (else exit 71 at once).")
        var wait = false

        func validate() throws { try checkOption(batch, "--batch", Validate.batchSizeRange) }

        func run() throws {
            try runReporting {
                let result: RotationResult?
                do {
                    result = try session.session(resume: false).resumeRotation(
                        batchSize: batch, wait: wait,
                        progress: ProgressReporter("re-sealing").handler)
                } catch let e as KeyholdError {
                    // Finished by another process meanwhile: the job is done, nothing here changed.
                    guard case .rotationSuperseded = e else { throw e }
                    Terminal.err("keyhold: note: \(e)")
                    result = nil
                }
                guard let r = result else {
                    Terminal.err("No rotation is pending.")
                    if output.json { try Output.printJSON(["pending": false]) }
                    return
                }
                try KeyCommand.report(r, json: output.json)
            }
        }
    }

    struct RotateRoot: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-root",
            abstract: "Replace the root key: re-seal every data key and grant, and show a new recovery key once.",
            discussion: """
                The old recovery key stops opening the vault. On a terminal it asks you to type the vault's \
                name (its file name, e.g. keyhold.db) back first; without a terminal it needs --yes.
                """)
        @OptionGroup var session: SessionOptions
        @Flag(help: "Do not ask to type the vault's name back (needed without a terminal).") var yes = false

        func run() throws {
            try runReporting {
                let name = (session.vault.path as NSString).lastPathComponent
                let action = "rotate the root key (the old recovery key stops working) of the vault"
                try Confirm.requireYes(yes, action: action, name: name)
                let s = try session.session()
                try Confirm.typed(name, action: action, skip: yes, what: "the vault's name")
                // Written (and the write checked) before the rotation commits: a key that cannot be
                // shown leaves the old one in force.
                _ = try OneTimeSecret.voidIfFailed(
                    "the new recovery key shown was not put in force (the old one still opens the vault): disregard it"
                ) { shown in
                    try s.rotateRootKey { key in
                        do {
                            try Terminal.outSecret(
                                "\nNEW RECOVERY KEY (shown this once; the old one no longer opens the vault):\n\n    ",
                                key, "\n\n")
                        } catch var o as OutputFailure {
                            o.consequence =
                                "the new recovery key could not be shown, so the root key was not rotated "
                                + "(the old recovery key still opens the vault)"
                            throw o
                        }
                        shown()
                    }
                }
                Terminal.err("Root key rotated; other sessions must log in again.")
            }
        }
    }

    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Regain access with the recovery key: give an administrator a temporary password.",
            discussion: """
                The recovery key is read from a no-echo prompt or, when not on a terminal, the first line of \
                standard input (never from the command line). The user must hold roles.manage and keys.manage; \
                they are unlocked, enabled, given a new key pair and the root key, and must change the temporary \
                password at their next login.
                """)
        @OptionGroup var vault: VaultOptionsGroup
        @OptionGroup var output: JSONFlag
        @Argument(help: "The administrator to restore.", completion: .custom(Completions.usernames)) var username: String

        func run() throws {
            try runReporting {
                guard let key = try Terminal.readSecret(prompt: "Recovery key: ") else {
                    throw ArgumentParser.ValidationError("no recovery key given")
                }
                let opened = try Vault.open(at: vault.path, options: vault.options)
                _ = try UserCommand.temporaryPasswordVoidIfFailed("nothing was changed") { shown in
                    try opened.recover(recoveryKey: key, username: username) { temp in
                        try UserCommand.showTemporaryPassword(
                            temp, for: username, json: output.json,
                            unchanged: "nothing was changed (the recovery key is still valid)")
                        shown()
                    }
                }
            }
        }
    }
}
