import KeyholdCore

/// What the secrets screen and its forms ask of the core.
public enum SecretsEffect: Equatable, Sendable, Codable {
    /// A window of the list (`PagedList`), by name.
    case page(PageQuery<String>)
    /// The whole list counted, after its first page when it opens or refreshes.
    case count(ListCount)
    case loadVersions(String)
    case reveal(String, version: Int)
    case create(name: String, value: NewValue, description: String, rotateBy: Int64?, historyLimit: Int?)
    case addVersion(String, NewValue)
    /// One core call (one transaction) holding the changed fields only.
    case edit(String, SecretEdit)
    case deleteVersion(String, version: Int)
    case delete(String)
}

/// What came of a `SecretsEffect` (`UpdateSecrets.swift` applies it).
public enum SecretsResult: Sendable, Codable {
    case page(PageRead<SecretInfo>)
    case counted(ListCount)
    case versionsLoaded(String, [SecretVersionInfo])
    case revealed(String, version: Int, SecureBytes)
    case saved(SecretSaved)
    case versionDeleted(String, version: Int, checkpointed: Bool)
    case deleted(String, checkpointed: Bool)
}

extension CoreRunner {
    func runSecrets(_ effect: SecretsEffect, _ s: Session) throws -> SecretsResult {
        switch effect {
        case .page(let q):
            let filter: NameFilter? = q.filter.isEmpty ? nil : .contains(q.filter)
            return .page(
                try Self.read(
                    q, descending: false,
                    page: { try s.secretPage(filter, at: $0, limit: $1) },
                    count: { try s.secretCount(filter, upTo: PagedList<SecretInfo>.countCap + 1) }))
        case .count(let c):
            return .counted(ListCount(id: c.id, rows: try s.secretCount()))
        case .loadVersions(let name):
            return .versionsLoaded(name, try s.versions(of: name))
        case .reveal(let name, let version):
            return .revealed(name, version: version, try s.reveal(name, version: version))
        case .create(let name, let value, let description, let rotateBy, let historyLimit):
            try s.createSecret(name, value.input, description: description, rotateBy: rotateBy, historyLimit: historyLimit)
            return .saved(.created(name))
        case .addVersion(let name, let value):
            return .saved(.versionAdded(name, version: try s.addVersion(name, value.input)))
        case .edit(let name, let edit):
            try s.editSecret(name, description: edit.description, rotateBy: edit.rotateBy.change, historyLimit: edit.historyLimit.change)
            return .saved(.edited(name, edit.changedFields))
        case .deleteVersion(let name, let version):
            return .versionDeleted(name, version: version, checkpointed: try s.deleteVersion(name, version: version).checkpointed)
        case .delete(let name):
            return .deleted(name, checkpointed: try s.deleteSecret(name).checkpointed)
        }
    }
}
