import KeyholdCore
import Synchronization

/// Runs effects against the core and turns their outcomes into actions. It
/// holds the vault and the session; the model never does. The live console
/// calls it on a serial queue, tests call it directly.
public final class CoreRunner: Sendable {
    public let path: String
    let options: VaultOptions

    private struct State: Sendable {
        var vault: Vault?
        var session: Session?
        var change: PasswordChange?
    }
    private let state = Mutex(State())

    public init(path: String, options: VaultOptions) {
        self.path = path
        self.options = options
    }

    /// Opens an existing vault (before the terminal is taken over, so an error can be printed).
    @discardableResult
    public func open() throws -> VaultSummary {
        let vault = try Vault.open(at: path, options: options)
        state.withLock { $0.vault = vault }
        return try vault.summary()
    }

    /// Uses a vault opened elsewhere (tests).
    public func use(_ vault: Vault) { state.withLock { $0.vault = vault } }

    var session: Session? { state.withLock { $0.session } }

    /// Runs one effect. Never throws: failures come back as actions. Long
    /// work (a rotation) hands `progress` actions over while it runs.
    public func run(_ effect: Effect, progress: (@Sendable (Action) -> Void)? = nil) -> [Action] {
        do {
            return try perform(effect, progress: progress)
        } catch let e as KeyholdError {
            if e.isVaultReplaced {
                // The store stopped using the file; so does the console: nothing more is sent to the core.
                state.withLock {
                    $0.session = nil; $0.change = nil; $0.vault = nil
                }
                return [.vaultReplaced(e.description)]
            }
            if case .login = effect { return [.loginFailed(e)] }
            switch (effect, e) {
            case (.rotateDataKey, .rotationInProgress), (.resumeRotation, .rotationInProgress),
                (.finishInterruptedRotation, .rotationInProgress), (.resumeRotation, .rotationSuperseded),
                (.finishInterruptedRotation, .rotationSuperseded), (.rotateDataKey, .rotationSuperseded):
                return [.rotationElsewhere(e.description)]
            default: break
            }
            if case .sessionEnded(let why) = e {
                state.withLock { $0.session = nil }
                return [.sessionEnded(why)]
            }
            return [failure(effect, e.description)]
        } catch {
            return [failure(effect, "\(error)")]
        }
    }

    private func failure(_ effect: Effect, _ message: String) -> Action {
        switch effect {
        case .createVault: .failed(.createVault, message)
        case .login: .loginFailed(.refused(message))
        case .completePasswordChange: .failed(.changePassword, message)
        case .loadDashboard: .failed(.dashboard, message)
        case .verifyAudit: .failed(.verifyAudit, message)
        case .loadUsers: .failed(.users, message)
        case .loadSecrets: .failed(.secrets, message)
        case .loadVersions: .failed(.versions, message)
        case .reveal: .failed(.reveal, message)
        case .loadAudit: .failed(.audit, message)
        case .changeUser, .resetPassword, .approveKey: .failed(.userChange, message)
        case .loadRoles: .failed(.roles, message)
        case .createUser: .failed(.createUser, message)
        case .setRoles: .failed(.setRoles, message)
        case .deleteUser, .deleteSecret: .failed(.delete, message)
        case .loadKeys: .failed(.keys, message)
        case .rotateDataKey, .resumeRotation, .finishInterruptedRotation: .failed(.rotation, message)
        case .rotateRootKey: .failed(.rootRotation, message)
        case .loadRoleList: .failed(.roleList, message)
        case .createSecret, .addVersion, .editSecret: .failed(.saveSecret, message)
        case .deleteVersion: .failed(.deleteVersion, message)
        case .editUser, .setExpiry: .failed(.userForm, message)
        case .createRole, .editRole: .failed(.roleForm, message)
        case .deleteRole: .failed(.delete, message)
        case .logout: .loggedOut
        }
    }

    private func requireSession() throws -> Session {
        guard let s = session else { throw KeyholdError.sessionEnded("not logged in") }
        return s
    }

    func account(_ s: Session) throws -> Account {
        Account(
            username: s.username, permissions: try s.permissions(), hasKeyAccess: s.hasKeyAccess,
            pendingKeyFingerprint: s.pendingKeyFingerprint)
    }

    private func perform(_ effect: Effect, progress: (@Sendable (Action) -> Void)?) throws -> [Action] {
        switch effect {
        case .createVault(let username, let password):
            let (session, recovery) = try Vault.create(at: path, admin: username, password: password.bytes, options: options)
            state.withLock {
                $0.vault = session.vault; $0.session = session
            }
            return [.vaultCreated(try account(session), recoveryKey: recovery)]

        case .login(let username, let password):
            guard let vault = state.withLock({ $0.vault }) else { throw KeyholdError.refused("no vault is open") }
            // A failure is `.loginFailed` (or `.vaultReplaced`), as `run` answers every login.
            switch try vault.login(username: username, password: password.bytes) {
            case .session(let s):
                state.withLock {
                    $0.session = s; $0.change = nil
                }
                return [.loggedIn(try account(s))]
            case .mustChangePassword(let change):
                state.withLock {
                    $0.change = change; $0.session = nil
                }
                return [.mustChangePassword(username: change.username)]
            }

        case .completePasswordChange(let password):
            guard let change = state.withLock({ $0.change }) else {
                throw KeyholdError.sessionEnded("the login expired; log in again")
            }
            let s = try change.complete(newPassword: password.bytes)
            state.withLock {
                $0.session = s; $0.change = nil
            }
            return [.loggedIn(try account(s))]

        case .loadDashboard(let dueWithin):
            let s = try requireSession()
            let perms = try s.permissions()
            let summary = try s.vault.summary()
            let keys = perms.contains(.keysManage) ? try s.keyStatus() : nil
            let rotation = perms.contains(.secretsList) ? try s.rotationDue(within: dueWithin, first: Console.dueShown) : nil
            let roles = perms.contains(.usersRead) ? try s.user(named: s.username).roles : nil
            return [.dashboardLoaded(DashboardData(summary: summary, keyStatus: keys, rotation: rotation, roles: roles))]

        case .verifyAudit:
            return [.auditVerified(try requireSession().verifyAudit())]

        case .loadUsers:
            return [.usersLoaded(try requireSession().users())]

        case .loadSecrets:
            return [.secretsLoaded(try requireSession().secrets())]

        case .loadVersions(let name):
            return [.versionsLoaded(name, try requireSession().versions(of: name))]

        case .reveal(let name, let version):
            return [.revealed(name, version: version, try requireSession().reveal(name, version: version))]

        case .loadAudit(let limit):
            return [.auditLoaded(try requireSession().auditEvents(AuditQuery(limit: limit, newestFirst: true)))]

        case .changeUser(let change, let name):
            let s = try requireSession()
            switch change {
            case .lock: try s.lockUser(name)
            case .unlock: try s.unlockUser(name)
            case .disable: try s.disableUser(name)
            case .enable: try s.enableUser(name)
            }
            return [.userChanged(change, name)]

        case .loadRoles:
            return [.rolesLoaded(try requireSession().roles())]

        case .createUser(let username, let email, let displayName, let roles):
            let (user, temp) = try requireSession().createUser(
                username: username, email: email, displayName: displayName,
                roles: roles)
            return [.userCreated(user.username, temporary: temp)]

        case .setRoles(let name, let add, let remove):
            let s = try requireSession()
            var changed = 0
            do {
                for role in add { try s.grantRole(name, role: role); changed += 1 }
                for role in remove { try s.revokeRole(name, role: role); changed += 1 }
            } catch let e as KeyholdError where changed > 0 {
                // Each change is its own transaction: say how far it got.
                return [.rolesSet(name, changed: changed), .failed(.setRoles, e.description)]
            }
            return [.rolesSet(name, changed: changed)]

        case .resetPassword(let name):
            return [.passwordReset(name, temporary: try requireSession().resetPassword(name))]

        case .approveKey(let name, let fingerprint):
            try requireSession().approveKeyRequest(name, fingerprint: fingerprint)
            return [.keyApproved(name)]

        case .deleteUser(let name):
            let outcome = try requireSession().deleteUser(name)
            return [.deleted(kind: "user", name: name, checkpointed: outcome.checkpointed)]

        case .deleteSecret(let name):
            let outcome = try requireSession().deleteSecret(name)
            return [.deleted(kind: "secret", name: name, checkpointed: outcome.checkpointed)]

        case .loadKeys:
            return [.keysLoaded(try requireSession().keyStatus())]

        case .rotateDataKey, .resumeRotation, .finishInterruptedRotation:
            let s = try requireSession()
            let report: ProgressHandler = { done, total in progress?(.rotationProgress(done: done, total: total)) }
            switch effect {
            case .rotateDataKey: return [.rotationFinished(try s.rotateDataKey(progress: report))]
            case .resumeRotation: return [.rotationFinished(try s.resumeRotation(progress: report))]
            default: return [.rotationFinished(try s.resumeInterruptedRotation(progress: report))]
            }

        case .rotateRootKey:
            let s = try requireSession()
            let key = try s.rotateRootKey()
            return [.rootRotated(recoveryKey: key, rootVersion: try? s.keyStatus().rootVersion)]

        case .loadRoleList:
            return [.roleListLoaded(try requireSession().roles())]

        case .createSecret, .addVersion, .editSecret, .deleteVersion,
            .editUser, .setExpiry, .createRole, .editRole, .deleteRole:
            return try performForm(effect, try requireSession())

        case .logout:
            state.withLock {
                $0.session = nil; $0.change = nil
            }
            return [.loggedOut]
        }
    }
}
