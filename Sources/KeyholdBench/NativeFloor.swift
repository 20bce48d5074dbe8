import Foundation
import Glibc
import KeyholdCore
import KeyholdStore

/// The native floor: bench/floor/floor.c, a C program over the
/// system SQLite (the library Keyhold links) that does the SQL of an import and of a
/// rotation and nothing else. The benchmark builds it (`cc -O2 floor.c -lsqlite3`),
/// hands it the schema the product applies (`Store.migrations`, written out) and the
/// product's batch sizes, and runs it in a child process between the product's runs.
/// The verdicts of `make bench` are against it.
enum NativeFloor {
    /// Where the source lives in the repository.
    static let sourceInRepository = "bench/floor/floor.c"
    static let cflags = ["-O2", "-std=c11"]

    /// A built floor: the binary, the schema file it is given, and how it was built.
    struct Built {
        var binary: String
        var schema: String
        var command: String
        var compiler: String
    }

    /// floor.c: `given`, else bench/floor/floor.c under the current directory or under
    /// a parent of this executable (which lives in the package's .build directory).
    static func locateSource(_ given: String?) throws -> String {
        if let given {
            guard FileManager.default.isReadableFile(atPath: given) else { throw BenchFailure("--floor-source \(given): no such file") }
            return given
        }
        var candidates = [FileManager.default.currentDirectoryPath]
        var dir = URL(fileURLWithPath: Spawn.selfPath()).deletingLastPathComponent()
        while dir.path != "/" {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        for c in candidates {
            let path = c + "/" + sourceInRepository
            if FileManager.default.isReadableFile(atPath: path) { return path }
        }
        throw BenchFailure("cannot find \(sourceInRepository) (run from the repository, or give --floor-source)")
    }

    /// The C compiler: `given`, else $CC, else the first of cc, gcc and clang on PATH
    /// (Swift's toolchain brings clang).
    static func compiler(_ given: String?) throws -> String {
        if let given { return given }
        if let cc = ProcessInfo.processInfo.environment["CC"], !cc.isEmpty { return cc }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["cc", "gcc", "clang"] {
            for dir in path where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") { return "\(dir)/\(name)" }
        }
        throw BenchFailure("no C compiler (cc, gcc or clang) on PATH for the native floor; set CC or give --cc")
    }

    /// Builds floor.c into `dir` against the system SQLite, and writes there the schema
    /// a new vault gets (every migration of the schema.sql embedded in the product).
    static func build(source: String, cc: String, into dir: String) throws -> Built {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let binary = dir + "/keyhold-floor"
        let args = cflags + ["-o", binary, source, "-lsqlite3"]
        let built = try Self.capture(cc, args)
        guard built.status == 0 else {
            throw BenchFailure(
                "building the native floor failed (\(([cc] + args).joined(separator: " "))); "
                    + "it needs the SQLite headers (libsqlite3-dev):\n\(built.output)")
        }
        let version = (try? Self.capture(cc, ["--version"]).output.split(separator: "\n").first.map(String.init)) ?? nil
        let schema = dir + "/schema.sql"
        try schemaSQL().write(toFile: schema, atomically: true, encoding: .utf8)
        return Built(
            binary: binary, schema: schema,
            command: ([URL(fileURLWithPath: cc).lastPathComponent] + cflags + ["floor.c", "-lsqlite3"]).joined(separator: " "),
            compiler: version ?? cc)
    }

    /// The migrations a new vault gets (`Store.create` applies every one, in order, in one transaction).
    static func schemaSQL() -> String {
        Store.migrations.sorted { $0.number < $1.number }
            .map { "-- migration \($0.number): \($0.title)\n\($0.sql)\n" }.joined()
    }

    /// One run in a child process, in a fresh directory under `base` (removed after).
    static func run(_ built: Built, base: String, count: Int, importBatch: Int, importBytes: Int, batch: Int) throws -> ChildRun {
        let dir = runDirectory(base, "native")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Spawn.run(
            executable: built.binary,
            [
                "--db", dir + "/floor.db", "--schema", built.schema, "--count", String(count),
                "--import-batch", String(importBatch), "--import-bytes", String(importBytes), "--batch", String(batch)
            ])
        // The same workload as the product's: names and sizes drawn alike.
        let expected = workloadDigest(count: count)
        guard run.result.kind == "native", run.result.workloadDigest == expected else {
            throw BenchFailure(
                "the native floor's workload is not the benchmark's (digest \(run.result.workloadDigest ?? "none"), expected \(expected)): "
                    + "bench/floor/floor.c and Workload.swift must draw the same names and sizes")
        }
        return run
    }

    /// FNV-1a over every entry's name, a 0 byte and its value size (4 bytes, little-endian),
    /// as floor.c computes it: equal digests mean the same names and sizes.
    static func workloadDigest(count: Int) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func add(_ byte: UInt8) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        for i in 0..<count {
            for c in Workload.name(i).utf8 { add(c) }
            let v = UInt32(Workload.valueSize(i))
            add(0)
            for k in 0..<4 { add(UInt8(truncatingIfNeeded: v >> (8 * UInt32(k)))) }
        }
        return String(format: "%016llx", h)
    }

    /// Runs `exe` with `args` (found on PATH when not a path), returning its exit status and
    /// its standard output and error together.
    static func capture(_ exe: String, _ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        if exe.contains("/") {
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [exe] + args
        }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { throw BenchFailure("cannot run \(exe): \(error.localizedDescription)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
