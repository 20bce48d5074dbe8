import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// A vault the program creates has exactly the schema schema.sql describes
///. The reference is built independently: schema.sql read
/// from the repository and executed whole by GRDB on an in-memory database;
/// both sides are read by the same GRDB code, not by the store.
@Suite struct SchemaTests {
    /// Every schema fact as one line: sqlite_master rows (apart from SQLite's
    /// and GRDB's own) plus table_xinfo, index_list and foreign_key_list of
    /// every table and view. Sorted, so two snapshots compare line by line.
    static func snapshot(_ db: Database) throws -> [String] {
        var lines: [String] = []
        let objects = try Row.fetchAll(
            db,
            sql: """
                SELECT type, name, tbl_name, sql FROM sqlite_master
                WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'
                """)
        for o in objects {
            let sql: String? = o["sql"]
            lines.append("object \(o["type"] as String) \(o["name"] as String) on \(o["tbl_name"] as String): \(sql ?? "NULL")")
        }
        let tables = try String.fetchAll(
            db,
            sql: """
                SELECT name FROM sqlite_master WHERE type IN ('table', 'view')
                AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name
                """)
        for table in tables {
            let quoted = "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            for c in try Row.fetchAll(db, sql: "PRAGMA table_xinfo(\(quoted))") {
                lines.append(
                    "column \(table) \(c["cid"] as Int) \(c["name"] as String) type=\(c["type"] as String) "
                        + "notnull=\(c["notnull"] as Int) default=\((c["dflt_value"] as String?) ?? "NULL") "
                        + "pk=\(c["pk"] as Int) hidden=\(c["hidden"] as Int)")
            }
            for i in try Row.fetchAll(db, sql: "PRAGMA index_list(\(quoted))") {
                lines.append(
                    "index \(table) \(i["name"] as String) unique=\(i["unique"] as Int) "
                        + "origin=\(i["origin"] as String) partial=\(i["partial"] as Int)")
            }
            for f in try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(\(quoted))") {
                lines.append(
                    "foreign-key \(table) \(f["id"] as Int).\(f["seq"] as Int) \(f["from"] as String) -> "
                        + "\(f["table"] as String)(\((f["to"] as String?) ?? "pk")) "
                        + "on-update=\(f["on_update"] as String) on-delete=\(f["on_delete"] as String)")
            }
        }
        return lines.sorted()
    }

    /// Lines only on one side, marked `- ` (expected only) and `+ ` (actual only).
    static func difference(expected: [String], actual: [String]) -> [String] {
        let e = Set(expected), a = Set(actual)
        return e.subtracting(a).sorted().map { "- " + $0 } + a.subtracting(e).sorted().map { "+ " + $0 }
    }

    /// schema.sql executed whole on a fresh in-memory database.
    static func reference(_ sql: String) throws -> [String] {
        let queue = try DatabaseQueue()
        try queue.write { try $0.execute(sql: sql) }
        return try queue.read(snapshot)
    }

    /// The schema of the vault file at `path`, through an independent connection.
    static func vaultSnapshot(_ path: String) throws -> [String] {
        try DatabaseQueue(path: path).read(snapshot)
    }

    @Test func createdVaultHasExactlyTheSchemaOfSchemaSQL() throws {
        let expected = try Self.reference(try schemaSQLOnDisk())
        // The reference is not trivially empty: the tables FORMAT.md names are there.
        for table in [
            "vault", "data_keys", "roles", "role_permissions", "users", "user_roles", "user_keys",
            "grants", "secrets", "secret_versions", "audit_events"
        ] {
            #expect(expected.contains { $0.hasPrefix("object table \(table) on \(table):") }, "reference lacks \(table)")
        }
        #expect(expected.contains { $0.hasPrefix("object trigger audit_no_update") })
        #expect(expected.contains { $0.hasPrefix("object view user_permissions") })

        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        let actual = try Self.vaultSnapshot(path)
        let diff = Self.difference(expected: expected, actual: actual)
        #expect(diff.isEmpty, "vault schema differs from schema.sql:\n\(diff.joined(separator: "\n"))")
        #expect(actual == expected)

        // The store's own view of its schema agrees with the independent one.
        let viaStore = try store.schemaObjects().map {
            "object \($0.type) \($0.name) on \($0.table): \($0.sql ?? "NULL")"
        }.sorted()
        #expect(viaStore == expected.filter { $0.hasPrefix("object ") })
    }

    @Test func reopenedVaultStillHasExactlyTheSchema() throws {
        let expected = try Self.reference(try schemaSQLOnDisk())
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        do { _ = try Store.open(at: path) }  // migrating an up-to-date vault changes nothing
        let diff = Self.difference(expected: expected, actual: try Self.vaultSnapshot(path))
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
    }

    /// A vault of the current format made before a view-only migration (here: `app_users` as
    /// migration 3 defined it, before migration 6) gets the view this release reads when it is
    /// opened, and nothing else changes.
    @Test func vaultMadeBeforeAViewMigrationGetsItAtOpen() throws {
        let expected = try Self.reference(try schemaSQLOnDisk())
        let three = try #require(Store.migrations.first { $0.number == 3 }?.sql)
        let start = try #require(three.range(of: "CREATE VIEW app_users"))
        let end = try #require(three.range(of: ";", range: start.upperBound..<three.endIndex))
        let oldView = String(three[start.lowerBound..<end.upperBound])
        let dir = TempDir()
        let path = dir.file("vault.db")
        do {
            let store = try Store.create(at: path)
            try store.unsafeExecute("DROP VIEW app_users")
            try store.unsafeExecute(oldView)
            try store.close()
        }
        let before = Self.difference(expected: expected, actual: try Self.vaultSnapshot(path))
        #expect(before.contains { $0.hasPrefix("+ object view app_users") && $0.contains("current_prefix") })
        #expect(before.allSatisfy { $0.contains("app_users") }, "only the view differs:\n\(before.joined(separator: "\n"))")
        let store = try Store.open(at: path)
        let after = Self.difference(expected: expected, actual: try Self.vaultSnapshot(path))
        #expect(after.isEmpty, "\(after.joined(separator: "\n"))")
        #expect(try store.unsafeQuery("PRAGMA user_version").first?["user_version"] as? Int64 == Int64(VaultFile.currentFormat))
    }

    /// An up-to-date vault is only read at open: no transaction writes to it.
    @Test func upToDateVaultIsNotWrittenAtOpen() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { try Store.create(at: path).close() }
        let store = try Store.open(at: path)
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0, "opening wrote \(wal) bytes to the WAL")
        _ = store
    }

    // MARK: The comparison can fail

    @Test func comparisonReportsAnIndexMissingFromSchemaSQL() throws {
        let full = try schemaSQLOnDisk()
        let statement = "CREATE INDEX audit_by_time ON audit_events(at);"
        #expect(full.components(separatedBy: statement).count == 2, "schema.sql no longer has the index this test removes")
        let lessOne = full.replacingOccurrences(of: statement, with: "")
        let dir = TempDir()
        let path = dir.file("vault.db")
        _ = try Store.create(at: path)
        let diff = Self.difference(expected: try Self.reference(lessOne), actual: try Self.vaultSnapshot(path))
        #expect(!diff.isEmpty)
        #expect(diff.contains { $0.hasPrefix("+ object index audit_by_time on audit_events:") })
        #expect(diff.contains { $0.hasPrefix("+ index audit_events audit_by_time") })
        #expect(diff.allSatisfy { $0.contains("audit_by_time") }, "only that index differs:\n\(diff.joined(separator: "\n"))")
    }

    @Test func comparisonReportsAChangedColumnDefault() throws {
        let full = try schemaSQLOnDisk()
        let original = "password_min_length INTEGER NOT NULL DEFAULT 12"
        #expect(full.components(separatedBy: original).count == 2)
        let changed = full.replacingOccurrences(of: original, with: "password_min_length INTEGER NOT NULL DEFAULT 14")
        let dir = TempDir()
        let path = dir.file("vault.db")
        _ = try Store.create(at: path)
        let diff = Self.difference(expected: try Self.reference(changed), actual: try Self.vaultSnapshot(path))
        #expect(diff.contains { $0.hasPrefix("- column vault ") && $0.contains("password_min_length") && $0.contains("default=14") })
        #expect(diff.contains { $0.hasPrefix("+ column vault ") && $0.contains("password_min_length") && $0.contains("default=12") })
    }

    @Test func comparisonReportsAnExtraObjectInTheVault() throws {
        let expected = try Self.reference(try schemaSQLOnDisk())
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        try store.unsafeExecute("CREATE INDEX users_by_email ON users(email)")
        let diff = Self.difference(expected: expected, actual: try Self.vaultSnapshot(path))
        #expect(diff.contains { $0.hasPrefix("+ object index users_by_email on users:") })
    }

    // MARK: Migrations

    @Test func migrationsAreNumberedOneToNWithoutGaps() throws {
        let migrations = Store.migrations
        try #require(!migrations.isEmpty, "no migration parsed from schema.sql")
        #expect(migrations[0].number == 1)
        #expect(migrations[0].title == "initial schema")
        #expect(migrations.map(\.number) == Array(1...migrations.count))
        for m in migrations {
            #expect(!m.title.isEmpty, "migration \(m.number) has no title")
            #expect(m.sql.contains("CREATE"), "migration \(m.number) is empty")
        }
        #expect(migrations[0].sql.contains("CREATE TABLE vault"))
    }

    /// Every "-- migration N:" header line is parsed; a malformed one would be silently merged otherwise.
    @Test func everyMigrationHeaderInSchemaSQLIsParsed() throws {
        let headers = try schemaSQLOnDisk().split(separator: "\n").filter { $0.hasPrefix("-- migration ") }
        #expect(headers.count == Store.migrations.count)
    }

    @Test func embeddedSchemaIsTheFileOnDisk() throws {
        let matches = embeddedSchemaSQL == (try schemaSQLOnDisk())
        #expect(matches, "the build embedded a schema.sql that differs from the repository's (stale build?)")
    }

    /// The header names Keyhold and the format (docs/FORMAT.md, "File"): read from the file's bytes,
    /// as `VaultFile.inspect` reads them, and through SQLite.
    @Test func vaultHeaderNamesKeyholdAndItsFormat() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        #expect(try store.unsafeQuery("PRAGMA application_id").first?["application_id"] as? Int64 == Int64(VaultFile.applicationID))
        #expect(try store.unsafeQuery("PRAGMA user_version").first?["user_version"] as? Int64 == Int64(VaultFile.currentFormat))
        let header = try #require(FileManager.default.contents(atPath: path)).prefix(100)
        #expect(Array(header[68..<72]) == Array("KHLD".utf8))
        #expect(Array(header[60..<64]) == [0, 0, 0, UInt8(VaultFile.currentFormat)])
        // The format lives in the header: no migration table of GRDB's.
        #expect(try store.unsafeQuery("SELECT name FROM sqlite_master WHERE name = 'grdb_migrations'").isEmpty)
        #expect(VaultFile.lastMigration[VaultFile.currentFormat] == Store.migrations.map(\.number).max())
    }
}
