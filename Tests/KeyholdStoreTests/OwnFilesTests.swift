import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// Keyhold writes only to files that are its own (docs/SECURITY.md, "Only its own files"):
/// everything else is refused with the fix named and left byte for byte as it was, with
/// nothing made beside it.
@Suite struct OwnFilesTests {
    /// Refuses `path` with an error `matches` accepts; the file and its directory are unchanged.
    private func expectRefused(
        _ path: String, in dir: TempDir, sourceLocation: SourceLocation = #_sourceLocation,
        _ matches: (StoreError) -> Bool
    ) {
        let before = FileManager.default.contents(atPath: path)
        let mode = permissions(path)
        let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        do {
            _ = try Store.open(at: path)
            Issue.record("\(path) was opened", sourceLocation: sourceLocation)
        } catch let error as StoreError {
            #expect(matches(error), "refused with \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
        #expect(FileManager.default.contents(atPath: path) == before, "the file changed", sourceLocation: sourceLocation)
        #expect(permissions(path) == mode, "the file's mode changed", sourceLocation: sourceLocation)
        #expect(
            (try? FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()) == names,
            "files appeared beside it", sourceLocation: sourceLocation)
    }

    @Test func emptyFileIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(), attributes: [.posixPermissions: 0o600]))
        expectRefused(path, in: dir) { if case .notAVault(_, let why) = $0 { why.contains("empty") } else { false } }
    }

    /// Another program's database: without an application id, and with one of its own.
    @Test(arguments: [0, 0x1234_5678])
    func anotherProgramsDatabaseIsRefused(applicationID: Int) throws {
        let dir = TempDir()
        let path = dir.file("other.db")
        do {
            let other = try DatabaseQueue(path: path)
            try other.write { db in
                try db.execute(sql: "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
                try db.execute(sql: "INSERT INTO orders (total) VALUES (42)")
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
            }
        }
        #expect(chmod(path, 0o600) == 0)
        expectRefused(path, in: dir) { error in
            guard case .notAVault(_, let why) = error else { return false }
            return why.contains("another program")
        }
        // Still the other program's: its rows, its journal mode, no Keyhold tables.
        let check = try DatabaseQueue(path: path)
        #expect(try check.read { try Int.fetchOne($0, sql: "SELECT total FROM orders") } == 42)
        #expect(try check.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "delete")
        #expect(try check.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master WHERE name = 'vault'") } == 0)
    }

    @Test func vaultOfAFutureFormatIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        // What a later release would write: the same application id, a higher format.
        do {
            let raw = try DatabaseQueue(path: path)
            try raw.write { try $0.execute(sql: "PRAGMA user_version = \(VaultFile.currentFormat + 1)") }
        }
        expectRefused(path, in: dir) { error in
            guard case .futureFormat(_, let f) = error else { return false }
            return f == VaultFile.currentFormat + 1 && error.description.contains("newer Keyhold")
        }
    }

    @Test func directoryIsRefusedWithTheFix() throws {
        let dir = TempDir()
        let sub = dir.file("vaults")
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        do {
            _ = try Store.open(at: sub)
            Issue.record("a directory was opened")
        } catch let error as StoreError {
            #expect(error == .isDirectory(path: sub))
            #expect(error.description.contains("\(sub)/keyhold.db"))
        }
    }

    /// A vault others may read is never re-moded behind the user's back: refused, with the fix named.
    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606])
    func vaultReadableByOthersIsRefused(mode: Int) throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        #expect(chmod(path, mode_t(mode)) == 0)
        expectRefused(path, in: dir) { error in
            error == .unsafeFile(path: path, mode: mode) && error.description.contains("chmod 600")
        }
    }

    @Test func aWalOthersMayReadIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        #expect(FileManager.default.createFile(atPath: path + "-wal", contents: Data(), attributes: [.posixPermissions: 0o644]))
        expectRefused(path, in: dir) { $0 == .unsafeFile(path: path + "-wal", mode: 0o644) }
    }

    /// Checked at every open, not only at creation.
    @Test func directoryOpenedToOthersAfterCreationIsRefused() throws {
        let dir = TempDir()
        let sub = dir.file("v")
        let path = sub + "/vault.db"
        do { _ = try Store.create(at: path) }
        #expect(chmod(sub, 0o755) == 0)
        expectRefused(path, in: dir) { $0 == .unsafeDirectory(path: sub, mode: 0o755) }
    }

    /// Only root can give a file away (CI runs as root).
    @Test(.enabled(if: geteuid() == 0, "needs root to give a file to another user"))
    func vaultOfAnotherUserIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        #expect(chown(path, 65534, 65534) == 0)
        expectRefused(path, in: dir) { $0 == .foreignOwner(path: path, uid: 65534) }
    }

    /// A file whose creation an older release left half-made: its tables, no vault row.
    @Test func halfMadeVaultOfAnOlderReleaseSaysWhatToDo() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do {
            let raw = try DatabaseQueue(path: path)
            try raw.write { db in
                for m in Store.migrations where m.number <= 4 { try db.execute(sql: m.sql) }
                try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                for n in 1...4 { try db.execute(sql: "INSERT INTO grdb_migrations VALUES (?)", arguments: [String(n)]) }
            }
        }
        #expect(chmod(path, 0o600) == 0)
        expectRefused(path, in: dir) { error in
            error == .halfMade(path: path) && error.description.contains("keyhold init")
        }
    }

    /// A vault of format 1, as the release before wrote it: refused for use, with `keyhold upgrade` named;
    /// the upgrade alone may open it.
    @Test func formatOneVaultNeedsTheUpgrade() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        try FileManager.default.copyItem(atPath: Repository.fixture("format1-vault.db"), toPath: path)
        #expect(chmod(path, 0o600) == 0)
        expectRefused(path, in: dir) { error in
            error == .upgradeRequired(path: path, format: 1) && error.description.contains("keyhold upgrade")
        }
        let store = try Store.open(at: path, allowOlder: true)
        #expect(store.kind == .older(format: 1))
    }

    /// Creation builds the vault beside its path and links it into place: nothing else is left,
    /// and an abandoned draft (a killed `init`) is cleared by the next one.
    @Test func creationLeavesOnlyTheVaultAndClearsAbandonedDrafts() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let abandoned = dir.file(".vault.db.new-ABC123")
        #expect(FileManager.default.createFile(atPath: abandoned, contents: Data("half".utf8), attributes: [.posixPermissions: 0o600]))
        let store = try Store.create(at: path)
        #expect(store.kind == .current)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(names.sorted() == ["vault.db", "vault.db-lock"])  // the lock file of the open vault
        #expect(permissions(path) == 0o600)
    }

    @Test func creationNeverReplacesAFile() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("mine".utf8), attributes: [.posixPermissions: 0o600]))
        #expect(throws: StoreError.exists(path: path)) { try Store.create(at: path) }
        #expect(FileManager.default.contents(atPath: path) == Data("mine".utf8))
    }
}
