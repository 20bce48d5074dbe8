// swift-tools-version:6.0
import PackageDescription

// One target per layer. The compiler enforces the direction of imports:
// crypto is the only importer of CSodium, store the only importer of GRDB (and CSQLiteShim),
// the import/export formats see only KeyholdCore (and the core knows nothing of
// them), and the CLI and the console see only KeyholdCore (the CLI also the
// formats, the console its ncurses shim, CNcurses).
let package = Package(
    name: "Keyhold",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "keyhold", targets: ["keyhold"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
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
            dependencies: [.product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           "CSQLiteShim"],
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "KeyholdConsole", dependencies: ["KeyholdCore", "CNcurses"]),
        .executableTarget(name: "keyhold", dependencies: ["KeyholdCLI", "KeyholdConsole"]),
        // `make bench`: the benchmark of DESIGN section 9; the store only for its floor, the console
        // for its model, update and view (never its terminal backend).
        .executableTarget(name: "keyhold-bench", dependencies: ["KeyholdCore", "KeyholdStore", "KeyholdConsole"],
                          path: "Sources/KeyholdBench"),

        // Tests. KeyholdTestSupport holds what they share (temporary directories, the test clock,
        // vault fixtures, running programs); a regular target, but no product target depends on it.
        .target(name: "KeyholdTestSupport", dependencies: ["KeyholdCore", "KeyholdCrypto", "KeyholdStore"], path: "Tests/KeyholdTestSupport"),
        .testTarget(name: "KeyholdCryptoTests", dependencies: ["KeyholdCrypto"]),
        .testTarget(name: "KeyholdStoreTests", dependencies: ["KeyholdStore", "KeyholdTestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "KeyholdCoreTests", dependencies: ["KeyholdCore", "KeyholdCrypto", "KeyholdStore", "KeyholdTestSupport"]),
        .testTarget(name: "KeyholdFormatsTests", dependencies: ["KeyholdFormats", "KeyholdCore"]),
        .testTarget(name: "KeyholdCLITests", dependencies: ["KeyholdCLI", "KeyholdTestSupport"]),
        .testTarget(name: "KeyholdConsoleTests", dependencies: ["KeyholdConsole", "KeyholdCore", "KeyholdTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
