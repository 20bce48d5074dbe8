import Foundation
import GRDB
import GRDBSQLite  // raw bindings for the few statements bulk work runs once per row (see `step`)

/// One transaction's view of the vault: every query the core needs, each
/// parameterised. Obtained only inside `Store.read` or `Store.write`.
public struct Tx {
    let db: Database
    /// The per-row statements of bulk work, looked up once per transaction (GRDB's own
    /// cache is keyed by the SQL text, which costs hashing that text on every call).
    private let perRow = PerRowStatements()
    /// Which name indexes lost an entry in this transaction (`purgeNameIndexes`).
    let nameIndexes = NameIndexChanges()

    final class PerRowStatements {
        var insertVersion: Statement?
        var reseal: Statement?
    }

    func blob(_ row: Row, _ column: String) -> [UInt8]? {
        (row[column] as Data?).map { [UInt8]($0) }
    }
    private func data(_ bytes: [UInt8]?) -> Data? { bytes.map { Data($0) } }

    /// Maps each row as SQLite steps to it (GRDB lends one reused `Row`), for listings that
    /// may hold the whole vault: `Row.fetchAll` would first copy every row, column names and
    /// all, which over 100,000 users costs several times the memory and time of the result.
    func mapRows<T>(_ statement: Statement, _ arguments: StatementArguments = [], _ map: (Row) -> T) throws -> [T] {
        var out: [T] = []
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try cursor.next() { out.append(map(row)) }
        return out
    }

    // MARK: Vault

    public func vault() throws -> VaultRow? {
        guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM vault WHERE id = 1")) else { return nil }
        var v = VaultRow(
            format: r["format"], createdAt: r["created_at"], kdfOpslimit: r["kdf_opslimit"],
            kdfMemlimit: r["kdf_memlimit"], passwordMinLength: r["password_min_length"],
            historyLimit: r["history_limit"], tempPasswordTTL: r["temp_password_ttl"],
            recoverySealed: blob(r, "recovery_sealed") ?? [], revocationWarning: r["revocation_warning"])
        v.vaultID = blob(r, "vault_id")
        v.anchorSeq = r["anchor_seq"]
        v.rootVersion = r["root_version"]
        v.minDecryptVersion = r["min_decrypt_version"]
        return v
    }

    public func insertVault(_ v: VaultRow) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO vault (id, format, created_at, kdf_opslimit, kdf_memlimit, password_min_length,
                                   history_limit, temp_password_ttl, recovery_sealed, revocation_warning)
                VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            v.format, v.createdAt, v.kdfOpslimit, v.kdfMemlimit, v.passwordMinLength,
            v.historyLimit, v.tempPasswordTTL, Data(v.recoverySealed), v.revocationWarning
        ])
    }

    public func updateVaultSettings(
        kdfOpslimit: Int, kdfMemlimit: Int, passwordMinLength: Int, historyLimit: Int,
        tempPasswordTTL: Int64
    ) throws {
        try db.cachedStatement(
            sql: """
                UPDATE vault SET kdf_opslimit = ?, kdf_memlimit = ?, password_min_length = ?, history_limit = ?,
                                 temp_password_ttl = ? WHERE id = 1
                """
        ).execute(arguments: [kdfOpslimit, kdfMemlimit, passwordMinLength, historyLimit, tempPasswordTTL])
    }

    public func setRevocationWarning(_ text: String?) throws {
        try db.cachedStatement(sql: "UPDATE vault SET revocation_warning = ? WHERE id = 1").execute(arguments: [text])
    }

    public func setRecoverySealed(_ sealed: [UInt8]) throws {
        try db.cachedStatement(sql: "UPDATE vault SET recovery_sealed = ? WHERE id = 1").execute(arguments: [Data(sealed)])
    }

    // MARK: Data keys

    public func dataKeys() throws -> [DataKeyRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM data_keys ORDER BY version")).map {
            DataKeyRow(
                version: $0["version"], sealed: blob($0, "sealed") ?? [], active: $0["state"] == "active",
                createdAt: $0["created_at"])
        }
    }

    public func activeDataKey() throws -> DataKeyRow? {
        try dataKeys().first { $0.active }
    }

    public func insertDataKey(_ k: DataKeyRow) throws {
        try db.execute(
            sql: "INSERT INTO data_keys (version, sealed, state, created_at) VALUES (?, ?, ?, ?)",
            arguments: [k.version, Data(k.sealed), k.active ? "active" : "decrypt-only", k.createdAt])
    }

    public func updateDataKeySealed(version: Int, sealed: [UInt8]) throws {
        try db.cachedStatement(sql: "UPDATE data_keys SET sealed = ? WHERE version = ?").execute(arguments: [Data(sealed), version])
    }

    /// Deletes data key `version` only if it is not the active one and no secret version
    /// uses it, both decided by this statement in the caller's transaction; true when deleted.
    @discardableResult
    public func deleteUnusedDataKey(version: Int) throws -> Bool {
        try db.cachedStatement(
            sql: """
                DELETE FROM data_keys WHERE version = ?1 AND state != 'active'
                    AND NOT EXISTS (SELECT 1 FROM secret_versions WHERE key_version = ?1)
                """
        ).execute(arguments: [version])
        return db.changesCount == 1
    }

    public func setActiveDataKey(version: Int) throws {
        try db.cachedStatement(sql: "UPDATE data_keys SET state = 'decrypt-only' WHERE state = 'active' AND version != ?").execute(
            arguments: [version])
        try db.cachedStatement(sql: "UPDATE data_keys SET state = 'active' WHERE version = ?").execute(arguments: [version])
    }

    /// How many secret versions are sealed under data key `keyVersion` (a range of the key_version index).
    public func countVersions(keyVersion: Int) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM secret_versions WHERE key_version = ?"), arguments: [keyVersion])
            ?? 0
    }

    /// Secret versions per data key version they are sealed under (one walk of the key_version index).
    public func versionCountsByKey() throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT key_version, count(*) FROM secret_versions GROUP BY key_version")) {
            out[row[0]] = row[1]
        }
        return out
    }

    /// Up to `limit` (secret id, version) pairs sealed under data key `keyVersion`, in order.
    public func versionIDs(keyVersion: Int, limit: Int) throws -> [(secretID: Int64, version: Int)] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT secret_id, version FROM secret_versions WHERE key_version = ? ORDER BY secret_id, version LIMIT ?
                    """), arguments: [keyVersion, limit]
        ).map { ($0[0], $0[1]) }
    }

    public func setRootVersion(_ v: Int) throws {
        try db.cachedStatement(sql: "UPDATE vault SET root_version = ? WHERE id = 1").execute(arguments: [v])
    }

    /// Raises the minimum decryption version to `v`: never lowers it, and never sets it
    /// above the active data key (decided in this statement); true when it changed.
    @discardableResult
    public func raiseMinDecryptVersion(to v: Int) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE vault SET min_decrypt_version = ?1
                WHERE id = 1 AND min_decrypt_version < ?1 AND ?1 <= (SELECT version FROM data_keys WHERE state = 'active')
                """
        ).execute(arguments: [v])
        return db.changesCount == 1
    }

    // MARK: Rotation jobs

    private func jobRow(_ r: Row) -> RotationJobRow {
        RotationJobRow(
            id: r["id"], targetVersion: r["target_version"], running: r["state"] == "running", total: r["total"],
            raiseMinimum: r["raise_minimum"], startedAt: r["started_at"], startedBy: r["started_by"],
            finishedAt: r["finished_at"])
    }

    public func runningRotation() throws -> RotationJobRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM rotation_jobs WHERE state = 'running'")).map(jobRow)
    }

    @discardableResult
    public func insertRotationJob(_ j: RotationJobRow) throws -> Int64 {
        try db.cachedStatement(
            sql: """
                INSERT INTO rotation_jobs (target_version, state, total, raise_minimum, started_at, started_by)
                VALUES (?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [j.targetVersion, j.running ? "running" : "done", j.total, j.raiseMinimum, j.startedAt, j.startedBy])
        return db.lastInsertedRowID
    }

    /// Marks job `id` done if it is still the running one; true when it was.
    @discardableResult
    public func finishRotationJob(id: Int64, at time: Int64) throws -> Bool {
        try db.cachedStatement(sql: "UPDATE rotation_jobs SET state = 'done', finished_at = ? WHERE id = ? AND state = 'running'")
            .execute(arguments: [time, id])
        return db.changesCount == 1
    }

    /// Up to `limit` secret versions sealed under a data key older than `keyVersion`
    /// (a range of the key_version index, so each batch starts where work remains): their
    /// keys, and their ciphertexts back to back in one buffer (no array per row).
    public func versionsBelow(keyVersion: Int, limit: Int) throws -> VersionBatch {
        // A batch of rotation reads 1,000 rows: read through SQLite's C API (see `step`).
        let statement = try db.cachedStatement(
            sql: """
                SELECT secret_id, version, key_version, ciphertext FROM secret_versions
                WHERE key_version < ? ORDER BY key_version, secret_id, version LIMIT ?
                """)
        var out = VersionBatch()
        out.reserve(max(0, min(limit, 10_000)))
        try rows(
            statement,
            bind: { h in
                Tx.bind(h, 1, Int64(keyVersion))
                Tx.bind(h, 2, Int64(limit))
            }
        ) { h in
            out.append(
                VersionBatch.Key(
                    secretID: sqlite3_column_int64(h, 0), version: Int(sqlite3_column_int64(h, 1)),
                    keyVersion: Int(sqlite3_column_int64(h, 2))),
                ciphertext: UnsafeRawBufferPointer(start: sqlite3_column_blob(h, 3), count: Int(sqlite3_column_bytes(h, 3))))
        }
        return out
    }

    public func countVersionsBelow(keyVersion: Int) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM secret_versions WHERE key_version < ?"), arguments: [keyVersion])
            ?? 0
    }

    /// Replaces one version's ciphertext and key version (a prepared statement reused across a batch).
    public func resealVersion(secretID: Int64, version: Int, keyVersion: Int, ciphertext: [UInt8]) throws {
        try ciphertext.withUnsafeBytes { try resealVersion(secretID: secretID, version: version, keyVersion: keyVersion, ciphertext: $0) }
    }

    /// `resealVersion` from borrowed bytes (for a caller that seals into a reusable buffer).
    public func resealVersion(secretID: Int64, version: Int, keyVersion: Int, ciphertext: UnsafeRawBufferPointer) throws {
        let statement =
            try perRow.reseal
            ?? db.cachedStatement(
                sql: """
                    UPDATE secret_versions SET key_version = ?, ciphertext = ? WHERE secret_id = ? AND version = ?
                    """)
        perRow.reseal = statement
        try step(statement) { h in
            Tx.bind(h, 1, Int64(keyVersion))
            Tx.bind(h, 2, blob: ciphertext)
            Tx.bind(h, 3, secretID)
            Tx.bind(h, 4, Int64(version))
        }
    }

    // MARK: Per-row statements of bulk work
    //
    // Import and rotation run these once per row, 100,000s of times. GRDB's
    // `execute(arguments:)` costs about as much again as SQLite's own work for
    // such a statement (boxing the arguments, validating and re-binding them,
    // its per-statement bookkeeping), so these few bind and step the statement
    // GRDB prepared and caches through SQLite's C API instead: values bound in
    // place (no copy), cleared right after the step, errors turned into GRDB's
    // `DatabaseError` as everywhere else (its message never holds a bound value).
    // Only those per-row statements (and the batch read of rotation) use this.

    /// Binds with `bind`, steps once (a statement that returns no row), then resets
    /// and clears the bindings, which point into the caller's memory.
    func step(_ statement: Statement, _ bind: (OpaquePointer) -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        let rc = sqlite3_step(h)
        let failure =
            rc == SQLITE_DONE
            ? nil
            : DatabaseError(
                resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        sqlite3_reset(h)
        sqlite3_clear_bindings(h)
        if let failure { throw failure }
    }

    /// Binds with `bind`, then hands each row to `row` (read its columns there, they do not
    /// outlive the step), then resets and clears the bindings.
    func rows(_ statement: Statement, bind: (OpaquePointer) -> Void, _ row: (OpaquePointer) throws -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        defer {
            sqlite3_reset(h)
            sqlite3_clear_bindings(h)
        }
        while true {
            let rc = sqlite3_step(h)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
            }
            try row(h)
        }
    }

    static func bind(_ h: OpaquePointer, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(h, index, value) } else { sqlite3_bind_null(h, index) }
    }

    /// Binds text or a blob in place (SQLITE_STATIC: the bytes must outlive the step, as in `step`).
    static func bind(_ h: OpaquePointer, _ index: Int32, text: UnsafeRawBufferPointer) {
        sqlite3_bind_text(
            h, index, (text.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)).assumingMemoryBound(to: CChar.self),
            Int32(text.count), nil)
    }

    static func bind(_ h: OpaquePointer, _ index: Int32, blob: UnsafeRawBufferPointer) {
        // A zero-length blob needs a non-null pointer, or SQLite stores NULL.
        sqlite3_bind_blob(h, index, blob.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start), Int32(blob.count), nil)
    }

    // MARK: Roles

    public func roles() throws -> [RoleRow] {
        let perms = try Row.fetchAll(db.cachedStatement(sql: "SELECT role_id, permission FROM role_permissions"))
        var byRole: [Int64: Set<String>] = [:]
        for p in perms { byRole[p["role_id"], default: []].insert(p["permission"]) }
        return try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM roles ORDER BY id")).map {
            let id: Int64 = $0["id"]
            return RoleRow(
                id: id, name: $0["name"], description: $0["description"], builtin: $0["builtin"],
                createdAt: $0["created_at"], permissions: byRole[id] ?? [])
        }
    }

    public func role(named name: String) throws -> RoleRow? {
        guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM roles WHERE name = ?"), arguments: [name]) else { return nil }
        let id: Int64 = r["id"]
        let perms = try String.fetchAll(
            db.cachedStatement(sql: "SELECT permission FROM role_permissions WHERE role_id = ?"), arguments: [id])
        return RoleRow(
            id: id, name: r["name"], description: r["description"], builtin: r["builtin"],
            createdAt: r["created_at"], permissions: Set(perms))
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
        UserRow(
            id: r[0], username: r[1], email: r[2], displayName: r[3], passwordHash: r[4], mustChange: r[5],
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
            clauses.append(
                "(u.username LIKE ? ESCAPE '\\' OR coalesce(u.email, '') LIKE ? ESCAPE '\\' OR u.display_name LIKE ? ESCAPE '\\')")
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

    // A whole listing in name order would walk the name index and fetch each row from
    // wherever it lies: over 100,000 rows, more than the 8 MiB page cache holds, that is a
    // disk read (a pread) per row. Read in table order instead (pages in sequence) and
    // sorted here, with SQLite's collations: about 2.5 times faster over 100,000 users or
    // secrets. A page of a listing (LIMIT, OFFSET) still comes sorted from SQLite.

    /// `rows` in SQLite's order of `key`: BINARY (bytes), or NOCASE (bytes, ASCII letters
    /// folded to lower case) with `foldingCase`. Sorts each key's bytes once, compared with memcmp.
    static func sorted<T>(_ rows: [T], by key: (T) -> String, foldingCase: Bool) -> [T] {
        var keys: [(bytes: [UInt8], index: Int)] = rows.enumerated().map { i, row in
            var bytes = Array(key(row).utf8)
            if foldingCase { for j in bytes.indices where bytes[j] &- 65 < 26 { bytes[j] |= 0x20 } }
            return (bytes, i)
        }
        keys.sort { a, b in
            let n = min(a.bytes.count, b.bytes.count)
            let order =
                n == 0 ? 0 : a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, n) } }
            return order != 0 ? order < 0 : a.bytes.count < b.bytes.count
        }
        return keys.map { rows[$0.index] }
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
        let first = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT username, expires_at FROM users WHERE disabled = 0 AND expires_at BETWEEN ? AND ?
                    ORDER BY expires_at, username COLLATE NOCASE LIMIT ?
                    """), arguments: [dates.lowerBound, dates.upperBound, limit]
        ).map { (username: $0[0] as String, expiresAt: $0[1] as Int64) }
        return (count, first)
    }

    public func userCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM users")) ?? 0 }

    /// Escapes `%`, `_` and `\` for a LIKE pattern with ESCAPE '\'.
    static func escapeLike(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

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

    public func roleIDs(ofUser id: Int64) throws -> [Int64] {
        try Int64.fetchAll(db.cachedStatement(sql: "SELECT role_id FROM user_roles WHERE user_id = ? ORDER BY role_id"), arguments: [id])
    }

    /// Role names of every user, keyed by user id (one query for a listing).
    public func roleNamesByUser() throws -> [Int64: [String]] {
        var out: [Int64: [String]] = [:]
        let cursor = try Row.fetchCursor(
            db,
            sql: """
                SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id ORDER BY r.name
                """)
        while let r = try cursor.next() { out[r[0], default: []].append(r[1]) }
        return out
    }

    /// Role names of one user, by name (as `roleNamesByUser` lists them).
    public func roleNames(ofUser id: Int64) throws -> [String] {
        try String.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = ? ORDER BY r.name
                    """), arguments: [id])
    }

    public func addUserRole(userID: Int64, roleID: Int64) throws {
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO user_roles (user_id, role_id) VALUES (?, ?)").execute(arguments: [userID, roleID]
        )
    }

    public func removeUserRole(userID: Int64, roleID: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM user_roles WHERE user_id = ? AND role_id = ?").execute(arguments: [userID, roleID])
    }

    /// The permissions a user holds through their roles (the `user_permissions` view).
    public func permissions(ofUser id: Int64) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: "SELECT permission FROM user_permissions WHERE user_id = ?"), arguments: [id]))
    }

    /// Ids of users that hold every one of `permissions`.
    public func userIDs(holdingAll permissions: Set<String>) throws -> [Int64] {
        guard !permissions.isEmpty else { return try Int64.fetchAll(db.cachedStatement(sql: "SELECT id FROM users")) }
        let marks = Array(repeating: "?", count: permissions.count).joined(separator: ", ")
        return try Int64.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT user_id FROM user_permissions WHERE permission IN (\(marks))
                    GROUP BY user_id HAVING count(DISTINCT permission) = ?
                    """),
            arguments: StatementArguments(permissions.sorted().map { $0 as any DatabaseValueConvertible } + [permissions.count]))
    }

    // MARK: User keys

    private func userKeyRow(_ r: Row) -> UserKeyRow {
        var k = UserKeyRow(
            id: r["id"], userID: r["user_id"], username: r["username"], publicKey: blob(r, "public_key") ?? [],
            sealedSecretKey: blob(r, "sealed_secret_key"), kdfSalt: blob(r, "kdf_salt"),
            kdfOpslimit: r["kdf_opslimit"], kdfMemlimit: r["kdf_memlimit"], createdAt: r["created_at"],
            retiredAt: r["retired_at"])
        k.pin = blob(r, "pin")
        k.endorsement = blob(r, "endorsement")
        k.endorsedRoot = r["endorsed_root"]
        return k
    }

    public func userKey(id: Int64) throws -> UserKeyRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM user_keys WHERE id = ?"), arguments: [id]).map(userKeyRow)
    }

    public func userKeys() throws -> [UserKeyRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM user_keys ORDER BY id")).map(userKeyRow)
    }

    /// Inserts a key row; `sealedSecretKey` may be filled in afterwards, once the id (part of its AAD) is known.
    @discardableResult
    public func insertUserKey(_ k: UserKeyRow) throws -> Int64 {
        try db.cachedStatement(
            sql: """
                INSERT INTO user_keys (user_id, username, public_key, sealed_secret_key, kdf_salt, kdf_opslimit,
                                       kdf_memlimit, created_at, retired_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            k.userID, k.username, Data(k.publicKey), data(k.sealedSecretKey), data(k.kdfSalt),
            k.kdfOpslimit, k.kdfMemlimit, k.createdAt, k.retiredAt
        ])
        return db.lastInsertedRowID
    }

    public func setUserKeySealed(id: Int64, sealedSecretKey: [UInt8], salt: [UInt8], opslimit: Int, memlimit: Int) throws {
        try db.cachedStatement(
            sql: """
                UPDATE user_keys SET sealed_secret_key = ?, kdf_salt = ?, kdf_opslimit = ?, kdf_memlimit = ? WHERE id = ?
                """
        ).execute(arguments: [Data(sealedSecretKey), Data(salt), opslimit, memlimit, id])
    }

    /// Removes the sealed secret key and its KDF inputs; the public key stays for audit verification.
    public func retireUserKey(id: Int64, at time: Int64) throws {
        try db.cachedStatement(
            sql: """
                UPDATE user_keys SET sealed_secret_key = NULL, kdf_salt = NULL, kdf_opslimit = NULL, kdf_memlimit = NULL,
                                     retired_at = coalesce(retired_at, ?) WHERE id = ?
                """
        ).execute(arguments: [time, id])
    }

    // MARK: Grants

    func grantRow(_ r: Row) -> GrantRow {
        GrantRow(
            userID: r["user_id"], keyID: r["key_id"], sealedRoot: blob(r, "sealed_root"), createdAt: r["created_at"],
            signature: blob(r, "signature"))
    }

    public func grant(userID: Int64) throws -> GrantRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM grants WHERE user_id = ?"), arguments: [userID]).map(grantRow)
    }

    public func grants() throws -> [GrantRow] {
        try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM grants ORDER BY user_id")).map(grantRow)
    }

    /// The users holding a grant, by name, and whether it is pending. CROSS JOIN keeps grants
    /// the outer loop (a lookup per grant): SQLite would otherwise walk every user.
    public func grantHolders() throws -> [(username: String, pending: Bool)] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT u.username, g.sealed_root IS NULL FROM grants g CROSS JOIN users u ON u.id = g.user_id")
        )
        .map { (username: $0[0], pending: $0[1]) }
    }

    /// Inserts or replaces the grant of one user.
    public func putGrant(_ g: GrantRow) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO grants (user_id, key_id, sealed_root, created_at, signature) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(user_id) DO UPDATE SET key_id = excluded.key_id, sealed_root = excluded.sealed_root,
                                                   created_at = excluded.created_at, signature = excluded.signature
                """
        ).execute(arguments: [g.userID, g.keyID, data(g.sealedRoot), g.createdAt, data(g.signature)])
    }

    public func deleteGrant(userID: Int64) throws {
        try db.cachedStatement(sql: "DELETE FROM grants WHERE user_id = ?").execute(arguments: [userID])
    }

    // MARK: Secrets

    func secretRow(_ r: Row) -> SecretRow {
        SecretRow(
            id: r[0], name: r[1], description: r[2], currentVersion: r[3], lastVersion: r[4], historyLimit: r[5],
            rotateBy: r[6], createdAt: r[7], updatedAt: r[8], versionCount: r[9] ?? 0)
    }

    /// What `secretRow` reads, in its order (by position, as `userSelect`).
    private static let secretSelect = """
        SELECT s.id, s.name, s.description, s.current_version, s.last_version, s.history_limit, s.rotate_by,
               s.created_at, s.updated_at, (SELECT count(*) FROM secret_versions v WHERE v.secret_id = s.id) AS version_count
        FROM secrets s
        """

    private static let secretSelectWithoutCount = secretSelect.replacingOccurrences(
        of: "(SELECT count(*) FROM secret_versions v WHERE v.secret_id = s.id)", with: "0")

    /// A secret's id and current version from its own row alone (no count of its versions),
    /// to tell which of its rows a damaged page holds.
    public func secretHead(named name: String) throws -> (id: Int64, currentVersion: Int)? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT id, current_version FROM secrets WHERE name = ?"), arguments: [name])
            .map { (id: $0[0], currentVersion: $0[1]) }
    }

    /// The secret named `name`; without `countingVersions`, from its own row alone (`versionCount` is 0).
    public func secret(named name: String, countingVersions: Bool = true) throws -> SecretRow? {
        let select = countingVersions ? Tx.secretSelect : Tx.secretSelectWithoutCount
        return try Row.fetchOne(db.cachedStatement(sql: select + " WHERE s.name = ?"), arguments: [name]).map(secretRow)
    }

    /// Secrets whose name starts with `prefix` (all when nil), by name. Reads metadata only;
    /// without `countingVersions`, not even the versions' rows (`versionCount` is 0), so a
    /// damaged page among them does not stop the listing.
    public func secrets(prefix: String? = nil, limit: Int? = nil, countingVersions: Bool = true) throws -> [SecretRow] {
        let select = countingVersions ? Tx.secretSelect : Tx.secretSelectWithoutCount
        // Case-sensitive, unlike LIKE: names are ASCII, so characters and bytes agree.
        let (filter, args): (String, StatementArguments) =
            if let prefix, !prefix.isEmpty {
                (" WHERE substr(s.name, 1, ?) = ?", [prefix.utf8.count, prefix])
            } else {
                ("", [])
            }
        guard let limit else {
            // Every match: in table order, sorted here (see `users`).
            return Tx.sorted(
                try mapRows(db.makeStatement(sql: select + filter + " ORDER BY s.id"), args, secretRow),
                by: \.name, foldingCase: false)
        }
        return try mapRows(db.makeStatement(sql: select + filter + " ORDER BY s.name LIMIT ?"), args + [limit], secretRow)
    }

    public func secretCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM secrets")) ?? 0 }

    /// Secrets whose rotate-by date lies in `dates`: how many, and the first `limit` by date
    /// (then name) with their dates. Reads names and dates only, not every secret's metadata.
    public func secretsDue(in dates: ClosedRange<Int64>, limit: Int) throws -> (count: Int, first: [(name: String, rotateBy: Int64)]) {
        let count =
            try Int.fetchOne(
                db.cachedStatement(sql: "SELECT count(*) FROM secrets WHERE rotate_by BETWEEN ? AND ?"),
                arguments: [dates.lowerBound, dates.upperBound]) ?? 0
        let first = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT name, rotate_by FROM secrets WHERE rotate_by BETWEEN ? AND ? ORDER BY rotate_by, name LIMIT ?
                    """), arguments: [dates.lowerBound, dates.upperBound, limit]
        ).map { (name: $0[0] as String, rotateBy: $0[1] as Int64) }
        return (count, first)
    }

    @discardableResult
    public func insertSecret(_ s: SecretRow) throws -> Int64 {
        try db.cachedStatement(
            sql: """
                INSERT INTO secrets (name, description, current_version, last_version, history_limit, rotate_by,
                                     created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            s.name, s.description, s.currentVersion, s.lastVersion, s.historyLimit, s.rotateBy,
            s.createdAt, s.updatedAt
        ])
        let id = db.lastInsertedRowID
        try indexSecretName(id: id, name: s.name)
        return id
    }

    /// Index in `names` of the first one a secret already has, or nil: one statement for many
    /// names (they travel as one JSON array, unpacked by json_each, then each found by the name index).
    public func firstExistingSecret(among names: [String]) throws -> Int? {
        guard !names.isEmpty else { return nil }
        let statement = try db.cachedStatement(
            sql: """
                SELECT min(j.key) FROM json_each(?) AS j CROSS JOIN secrets s ON s.name = j.value
                """)
        return try Int.fetchOne(statement, arguments: [Tx.jsonArray(names)])
    }

    /// A JSON array of strings (quotes, backslashes and control characters escaped).
    static func jsonArray(_ strings: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(strings.reduce(2) { $0 + $1.utf8.count + 3 })
        let hex = Array("0123456789abcdef".utf8)
        for (i, s) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
                case 0..<0x20:
                    out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes an existing secret's row (and the name index, when the name changed).
    public func updateSecret(_ s: SecretRow) throws {
        let renamed = try unindexSecretNameIfChanged(id: s.id, name: s.name)
        try db.cachedStatement(
            sql: """
                UPDATE secrets SET name = ?, description = ?, current_version = ?, last_version = ?, history_limit = ?,
                                   rotate_by = ?, updated_at = ? WHERE id = ?
                """
        ).execute(arguments: [s.name, s.description, s.currentVersion, s.lastVersion, s.historyLimit, s.rotateBy, s.updatedAt, s.id])
        if renamed { try indexSecretName(id: s.id, name: s.name) }
    }

    public func deleteSecret(id: Int64) throws {
        try unindexSecretName(id: id)
        try db.cachedStatement(sql: "DELETE FROM secrets WHERE id = ?").execute(arguments: [id])
    }

    private func versionRow(_ r: Row) -> SecretVersionRow {
        SecretVersionRow(
            secretID: r["secret_id"], version: r["version"], keyVersion: r["key_version"],
            ciphertext: blob(r, "ciphertext") ?? [], createdAt: r["created_at"], createdBy: r["created_by"])
    }

    public func secretVersions(secretID: Int64) throws -> [SecretVersionRow] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM secret_versions WHERE secret_id = ? ORDER BY version"),
            arguments: [secretID]
        ).map(versionRow)
    }

    public func secretVersion(secretID: Int64, version: Int) throws -> SecretVersionRow? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM secret_versions WHERE secret_id = ? AND version = ?")
        return try Row.fetchOne(statement, arguments: [secretID, version]).map(versionRow)
    }

    /// A version's data key and ciphertext length, without reading the ciphertext.
    public func secretVersionSize(secretID: Int64, version: Int) throws -> (keyVersion: Int, ciphertextBytes: Int)? {
        let statement = try db.cachedStatement(
            sql: """
                SELECT key_version, length(ciphertext) FROM secret_versions WHERE secret_id = ? AND version = ?
                """)
        return try Row.fetchOne(statement, arguments: [secretID, version]).map { (keyVersion: $0[0], ciphertextBytes: $0[1]) }
    }

    /// Runs `body` with its SQLite errors as `StoreError`s, so the core can tell a damaged page
    /// (`.corrupt`) from other failures and go on with the rows it can still read.
    public func storeErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError { throw Store.map(e) }
    }

    /// The (secret, version) of every secret version, read from the index on key versions alone
    /// (it holds the primary key), so the list survives damage to the table's own pages.
    public func secretVersionIDs() throws -> [(secretID: Int64, version: Int)] {
        try mapRows(
            db.makeStatement(
                sql: """
                    SELECT secret_id, version FROM secret_versions INDEXED BY secret_versions_by_key
                    """)
        ) { (secretID: $0[0], version: $0[1]) }
    }

    /// Every secret's id and name, read from the unique index on names alone, so the names
    /// survive damage to the table's own pages.
    public func secretNamesFromIndex() throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for (id, name) in try mapRows(
            db.makeStatement(sql: "SELECT id, name FROM secrets INDEXED BY sqlite_autoindex_secrets_1"),
            [], { row -> (Int64, String) in (row[0], row[1]) })
        { out[id] = name }
        return out
    }

    /// Every version of every secret, in (secret, version) order, handed to `body` one at a time.
    public func forEachSecretVersion(_ body: (SecretVersionRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM secret_versions ORDER BY secret_id, version")
        while let r = try cursor.next() { try body(versionRow(r)) }
    }

    public func insertSecretVersion(_ v: SecretVersionRow) throws {
        try v.ciphertext.withUnsafeBytes {
            try insertSecretVersion(
                secretID: v.secretID, version: v.version, keyVersion: v.keyVersion, ciphertext: $0,
                createdAt: v.createdAt, createdBy: v.createdBy)
        }
    }

    /// `insertSecretVersion` from borrowed ciphertext bytes (a prepared statement reused across a batch).
    public func insertSecretVersion(
        secretID: Int64, version: Int, keyVersion: Int, ciphertext: UnsafeRawBufferPointer,
        createdAt: Int64, createdBy: Int64?
    ) throws {
        let statement =
            try perRow.insertVersion
            ?? db.cachedStatement(
                sql: """
                    INSERT INTO secret_versions (secret_id, version, key_version, ciphertext, created_at, created_by)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
        perRow.insertVersion = statement
        try step(statement) { h in
            Tx.bind(h, 1, secretID)
            Tx.bind(h, 2, Int64(version))
            Tx.bind(h, 3, Int64(keyVersion))
            Tx.bind(h, 4, blob: ciphertext)
            Tx.bind(h, 5, createdAt)
            Tx.bind(h, 6, createdBy)
        }
    }

    public func deleteSecretVersion(secretID: Int64, version: Int) throws {
        try db.cachedStatement(sql: "DELETE FROM secret_versions WHERE secret_id = ? AND version = ?").execute(arguments: [
            secretID, version
        ])
    }

    // MARK: Audit

    func auditRow(_ r: Row) -> AuditRow {
        AuditRow(
            seq: r["seq"], at: r["at"], actorID: r["actor_id"], actorName: r["actor_name"],
            actorKeyID: r["actor_key_id"], action: r["action"], target: r["target"], details: r["details"],
            prevHash: blob(r, "prev_hash") ?? [], hash: blob(r, "hash") ?? [], signature: blob(r, "signature"))
    }

    public func lastAuditEvent() throws -> AuditRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1")).map(auditRow)
    }

    public func auditEvent(seq: Int64) throws -> AuditRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM audit_events WHERE seq = ?"), arguments: [seq]).map(auditRow)
    }

    public func insertAudit(_ e: AuditRow) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details,
                                          prev_hash, hash, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            e.seq, e.at, e.actorID, e.actorName, e.actorKeyID, e.action, e.target, e.details,
            Data(e.prevHash), Data(e.hash), data(e.signature)
        ])
    }

    public func auditEvents(_ q: AuditQuery) throws -> [AuditRow] {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let a = q.actor { clauses.append("actor_name = ? COLLATE NOCASE"); args.append(a) }
        if let a = q.action {
            if a.hasSuffix(".") {
                clauses.append("action LIKE ? ESCAPE '\\'"); args.append(Tx.escapeLike(a) + "%")
            } else {
                clauses.append("action = ?"); args.append(a)
            }
        }
        if let t = q.target { clauses.append("target LIKE ? ESCAPE '\\'"); args.append("%" + Tx.escapeLike(t) + "%") }
        if let s = q.since { clauses.append("at >= ?"); args.append(s) }
        if let u = q.until { clauses.append("at < ?"); args.append(u) }
        if let s = q.afterSeq { clauses.append("seq > ?"); args.append(s) }
        var sql = "SELECT * FROM audit_events"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += q.newestFirst ? " ORDER BY seq DESC" : " ORDER BY seq"
        sql += " LIMIT ?"
        args.append(q.limit ?? -1)
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(auditRow)
    }

    /// Every audit event in order, one at a time (for verification without loading the log).
    public func forEachAuditEvent(_ body: (AuditRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_events ORDER BY seq")
        while let r = try cursor.next() { try body(auditRow(r)) }
    }

    public func auditCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM audit_events")) ?? 0 }

    /// The SQLite library's version (for reports).
    public func sqliteVersion() throws -> String {
        try String.fetchOne(db.cachedStatement(sql: "SELECT sqlite_version()")) ?? "?"
    }

    // MARK: Schema

    /// Each view's name and the statement that created it, as SQLite keeps it.
    func viewDefinitions() throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'view'") {
            out[row[0]] = row[1]
        }
        return out
    }

    public func schemaObjects() throws -> [SchemaObject] {
        try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT type, name, tbl_name, sql FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY type, name
                    """)
        ).map { SchemaObject(type: $0[0], name: $0[1], table: $0[2], sql: $0[3]) }
    }
}
