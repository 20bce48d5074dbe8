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
    /// file's header (literals: PRAGMAs take no bound values; a test holds them to `VaultFile`).
    func stampCurrentFormat() throws {
        try db.execute(sql: "PRAGMA application_id = 1263029316")
        try db.execute(sql: "PRAGMA user_version = 2")
    }

    /// Format 1 recorded its migrations in GRDB's table; the format version now lives in the header.
    func dropLegacyMigrationTable() throws {
        try db.execute(sql: "DROP TABLE IF EXISTS grdb_migrations")
    }
}
