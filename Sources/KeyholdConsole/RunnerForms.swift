import KeyholdCore

extension CoreRunner {
    /// The user-edit and expiry forms' calls: one core call each, so each is one transaction.
    func performForm(_ effect: Effect, _ s: Session) throws -> [Action] {
        switch effect {
        case .editUser(let name, let email, let displayName):
            try s.editUser(name, email: email, displayName: displayName)
            return [.userEdited(name)]
        case .setExpiry(let name, let time):
            try s.setExpiry(name, at: time)
            return [.expirySet(name, at: time)]
        default:
            return []
        }
    }
}
