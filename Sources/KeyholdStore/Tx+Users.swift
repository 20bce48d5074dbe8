import GRDB

// Users: their rows, lookups and listings (the name index kept in step: Tx+NameIndex.swift).
extension Tx {
    // MARK: Users

    private static let userSelect = "SELECT " + UserRow.columns + " FROM users u"

    public func user(id: Int64) throws -> UserRow? {
        try mapRow(db.cachedStatement(sql: Tx.userSelect + " WHERE u.id = ?"), [id], UserRow.init(row:))
    }

    /// Looks a user up by name without regard to case.
    public func user(named name: String) throws -> UserRow? {
        try mapRow(db.cachedStatement(sql: Tx.userSelect + " WHERE u.username = ?"), [name], UserRow.init(row:))
    }

    public func users(_ q: UserQuery = UserQuery()) throws -> [UserRow] {
        var sql = Tx.userSelect
        var args: [any DatabaseValueConvertible] = []
        var clauses: [String] = []
        if let role = q.role {
            sql += " JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id"
            clauses.append("r.name = ?")
            args.append(role)
        }
        if let text = q.text, !text.isEmpty {
            let pattern = "%" + Tx.escapeLike(text) + "%"
            clauses.append(
                "(u.username LIKE ? ESCAPE '\\' OR coalesce(u.email, '') LIKE ? ESCAPE '\\' OR u.display_name LIKE ? ESCAPE '\\')")
            args += [pattern, pattern, pattern]
        }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        guard q.limit != nil || q.offset > 0 else {
            // Every match: read in table order and sorted here (see `inTableOrder`).
            let rows = try mapRows(db.makeStatement(sql: sql + " ORDER BY u.id"), StatementArguments(args), UserRow.init(row:))
            return Tx.sorted(rows, by: \.username, foldingCase: true)
        }
        sql += " ORDER BY u.username COLLATE NOCASE LIMIT ? OFFSET ?"
        args += [q.limit ?? -1, q.offset]
        return try mapRows(db.makeStatement(sql: sql), StatementArguments(args), UserRow.init(row:))
    }

    /// Users whose expiry date lies in `dates` and who are not disabled: how many, and the first
    /// `limit` by date (then name) with their dates. Reads names and dates only.
    public func usersExpiring(in dates: ClosedRange<Int64>, limit: Int) throws -> (
        count: Int, first: [(username: String, expiresAt: Int64)]
    ) {
        let count =
            try Int.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT count(*) FROM users WHERE disabled = 0 AND expires_at BETWEEN ? AND ?
                        """), arguments: [dates.lowerBound, dates.upperBound]) ?? 0
        let first = try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT id, username, expires_at FROM users WHERE disabled = 0 AND expires_at BETWEEN ? AND ?
                    ORDER BY expires_at, username COLLATE NOCASE LIMIT ?
                    """), [dates.lowerBound, dates.upperBound, limit]
        ) { row -> (username: String, expiresAt: Int64) in
            let c = Columns(row, "users")
            return (try c.value(1), try c.value(2))
        }
        return (count, first)
    }

    public func userCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM users")) ?? 0 }

    @discardableResult
    public func insertUser(_ u: UserRow) throws -> Int64 {
        try db.cachedStatement(
            sql: """
                INSERT INTO users (username, email, display_name, password_hash, must_change, password_expires_at,
                                   locked, disabled, expires_at, failed_logins, locked_until, key_id,
                                   created_at, updated_at, last_login_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            u.username, u.email, u.displayName, u.passwordHash, u.mustChange, u.passwordExpiresAt,
            u.locked, u.disabled, u.expiresAt, u.failedLogins, u.lockedUntil, u.keyID,
            u.createdAt, u.updatedAt, u.lastLoginAt
        ])
        let id = db.lastInsertedRowID
        try indexUserNames(id: id, username: u.username, email: u.email, displayName: u.displayName)
        return id
    }

    /// Writes every column of an existing user row (and the name index, when a name it holds changed).
    public func updateUser(_ u: UserRow) throws {
        let renamed = try unindexUserNamesIfChanged(id: u.id, username: u.username, email: u.email, displayName: u.displayName)
        try db.cachedStatement(
            sql: """
                UPDATE users SET username = ?, email = ?, display_name = ?, password_hash = ?, must_change = ?,
                                 password_expires_at = ?, locked = ?, disabled = ?, expires_at = ?, failed_logins = ?,
                                 locked_until = ?, key_id = ?, updated_at = ?, last_login_at = ?
                WHERE id = ?
                """
        ).execute(arguments: [
            u.username, u.email, u.displayName, u.passwordHash, u.mustChange, u.passwordExpiresAt,
            u.locked, u.disabled, u.expiresAt, u.failedLogins, u.lockedUntil, u.keyID,
            u.updatedAt, u.lastLoginAt, u.id
        ])
        if renamed { try indexUserNames(id: u.id, username: u.username, email: u.email, displayName: u.displayName) }
    }

    public func deleteUser(id: Int64) throws {
        try unindexUserNames(id: id)
        try db.cachedStatement(sql: "DELETE FROM users WHERE id = ?").execute(arguments: [id])
    }
}

extension UserRow {
    /// What `init(row:)` reads, in its order, from `users u` (by position: a listing of
    /// 100,000 users would otherwise look every column up by name in every row).
    static let columns = """
        u.id, u.username, u.email, u.display_name, u.password_hash, u.must_change, u.password_expires_at,
               u.locked, u.disabled, u.expires_at, u.failed_logins, u.locked_until, u.key_id, u.created_at,
               u.updated_at, u.last_login_at
        """

    init(row: Row) throws {
        let c = Columns(row, "users")
        self.init(
            id: try c.value(0), username: try c.value(1), email: try c.optional(2), displayName: try c.value(3),
            passwordHash: try c.value(4), mustChange: try c.value(5), passwordExpiresAt: try c.optional(6),
            locked: try c.value(7), disabled: try c.value(8), expiresAt: try c.optional(9), failedLogins: try c.value(10),
            lockedUntil: try c.optional(11), keyID: try c.optional(12), createdAt: try c.value(13), updatedAt: try c.value(14),
            lastLoginAt: try c.optional(15))
    }
}
