import Foundation
import GRDB
import GRDBSQLite  // the batch read of rotation (see `Tx.rows`)

// Keys: data keys and the rotation jobs that re-seal secret versions under a new one,
// users' key pairs, and the grants of the root key (pending ones are key requests).
extension Tx {
    // MARK: Data keys

    public func dataKeys() throws -> [DataKeyRow] {
        try mapRows(
            db.cachedStatement(sql: "SELECT " + DataKeyRow.columns + " FROM data_keys ORDER BY version"), [],
            DataKeyRow.init(row:))
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

    /// The data key versions that secret versions are sealed under, in order: one seek of the
    /// key_version index per version in use (a handful), never a walk of every row.
    public func keyVersionsInUse() throws -> [Int] {
        var out: [Int] = []
        var after = Int64.min
        while true {
            let next: [Int] = try values(
                db.cachedStatement(sql: "SELECT key_version FROM secret_versions WHERE key_version > ? ORDER BY key_version LIMIT 1"),
                [after], of: "secret_versions", at: 0, key: 0)
            guard let version = next.first else { return out }
            out.append(version)
            after = Int64(version)
        }
    }

    /// Up to `limit` (secret id, version) pairs sealed under data key `keyVersion`, in order.
    public func versionIDs(keyVersion: Int, limit: Int) throws -> [(secretID: Int64, version: Int)] {
        try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT secret_id, version FROM secret_versions WHERE key_version = ? ORDER BY secret_id, version LIMIT ?
                    """), [keyVersion, limit]
        ) { row in
            let c = Columns(row, "secret_versions", key: 2)
            return (try c.value(0), try c.value(1))
        }
    }

    // MARK: Rotation jobs

    public func runningRotation() throws -> RotationJobRow? {
        try mapRow(
            db.cachedStatement(sql: "SELECT " + RotationJobRow.columns + " FROM rotation_jobs WHERE state = 'running'"), [],
            RotationJobRow.init(row:))
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

    /// Up to `limit` secret versions sealed under a data key older than `keyVersion`, from
    /// `start` on in primary-key order (secret, version): their keys, and their ciphertexts
    /// back to back in one buffer (no array per row). A walk of the table itself, not of the
    /// key_version index, which would cost a seek into the table for every row; versions
    /// under `keyVersion` or a newer key in the range are passed over. Rows before `start`
    /// are not read: `firstVersionBelow` finds any left there.
    public func versionsBelow(keyVersion: Int, from start: VersionBatch.Position, limit: Int) throws -> VersionBatch {
        // The `+` keeps the planner off the key_version index: the range is the primary key's.
        let statement = try db.cachedStatement(
            sql: """
                SELECT secret_id, version, key_version, ciphertext FROM secret_versions
                WHERE (secret_id, version) >= (?, ?) AND +key_version < ? ORDER BY secret_id, version LIMIT ?
                """)
        return try versionsBelow(statement, keyVersion: keyVersion, start, limit: limit)
    }

    /// `versionsBelow(keyVersion:from:limit:)` from just after `last` (the last row of the batch before).
    public func versionsBelow(keyVersion: Int, after last: VersionBatch.Position, limit: Int) throws -> VersionBatch {
        let statement = try db.cachedStatement(
            sql: """
                SELECT secret_id, version, key_version, ciphertext FROM secret_versions
                WHERE (secret_id, version) > (?, ?) AND +key_version < ? ORDER BY secret_id, version LIMIT ?
                """)
        return try versionsBelow(statement, keyVersion: keyVersion, last, limit: limit)
    }

    /// The rows of one of the two statements above, from `start`: read through SQLite's C API
    /// (a batch of rotation reads 1,000 rows; see `step`).
    private func versionsBelow(_ statement: Statement, keyVersion: Int, _ start: VersionBatch.Position, limit: Int) throws
        -> VersionBatch
    {
        var out = VersionBatch()
        out.reserve(max(0, min(limit, 10_000)))
        try rows(
            statement,
            bind: { h in
                Tx.bind(h, 1, start.secretID)
                Tx.bind(h, 2, Int64(start.version))
                Tx.bind(h, 3, Int64(keyVersion))
                Tx.bind(h, 4, Int64(limit))
            }
        ) { h in
            // Checked as `Columns` checks a row: integers, and a blob, where the schema says so.
            for (i, type) in Tx.versionColumnTypes where sqlite3_column_type(h, i) != type {
                let column = String(cString: sqlite3_column_name(h, i))
                throw StoreError.corrupt(
                    """
                    secret_versions secret_id=\(sqlite3_column_int64(h, 0)) version=\(sqlite3_column_int64(h, 1)): column \(column) \
                    does not hold \(type == SQLITE_BLOB ? "a blob" : "an integer"), which the schema requires
                    """)
            }
            out.append(
                VersionBatch.Key(
                    secretID: sqlite3_column_int64(h, 0), version: Int(sqlite3_column_int64(h, 1)),
                    keyVersion: Int(sqlite3_column_int64(h, 2))),
                ciphertext: UnsafeRawBufferPointer(start: sqlite3_column_blob(h, 3), count: Int(sqlite3_column_bytes(h, 3))))
        }
        return out
    }
    /// `versionsBelow`'s columns (index, SQLite type), checked on every row.
    private static let versionColumnTypes: [(Int32, Int32)] = [
        (0, SQLITE_INTEGER), (1, SQLITE_INTEGER), (2, SQLITE_INTEGER), (3, SQLITE_BLOB)
    ]

    /// The first version under a data key older than `keyVersion` in the key_version index
    /// (oldest key first; one seek), nil when none is left: where `versionsBelow` starts.
    public func firstVersionBelow(keyVersion: Int) throws -> VersionBatch.Position? {
        try mapRow(
            db.cachedStatement(
                sql: """
                    SELECT secret_id, version FROM secret_versions WHERE key_version < ?
                    ORDER BY key_version, secret_id, version LIMIT 1
                    """),
            [keyVersion]
        ) { row in
            let c = Columns(row, "secret_versions", key: 2)
            return VersionBatch.Position(secretID: try c.value(0), version: try c.value(1))
        }
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

    // MARK: User keys

    public func userKey(id: Int64) throws -> UserKeyRow? {
        try mapRow(db.cachedStatement(sql: "SELECT * FROM user_keys WHERE id = ?"), [id], UserKeyRow.init(row:))
    }

    public func userKeys() throws -> [UserKeyRow] {
        try mapRows(db.cachedStatement(sql: "SELECT * FROM user_keys ORDER BY id"), [], UserKeyRow.init(row:))
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

    public func grant(userID: Int64) throws -> GrantRow? {
        try mapRow(db.cachedStatement(sql: "SELECT * FROM grants WHERE user_id = ?"), [userID], GrantRow.init(row:))
    }

    public func grants() throws -> [GrantRow] {
        try mapRows(db.cachedStatement(sql: "SELECT * FROM grants ORDER BY user_id"), [], GrantRow.init(row:))
    }

    /// The users holding a grant, by name, and whether it is pending. CROSS JOIN keeps grants
    /// the outer loop (a lookup per grant): SQLite would otherwise walk every user.
    public func grantHolders() throws -> [(username: String, pending: Bool)] {
        try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT u.id, u.username, g.sealed_root IS NULL FROM grants g CROSS JOIN users u ON u.id = g.user_id
                    """)
        ) { row in
            let c = Columns(row, "users")
            return (username: try c.value(1), pending: try c.value(2))
        }
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

    // MARK: Root keys

    /// Every root key generation, oldest first.
    public func rootKeys() throws -> [RootKeyRow] {
        try mapRows(
            db.cachedStatement(sql: "SELECT " + RootKeyRow.columns + " FROM root_keys ORDER BY version"), [],
            RootKeyRow.init(row:))
    }

    public func insertRootKey(_ k: RootKeyRow) throws {
        try db.cachedStatement(sql: "INSERT INTO root_keys (version, public_key, link, created_at) VALUES (?, ?, ?, ?)")
            .execute(arguments: [k.version, Data(k.publicKey), k.link.map { Data($0) }, k.createdAt])
    }
}

extension DataKeyRow {
    /// What `init(row:)` reads, in its order.
    static let columns = "version, sealed, state, created_at"

    init(row: Row) throws {
        let c = Columns(row, "data_keys")
        self.init(version: try c.value(0), sealed: try c.value(1), active: try c.value(2) as String == "active", createdAt: try c.value(3))
    }
}

extension RotationJobRow {
    /// What `init(row:)` reads, in its order.
    static let columns = "id, target_version, state, total, raise_minimum, started_at, started_by, finished_at"

    init(row: Row) throws {
        let c = Columns(row, "rotation_jobs")
        self.init(
            id: try c.value(0), targetVersion: try c.value(1), running: try c.value(2) as String == "running", total: try c.value(3),
            raiseMinimum: try c.value(4), startedAt: try c.value(5), startedBy: try c.optional(6), finishedAt: try c.optional(7))
    }
}

extension UserKeyRow {
    /// From `SELECT *` (by name: a format-1 vault, read before its upgrade, has no pins or endorsements).
    init(row: Row) throws {
        let c = Columns(row, "user_keys")
        self.init(
            id: try c.value("id"), userID: try c.value("user_id"), username: try c.value("username"),
            publicKey: try c.value("public_key"), sealedSecretKey: try c.optional("sealed_secret_key"),
            kdfSalt: try c.optional("kdf_salt"), kdfOpslimit: try c.optional("kdf_opslimit"),
            kdfMemlimit: try c.optional("kdf_memlimit"), createdAt: try c.value("created_at"), retiredAt: try c.optional("retired_at"))
        pin = try c.optional("pin")
        endorsement = try c.optional("endorsement")
        endorsedRoot = try c.optional("endorsed_root")
    }
}

extension GrantRow {
    /// From `SELECT *` or `g.*` (by name: a format-1 vault, read before its upgrade, has no signatures).
    init(row: Row) throws {
        let c = Columns(row, "grants")
        self.init(
            userID: try c.value("user_id"), keyID: try c.optional("key_id"), sealedRoot: try c.optional("sealed_root"),
            createdAt: try c.value("created_at"), signature: try c.optional("signature"))
    }
}

extension RootKeyRow {
    /// What `init(row:)` reads, in its order.
    static let columns = "version, public_key, link, created_at"

    init(row: Row) throws {
        let c = Columns(row, "root_keys")
        self.init(version: try c.value(0), publicKey: try c.value(1), link: try c.optional(2), createdAt: try c.value(3))
    }
}
