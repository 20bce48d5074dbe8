import KeyholdCore

extension CoreRunner {
    /// The forms' calls (secrets, user edit, expiry, roles): one core call each, so each is one transaction.
    func performForm(_ effect: Effect, _ s: Session) throws -> [Action] {
        switch effect {
        case .createSecret(let name, let value, let description, let rotateBy, let historyLimit):
            try s.createSecret(name, value.input, description: description, rotateBy: rotateBy, historyLimit: historyLimit)
            return [.secretSaved(.created(name))]
        case .addVersion(let name, let value):
            return [.secretSaved(.versionAdded(name, version: try s.addVersion(name, value.input)))]
        case .editSecret(let name, let edit):
            try s.editSecret(name, description: edit.description, rotateBy: edit.rotateBy, historyLimit: edit.historyLimit)
            return [.secretSaved(.edited(name, edit.changedFields))]
        case .deleteVersion(let name, let version):
            let outcome = try s.deleteVersion(name, version: version)
            return [.versionDeleted(name, version: version, checkpointed: outcome.checkpointed)]
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
