import KeyholdCrypto
import KeyholdStore

// What an application may ask of the vault through the application service
// (`keyhold app-serve`, docs/APPLICATIONS.md "The application service"): verify
// a login and change one's own password. Both are Keyhold's own login and own
// password change, marked "via": "app" in their audit events; nothing else is
// offered, and no session outlives the call.

/// The account a right password opened, as the application service answers it.
public struct ApplicationAccount: Sendable, Equatable {
    public var userID: Int64
    public var username: String
    /// The password was set by someone else (or reset): the application must have the user change it.
    public var mustChange: Bool
}

extension Vault {
    /// Verifies a login for an application: `login(origin: .app)`, so the lockout, the counted
    /// failures, the refusals (told only after a right password), the audit events and the
    /// upgrade of a legacy hash are Keyhold's. An account whose password must change is
    /// answered with `mustChange` rather than refused, so the application can ask for a new one.
    /// The session the login opens is dropped at once.
    public func applicationLogin(username: String, password: SecureBytes) throws -> ApplicationAccount {
        let name = try Vault.applicationUsername(username)
        try Vault.applicationPasswordShape(password, field: "password")
        switch try login(username: name, password: password, origin: .app) {
        case .session(let s): return ApplicationAccount(userID: s.userID, username: s.username, mustChange: false)
        case .mustChangePassword(let c):
            return ApplicationAccount(userID: c.session.userID, username: c.session.username, mustChange: true)
        }
    }

    /// Changes the user's own password for an application. The new password is checked first
    /// (the vault's policy, and different from the current one): a refusal writes nothing.
    /// Then the current password is checked by a login (`applicationLogin`, counted like any),
    /// and the new one set as `keyhold user passwd` sets it: Argon2id at the vault's cost,
    /// must-change cleared, the key pair re-sealed; audited as `password.change` with `"via": "app"`.
    public func applicationChangePassword(username: String, current: SecureBytes, new: SecureBytes) throws -> ApplicationAccount {
        let name = try Vault.applicationUsername(username)
        try Vault.applicationPasswordShape(current, field: "current password")
        try Vault.applicationPasswordShape(new, field: "new password")
        let minLength = try Vault.wrap { try store.read { try $0.vault()?.passwordMinLength } } ?? Validate.passwordDefaultMinimum
        do { try Validate.checkPassword(new, username: name, minimumLength: minLength) } catch {
            guard case .invalid(let v) = error else { throw error }
            throw KeyholdError.invalid(ValidationError(field: "new password", rule: v.rule, message: "new " + v.message))
        }
        if current.constantTimeEquals(new) {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "new password", rule: .unchanged,
                    message: "new password: must differ from the current one"))
        }
        let session: Session, forced: Bool
        switch try login(username: name, password: current, origin: .app) {
        case .session(let s): (session, forced) = (s, false)
        case .mustChangePassword(let c): (session, forced) = (c.session, true)
        }
        // The current password opened the login and differs from the new one (checked above).
        try session.setOwnPassword(new, requireChange: forced, comparedWithCurrent: true, origin: .app)
        return ApplicationAccount(userID: session.userID, username: session.username, mustChange: false)
    }

    /// A username as an application sends it: Keyhold's rule, with a message that never repeats
    /// what was sent (a password typed into the name field must not come back in an answer).
    static func applicationUsername(_ name: String) throws -> String {
        do { return try Validate.username(name) } catch {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "username", rule: error.rule,
                    message: "username: must be \(Validate.identifierMinLength) to \(Validate.identifierMaxLength) "
                        + "ASCII letters, digits, \".\", \"_\" or \"-\""))
        }
    }

    /// A password as an application sends it: not empty, at most `Validate.passwordMaxBytes`.
    static func applicationPasswordShape(_ password: SecureBytes, field: String) throws {
        guard password.count > 0 else {
            throw KeyholdError.invalid(ValidationError(field: field, rule: .required, message: "\(field): must not be empty"))
        }
        guard password.count <= Validate.passwordMaxBytes else {
            throw KeyholdError.invalid(
                ValidationError(
                    field: field, rule: .length,
                    message: "\(field): must be at most \(Validate.passwordMaxBytes) bytes"))
        }
    }
}
