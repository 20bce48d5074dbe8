import Foundation
import Glibc
import KeyholdCore
import KeyholdTestSupport

/// The benchmark's targets (README, "Performance").
enum Target {
    /// Import and rotation: at most this many times the native floor's wall time.
    static let floorRatio = 1.3
    /// Memory bounded by the batch: 4x the secrets may raise the peak resident set by at most this fraction.
    static let memoryGrowth = 0.25
    /// A floor that waited for a CPU longer than this fraction of its time ran on a loaded machine.
    static let loadedWait = 0.05
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

    /// One child process of this executable: the product (`child-vault`) or the Swift floor
    /// (`child-floor`), at the options' batch sizes.
    func child(_ kind: String, count: Int) throws -> ChildRun {
        try Spawn.run([
            kind, "--count", String(count), "--batch", String(options.batch),
            "--import-batch", String(options.importBatch), "--dir", options.dir,
            "--seed", String(options.seed & 0x7FFF_FFFF_FFFF_FFFF)
        ])
    }

    /// Makes the benchmark's directory and builds the native floor into it (the caller removes
    /// `nativeFloorDirectory` when done).
    func buildNativeFloor() throws -> NativeFloor.Built {
        let o = options
        try FileManager.default.createDirectory(atPath: o.dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let source = try NativeFloor.locateSource(o.floorSource)
        let built = try NativeFloor.build(source: source, cc: try NativeFloor.compiler(o.cc), into: nativeFloorDirectory)
        note("keyhold-bench: native floor built from \(source) (\(built.command))")
        return built
    }

    var nativeFloorDirectory: String { options.dir + "/native-floor" }

    func run() throws {
        let o = options
        let native = try buildNativeFloor()
        defer { try? FileManager.default.removeItem(atPath: nativeFloorDirectory) }
        let started = Date()
        let loadBefore = Machine.loadAverage()
        note(
            "keyhold-bench: \(o.runs) runs of \(grouped(o.count)) secrets (import + rotation, the native floor\(o.swiftFloor ? ", the Swift floor" : "")), then one of \(grouped(o.large)); batches of \(grouped(o.importBatch)) (import) and \(grouped(o.batch)) (rotation)"
        )
        var vaults: [ChildRun] = [], natives: [ChildRun] = [], swiftFloors: [ChildRun] = []
        for r in 1...o.runs {
            // Interleaved: whatever load the machine has, each floor run sits beside a product run.
            let v = try child("child-vault", count: o.count)
            vaults.append(v)
            note(
                "  run \(r)/\(o.runs): import \(fixed(v.result.firstSeconds)) s, rotation \(fixed(v.result.secondSeconds)) s, peak RSS \(mib(v.maxRSSKiB))"
            )
            let f = try NativeFloor.run(
                native, base: o.dir, count: o.count, importBatch: o.importBatch,
                importBytes: Session.batchValueBytes, batch: o.batch)
            natives.append(f)
            note(
                "  run \(r)/\(o.runs): native floor insert \(fixed(f.result.firstSeconds)) s, update \(fixed(f.result.secondSeconds)) s, peak RSS \(mib(f.result.rssSecondKiB))"
            )
            if o.swiftFloor {
                let sf = try child("child-floor", count: o.count)
                swiftFloors.append(sf)
                note(
                    "  run \(r)/\(o.runs): Swift floor insert \(fixed(sf.result.firstSeconds)) s, update \(fixed(sf.result.secondSeconds)) s"
                )
            }
        }
        let large = try child("child-vault", count: o.large)
        note(
            "  \(grouped(o.large)): import \(fixed(large.result.firstSeconds)) s, rotation \(fixed(large.result.secondSeconds)) s, peak RSS \(mib(large.maxRSSKiB))"
        )
        let console = try console(users: o.consoleCount, secrets: o.consoleCount, runs: o.consoleRuns, sizes: Bench.consoleSizes)
        let report = Report(
            options: o, started: started, elapsed: Date().timeIntervalSince(started),
            loadBefore: loadBefore, loadAfter: Machine.loadAverage(), vaults: vaults, natives: natives,
            native: native, swiftFloors: swiftFloors, large: large, console: console
        ).markdown()
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

    /// `keyhold-bench floor`: the native floor alone, once, its result as JSON (for profiling and checks).
    func floorOnly() throws {
        let o = options
        let native = try buildNativeFloor()
        defer { try? FileManager.default.removeItem(atPath: nativeFloorDirectory) }
        let f = try NativeFloor.run(
            native, base: o.dir, count: o.count, importBatch: o.importBatch,
            importBytes: Session.batchValueBytes, batch: o.batch)
        print(
            "native floor, \(grouped(o.count)) secrets: insert \(fixed(f.result.firstSeconds)) s (CPU \(fixed(f.result.firstCPUSeconds)) s), "
                + "update \(fixed(f.result.secondSeconds)) s (CPU \(fixed(f.result.secondCPUSeconds)) s), peak RSS \(mib(f.result.rssSecondKiB)); \(f.result.checked)"
        )
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
            if (abs == mount || abs.hasPrefix(mount == "/" ? "/" : mount + "/")) && mount.count >= best.0.count {
                best = (mount, String(f[2]))
            }
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
    /// The native floor (bench/floor/floor.c), one run beside each of the product's: what the verdicts are against.
    var natives: [ChildRun]
    var native: NativeFloor.Built
    /// The Swift floor (`BenchmarkFloor`), one run beside each of the product's; empty with --no-swift-floor.
    var swiftFloors: [ChildRun]
    var large: ChildRun
    var console: ConsoleReport? = nil

    /// One row of the wall-time table: medians of wall, CPU, run-queue wait and the rest.
    func split(
        _ label: String, _ runs: [ChildRun], _ wall: KeyPath<ChildResult, Double>, _ cpu: KeyPath<ChildResult, Double>,
        _ threadCPU: KeyPath<ChildResult, Double?>, _ queue: KeyPath<ChildResult, Double>
    ) -> String {
        guard !runs.isEmpty else { return "| \(label) | – | – | – | – | – | – |" }
        let w = median(runs.map { $0.result[keyPath: wall] }), c = median(runs.map { $0.result[keyPath: cpu] })
        let threads = runs.compactMap { $0.result[keyPath: threadCPU] }
        let t = threads.isEmpty ? "–" : "\(fixed(median(threads))) s"
        let q = median(runs.map { $0.result[keyPath: queue] })
        let other = median(runs.map { $0.result[keyPath: wall] - $0.result[keyPath: cpu] - $0.result[keyPath: queue] })
        let unloaded = median(runs.map { Double($0.result.count) / max($0.result[keyPath: wall] - $0.result[keyPath: queue], 1e-9) })
        return "| \(label) | \(fixed(w)) s | \(fixed(c)) s | \(t) | \(fixed(q)) s | \(fixed(max(other, 0))) s | \(grouped(Int(unloaded))) |"
    }

    /// The ratio of each product run to the native floor run beside it (same index), formatted.
    func pairRatios(_ phase: KeyPath<ChildResult, Double>) -> [Double] {
        zip(vaults, natives).map { $0.result[keyPath: phase] / $1.result[keyPath: phase] }
    }

    func markdown() -> String {
        let o = options
        let n = Double(o.count)
        let m = { (xs: [ChildRun], f: KeyPath<ChildResult, Double>) in median(xs.map { $0.result[keyPath: f] }) }
        let importT = m(vaults, \.firstSeconds), rotateT = m(vaults, \.secondSeconds)
        let insertT = m(natives, \.firstSeconds), updateT = m(natives, \.secondSeconds)
        let importC = m(vaults, \.firstCPUSeconds), rotateC = m(vaults, \.secondCPUSeconds)
        let insertC = m(natives, \.firstCPUSeconds), updateC = m(natives, \.secondCPUSeconds)
        let mo = { (xs: [ChildRun], f: KeyPath<ChildResult, Double?>) in median(xs.compactMap { $0.result[keyPath: f] }) }
        let importW = mo(vaults, \.firstThreadCPUSeconds), rotateW = mo(vaults, \.secondThreadCPUSeconds)
        let insertW = mo(natives, \.firstThreadCPUSeconds), updateW = mo(natives, \.secondThreadCPUSeconds)
        let importBatches = "batches of \(grouped(o.importBatch)) secrets (and at most \(mib(Session.batchValueBytes / 1024)) of values)"
        let rotationBatches = "\(grouped(o.batch)) per transaction"
        let preWrite = median(vaults.compactMap(\.result.preWriteSeconds))
        let rssSmall = Int(median(vaults.map { Double($0.maxRSSKiB) }))
        let rssLarge = large.maxRSSKiB
        let growth = Double(rssLarge - rssSmall) / Double(rssSmall)
        let perSecret = Double(rssLarge - rssSmall) * 1024 / Double(o.large - o.count)
        let importOK = importT / insertT <= Target.floorRatio
        let rotateOK = rotateT / updateT <= Target.floorRatio
        let memoryOK = growth <= Target.memoryGrowth
        let date = ISO8601DateFormatter.string(from: started, timeZone: .current, formatOptions: [.withFullDate])
        let runs = { (xs: [ChildRun], f: (ChildResult) -> Double) in xs.map { fixed(f($0.result)) }.joined(separator: ", ") }
        let ratios = { (xs: [Double]) in xs.map { fixed($0, 2) + "x" }.joined(separator: ", ") }
        let rate = { (t: Double) in grouped(Int(n / t)) }
        let sqlite = natives.first?.result.sqliteVersion ?? "?"
        let swiftSQLite = swiftFloors.first?.result.sqliteVersion
        let transactions = natives.first?.result.transactions ?? []
        // Other processes held the cores for part of the floor's runs: say so where the report begins.
        let waited = median(
            natives.map {
                ($0.result.firstRunQueueSeconds + $0.result.secondRunQueueSeconds)
                    / max($0.result.firstSeconds + $0.result.secondSeconds, 1e-9)
            })
        let loadedNote =
            waited > Target.loadedWait
            ? "\n**A loaded machine:** the native floor's runs spent \(Int((waited * 100).rounded()))% of their time waiting for a CPU that other processes held (median). These wall times are not the product's; read the CPU-time ratios, and run again on a quiet machine.\n"
            : ""

        var referenceRows: [String] = []
        var referenceRuns: [String] = []
        var referenceSplit: [String] = []
        if !swiftFloors.isEmpty {
            let sInsertT = m(swiftFloors, \.firstSeconds), sUpdateT = m(swiftFloors, \.secondSeconds)
            let sInsertC = m(swiftFloors, \.firstCPUSeconds), sUpdateC = m(swiftFloors, \.secondCPUSeconds)
            referenceRows = [
                "| Swift floor: the same INSERTs through the store's `Tx`, \(importBatches) | \(fixed(sInsertT)) s | \(rate(sInsertT)) | \(fixed(sInsertT / insertT, 2))x | \(fixed(sInsertC / insertC, 2))x | \(fixed(sInsertC / insertW, 2))x | |",
                "| Swift floor: the same UPDATEs through the store's `Tx`, \(rotationBatches) | \(fixed(sUpdateT)) s | \(rate(sUpdateT)) | \(fixed(sUpdateT / updateT, 2))x | \(fixed(sUpdateC / updateC, 2))x | \(fixed(sUpdateC / updateW, 2))x | |"
            ]
            referenceRuns = [
                "- Swift floor INSERT: \(runs(swiftFloors) { $0.firstSeconds })",
                "- Swift floor UPDATE: \(runs(swiftFloors) { $0.secondSeconds })"
            ]
            referenceSplit = [
                split(
                    "Swift floor INSERT", swiftFloors, \.firstSeconds, \.firstCPUSeconds, \.firstThreadCPUSeconds, \.firstRunQueueSeconds),
                split(
                    "Swift floor UPDATE", swiftFloors, \.secondSeconds, \.secondCPUSeconds, \.secondThreadCPUSeconds,
                    \.secondRunQueueSeconds)
            ]
        }

        var s = """
            # Keyhold benchmark, \(date)

            `make bench` (release build of `keyhold-bench`). \(o.runs) runs of \(grouped(o.count)) secrets, medians reported.
            Each run is \(swiftFloors.isEmpty ? "two" : "three") child processes, one after the other: the product (a fresh vault, the batch import
            (`Session.importSecrets(from:)`) in \(importBatches), one signed audit event per batch, then a data-key
            rotation over all of them, `Session.rotateDataKey(batchSize: \(o.batch))`), the native floor\(swiftFloors.isEmpty ? "" : " and the Swift floor").
            \(loadedNote)

            - Machine: \(Machine.cpuModel()), \(ProcessInfo.processInfo.activeProcessorCount) cores, Linux \(Machine.kernel()), SQLite \(sqlite)\(swiftSQLite.map { $0 == sqlite ? " (the same library for the product and the native floor)" : " (the product's: \($0))" } ?? ""); vaults on \(Machine.fileSystem(of: o.dir)) (`\(o.dir)`).
            - Load average (1, 5, 15 min) before: \(loadBefore); after: \(loadAfter). The machine is shared: other work adds noise.
            - Workload: values of \(Workload.smallestValue) to \(Workload.largestValue) bytes (about 64 on average; sealed \(Workload.sealOverhead) bytes longer), names of about 30 bytes, no descriptions. Made on the fly from an index, so the benchmark keeps no list of them.
            - The vaults are created with `VaultOptions.insecureFastForTests()` (cheap Argon2id): password hashing is not what is measured, and it happens before the timings.
            - Every database's PRAGMAs are the product's (`Store.requiredPragmas`: WAL, synchronous FULL, foreign_keys, secure_delete ON, trusted_schema OFF, recursive_triggers, an 8 MiB page cache; 5 s busy timeout).
            - **The native floor** (`bench/floor/floor.c`, built by the benchmark: `\(native.command)`, \(native.compiler)): C over the system SQLite, no crypto, no checks, no audit. A database made as a vault is made (every migration of the schema.sql the product embeds, in one transaction; closed and opened again with the product's PRAGMAs), then the import's SQL: the same `secrets` rows (a random 32-byte name tag) and `secret_versions` rows (random bytes as long as the product's ciphertexts), 50 rows per INSERT as `Tx.insertNewSecrets` writes them, in the import's batches (`ValueBatches`: \(transactions.first.map { "\($0) transactions" } ?? "")); then the rotation's: per transaction, the keys of the next \(grouped(o.batch)) versions under the old data key read from the key-version index (only the keys: nothing to decrypt), each updated by primary key to the new key version and new random bytes of the same size\(transactions.count > 1 ? " (\(transactions[1]) transactions, the last finding none left)" : ""). Its workload digest matches the benchmark's (same names, same sizes).
            \(swiftFloors.isEmpty ? "" : "- The Swift floor (`BenchmarkFloor`, over the store's public API): the same SQL through the store's own `Tx` methods and GRDB's cached statements, in a database made by `Store.create`. A second reference line: what the Swift layers between the core and SQLite cost over C.\n")- Total time of the benchmark: \(fixed(elapsed, 0)) s.

            ## Throughput (median of \(o.runs))

            | operation | median | secrets/s | time vs native floor | CPU, all threads, vs native floor | CPU of the writing thread vs native floor | ≤ \(fixed(Target.floorRatio, 1))x native floor |
            |---|---:|---:|---:|---:|---:|:---:|
            | import, \(grouped(o.count)) secrets, \(importBatches) | \(fixed(importT)) s | \(rate(importT)) | \(fixed(importT / insertT, 2))x | \(fixed(importC / insertC, 2))x | \(fixed(importW / insertW, 2))x | \(verdict(importOK)) |
            | data-key rotation, \(grouped(o.count)) secrets, \(rotationBatches) | \(fixed(rotateT)) s | \(rate(rotateT)) | \(fixed(rotateT / updateT, 2))x | \(fixed(rotateC / updateC, 2))x | \(fixed(rotateW / updateW, 2))x | \(verdict(rotateOK)) |
            | native floor: the import's INSERTs, \(importBatches) | \(fixed(insertT)) s | \(rate(insertT)) | 1.00x | 1.00x | 1.00x | |
            | native floor: the rotation's UPDATEs, \(rotationBatches) | \(fixed(updateT)) s | \(rate(updateT)) | 1.00x | 1.00x | 1.00x | |
            \(referenceRows.map { $0 + "\n" }.joined())
            Import is compared with the native floor's INSERTs, rotation with its UPDATEs; the verdicts use wall time.
            "CPU, all threads" is the whole work: the import seals on a second thread while it writes, and rotation
            re-seals on a second thread while it writes. "CPU of the writing thread" is the calling thread's alone: with
            a second core free, the wall time is that plus the waits for the disk (as the floor's), so its ratio is what
            the wall-time ratio comes to on a quiet machine, and it moves little with the machine's load.
            Each run's ratio to the native floor run beside it: import \(ratios(pairRatios(\.firstSeconds))); rotation \(ratios(pairRatios(\.secondSeconds))).

            Every run, in seconds:
            - import: \(runs(vaults) { $0.firstSeconds })
            - rotation: \(runs(vaults) { $0.secondSeconds })
            - native floor INSERT: \(runs(natives) { $0.firstSeconds })
            - native floor UPDATE: \(runs(natives) { $0.secondSeconds })
            \(referenceRuns.map { $0 + "\n" }.joined())
            ### Where the wall time goes (medians)

            | operation | wall | CPU (user + sys) | CPU of the writing thread | waiting for a CPU | other waiting (fsync, I/O) | secrets/s without the CPU wait |
            |---|---:|---:|---:|---:|---:|---:|
            \(split("import", vaults, \.firstSeconds, \.firstCPUSeconds, \.firstThreadCPUSeconds, \.firstRunQueueSeconds))
            \(split("rotation", vaults, \.secondSeconds, \.secondCPUSeconds, \.secondThreadCPUSeconds, \.secondRunQueueSeconds))
            \(split("native floor INSERT", natives, \.firstSeconds, \.firstCPUSeconds, \.firstThreadCPUSeconds, \.firstRunQueueSeconds))
            \(split("native floor UPDATE", natives, \.secondSeconds, \.secondCPUSeconds, \.secondThreadCPUSeconds, \.secondRunQueueSeconds))
            \(referenceSplit.map { $0 + "\n" }.joined())
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
            Peak RSS of the floors, for comparison (their own high-water marks, VmHWM): native \(mib(Int(median(natives.map { Double($0.result.rssSecondKiB) }))))\(swiftFloors.isEmpty ? "" : ", Swift \(mib(Int(median(swiftFloors.map { Double($0.result.rssSecondKiB) }))))").

            \(console?.markdown(runsPerSize: o.consoleRuns) ?? "")## Checks

            - Each vault run: \(vaults.first?.result.checked ?? "-").
            - Each native floor run: \(natives.first?.result.checked ?? "-").
            \(swiftFloors.first.map { "- Each Swift floor run: \($0.result.checked).\n" } ?? "")
            ## Verdict

            - import: \(verdict(importOK)) (\(fixed(importT / insertT, 2))x the native floor, target ≤ \(fixed(Target.floorRatio, 1))x; \(rate(importT))/s)
            - rotation: \(verdict(rotateOK)) (\(fixed(rotateT / updateT, 2))x the native floor, target ≤ \(fixed(Target.floorRatio, 1))x; \(rate(rotateT))/s)
            - memory: \(verdict(memoryOK)) (\(mib(rssSmall)) at \(grouped(o.count)), \(mib(rssLarge)) at \(grouped(o.large)))
            \(console?.verdicts ?? "")

            """
        s += "\n"
        return s
    }
}
