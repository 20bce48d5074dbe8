// swift-tools-version:6.0
import PackageDescription

// One target per layer. The compiler enforces the direction of imports:
// crypto is the only importer of CSodium, store the only importer of GRDB (and CSQLiteShim),
// the import/export formats see only KeyholdCore (and the core knows nothing of
// them), and the CLI and the console see only KeyholdCore and the agent (the CLI also the
// formats, the console its ncurses shim, CNcurses).
let package = Package(
    name: "Keyhold",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "keyhold", targets: ["keyhold"])
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2")
    ],
    targets: [
        // C shims
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CNcursesw",
            pkgConfig: "ncursesw",
            providers: [.apt(["libncursesw5-dev"])]
        ),
        // ncursesw through a small C target: curses.h is included by its .c
        // file alone (with NCURSES_WIDECHAR), Swift sees plain functions.
        .target(name: "CNcurses", dependencies: ["CNcursesw"]),
        // The one SQLite call Swift cannot make (sqlite3_db_config is variadic); only the store imports it.
        .target(name: "CSQLiteShim", linkerSettings: [.linkedLibrary("sqlite3")]),

        // Build-time embedding of schema.sql and the common-password list.
        .executableTarget(name: "EmbedTool"),
        .plugin(name: "Embed", capability: .buildTool(), dependencies: ["EmbedTool"]),

        // Layers
        .target(name: "KeyholdCrypto", dependencies: ["CSodium"]),
        .target(
            name: "KeyholdStore",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                "CSQLiteShim"
            ],
            plugins: ["Embed"]
        ),
        .target(
            name: "KeyholdCore",
            dependencies: ["KeyholdCrypto", "KeyholdStore"],
            plugins: ["Embed"]
        ),
        // Import and export formats: pure functions from bytes to entries and back (no files, no processes).
        .target(name: "KeyholdFormats", dependencies: ["KeyholdCore"]),
        .target(
            name: "KeyholdCLI",
            dependencies: [
                "KeyholdCore",
                "KeyholdFormats",
                "KeyholdAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser")
            ]
        ),
        // The console: model, update, view, its effects run by a runner (the core in this process).
        .target(name: "KeyholdConsole", dependencies: ["KeyholdCore", "CNcurses"]),
        // The agent: a vault's unlocked session served over a Unix socket to the same user's commands.
        .target(name: "KeyholdAgent", dependencies: ["KeyholdCore", "KeyholdCrypto"]),
        // The console through the agent: the console's runner that sends each effect to the agent, and
        // the agent's side that runs it (the one place that knows both).
        .target(name: "KeyholdConsoleAgent", dependencies: ["KeyholdConsole", "KeyholdAgent", "KeyholdCore"]),
        .executableTarget(name: "keyhold", dependencies: ["KeyholdCLI", "KeyholdConsole", "KeyholdConsoleAgent"]),
        // `make bench`: the benchmark (README, "Performance"); the store only for its floor, the console
        // for its model, update and view (never its terminal backend), the test support for the
        // cheap KDF its vaults are made with.
        .executableTarget(
            name: "keyhold-bench", dependencies: ["KeyholdCore", "KeyholdStore", "KeyholdConsole", "KeyholdTestSupport"],
            path: "Sources/KeyholdBench"),

        // Tests. KeyholdTestSupport holds what they share (temporary directories, the test clock,
        // vault fixtures, running programs, the cheap KDF, raw SQL on a vault file); a regular target,
        // which no product target depends on (only the benchmark and the tests).
        .target(
            name: "KeyholdTestSupport",
            dependencies: ["KeyholdCore", "KeyholdCrypto", "KeyholdStore", .product(name: "GRDB", package: "GRDB.swift")],
            path: "Tests/KeyholdTestSupport"),
        // A test-only program that runs the product's code in its own process and reads its own
        // memory for copies of a password and a value (docs/SECURITY.md, "Memory"); its test.
        .executableTarget(
            name: "keyhold-memory-probe", dependencies: ["KeyholdCLI", "KeyholdConsole", "KeyholdCore", "KeyholdTestSupport"],
            path: "Tests/KeyholdMemoryProbe"),
        .testTarget(name: "KeyholdMemoryTests", dependencies: ["keyhold-memory-probe", "KeyholdCore", "KeyholdTestSupport"]),
        .testTarget(name: "KeyholdCryptoTests", dependencies: ["KeyholdCrypto", "KeyholdTestSupport"]),
        .testTarget(
            name: "KeyholdStoreTests", dependencies: ["KeyholdStore", "KeyholdTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "KeyholdCoreTests", dependencies: ["KeyholdCore", "KeyholdCrypto", "KeyholdStore", "KeyholdTestSupport"]),
        .testTarget(name: "KeyholdFormatsTests", dependencies: ["KeyholdFormats", "KeyholdCore"]),
        .testTarget(name: "KeyholdCLITests", dependencies: ["KeyholdCLI", "KeyholdTestSupport"]),
        .testTarget(
            name: "KeyholdAgentTests", dependencies: ["KeyholdAgent", "KeyholdConsole", "KeyholdConsoleAgent", "KeyholdTestSupport"]),
        .testTarget(name: "KeyholdConsoleTests", dependencies: ["KeyholdConsole", "KeyholdCore", "KeyholdTestSupport"]),
        // The benchmark's native floor: built and run small (a second or two).
        .testTarget(
            name: "KeyholdBenchTests",
            dependencies: [
                "keyhold-bench", "KeyholdCore", "KeyholdStore", "KeyholdTestSupport",
                .product(name: "GRDB", package: "GRDB.swift")
            ])
    ],
    swiftLanguageModes: [.v6]
)

#if os(Linux)
    // `make fuzz`: one libFuzzer binary for every parser of input (Fuzz/, docs/ARCHITECTURE.md).
    // Linux toolchains ship libFuzzer. In the everyday build only the fuzz targets' own code
    // carries coverage (so `make test` can run a short pass without a second build); with
    // KEYHOLD_FUZZ_COVERAGE=1, in a build directory of its own, the formats, the core and
    // crypto do too, which is what `make fuzz` builds.
    let fuzzer: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer"])]
    package.targets += [
        .target(name: "CFuzzer", path: "Fuzz/CFuzzer"),
        .executableTarget(
            name: "keyhold-fuzz", dependencies: ["KeyholdFormats", "KeyholdCore", "CFuzzer"],
            path: "Fuzz/KeyholdFuzz", swiftSettings: fuzzer,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer"])])
    ]
    if Context.environment["KEYHOLD_FUZZ_COVERAGE"] == "1" {
        for target in package.targets where ["KeyholdFormats", "KeyholdCore", "KeyholdCrypto"].contains(target.name) {
            target.swiftSettings = (target.swiftSettings ?? []) + fuzzer
        }
    }
#endif
