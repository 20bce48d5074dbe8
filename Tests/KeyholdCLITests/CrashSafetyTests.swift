import Foundation
import KeyholdTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

// Crash safety: `keyhold` is killed with SIGKILL at random instants during data-key
// rotation and during a large import, again and again, and the work is resumed each
// time. After every kill the vault must still open every ciphertext (so no data key
// was destroyed while a secret used it), work reported as done must have survived,
// and at the end every secret must hold exactly the value it was given.
//
// The random delays and the secret values come from a seeded generator; the seed is
// printed, and KEYHOLD_CRASH_SEED=N replays the same choices (timing still varies).
// Only counts and the seed are printed: never a secret value.

// The vault, the processes and the values come from the fault harness
// (KeyholdTestSupport/Faults.swift): `FaultVault`, `SpawnedKeyhold`, `FaultData`.

@Suite struct CrashSafetyTests {
    static let rotationKillsWanted = 35
    static let importKillsWanted = 15

    @Test(.hangGuard)
    func killedRotationsAndImportsLoseNothing() throws {
        let clock = Date()
        var rng = SeededGenerator(seed: SeededGenerator.seed("crash-safety"))
        func seconds(since start: inout Date) -> String {
            defer { start = Date() }
            return String(format: "%.0f", Date().timeIntervalSince(start))
        }
        var phase = clock
        let vault = try FaultVault()

        // MARK: Setup: 3,000 secrets, 300 of them with a second version.
        var expected: [String: [UInt8]] = [:]
        var initial: [(name: String, value: [UInt8])] = []
        for i in 0..<3000 { initial.append((String(format: "app/group%02d/secret%05d", i % 40, i), FaultData.value(&rng))) }
        let seeded = try vault.run(
            ["import", "--format", "json", "--batch", "500", "-"],
            stdin: String(decoding: try FaultData.json(initial), as: UTF8.self))
        try #require(seeded.status == 0, "initial import exited \(seeded.status): \(seeded.stderr.suffix(500))")
        for e in initial { expected[e.name] = e.value }
        let updates = stride(from: 0, to: 3000, by: 10).map { (name: initial[$0].name, value: FaultData.value(&rng)) }
        let updated = try vault.run(
            ["import", "--format", "json", "--on-existing", "update", "-"],
            stdin: String(decoding: try FaultData.json(updates), as: UTF8.self))
        try #require(updated.status == 0, "update import exited \(updated.status): \(updated.stderr.suffix(500))")
        for e in updates { expected[e.name] = e.value }
        let baseline = try vault.check()
        try #require(
            baseline.ok && baseline.opened == 3300, "check before any kill: \(baseline.opened) opened, \(baseline.problems.prefix(5))")
        var versions = baseline.opened
        print("crash-safety setup: 3000 secrets, 3300 versions, \(seconds(since: &phase)) s")

        /// After every kill: every ciphertext still opens (a data key destroyed early shows as a problem).
        func expectAllOpen(_ when: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let c = try vault.check()
            #expect(
                c.ok && c.status == 0, "check after \(when) (exit \(c.status)): \(c.problems.count) problem(s): \(c.problems.prefix(5))",
                sourceLocation: sourceLocation)
            #expect(
                c.opened == versions, "check after \(when) opened \(c.opened) secret versions, expected \(versions)",
                sourceLocation: sourceLocation)
        }

        /// The data keys: one, or two while a rotation job is pending; the newest is active.
        func keyState(_ when: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (keys: [Int], active: Int) {
            let s = try vault.keyStatus()
            #expect(
                (1...2).contains(s.keys.count) && s.keys.last == s.active,
                "after \(when): data keys \(s.keys), active \(s.active)", sourceLocation: sourceLocation)
            return s
        }

        // MARK: Rotation: kill `rotate-data` / `resume` at random instants.
        var rotationKills = 0, killsLeavingJob = 0, rotationsStarted = 0, cleanResumes = 0, finishedBeforeKill = 0
        var reported: (target: Int, done: Int)? = nil  // re-sealing progress printed by a killed run
        var state = try keyState("setup")
        var step = 0
        while rotationKills < Self.rotationKillsWanted || state.keys.count == 1 {
            step += 1
            try #require(step < 400, "rotation loop did not reach \(Self.rotationKillsWanted) kills")
            let pending = state.keys.count == 2
            let killIt = !pending || Bool.random(using: &rng)
            let verb = pending ? "resume" : "rotate-data"
            if !pending { rotationsStarted += 1 }
            let target = pending ? state.active : state.active + 1
            let child = try vault.spawn(["key", verb, "--batch", "50", "--json"])
            if killIt {
                usleep(UInt32(Int.random(in: 5...400, using: &rng)) * 1000)
                child.kill()
            }
            let killed = child.wait()
            let lines = child.progress("re-sealing:")
            // Progress is printed after each batch commits: what a killed run reported must still be there.
            if pending, let r = reported, r.target == target, let first = lines.first {
                #expect(
                    first.done >= r.done,
                    "resume of data key \(target) starts at \(first.done) but \(r.done) were reported re-sealed before the kill")
            }
            if killed {
                rotationKills += 1
            } else {
                #expect(child.exitStatus == 0, "key \(verb) exited \(child.exitStatus): \(child.stderr.suffix(300))")
                if killIt { finishedBeforeKill += 1 } else { cleanResumes += 1 }
            }
            // The last progress line comes after the finishing transaction (the one before it after the last batch).
            let done = !killed || child.stdout.contains("active_data_key") || lines.filter { $0.done == $0.total }.count >= 2
            state = try keyState("key \(verb) (\(killed ? "killed" : "finished"))")
            if done {
                #expect(state.keys == [target], "after a finished rotation to \(target): data keys \(state.keys)")
                reported = nil
            } else {
                if !lines.isEmpty {
                    #expect(state.active == target, "a killed run reported progress on data key \(target) but \(state.active) is active")
                }
                if state.keys.count == 2 {
                    killsLeavingJob += 1
                    reported = (state.active, max(lines.last?.done ?? 0, reported?.target == state.active ? reported!.done : 0))
                } else {
                    reported = nil
                }
            }
            if killed { try expectAllOpen("kill #\(rotationKills) of key \(verb)") }
        }
        print(
            "crash-safety rotation: \(rotationKills) kills (\(killsLeavingJob) left a job pending), \(rotationsStarted) rotations started, "
                + "\(cleanResumes) uninterrupted resumes, \(finishedBeforeKill) finished before the kill, \(seconds(since: &phase)) s")

        // A rotation job is pending here (the loop ends on one). The commands that report it
        // leave it alone; any other command of a key manager (the next open) finishes it.
        let status = try vault.run(["key", "status", "--json"])
        let interrupted =
            (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["interrupted_rotation"] as? [String: Any]
        #expect(interrupted?["to"] as? Int == state.active, "key status --json: \(status.stdout.prefix(300))")
        let checked = try vault.run(["check", "--json"])
        let warnings =
            (try? JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [String: Any])?["warnings"] as? [[String: Any]]
        #expect(
            warnings?.contains { $0["area"] as? String == "rotation" } == true,
            "check --json names the interrupted rotation: \(checked.stdout.prefix(400))")
        #expect(try vault.keyStatus().keys.count == 2, "key status and check must not finish the job")

        // MARK: Import: kill `import --on-existing skip` at random instants, re-run it.
        // The first import run (a key manager's next open) finishes the pending rotation before it
        // imports, and may itself be killed while doing so; the next run goes on from there.
        var importKills = 0, rounds = 0, earlyKills = 0
        var importRuns = 0
        // After five runs in a row killed before they wrote anything, doubled at each further one,
        // and back to 1 once one writes: on a loaded machine the login and the skipping can take
        // longer than the early delays. Halved by a run that finished unkilled (a quiet machine).
        var patience = 1.0, barren = 0
        while importKills < Self.importKillsWanted {
            rounds += 1
            try #require(rounds <= 60, "import rounds did not reach \(Self.importKillsWanted) kills")
            let prefix = "imported/round\(rounds)/"
            let entries = (0..<2000).map { (name: prefix + String(format: "s%05d", $0), value: FaultData.value(&rng)) }
            let file = vault.scratch.file("import-\(rounds).json")
            try #require(
                FileManager.default.createFile(atPath: file, contents: try FaultData.json(entries), attributes: [.posixPermissions: 0o600]))
            defer { try? FileManager.default.removeItem(atPath: file) }
            var committed = 0
            while true {
                importRuns += 1
                try #require(importRuns < 200, "the import never finished")
                let child = try vault.spawn(["import", "--format", "json", "--on-existing", "skip", "--batch", "50", file])
                // Mostly: a random delay after the run has skipped what is already there (so it is
                // writing); sometimes from the start (while reading, logging in, or skipping).
                let early = committed == 0 || Int.random(in: 0..<4, using: &rng) == 0
                // From the start: long enough to reach the writing sometimes. After progress: short,
                // since a streaming import of 2,000 entries finishes in well under a second.
                let delay =
                    early
                    ? Double(Int.random(in: 5...400, using: &rng)) * patience
                    : Double(Int.random(in: 1...60, using: &rng)) * min(patience, 1)
                var from: Double? = early ? 0 : nil
                while child.isRunning {
                    if from == nil, child.progress("imported").contains(where: { $0.done >= committed }) { from = child.elapsedMs }
                    if let f = from, child.elapsedMs >= f + delay { child.kill(); break }
                    usleep(2000)
                }
                let killed = child.wait()
                let printed = child.progress("imported").map(\.done).max() ?? 0
                let present = Set(try vault.names(prefix: prefix))
                // Each batch is one transaction: what is there is a whole number of batches from the start of the file.
                let count = present.count
                #expect(
                    count % 50 == 0 && present == Set(entries.prefix(count).map(\.name)),
                    "after an import run: \(count) of round \(rounds) present, not the first whole batches of the file")
                #expect(count >= printed, "import reported \(printed) done but only \(count) are present")
                #expect(count >= committed, "secrets disappeared: \(committed) were present, now \(count)")
                versions += count - committed
                if killed {
                    importKills += 1
                    if count == committed {
                        earlyKills += 1
                        barren += 1
                        if barren >= 5 { patience = min(patience * 2, 64) }
                    } else {
                        (patience, barren) = (1, 0)
                    }
                    committed = count
                    continue
                }
                // A run that finished before its kill: the delays are too long for this machine (a
                // quiet one imports 2,000 entries in a fraction of a second), so shorten them.
                (patience, barren) = (max(patience / 2, 1.0 / 16), 0)
                #expect(child.exitStatus == 0, "import exited \(child.exitStatus): \(child.stderr.suffix(300))")
                #expect(count == entries.count, "import finished with \(count) of \(entries.count) present")
                #expect(
                    child.stdout.contains(
                        "Imported: \(entries.count - committed) created, 0 updated, 0 unchanged (same value: no new version), \(committed) skipped"
                    ),
                    "import summary after \(committed) were already there: \(child.stdout.prefix(200))")
                for e in entries { expected[e.name] = e.value }
                break
            }
            try expectAllOpen("import round \(rounds)")
        }
        print(
            "crash-safety import: \(importKills) kills (\(earlyKills) before any new batch committed) over \(rounds) file(s) of 2000, "
                + "\(importRuns) runs, \(seconds(since: &phase)) s")

        // MARK: Final: the interrupted rotation was finished by the imports; rotate once more, compare every value.
        #expect(try vault.keyStatus().keys.count == 1, "the import runs (the next opens) did not finish the interrupted rotation")
        let last = try vault.run(["key", "rotate-data", "--json"])
        #expect(last.status == 0, "final rotate-data exited \(last.status): \(last.stderr.suffix(300))")
        let resealed = (try? JSONSerialization.jsonObject(with: Data(last.stdout.utf8)) as? [String: Any])?["resealed"] as? Int
        #expect(resealed == versions, "final rotation re-sealed \(resealed.map(String.init) ?? "?") versions, expected \(versions)")
        let final = try vault.keyStatus()
        #expect(final.keys.count == 1 && final.keys == [final.active], "at the end: data keys \(final.keys), active \(final.active)")
        try expectAllOpen("the final rotation")

        let exported = try vault.exportAll()
        #expect(exported.count == expected.count, "export holds \(exported.count) secrets, expected \(expected.count)")
        #expect(Set(exported.map(\.name)).count == exported.count, "export names a secret twice")
        var wrong = 0, missing = 0
        var seen = Set<String>()
        for e in exported {
            seen.insert(e.name)
            guard let want = expected[e.name] else { missing += 1; continue }
            if want != e.value {
                wrong += 1;
                if wrong <= 5 { Issue.record("\(e.name): \(e.value.count) bytes exported, expected \(want.count) bytes other than these") }
            }
        }
        let absent = expected.keys.filter { !seen.contains($0) }.count
        #expect(
            wrong == 0 && missing == 0 && absent == 0,
            "values: \(wrong) differ, \(missing) unexpected names, \(absent) secrets not exported (of \(expected.count))")

        let audit = try vault.run(["audit", "verify"])
        #expect(audit.status == 0, "audit verify exited \(audit.status): \(audit.stderr.suffix(300))")
        print(
            "crash-safety: \(rotationKills + importKills) kills in all, \(expected.count) secrets (\(versions) versions) verified, "
                + String(format: "%.0f s", Date().timeIntervalSince(clock)))
    }
}
