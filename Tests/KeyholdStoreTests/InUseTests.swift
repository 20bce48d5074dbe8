import Foundation
import GRDB
import KeyholdTestSupport
import Synchronization
import Testing
@testable import KeyholdStore

/// A vault in use (byte 1 of the lock file) and what a process notices of the file it opened
/// (docs/SECURITY.md, "The in-use lock" and "A vault replaced while in use").
@Suite struct InUseTests {
    /// A store with a vault row naming `id` and `events` audit events whose hashes are made of `salt`.
    static func vault(at path: String, id: UInt8, events: Int64, salt: UInt8) throws -> Store {
        let store = try Store.create(at: path) { tx in
            var row = VaultRow(
                format: 2, createdAt: 1_800_000_000_000, kdfOpslimit: 1, kdfMemlimit: 8192, passwordMinLength: 12,
                historyLimit: 10, tempPasswordTTL: 86_400_000, recoverySealed: [1, 2, 3], revocationWarning: nil)
            row.vaultID = [UInt8](repeating: id, count: 16)
            try tx.insertVault(row)
            try tx.setVaultIdentity(vaultID: [UInt8](repeating: id, count: 16), anchorSeq: 1)
        }
        try append(store, from: 1, to: events, salt: salt)
        return store
    }

    static func append(_ store: Store, from: Int64, to: Int64, salt: UInt8) throws {
        try store.write { tx in
            for seq in from...to {
                try tx.insertAudit(
                    AuditRow(
                        seq: seq, at: 1_800_000_000_000 + seq, actorID: nil, actorName: "admin", actorKeyID: nil,
                        action: "test.event", target: "vault", details: "{}",
                        prevHash: [UInt8](repeating: 0, count: 32),
                        hash: [UInt8](repeating: salt, count: 31) + [UInt8(seq & 0xFF)], signature: nil))
            }
        }
    }

    static func vaultID(_ store: Store) throws -> [UInt8]? { try store.read { try $0.vault()?.vaultID } }

    @Test func anOpenVaultHoldsTheInUseLockUntilItIsClosed() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Self.vault(at: path, id: 1, events: 2, salt: 0xA0)
        let probe = try OwnerLock(vaultPath: path)
        #expect(try probe.isHeldElsewhere(.vault, against: .exclusive))
        #expect(try !probe.isHeldElsewhere(.vault, against: .shared))  // others may open it too
        #expect(try !probe.isHeldElsewhere(.rotation))  // and it is not the rotation lease
        let second = try Store.open(at: path)
        try store.close()
        #expect(try probe.isHeldElsewhere(.vault, against: .exclusive))  // the second still has it open
        try second.close()
        #expect(try !probe.isHeldElsewhere(.vault, against: .exclusive))
    }

    @Test func aRestoreHoldsItExclusivelyAndOnlyWhenNobodyElseHasTheVaultOpen() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let store = try Self.vault(at: path, id: 1, events: 2, salt: 0xA0)
        let other = try Store.open(at: path)
        #expect(throws: StoreError.inUse(path: path)) { try store.beginRestore() }
        try other.close()
        try store.beginRestore()
        #expect(throws: StoreError.restoreInProgress(path: path)) { try Store.open(at: path) }
        // Someone else taking byte 1 themselves (another tool following docs/FORMAT.md) is refused too.
        let tool = try OwnerLock(vaultPath: path)
        #expect(try !tool.tryLock(.vault, .shared))
        store.endRestore()
        #expect(try tool.tryLock(.vault, .shared))
        try tool.unlock(.vault)
        try Store.open(at: path).close()
    }

    /// A restore whose final checkpoint a reader outside Keyhold blocked leaves the restored
    /// contents in the WAL only; the main file still holds the replaced ones (another vault id,
    /// a longer log) until a later checkpoint. Those who open the vault meanwhile must not take
    /// that for a replacement, neither then nor when the file catches up.
    @Test func aRestoreNotYetCopiedIntoTheFileIsNoReplacement() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let live = try Self.vault(at: path, id: 1, events: 8, salt: 0xA0)
        try live.checkpointTruncate()  // the file holds the 8 events
        let backupPath = dir.file("other.db")
        try Self.vault(at: backupPath, id: 2, events: 3, salt: 0xB0).close()

        // A reader outside Keyhold (an application reading its accounts) holds a snapshot.
        var config = Configuration()
        config.readonly = true
        config.allowsUnsafeTransactions = true
        let reader = try DatabaseQueue(path: path, configuration: config)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_events")
        }

        let staged = try Store.stage(copyOf: backupPath, beside: path)
        let source = try Store.open(at: staged.path)
        try live.beginRestore()
        let checkpoint = try live.restore(from: source)
        live.endRestore()
        try source.close()
        staged.discard()
        #expect(checkpoint.blocked, "the reader did not hold the WAL, so this test tests nothing")
        #expect(try Self.vaultID(live) == [UInt8](repeating: 2, count: 16))

        // Opened while the file still holds the replaced vault.
        let opener = try Store.open(at: path)
        #expect(try Self.vaultID(opener) == [UInt8](repeating: 2, count: 16))
        try Self.append(opener, from: 4, to: 5, salt: 0xB0)
        // The reader goes; a checkpoint brings the file up to date; both keep working.
        try reader.inDatabase { db in try db.execute(sql: "COMMIT") }
        try reader.close()
        #expect(try !opener.checkpointTruncate().blocked)
        #expect(try opener.read { try $0.auditCount() } == 5)
        try Self.append(live, from: 6, to: 6, salt: 0xB0)
        #expect(try live.read { try $0.auditCount() } == 6)
        try Self.append(opener, from: 7, to: 7, salt: 0xB0)
        #expect(try opener.checkpointTruncate().blocked == false)
        #expect(try live.read { try $0.auditCount() } == 7)
    }

    /// Checkpoints by other openers change the file under a process; they are not replacements.
    @Test func anotherOpenersCheckpointsAreNoReplacement() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let first = try Self.vault(at: path, id: 1, events: 2, salt: 0xA0)
        let second = try Store.open(at: path)
        for round in Int64(0)..<5 {
            try Self.append(second, from: 3 + round * 10, to: 12 + round * 10, salt: 0xA0)
            #expect(try !second.checkpointTruncate().blocked)
            #expect(try first.read { try $0.auditCount() } == Int(12 + round * 10))
        }
    }

    /// Checkpoints copying pages into the file, again and again, while another opener of the same
    /// process looks at it before every read: no look ever takes the busy vault for a replaced one
    /// (the look holds SQLite's checkpointer lock, and a file that does not read whole is no
    /// verdict). The same under load across processes, where it once lost a vault: the rotation
    /// tests of KeyholdCLITests (`secretSetDuringARotationGoesOnAndTheRotationFinishes`).
    @Test(.hangGuard) func checkpointsUnderWayWhileAnotherOpenerLooksAreNoReplacement() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let first = try Self.vault(at: path, id: 1, events: 2, salt: 0xA0)
        let second = try Store.open(at: path)
        let stop = Atomic<Bool>(false)
        let failure = Mutex<String?>(nil)
        let writer = Thread {
            var next: Int64 = 3
            let details = "{\"filler\":\"" + String(repeating: "x", count: 3000) + "\"}"
            while !stop.load(ordering: .relaxed) {
                do {
                    try second.write { tx in
                        for seq in next..<(next + 60) {
                            try tx.insertAudit(
                                AuditRow(
                                    seq: seq, at: 1_800_000_000_000 + seq, actorID: nil, actorName: "admin", actorKeyID: nil,
                                    action: "test.event", target: "vault", details: details,
                                    prevHash: [UInt8](repeating: 0, count: 32),
                                    hash: [UInt8](repeating: 0xA0, count: 31) + [UInt8(seq & 0xFF)], signature: nil))
                        }
                    }
                    next += 60
                    try second.unsafeExecute("PRAGMA wal_checkpoint(PASSIVE)")
                } catch {
                    failure.withLock { $0 = $0 ?? "the writer: \(error)" }
                    return
                }
            }
        }
        writer.start()
        let end = Date().addingTimeInterval(4)
        var looks = 0
        while Date() < end, failure.withLock({ $0 }) == nil {
            do {
                _ = try first.read { try $0.auditCount() }
                looks += 1
            } catch {
                failure.withLock { $0 = "the reader, after \(looks) looks: \(error)" }
            }
        }
        stop.store(true, ordering: .relaxed)
        while !writer.isFinished { usleep(1_000) }
        #expect(failure.withLock { $0 } == nil)
        #expect(looks > 100)
    }

    /// The same file written over in place by a copy of another vault: told by its vault id,
    /// and this connection's WAL pages are dropped instead of being copied into it.
    @Test func aCopyOfAnotherVaultOntoTheFileIsToldAndKeptFromThisConnectionsPages() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        let live = try Self.vault(at: path, id: 1, events: 4, salt: 0xA0)
        try Self.append(live, from: 5, to: 9, salt: 0xA0)  // pages in the WAL, not in the file
        let otherPath = dir.file("other.db")
        try Self.vault(at: otherPath, id: 2, events: 3, salt: 0xB0).close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: otherPath))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()

        do {
            _ = try live.read { try $0.auditCount() }
            Issue.record("a vault copied over the file was not noticed")
        } catch StoreError.replaced(let p, .rewritten(let why), let tidied) {
            #expect(p == path && why.contains("another vault") && tidied)
        }
        #expect(throws: StoreError.self) { try live.write { _ in } }  // stopped for good
        let reopened = try Store.open(at: path)
        #expect(try reopened.integrityCheck() == ["ok"])
        #expect(try Self.vaultID(reopened) == [UInt8](repeating: 2, count: 16))
        #expect(try reopened.read { try $0.auditCount() } == 3)
    }
}
