import Foundation
import GRDB

// Secrets and their versions (the name index kept in step: Tx+NameIndex.swift).
extension Tx {
    // MARK: Secrets

    private static let secretSelect = "SELECT " + SecretRow.columns + " FROM secrets s"

    private static let secretSelectWithoutCount = secretSelect.replacingOccurrences(
        of: "(SELECT count(*) FROM secret_versions v WHERE v.secret_id = s.id)", with: "0")

    /// A secret's id and current version from its own row alone (no count of its versions),
    /// to tell which of its rows a damaged page holds.
    public func secretHead(named name: String) throws -> (id: Int64, currentVersion: Int)? {
        try mapRow(db.cachedStatement(sql: "SELECT id, current_version FROM secrets WHERE name = ?"), [name]) { row in
            let c = Columns(row, "secrets")
            return (id: try c.value(0), currentVersion: try c.value(1))
        }
    }

    /// The secret named `name`; without `countingVersions`, from its own row alone (`versionCount` is 0).
    public func secret(named name: String, countingVersions: Bool = true) throws -> SecretRow? {
        let select = countingVersions ? Tx.secretSelect : Tx.secretSelectWithoutCount
        return try mapRow(db.cachedStatement(sql: select + " WHERE s.name = ?"), [name], SecretRow.init(row:))
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
                try mapRows(db.makeStatement(sql: select + filter + " ORDER BY s.id"), args, SecretRow.init(row:)),
                by: \.name, foldingCase: false)
        }
        return try mapRows(db.makeStatement(sql: select + filter + " ORDER BY s.name LIMIT ?"), args + [limit], SecretRow.init(row:))
    }

    public func secretCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM secrets")) ?? 0 }

    /// Secrets whose rotate-by date lies in `dates`: how many, and the first `limit` by date
    /// (then name) with their dates. Reads names and dates only, not every secret's metadata.
    public func secretsDue(in dates: ClosedRange<Int64>, limit: Int) throws -> (count: Int, first: [(name: String, rotateBy: Int64)]) {
        let count =
            try Int.fetchOne(
                db.cachedStatement(sql: "SELECT count(*) FROM secrets WHERE rotate_by BETWEEN ? AND ?"),
                arguments: [dates.lowerBound, dates.upperBound]) ?? 0
        let first = try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT id, name, rotate_by FROM secrets WHERE rotate_by BETWEEN ? AND ? ORDER BY rotate_by, name LIMIT ?
                    """), [dates.lowerBound, dates.upperBound, limit]
        ) { row -> (name: String, rotateBy: Int64) in
            let c = Columns(row, "secrets")
            return (try c.value(1), try c.value(2))
        }
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

    private static let versionSelect = "SELECT " + SecretVersionRow.columns + " FROM secret_versions"

    public func secretVersions(secretID: Int64) throws -> [SecretVersionRow] {
        try mapRows(
            db.cachedStatement(sql: Tx.versionSelect + " WHERE secret_id = ? ORDER BY version"), [secretID],
            SecretVersionRow.init(row:))
    }

    public func secretVersion(secretID: Int64, version: Int) throws -> SecretVersionRow? {
        let statement = try db.cachedStatement(sql: Tx.versionSelect + " WHERE secret_id = ? AND version = ?")
        return try mapRow(statement, [secretID, version], SecretVersionRow.init(row:))
    }

    /// A version's data key and ciphertext length, without reading the ciphertext.
    public func secretVersionSize(secretID: Int64, version: Int) throws -> (keyVersion: Int, ciphertextBytes: Int)? {
        let statement = try db.cachedStatement(
            sql: """
                SELECT secret_id, version, key_version, length(ciphertext) FROM secret_versions WHERE secret_id = ? AND version = ?
                """)
        return try mapRow(statement, [secretID, version]) { row in
            let c = Columns(row, "secret_versions", key: 2)
            return (keyVersion: try c.value(2), ciphertextBytes: try c.value(3))
        }
    }

    /// (it holds the primary key), so the list survives damage to the table's own pages.
    public func secretVersionIDs() throws -> [(secretID: Int64, version: Int)] {
        try mapRows(
            db.makeStatement(
                sql: """
                    SELECT secret_id, version FROM secret_versions INDEXED BY secret_versions_by_key
                    """)
        ) { row in
            let c = Columns(row, "secret_versions", key: 2)
            return (secretID: try c.value(0), version: try c.value(1))
        }
    }

    /// Every secret's id and name, read from the unique index on names alone, so the names
    /// survive damage to the table's own pages.
    public func secretNamesFromIndex() throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for (id, name) in try mapRows(
            db.makeStatement(sql: "SELECT id, name FROM secrets INDEXED BY sqlite_autoindex_secrets_1"),
            [],
            { row -> (Int64, String) in
                let c = Columns(row, "secrets")
                return (try c.value(0), try c.value(1))
            })
        { out[id] = name }
        return out
    }

    /// Every version of every secret, in (secret, version) order, handed to `body` one at a time.
    public func forEachSecretVersion(_ body: (SecretVersionRow) throws -> Void) throws {
        try forEachRow(db.makeStatement(sql: Tx.versionSelect + " ORDER BY secret_id, version")) { try body(SecretVersionRow(row: $0)) }
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
}

extension SecretRow {
    /// What `init(row:)` reads, in its order, from `secrets s` (by position, as `UserRow`'s).
    static let columns = """
        s.id, s.name, s.description, s.current_version, s.last_version, s.history_limit, s.rotate_by,
               s.created_at, s.updated_at, (SELECT count(*) FROM secret_versions v WHERE v.secret_id = s.id) AS version_count
        """

    init(row: Row) throws {
        let c = Columns(row, "secrets")
        self.init(
            id: try c.value(0), name: try c.value(1), description: try c.value(2), currentVersion: try c.value(3),
            lastVersion: try c.value(4) as Int, historyLimit: try c.optional(5), rotateBy: try c.optional(6),
            createdAt: try c.value(7), updatedAt: try c.value(8), versionCount: try c.value(9))
    }
}

extension SecretVersionRow {
    /// What `init(row:)` reads, in its order.
    static let columns = "secret_id, version, key_version, ciphertext, created_at, created_by"

    init(row: Row) throws {
        let c = Columns(row, "secret_versions", key: 2)
        self.init(
            secretID: try c.value(0), version: try c.value(1), keyVersion: try c.value(2), ciphertext: try c.value(3),
            createdAt: try c.value(4), createdBy: try c.optional(5))
    }
}
