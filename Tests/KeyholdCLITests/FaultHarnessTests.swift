import Foundation
import KeyholdTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// The main commands under faults, through the real binary (the harness is
// KeyholdTestSupport/Faults.swift; docs/ARCHITECTURE.md, "The fault harness"): killed at
// random instants, stopped around another writer, two at once, standard output on
// /dev/full or a closed pipe, a read-only vault, a full file system or a file size limit.
// Each run must end without a crash signal (only the SIGKILL a test sends), fail with a
// message that says why, and leave a vault in which every secret opens to a value it was
// given, `check` is clean and the audit chain holds every event it held before.

/// A command of the fault matrix, made fresh for each run (new names and values), with what
/// it may write: `writes` must hold after a run that exited 0, may hold after one that was
/// killed, and must not after one that failed before committing.
struct FaultOperation {
    var label: String
    var args: [String]
    var stdin = Data()
    var writes: [(name: String, value: [UInt8])] = []
    /// A user it creates.
    var user: String?
    /// An export file it writes.
    var file: String?

    /// The main commands, each a write or a read that writes its audit event.
    enum Kind: String, CaseIterable, Sendable {
        case secretSet = "secret set", importJSON = "import", rotateData = "key rotate-data", userAdd = "user add"
        case exportFile = "export", secretShow = "secret show"
    }

    /// A fresh run of `kind` on `vault` (run number `n`).
    static func make(_ kind: Kind, _ n: Int, vault: FaultVault, rng: inout SeededGenerator) throws -> FaultOperation {
        switch kind {
        case .secretSet:
            // An existing secret: a new version, or (every third run) a new secret.
            let existing = vault.expected.keys.sorted().filter { vault.value(of: $0) != nil }
            let name = n % 3 == 2 || existing.isEmpty ? "set/n\(n)" : existing[Int.random(in: 0..<existing.count, using: &rng)]
            let value = FaultData.value(&rng)
            return FaultOperation(
                label: "secret set", args: ["secret", "set", name, "--stdin"], stdin: Data(value),
                writes: [(name, FaultData.readFromStdin(value))])
        case .importJSON:
            let entries = (0..<40).map { (name: "imported/r\(n)/s\($0)", value: FaultData.value(&rng)) }
            return FaultOperation(
                label: "import", args: ["import", "--format", "json", "--batch", "1000", "-"],
                stdin: try FaultData.json(entries), writes: entries)
        case .rotateData:
            return FaultOperation(label: "key rotate-data", args: ["key", "rotate-data", "--batch", "10"])
        case .userAdd:
            return FaultOperation(label: "user add", args: ["user", "add", "user\(n)", "--role", "operator"], user: "user\(n)")
        case .exportFile:
            let file = vault.scratch.file("export-\(n).json")
            return FaultOperation(label: "export", args: ["export", "--format", "json", "--yes", file], file: file)
        case .secretShow:
            let existing = vault.expected.keys.sorted().filter { vault.value(of: $0) != nil }
            return FaultOperation(label: "secret show", args: ["secret", "show", existing.first ?? "app/s00000"])
        }
    }

    /// Tells `vault` what the run may have changed: `done` true (exit 0), false (nothing
    /// committed), nil (killed: either).
    func settle(_ vault: FaultVault, done: Bool?) {
        for w in writes {
            switch done {
            case true?: vault.expect(w.name, w.value)
            case false?: break
            case nil: vault.allow(w.name, w.value)
            }
        }
    }

    /// What the run must have left beside the vault: its user there or not, its export file
    /// absent or whole (never part of one), as problems.
    func sideEffects(_ vault: FaultVault, done: Bool?, before: [String: [[UInt8]?]] = [:]) throws -> [String] {
        var out: [String] = []
        if let user {
            let present = try vault.usernames().contains(user)
            if let done, present != done {
                out.append("\(label): user \(user) \(present ? "exists" : "is missing") after exit \(done ? 0 : 1)")
            }
        }
        if let file {
            if let data = FileManager.default.contents(atPath: file) {
                do {
                    let entries = try FaultVault.entries(data, "\(label) file")
                    // Without a `before` (nothing wrote beside it), the file holds exactly what the vault does.
                    let reference = before.isEmpty ? vault.expected : before
                    for e in entries where vault.value(of: e.name) != e.value && before[e.name]?.contains(where: { $0 == e.value }) != true
                    {
                        out.append("\(label): the file holds \(e.name) with a value it does not hold")
                    }
                    let names = Set(entries.map(\.name))
                    let missing = vault.expected.keys.filter { !names.contains($0) && reference[$0] != nil }
                    if !missing.isEmpty {
                        out.append("\(label): the file lacks \(missing.count) secret(s), e.g. \(missing.sorted().prefix(3))")
                    }
                } catch {
                    out.append("\(label): a partial or broken export file was left: \(error)")
                }
                unlink(file)
            } else if done == true {
                out.append("\(label): exited 0 but wrote no file")
            }
        }
        return out
    }
}

@Suite struct FaultHarnessTests {
    static let unwritable: Int32 = 73

    // MARK: SIGKILL

    /// `init` killed at many instants leaves no vault or a whole one, and a second `init` works.
    @Test(.hangGuard)
    func initKilledAnywhereLeavesNothingHalfMade() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("init-kill"))
        let scratch = TempDir(prefix: "keyhold-init-kill")
        let stdin = Data("owner\n\(FaultVault.password)\n".utf8)
        let env = KeyholdBinary.environment(FaultVault.owner)
        func spawnInit(_ db: String) throws -> SpawnedKeyhold {
            try SpawnedKeyhold(["init", "--db", db], env: KeyholdBinary.environment(), stdin: stdin, in: scratch.path)
        }
        // How long a whole init takes here, so the kills spread over all of it.
        let clean = try spawnInit(scratch.file("calibrate/keyhold.db"))
        clean.wait()
        try #require(clean.exitCode == 0, "init: \(clean.stderr)")
        let span = max(clean.elapsedMs, 20) * 1.2

        var killedBefore = 0, killedAfter = 0, finished = 0
        for round in 0..<24 {
            let dir = scratch.file("r\(round)")
            let db = dir + "/vault/keyhold.db"
            let child = try spawnInit(db)
            usleep(UInt32(Double.random(in: 0...span, using: &rng) * 1000))
            child.kill()
            let killed = child.wait()
            if !killed {
                #expect(child.exitCode == 0, "round \(round): init exited \(child.exitStatus): \(child.stderr)")
                finished += 1
            }
            let vaultDir = dir + "/vault"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: vaultDir)) ?? []
            // A whole vault's lock file may stand beside it (docs/FORMAT.md, "The lock file"), never alone.
            let lock = FileManager.default.fileExists(atPath: db) ? ["keyhold.db-lock"] : []
            let strays = names.filter {
                !$0.hasPrefix(".keyhold.db.new-") && !(["keyhold.db", "keyhold.db-wal", "keyhold.db-shm"] + lock).contains($0)
            }
            #expect(strays.isEmpty, "round \(round): init left \(strays)")
            if FileManager.default.fileExists(atPath: db) {
                if killed { killedAfter += 1 }
                // A whole vault: it opens, `check` is clean, its chain verifies, and init will not replace it.
                let check = try Subprocess.run(KeyholdBinary.path, ["check", "--db", db], env: env)
                #expect(
                    check.status == 0,
                    "round \(round): a vault was left that check refuses: \(check.stderr.suffix(300)) \(check.text.suffix(300))")
                let again = try Subprocess.run(KeyholdBinary.path, ["init", "--db", db], stdin: stdin, env: KeyholdBinary.environment())
                #expect(again.stderr.contains("A vault already exists"), "round \(round): init over the vault: \(again.stderr)")
            } else {
                killedBefore += 1
                // Nothing half made: a second init works and clears what the first left.
                let again = try Subprocess.run(KeyholdBinary.path, ["init", "--db", db], stdin: stdin, env: KeyholdBinary.environment())
                #expect(again.status == 0, "round \(round): init after a killed one exited \(again.status): \(again.stderr)")
                let check = try Subprocess.run(KeyholdBinary.path, ["check", "--db", db], env: env)
                #expect(check.status == 0, "round \(round): \(check.stderr.suffix(300))")
                let left = ((try? FileManager.default.contentsOfDirectory(atPath: vaultDir)) ?? []).filter {
                    $0.hasPrefix(".keyhold.db.new-")
                }
                #expect(left.isEmpty, "round \(round): the second init left the first one's drafts \(left)")
            }
        }
        print("init-kill: 24 runs, \(killedBefore) killed before the vault existed, \(killedAfter) after, \(finished) finished first")
        #expect(killedBefore > 0, "no kill landed before the vault was made: the case was not exercised")
    }

    /// The main commands killed at random instants: the vault is whole after each.
    @Test(.hangGuard)
    func killedCommandsLeaveAWholeVault() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("command-kill"))
        let vault = try FaultVault(secrets: 60, rng: &rng)
        var n = 0, landed = 0
        for kind in FaultOperation.Kind.allCases {
            // One clean run first, to time it.
            n += 1
            let first = try FaultOperation.make(kind, n, vault: vault, rng: &rng)
            let clean = try vault.spawn(first.args, stdin: first.stdin)
            clean.wait()
            #expect(clean.problems(kind.rawValue, exits: [0]).isEmpty, "\(clean.problems(kind.rawValue, exits: [0]))")
            first.settle(vault, done: true)
            #expect(try first.sideEffects(vault, done: true).isEmpty)
            let span = max(clean.elapsedMs, 20) * 1.2
            for round in 0..<5 {
                n += 1
                let op = try FaultOperation.make(kind, n, vault: vault, rng: &rng)
                let child = try vault.spawn(op.args, stdin: op.stdin)
                usleep(UInt32(Double.random(in: 0...span, using: &rng) * 1000))
                child.kill()
                let killed = child.wait()
                if killed { landed += 1 }
                let what = "\(kind.rawValue) killed (round \(round))"
                #expect(child.problems(what, exits: [0], killed: true).isEmpty, "\(child.problems(what, exits: [0], killed: true))")
                op.settle(vault, done: killed ? nil : true)
                let problems = try vault.verify(what) + op.sideEffects(vault, done: killed ? nil : true)
                #expect(problems.isEmpty, "\(problems)")
            }
        }
        print("command-kill: \(landed) of \(FaultOperation.Kind.allCases.count * 5) kills landed while the command ran")
        #expect(landed > 0, "no kill landed: the case was not exercised")
    }

    // MARK: SIGSTOP, and two at once

    /// A writer stopped with SIGSTOP while another writes: the other finishes, or says the vault
    /// is busy; the stopped one finishes once continued; nothing is lost.
    @Test(.hangGuard)
    func aStoppedWriterAndAnotherOne() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("stopped-writer"))
        let vault = try FaultVault(secrets: 20, rng: &rng)
        var n = 100
        for (round, second) in [FaultOperation.Kind.secretSet, .userAdd, .importJSON].enumerated() {
            n += 1
            let entries = (0..<600).map { (name: "stopped/r\(round)/s\($0)", value: FaultData.value(&rng)) }
            let first = FaultOperation(
                label: "import", args: ["import", "--format", "json", "--batch", "50", "-"],
                stdin: try FaultData.json(entries), writes: entries)
            let a = try vault.spawn(first.args, stdin: first.stdin)
            usleep(UInt32.random(in: 30_000...250_000, using: &rng))
            a.send(SIGSTOP)
            defer { a.send(SIGCONT) }
            let op = try FaultOperation.make(second, n, vault: vault, rng: &rng)
            let b = try vault.spawn(op.args, stdin: op.stdin)
            b.wait()
            let what = "\(second.rawValue) beside a stopped import (round \(round))"
            #expect(b.problems(what, exits: [0, 1]).isEmpty, "\(b.problems(what, exits: [0, 1]))")
            if b.exitCode == 1 { #expect(b.stderr.contains("the vault is busy"), "\(what): \(b.stderr.suffix(300))") }
            a.send(SIGCONT)
            a.wait()
            #expect(a.problems("the stopped import (round \(round))", exits: [0]).isEmpty, "\(a.stderr.suffix(300))")
            first.settle(vault, done: a.exitCode == 0)
            op.settle(vault, done: b.exitCode == 0)
            let problems = try vault.verify(what) + op.sideEffects(vault, done: b.exitCode == 0)
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    /// Two writers started at once, in pairs of the main commands.
    @Test(.hangGuard)
    func twoWritersAtOnce() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("two-writers"))
        let vault = try FaultVault(secrets: 40, rng: &rng)
        let pairs: [(FaultOperation.Kind, FaultOperation.Kind)] = [
            (.secretSet, .secretSet), (.importJSON, .importJSON), (.userAdd, .userAdd), (.rotateData, .importJSON),
            (.exportFile, .secretSet), (.rotateData, .secretSet)
        ]
        var n = 200
        for (round, pair) in pairs.enumerated() {
            n += 2
            let before = vault.expected
            var a = try FaultOperation.make(pair.0, n, vault: vault, rng: &rng)
            let b = try FaultOperation.make(pair.1, n + 1, vault: vault, rng: &rng)
            if pair.0 == .secretSet, pair.1 == .secretSet {
                // The same secret from both: one of the two values wins.
                a.args = b.args
                a.writes = [(b.writes[0].name, FaultData.readFromStdin(Array(a.stdin)))]
            }
            let pa = try vault.spawn(a.args, stdin: a.stdin), pb = try vault.spawn(b.args, stdin: b.stdin)
            pa.wait(); pb.wait()
            var problems: [String] = []
            for (op, p) in [(a, pa), (b, pb)] {
                problems += p.problems(
                    "\(op.label) beside \(pair.0 == pair.1 ? "another" : "a \(pair.0.rawValue)") (round \(round))", exits: [0, 1, 71])
                if p.exitCode == 1, !p.stderr.contains("the vault is busy") {
                    problems.append("\(op.label): exit 1: \(p.stderr.suffix(300))")
                }
            }
            if pair.0 == .secretSet, pair.1 == .secretSet, pa.exitCode == 0, pb.exitCode == 0 {
                // Both committed: the later one's value is current, either may be later.
                vault.expect(a.writes[0].name, oneOf: [a.writes[0].value, b.writes[0].value])
            } else {
                a.settle(vault, done: pa.exitCode == 0)
                b.settle(vault, done: pb.exitCode == 0)
            }
            problems += try vault.verify("two at once (round \(round))")
            // An export beside a writer holds each value as it was before or after the write.
            problems +=
                try a.sideEffects(vault, done: pa.exitCode == 0, before: before)
                + b.sideEffects(vault, done: pb.exitCode == 0, before: before)
            // What the two said, to tell a value left by a run that reported failure from one lost.
            let said = [(a, pa), (b, pb)].map {
                "\($0.0.label) \($0.0.args.prefix(3)): exit \($0.1.exitStatus): \($0.1.stderr.suffix(300))"
            }
            #expect(problems.isEmpty, "\(problems); \(said)")
        }
    }

    // MARK: Standard output

    /// Standard output on /dev/full or a closed pipe: exit 72, said on stderr; a one-time
    /// secret's change (user add) is not made, any other change is; the vault is whole.
    @Test(.hangGuard, arguments: [SpawnedKeyhold.Stdout.devFull, .closedPipe])
    func outputThatCannotBeWritten(_ sink: SpawnedKeyhold.Stdout) throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("stdout-\(sink)"))
        let vault = try FaultVault(secrets: 20, rng: &rng)
        var n = 300
        for kind in FaultOperation.Kind.allCases {
            n += 1
            var op = try FaultOperation.make(kind, n, vault: vault, rng: &rng)
            if kind == .exportFile {
                op.args = ["export", "--format", "json", "--yes", "-"]  // to standard output, the case here
                op.file = nil
            }
            let child = try vault.spawn(op.args, stdin: op.stdin, stdout: sink)
            child.wait()
            let what = "\(kind.rawValue) with stdout \(sink)"
            #expect(
                child.problems(what, exits: [72], saying: ["cannot write to standard output"]).isEmpty,
                "\(child.problems(what, exits: [72], saying: ["cannot write to standard output"]))")
            // Only the one-time secret (user add's temporary password) undoes its change.
            let done = kind != .userAdd
            op.settle(vault, done: done)
            let problems = try vault.verify(what) + op.sideEffects(vault, done: done)
            #expect(problems.isEmpty, "\(problems)")
        }
        // init, whose recovery key could not be shown, makes no vault.
        let db = vault.scratch.file("second/keyhold.db")
        let initRun = try SpawnedKeyhold(
            ["init", "--db", db], env: KeyholdBinary.environment(),
            stdin: Data("owner\n\(FaultVault.password)\n".utf8), stdout: sink, in: vault.scratch.path)
        initRun.wait()
        #expect(initRun.problems("init with stdout \(sink)", exits: [72], saying: ["no vault was created"]).isEmpty, "\(initRun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    // MARK: A vault that cannot be written

    /// Every main command on a vault that cannot be written exits 73 saying exactly why
    /// (`reason`), prints nothing on stdout (no secret value above all), and leaves the file
    /// byte for byte, its mode and its directory as they were. Then, writable again, it is whole.
    static func expectRefusedEverywhere(
        _ vault: FaultVault, reason: String, rng: inout SeededGenerator,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = (vault.db as NSString).deletingLastPathComponent
        let bytes = FileManager.default.contents(atPath: vault.db)
        let mode = fileMode(vault.db), dirMode = fileMode(dir)
        let listing = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        var n = 400
        for kind in FaultOperation.Kind.allCases {
            n += 1
            let op = try FaultOperation.make(kind, n, vault: vault, rng: &rng)
            let child = try vault.spawn(op.args, stdin: op.stdin)
            child.wait()
            let what = "\(kind.rawValue) on a vault that \(reason)"
            let problems = child.problems(what, exits: [unwritable], saying: ["cannot be written", reason, "nothing was shown or changed"])
            #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
            #expect(child.stdoutData.isEmpty, "\(what): printed \(child.stdoutData.count) bytes", sourceLocation: sourceLocation)
            if let file = op.file {
                #expect(!FileManager.default.fileExists(atPath: file), "\(what): wrote \(file)", sourceLocation: sourceLocation)
            }
        }
        for args in [["secret", "list"], ["check"], ["audit", "verify"], ["status"]] {
            let r = try vault.run(args)
            #expect(
                r.status == unwritable && r.stderr.contains(reason),
                "\(args.joined(separator: " ")): exit \(r.status): \(r.stderr.suffix(300))",
                sourceLocation: sourceLocation)
        }
        #expect(FileManager.default.contents(atPath: vault.db) == bytes, "the vault file changed", sourceLocation: sourceLocation)
        #expect(
            fileMode(vault.db) == mode && fileMode(dir) == dirMode,
            "modes changed: file \(octalMode(fileMode(vault.db))) (was \(octalMode(mode))), directory \(octalMode(fileMode(dir))) (was \(octalMode(dirMode)))",
            sourceLocation: sourceLocation)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == listing, "files appeared beside the vault",
            sourceLocation: sourceLocation)
    }

    /// A vault of mode 0400: refused even as root (whom chmod does not stop), and it stays 0400.
    @Test func aVaultOfMode0400IsReadOnlyAndStaysSo() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("mode-0400"))
        let vault = try FaultVault(secrets: 10, rng: &rng)
        #expect(chmod(vault.db, 0o400) == 0)
        try Self.expectRefusedEverywhere(vault, reason: "its mode is 0400, read-only for its owner", rng: &rng)
        let r = try vault.run(["secret", "list"])
        #expect(r.stderr.contains("chmod 600 '\(vault.db)'"), "the fix is not named: \(r.stderr)")
        #expect(fileMode(vault.db) == 0o400)
        #expect(chmod(vault.db, 0o600) == 0)
        #expect(try vault.verify("the vault made writable again").isEmpty)
    }

    /// A vault whose directory is 0500: no -wal or -shm could be made beside it.
    @Test func aVaultInAReadOnlyDirectoryIsRefused() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("dir-0500"))
        let vault = try FaultVault(secrets: 10, rng: &rng)
        let dir = (vault.db as NSString).deletingLastPathComponent
        #expect(chmod(dir, 0o500) == 0)
        try Self.expectRefusedEverywhere(vault, reason: "has mode 0500, read-only for its owner", rng: &rng)
        #expect(chmod(dir, 0o700) == 0)
        #expect(try vault.verify("the directory made writable again").isEmpty)
    }

    /// A vault on a file system mounted read-only.
    @Test(.enabled(if: Mounts.permitted, Comment(rawValue: Mounts.reason)))
    func aVaultOnAReadOnlyFileSystemIsRefused() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("ro-mount"))
        let vault = try FaultVault(secrets: 10, rng: &rng, tmpfsBytes: 8 << 20)
        try #require(vault.mount != nil)
        try vault.mount?.setReadOnly(true)
        try Self.expectRefusedEverywhere(vault, reason: "it is on a read-only file system", rng: &rng)
        try vault.mount?.setReadOnly(false)
        #expect(try vault.verify("the file system made writable again").isEmpty)
    }

    /// An immutable vault file (chattr +i), which root cannot write either.
    @Test(.enabled(if: Immutable.permitted, Comment(rawValue: Immutable.reason)))
    func anImmutableVaultIsRefused() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("immutable"))
        let vault = try FaultVault(secrets: 10, rng: &rng)
        try Immutable.set(vault.db, true)
        defer { try? Immutable.set(vault.db, false) }
        try Self.expectRefusedEverywhere(vault, reason: "is it immutable? see lsattr", rng: &rng)
        try Immutable.set(vault.db, false)
        #expect(try vault.verify("the flag cleared").isEmpty)
    }

    // MARK: A full file system

    /// How a test takes the room to grow away.
    enum Room: String, CaseIterable, Sendable {
        /// The vault on a tmpfs of its own, filled up to a few pages.
        case fullTmpfs = "a full file system"
        /// A file size limit (RLIMIT_FSIZE, `prlimit --fsize`) on the command.
        case sizeLimit = "a file size limit"

        var available: Bool {
            switch self {
            case .fullTmpfs: Mounts.permitted
            case .sizeLimit: Subprocess.which("prlimit") != nil
            }
        }
        /// What keyhold says when this stops a write.
        var message: String {
            switch self {
            case .fullTmpfs: "the disk holding the vault is full"
            case .sizeLimit: "a file size limit (ulimit -f"
            }
        }
    }

    /// The main commands with no room to grow: each finishes (exit 0) or fails with 73 saying
    /// why, never with a signal (SIGXFSZ is ignored); a read prints nothing unless it could
    /// record its event; once there is room again the vault is whole.
    static func noRoomToGrow(_ room: Room) throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("no-room-\(room)"))
        let vault = try FaultVault(secrets: 30, rng: &rng, tmpfsBytes: room == .fullTmpfs ? 8 << 20 : nil)
        var n = 500, refused = 0, runs = 0
        for kind in FaultOperation.Kind.allCases {
            for round in 0..<3 {
                n += 1
                let op = try FaultOperation.make(kind, n, vault: vault, rng: &rng)
                // From nothing left to a few pages: failures at the login, the change, the audit event, the commit.
                let room0 = [0, 4096, Int.random(in: 0...(64 << 10), using: &rng)][round]
                var filler: String?
                if room == .fullTmpfs { filler = try vault.mount?.fill(leaving: room0) }
                let child = try vault.spawn(op.args, stdin: op.stdin, fileSizeLimit: room == .sizeLimit ? room0 : nil)
                child.wait()
                if let filler { unlink(filler) }
                runs += 1
                let what = "\(kind.rawValue) with \(room.rawValue) (\(room0) bytes of room)"
                // An export file on the full disk (or past the limit) is not the vault: that failure is exit 1.
                let exits: Set<Int32> = kind == .exportFile ? [0, 1, unwritable] : [0, unwritable]
                let saying = child.exitCode == 1 ? [] : [room.message, "nothing was shown"]
                #expect(child.problems(what, exits: exits, saying: saying).isEmpty, "\(child.problems(what, exits: exits, saying: saying))")
                if child.exitCode != 0 {
                    refused += 1
                    if kind == .userAdd, !child.stdoutData.isEmpty {
                        // The temporary password is shown before the commit (a one-time secret is never lost):
                        // when the commit then fails, stderr says that password is void.
                        #expect(
                            child.stderr.contains("the temporary password shown was not saved, so the user was not created: disregard it"),
                            "\(what): \(child.stderr.suffix(300))")
                    } else {
                        #expect(child.stdoutData.isEmpty, "\(what): failed but printed \(child.stdoutData.count) bytes")
                    }
                } else if kind == .secretShow {
                    #expect(!child.stdoutData.isEmpty, "\(what): exit 0 with nothing shown")
                }
                let done = child.exitCode == 0
                op.settle(vault, done: done)
                let problems = try vault.verify(what) + op.sideEffects(vault, done: done)
                #expect(problems.isEmpty, "\(problems)")
            }
        }
        print("no-room-\(room): \(refused) of \(runs) runs refused with no room to grow")
        #expect(refused >= FaultOperation.Kind.allCases.count, "too few runs met the full disk: the case was not exercised")
    }

    @Test(.hangGuard, .enabled(if: Mounts.permitted, Comment(rawValue: Mounts.reason)))
    func noRoomOnAFullFileSystem() throws { try Self.noRoomToGrow(.fullTmpfs) }

    @Test(.hangGuard, .enabled(if: Room.sizeLimit.available, "needs prlimit (util-linux)"))
    func noRoomUnderAFileSizeLimit() throws { try Self.noRoomToGrow(.sizeLimit) }

    /// init with no room: exit 73, no vault and no draft left; with room again it works.
    @Test(.enabled(if: Mounts.permitted, Comment(rawValue: Mounts.reason)))
    func initOnAFullFileSystemMakesNothing() throws {
        let scratch = TempDir(prefix: "keyhold-init-full")
        let mount = try TmpfsMount(at: scratch.file("fs"), bytes: 1 << 20)
        defer { mount.unmount() }
        let db = mount.path + "/vault/keyhold.db"
        let filler = try mount.fill(leaving: 8192)
        let child = try SpawnedKeyhold(
            ["init", "--db", db], env: KeyholdBinary.environment(),
            stdin: Data("owner\n\(FaultVault.password)\n".utf8), in: scratch.path)
        child.wait()
        #expect(
            child.problems("init on a full file system", exits: [Self.unwritable], saying: ["the disk holding the vault is full"]).isEmpty,
            "\(child.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: mount.path + "/vault")) ?? []).filter {
            $0.hasPrefix(".keyhold.db.new-")
        }
        #expect(left.isEmpty, "init left its draft: \(left)")
        unlink(filler)
        let again = try Subprocess.run(
            KeyholdBinary.path, ["init", "--db", db], stdin: Data("owner\n\(FaultVault.password)\n".utf8),
            env: KeyholdBinary.environment())
        #expect(again.status == 0, "\(again.stderr)")
    }

    // MARK: Reads fail closed

    /// `secret show` whose audit event cannot be written prints nothing of the value, says
    /// exactly why, and exits 73; the audit log is as it was.
    @Test func aRevealThatCannotBeRecordedShowsNothing() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("fail-closed"))
        let vault = try FaultVault(secrets: 5, rng: &rng)
        let name = "app/s00001"
        let value = try #require(vault.value(of: name))
        #expect(try vault.verify("set-up").isEmpty)
        let head = try #require(vault.head)

        // Read-only: refused before the login.
        #expect(chmod(vault.db, 0o400) == 0)
        let readOnly = try vault.spawn(["secret", "show", name])
        readOnly.wait()
        #expect(
            readOnly.problems(
                "secret show, read-only", exits: [Self.unwritable],
                saying: ["its mode is 0400, read-only for its owner", "shows nothing it could not record"]
            ).isEmpty,
            "\(readOnly.stderr)")
        #expect(readOnly.stdoutData.isEmpty)
        #expect(chmod(vault.db, 0o600) == 0)

        // No room: the login's or the reveal's event cannot be written, at every size of room.
        if Room.sizeLimit.available {
            for room in stride(from: 0, through: 48 << 10, by: 4096) {
                let full = try vault.spawn(["secret", "show", name], fileSizeLimit: room)
                full.wait()
                let what = "secret show with \(room) bytes of room"
                #expect(
                    full.problems(what, exits: [0, Self.unwritable], saying: [Room.sizeLimit.message, "nothing was shown"]).isEmpty,
                    "\(full.stderr)")
                if full.exitCode == 0 {
                    #expect(Array(full.stdoutData) == value, "\(what): shown, but not the value")
                } else {
                    #expect(full.stdoutData.isEmpty, "\(what): failed but printed \(full.stdoutData.count) bytes")
                }
            }
        }
        // Every event before is still there, the chain verifies, and no reveal was recorded without its value shown.
        let check = try vault.run(["audit", "check-head", head, "--json"])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
    }

    // MARK: Damage

    /// A vault of `count` text secrets, its WAL folded in (every page in the main file).
    static func damageVault(_ count: Int, rng: inout SeededGenerator) throws -> FaultVault {
        let vault = try FaultVault(rng: &rng)
        let entries = (0..<count).map { i in
            (
                name: String(format: "app/s%04d", i),
                value: Array("value \(i) ".utf8) + (0..<80).map { _ in UInt8.random(in: 97...122, using: &rng) }
            )
        }
        try vault.populate(entries)
        return vault
    }

    /// Every damaged row named in a `check --json`: (secret_id, version) of "secret_versions ..." locations.
    static func namedRows(_ problems: [String]) -> Set<String> {
        Set(
            problems.compactMap { p -> String? in
                guard p.hasPrefix("secrets secret_versions ") else { return nil }
                return String(p.dropFirst("secrets ".count).prefix { $0 != ":" })
            })
    }

    /// A damaged page of secret_versions: `check` names the page with its table and every row
    /// on it, and opens every other; `export` names the rows and writes no file; `--skip-bad`
    /// exports the rest and names (only) what it left out.
    @Test func damagedPagesAreNamedAndTheRestExports() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("damaged-page"))
        let vault = try Self.damageVault(300, rng: &rng)
        let pages = try Python.run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            print(c.execute("PRAGMA page_size").fetchone()[0])
            print(" ".join(str(r[0]) for r in c.execute("SELECT pageno FROM dbstat WHERE name = 'secret_versions' AND pagetype = 'leaf' ORDER BY pageno")))
            """, [vault.db])
        try #require(pages.status == 0, "\(pages.stderr)")
        let lines = pages.stdout.split(separator: "\n")
        let pageSize = try #require(Int(lines[0]))
        let leaves = lines.count > 1 ? lines[1].split(separator: " ").compactMap { Int($0) } : []
        try #require(leaves.count >= 3, "secret_versions has \(leaves.count) leaf pages")
        let page = leaves[leaves.count / 2]
        // Scribble over the page's header, as a bad sector or a stray write would.
        let fd = open(vault.db, O_WRONLY)
        try #require(fd >= 0)
        let junk = [UInt8](repeating: 0xFF, count: 16)
        #expect(junk.withUnsafeBytes { pwrite(fd, $0.baseAddress, 16, off_t((page - 1) * pageSize)) } == 16)
        close(fd)

        let c = try vault.check()
        #expect(c.status == 70 && !c.ok)
        #expect(
            c.problems.contains { $0.hasPrefix("sqlite page \(page) (table secret_versions)") }, "page not named: \(c.problems.prefix(3))")
        let damaged = Self.namedRows(c.problems)
        #expect(!damaged.isEmpty && damaged.count < 300, "\(damaged.count) rows named")
        #expect(c.opened == 300 - damaged.count, "check opened \(c.opened) with \(damaged.count) rows named")
        for p in c.problems where p.hasPrefix("secrets ") {
            #expect(p.contains("cannot be read: it is on a damaged page"), "\(p)")
        }

        // export: names the rows, writes nothing.
        let file = vault.scratch.file("out.json")
        let refused = try vault.run(["export", "--format", "json", "--yes", file])
        #expect(refused.status == 70, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("cannot be read: it is on a damaged page") && refused.stderr.contains("--skip-bad"), "\(refused.stderr)"
        )
        if let first = damaged.sorted().first {
            #expect(refused.stderr.contains(first), "the first damaged row is not named: \(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: file))

        // --skip-bad: the rest, and the names of what it left out.
        let skipped = try vault.run(["export", "--format", "json", "--yes", "--skip-bad", file])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let entries = try FaultVault.entries(FileManager.default.contents(atPath: file) ?? Data(), "export --skip-bad")
        #expect(entries.count == 300 - damaged.count)
        for e in entries { #expect(vault.value(of: e.name) == e.value, "\(e.name): wrong value") }
        let exported = Set(entries.map(\.name))
        let missing = vault.expected.keys.filter { !exported.contains($0) }.sorted()
        #expect(skipped.stderr.contains("left out \(missing.count) secret"), "\(skipped.stderr.suffix(400))")
        for name in missing { #expect(skipped.stderr.contains("left out \(name):"), "\(name) is not named") }
        Self.expectNoValues(skipped.stderr, vault)
    }

    /// A flipped ciphertext byte: `check` and `export` name the row; `--skip-bad` exports the
    /// rest in every file format and names what it left out.
    @Test func aRowThatDoesNotOpenIsNamedAndSkipped() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("flipped-byte"))
        let vault = try Self.damageVault(12, rng: &rng)
        let name = "app/s0007"
        let flipped = try Python.run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            sid, v, ct = c.execute("SELECT v.secret_id, v.version, v.ciphertext FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = ?", (sys.argv[2],)).fetchone()
            ct = bytearray(ct); ct[len(ct) // 2] ^= 1
            c.execute("UPDATE secret_versions SET ciphertext = ? WHERE secret_id = ? AND version = ?", (bytes(ct), sid, v))
            c.commit()
            print(sid, v)
            """, [vault.db, name])
        try #require(flipped.status == 0, "\(flipped.stderr)")
        let ids = flipped.stdout.split(whereSeparator: \.isWhitespace)
        let row = "secret_versions secret_id=\(ids[0]) version=\(ids[1])"

        let c = try vault.check()
        #expect(c.status == 70 && c.problems.contains { $0.contains(row) && $0.contains(name) }, "\(c.problems)")
        #expect(c.opened == 11)

        for format in ["json", "dotenv", "keepassxc"] {
            let file = vault.scratch.file("out.\(format)")
            let refused = try vault.run(["export", "--format", format, "--yes", file])
            #expect(
                refused.status == 70 && refused.stderr.contains("\(row) (secret \(name)): does not open"), "\(format): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: file), "\(format): a partial file was left")
            let skipped = try vault.run(["export", "--format", format, "--yes", "--skip-bad", file])
            #expect(skipped.status == 0, "\(format): \(skipped.stderr)")
            #expect(skipped.stderr.contains("left out 1 secret that could not be opened: \(name)"), "\(format): \(skipped.stderr)")
            Self.expectNoValues(skipped.stderr, vault)
            let text = String(decoding: FileManager.default.contents(atPath: file) ?? Data(), as: UTF8.self)
            for (other, allowed) in vault.expected {
                let value = String(decoding: allowed[0] ?? [], as: UTF8.self)
                #expect(text.contains(value) == (other != name), "\(format): \(other) \(other == name ? "was written" : "is missing")")
            }
            if format == "keepassxc" {
                let parsed = try Python.run(
                    "import sys, xml.dom.minidom as m; print(len(m.parse(sys.argv[1]).getElementsByTagName('Entry')))", [file])
                #expect(
                    parsed.status == 0 && parsed.stdout.hasPrefix("11"), "the XML with an entry left out: \(parsed.stdout) \(parsed.stderr)"
                )
            }
            if format == "json" {
                #expect(try FaultVault.entries(Data(text.utf8), "json").count == 11)
            }
        }
    }

    static func expectNoValues(_ text: String, _ vault: FaultVault, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, allowed) in vault.expected {
            for value in allowed.compactMap({ $0 }) where value.count >= 8 {
                #expect(
                    !text.contains(String(decoding: value, as: UTF8.self)), "the value of \(name) is on stderr",
                    sourceLocation: sourceLocation)
            }
        }
    }

    // MARK: Modes and grants

    /// A vault others may read is refused naming the fix, and left as it was (mode and bytes).
    @Test(arguments: [0o640, 0o604, 0o644])
    func aVaultOthersMayReadIsRefusedAndKeepsItsMode(mode: Int) throws {
        let vault = try FaultVault(secrets: 3)
        #expect(chmod(vault.db, mode_t(mode)) == 0)
        let before = FileManager.default.contents(atPath: vault.db)
        let r = try vault.run(["secret", "list"])
        #expect(
            r.status == 1 && r.stderr.contains("group or others may read or write it") && r.stderr.contains("chmod 600 '\(vault.db)'"),
            "exit \(r.status): \(r.stderr)")
        #expect(r.stdoutData.isEmpty)
        #expect(fileMode(vault.db) == mode, "the mode became \(octalMode(fileMode(vault.db)))")
        #expect(FileManager.default.contents(atPath: vault.db) == before)
        #expect(chmod(vault.db, 0o600) == 0)
        #expect(try vault.verify("chmod 600").isEmpty)
    }

    /// A flipped byte in a user's grant is an integrity error at each login (exit 70, the row
    /// named), never a failed login: however many times, the account is not locked out.
    @Test func aFlippedGrantByteIsNotAFailedLogin() throws {
        let vault = try FaultVault(secrets: 3)
        let added = try vault.run(["user", "add", "olga", "--role", "operator"])
        try #require(added.status == 0, "\(added.stderr)")
        let temporary = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let newPassword = "amber lantern over the quay"
        let first = try vault.run(
            ["secret", "list"],
            env: [
                "KEYHOLD_USER": "olga", "KEYHOLD_PASSWORD": temporary,
                "KEYHOLD_NEW_PASSWORD": newPassword
            ])
        try #require(first.status == 0, "\(first.stderr)")
        let olga = ["KEYHOLD_USER": "olga", "KEYHOLD_PASSWORD": newPassword]
        func flip() throws -> String {
            let r = try Python.run(
                """
                import sqlite3, sys
                c = sqlite3.connect(sys.argv[1])
                uid, sealed = c.execute("SELECT g.user_id, g.sealed_root FROM grants g JOIN users u ON u.id = g.user_id WHERE u.username = 'olga'").fetchone()
                sealed = bytearray(sealed); sealed[len(sealed) // 2] ^= 1
                c.execute("UPDATE grants SET sealed_root = ? WHERE user_id = ?", (bytes(sealed), uid))
                c.commit()
                print(uid)
                """, [vault.db])
            guard r.status == 0 else { throw TestFailure("python: \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let uid = try flip()
        for attempt in 1...8 {
            let r = try vault.run(["secret", "list"], env: olga)
            #expect(r.status == 70 && r.stderr.contains("grants user_id=\(uid)"), "attempt \(attempt): exit \(r.status): \(r.stderr)")
        }
        let shown = try vault.run(["user", "show", "olga", "--json"])
        let info = try JSONSerialization.jsonObject(with: shown.stdoutData) as? [String: Any]
        #expect(info?["failed_logins"] as? Int == 0 && info?["locked_until"] is NSNull, "counted toward the lockout: \(shown.stdout)")
        _ = try flip()  // the byte back: olga logs in at once, no lockout to wait out
        #expect(try vault.run(["secret", "list"], env: olga).status == 0)
    }
}
