import Foundation
import Glibc

/// The targets of DESIGN section 9.
enum Target {
    static let rate = 100_000.0          // secrets per second, at least
    static let floorRatio = 2.0          // times the floor's time, at most
    /// Memory bounded by the batch: 4x the secrets may raise the peak resident set by at most this fraction.
    static let memoryGrowth = 0.25
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func grouped(_ n: Int) -> String {
    let digits = String(n)
    var out = ""
    for (k, c) in digits.enumerated() {
        if k > 0 && (digits.count - k) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}

func fixed(_ x: Double, _ places: Int = 3) -> String { String(format: "%.\(places)f", x) }
func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
func verdict(_ ok: Bool) -> String { ok ? "PASS" : "MISS" }

struct Bench {
    var options: Options

    func note(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// One child process; `batch` is the floor's rows per transaction (a vault child
    /// takes the options' rotation and import batches).
    func child(_ kind: String, count: Int, batch: Int? = nil) throws -> ChildRun {
        try Spawn.run([kind, "--count", String(count), "--batch", String(batch ?? options.batch),
                       "--import-batch", String(options.importBatch), "--dir", options.dir,
                       "--seed", String(options.seed & 0x7FFF_FFFF_FFFF_FFFF)])
    }

    func run() throws {
        let o = options
        try FileManager.default.createDirectory(atPath: o.dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let started = Date()
        let loadBefore = Machine.loadAverage()
        note("keyhold-bench: \(o.runs) runs of \(grouped(o.count)) secrets (import + rotation, and the floor), then one of \(grouped(o.large)); batches of \(grouped(o.importBatch)) (import) and \(grouped(o.batch)) (rotation)")
        var vaults: [ChildRun] = [], floors: [ChildRun] = [], importFloors: [ChildRun] = []
        for r in 1...o.runs {
            let v = try child("child-vault", count: o.count)
            vaults.append(v)
            note("  run \(r)/\(o.runs): import \(fixed(v.result.firstSeconds)) s, rotation \(fixed(v.result.secondSeconds)) s, peak RSS \(mib(v.maxRSSKiB))")
            // The floor at each operation's batch size (DESIGN 9: same PRAGMAs and batch size).
            for batch in Set([o.batch, o.importBatch]).sorted() {
                let f = try child("child-floor", count: o.count, batch: batch)
                if batch == o.batch { floors.append(f) }
                if batch == o.importBatch { importFloors.append(f) }
                note("  run \(r)/\(o.runs): floor update \(fixed(f.result.secondSeconds)) s (insert \(fixed(f.result.firstSeconds)) s), \(grouped(batch)) per transaction")
            }
        }
        let large = try child("child-vault", count: o.large)
        note("  \(grouped(o.large)): import \(fixed(large.result.firstSeconds)) s, rotation \(fixed(large.result.secondSeconds)) s, peak RSS \(mib(large.maxRSSKiB))")
        let console = try console(users: o.consoleCount, secrets: o.consoleCount, runs: o.consoleRuns, sizes: Bench.consoleSizes)
        let report = Report(options: o, started: started, elapsed: Date().timeIntervalSince(started),
                            loadBefore: loadBefore, loadAfter: Machine.loadAverage(),
                            vaults: vaults, floors: floors, importFloors: importFloors, large: large, console: console).markdown()
        FileHandle.standardOutput.write(Data(report.utf8))
        if let out = o.out {
            let dir = (out as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            // Hand-written notes (a `## Notes` section and what follows) survive a re-run on the same day.
            var text = report
            if let old = try? String(contentsOfFile: out, encoding: .utf8), let notes = old.range(of: "\n## Notes") {
                text += String(old[notes.lowerBound...].dropFirst())
                note("keyhold-bench: kept the ## Notes section of \(out)")
            }
            try text.write(toFile: out, atomically: true, encoding: .utf8)
            note("keyhold-bench: results written to \(out)")
        }
    }
}

enum Machine {
    static func cpuModel() -> String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }

    static func kernel() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func fileSystem(of path: String) -> String {
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let abs = URL(fileURLWithPath: path).standardizedFileURL.path
        var best = ("", "?")
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count > 2 else { continue }
            let mount = String(f[1])
            if (abs == mount || abs.hasPrefix(mount == "/" ? "/" : mount + "/")) && mount.count >= best.0.count { best = (mount, String(f[2])) }
        }
        return best.1
    }
}

struct Report {
    var options: Options
    var started: Date
    var elapsed: Double
    var loadBefore: String
    var loadAfter: String
    var vaults: [ChildRun]
    /// The floor at rotation's batch size, and at import's (the same runs when they are equal).
    var floors: [ChildRun]
    var importFloors: [ChildRun]
    var large: ChildRun
    var console: ConsoleReport? = nil

    /// One row of the wall-time table: medians of wall, CPU, run-queue wait and the rest.
    func split(_ label: String, _ runs: [ChildRun], _ wall: KeyPath<ChildResult, Double>, _ cpu: KeyPath<ChildResult, Double>,
               _ queue: KeyPath<ChildResult, Double>) -> String {
        let w = median(runs.map { $0.result[keyPath: wall] }), c = median(runs.map { $0.result[keyPath: cpu] })
        let q = median(runs.map { $0.result[keyPath: queue] })
        let other = median(runs.map { $0.result[keyPath: wall] - $0.result[keyPath: cpu] - $0.result[keyPath: queue] })
        let unloaded = median(runs.map { Double($0.result.count) / max($0.result[keyPath: wall] - $0.result[keyPath: queue], 1e-9) })
        return "| \(label) | \(fixed(w)) s | \(fixed(c)) s | \(fixed(q)) s | \(fixed(max(other, 0))) s | \(grouped(Int(unloaded))) |"
    }

    func markdown() -> String {
        let o = options
        let n = Double(o.count)
        let importT = median(vaults.map(\.result.firstSeconds)), rotateT = median(vaults.map(\.result.secondSeconds))
        let updateT = median(floors.map(\.result.secondSeconds)), insertT = median(floors.map(\.result.firstSeconds))
        let importUpdateT = median(importFloors.map(\.result.secondSeconds)), importInsertT = median(importFloors.map(\.result.firstSeconds))
        let oneBatch = o.batch == o.importBatch
        let perTx = { (batch: Int) in "\(grouped(batch)) per transaction" }
        let preWrite = median(vaults.compactMap(\.result.preWriteSeconds))
        let rssSmall = Int(median(vaults.map { Double($0.maxRSSKiB) }))
        let rssLarge = large.maxRSSKiB
        let growth = Double(rssLarge - rssSmall) / Double(rssSmall)
        let perSecret = Double(rssLarge - rssSmall) * 1024 / Double(o.large - o.count)
        let importOK = (n / importT >= Target.rate, importT / importUpdateT <= Target.floorRatio)
        let rotateOK = (n / rotateT >= Target.rate, rotateT / updateT <= Target.floorRatio)
        let memoryOK = growth <= Target.memoryGrowth
        let date = ISO8601DateFormatter.string(from: started, timeZone: .current, formatOptions: [.withFullDate])
        let runs = { (xs: [ChildRun], f: (ChildResult) -> Double) in xs.map { fixed(f($0.result)) }.joined(separator: ", ") }
        // The floor's rows: at rotation's batch size, and at import's when it differs.
        var floorRows = ["| floor: bare UPDATE of the same rows, \(perTx(o.batch)) | \(fixed(updateT)) s | \(grouped(Int(n / updateT))) | 1.00x | | |"]
        var floorRuns = ["- floor UPDATE, \(perTx(o.batch)): \(runs(floors) { $0.secondSeconds })"]
        var floorSplit = [split("floor UPDATE, \(perTx(o.batch))", floors, \.secondSeconds, \.secondCPUSeconds, \.secondRunQueueSeconds)]
        if !oneBatch {
            floorRows.insert("| floor: bare UPDATE of the same rows, \(perTx(o.importBatch)) | \(fixed(importUpdateT)) s | \(grouped(Int(n / importUpdateT))) | 1.00x | | |", at: 0)
            floorRuns.insert("- floor UPDATE, \(perTx(o.importBatch)): \(runs(importFloors) { $0.secondSeconds })", at: 0)
            floorSplit.insert(split("floor UPDATE, \(perTx(o.importBatch))", importFloors, \.secondSeconds, \.secondCPUSeconds, \.secondRunQueueSeconds), at: 0)
            floorRows.append("| for reference: bare INSERT of the same rows, \(perTx(o.importBatch)) | \(fixed(importInsertT)) s | \(grouped(Int(n / importInsertT))) | \(fixed(importInsertT / importUpdateT, 2))x | | |")
            floorRuns.append("- bare INSERT, \(perTx(o.importBatch)): \(runs(importFloors) { $0.firstSeconds })")
            floorSplit.append(split("bare INSERT, \(perTx(o.importBatch))", importFloors, \.firstSeconds, \.firstCPUSeconds, \.firstRunQueueSeconds))
        }
        floorRows.append("| for reference: bare INSERT of the same rows, \(perTx(o.batch)) | \(fixed(insertT)) s | \(grouped(Int(n / insertT))) | \(fixed(insertT / updateT, 2))x | | |")
        floorRuns.append("- bare INSERT, \(perTx(o.batch)): \(runs(floors) { $0.firstSeconds })")
        floorSplit.append(split("bare INSERT, \(perTx(o.batch))", floors, \.firstSeconds, \.firstCPUSeconds, \.firstRunQueueSeconds))

        var s = """
            # Keyhold benchmark, \(date)

            `make bench` (release build of `keyhold-bench`). \(o.runs) runs of \(grouped(o.count)) secrets, medians reported;
            each run is a child process: a fresh vault, the product's batch import (`Session.importSecrets(from:)`,
            \(grouped(o.importBatch)) secrets per transaction, one signed audit event per batch), then a data-key rotation over all of
            them (`Session.rotateDataKey(batchSize: \(o.batch))`). The floor runs in its own child process between them,
            once at each operation's batch size.

            - Machine: \(Machine.cpuModel()), \(ProcessInfo.processInfo.activeProcessorCount) cores, Linux \(Machine.kernel()), SQLite \(floors.first?.result.sqliteVersion ?? "?"); vaults on \(Machine.fileSystem(of: o.dir)) (`\(o.dir)`).
            - Load average (1, 5, 15 min) before: \(loadBefore); after: \(loadAfter). The machine is shared: other work adds noise.
            - Workload: values of \(Workload.smallestValue) to \(Workload.largestValue) bytes (about 64 on average; sealed \(Workload.sealOverhead) bytes longer), names of about 30 bytes, no descriptions. Made on the fly from an index, so the benchmark keeps no list of them.
            - The vaults are created with `VaultOptions.insecureFastForTests()` (cheap Argon2id): password hashing is not what is measured, and it happens before the timings.
            - Every vault's PRAGMAs are the product's (`Store.requiredPragmas`: WAL, synchronous FULL, foreign_keys, secure_delete ON, trusted_schema OFF, recursive_triggers, an 8 MiB page cache).
            - The floor (`BenchmarkFloor`, in the benchmark, over the store's public API): a database made exactly like a vault (`Store.create`: same schema, indexes, foreign keys, PRAGMAs) holding the same number of rows, same names, random bytes of the same sizes; every `secret_versions` row is updated (new key version, new random bytes), \(oneBatch ? grouped(o.batch) : "\(grouped(o.importBatch)) (import's floor) or \(grouped(o.batch)) (rotation's)") rows per `Store.write` transaction (BEGIN IMMEDIATE), through the very `Tx` method and statement rotation uses per row (so the product's time over the floor's is what the core adds). No crypto, no audit, no reads. "Bare INSERT" likewise inserts the rows through the statements import uses.
            - Total time of the benchmark: \(fixed(elapsed, 0)) s.

            ## Throughput (median of \(o.runs))

            | operation | median | secrets/s | time vs floor | ≥ \(grouped(Int(Target.rate)))/s | ≤ \(fixed(Target.floorRatio, 0))x floor |
            |---|---:|---:|---:|:---:|:---:|
            | import, \(grouped(o.count)) secrets, \(perTx(o.importBatch)) | \(fixed(importT)) s | \(grouped(Int(n / importT))) | \(fixed(importT / importUpdateT, 2))x | \(verdict(importOK.0)) | \(verdict(importOK.1)) |
            | data-key rotation, \(grouped(o.count)) secrets, \(perTx(o.batch)) | \(fixed(rotateT)) s | \(grouped(Int(n / rotateT))) | \(fixed(rotateT / updateT, 2))x | \(verdict(rotateOK.0)) | \(verdict(rotateOK.1)) |
            \(floorRows.joined(separator: "\n"))

            Each operation is compared with the floor at its own batch size; each bare INSERT with the UPDATE floor at its size.

            Every run, in seconds:
            - import: \(runs(vaults) { $0.firstSeconds })
            - rotation: \(runs(vaults) { $0.secondSeconds })
            \(floorRuns.joined(separator: "\n"))

            ### Where the wall time goes (medians)

            | operation | wall | CPU (user + sys) | waiting for a CPU | other waiting (fsync, I/O) | secrets/s without the CPU wait |
            |---|---:|---:|---:|---:|---:|
            \(split("import", vaults, \.firstSeconds, \.firstCPUSeconds, \.firstRunQueueSeconds))
            \(split("rotation", vaults, \.secondSeconds, \.secondCPUSeconds, \.secondRunQueueSeconds))
            \(floorSplit.joined(separator: "\n"))

            "Waiting for a CPU" is time the process was runnable while other processes held the cores
            (/proc/self/task/*/schedstat): load from elsewhere on this shared machine, not Keyhold's work.
            The last column removes it, as an estimate for an unloaded machine; the verdicts above use wall time.
            Of the import, \(fixed(preWrite)) s (median) went to the passes before the first value was written
            (validation, duplicate check, name lookups).

            At \(grouped(o.large)) secrets (one run): import \(fixed(large.result.firstSeconds)) s (\(grouped(Int(Double(o.large) / large.result.firstSeconds)))/s), rotation \(fixed(large.result.secondSeconds)) s (\(grouped(Int(Double(o.large) / large.result.secondSeconds)))/s).

            ## Memory: bounded by the batch, not the vault

            Peak resident set of the whole child process (wait4 `ru_maxrss`): vault creation, import and rotation.

            | secrets | peak RSS | after vault creation | after import | after rotation |
            |---:|---:|---:|---:|---:|
            | \(grouped(o.count)) (median of \(o.runs)) | \(mib(rssSmall)) | \(mib(Int(median(vaults.map { Double($0.result.rssSetupKiB) })))) | \(mib(Int(median(vaults.map { Double($0.result.rssFirstKiB) })))) | \(mib(Int(median(vaults.map { Double($0.result.rssSecondKiB) })))) |
            | \(grouped(o.large)) | \(mib(rssLarge)) | \(mib(large.result.rssSetupKiB)) | \(mib(large.result.rssFirstKiB)) | \(mib(large.result.rssSecondKiB)) |

            \(fixed(Double(o.large) / Double(o.count), 0))x the secrets: peak RSS \(growth >= 0 ? "+" : "")\(fixed(growth * 100, 1))% (\(fixed(perSecret, 1)) bytes per extra secret). Bounded by the batch (at most +\(fixed(Target.memoryGrowth * 100, 0))% for 4x the secrets): **\(verdict(memoryOK))**.
            The floor's peak RSS, for comparison: \(mib(Int(median(floors.map { Double($0.maxRSSKiB) })))).

            \(console?.markdown(runsPerSize: o.consoleRuns) ?? "")## Checks

            - Each vault run: \(vaults.first?.result.checked ?? "-").
            - Each floor run: \(floors.first?.result.checked ?? "-").

            ## Verdict

            - import: \(verdict(importOK.0)) (\(grouped(Int(n / importT)))/s), \(verdict(importOK.1)) (\(fixed(importT / importUpdateT, 2))x the floor)
            - rotation: \(verdict(rotateOK.0)) (\(grouped(Int(n / rotateT)))/s), \(verdict(rotateOK.1)) (\(fixed(rotateT / updateT, 2))x the floor)
            - memory: \(verdict(memoryOK)) (\(mib(rssSmall)) at \(grouped(o.count)), \(mib(rssLarge)) at \(grouped(o.large)))
            \(console?.verdicts ?? "")

            """
        s += "\n"
        return s
    }
}
