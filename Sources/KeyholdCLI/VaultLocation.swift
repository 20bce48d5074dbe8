import ArgumentParser
import Foundation
import KeyholdCore

/// Options shared by every command that opens a vault.
struct VaultOptionsGroup: ParsableArguments {
    @Option(
        name: .long,
        help: "Path of the vault file (else KEYHOLD_DB, else $XDG_DATA_HOME/keyhold/keyhold.db, else ~/.local/share/keyhold/keyhold.db).")
    var db: String?

    /// Only so that a password on the command line is refused with the reason
    /// (rather than "unknown option"); never used.
    @Option(name: .customLong("password"), help: .hidden)
    var refusedPassword: String?

    /// Log in here even when an agent serves the vault (the client reads it before parsing).
    @Flag(name: .customLong("no-agent"), help: "Log in for this command even if an agent (keyhold unlock) serves the vault.")
    var noAgent = false

    func validate() throws {
        try refuseArgvValue(refusedPassword.map { [$0] } ?? [], what: "a password", instead: passwordInputHelp)
    }

    /// `--db`, else `KEYHOLD_DB`, else `$XDG_DATA_HOME/keyhold/keyhold.db` (`~/.local/share/...`).
    var path: String { Self.path(db: db, environment: Terminal.environment) }

    static func path(db: String?, environment env: [String: String]) -> String {
        if let db, !db.isEmpty { return db }
        if let p = env["KEYHOLD_DB"], !p.isEmpty { return p }
        let data =
            env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["HOME"] ?? NSHomeDirectory()) + "/.local/share"
        return data + "/keyhold/keyhold.db"
    }

    /// Vault options: the defaults. A debug build (the one the tests drive) takes the cheapest
    /// KDF when the environment asks for it by name; a release build has no such switch.
    var options: VaultOptions { Self.options }

    private static let options: VaultOptions = {
        var options = VaultOptions()
        #if DEBUG
            if Terminal.environment["KEYHOLD_INSECURE_TEST_KDF"] == "1" {
                Terminal.err("keyhold: warning: KEYHOLD_INSECURE_TEST_KDF=1: using the cheapest KDF (for tests only)")
                // libsodium's crypto_pwhash_OPSLIMIT_MIN and MEMLIMIT_MIN, as the test support's
                // `KDFCost.insecureMinimumForTests` (CLITests hold the two equal).
                options.kdf = KDFCost(opslimit: 1, memlimit: 8192)
            }
        #endif
        return options
    }()
}

/// A credential that was not given (exit 65, like any login without one) or was given
/// empty (exit 64: an empty string is not a password), with what to do about it.
struct MissingCredential: Error, CustomStringConvertible {
    var description: String
    var code: Int32

    static func none(_ what: String, variable: String, prompt: String) -> MissingCredential {
        MissingCredential(
            description: "no \(what) given: set \(variable), type it at the \(prompt) on a terminal, "
                + "or give it as a line of standard input", code: Exit.authentication)
    }

    static func empty(_ variable: String, what: String) -> MissingCredential {
        MissingCredential(
            description: "\(variable) is set but empty, and an empty string is not a \(what): "
                + "set it to the \(what), or unset it to be asked", code: Exit.usage)
    }
}

/// Credentials: environment (KEYHOLD_USER, KEYHOLD_PASSWORD), else prompts. Never argv.
/// A credential not given at all is an error that says which and how to give it, never
/// "login failed"; so is a password variable set to the empty string.
enum Credentials {
    static func username(default fallback: String? = nil) throws -> String {
        if let u = Terminal.environment["KEYHOLD_USER"], !u.isEmpty { return u }
        let suffix = fallback.map { " [\($0)]" } ?? ""
        let typed = try Terminal.ask("Username\(suffix): ")?.trimmingCharacters(in: .whitespaces)
        if let typed, !typed.isEmpty { return typed }
        guard let fallback else { throw MissingCredential.none("username", variable: "KEYHOLD_USER", prompt: "prompt") }
        return fallback
    }

    /// KEYHOLD_PASSWORD (taken into guarded memory at start), else a no-echo prompt, else a line of stdin.
    static func password(prompt: String = "Password: ") throws -> SecureBytes {
        if let p = Terminal.passwordVariable("KEYHOLD_PASSWORD") {
            guard p.count > 0 else { throw MissingCredential.empty("KEYHOLD_PASSWORD", what: "password") }
            return p
        }
        guard let typed = try Terminal.readSecret(prompt: prompt), typed.count > 0 else {
            throw MissingCredential.none("password", variable: "KEYHOLD_PASSWORD", prompt: "no-echo prompt")
        }
        return typed
    }

    /// Logs in, completing a forced password change on the way; then, unless
    /// `resume` is false (commands that report the job rather than act), finishes
    /// a data-key rotation that was interrupted, when this user may.
    /// `passwordUsed` receives the password the session ends up with (the new one after a
    /// forced change), for a command that logs in twice (`restore`, to its backup).
    static func login(_ vault: Vault, resume: Bool = true, passwordUsed: ((SecureBytes) -> Void)? = nil) throws -> Session {
        let user = try username()
        let password = try password()
        let session: Session
        switch try vault.login(username: user, password: password) {
        case .session(let s):
            session = s
            passwordUsed?(password)
        case .mustChangePassword(let change):
            Terminal.err("Your password was set by an administrator and must be changed now.")
            let new = try newPassword(forcedFor: user)
            session = try change.complete(newPassword: new)
            passwordUsed?(new)
        }
        if let fingerprint = session.pendingKeyFingerprint {
            Terminal.err(
                "keyhold: your key access awaits an administrator's approval. Your key's fingerprint is \(fingerprint): "
                    + "read it to them; they approve it with `keyhold key approve \(session.username)`.")
        }
        if resume { try finishInterruptedRotation(session) }
        return session
    }

    /// The next open after a kill resumes the rotation: progress
    /// on standard error, so that a command's output stays what it always is.
    /// A job another process owns (running there) is left to it, with a note: this
    /// command goes on meanwhile (older keys still open their versions).
    static func finishInterruptedRotation(_ session: Session) throws {
        guard let job = try session.pendingRotation() else { return }
        let reporter = ProgressReporter("finishing the interrupted rotation")
        let running =
            "keyhold: note: a data-key rotation to key \(job.targetVersion) is running in another process; "
            + "this command goes on meanwhile"
        let result: RotationResult?
        do {
            result = try session.resumeInterruptedRotation(progress: reporter.handler)
        } catch KeyholdError.rotationInProgress {
            Terminal.err(running)
            return
        } catch KeyholdError.rotationSuperseded {
            Terminal.err("keyhold: note: the data-key rotation to key \(job.targetVersion) was finished by another process")
            return
        }
        guard let r = result else {
            Terminal.err(
                job.leaseHeld
                    ? running
                    : "keyhold: note: a data-key rotation to key \(job.targetVersion) was interrupted; "
                        + "it finishes at the next login of a user with keys.manage (or `keyhold key resume`)")
            return
        }
        Terminal.err(
            "keyhold: the interrupted data-key rotation finished: data key \(r.targetVersion) is active"
                + (r.destroyed.isEmpty ? "" : "; destroyed data key(s) \(r.destroyed.map(String.init).joined(separator: ", "))"))
        if !r.checkpointed { Terminal.err(Confirm.checkpointWarning) }
    }

    /// Asks twice for a new password on a terminal; otherwise reads one line,
    /// or takes it from the environment variable `variable` (taken into guarded memory at start).
    /// `forcedFor` names the user whose temporary password must be changed, for the message
    /// when none is given.
    static func newPassword(
        from variable: String = "KEYHOLD_NEW_PASSWORD", forcedFor user: String? = nil,
        missingCode: Int32 = Exit.authentication
    ) throws -> SecureBytes {
        if let p = Terminal.passwordVariable(variable) {
            guard p.count > 0 else { throw MissingCredential.empty(variable, what: "password") }
            return p
        }
        func none() -> MissingCredential {
            var missing = MissingCredential.none("new password", variable: variable, prompt: "prompt")
            missing.code = missingCode
            if let user {
                missing.description =
                    "the password of \(Validate.visible(user)) was set by an administrator and must be changed "
                    + "now, but \(missing.description); nothing was changed"
            }
            return missing
        }
        while true {
            guard let first = try Terminal.readSecret(prompt: "New password: "), first.count > 0 else { throw none() }
            guard Terminal.stdinIsTTY else { return first }
            guard let second = try Terminal.readSecret(prompt: "Repeat new password: ") else { throw none() }
            if first.constantTimeEquals(second) { return first }
            Terminal.err("The two passwords differ; try again.")
        }
    }
}
