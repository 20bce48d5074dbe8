import Foundation
import Glibc
import KeyholdCore
import KeyholdStore
import KeyholdTestSupport

/// What one child process measured (printed as one JSON line on standard output).
struct ChildResult: Codable {
    var kind: String  // "vault", "floor" (the Swift floor) or "native" (bench/floor/floor.c)
    var count: Int
    /// Rows per transaction of rotation (and of the floors' updates).
    var batch: Int
    /// Most secrets per import transaction (and of the floors' inserts).
    var importBatch: Int?
    // vault: import and rotation; floor: insert and update.
    var firstSeconds: Double
    var secondSeconds: Double
    var firstCPUSeconds: Double
    var secondCPUSeconds: Double
    /// CPU time of the calling thread alone (the writer: SQLite's work and whatever the core does
    /// on that thread). With a second core free, the wall time is this plus waits for the disk
    /// and for the other thread; the native floor has one thread.
    var firstThreadCPUSeconds: Double?
    var secondThreadCPUSeconds: Double?
    /// Time spent runnable but waiting for a CPU (other processes had it), from /proc/self/task/*/schedstat.
    var firstRunQueueSeconds: Double
    var secondRunQueueSeconds: Double
    /// vault only: time the import spent before the first value was asked for (validation and name lookups).
    var preWriteSeconds: Double?
    /// Peak resident set (KiB) after setting up, after the first and after the second phase.
    var rssSetupKiB: Int
    var rssFirstKiB: Int
    var rssSecondKiB: Int
    var checked: String
    var sqliteVersion: String?
    /// native only: digest of the names and value sizes it drew (`NativeFloor.workloadDigest`).
    var workloadDigest: String?
    /// native only: transactions of its insert and of its update.
    var transactions: [Int]?
}

enum Resources {
    /// Peak resident set of this process so far, KiB: VmHWM in /proc/self/status, the high-water
    /// mark of its own memory (getrusage's ru_maxrss, the fallback, also counts the spawning
    /// process's resident set at the time of posix_spawn).
    static func peakRSS() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        if let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        {
            return kib
        }
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Int(u.ru_maxrss)
    }

    /// Time this process's threads have spent runnable but waiting for a CPU, seconds
    /// (second field of /proc/<pid>/task/<tid>/schedstat; 0 where the kernel does not report it).
    static func runQueueSeconds() -> Double {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var ns = 0.0
        for t in tasks {
            let text = (try? String(contentsOfFile: "/proc/self/task/\(t)/schedstat", encoding: .utf8)) ?? ""
            let fields = text.split(separator: " ")
            if fields.count > 1, let wait = Double(fields[1]) { ns += wait }
        }
        return ns / 1e9
    }

    /// CPU time of the calling thread so far, seconds.
    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// User plus system CPU time of this process so far, seconds.
    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Runs `body`, returning its wall time, CPU time (every thread), the calling thread's CPU
/// time, and time spent waiting for a CPU.
/// What `measure` takes of one phase.
typealias Timing = (wall: Double, cpu: Double, threadCPU: Double, runQueue: Double)

extension ChildResult {
    /// A run of two phases from their `measure` timings and the peak resident sets after
    /// setting up, the first and the second phase.
    init(
        kind: String, count: Int, batch: Int, importBatch: Int?, first: Timing, second: Timing, preWriteSeconds: Double?,
        rss: (setup: Int, first: Int, second: Int), checked: String, sqliteVersion: String? = nil
    ) {
        self.init(
            kind: kind, count: count, batch: batch, importBatch: importBatch,
            firstSeconds: first.wall, secondSeconds: second.wall, firstCPUSeconds: first.cpu, secondCPUSeconds: second.cpu,
            firstThreadCPUSeconds: first.threadCPU, secondThreadCPUSeconds: second.threadCPU,
            firstRunQueueSeconds: first.runQueue, secondRunQueueSeconds: second.runQueue, preWriteSeconds: preWriteSeconds,
            rssSetupKiB: rss.setup, rssFirstKiB: rss.first, rssSecondKiB: rss.second, checked: checked, sqliteVersion: sqliteVersion)
    }
}

func measure(_ body: () throws -> Void) rethrows -> Timing {
    let cpu0 = Resources.cpuSeconds(), thread0 = Resources.threadCPUSeconds(), queue0 = Resources.runQueueSeconds()
    let t0 = ContinuousClock.now
    try body()
    let wall = (ContinuousClock.now - t0).seconds
    return (wall, Resources.cpuSeconds() - cpu0, Resources.threadCPUSeconds() - thread0, Resources.runQueueSeconds() - queue0)
}

enum Child {
    /// A fresh vault (cheap KDF), the product's batch import of `count` secrets, then a
    /// data-key rotation over all of them; then a check that values and the audit chain hold.
    static func vault(count: Int, importBatch: Int, rotationBatch: Int, dir: String, seed: UInt64) throws -> ChildResult {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let password = try Token.generate(length: 24, alphabet: .alnum)
        let (session, _) = try Vault.create(
            at: dir + "/vault.db", admin: "bench", password: password,
            options: .insecureFastForTests())
        let rssSetup = Resources.peakRSS()

        let source = BenchSource(count: count, seed: seed)
        var imported = ImportCounts()
        let t0 = ContinuousClock.now
        let importTime = try measure {
            imported = try session.importSecrets(from: source, onExisting: .fail, batchSize: importBatch)
        }
        let preWrite = source.firstValueAt.map { ($0 - t0).seconds }
        guard imported.created == count else { throw BenchFailure("import created \(imported.created) of \(count)") }
        let rssImport = Resources.peakRSS()

        var rotation: RotationResult?
        let rotateTime = try measure { rotation = try session.rotateDataKey(batchSize: rotationBatch) }
        guard let rotation, rotation.resealed == count, rotation.destroyed == [1] else {
            throw BenchFailure("rotation re-sealed \(rotation?.resealed ?? 0) of \(count)")
        }
        let rssRotate = Resources.peakRSS()

        // Outside the timings: a spread of secrets opens to the values imported, and the log verifies.
        let samples = Array(Set((0..<200).map { $0 * (count - 1) / 199 } + [0, count - 1])).sorted()
        for i in samples {
            let v = try session.reveal(Workload.name(i))
            guard v.withBytes({ Array($0) }) == Workload.value(i, seed: seed) else {
                throw BenchFailure("\(Workload.name(i)) does not open to its imported value")
            }
        }
        let audit = try session.verifyAudit()
        guard audit.failure == nil else { throw BenchFailure("the audit chain does not verify") }
        return ChildResult(
            kind: "vault", count: count, batch: rotationBatch, importBatch: importBatch, first: importTime, second: rotateTime,
            preWriteSeconds: preWrite, rss: (rssSetup, rssImport, rssRotate),
            checked: "\(samples.count) secrets open to their values after rotation; \(audit.events) audit events verify")
    }

    /// The Swift floor: the same rows with the same SQL through the store's `Tx`, on a database made
    /// like a vault; inserted in the import's batches, updated in the rotation's.
    static func floor(count: Int, importBatch: Int, batch: Int, dir: String) throws -> ChildResult {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let floor = try BenchmarkFloor.create(at: dir + "/floor.db")
        var batches = ValueBatches(maxCount: importBatch, maxBytes: Session.batchValueBytes)
        for i in 0..<count { batches.add(valueCount: Workload.valueSize(i)) }
        let rssSetup = Resources.peakRSS()
        let insertTime = try measure {
            try floor.insert(batches: batches.ranges, name: Workload.name, ciphertextSize: Workload.ciphertextSize)
        }
        let rssInsert = Resources.peakRSS()
        var updated = 0
        let updateTime = try measure { updated = try floor.update(batchSize: batch, ciphertextSize: Workload.ciphertextSize) }
        let rssUpdate = Resources.peakRSS()
        let counts = try floor.versionCounts()
        guard updated == count, counts.underFirstKey == 0, counts.total == count else {
            throw BenchFailure("floor updated \(updated) of \(count) rows (\(counts.underFirstKey) of \(counts.total) left under key 1)")
        }
        return ChildResult(
            kind: "floor", count: count, batch: batch, importBatch: importBatch, first: insertTime, second: updateTime,
            preWriteSeconds: nil, rss: (rssSetup, rssInsert, rssUpdate),
            checked: "\(updated) rows updated, all now under key version 2", sqliteVersion: try floor.sqliteVersion())
    }
}
