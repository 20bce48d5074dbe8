import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// The name indexes of migration 7 (FTS5 trigram tables over secrets and users): kept in step by
/// the store through inserts, renames and deletions; a deleted name leaves none of its trigrams in
/// the index or anywhere in the files; a vault of format 2 gets them when it is first opened.
@Suite struct NameIndexTests {
    static func secret(_ name: String) -> SecretRow {
        SecretRow(name: name, description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil, createdAt: 0, updatedAt: 0)
    }

    static func user(_ name: String, email: String? = nil, display: String = "") -> UserRow {
        UserRow(
            username: name, email: email, displayName: display, passwordHash: "x", mustChange: false, passwordExpiresAt: nil,
            createdAt: 0, updatedAt: 0)
    }

    /// FTS5's own check of an index against its table (with rank 1: against the rows themselves); throws if they differ.
    static func checkIndex(_ store: Store, _ table: String) throws {
        try store.unsafeExecute("INSERT INTO \(table) (\(table), rank) VALUES ('integrity-check', 1)")
    }

    static func names(_ store: Store, _ needle: String) throws -> [String] {
        try store.read { try $0.secretPage(.contains(needle), at: .first, limit: 100).rows.map(\.name) }
    }

    @Test func insertsRenamesAndDeletionsKeepTheIndexesInStep() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        var ids: [Int64] = []
        try store.write { tx in
            for n in ["app/prod/db", "app/dev/db", "web/prod/token"] { ids.append(try tx.insertSecret(Self.secret(n))) }
            try tx.insertDataKey(DataKeyRow(version: 1, sealed: Array(repeating: 7, count: 72), active: true, createdAt: 0))
        }
        // The batch insert of an import.
        try store.write { tx in
            var rows = NewSecretRows()
            rows.firstID = try tx.nextSecretID()
            rows.keyVersion = 1
            for n in ["batch/prod/one", "batch/two"] {
                [UInt8](repeating: 1, count: 41).withUnsafeBytes {
                    rows.append(name: n, description: "", ciphertext: $0, nameTag: Array(repeating: 2, count: 32))
                }
            }
            #expect(try tx.insertNewSecrets(rows) == nil)
        }
        try Self.checkIndex(store, "secret_names")
        #expect(try Self.names(store, "PROD") == ["app/prod/db", "batch/prod/one", "web/prod/token"])

        // A rename moves the row in the index; an update that keeps the name leaves it.
        try store.write { tx in
            var s = try #require(try tx.secret(named: "app/dev/db"))
            s.name = "app/staging/db"
            try tx.updateSecret(s)
            var t = try #require(try tx.secret(named: "web/prod/token"))
            t.description = "changed"
            try tx.updateSecret(t)
        }
        try Self.checkIndex(store, "secret_names")
        #expect(try Self.names(store, "dev/").isEmpty)
        #expect(try Self.names(store, "staging") == ["app/staging/db"])
        #expect(try Self.names(store, "prod/tok") == ["web/prod/token"])

        try store.write { tx in try tx.deleteSecret(id: ids[0]) }
        try Self.checkIndex(store, "secret_names")
        #expect(try Self.names(store, "prod") == ["batch/prod/one", "web/prod/token"])

        // Users: every name field; a login's update leaves the index alone, an edit moves it.
        let uid = try store.write { tx in
            try tx.insertUser(Self.user("Maria.Berg", email: "maria@example.com", display: "Maria Berg"))
        }
        try store.write { tx in _ = try tx.insertUser(Self.user("olaf", email: nil, display: "Ölaf Ünter")) }
        let find = { (t: String) in
            try store.read { try $0.userPage(UserFilter(name: .contains(t)), at: .first, limit: 10).rows.map(\.username) }
        }
        #expect(try find("EXAMPLE.c") == ["Maria.Berg"] && find("berg") == ["Maria.Berg"])
        // Letters beyond ASCII are compared as they are (as LIKE compares them): Ü is not ü.
        #expect(try find("Ünt") == ["olaf"] && find("ünt").isEmpty)
        try store.write { tx in
            var u = try #require(try tx.user(id: uid))
            u.lastLoginAt = 5
            try tx.updateUser(u)
            #expect(!tx.nameIndexes.users, "a login does not touch the index")
            u.email = "mb@elsewhere.org"
            try tx.updateUser(u)
            #expect(tx.nameIndexes.users)
        }
        try Self.checkIndex(store, "user_names")
        #expect(try find("example").isEmpty && find("ELSEWHERE") == ["Maria.Berg"])
        try store.write { tx in try tx.deleteUser(id: uid) }
        try Self.checkIndex(store, "user_names")
        #expect(try find("berg").isEmpty)

        // The check can fail: a name changed behind the store's back.
        try store.unsafeExecute("UPDATE secrets SET name = 'elsewhere' WHERE name = 'batch/two'")
        #expect(throws: (any Error).self) { try Self.checkIndex(store, "secret_names") }
    }

    // MARK: Secure deletion

    /// Trigrams of the names deleted below that no kept name has (FTS5 keeps its terms in lower case).
    static let goneGrams = ["qz0", "z01", "012", "123", "234", "345", "456", "567", "678", "789", "wq@", "q@9", "@98", "987"]

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { i in
            haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle)
        }
    }

    /// Where any of `goneGrams` is left: in the index's own tables (as SQL reads them), and in the files.
    static func traces(_ store: Store, _ path: String) throws -> [String] {
        var found: [String] = []
        for table in [
            "secret_names_data", "secret_names_idx", "secret_names_config", "user_names_data", "user_names_idx", "user_names_config"
        ] {
            for row in try store.unsafeQuery("SELECT * FROM \(table)") {
                for value in row.values {
                    let bytes: [UInt8] = (value as? [UInt8]) ?? (value as? String).map { Array($0.utf8) } ?? []
                    for g in goneGrams where contains(bytes, Array(g.utf8)) { found.append("\(g) in \(table)") }
                }
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            guard let bytes = FileManager.default.contents(atPath: path + suffix).map([UInt8].init) else { continue }
            for g in goneGrams where contains(bytes, Array(g.utf8)) { found.append("\(g) in file\(suffix)") }
        }
        return found
    }

    /// A vault with names over many FTS segments (one per transaction), one secret and one user
    /// among them whose trigrams no other name has.
    static func populated(_ path: String) throws -> Store {
        let store = try Store.create(at: path)
        for i in 0..<40 {
            try store.write { tx in
                _ = try tx.insertSecret(Self.secret("keep/\(i)/" + String(repeating: "ab", count: i % 5 + 1) + "/token-xyz"))
                _ = try tx.insertUser(Self.user("keeper" + String(repeating: "k", count: i), email: "k@keep.example", display: "Kept"))
                if i == 17 {
                    _ = try tx.insertSecret(Self.secret("gone/QZ0123456789"))
                    _ = try tx.insertUser(Self.user("leaver", email: "wq@987.example", display: "Gone"))
                }
            }
        }
        return store
    }

    @Test func aDeletedNameLeavesNoTrigramInTheIndexOrTheFiles() throws {
        let dir = TempDir()
        let path = dir.file("v.db")
        let store = try Self.populated(path)
        #expect(try store.checkpointTruncate().blocked == false)
        // Before: the scan finds them (in the index's tables, and in the file).
        let before = try Self.traces(store, path)
        #expect(before.contains { $0.hasSuffix("in secret_names_data") } && before.contains { $0.hasSuffix("in user_names_data") })
        #expect(before.contains { $0.hasSuffix("in file") })

        try store.write { tx in
            try tx.deleteSecret(id: try #require(try tx.secret(named: "gone/QZ0123456789")).id)
            try tx.deleteUser(id: try #require(try tx.user(named: "leaver")).id)
        }
        #expect(try store.checkpointTruncate().blocked == false)
        let after = try Self.traces(store, path)
        #expect(after.isEmpty, "left behind: \(after.sorted())")
        try NameIndexTests.checkIndex(store, "secret_names")
        try NameIndexTests.checkIndex(store, "user_names")
        // The kept names are still found.
        #expect(try Self.names(store, "token-xyz").count == 40)
    }

    /// Without the merge, FTS5 keeps a deleted row's trigrams (and writes them again in its
    /// deletion marker): what the purge exists for.
    @Test func withoutTheMergeTheTrigramsStay() throws {
        let dir = TempDir()
        let path = dir.file("v.db")
        let store = try Self.populated(path)
        try store.unsafeExecute(
            """
            BEGIN;
            INSERT INTO secret_names (secret_names, rowid, name) SELECT 'delete', id, name FROM secrets WHERE name = 'gone/QZ0123456789';
            DELETE FROM secrets WHERE name = 'gone/QZ0123456789';
            COMMIT;
            """)
        #expect(try store.checkpointTruncate().blocked == false)
        let after = try Self.traces(store, path)
        #expect(after.contains { $0.hasSuffix("in secret_names_data") }, "\(after)")
    }

    // MARK: Format 2

    @Test func aVaultOfFormat2GetsTheIndexesWhenFirstOpened() throws {
        let dir = TempDir()
        let path = dir.file("v.db")
        do {
            let store = try Store.create(at: path) { tx in
                try tx.insertVault(
                    VaultRow(
                        format: VaultFile.currentFormat, createdAt: 0, kdfOpslimit: 2, kdfMemlimit: 8192,
                        passwordMinLength: 12, historyLimit: 10, tempPasswordTTL: 1, recoverySealed: [1, 2, 3],
                        revocationWarning: nil))
                _ = try tx.insertSecret(Self.secret("before/upgrade"))
                _ = try tx.insertUser(Self.user("early", email: "early@example.com"))
            }
            // What a vault of format 2 is: no name indexes, and a header and vault row saying 2;
            // rows written by a release of format 2 (which knows nothing of the indexes), made before
            // migration 6 (another definition of app_users: the step to format 3 starts after it).
            try store.unsafeExecute(
                """
                DROP TABLE secret_names; DROP TABLE user_names; PRAGMA user_version = 2; UPDATE vault SET format = 2;
                DROP VIEW app_users; CREATE VIEW app_users AS SELECT id, username FROM users;
                INSERT INTO secrets (name, description, current_version, last_version, created_at, updated_at)
                VALUES ('written/by/format2', '', 1, 1, 0, 0);
                INSERT INTO users (username, email, display_name, password_hash, created_at, updated_at)
                VALUES ('later', 'later@example.org', 'Later User', 'x', 0, 0);
                """)
            try store.close()
        }
        #expect(try VaultFile.inspect(path) == .older(format: 2))
        let store = try Store.open(at: path)
        #expect(store.kind == .current)
        #expect(try VaultFile.inspect(path) == .current)
        #expect(try store.unsafeQuery("SELECT format FROM vault").first?["format"] as? Int64 == Int64(VaultFile.currentFormat))
        let diff = SchemaTests.difference(
            expected: try SchemaTests.reference(try schemaSQLOnDisk()), actual: try SchemaTests.vaultSnapshot(path))
        #expect(diff.isEmpty, "\(diff.joined(separator: "\n"))")
        try Self.checkIndex(store, "secret_names")
        try Self.checkIndex(store, "user_names")
        #expect(try Self.names(store, "FORMAT2") == ["written/by/format2"])
        #expect(try Self.names(store, "upgr") == ["before/upgrade"])
        #expect(
            try store.read { try $0.userPage(UserFilter(name: .contains("later user")), at: .first, limit: 5).rows.map(\.username) } == [
                "later"
            ])
        // Opened again: nothing more to do.
        try store.close()
        let again = try Store.open(at: path)
        #expect(again.kind == .current)
        #expect(try again.read { try $0.secretCount(nil) } == 2)
    }
}
