import Foundation
import Synchronization
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

/// One owner at a time: a late process never destroys the active
/// data key or lowers the minimum, and a rotation another process owns is refused.
@Suite struct RotationOwnerTests {
    /// `n` secrets with distinct values; name -> value.
    static func populate(_ s: Session, _ n: Int) throws -> [String: String] {
        var values: [String: String] = [:]
        for i in 0..<n {
            let name = "owner/\(i)", value = "owner-value-\(i)-\(UUID().uuidString)"
            try s.createSecret(name, .value(pw(value)))
            values[name] = value
        }
        return values
    }

    static func minimum(_ f: Fixture) throws -> Int64 {
        try f.vault.store.unsafeQuery("SELECT min_decrypt_version FROM vault")[0]["min_decrypt_version"] as? Int64 ?? -1
    }

    static func keyVersions(_ f: Fixture) throws -> [Int64] {
        try f.vault.store.unsafeQuery("SELECT version FROM data_keys ORDER BY version").compactMap { $0["version"] as? Int64 }
    }

    /// Afterwards, whatever happened: the next key manager finishes any job, every secret
    /// opens to its value, the active key is the newest and at or above the minimum,
    /// `check` is clean, and a new secret can be written and read.
    static func expectHealthy(_ f: Fixture, _ values: [String: String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let s = try f.login("admin", adminPassword)
        do { _ = try s.resumeInterruptedRotation(batchSize: 20) } catch {
            Issue.record("finishing the pending job failed: \(error)", sourceLocation: sourceLocation)
        }
        let status = try s.keyStatus()
        #expect(
            status.activeDataKey > 0 && status.activeDataKey == status.dataKeyVersions.max(),
            "data keys \(status.dataKeyVersions), active \(status.activeDataKey)", sourceLocation: sourceLocation)
        #expect(
            status.minDecryptVersion <= status.activeDataKey, "minimum \(status.minDecryptVersion) above the active key",
            sourceLocation: sourceLocation)
        #expect(status.problems.isEmpty, "key status: \(status.problems)", sourceLocation: sourceLocation)
        var wrong = 0
        for (name, value) in values where (try? s.reveal(name).utf8String()) != value { wrong += 1 }
        #expect(wrong == 0, "\(wrong) of \(values.count) secrets did not open to their value", sourceLocation: sourceLocation)
        let check = try s.check()
        #expect(check.ok, "check: \(check.problems.prefix(5))", sourceLocation: sourceLocation)
        do {
            try s.createSecret("after/\(UUID().uuidString)", .value(pw("written after the race")))
        } catch {
            Issue.record("writing a secret afterwards failed: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// What `other` did while `late` was held, in order.
    final class Log: Sendable {
        let entries = Mutex<[String]>([])
        func add(_ what: String, _ body: () throws -> Void) {
            do { try body(); entries.withLock { $0.append("\(what): done") } } catch let e as KeyholdError {
                entries.withLock { $0.append("\(what): \(e)") }
            } catch is InjectedFault { entries.withLock { $0.append("\(what): injected fault") } } catch {
                entries.withLock { $0.append("\(what): \(error)") }
            }
        }
        var all: [String] { entries.withLock { $0 } }
    }

    /// The issue's reproduction, without any timing race: a key manager's session joins an
    /// interrupted rotation (reads the job) and is held before its next transaction; meanwhile
    /// another finishes that job, runs a whole rotation, and starts the next one (interrupted
    /// before its first batch). Then the held one goes on. Before the lease, it deleted the
    /// new active key and lowered the minimum; now the others are refused while it owns the job.
    @Test func aSessionHeldInsideARotationKeepsTheOthersOut() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        let values = try Self.populate(f.admin, 60)
        faults.arm(3)  // start and one batch commit; the second batch fails: an interrupted job
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 20) }
        let late = try f.login("admin", adminPassword)
        let other = try f.login("admin", adminPassword)
        let log = Log()
        let once = Mutex(false)
        let lateResult = Result {
            try late.resumeRotation(batchSize: 20) { _, _ in
                guard
                    once.withLock({ done in
                        defer { done = true }; return !done
                    })
                else { return }
                log.add("resume") { _ = try other.resumeRotation(batchSize: 20) }
                log.add("rotate") { _ = try other.rotateDataKey(batchSize: 20) }
                faults.arm(2)  // the next rotation's start commits, its first batch fails
                log.add("rotate, interrupted") { _ = try other.rotateDataKey(batchSize: 20) }
                faults.arm(nil)
            }
        }
        try Self.expectHealthy(f, values)
        // While `late` owned the job, every attempt of the other session was refused, changing nothing.
        #expect(log.all.count == 3 && log.all.allSatisfy { $0.contains("rotation in progress") }, "\(log.all)")
        let r = try #require(try lateResult.get())
        #expect(r.targetVersion == 2 && r.destroyed == [1])
    }

    /// The lease is a lock on a file; someone deletes that file while a rotation owns it, so a
    /// second process gets a lease on a new file. The late one must still change nothing: each
    /// batch and the finish name their job and target in their own transaction.
    @Test func aLateProcessWhoseJobWasFinishedChangesNothing() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        let values = try Self.populate(f.admin, 60)
        faults.arm(3)
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 20) }
        let late = try f.login("admin", adminPassword)
        let other = try f.login("admin", adminPassword)
        let log = Log()
        let once = Mutex(false)
        let before = Mutex<(keys: [Int64], minimum: Int64)?>(nil)
        let lateResult = Result {
            try late.resumeRotation(batchSize: 20) { _, _ in
                guard
                    once.withLock({ done in
                        defer { done = true }; return !done
                    })
                else { return }
                unlink(f.vault.path + "-lock")
                log.add("resume") { _ = try other.resumeRotation(batchSize: 20) }
                log.add("rotate") { _ = try other.rotateDataKey(batchSize: 20) }
                faults.arm(2)
                log.add("rotate, interrupted") { _ = try other.rotateDataKey(batchSize: 20) }
                faults.arm(nil)
                before.withLock { $0 = ((try? Self.keyVersions(f)) ?? [], (try? Self.minimum(f)) ?? -1) }
            }
        }
        let seen = try #require(before.withLock { $0 })
        #expect(log.all == ["resume: done", "rotate: done", "rotate, interrupted: injected fault"], "\(log.all)")
        #expect(seen.keys == [3, 4] && seen.minimum == 3, "the other process's state: keys \(seen.keys), minimum \(seen.minimum)")
        // The late one stopped at its first transaction: the next job's key and the minimum are as the other left them.
        #expect(throws: KeyholdError.rotationSuperseded(jobID: 1)) { try lateResult.get() }
        #expect(try Self.keyVersions(f) == seen.keys, "the late process destroyed a data key")
        #expect(try Self.minimum(f) == seen.minimum, "the late process moved the minimum decryption version")
        try Self.expectHealthy(f, values)
        #expect(try Self.minimum(f) == 4)
    }

    /// While one session rotates (held between two batches), everything else that would
    /// touch the job is refused with "rotation in progress", or waits with `wait`; the
    /// job shows as running, not as interrupted. (The limit catches a wait that never returns; it is
    /// generous because a loaded 2-core machine runs the whole suite several times slower.)
    @Test(.timeLimit(.minutes(10)))
    func aRotationOwnedElsewhereIsRefusedOrWaitedFor() throws {
        let f = try Fixture()
        let values = try Self.populate(f.admin, 40)
        let other = try f.login("admin", adminPassword)
        let log = Log()
        let once = Mutex(false)
        let waited = Mutex<Result<RotationResult, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let seen = Mutex<(RotationState?, [CheckWarning])>((nil, []))
        let first = try f.admin.rotateDataKey(batchSize: 10) { _, _ in
            guard
                once.withLock({ done in
                    defer { done = true }; return !done
                })
            else { return }
            log.add("rotate") { _ = try other.rotateDataKey(batchSize: 10) }
            log.add("resume") { _ = try other.resumeRotation(batchSize: 10) }
            log.add("at login") { _ = try other.resumeInterruptedRotation(batchSize: 10) }
            seen.withLock { $0 = ((try? other.pendingRotation()) ?? nil, (try? other.check().warnings) ?? []) }
            // With `wait`, the other one blocks until this rotation has ended, then makes its own.
            Thread.detachNewThread {
                let result = Result { try other.rotateDataKey(batchSize: 10, wait: true) }
                waited.withLock { $0 = result }
                done.signal()
            }
            usleep(300_000)
            #expect(waited.withLock { $0 } == nil, "a waiting rotation ran while another owned the lease")
        }
        done.wait()
        #expect(
            log.all.count == 3
                && log.all.allSatisfy { $0.contains("rotation in progress: another process is running the data-key rotation to key 2") },
            "\(log.all)")
        let (pending, warnings) = seen.withLock { $0 }
        #expect(pending?.leaseHeld == true && pending?.targetVersion == 2)
        #expect(warnings.contains { $0.area == "rotation" && $0.message.contains("is running in another process") }, "\(warnings)")
        #expect(first.targetVersion == 2 && first.destroyed == [1] && first.resealed == 40)
        let second = try #require(try waited.withLock { $0 }?.get())
        #expect(second.targetVersion == 3 && second.destroyed == [2] && second.resealed == 40)
        #expect(try f.admin.pendingRotation() == nil)
        try Self.expectHealthy(f, values)
    }

    /// An interrupted job (its owner gone) reads as interrupted, and `resume --wait` with
    /// nobody holding the lease just finishes it.
    @Test func anInterruptedJobIsNotHeldAndResumes() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        let values = try Self.populate(f.admin, 30)
        faults.arm(2)
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 10) }
        let pending = try #require(try f.admin.pendingRotation())
        #expect(!pending.leaseHeld, "the lease went with the failed call")
        #expect(try f.admin.keyStatus().rotation?.leaseHeld == false)
        let result = try #require(try f.admin.resumeRotation(batchSize: 10, wait: true))
        #expect(result.resealed == 30 && result.destroyed == [1])
        try Self.expectHealthy(f, values)
    }

    /// The store's own statements refuse to destroy the active key or a key in use,
    /// and to lower the minimum or raise it above the active key.
    @Test func theStoreNeverDeletesTheActiveOrAUsedKeyNorLowersTheMinimum() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        _ = try Self.populate(f.admin, 25)
        // Fresh vault: key 1 active, minimum 1.
        let fresh = try f.vault.store.write { tx -> [Bool] in
            [try tx.deleteUnusedDataKey(version: 1), try tx.raiseMinDecryptVersion(to: 2)]
        }
        #expect(fresh == [false, false], "deleted the active key, or raised the minimum above it")
        faults.arm(2)  // a job to key 2 with its first batch not committed: key 1 in use, key 2 active
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 10, raiseMinimum: false) }
        let pending = try f.vault.store.write { tx -> [Bool] in
            [
                try tx.deleteUnusedDataKey(version: 1),  // a key 25 versions use
                try tx.deleteUnusedDataKey(version: 2),  // the active key, though no version uses it yet
                try tx.countVersions(keyVersion: 1) == 25 && tx.countVersions(keyVersion: 2) == 0,
                try tx.raiseMinDecryptVersion(to: 2),
                try tx.raiseMinDecryptVersion(to: 1),  // lowering
                try tx.raiseMinDecryptVersion(to: 3)
            ]  // above the active key
        }
        #expect(pending == [false, false, true, true, false, false])
        #expect(try Self.keyVersions(f) == [1, 2] && Self.minimum(f) == 2)
        // Put the minimum back so that the job can read key 1 and finish; the finish then raises nothing twice.
        try f.vault.store.unsafeExecute("UPDATE vault SET min_decrypt_version = 1")
        let r = try #require(try f.login("admin", adminPassword).resumeRotation(batchSize: 10))
        #expect(try r.destroyed == [1] && Self.minimum(f) == 1, "raise_minimum was off for this job")
    }

    /// The finish counts, in its own transaction, the versions under each old key: a key
    /// some version still uses stays, whatever the job believed.
    @Test func theFinishKeepsAKeyAVersionStillUses() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        _ = try Self.populate(f.admin, 20)
        faults.arm(2)
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 10) }
        // A decrypt-only key newer than the job's target, used by one version (the job's query never moves it).
        let sealed = try f.vault.store.unsafeQuery("SELECT sealed FROM data_keys WHERE version = 2")[0]["sealed"]!! as! [UInt8]
        try f.vault.store.unsafeExecute(
            "INSERT INTO data_keys (version, sealed, state, created_at) VALUES (5, ?, 'decrypt-only', 0)",
            arguments: [sealed])
        try f.vault.store.unsafeExecute(
            "UPDATE secret_versions SET key_version = 5 WHERE secret_id = (SELECT min(secret_id) FROM secret_versions)")
        let r = try #require(try f.login("admin", adminPassword).resumeRotation(batchSize: 10))
        #expect(r.destroyed == [1], "destroyed \(r.destroyed)")
        #expect(try Self.keyVersions(f) == [2, 5])
    }

    /// `check` and `key status` name the versions whose data key is missing or below the
    /// minimum, and a vault with no active data key, from the rows alone.
    @Test func checkNamesVersionsWithoutTheirKeyAndAVaultWithoutAnActiveKey() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        _ = try Self.populate(f.admin, 30)
        faults.arm(2)  // key 2 active, all 30 versions still under key 1
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 10) }
        #expect(try f.admin.check().ok)
        #expect(try f.vault.store.read { try $0.keyVersionsInUse() } == [1])
        try f.vault.store.unsafeExecute(
            "UPDATE secret_versions SET key_version = 2 WHERE secret_id = (SELECT max(secret_id) FROM secret_versions)")
        #expect(try f.vault.store.read { try $0.keyVersionsInUse() } == [1, 2])
        try f.vault.store.unsafeExecute("UPDATE secret_versions SET key_version = 1")
        // The minimum raised over versions that still use key 1 (as a stale finish did).
        try f.vault.store.unsafeExecute("UPDATE vault SET min_decrypt_version = 2")
        let below = try f.admin.check()
        #expect(!below.ok)
        let rows = below.problems.filter { $0.location.hasPrefix("secret_versions secret_id=") }
        #expect(rows.count == Session.keyProblemRowsNamed, "\(below.problems.count) problems")
        #expect(
            rows.allSatisfy {
                $0.area == "data keys" && $0.message == "sealed under data key 1 is below the vault's minimum decryption version 2"
            })
        #expect(
            below.problems.contains {
                $0.location == "secret_versions key_version=1"
                    && $0.message.hasPrefix("\(30 - Session.keyProblemRowsNamed) more secret version(s)")
            })
        #expect(below.problems.count == Session.keyProblemRowsNamed + 1, "each row named once, not again as 'does not open'")
        #expect(try f.admin.keyStatus().problems == below.problems)
        // Key 1 deleted outright (foreign keys off, as someone with the file could): named as missing.
        try f.vault.store.unsafeExecute("UPDATE vault SET min_decrypt_version = 1")
        try f.vault.store.unsafeExecute("PRAGMA foreign_keys = OFF; DELETE FROM data_keys WHERE version = 1")
        let missing = try f.admin.check()
        #expect(
            missing.problems.contains {
                $0.location.hasPrefix("secret_versions secret_id=") && $0.message == "sealed under data key 1 is missing"
            }, "\(missing.problems.prefix(3))")
        // No active key at all, and the running job's target gone.
        try f.vault.store.unsafeExecute("PRAGMA foreign_keys = OFF; DELETE FROM data_keys WHERE version = 2")
        let none = try f.login("admin", adminPassword)
        let report = try none.check()
        #expect(report.problems.contains { $0.location == "data_keys" && $0.message.hasPrefix("no data key is active") })
        #expect(
            report.problems.contains { $0.location.hasPrefix("rotation_jobs id=") && $0.message.contains("target data key 2 is missing") })
        // Without secrets.read or a key: the same structural problems (no key is needed to see them).
        let helpdesk = try f.user("hana", roles: ["helpdesk"])
        let partial = try helpdesk.check()
        #expect(partial.problems.contains { $0.location == "data_keys" })
    }
}
