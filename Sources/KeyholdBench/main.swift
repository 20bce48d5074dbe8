// keyhold-bench: the throughput benchmark (`make bench`; README, "Performance").
//
// Each measured run is a child process of this one (so its peak resident set
// is its own, read with wait4): a fresh vault, the product's batch import,
// a data-key rotation over everything imported; and, interleaved with those
// runs, the native floor (bench/floor/floor.c: the same SQL in C over the
// system SQLite, on a database made like a vault, no crypto; built by this
// program) and the Swift floor (the same SQL through the store's Tx).
// Medians, ratios and PASS/MISS go to standard output and to --out.
import Foundation
import Glibc
import KeyholdCore

struct Options {
    var runs = 5
    var count = 100_000
    var large = 400_000
    /// Rows per transaction of rotation, and of import: the product's defaults.
    var batch = Session.defaultBatchSize
    var importBatch = Session.defaultImportBatchSize
    var dir = "bench/tmp"
    var out: String?
    /// The native floor's source (default: found from the current directory or this executable) and C compiler.
    var floorSource: String?
    var cc: String?
    /// Also run the Swift floor (`BenchmarkFloor`) beside each run, as a second reference.
    var swiftFloor = true
    var seed: UInt64 = 0x6B65_7968_6F6C_64
    /// The console's vault: this many users and as many secrets; measured by `consoleRuns` processes per screen size.
    var consoleCount = 100_000
    var consoleRuns = 3
    /// Children of the console workload: the vault, and the screen size to measure at.
    var path: String?
    var users = 100_000
    var width = 200
    var height = 50

    init(_ args: ArraySlice<String>) throws {
        var i = args.startIndex
        func value() throws -> String {
            i += 1
            guard i < args.endIndex else { throw BenchFailure("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func number() throws -> Int {
            let v = try value()
            guard let n = Int(v.replacingOccurrences(of: "_", with: "")), n >= 1 else {
                throw BenchFailure("\(args[i - 1]): not a positive number: \(v)")
            }
            return n
        }
        while i < args.endIndex {
            switch args[i] {
            case "--runs": runs = try number()
            case "--count": count = try number()
            case "--large": large = try number()
            case "--batch": batch = try number()
            case "--import-batch": importBatch = try number()
            case "--dir": dir = try value()
            case "--out": out = try value()
            case "--floor-source": floorSource = try value()
            case "--cc": cc = try value()
            case "--no-swift-floor": swiftFloor = false
            case "--seed": seed = UInt64(try number())
            case "--console": consoleCount = try number()
            case "--console-runs": consoleRuns = try number()
            case "--path": path = try value()
            case "--users": users = try number()
            case "--width": width = try number()
            case "--height": height = try number()
            case "-h", "--help":
                print(
                    """
                    usage: keyhold-bench [console | floor] [--runs N] [--count N] [--large N] [--batch N] [--import-batch N]
                                         [--console N] [--console-runs N] [--floor-source FILE] [--cc CC] [--no-swift-floor]
                                         [--dir DIR] [--out FILE]
                    Measures import and data-key rotation against the native floor: bench/floor/floor.c,
                    built here with the system C compiler against the system SQLite (cc -O2 floor.c -lsqlite3), doing the
                    same INSERTs and UPDATEs on a database made from the product's schema with its PRAGMAs and batch sizes,
                    random bytes for ciphertexts, no crypto and no audit. Its runs are interleaved with the product's; the
                    verdicts are import and rotation within \(Target.floorRatio)x of it, and memory bounded by the batch.
                    Then the console over a large vault, the page queries of its lists, and `keyhold secret list --json`
                    over it (the release `keyhold` beside this program). Release build: `make bench`.
                      console  measure only the console, its lists' page queries and `secret list --json` (prints that section)
                      floor    build and run the native floor once, print its times (nothing else is measured)
                      --runs   measured runs of the product, the native floor and the Swift floor, interleaved (default 5; medians reported)
                      --count  secrets per run (default 100000)
                      --large  secrets of the one larger run that shows memory is bounded by the batch (default 400000)
                      --batch  secret versions per transaction of rotation, product and floors (default \(Session.defaultBatchSize))
                      --import-batch  most secrets per transaction of import, product and floors (default \(Session.defaultImportBatchSize);
                                      a batch also holds at most \(Session.batchValueBytes) bytes of values, as the product cuts it)
                      --floor-source  the native floor's C source (default: bench/floor/floor.c, found from the current
                                      directory or from this executable's)
                      --cc     the C compiler for the native floor (default: $CC, else cc, gcc or clang on PATH)
                      --no-swift-floor  leave out the Swift floor (`BenchmarkFloor`, the same SQL through the store's Tx)
                      --dir    where the temporary vaults and the built floor go (default bench/tmp; removed after each run)
                      --console       users, and as many secrets, of the console's vault (default 100000)
                      --console-runs  fresh console processes per screen size, 200x50 and 80x24 (default 3)
                      --out    also write the report (Markdown) to FILE (a `## Notes` section already there is kept)
                    """)
                exit(0)
            default: throw BenchFailure("unknown argument \(args[i]) (see --help)")
            }
            i += 1
        }
    }
}

func emit(_ r: ChildResult) throws {
    let data = try JSONEncoder().encode(r)
    print("RESULT " + String(decoding: data, as: UTF8.self))
}

func emit(json r: some Encodable) throws {
    let data = try JSONEncoder().encode(r)
    print("RESULT " + String(decoding: data, as: UTF8.self))
}

func runDirectory(_ base: String, _ label: String) -> String {
    "\(base)/\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

do {
    let args = CommandLine.arguments.dropFirst()
    switch args.first {
    case "child-vault":
        let o = try Options(args.dropFirst())
        try emit(
            try Child.vault(
                count: o.count, importBatch: o.importBatch, rotationBatch: o.batch, dir: runDirectory(o.dir, "vault"), seed: o.seed))
    case "child-floor":
        let o = try Options(args.dropFirst())
        try emit(try Child.floor(count: o.count, importBatch: o.importBatch, batch: o.batch, dir: runDirectory(o.dir, "floor")))
    case "child-console-build":
        let o = try Options(args.dropFirst())
        guard let path = o.path else { throw BenchFailure("child-console-build needs --path") }
        try emit(
            json: try ConsoleChild.build(
                path: path, users: o.users, secrets: o.count, seed: o.seed,
                password: try ConsoleChild.passwordFromStandardInput()))
    case "child-console":
        let o = try Options(args.dropFirst())
        guard let path = o.path else { throw BenchFailure("child-console needs --path") }
        try emit(json: try ConsoleChild.measureConsole(path: path, width: o.width, height: o.height))
    case "child-pages":
        let o = try Options(args.dropFirst())
        guard let path = o.path else { throw BenchFailure("child-pages needs --path") }
        try emit(json: try PagesChild.measure(path: path, password: try ConsoleChild.passwordFromStandardInput(), repeats: o.runs))
    case "child-cli-list":
        let o = try Options(args.dropFirst())
        guard let path = o.path else { throw BenchFailure("child-cli-list needs --path") }
        try emit(json: try PagesChild.cliList(path: path, secrets: o.count, password: try ConsoleChild.passwordFromStandardInput()))
    case "floor":
        try Bench(options: try Options(args.dropFirst())).floorOnly()
    case "console":
        let bench = Bench(options: try Options(args.dropFirst()))
        let o = bench.options
        let report = try bench.console(users: o.consoleCount, secrets: o.consoleCount, runs: o.consoleRuns, sizes: Bench.consoleSizes)
        print(report.markdown(runsPerSize: o.consoleRuns) + "\n" + report.verdicts)
    default:
        try Bench(options: try Options(args)).run()
    }
} catch {
    FileHandle.standardError.write(Data("keyhold-bench: \(error)\n".utf8))
    exit(1)
}
