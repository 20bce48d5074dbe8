import KeyholdCore

/// Changes to one user account, from the users screen.
public enum UserChange: String, Equatable, Sendable, CaseIterable {
    case lock, unlock, disable, enable

    var pastTense: String {
        switch self {
        case .lock: "locked"
        case .unlock: "unlocked"
        case .disable: "disabled"
        case .enable: "enabled"
        }
    }
}

/// A call into the core, described as a value. `update` returns effects; the
/// runtime runs them off the input path and feeds their results back as actions.
public enum Effect: Equatable, Sendable {
    case createVault(username: String, password: Sensitive)
    case login(username: String, password: Sensitive)
    case completePasswordChange(Sensitive)
    /// The dashboard; secrets whose rotate-by date is within `dueWithin` ms are "due soon".
    case loadDashboard(dueWithin: Int64)
    case verifyAudit
    /// A window of a list (`PagedList`): users by username, secrets by name, events newest first.
    case pageUsers(PageQuery<String>)
    case pageSecrets(PageQuery<String>)
    case pageAudit(PageQuery<Int64>)
    case loadVersions(String)
    case reveal(String, version: Int)
    case changeUser(UserChange, String)
    case loadRoles
    case createUser(username: String, email: String?, displayName: String, roles: [String])
    /// Grants `add` and revokes `remove`, one core call each, stopping at the first refusal.
    case setRoles(String, add: [String], remove: [String])
    case resetPassword(String)
    case approveKey(String, fingerprint: String)
    case deleteUser(String)
    case deleteSecret(String)
    case loadKeys
    /// Progress comes back as `rotationProgress` actions while it runs.
    case rotateDataKey
    case resumeRotation
    /// At login: finish an interrupted rotation, if there is one and the session may.
    case finishInterruptedRotation
    case rotateRootKey
    case loadRoleList
    case createSecret(name: String, value: NewValue, description: String, rotateBy: Int64?, historyLimit: Int?)
    case addVersion(String, NewValue)
    /// One core call (one transaction) holding the changed fields only.
    case editSecret(String, SecretEdit)
    case deleteVersion(String, version: Int)
    /// Changes only what is given: `email: .some(nil)` clears the email.
    case editUser(String, email: String??, displayName: String?)
    /// Nil: never expires.
    case setExpiry(String, at: Int64?)
    case createRole(String, description: String, permissions: Set<Permission>)
    /// Changes only what is given.
    case editRole(String, description: String?, permissions: Set<Permission>?)
    case deleteRole(String)
    /// Forget the session (idle lock, leaving a half-done login).
    case logout
}

/// Which operation failed, so its error lands in the right place.
public enum Operation: String, Equatable, Sendable {
    case createVault, changePassword, dashboard, verifyAudit, users, secrets, versions, reveal, audit, userChange, delete
    case roles, createUser, setRoles, keys, rotation, rootRotation, roleList
    case saveSecret, deleteVersion
    case userForm, roleForm
}

/// Everything `update` reacts to: keys, resizes, ticks and results of effects.
public enum Action: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    /// The clock, ms. Sent before keys and every quarter second.
    case tick(Int64)

    case vaultCreated(Account, recoveryKey: SecureBytes)
    case loggedIn(Account)
    case mustChangePassword(username: String)
    case loginFailed(KeyholdError)
    case dashboardLoaded(DashboardData)
    case auditVerified(AuditVerification)
    case usersPage(PageRead<UserInfo>)
    case secretsPage(PageRead<SecretInfo>)
    case auditPage(PageRead<AuditEvent>)
    case versionsLoaded(String, [SecretVersionInfo])
    case revealed(String, version: Int, SecureBytes)
    case userChanged(UserChange, String)
    case rolesLoaded([RoleInfo])
    case userCreated(String, temporary: SecureBytes)
    case rolesSet(String, changed: Int)
    case passwordReset(String, temporary: SecureBytes)
    case keyApproved(String)
    case deleted(kind: String, name: String, checkpointed: Bool)
    case keysLoaded(KeyStatus)
    /// Re-sealed versions of the running rotation so far.
    case rotationProgress(done: Int, total: Int)
    /// Nil: there was no rotation to resume.
    case rotationFinished(RotationResult?)
    /// Another process owns the data-key rotation (or finished the job meanwhile):
    /// a note, not a failure. The message says which.
    case rotationElsewhere(String)
    case rootRotated(recoveryKey: SecureBytes, rootVersion: Int?)
    case roleListLoaded([RoleInfo])
    case secretSaved(SecretSaved)
    case versionDeleted(String, version: Int, checkpointed: Bool)
    case userEdited(String)
    case expirySet(String, at: Int64?)
    /// The account comes back too: editing a role one holds changes one's own permissions.
    case roleSaved(String, created: Bool, Account)
    case roleDeleted(String)
    case failed(Operation, String)
    /// The session's user was disabled, locked, deleted or reset elsewhere.
    case sessionEnded(String)
    /// The vault's file was replaced while the console had it open: the console stops (the message says why).
    case vaultReplaced(String)
    case loggedOut
    /// The login screen with the notice of an ended session has been drawn (and the keys
    /// typed before it dropped): keys act again.
    case noticeShown
}
