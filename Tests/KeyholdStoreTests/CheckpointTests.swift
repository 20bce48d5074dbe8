import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// After a deletion the WAL is checkpointed with TRUNCATE,
/// so no copy of deleted bytes stays in the -wal file.
@Suite struct CheckpointTests {
    @Test func checkpointAfterWritesTruncatesTheWAL() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        try writeSomeRows(store, count: 50)
        try store.unsafeExecute("DELETE FROM roles WHERE name LIKE 'role-1%'")
        let before = fileSize(path + "-wal") ?? 0
        #expect(before > 0, "the writes should have left frames in the WAL")

        let result = try store.checkpointTruncate()
        #expect(result.blocked == false)
        #expect(fileSize(path + "-wal") == 0, "-wal is \(fileSize(path + "-wal") ?? -1) bytes after TRUNCATE")
        // Nothing was lost: the rows live in the main file now.
        #expect(try store.read { try $0.roles().count } == 39)
        #expect(try store.integrityCheck() == ["ok"])
    }

    @Test func deletedBytesLeaveTheWALAfterCheckpoint() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        let marker = "ZQXJ-deleted-marker-" + UUID().uuidString
        _ = try store.write { tx in
            try tx.insertRole(name: marker, description: marker, builtin: false, createdAt: 1, permissions: [])
        }
        try store.unsafeExecute("DELETE FROM roles WHERE name = ?", arguments: [marker])
        let result = try store.checkpointTruncate()
        #expect(!result.blocked)
        for suffix in ["", "-wal", "-shm"] {
            let bytes = FileManager.default.contents(atPath: path + suffix) ?? Data()
            let found = bytes.range(of: Data(marker.utf8)) != nil
            #expect(!found, "deleted bytes remain in \(suffix.isEmpty ? "the database" : suffix)")
        }
    }

    /// A reader holding the WAL blocks TRUNCATE: the store says so (after its
    /// busy timeout) and a retry once the reader is gone succeeds.
    @Test func aReaderBlocksTheCheckpointAndARetrySucceeds() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Store.create(at: path)
        try writeSomeRows(store, count: 10)
        let reader = try Store.open(at: path)
        try writeSomeRows(store, count: 10, prefix: "later")
        let blocked = try reader.read { tx -> Bool in
            _ = try tx.roles()  // takes the read lock on the WAL snapshot
            return try store.checkpointTruncate().blocked
        }
        #expect(blocked, "a checkpoint with an open reader should report blocked")
        let retry = try store.checkpointTruncate()
        #expect(retry.blocked == false)
        #expect(fileSize(path + "-wal") == 0)
    }
}
