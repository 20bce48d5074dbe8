import Foundation
import Synchronization
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore
import KeyholdCrypto

/// An in-memory import source that counts how it is read.
final class CountingSource: ImportSource {
    let entries: [(name: String, value: String, origin: String)]
    private(set) var valuesWritten = 0
    init(_ entries: [(name: String, value: String, origin: String)]) { self.entries = entries }
    var count: Int { entries.count }
    func item(at index: Int) -> ImportItem {
        ImportItem(name: entries[index].name, origin: entries[index].origin, valueCount: entries[index].value.utf8.count)
    }
    func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        valuesWritten += 1
        _ = buffer.initializeMemory(as: UInt8.self, from: Array(entries[index].value.utf8))
    }
}

@Suite struct BulkImportTests {
    func entries(_ n: Int, prefix: String = "bulk") -> [(name: String, value: String, origin: String)] {
        (0..<n).map { ("\(prefix)/\($0)/key", "value-\($0)-" + String(repeating: "x", count: $0 % 50), "line \($0 + 1)") }
    }

    @Test func streamingImportWritesBatchesWithOneEventEach() throws {
        let f = try Fixture()
        let source = CountingSource(entries(2500))
        let progress = Mutex<[Int]>([])
        let r = try f.admin.importSecrets(from: source, batchSize: 1000) { done, total in
            #expect(total == 2500)
            progress.withLock { $0.append(done) }
        }
        #expect(r.created == 2500 && r.updated == 0 && r.skipped == 0)
        #expect(progress.withLock { $0 } == [1000, 2000, 2500])
        #expect(source.valuesWritten == 2500, "each value is asked for once, when its batch is written")
        let events = try f.admin.auditEvents(AuditQuery(action: "secret.import"))
        #expect(events.count == 3)
        #expect(events.map { $0.details.contains("\"count\":1000") } == [true, true, false])
        for i in [0, 999, 1000, 2499] {
            #expect(try f.admin.reveal("bulk/\(i)/key").utf8String() == source.entries[i].value)
        }
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func batchesEndAtTheirCountOrBeforeTheEntryThatPassesTheByteLimit() {
        var b = ValueBatches(maxCount: 3, maxBytes: 100)
        for size in [10, 10, 10, 10, 90, 1, 100, 150, 5, 5] { b.add(valueCount: size) }
        #expect(
            b.ranges == [0..<3, 3..<5, 5..<6, 6..<7, 7..<8, 8..<10],
            "3 entries, then bytes: 10+90 fits, +1 does not; a value over the limit goes alone")
        #expect(b.largestBytes == 150)
        var empty = ValueBatches(maxCount: 0, maxBytes: 1)
        #expect(empty.ranges.isEmpty && empty.largestBytes == 0)
        empty.add(valueCount: 5)
        #expect(empty.ranges == [0..<1], "at least one entry per batch")
    }

    @Test func largeValuesMakeSmallerBatchesSoMemoryStaysBounded() throws {
        let f = try Fixture()
        // 40 values of 64 KiB: 16 fit in the 1 MiB of a batch, whatever --batch allows.
        let big = (0..<40).map { i in
            (
                name: "big/\(i)", value: String(repeating: Character(UnicodeScalar(UInt8(65 + i % 26))), count: 65_536),
                origin: "entry \(i + 1)"
            )
        }
        let progress = Mutex<[Int]>([])
        let r = try f.admin.importSecrets(from: CountingSource(big)) { done, _ in progress.withLock { $0.append(done) } }
        #expect(r.created == 40)
        #expect(progress.withLock { $0 } == [16, 32, 40])
        let events = try f.admin.auditEvents(AuditQuery(action: "secret.import"))
        #expect(events.map { $0.details.contains("\"count\":16") } == [true, true, false])
        #expect(try f.admin.reveal("big/39").utf8String() == big[39].value)
        #expect(try f.admin.reveal("big/16").utf8String() == big[16].value)

        // Small values go 10,000 to a transaction by default.
        let g = try Fixture()
        _ = try g.admin.importSecrets(from: CountingSource(entries(10_001)))
        let counts = try g.admin.auditEvents(AuditQuery(action: "secret.import")).map(\.details)
        #expect(counts.count == 2 && counts[0].contains("\"count\":10000") && counts[1].contains("\"count\":1,"))
    }

    @Test func arrayImportStillWorksAndRefusesExistingNamesBeforeWriting() throws {
        let f = try Fixture()
        try f.admin.createSecret("bulk/7/key", .value(pw("already here")))
        let list = try entries(20).map { ImportEntry(name: $0.name, value: try pw($0.value), origin: $0.origin) }
        #expect(throws: KeyholdError.conflict("line 8: a secret named bulk/7/key already exists")) {
            try f.admin.importSecrets(list, batchSize: 5)
        }
        #expect(try f.admin.secrets(prefix: "bulk/").count == 1, "nothing imported")
        let skipped = try f.admin.importSecrets(list, onExisting: .skip, batchSize: 5)
        #expect(skipped.created == 19 && skipped.skipped == 1)
        let ids = try f.vault.store.unsafeQuery("SELECT count(*) AS n, max(id) AS top FROM secrets")[0]
        #expect(ids["n"] as? Int64 == 20 && ids["top"] as? Int64 == 20, "a skipped name uses up no id")
        #expect(try f.admin.reveal("bulk/7/key").utf8String() == "already here")
        // Only bulk/7/key holds another value: the other 19 are already current and get no version.
        let updated = try f.admin.importSecrets(list, onExisting: .update, batchSize: 5)
        #expect(updated == ImportCounts(created: 0, updated: 1, unchanged: 19, skipped: 0))
        #expect(try f.admin.secret(named: "bulk/3/key").currentVersion == 1)
        #expect(try f.admin.reveal("bulk/7/key").utf8String() == list[7].value.utf8String())
        #expect(try f.admin.secret(named: "bulk/7/key").currentVersion == 2)
    }

    @Test func aNameCreatedElsewhereDuringTheImportFailsOnlyItsBatch() throws {
        let f = try Fixture()
        let other = try f.login("admin", adminPassword)
        // The source creates bulk/57/key through another session just before batch 2 (entries 50...99) is written.
        final class RacingSource: ImportSource, @unchecked Sendable {
            let base: CountingSource
            let other: Session
            let name: String
            init(_ base: CountingSource, _ other: Session, name: String) { self.base = base; self.other = other; self.name = name }
            var count: Int { base.count }
            func item(at index: Int) -> ImportItem { base.item(at: index) }
            func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
                if index == 50 { try other.createSecret(name, .value(pw("made meanwhile"))) }
                base.writeValue(at: index, into: buffer)
            }
        }
        let source = RacingSource(CountingSource(entries(120)), other, name: "bulk/57/key")
        #expect(throws: KeyholdError.conflict("line 58: a secret named bulk/57/key already exists")) {
            try f.admin.importSecrets(from: source, batchSize: 50)
        }
        // The first batch committed; the second wrote nothing; the secret made meanwhile is intact.
        #expect(
            try f.admin.secrets(prefix: "bulk/").map(\.name).sorted() == (Array(0..<50).map { "bulk/\($0)/key" } + ["bulk/57/key"]).sorted()
        )
        #expect(try f.admin.reveal("bulk/57/key").utf8String() == "made meanwhile")
        #expect(try f.admin.reveal("bulk/49/key").utf8String() == source.base.entries[49].value)
        #expect(try f.admin.verifyAudit().ok)

        // Another writer takes an id the next batch was sealed for: that batch is sealed again, nothing is lost.
        let g = try Fixture()
        let racing = RacingSource(CountingSource(entries(160, prefix: "more")), try g.login("admin", adminPassword), name: "elsewhere/x")
        let r = try g.admin.importSecrets(from: racing, batchSize: 50)
        #expect(r.created == 160)
        for i in [0, 49, 50, 99, 100, 159] {
            #expect(try g.admin.reveal("more/\(i)/key").utf8String() == racing.base.entries[i].value)
        }
        #expect(try g.admin.reveal("elsewhere/x").utf8String() == "made meanwhile")
        let ids = try g.vault.store.unsafeQuery("SELECT count(*) AS n, count(DISTINCT id) AS d FROM secrets")[0]
        #expect(ids["n"] as? Int64 == 161 && ids["d"] as? Int64 == 161)
        #expect(try g.admin.check().ok)
    }

    @Test func duplicatesAndInvalidEntriesAreReportedInSourceOrder() throws {
        let f = try Fixture()
        var e = entries(10)
        e[6].name = e[2].name
        #expect(throws: KeyholdError.conflict("line 7: bulk/2/key appears twice in the import")) {
            try f.admin.importSecrets(from: CountingSource(e))
        }
        var invalidFirst = e
        invalidFirst[4].name = "bad name"
        #expect(throws: (any Error).self) { try f.admin.importSecrets(from: CountingSource(invalidFirst)) }
        do {
            try f.admin.importSecrets(from: CountingSource(invalidFirst))
        } catch let KeyholdError.invalid(v) {
            #expect(v.message.hasPrefix("line 5: secret name"))
        }
        var invalidLater = e
        invalidLater[8].value = ""
        #expect(throws: KeyholdError.conflict("line 7: bulk/2/key appears twice in the import")) {
            try f.admin.importSecrets(from: CountingSource(invalidLater))
        }
        #expect(try f.admin.secrets().isEmpty)
    }

    @Test(arguments: [(Int64(1), 1, 1), (0, 0, 0), (123_456_789, 42, 7), (Int64.max, Int.max, 3), (-5, 2, 1)])
    func secretAADBytesMatchTheFormat(_ id: Int64, _ version: Int, _ key: Int) {
        let built = Keyring.withSecretAAD(secretID: id, version: version, keyVersion: key) { Array($0) }
        #expect(built == Array(Keyring.secretAAD(secretID: id, version: version, keyVersion: key).utf8))
    }

    @Test func bulkDigestIsBlake2bOfTheDecimalsJoinedByNewlines() {
        for ids: [Int64] in [[], [0], [1, 22, 333, 4444, 9_223_372_036_854_775_807], [-5, 10]] {
            let expected = Store.hex(Hash.blake2b256(Array(ids.map(String.init).joined(separator: "\n").utf8)))
            #expect(AuditChain.digest(ids) == expected)
        }
    }

    @Test func secretNameFastPathAgreesWithTheRules() {
        let valid = [
            "a", "a/b", "...", "a/.../b", "a.b/c_d-e", String(repeating: "x", count: 64),
            (0..<4).map { _ in String(repeating: "y", count: 63) }.joined(separator: "/")
        ]
        for name in valid { #expect((try? Validate.secretName(name)) == name, "\(name) should be valid") }
        let invalid = [
            ".", "..", "a/./b", "a/../b", "a//b", "/a", "a/", String(repeating: "x", count: 65), "a b", "é",
            (0..<5).map { _ in String(repeating: "y", count: 63) }.joined(separator: "/")
        ]
        for name in invalid { #expect((try? Validate.secretName(name)) == nil, "\(name) should be invalid") }
    }
}
