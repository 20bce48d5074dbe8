import GRDB

// The schema inside a transaction: creating a vault applies every migration of
// schema.sql with its first rows; an upgrade applies the later ones with the data
// the new format needs. Both end by stamping the header (docs/FORMAT.md, "File").
extension Tx {
    /// Runs schema.sql's migrations numbered `after + 1 ... through`, in order.
    func applyMigrations(after: Int, through: Int) throws {
        for m in Store.migrations where m.number > after && m.number <= through {
            try db.execute(sql: m.sql)
        }
    }

    /// Writes Keyhold's application id ("KHLD") and the current format version into the
    /// file's header (literals: PRAGMAs take no bound values; a test holds them to `VaultFile`),
    /// and the format into the vault row (`vault.format`, which repeats it), if there is one yet.
    func stampCurrentFormat() throws {
        try db.execute(sql: "PRAGMA application_id = 1263029316")
        try db.execute(sql: "PRAGMA user_version = 3")
        try db.execute(sql: "UPDATE vault SET format = ? WHERE id = 1", arguments: [VaultFile.currentFormat])
    }

    /// The format the file's header names (`PRAGMA user_version`), as this transaction sees it.
    func headerFormat() throws -> Int {
        try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
    }

    /// Format 1 recorded its migrations in GRDB's table; the format version now lives in the header.
    func dropLegacyMigrationTable() throws {
        try db.execute(sql: "DROP TABLE IF EXISTS grdb_migrations")
    }

    // MARK: Schema

    /// Each view's name and the statement that created it, as SQLite keeps it.
    func viewDefinitions() throws -> [String: String] {
        var out: [String: String] = [:]
        try forEachRow(db.makeStatement(sql: "SELECT name, sql FROM sqlite_master WHERE type = 'view'")) { row in
            let c = Columns(row, "sqlite_master", key: 0)
            out[try c.value(0)] = try c.value(1)
        }
        return out
    }

    public func schemaObjects() throws -> [SchemaObject] {
        try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT type, name, tbl_name, sql FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY type, name
                    """)
        ) { row in
            let c = Columns(row, "sqlite_master", key: 0)
            return SchemaObject(type: try c.value(0), name: try c.value(1), table: try c.value(2), sql: try c.optional(3))
        }
    }
}
