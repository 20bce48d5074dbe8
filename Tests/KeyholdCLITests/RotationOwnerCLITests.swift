import Foundation
import KeyholdTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// One owner of a data-key rotation at a time, with the real binary:
// two `key rotate-data` at once, a rotation and `secret set` at once, and a rotation
// stopped with SIGSTOP while others try to rotate. Before the lease, the late process's
// finish deleted the next rotation's data key and every later key-manager command
// exited 70. After every round: each secret opens to its value, `check` and
// `key status` are clean, one data key is left and it is the active one.

extension FaultVault {
    /// `n` secrets with random values from `rng`, imported in one run; name -> value.
    func populate(_ n: Int, _ rng: inout SeededGenerator) throws -> [String: [UInt8]] {
        let entries = (0..<n).map { (name: String(format: "owner/group%02d/s%05d", $0 % 20, $0), value: FaultData.value(&rng)) }
        let r = try run(
            ["import", "--format", "json", "--batch", "500", "-"],
            stdin: String(decoding: try FaultData.json(entries), as: UTF8.self))
        guard r.status == 0 else { throw TestFailure("import exited \(r.status): \(r.stderr.suffix(300))") }
        return Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.value) })
    }

    /// Whether a write transaction could start now (false while a process holds the write lock).
    func writable() throws -> Bool {
        let r = try Python.run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
            try:
                c.execute("BEGIN IMMEDIATE")
                c.execute("ROLLBACK")
                print("free")
            except sqlite3.OperationalError:
                print("busy")
            """, [db])
        guard r.status == 0 else { throw TestFailure("python sqlite3 failed: \(r.stderr)") }
        return r.stdout.hasPrefix("free")
    }
}

@Suite(.serialized) struct RotationOwnerCLITests {
    static let rotationInProgress: Int32 = 71

    /// The vault is whole: one data key, the active one; no key problem; `check` opens all
    /// `versions`; every secret exports to its value.
    static func expectWhole(
        _ vault: FaultVault, _ expected: [String: [UInt8]], versions: Int, _ when: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let status = try vault.run(["key", "status", "--json"])
        #expect(
            status.status == 0, "key status after \(when) exited \(status.status): \(status.stderr.suffix(300))",
            sourceLocation: sourceLocation)
        let keys = try vault.keyStatus()
        #expect(keys.keys == [keys.active], "after \(when): data keys \(keys.keys), active \(keys.active)", sourceLocation: sourceLocation)
        let c = try vault.check()
        #expect(
            c.ok && c.status == 0 && c.opened == versions,
            "check after \(when) (exit \(c.status)): \(c.opened) of \(versions) opened, \(c.problems.prefix(3))",
            sourceLocation: sourceLocation)
        let exported = try vault.exportAll()
        var wrong = 0
        for e in exported where expected[e.name] != e.value { wrong += 1 }
        #expect(
            exported.count == expected.count && wrong == 0,
            "after \(when): \(exported.count) exported of \(expected.count), \(wrong) differ", sourceLocation: sourceLocation)
    }

    static func seed() -> UInt64 {
        SeededGenerator.seed("rotation-owner")
    }

    @Test(.hangGuard)
    func twoRotationsAtOnceLeaveOneOwnerEachTime() throws {
        var rng = SeededGenerator(seed: Self.seed())
        let vault = try FaultVault()
        let expected = try vault.populate(2000, &rng)
        var active = try vault.keyStatus().active
        var refused = 0
        for round in 1...4 {
            let a = try vault.spawn(["key", "rotate-data", "--batch", "50", "--json"])
            let b = try vault.spawn(["key", "rotate-data", "--batch", "50", "--json"])
            a.wait(); b.wait()
            let statuses = [a.exitStatus, b.exitStatus]
            #expect(
                statuses.allSatisfy { $0 == 0 || $0 == Self.rotationInProgress } && statuses.contains(0),
                "round \(round): exits \(statuses): \(a.stderr.suffix(200)) | \(b.stderr.suffix(200))")
            for child in [a, b] where child.exitStatus == Self.rotationInProgress {
                refused += 1
                #expect(child.stderr.contains("rotation in progress") && child.stderr.contains("--wait"), "\(child.stderr.suffix(300))")
            }
            active += statuses.filter { $0 == 0 }.count
            #expect(try vault.keyStatus().active == active, "round \(round): one new data key per rotation that ran")
            try Self.expectWhole(vault, expected, versions: 2000, "round \(round) of two rotations")
        }
        // With --wait neither is refused: the second waits for the first, then makes its own.
        for round in 1...2 {
            let a = try vault.spawn(["key", "rotate-data", "--batch", "50", "--wait", "--json"])
            let b = try vault.spawn(["key", "rotate-data", "--batch", "50", "--wait", "--json"])
            a.wait(); b.wait()
            #expect(a.exitStatus == 0 && b.exitStatus == 0, "waiting round \(round): \(a.stderr.suffix(200)) | \(b.stderr.suffix(200))")
            active += 2
            #expect(try vault.keyStatus().active == active)
            try Self.expectWhole(vault, expected, versions: 2000, "waiting round \(round)")
        }
        print("rotation-owner: 4 rounds of two rotations at once, \(refused) refused with exit 71; 2 rounds with --wait")
    }

    @Test(.hangGuard)
    func secretSetDuringARotationGoesOnAndTheRotationFinishes() throws {
        var rng = SeededGenerator(seed: Self.seed())
        let vault = try FaultVault()
        var expected = try vault.populate(2000, &rng)
        var versions = 2000
        var overlapped = 0
        var rounds = 0
        // Three rounds, and more (up to six) until a write has met a running job: on a loaded
        // machine a rotation can finish before the first write's process gets to its check.
        for round in 1...6 where round <= 3 || overlapped == 0 {
            rounds = round
            let rotation = try vault.spawn(["key", "rotate-data", "--batch", "1", "--json"])
            var writes = 0
            // Once its job exists (its first progress line), written while it runs.
            while rotation.isRunning && rotation.progress("re-sealing:").isEmpty { usleep(2000) }
            repeat {
                let name = "owner/during/round\(round)/s\(writes)"
                let value = "value \(round).\(writes) \(UInt64.random(in: 0...UInt64.max, using: &rng))"
                let r = try vault.run(["secret", "set", name, "--stdin"], stdin: value)
                #expect(r.status == 0, "secret set during rotation round \(round) exited \(r.status): \(r.stderr.suffix(300))")
                #expect(
                    !r.stderr.contains("finishing the interrupted rotation"),
                    "secret set took over a running rotation: \(r.stderr.suffix(300))")
                if r.stderr.contains("is running in another process") { overlapped += 1 }
                expected[name] = Array(value.utf8)
                versions += 1
                writes += 1
            } while rotation.isRunning && writes < 40
            rotation.wait()
            #expect(rotation.exitStatus == 0, "rotate-data round \(round) exited \(rotation.exitStatus): \(rotation.stderr.suffix(300))")
            try Self.expectWhole(vault, expected, versions: versions, "rotation with \(writes) secret set(s), round \(round)")
        }
        let after = try vault.run(["secret", "set", "owner/after", "--stdin"], stdin: "set after the rounds")
        #expect(after.status == 0, "\(after.stderr)")
        print(
            "rotation-owner: \(versions - 2000) secret set(s) during \(rounds) rotations, \(overlapped) of them while the job was running")
        #expect(overlapped > 0, "no secret set ran while a rotation job was running: the case was not exercised")
    }

    @Test(.hangGuard)
    func aStoppedRotationKeepsItsLeaseUntilItGoesOn() throws {
        var rng = SeededGenerator(seed: Self.seed())
        let vault = try FaultVault()
        var expected = try vault.populate(3000, &rng)
        let before = try vault.keyStatus().active
        let owner = try vault.spawn(["key", "rotate-data", "--batch", "20", "--json"])
        // Stop it between two transactions (stopped inside one, it would hold SQLite's write lock,
        // and every writer, logins included, would wait on that instead of on the lease).
        var stopped = false
        for _ in 0..<400 where owner.isRunning {
            guard owner.progress("re-sealing:").contains(where: { $0.done > 0 }) else { usleep(2000); continue }
            _ = kill(owner.pid, SIGSTOP)
            if try vault.writable() { stopped = true; break }
            _ = kill(owner.pid, SIGCONT)
            usleep(UInt32.random(in: 1000...5000, using: &rng))
        }
        try #require(
            stopped, "could not stop the rotation between two batches (it exited \(owner.isRunning ? "no" : "\(owner.exitStatus)"))")
        defer { _ = kill(owner.pid, SIGCONT) }

        // Refused at once, with its own exit code; nothing changes.
        for verb in ["rotate-data", "resume"] {
            let r = try vault.run(["key", verb])
            #expect(r.status == Self.rotationInProgress, "key \(verb) while stopped exited \(r.status): \(r.stderr.suffix(300))")
            #expect(
                r.stderr.contains("rotation in progress: another process is running the data-key rotation to key \(before + 1)"),
                "\(r.stderr.suffix(300))")
        }
        // Other commands go on, leave the job alone, and say so.
        let set = try vault.run(["secret", "set", "owner/while-stopped", "--stdin"], stdin: "written while the rotation was stopped")
        #expect(
            set.status == 0 && set.stderr.contains("is running in another process"),
            "secret set exited \(set.status): \(set.stderr.suffix(300))")
        expected["owner/while-stopped"] = Array("written while the rotation was stopped".utf8)
        let status = try vault.run(["key", "status", "--json"])
        let job =
            (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["interrupted_rotation"] as? [String: Any]
        #expect(job?["running"] as? Bool == true && job?["to"] as? Int == before + 1, "key status: \(status.stdout.prefix(300))")
        #expect(try vault.keyStatus().keys == [before, before + 1], "nothing was destroyed while the owner was stopped")

        // One that waits does not run while the owner is stopped; it runs once the owner has finished.
        let waiter = try vault.spawn(["key", "rotate-data", "--wait", "--batch", "100", "--json"])
        usleep(700_000)
        #expect(waiter.isRunning, "a --wait rotation ended while the owner was stopped: \(waiter.stderr.suffix(300))")
        #expect(try vault.keyStatus().keys == [before, before + 1])
        _ = kill(owner.pid, SIGCONT)
        owner.wait()
        waiter.wait()
        #expect(owner.exitStatus == 0, "the stopped rotation exited \(owner.exitStatus) after SIGCONT: \(owner.stderr.suffix(300))")
        #expect(waiter.exitStatus == 0, "the waiting rotation exited \(waiter.exitStatus): \(waiter.stderr.suffix(300))")
        let finished = (try? JSONSerialization.jsonObject(with: Data(owner.stdout.utf8)) as? [String: Any])?["active_data_key"] as? Int
        #expect(finished == before + 1, "the stopped rotation printed: \(owner.stdout.prefix(200))")
        #expect(try vault.keyStatus().active == before + 2, "the waiting rotation made its own key after the first")
        try Self.expectWhole(vault, expected, versions: 3001, "a stopped rotation and a waiting one")
        let after = try vault.run(["secret", "set", "owner/after", "--stdin"], stdin: "set at the end")
        #expect(after.status == 0, "\(after.stderr)")
    }
}
