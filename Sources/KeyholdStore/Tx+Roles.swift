import GRDB

// Roles, their permissions, and which users hold them.
extension Tx {
    // MARK: Roles

    public func roles() throws -> [RoleRow] {
        var byRole: [Int64: Set<String>] = [:]
        try forEachRow(db.cachedStatement(sql: "SELECT role_id, permission FROM role_permissions")) { row in
            let c = Columns(row, "role_permissions", key: 2)
            byRole[try c.value(0), default: []].insert(try c.value(1))
        }
        var roles = try mapRows(db.cachedStatement(sql: "SELECT " + RoleRow.columns + " FROM roles ORDER BY id"), [], RoleRow.init(row:))
        for i in roles.indices { roles[i].permissions = byRole[roles[i].id] ?? [] }
        return roles
    }

    public func role(named name: String) throws -> RoleRow? {
        guard
            var role = try mapRow(
                db.cachedStatement(sql: "SELECT " + RoleRow.columns + " FROM roles WHERE name = ?"), [name],
                RoleRow.init(row:))
        else { return nil }
        role.permissions = Set(
            try mapRows(
                db.cachedStatement(sql: "SELECT role_id, permission FROM role_permissions WHERE role_id = ?"),
                [role.id]
            ) { try Columns($0, "role_permissions", key: 2).value(1) as String })
        return role
    }

    @discardableResult
    public func insertRole(name: String, description: String, builtin: Bool, createdAt: Int64, permissions: Set<String>) throws -> Int64 {
        try db.execute(
            sql: "INSERT INTO roles (name, description, builtin, created_at) VALUES (?, ?, ?, ?)",
            arguments: [name, description, builtin, createdAt])
        let id = db.lastInsertedRowID
        try setRolePermissions(roleID: id, permissions)
        return id
    }

    public func updateRole(id: Int64, name: String, description: String) throws {
        try db.cachedStatement(sql: "UPDATE roles SET name = ?, description = ? WHERE id = ?").execute(arguments: [name, description, id])
    }

    public func setRolePermissions(roleID: Int64, _ permissions: Set<String>) throws {
        try db.cachedStatement(sql: "DELETE FROM role_permissions WHERE role_id = ?").execute(arguments: [roleID])
        for p in permissions.sorted() {
            try db.cachedStatement(sql: "INSERT INTO role_permissions (role_id, permission) VALUES (?, ?)").execute(arguments: [roleID, p])
        }
    }

    public func deleteRole(id: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM roles WHERE id = ?").execute(arguments: [id])
    }

    public func roleMemberCount(roleID: Int64) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM user_roles WHERE role_id = ?"), arguments: [roleID]) ?? 0
    }

    public func roleIDs(ofUser id: Int64) throws -> [Int64] {
        try values(
            db.cachedStatement(sql: "SELECT user_id, role_id FROM user_roles WHERE user_id = ? ORDER BY role_id"), [id],
            of: "user_roles", at: 1)
    }

    /// Role names of every user, keyed by user id (one query for a listing).
    public func roleNamesByUser() throws -> [Int64: [String]] {
        var out: [Int64: [String]] = [:]
        try forEachRow(
            db.cachedStatement(
                sql: """
                    SELECT r.id, ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.name
                    """)
        ) { row in
            let c = Columns(row, "roles")
            out[try c.value(1), default: []].append(try c.value(2))
        }
        return out
    }

    /// Role names of one user, by name (as `roleNamesByUser` lists them).
    public func roleNames(ofUser id: Int64) throws -> [String] {
        try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT r.id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name
                    """), [id]
        ) { try Columns($0, "roles").value(1) }
    }

    public func addUserRole(userID: Int64, roleID: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?, ?)").execute(arguments: [userID, roleID]
        )
    }

    public func removeUserRole(userID: Int64, roleID: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM user_roles WHERE user_id = ? AND role_id = ?").execute(arguments: [userID, roleID])
    }

    /// The permissions a user holds through their roles (what the `user_permissions` view
    /// gives, read from its tables so that a bad value names the role it belongs to).
    public func permissions(ofUser id: Int64) throws -> Set<String> {
        Set(
            try values(
                db.cachedStatement(
                    sql: """
                        SELECT rp.role_id, rp.permission FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id
                        WHERE ur.user_id = ?
                        """), [id], of: "role_permissions", at: 1) as [String])
    }

    /// Ids of users that hold every one of `permissions`.
    public func userIDs(holdingAll permissions: Set<String>) throws -> [Int64] {
        guard !permissions.isEmpty else { return try values(db.cachedStatement(sql: "SELECT id FROM users"), of: "users", at: 0) }
        let marks = Array(repeating: "?", count: permissions.count).joined(separator: ", ")
        return try values(
            db.cachedStatement(
                sql: """
                    SELECT user_id FROM user_permissions WHERE permission IN (\(marks))
                    GROUP BY user_id HAVING count(DISTINCT permission) = ?
                    """),
            StatementArguments(permissions.sorted().map { $0 as any DatabaseValueConvertible } + [permissions.count]),
            of: "user_roles", at: 0)
    }
}

extension RoleRow {
    /// What `init(row:)` reads, in its order (the permissions come from their own table).
    static let columns = "id, name, description, builtin, created_at"

    init(row: Row) throws {
        let c = Columns(row, "roles")
        self.init(
            id: try c.value(0), name: try c.value(1), description: try c.value(2), builtin: try c.value(3),
            createdAt: try c.value(4), permissions: [])
    }
}
