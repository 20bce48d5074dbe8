import KeyholdCore

/// Changes to one user account, from the users screen.
public enum UserChange: String, Equatable, Sendable, CaseIterable, Codable {
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

/// What the users screen and its dialogs ask of the core.
public enum UsersEffect: Equatable, Sendable, Codable {
    /// A window of the list (`PagedList`), by username.
    case page(PageQuery<String>)
    /// The whole list counted, after its first page when it opens or refreshes.
    case count(ListCount)
    case change(UserChange, String)
    /// The roles the new-user and roles dialogs offer.
    case loadRoles
    case create(username: String, email: String?, displayName: String, roles: [String])
    /// Grants `add` and revokes `remove`, one core call each, stopping at the first refusal.
    case setRoles(String, add: [String], remove: [String])
    case resetPassword(String)
    case approveKey(String, fingerprint: String)
    case delete(String)
    /// Changes only what is given (`displayName` nil: left as it is).
    case edit(String, email: FieldEdit<String>, displayName: String?)
    /// Nil: never expires.
    case setExpiry(String, at: Int64?)
}

/// What came of a `UsersEffect` (`UpdateUsers.swift` applies it).
public enum UsersResult: Sendable, Codable {
    case page(PageRead<UserInfo>)
    case counted(ListCount)
    case changed(UserChange, String)
    case rolesLoaded([RoleInfo])
    case created(String, temporary: SecureBytes)
    /// `changed` roles were granted or revoked; `stoppedBy`, the refusal that stopped the rest.
    case rolesSet(String, changed: Int, stoppedBy: String?)
    case passwordReset(String, temporary: SecureBytes)
    case keyApproved(String)
    case deleted(String, checkpointed: Bool)
    case edited(String)
    case expirySet(String, at: Int64?)
}

extension CoreRunner {
    func runUsers(_ effect: UsersEffect, _ s: Session) throws -> UsersResult {
        switch effect {
        case .page(let q):
            let filter = q.filter.isEmpty ? UserFilter() : UserFilter(name: .contains(q.filter))
            return .page(
                try Self.read(
                    q, descending: false,
                    page: { try s.userPage(filter, at: $0, limit: $1) },
                    count: { try s.userCount(filter, upTo: PagedList<UserInfo>.countCap + 1) }))
        case .count(let c):
            return .counted(ListCount(id: c.id, rows: try s.userCount()))

        case .change(let change, let name):
            switch change {
            case .lock: try s.lockUser(name)
            case .unlock: try s.unlockUser(name)
            case .disable: try s.disableUser(name)
            case .enable: try s.enableUser(name)
            }
            return .changed(change, name)

        case .loadRoles:
            return .rolesLoaded(try s.roles())

        case .create(let username, let email, let displayName, let roles):
            let (user, temp) = try s.createUser(username: username, email: email, displayName: displayName, roles: roles)
            return .created(user.username, temporary: temp)

        case .setRoles(let name, let add, let remove):
            var changed = 0
            do {
                for role in add { try s.grantRole(name, role: role); changed += 1 }
                for role in remove { try s.revokeRole(name, role: role); changed += 1 }
            } catch let e as KeyholdError where changed > 0 {
                // Each change is its own transaction: say how far it got.
                return .rolesSet(name, changed: changed, stoppedBy: e.description)
            }
            return .rolesSet(name, changed: changed, stoppedBy: nil)

        case .resetPassword(let name):
            return .passwordReset(name, temporary: try s.resetPassword(name))

        case .approveKey(let name, let fingerprint):
            try s.approveKeyRequest(name, fingerprint: fingerprint)
            return .keyApproved(name)

        case .delete(let name):
            return .deleted(name, checkpointed: try s.deleteUser(name).checkpointed)

        case .edit(let name, let email, let displayName):
            try s.editUser(name, email: email.change, displayName: displayName)
            return .edited(name)

        case .setExpiry(let name, let time):
            try s.setExpiry(name, at: time)
            return .expirySet(name, at: time)
        }
    }
}
