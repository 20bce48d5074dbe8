import KeyholdCore

/// What the first-run, login and password-change screens ask of the core.
public enum SessionEffect: Equatable, Sendable, Codable {
    case createVault(username: String, password: Sensitive)
    case login(username: String, password: Sensitive)
    case completePasswordChange(Sensitive)
    /// Forget the session (idle lock, leaving a half-done login).
    case logout
}

/// What came of a `SessionEffect` (`UpdateSession.swift` applies it).
public enum SessionResult: Sendable {
    case vaultCreated(Account, recoveryKey: SecureBytes)
    case loggedIn(Account)
    case mustChangePassword(username: String)
    /// Every refusal of a login lands on the login form (but a replaced vault file, which stops the console).
    case loginFailed(KeyholdError)
    case loggedOut
}

extension CoreRunner {
    /// The session's calls: they make, replace or forget the session this runner holds.
    func runSession(_ effect: SessionEffect) throws -> SessionResult {
        switch effect {
        case .createVault(let username, let password):
            let (session, recovery) = try Vault.create(at: path, admin: username, password: password.bytes, options: options)
            state.withLock {
                $0.vault = session.vault; $0.session = session
            }
            return .vaultCreated(try account(session), recoveryKey: recovery)

        case .login(let username, let password):
            do {
                return try login(username, password)
            } catch {
                let e = error as? KeyholdError ?? .refused("\(error)")
                if e.isVaultReplaced { throw e }
                return .loginFailed(e)
            }

        case .completePasswordChange(let password):
            guard let change = state.withLock({ $0.change }) else {
                throw KeyholdError.sessionEnded("the login expired; log in again")
            }
            let s = try change.complete(newPassword: password.bytes)
            state.withLock {
                $0.session = s; $0.change = nil
            }
            return .loggedIn(try account(s))

        case .logout:
            state.withLock {
                $0.session = nil; $0.change = nil
            }
            return .loggedOut
        }
    }

    private func login(_ username: String, _ password: Sensitive) throws -> SessionResult {
        guard let vault = state.withLock({ $0.vault }) else { throw KeyholdError.refused("no vault is open") }
        switch try vault.login(username: username, password: password.bytes) {
        case .session(let s):
            state.withLock {
                $0.session = s; $0.change = nil
            }
            return .loggedIn(try account(s))
        case .mustChangePassword(let change):
            state.withLock {
                $0.change = change; $0.session = nil
            }
            return .mustChangePassword(username: change.username)
        }
    }
}
