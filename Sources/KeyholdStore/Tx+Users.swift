import GRDB

// Users: their rows, lookups and listings (the name index kept in step: Tx+NameIndex.swift).
extension Tx {
    // MARK: Users

    /// What `userRow` reads, in its order (by position: a listing of 100,000 users would
    /// otherwise look every column up by name in every row).
    static let userColumns = """
        u.id, u.username, u.email, u.display_name, u.password_hash, u.must_change, u.password_expires_at,
               u.locked, u.disabled, u.expires_at, u.failed_logins, u.locked_until, u.key_id, u.created_at,
               u.updated_at, u.last_login_at
        """
    private static let userSelect = "SELECT " + userColumns + " FROM users u"

    func userRow(_ r: Row) -> UserRow {
        UserRow(id: r[0], username: r[1], email: r[2], displayName: r[3], passwordHash: r[4], mustChange: r[5],
                passwordExpiresAt: r[6], locked: r[7], disabled: r[8], expiresAt: r[9], failedLogins: r[10],
                lockedUntil: r[11], keyID: r[12], createdAt: r[13], updatedAt: r[14], lastLoginAt: r[15])
    }

    public func user(id: Int64) throws -> UserRow? {
        try Row.fetchOne(db.cachedStatement(sql: Tx.userSelect + " WHERE u.id = ?"), arguments: [id]).map(userRow)
    }

    /// Looks a user up by name without regard to case.
    public func user(named name: String) throws -> UserRow? {
        try Row.fetchOne(db.cachedStatement(sql: Tx.userSelect + " WHERE u.username = ?"), arguments: [name]).map(userRow)
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
            clauses.append("(u.username LIKE ? ESCAPE '\\' OR coalesce(u.email, '') LIKE ? ESCAPE '\\' OR u.display_name LIKE ? ESCAPE '\\')")
            args += [pattern, pattern, pattern]
        }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        guard q.limit != nil || q.offset > 0 else {
            // Every match: read in table order and sorted here (see `inTableOrder`).
            let rows = try mapRows(db.makeStatement(sql: sql + " ORDER BY u.id"), StatementArguments(args), userRow)
            return Tx.sorted(rows, by: \.username, foldingCase: true)
        }
        sql += " ORDER BY u.username COLLATE NOCASE LIMIT ? OFFSET ?"
        args += [q.limit ?? -1, q.offset]
        return try mapRows(db.makeStatement(sql: sql), StatementArguments(args), userRow)
    }

    /// Users whose expiry date lies in `dates` and who are not disabled: how many, and the first
    /// `limit` by date (then name) with their dates. Reads names and dates only.
    public func usersExpiring(in dates: ClosedRange<Int64>, limit: Int) throws -> (count: Int, first: [(username: String, expiresAt: Int64)]) {
        let count = try Int.fetchOne(db.cachedStatement(sql: """
            SELECT count(*) FROM users WHERE disabled = 0 AND expires_at BETWEEN ? AND ?
            """), arguments: [dates.lowerBound, dates.upperBound]) ?? 0
        let first = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT username, expires_at FROM users WHERE disabled = 0 AND expires_at BETWEEN ? AND ?
            ORDER BY expires_at, username COLLATE NOCASE LIMIT ?
            """), arguments: [dates.lowerBound, dates.upperBound, limit]).map { (username: $0[0] as String, expiresAt: $0[1] as Int64) }
        return (count, first)
    }

    public func userCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM users")) ?? 0 }

    @discardableResult
    public func insertUser(_ u: UserRow) throws -> Int64 {
        try db.cachedStatement(sql: """
            INSERT INTO users (username, email, display_name, password_hash, must_change, password_expires_at,
                               locked, disabled, expires_at, failed_logins, locked_until, key_id,
                               created_at, updated_at, last_login_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [u.username, u.email, u.displayName, u.passwordHash, u.mustChange, u.passwordExpiresAt,
                             u.locked, u.disabled, u.expiresAt, u.failedLogins, u.lockedUntil, u.keyID,
                             u.createdAt, u.updatedAt, u.lastLoginAt])
        let id = db.lastInsertedRowID
        try indexUserNames(id: id, username: u.username, email: u.email, displayName: u.displayName)
        return id
    }

    /// Writes every column of an existing user row (and the name index, when a name it holds changed).
    public func updateUser(_ u: UserRow) throws {
        let renamed = try unindexUserNamesIfChanged(id: u.id, username: u.username, email: u.email, displayName: u.displayName)
        try db.cachedStatement(sql: """
            UPDATE users SET username = ?, email = ?, display_name = ?, password_hash = ?, must_change = ?,
                             password_expires_at = ?, locked = ?, disabled = ?, expires_at = ?, failed_logins = ?,
                             locked_until = ?, key_id = ?, updated_at = ?, last_login_at = ?
            WHERE id = ?
            """).execute(arguments: [u.username, u.email, u.displayName, u.passwordHash, u.mustChange, u.passwordExpiresAt,
                             u.locked, u.disabled, u.expiresAt, u.failedLogins, u.lockedUntil, u.keyID,
                             u.updatedAt, u.lastLoginAt, u.id])
        if renamed { try indexUserNames(id: u.id, username: u.username, email: u.email, displayName: u.displayName) }
    }

    public func deleteUser(id: Int64) throws {
        try unindexUserNames(id: id)
        try db.cachedStatement(sql: "DELETE FROM users WHERE id = ?").execute(arguments: [id])
    }
}
