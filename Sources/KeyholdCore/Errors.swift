import KeyholdCrypto
import KeyholdStore

/// Every failure the core reports. Messages name fields, rules, rows and
/// users, never a password or a secret value.
public enum KeyholdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bad input: the field and the rule.
    case invalid(ValidationError)
    /// An unknown user, a wrong password, or an account locked (after failed logins or by an
    /// administrator): deliberately one answer, so a guesser learns nothing from it.
    case authenticationFailed
    case disabled(username: String)
    case expired(username: String)
    /// A temporary password was not changed before it expired.
    case temporaryPasswordExpired(username: String)
    case permissionDenied(action: String, missing: Permission)
    /// A guard refused: escalation, orphaning, acting on oneself.
    case refused(String)
    case notFound(kind: String, name: String)
    case conflict(String)
    /// A stored value failed to open or verify; names the row.
    case integrity(String)
    /// The session does not hold the root key (no grant, or a pending one).
    case noKeyAccess(String)
    /// The session's user was disabled, locked, deleted or had their password reset since logging in.
    case sessionEnded(String)
    /// Another process owns the data-key rotation (it holds the rotation lease).
    case rotationInProgress(String)
    /// The rotation job this process was running was finished or replaced by another
    /// process in the meantime; this process changed nothing (not damage).
    case rotationSuperseded(jobID: Int64)
    case recoveryKey(RecoveryKey.ParseError)
    case store(StoreError)

    public var description: String {
        switch self {
        case .invalid(let e): e.message
        case .authenticationFailed:
            "login failed: unknown username, wrong password, or an account locked after repeated failures "
                + "(wait and try again, or ask an administrator)"
        case .disabled(let u): "account \(Validate.visible(u)) is disabled"
        case .expired(let u): "account \(Validate.visible(u)) has expired"
        case .temporaryPasswordExpired(let u):
            "the temporary password of \(Validate.visible(u)) has expired; ask an administrator for a new reset"
        case .permissionDenied(let action, let p): "permission denied: \(action) needs \(p.rawValue)"
        case .refused(let why): "refused: \(why)"
        case .notFound(let kind, let name): "no \(kind) named \(Validate.visible(name))"
        case .conflict(let what): "conflict: \(what)"
        case .integrity(let what): "integrity failure: \(what)"
        case .noKeyAccess(let why): "no key access: \(why)"
        case .sessionEnded(let why): "session ended: \(why)"
        case .rotationInProgress(let why): "rotation in progress: \(why)"
        case .rotationSuperseded(let id): "rotation job \(id) was finished by another process; this process changed nothing"
        case .recoveryKey(let e): e.description
        case .store(let e): e.description
        }
    }
}

extension KeyholdError {
    /// The vault's file was replaced (moved, removed or written over) while this process had it
    /// open: the process stopped using it, and a long-running one (the console) stops altogether.
    public var isVaultReplaced: Bool {
        if case .store(.replaced) = self { return true }
        return false
    }
}

extension ValidationError {
    var keyhold: KeyholdError { .invalid(self) }
}
