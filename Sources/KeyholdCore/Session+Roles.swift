import KeyholdStore

extension Session {
    /// Every role with its permissions and member count.
    public func roles() throws -> [RoleInfo] {
        try read(requires: .usersRead, action: "role.list") { tx, _ in
            try tx.roles().map { r in
                RoleInfo(
                    name: r.name, description: r.description, builtin: r.builtin,
                    permissions: Set(names: r.permissions), members: try tx.roleMemberCount(roleID: r.id))
            }
        }
    }

    /// One role by name.
    public func role(named name: String) throws -> RoleInfo {
        guard let r = try roles().first(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw KeyholdError.notFound(kind: "role", name: name)
        }
        return r
    }

    /// Creates a custom role from permissions the actor holds.
    public func createRole(_ name: String, description: String = "", permissions: Set<Permission>) throws {
        let name = try Vault.valid { try Validate.roleName(name) }
        let description = try Vault.valid { try Validate.description(description, field: "role description") }
        try perform(.roleCreate, target: "role:\(name)", requires: .rolesManage) { op in
            if try op.tx.role(named: name) != nil { throw KeyholdError.conflict("a role named \(name) already exists") }
            try requireHeld(op, permissions, what: "create role \(name) with")
            try op.tx.insertRole(
                name: name, description: description, builtin: false, createdAt: op.now,
                permissions: permissions.names)
            op.details = ["permissions": .strings(permissions.sorted().map(\.rawValue))]
        }
    }

    /// Edits a role's description and/or permissions; members' key grants follow at once.
    public func editRole(_ name: String, description: String? = nil, permissions: Set<Permission>? = nil) throws {
        let description = try description.map { d in try Vault.valid { try Validate.description(d, field: "role description") } }
        try perform(.roleEdit, target: "role:\(name)", requires: .rolesManage) { op in
            guard let role = try op.tx.role(named: name) else { throw KeyholdError.notFound(kind: "role", name: name) }
            op.target = "role:\(role.name)"
            try requireHeld(op, Set(names: role.permissions), what: "edit role \(role.name), which carries")
            if let description { try op.tx.updateRole(id: role.id, name: role.name, description: description) }
            if let permissions {
                try requireHeld(op, permissions, what: "give role \(role.name)")
                // Changing a role changes every member: the actor must hold everything each of them holds.
                for member in try op.tx.users(UserQuery(role: role.name)) {
                    try requireManageable(op, member, action: "edit role \(role.name), held by")
                }
                let before = try stewards(op)
                try op.tx.setRolePermissions(roleID: role.id, permissions.names)
                op.details["permissions"] = .strings(permissions.sorted().map(\.rawValue))
                var changes: [String] = []
                for u in try op.tx.users(UserQuery(role: role.name)) {
                    if let c = try syncKeyAccess(&op, userID: u.id) { changes.append("\(u.username):\(c)") }
                }
                if !changes.isEmpty { op.details["key_access"] = .strings(changes) }
                try requireSteward(op, before: before)
            }
            if description != nil { op.details["description"] = .bool(true) }
        }
    }

    /// Deletes a role no user holds.
    public func deleteRole(_ name: String) throws {
        try perform(.roleDelete, target: "role:\(name)", requires: .rolesManage) { op in
            guard let role = try op.tx.role(named: name) else { throw KeyholdError.notFound(kind: "role", name: name) }
            op.target = "role:\(role.name)"
            try requireHeld(op, Set(names: role.permissions), what: "delete role \(role.name), which carries")
            let members = try op.tx.roleMemberCount(roleID: role.id)
            if members > 0 {
                throw KeyholdError.refused("role \(role.name) is held by \(members) user(s); revoke it from them first")
            }
            try op.tx.deleteRole(id: role.id)
            op.details = ["builtin": .bool(role.builtin)]
        }
    }

    private func requireHeld(_ op: Op, _ permissions: Set<Permission>, what: String) throws {
        let beyond = permissions.subtracting(op.permissions)
        if !beyond.isEmpty {
            throw KeyholdError.refused(
                "you cannot \(what) \(beyond.sorted().map(\.rawValue).joined(separator: ", ")), which you do not hold")
        }
    }
}
