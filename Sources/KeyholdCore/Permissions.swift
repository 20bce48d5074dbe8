/// The eight permissions (docs/SECURITY.md).
public enum Permission: String, CaseIterable, Sendable, Comparable, Codable {
    case usersRead = "users.read"
    case usersWrite = "users.write"
    case rolesManage = "roles.manage"
    case secretsList = "secrets.list"
    case secretsRead = "secrets.read"
    case secretsWrite = "secrets.write"
    case keysManage = "keys.manage"
    case auditRead = "audit.read"

    public static func < (a: Permission, b: Permission) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// What the permission lets its holder do, in a few words (for checklists and help).
    public var summary: String {
        switch self {
        case .usersRead: "list accounts and roles"
        case .usersWrite: "create, edit, lock and delete accounts"
        case .rolesManage: "create and edit roles; assign them"
        case .secretsList: "list secret names and metadata"
        case .secretsRead: "reveal secret values (key access)"
        case .secretsWrite: "set and delete secrets (key access)"
        case .keysManage: "rotate keys, see key status (key access)"
        case .auditRead: "read and verify the audit log"
        }
    }

    /// Permissions that entitle a user to the root key R.
    public static let keyAccess: Set<Permission> = [.secretsRead, .secretsWrite, .keysManage]

    /// Permissions whose holders keep the vault administrable: some active user must hold both.
    public static let stewardship: Set<Permission> = [.rolesManage, .keysManage]

    /// Parses a name such as `secrets.read`, naming the field on failure.
    public static func parse(_ name: String) throws(ValidationError) -> Permission {
        guard let p = Permission(rawValue: name) else {
            throw ValidationError(
                field: "permission", rule: .unknown,
                message: "permission: \"\(Validate.visible(name))\" is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return p
    }
}

extension Set where Element == Permission {
    /// Whether these permissions include key access.
    public var grantsKeyAccess: Bool { !isDisjoint(with: Permission.keyAccess) }
    init(names: Set<String>) { self = Set(names.compactMap(Permission.init(rawValue:))) }
    var names: Set<String> { Set<String>(map(\.rawValue)) }
}

/// The six built-in roles. Editable, not deletable while in use.
public enum BuiltinRole {
    public static let all: [(name: String, description: String, permissions: Set<Permission>)] = [
        ("admin", "Everything", Set(Permission.allCases)),
        ("security-officer", "Keys and audit", [.keysManage, .auditRead, .secretsList, .usersRead]),
        ("operator", "Secrets of the application", [.secretsList, .secretsRead, .secretsWrite, .usersRead]),
        ("helpdesk", "User accounts", [.usersRead, .usersWrite]),
        ("auditor", "Read the audit log", [.auditRead, .usersRead, .secretsList]),
        ("user", "An account of the application, not of the console", [])
    ]
}
