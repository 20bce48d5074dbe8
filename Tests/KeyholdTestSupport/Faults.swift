import Foundation
#if canImport(Glibc)
    import Glibc
#endif

// The fault harness: the real `keyhold` binary run under a fault (killed, stopped, two at
// once, its standard output on /dev/full or a closed pipe, its vault read-only or on a full
// file system, a file size limit), and the vault checked afterwards through the binary
// itself: every secret opens to the value it must hold, `check` is clean, and the audit
// chain still holds every event it held before the fault.
//
// Nothing here imports Testing (the benchmark links this target too): checks return the
// problems they found as sentences, and a test expects the list to be empty.

// MARK: - Seeded randomness

/// SplitMix64: small, seedable, good enough to pick delays and make values.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// KEYHOLD_CRASH_SEED when set (to replay a run's choices; timing still varies), else a
    /// random seed; printed with `what`.
    public static func seed(_ what: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["KEYHOLD_CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        print("\(what) seed: \(seed) (replay with KEYHOLD_CRASH_SEED=\(seed))")
        return seed
    }
}

/// Secret values and import files for fault tests.
public enum FaultData {
    static let text = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\né✓🔑Ω")

    /// A random value: mostly text (quotes, backslashes, line breaks, non-ASCII), sometimes raw bytes.
    public static func value(_ rng: inout SeededGenerator) -> [UInt8] {
        if Int.random(in: 0..<5, using: &rng) == 0 {
            return (0..<Int.random(in: 1...96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return Array(String((0..<Int.random(in: 1...120, using: &rng)).map { _ in text.randomElement(using: &rng)! }).utf8)
    }

    /// The value `secret set --stdin` stores for `input`: all of it less one trailing newline
    /// (LF or CRLF). A random value ends in one now and then.
    public static func readFromStdin(_ input: [UInt8]) -> [UInt8] {
        if input.suffix(2) == [0x0D, 0x0A] { return Array(input.dropLast(2)) }
        if input.last == 0x0A { return Array(input.dropLast()) }
        return input
    }

    /// The import file shape: `{"secrets": [{"name", "value" | "value_base64"}]}`.
    public static func json(_ entries: [(name: String, value: [UInt8])]) throws -> Data {
        let list: [[String: String]] = entries.map { e in
            if let s = String(validating: e.value, as: UTF8.self) { return ["name": e.name, "value": s] }
            return ["name": e.name, "value_base64": Data(e.value).base64EncodedString()]
        }
        return try JSONSerialization.data(withJSONObject: ["secrets": list])
    }
}

// MARK: - One keyhold process

/// A `keyhold` process started without waiting (posix_spawn: every signal at its default and
/// none blocked, as a shell starts a program). Standard input comes from a file (or
/// /dev/null); standard error, and standard output unless it goes to /dev/full or a pipe whose
/// reader is gone, are read through pipes as they come (a pipe, unlike a file, is not held
/// to a file size limit, so the messages of a run under one are all there). Optionally under
/// a file size limit (`prlimit --fsize`).
public final class SpawnedKeyhold: @unchecked Sendable {
    /// Where standard output goes.
    public enum Stdout: Sendable { case captured, devFull, closedPipe }

    public let pid: pid_t
    public let started = Date()
    private let inPath: String
    private let lock = NSLock()
    private var rawStatus: Int32?
    private let out: Drain?
    private let err: Drain

    /// Starts keyhold with `args` in exactly the environment `env`.
    public init(
        _ args: [String], env: [String: String], stdin: Data = Data(), stdout: Stdout = .captured,
        fileSizeLimit: Int? = nil, in dir: String
    ) throws {
        inPath = dir + "/child-\(UUID().uuidString).in"
        var program = KeyholdBinary.path
        var argv = [program] + args
        if let fileSizeLimit {
            guard let prlimit = Subprocess.which("prlimit") else { throw TestFailure("prlimit (util-linux) is not installed") }
            program = prlimit
            argv = [prlimit, "--fsize=\(fileSizeLimit)", KeyholdBinary.path] + args
        }
        var fds: [Int32] = []  // the child's ends, closed here once it has them
        defer { for fd in fds { close(fd) } }
        func opened(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw TestFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
            fds.append(fd)
            return fd
        }
        func pipeEnds() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            // Close-on-exec from the start, so no child another test starts meanwhile holds an end open.
            if let pipe2 = Self.pipe2 {
                guard pipe2(&ends, O_CLOEXEC) == 0 else { throw TestFailure("pipe2: \(String(cString: strerror(errno)))") }
            } else {
                guard pipe(&ends) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
                for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            }
            return (ends[0], ends[1])
        }
        let input: Int32
        if stdin.isEmpty {
            input = try opened("/dev/null", O_RDONLY)
        } else {
            guard FileManager.default.createFile(atPath: inPath, contents: stdin, attributes: [.posixPermissions: 0o600]) else {
                throw TestFailure("cannot write \(inPath)")
            }
            input = try opened(inPath, O_RDONLY)
        }
        let output: Int32
        var outRead: Int32?
        switch stdout {
        case .captured:
            let ends = try pipeEnds()
            fds.append(ends.write)
            outRead = ends.read
            output = ends.write
        case .devFull: output = try opened("/dev/full", O_WRONLY)
        case .closedPipe:
            let ends = try pipeEnds()
            close(ends.read)  // the reader is gone before the writer starts
            fds.append(ends.write)
            output = ends.write
        }
        let errEnds = try pipeEnds()
        fds.append(errEnds.write)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, errEnds.write, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in 1..<32 where sig != SIGKILL && sig != SIGSTOP { sigaddset(&defaults, Int32(sig)) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgs + cEnv { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, program, &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else {
            close(errEnds.read)
            if let outRead { close(outRead) }
            throw TestFailure("cannot start \(program): \(String(cString: strerror(rc)))")
        }
        pid = child
        out = outRead.map(Drain.init)
        err = Drain(errEnds.read)
    }

    /// glibc's pipe2, which Swift does not import (it is behind _GNU_SOURCE).
    private static let pipe2: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "pipe2") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
    }()

    deinit {
        if isRunning { _ = Glibc.kill(pid, SIGKILL) }
        _ = wait()
        unlink(inPath)
    }

    /// Reads a pipe to its end on a thread of its own; what came so far is there at any time.
    private final class Drain: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes = Data()
        private let done = DispatchSemaphore(value: 0)
        private var finished = false

        init(_ fd: Int32) {
            Thread.detachNewThread { [self] in
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n > 0 { lock.withLock { bytes.append(contentsOf: buffer[0..<n]) }; continue }
                    if n < 0, errno == EINTR { continue }
                    break
                }
                close(fd)
                done.signal()
            }
        }

        var data: Data { lock.withLock { bytes } }

        /// Waits for the end of the pipe (the child and everything it started are gone).
        func finish() {
            if lock.withLock({ finished }) { return }
            done.wait()
            lock.withLock { finished = true }
        }
    }

    /// Reaps the child if it has ended (`flags` WNOHANG) or waits for it (0).
    private func reap(_ flags: Int32) {
        lock.lock()
        defer { lock.unlock() }
        while rawStatus == nil {
            var status: Int32 = 0
            let r = waitpid(pid, &status, flags)
            if r == pid { rawStatus = status; return }
            if r == 0 { return }
            if errno != EINTR { rawStatus = -1; return }  // not ours to wait for (never happens: no one else reaps it)
        }
    }

    public var isRunning: Bool { reap(WNOHANG); return lock.withLock { rawStatus == nil } }

    /// Sends `signal` while it runs.
    public func send(_ signal: Int32) { if isRunning { _ = Glibc.kill(pid, signal) } }

    /// SIGKILL, if it is still running.
    public func kill() { send(SIGKILL) }

    /// Waits for the end (and for its output); true when SIGKILL ended it.
    @discardableResult
    public func wait() -> Bool {
        reap(0)
        out?.finish()
        err.finish()
        return signal == SIGKILL
    }

    /// The signal that ended it (nil: it exited, or it is still running).
    public var signal: Int32? {
        guard let s = lock.withLock({ rawStatus }), s >= 0, s & 0x7f != 0, s & 0x7f != 0x7f else { return nil }
        return s & 0x7f
    }

    /// Its exit code (nil: a signal ended it, or it is still running).
    public var exitCode: Int32? {
        guard let s = lock.withLock({ rawStatus }), s >= 0, s & 0x7f == 0 else { return nil }
        return (s >> 8) & 0xff
    }

    /// The exit code, or the signal's number when a signal ended it.
    public var exitStatus: Int32 { exitCode ?? signal ?? -1 }

    /// What it wrote on standard output so far (nothing unless `.captured`).
    public var stdoutData: Data { out?.data ?? Data() }
    public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    public var stderr: String { String(decoding: err.data, as: UTF8.self) }
    public var elapsedMs: Double { Date().timeIntervalSince(started) * 1000 }

    /// The `done` numbers of progress lines `LABEL: done/total` (or `LABEL done/total`) on stderr.
    public func progress(_ label: String) -> [(done: Int, total: Int)] {
        stderr.split(separator: "\n").compactMap { line -> (Int, Int)? in
            guard line.hasPrefix(label) else { return nil }
            let fraction = line.split(separator: " ").last ?? ""
            let parts = fraction.split(separator: "/")
            guard parts.count == 2, let d = Int(parts[0]), let t = Int(parts[1]) else { return nil }
            return (d, t)
        }
    }

    /// What any run under a fault must show, as problems (empty when it held): it ended; no
    /// signal ended it but a SIGKILL the test sent (`killed`); its exit code is one of
    /// `exits`; and when it failed, stderr says why in a `keyhold: ` line containing each of
    /// `saying` (when given).
    public func problems(_ what: String, exits: Set<Int32>, saying: [String] = [], killed: Bool = false) -> [String] {
        if isRunning { return ["\(what): still running"] }
        if let signal {
            return signal == SIGKILL && killed ? [] : ["\(what): ended by signal \(signal) (a crash): \(stderr.suffix(300))"]
        }
        var out: [String] = []
        let code = exitCode ?? -1
        if !exits.contains(code) { out.append("\(what): exit \(code), expected one of \(exits.sorted()): \(stderr.suffix(400))") }
        if code != 0 {
            let lines = stderr.split(separator: "\n").filter { $0.hasPrefix("keyhold: ") && !$0.contains("KEYHOLD_INSECURE_TEST_KDF") }
            if lines.isEmpty { out.append("\(what): exit \(code) with no message on stderr: \(stderr.suffix(300))") }
            for s in saying where !stderr.contains(s) { out.append("\(what): stderr does not say \"\(s)\": \(stderr.suffix(400))") }
        }
        return out
    }
}

// MARK: - A vault under faults

/// A vault made by `keyhold init`, administrator `owner`, with the values its secrets must
/// hold; `verify` checks it through the binary after a fault. Optionally on a tmpfs of its
/// own (`Mounts`), so that its file system can be filled or made read-only.
public final class FaultVault: @unchecked Sendable {
    public static let password = "mossy granite under the bridge"
    public static let owner = ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": password]

    /// What a command's run gave back.
    public struct Outcome {
        public var status: Int32
        public var stdoutData: Data
        public var stderr: String
        public var stdout: String { String(decoding: stdoutData, as: UTF8.self) }
    }

    public let scratch: TempDir
    /// The vault file.
    public let db: String
    /// The tmpfs the vault is on, when it was made on one.
    public let mount: TmpfsMount?
    /// Each secret's allowed values after the next fault: one of them, or nil for "absent".
    public private(set) var expected: [String: [[UInt8]?]] = [:]
    /// The audit head after the last `verify`: every event up to it must survive the next fault.
    public private(set) var head: String?

    /// Makes the vault with `keyhold init` and, when `secrets` > 0, that many secrets of random
    /// values (one import). With `tmpfsBytes`, on a tmpfs of that size (needs `Mounts.permitted`).
    public init(secrets: Int = 0, rng: inout SeededGenerator, tmpfsBytes: Int? = nil) throws {
        scratch = TempDir(prefix: "keyhold-fault")
        if let tmpfsBytes {
            let m = try TmpfsMount(at: scratch.file("fs"), bytes: tmpfsBytes)
            mount = m
            db = m.path + "/vault/keyhold.db"
        } else {
            mount = nil
            db = scratch.file("vault/keyhold.db")
        }
        let made = try KeyholdBinary.run(["init", "--db", db], stdin: Data("owner\n\(Self.password)\n".utf8))
        guard made.status == 0 else { throw TestFailure("init exited \(made.status): \(made.stderr)") }
        if secrets > 0 {
            let entries = (0..<secrets).map { (name: String(format: "app/s%05d", $0), value: FaultData.value(&rng)) }
            try populate(entries)
        }
    }

    /// A vault of `rng`'s choosing without a generator to keep.
    public convenience init(secrets: Int = 0, tmpfsBytes: Int? = nil) throws {
        var rng = SeededGenerator(seed: UInt64.random(in: 1...UInt64.max))
        try self.init(secrets: secrets, rng: &rng, tmpfsBytes: tmpfsBytes)
    }

    deinit { mount?.unmount() }

    /// Imports `entries` in one run and expects them.
    public func populate(_ entries: [(name: String, value: [UInt8])], batch: Int = 500) throws {
        let r = try run(["import", "--format", "json", "--batch", String(batch), "-"], stdin: try FaultData.json(entries))
        guard r.status == 0 else { throw TestFailure("import exited \(r.status): \(r.stderr.suffix(300))") }
        for e in entries { expected[e.name] = [e.value] }
    }

    /// Runs keyhold on this vault (`--db` added) as `owner` (or `env`), and waits.
    public func run(_ args: [String], stdin: Data = Data(), env: [String: String]? = nil) throws -> Outcome {
        let r = try KeyholdBinary.run(args + ["--db", db], stdin: stdin, env: env ?? Self.owner)
        return Outcome(status: r.status, stdoutData: r.stdout, stderr: r.stderr)
    }

    public func run(_ args: [String], stdin: String, env: [String: String]? = nil) throws -> Outcome {
        try run(args, stdin: Data(stdin.utf8), env: env)
    }

    /// Starts keyhold on this vault (`--db` added) as `owner` (or `env`) under a fault.
    public func spawn(
        _ args: [String], stdin: Data = Data(), stdout: SpawnedKeyhold.Stdout = .captured,
        fileSizeLimit: Int? = nil, env: [String: String]? = nil
    ) throws -> SpawnedKeyhold {
        try SpawnedKeyhold(
            args + ["--db", db], env: KeyholdBinary.environment(env ?? Self.owner), stdin: stdin,
            stdout: stdout, fileSizeLimit: fileSizeLimit, in: scratch.path)
    }

    // MARK: What the vault must hold

    /// `name` must hold exactly `value`.
    public func expect(_ name: String, _ value: [UInt8]) { expected[name] = [value] }

    /// `name` must hold one of `values` (nil: it may be absent); `verify` settles on what it finds.
    public func expect(_ name: String, oneOf values: [[UInt8]?]) { expected[name] = values }

    /// `name` may also hold `value` now (a write that may or may not have happened).
    public func allow(_ name: String, _ value: [UInt8]) {
        expected[name, default: [nil]].append(value)
    }

    /// The single value `name` must hold (after a `verify`), or nil.
    public func value(of name: String) -> [UInt8]? { expected[name]?.count == 1 ? expected[name]?[0] : nil }

    // MARK: Checking it

    private func json(_ text: String, _ what: String) throws -> [String: Any] {
        guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("\(what): output is not a JSON object: \(text.prefix(200))")
        }
        return o
    }

    /// `key status --json`: the data key versions present and the active one.
    public func keyStatus() throws -> (keys: [Int], active: Int) {
        let r = try run(["key", "status", "--json"])
        guard r.status == 0 else { throw TestFailure("key status exited \(r.status): \(r.stderr)") }
        let o = try json(r.stdout, "key status")
        guard let keys = o["data_keys"] as? [Int], let active = o["active_data_key"] as? Int else {
            throw TestFailure("key status --json lacks data_keys or active_data_key")
        }
        return (keys.sorted(), active)
    }

    /// `check --json`: whether it is ok, versions opened, and the problems' locations (never values).
    public func check() throws -> (ok: Bool, opened: Int, problems: [String], status: Int32) {
        let r = try run(["check", "--json"])
        let o = try json(r.stdout, "check (exit \(r.status): \(r.stderr.suffix(300)))")
        let problems = (o["problems"] as? [[String: Any]] ?? []).map {
            "\($0["area"] ?? "?") \($0["location"] ?? "?"): \($0["message"] ?? "?")"
        }
        return (o["ok"] as? Bool ?? false, o["versions_opened"] as? Int ?? -1, problems, r.status)
    }

    /// Names of the secrets starting with `prefix`.
    public func names(prefix: String) throws -> [String] {
        let r = try run(["secret", "list", "--json", "--prefix", prefix])
        guard r.status == 0 else { throw TestFailure("secret list exited \(r.status): \(r.stderr)") }
        let list = try json(r.stdout, "secret list")["secrets"] as? [[String: Any]] ?? []
        return list.compactMap { $0["name"] as? String }
    }

    /// Usernames, sorted.
    public func usernames() throws -> [String] {
        let r = try run(["user", "list", "--json"])
        guard r.status == 0 else { throw TestFailure("user list exited \(r.status): \(r.stderr)") }
        let users = try json(r.stdout, "user list")["users"] as? [[String: Any]] ?? []
        return users.compactMap { $0["username"] as? String }.sorted()
    }

    /// Every (name, value bytes), in one export.
    public func exportAll() throws -> [(name: String, value: [UInt8])] { try export(prefix: "") }

    /// `export --format json --yes --prefix P -`: (name without P, value bytes), in the order written.
    public func export(prefix: String) throws -> [(name: String, value: [UInt8])] {
        let r = try run(["export", "--format", "json", "--yes", "--prefix", prefix, "-"])
        if r.status == 67, r.stderr.contains("nothing to export") { return [] }
        guard r.status == 0 else { throw TestFailure("export exited \(r.status): \(r.stderr.suffix(300))") }
        return try Self.entries(r.stdoutData, "export")
    }

    /// The entries of an export file in JSON.
    public static func entries(_ data: Data, _ what: String) throws -> [(name: String, value: [UInt8])] {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let list = o["secrets"] as? [[String: Any]]
        else { throw TestFailure("\(what): not the documented JSON shape") }
        return try list.map { e in
            guard let name = e["name"] as? String else { throw TestFailure("\(what): an entry without a name") }
            if let v = e["value"] as? String { return (name, Array(v.utf8)) }
            if let b = e["value_base64"] as? String, let d = Data(base64Encoded: b) { return (name, Array(d)) }
            throw TestFailure("\(what): \(name) has neither value nor value_base64")
        }
    }

    /// Everything a fault must leave whole, through the binary, as problems (empty: whole):
    /// the audit chain verifies and still holds every event up to the head of the last
    /// `verify` (`audit check-head`); `check` is clean; every secret exports to one of its
    /// allowed values and no other secret is there. Settles `expected` on what was found and
    /// keeps the new head.
    public func verify(_ when: String) throws -> [String] {
        var problems: [String] = []
        let audit = try run(head.map { ["audit", "check-head", $0, "--json"] } ?? ["audit", "verify", "--json"])
        let verdict = (try? json(audit.stdout, "audit")) ?? [:]
        if audit.status != 0 || verdict["ok"] as? Bool != true {
            problems.append(
                "after \(when): the audit chain does not hold (exit \(audit.status)): \(audit.stdout.prefix(300)) \(audit.stderr.suffix(300))"
            )
        }
        let newHead = verdict["head"] as? String

        let c = try check()
        if !c.ok || c.status != 0 {
            problems.append("after \(when): check exited \(c.status) with \(c.problems.count) problem(s): \(c.problems.prefix(5))")
        }

        let exported = try exportAll()
        var seen = Set<String>()
        for e in exported {
            seen.insert(e.name)
            guard let allowed = expected[e.name] else {
                problems.append("after \(when): \(e.name) is in the vault but was never written")
                continue
            }
            if allowed.contains(where: { $0 == e.value }) {
                expected[e.name] = [e.value]
            } else {
                problems.append(
                    "after \(when): \(e.name) holds \(e.value.count) bytes that are none of its \(allowed.count) allowed value(s)")
            }
        }
        for (name, allowed) in expected where !seen.contains(name) {
            if allowed.contains(where: { $0 == nil }) {
                expected[name] = nil
            } else {
                problems.append("after \(when): \(name) is gone")
            }
        }
        if problems.isEmpty { head = newHead }
        return problems
    }
}

// MARK: - File systems of a test's own

/// The permission bits of `path`, or nil when it is missing.
public func fileMode(_ path: String) -> Int? {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_mode & 0o7777) : nil
}

/// A mode as `chmod` takes it (`0600`), or "missing".
public func octalMode(_ mode: Int?) -> String { mode.map { String(format: "%04o", $0) } ?? "missing" }

/// Mounting needs CAP_SYS_ADMIN (root outside a container that forbids it); tried once.
public enum Mounts {
    /// Whether this process may mount a tmpfs (and so make a full or read-only file system).
    public static let permitted: Bool = {
        guard geteuid() == 0 else { return false }
        let dir = TempDir(prefix: "keyhold-mount-probe")
        guard Glibc.mount("tmpfs", dir.path, "tmpfs", 0, "size=64k,mode=0700") == 0 else { return false }
        _ = umount2(dir.path, Int32(MNT_DETACH))
        return true
    }()

    /// Why a test that needs a mount does not run here.
    public static let reason = "mounting a tmpfs needs root with CAP_SYS_ADMIN (the full-disk and read-only file system cases)"
}

/// A small tmpfs mounted for one test and unmounted when released.
public final class TmpfsMount: @unchecked Sendable {
    public let path: String
    public let bytes: Int
    private var mounted = true
    private let lock = NSLock()

    /// Mounts a tmpfs of `bytes` at `path` (created 0700).
    public init(at path: String, bytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0700") == 0 else {
            throw TestFailure("cannot mount a tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.bytes = bytes
    }

    deinit { unmount() }

    /// Remounts it read-only (true) or read-write (false).
    public func setReadOnly(_ readOnly: Bool) throws {
        let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        guard Glibc.mount("tmpfs", path, "tmpfs", flags, "size=\(bytes),mode=0700") == 0 else {
            throw TestFailure("cannot remount \(path) \(readOnly ? "read-only" : "read-write"): \(String(cString: strerror(errno)))")
        }
    }

    /// Fills it with a file until no more than `leaving` bytes are free; returns the file (remove it to free the space).
    @discardableResult
    public func fill(leaving: Int = 0) throws -> String {
        let filler = path + "/filler-\(UUID().uuidString)"
        let fd = Glibc.open(filler, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(filler): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        var written = 0
        while chunk.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == chunk.count { written += chunk.count }
        // Full now: give back what was asked for, rounded to whole pages.
        let keep = max(0, written - (leaving + 4095) / 4096 * 4096)
        guard ftruncate(fd, off_t(keep)) == 0 else { throw TestFailure("cannot shrink \(filler): \(String(cString: strerror(errno)))") }
        return filler
    }

    /// Unmounts it (lazily: a process still in it cannot keep it).
    public func unmount() {
        lock.lock()
        defer { lock.unlock() }
        if mounted { _ = umount2(path, Int32(MNT_DETACH)); mounted = false }
    }
}

/// The immutable flag (`chattr +i`): stops even root from writing a file. Needs
/// CAP_LINUX_IMMUTABLE and a file system that keeps the flag (ext4, xfs, btrfs); tried once.
public enum Immutable {
    public static let permitted: Bool = {
        guard geteuid() == 0, Subprocess.which("chattr") != nil else { return false }
        let dir = TempDir(prefix: "keyhold-chattr-probe")
        let file = dir.file("probe")
        guard FileManager.default.createFile(atPath: file, contents: Data(), attributes: [.posixPermissions: 0o600]) else { return false }
        guard (try? set(file, true)) != nil else { return false }
        let refused = access(file, W_OK) != 0
        try? set(file, false)
        return refused
    }()

    public static let reason = "chattr +i needs root with CAP_LINUX_IMMUTABLE and a file system that keeps the flag"

    /// Sets or clears the flag on `path`.
    public static func set(_ path: String, _ on: Bool) throws {
        let r = try Subprocess.run("chattr", [on ? "+i" : "-i", path], env: ProcessInfo.processInfo.environment)
        guard r.status == 0 else { throw TestFailure("chattr \(on ? "+i" : "-i") \(path): \(r.stderr)") }
    }
}
