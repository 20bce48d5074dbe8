import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

@Suite struct FileSafetyTests {
    @Test func createMakesA0600FileInA0700Directory() throws {
        let dir = TempDir()
        #expect(permissions(dir.path) == 0o700, "mkdtemp should give 0700")
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        #expect(store.path == path)
        #expect(permissions(path) == 0o600, "database file is \(octal(permissions(path)))")
        #expect(permissions(dir.path) == 0o700)
    }

    @Test func walAndShmAre0600AfterAWrite() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        try writeSomeRows(store)
        for suffix in ["", "-wal", "-shm"] {
            let mode = permissions(path + suffix)
            #expect(mode != nil, "\(suffix.isEmpty ? "database" : suffix) file missing after a write")
            #expect(mode == 0o600, "\(suffix.isEmpty ? "database" : suffix) file is \(octal(mode))")
        }
        #expect(permissions(path + "-lock") == 0o600, "the lock file is \(octal(permissions(path + "-lock")))")
        // Nothing else appeared in the directory (no rollback journal, no stray copies); the lock
        // file is held by every open vault (in use, byte 1).
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["vault.db", "vault.db-lock", "vault.db-shm", "vault.db-wal"])
    }

    /// A vault this process has just created is held like any other: another process that opens and
    /// closes it must not find itself the last one, which would checkpoint and delete the WAL (and the
    /// -shm) under this process, whose later commits would then go to an unlinked file no one else reads.
    /// (A POSIX lock belongs to the process and falls with the close of any descriptor of the file: the
    /// draft's own descriptor, closed after the store was opened, used to drop SQLite's locks.)
    @Test func aNewVaultKeepsItsLocksWhileAnotherProcessOpensAndClosesIt() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        try writeSomeRows(store, count: 1, prefix: "before")
        func rolesSeenByAnotherProcess(_ prefix: String) throws -> String {
            let r = try Subprocess.run(
                "/usr/bin/env",
                [
                    PythonLocker.interpreter, "-c",
                    """
                    import sqlite3, sys
                    c = sqlite3.connect(sys.argv[1])
                    print(c.execute("SELECT count(*) FROM roles WHERE name LIKE ?", (sys.argv[2] + "-%",)).fetchone()[0])
                    c.close()
                    """, path, prefix
                ], env: ProcessInfo.processInfo.environment)
            guard r.status == 0 else { throw TestFailure("python sqlite3 failed: \(r.stderr)") }
            return r.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try rolesSeenByAnotherProcess("before") == "1")
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "another process's close deleted the WAL this process writes to")
        try writeSomeRows(store, count: 1, prefix: "after")
        #expect(try rolesSeenByAnotherProcess("after") == "1", "a commit made after another process came and went is not seen by others")
    }

    @Test func reopenKeepsModesAt0600() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        let store = try Store.open(at: path)
        try writeSomeRows(store)
        for suffix in ["", "-wal", "-shm"] {
            #expect(permissions(path + suffix) == 0o600, "\(suffix) is \(octal(permissions(path + suffix)))")
        }
    }

    @Test func missingParentDirectoryIsCreated0700() throws {
        let dir = TempDir()
        let parent = dir.file("vaults")
        let path = parent + "/vault.db"
        #expect(permissions(parent) == nil)
        _ = try Store.create(at: path)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(permissions(parent) == 0o700, "created directory is \(octal(permissions(parent)))")
        #expect(permissions(path) == 0o600)
    }

    @Test func missingNestedParentsAreCreatedAndTheVaultDirectoryIs0700() throws {
        let dir = TempDir()
        let outer = dir.file("a"), inner = dir.file("a/b")
        _ = try Store.create(at: inner + "/vault.db")
        #expect(permissions(inner) == 0o700, "vault directory is \(octal(permissions(inner)))")
        let outerMode = permissions(outer) ?? 0o777
        #expect(outerMode & 0o022 == 0, "intermediate directory is writable by others: \(octal(outerMode))")
    }

    @Test(arguments: [0o755, 0o750, 0o770, 0o707, 0o701, 0o710, 0o777])
    func createInADirectoryOpenToOthersIsRefused(mode: Int) throws {
        let dir = TempDir()
        let unsafe = dir.file("shared")
        try FileManager.default.createDirectory(atPath: unsafe, withIntermediateDirectories: false)
        #expect(chmod(unsafe, mode_t(mode)) == 0)
        let path = unsafe + "/vault.db"
        #expect(throws: StoreError.unsafeDirectory(path: unsafe, mode: mode)) { try Store.create(at: path) }
        #expect(permissions(path) == nil, "a file was created in the unsafe directory")
        #expect(permissions(unsafe) == mode, "the directory's mode was changed")
    }

    @Test func unsafeDirectoryMessageSaysHowToFixIt() {
        let text = StoreError.unsafeDirectory(path: "/srv/v", mode: 0o755).description
        #expect(text.contains("755") && text.contains("0700") && text.contains("chmod 700"))
    }

    @Test func createOverAnExistingVaultThrowsExists() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let first = try Store.create(at: path)
        try writeSomeRows(first, count: 3)
        #expect(throws: StoreError.exists(path: path)) { try Store.create(at: path) }
        // The first vault is untouched and still usable.
        let count = try first.read { tx in try tx.roles().count }
        #expect(count == 3)
    }

    @Test func createOverAnyExistingFileThrowsExistsAndLeavesItAlone() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let content = Data("someone else's file\n".utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: content, attributes: [.posixPermissions: 0o644]))
        #expect(throws: StoreError.exists(path: path)) { try Store.create(at: path) }
        #expect(FileManager.default.contents(atPath: path) == content)
        #expect(permissions(path) == 0o644)
        #expect(permissions(path + "-wal") == nil && permissions(path + "-shm") == nil)
    }

    @Test func openOfAMissingPathThrowsNotFound() throws {
        let dir = TempDir()
        let path = dir.file("missing.db")
        #expect(throws: StoreError.notFound(path: path)) { try Store.open(at: path) }
        #expect(permissions(path) == nil, "open must not create the file")
        let deeper = dir.file("no/such/dir/vault.db")
        #expect(throws: StoreError.notFound(path: deeper)) { try Store.open(at: deeper) }
    }

    @Test func openOfAFileThatIsNotADatabaseIsRefused() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let junk = Data(String(repeating: "this is not an SQLite database. ", count: 256).utf8)
        #expect(FileManager.default.createFile(atPath: path, contents: junk, attributes: [.posixPermissions: 0o600]))
        do {
            _ = try Store.open(at: path)
            Issue.record("a text file opened as a vault")
        } catch let error as StoreError {
            guard case .notAVault = error else { Issue.record("expected .notAVault, got \(error)"); return }
        }
        #expect(FileManager.default.contents(atPath: path) == junk, "the file was changed")
        #expect(permissions(path + "-wal") == nil && permissions(path + "-shm") == nil, "files were made beside it")
    }

    @Test func openedVaultIsUsable() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do {
            let store = try Store.create(at: path)
            try writeSomeRows(store, count: 5)
        }
        let reopened = try Store.open(at: path)
        #expect(try reopened.read { try $0.roles().count } == 5)
        #expect(try reopened.integrityCheck() == ["ok"])
    }
}
