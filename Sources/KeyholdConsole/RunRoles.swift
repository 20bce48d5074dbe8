import KeyholdCore

/// What the roles screen and its form ask of the core.
public enum RolesEffect: Equatable, Sendable, Codable {
    case load
    case create(String, description: String, permissions: Set<Permission>)
    /// Changes only what is given.
    case edit(String, description: String?, permissions: Set<Permission>?)
    case delete(String)
}

/// What came of a `RolesEffect` (`UpdateRoles.swift` applies it).
public enum RolesResult: Sendable, Codable {
    case loaded([RoleInfo])
    /// The account comes back too: editing a role one holds changes one's own permissions.
    case saved(String, created: Bool, Account)
    case deleted(String)
}

extension CoreRunner {
    /// One core call each, so each is one transaction.
    func runRoles(_ effect: RolesEffect, _ s: Session) throws -> RolesResult {
        switch effect {
        case .load:
            return .loaded(try s.roles())
        case .create(let name, let description, let permissions):
            try s.createRole(name, description: description, permissions: permissions)
            return .saved(name, created: true, try account(s))
        case .edit(let name, let description, let permissions):
            try s.editRole(name, description: description, permissions: permissions)
            return .saved(name, created: false, try account(s))
        case .delete(let name):
            try s.deleteRole(name)
            return .deleted(name)
        }
    }
}
