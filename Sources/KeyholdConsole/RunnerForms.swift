import KeyholdCore

extension CoreRunner {
    /// The user-edit, expiry and role forms' calls: one core call each, so each is one transaction.
    func performForm(_ effect: Effect, _ s: Session) throws -> [Action] {
        switch effect {
        case .editUser(let name, let email, let displayName):
            try s.editUser(name, email: email, displayName: displayName)
            return [.userEdited(name)]
        case .setExpiry(let name, let time):
            try s.setExpiry(name, at: time)
            return [.expirySet(name, at: time)]
        case .createRole(let name, let description, let permissions):
            try s.createRole(name, description: description, permissions: permissions)
            return [.roleSaved(name, created: true, try account(s))]
        case .editRole(let name, let description, let permissions):
            try s.editRole(name, description: description, permissions: permissions)
            return [.roleSaved(name, created: false, try account(s))]
        case .deleteRole(let name):
            try s.deleteRole(name)
            return [.roleDeleted(name)]
        default:
            return []
        }
    }
}
