import ArgumentParser
import KeyholdCore

/// Exit codes, one per kind of failure. Listed in `keyhold --help` and README.
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64  // bad arguments or input that breaks a rule
    static let authentication: Int32 = 65  // unknown user, wrong password or locked account; disabled or expired account
    static let denied: Int32 = 66  // permission denied or refused by a guard
    static let notFound: Int32 = 67
    static let conflict: Int32 = 68
    static let integrity: Int32 = 70  // a stored value failed to open or verify
    static let rotationInProgress: Int32 = 71  // another process owns the data-key rotation
    static let output: Int32 = 72  // standard output could not be written (a full disk, a closed pipe)
    static let vaultUnwritable: Int32 = 73  // the vault cannot be written (read-only, a full disk, a size limit): nothing shown

    static let help = """
        EXIT CODES
          0   success
          1   other failure (file system, database busy)
          64  usage: bad arguments or input that breaks a rule
          65  login failed: unknown user, wrong password or locked account (one answer
              for the three), or a disabled or expired account
          66  permission denied, or refused by a guard
          67  not found
          68  conflict (already exists)
          69  (no longer used: a locked account answers 65, like a wrong password)
          70  integrity failure (a stored value does not open or verify; status:
              the audit chain fails)
          71  rotation in progress: another process owns the data-key rotation
              (--wait waits for it), or finished the job this one was running;
              status: a data-key rotation is unfinished
          72  standard output could not be written (a full disk, a reader gone); a
              one-time secret that could not be shown leaves nothing changed
          73  the vault cannot be written (a read-only file, directory or file
              system, a full disk, a file size limit): its change rolled back, and
              nothing shown, since the audit event could not be written
        """

    static func code(for error: KeyholdError) -> Int32 {
        switch error {
        case .invalid, .recoveryKey: usage
        case .authenticationFailed, .disabled, .expired, .temporaryPasswordExpired, .sessionEnded: authentication
        case .permissionDenied, .refused, .noKeyAccess: denied
        case .notFound: notFound
        case .conflict: conflict
        case .integrity: integrity
        case .rotationInProgress, .rotationSuperseded: rotationInProgress
        case .store(let e):
            switch e {
            case .notFound: notFound
            case .exists: conflict
            case .corrupt, .damaged: integrity
            case .readOnly, .diskFull, .fileSizeLimit: vaultUnwritable
            default: failure
            }
        }
    }
}

/// Prints a core error for a person (never a secret) and exits with its code.
func fail(_ error: any Error) -> ExitCode {
    if let m = error as? MissingCredential {
        Terminal.err("keyhold: \(m)")
        return ExitCode(m.code)
    }
    if let o = error as? OutputFailure {
        Terminal.err("keyhold: \(o)")
        return ExitCode(Exit.output)
    }
    if let k = error as? KeyholdError {
        // A newcomer's first command, before `init`: say how to get a vault.
        let hint =
            switch k {
            case .store(.notFound): " (create one with `keyhold init`, or name yours with --db or KEYHOLD_DB)"
            case .rotationInProgress: " (or pass --wait to wait for it)"
            default: ""
            }
        Terminal.err("keyhold: \(k)\(hint)")
        return ExitCode(Exit.code(for: k))
    }
    Terminal.err("keyhold: \(error)")
    return ExitCode(Exit.failure)
}
