import Foundation
import GRDB
import KeyholdCore
import KeyholdStore
import KeyholdTestSupport
import Testing
@testable import keyhold_bench

/// The native floor of `make bench` (bench/floor/floor.c): built as the benchmark builds it,
/// run small. What it must hold to be a fair floor: the product's workload, schema, PRAGMAs
/// and batches; and the report's verdicts must be against it.
@Suite struct NativeFloorTests {
    let dir = TempDir(prefix: "keyhold-floor")

    func built() throws -> NativeFloor.Built {
        try NativeFloor.build(
            source: Repository.root.appendingPathComponent(NativeFloor.sourceInRepository).path,
            cc: try NativeFloor.compiler(nil), into: dir.file("build"))
    }

    @Test func drawsTheBenchmarksNamesAndSizes() throws {
        let floor = try built()
        for count in [1, 1000] {
            let printed = try NativeFloor.capture(floor.binary, ["--digest", String(count)])
            #expect(printed.status == 0)
            #expect(printed.output.trimmingCharacters(in: .whitespacesAndNewlines) == NativeFloor.workloadDigest(count: count))
        }
        #expect(NativeFloor.workloadDigest(count: 999) != NativeFloor.workloadDigest(count: 1000))
    }

    /// Import batches cut by their byte bound (about 150 values of 64 bytes in 10,000), then by their count.
    @Test(arguments: [(300, 10_000), (7, 1 << 20)])
    func cutsBatchesAsTheProductDoesAndChecksItsRows(importBatch: Int, importBytes: Int) throws {
        let floor = try built()
        let count = 700, batch = 250
        var expected = ValueBatches(maxCount: importBatch, maxBytes: importBytes)
        for i in 0..<count { expected.add(valueCount: Workload.valueSize(i)) }
        #expect(expected.ranges.count > 3)

        let run = try NativeFloor.run(floor, base: dir.path, count: count, importBatch: importBatch, importBytes: importBytes, batch: batch)
        let r = run.result
        #expect(r.kind == "native" && r.count == count && r.batch == batch && r.importBatch == importBatch)
        #expect(r.transactions == [expected.ranges.count, (count + batch - 1) / batch + 1])
        #expect(r.firstSeconds > 0 && r.secondSeconds > 0 && r.firstCPUSeconds >= 0)
        #expect(r.rssSetupKiB > 0 && r.rssFirstKiB >= r.rssSetupKiB && r.rssSecondKiB >= r.rssFirstKiB)
        #expect(r.checked.contains("\(count) versions updated"))
        // The library the product uses.
        let store = try Store.create(at: dir.file("vault/keyhold.db"))
        #expect(r.sqliteVersion == (try store.read { try $0.sqliteVersion() }))
        // Nothing is left behind but the build.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["build", "vault"])
    }

    @Test func makesItsDatabaseAsAVaultIsMade() throws {
        let floor = try built()
        let db = dir.file("floor/floor.db")
        try FileManager.default.createDirectory(atPath: dir.file("floor"), withIntermediateDirectories: true)
        _ = try Spawn.run(executable: floor.binary, ["--db", db, "--schema", floor.schema, "--count", "120"])
        let vault = try Store.create(at: dir.file("vault/keyhold.db"))
        let objects = try DatabaseQueue(path: db).read { d in
            try Row.fetchAll(
                d,
                sql: """
                    SELECT type, name, tbl_name, sql FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY type, name
                    """
            ).map { row -> String in
                let sql: String? = row[3]
                return "\(row[0] as String) \(row[1] as String) on \(row[2] as String): \(sql ?? "-")"
            }
        }
        #expect(!objects.isEmpty)
        #expect(objects == (try vault.schemaObjects()).map(\.description))
        let header = try DatabaseQueue(path: db).read { d in
            [
                try String.fetchOne(d, sql: "PRAGMA journal_mode"), try String.fetchOne(d, sql: "PRAGMA application_id"),
                try String.fetchOne(d, sql: "PRAGMA user_version")
            ]
        }
        #expect(header == ["wal", "1263029316", String(VaultFile.currentFormat)])
        // A second run on the same path is refused: the floor always starts from a fresh database.
        let again = try NativeFloor.capture(floor.binary, ["--db", db, "--schema", floor.schema, "--count", "1"])
        #expect(again.status != 0 && again.output.contains("exists"))
    }

    @Test func verdictsAreAgainstTheNativeFloor() throws {
        func run(_ kind: String, _ first: Double, _ second: Double) -> ChildRun {
            ChildRun(
                result: ChildResult(
                    kind: kind, count: 1000, batch: 100, importBatch: 500, firstSeconds: first, secondSeconds: second,
                    firstCPUSeconds: first, secondCPUSeconds: second, firstRunQueueSeconds: 0, secondRunQueueSeconds: 0,
                    rssSetupKiB: 1000, rssFirstKiB: 1000, rssSecondKiB: 1000, checked: "ok", sqliteVersion: "3"),
                maxRSSKiB: 10_000)
        }
        let options = try Options(["--count", "1000", "--large", "4000", "--batch", "100", "--import-batch", "500"])
        let built = NativeFloor.Built(binary: "/x", schema: "/y", command: "cc -O2 floor.c -lsqlite3", compiler: "cc")
        // Import 1.2x the native INSERT (PASS), rotation 1.4x its UPDATE (MISS); the Swift floor,
        // slower than either, must not be what they are judged against.
        let report = Report(
            options: options, started: Date(), elapsed: 1, loadBefore: "0", loadAfter: "0",
            vaults: [run("vault", 1.2, 1.4)], natives: [run("native", 1.0, 1.0)], native: built,
            swiftFloors: [run("floor", 2.0, 2.0)], large: run("vault", 4.8, 5.6)
        ).markdown()
        #expect(report.contains("- import: PASS (1.20x the native floor"))
        #expect(report.contains("- rotation: MISS (1.40x the native floor"))
        #expect(report.contains("| Swift floor: the same INSERTs"))
        let without = Report(
            options: options, started: Date(), elapsed: 1, loadBefore: "0", loadAfter: "0",
            vaults: [run("vault", 1.2, 1.25)], natives: [run("native", 1.0, 1.0)], native: built,
            swiftFloors: [], large: run("vault", 4.8, 5.6)
        ).markdown()
        #expect(without.contains("- rotation: PASS (1.25x the native floor"))
        #expect(!without.contains("Swift floor:"))
        #expect(!without.contains("A loaded machine"))
        // A floor that waited for a CPU for a fifth of its time: the report says the machine was loaded.
        var waiting = run("native", 1.0, 1.0)
        waiting.result.firstRunQueueSeconds = 0.2
        waiting.result.secondRunQueueSeconds = 0.2
        let loaded = Report(
            options: options, started: Date(), elapsed: 1, loadBefore: "0", loadAfter: "0",
            vaults: [run("vault", 1.2, 1.25)], natives: [waiting], native: built,
            swiftFloors: [], large: run("vault", 4.8, 5.6)
        ).markdown()
        #expect(loaded.contains("**A loaded machine:** the native floor's runs spent 20% of their time waiting for a CPU"))
    }
}
