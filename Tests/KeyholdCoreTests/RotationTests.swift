import Foundation
import Synchronization
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdCrypto
import KeyholdStore

/// Fails the N-th operation that reaches `beforeCommit` (counting from 1), once.
final class CountdownFault: Sendable {
    private let remaining: Mutex<Int?>
    init(failAt n: Int?) { remaining = Mutex(n) }
    func arm(_ n: Int?) { remaining.withLock { $0 = n } }
    func reach(_ point: FaultPoint) throws {
        guard point == .beforeCommit else { return }
        let fire = remaining.withLock { r -> Bool in
            guard let n = r else { return false }
            if n <= 1 { r = nil; return true }
            r = n - 1
            return false
        }
        if fire { throw InjectedFault(point: point) }
    }
}

@Suite struct RotationTests {
    /// Creates `n` secrets with distinct values; returns name -> value.
    func populate(_ f: Fixture, _ n: Int) throws -> [String: String] {
        var values: [String: String] = [:]
        for i in 0..<n {
            let name = "svc/\(i)/token", value = "rotation-value-\(i)-\(UUID().uuidString)"
            try f.admin.createSecret(name, .value(pw(value)))
            values[name] = value
        }
        return values
    }

    func expectAllOpen(_ s: Session, _ values: [String: String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var wrong = 0
        for (name, value) in values where try s.reveal(name).utf8String() != value { wrong += 1 }
        #expect(wrong == 0, "\(wrong) secrets did not open to their value", sourceLocation: sourceLocation)
    }

    func keyVersions(_ f: Fixture) throws -> [Int64] {
        try f.vault.store.unsafeQuery("SELECT DISTINCT key_version FROM secret_versions ORDER BY 1").map { $0["key_version"] as! Int64 }
    }

    /// The batches walk the table in order; a version written under an older key behind the walk's
    /// place between two batches (no command does so: planted here) is still found through the
    /// key_version index and re-sealed, and the job does not finish before it is.
    @Test func aVersionUnderAnOldKeyBehindTheWalkIsStillResealed() throws {
        let f = try Fixture()
        let values = try populate(f, 60)
        let store = f.vault.store, admin = f.admin
        let planted = Mutex<String?>(nil)
        let result = try admin.rotateDataKey(batchSize: 10) { done, _ in
            guard done >= 30, planted.withLock({ $0 == nil }) else { return }
            do {
                // svc/0/token (secret 1, long passed) gets a version 2 under the old key 1, made current.
                try store.write { tx in
                    var secret = try #require(try tx.secret(named: "svc/0/token"))
                    let sealed = try Seal.seal(
                        try pw("planted behind the walk"), key: try admin.dataKey(tx, version: 1),
                        aad: Keyring.secretAAD(secretID: secret.id, version: 2, keyVersion: 1))
                    try tx.insertSecretVersion(
                        SecretVersionRow(secretID: secret.id, version: 2, keyVersion: 1, ciphertext: sealed, createdAt: 0, createdBy: nil))
                    secret.currentVersion = 2
                    secret.lastVersion = 2
                    try tx.updateSecret(secret)
                }
                planted.withLock { $0 = "planted" }
            } catch {
                planted.withLock { $0 = "planting failed: \(error)" }
            }
        }
        #expect(planted.withLock { $0 } == "planted")
        #expect(result.resealed == 61)
        #expect(result.destroyed == [1])
        #expect(try keyVersions(f) == [2])
        #expect(try f.admin.reveal("svc/0/token").utf8String() == "planted behind the walk")
        try expectAllOpen(f.admin, values.filter { $0.key != "svc/0/token" })
    }

    @Test func rotationResealsEverythingAndDestroysTheOldKey() throws {
        let f = try Fixture()
        let values = try populate(f, 120)
        try f.admin.addVersion("svc/0/token", .value(pw("second version of zero")))
        let progress = Mutex<[Int]>([])
        let result = try f.admin.rotateDataKey(batchSize: 25) { done, total in
            #expect(total == 121)
            progress.withLock { $0.append(done) }
        }
        #expect(result.targetVersion == 2)
        #expect(result.resealed == 121)
        #expect(result.destroyed == [1])
        #expect(result.checkpointed)
        let seen = progress.withLock { $0 }
        #expect(seen.first == 0 && seen.last == 121 && seen == seen.sorted())
        #expect(seen == [0, 25, 50, 75, 100, 121], "each batch once, the end once: \(seen)")
        #expect(try keyVersions(f) == [2])
        #expect(try f.admin.keyStatus().dataKeyVersions == [2])
        #expect(try f.admin.keyStatus().minDecryptVersion == 2)
        var expected = values
        expected["svc/0/token"] = "second version of zero"
        try expectAllOpen(try f.login("admin", adminPassword), expected)
        #expect(try f.admin.reveal("svc/0/token", version: 1).utf8String() == values["svc/0/token"])
        let batches = try f.admin.auditEvents(AuditQuery(action: "key.rotate-data.batch"))
        #expect(batches.count == 5)
        #expect(batches.allSatisfy { $0.details.contains("\"digest\":") && $0.signed })
        #expect(try f.admin.verifyAudit().ok)
        // New values go under the new key.
        try f.admin.createSecret("after/rotation", .value(pw("made after the rotation")))
        #expect(try keyVersions(f) == [2])
        // A second rotation finishes too (the first job's history does not hold key 2 back).
        let second = try f.admin.rotateDataKey(batchSize: 50)
        #expect(second.targetVersion == 3 && second.destroyed == [2] && second.resealed == 122)
        #expect(try f.admin.reveal("after/rotation").utf8String() == "made after the rotation")
    }

    @Test func anInterruptedRotationResumesAndLosesNothing() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        let values = try populate(f, 90)
        // start (1) + two batches (2, 3) commit; the third batch (4) fails.
        faults.arm(4)
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 20) }
        let pending = try #require(try f.admin.pendingRotation())
        #expect(pending.targetVersion == 2 && pending.total == 90 && pending.remaining == 50)
        #expect(try keyVersions(f) == [1, 2])
        #expect(try f.admin.keyStatus().dataKeyVersions == [1, 2], "no key is destroyed early")
        #expect(throws: KeyholdError.self) { try f.admin.rotateDataKey() }  // one job at a time
        // A new session (as after a restart) resumes it.
        let later = try f.login("admin", adminPassword)
        try expectAllOpen(later, values)
        let result = try #require(try later.resumeRotation(batchSize: 20))
        #expect(result.resealed == 50 && result.destroyed == [1])
        #expect(try later.pendingRotation() == nil)
        #expect(try later.resumeRotation() == nil)
        try expectAllOpen(later, values)
        #expect(try later.verifyAudit().ok)
    }

    @Test func theNextOpenByAKeyManagerFinishesAnInterruptedRotation() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        let values = try populate(f, 45)
        let auditor = try f.user("reader", roles: ["auditor"])
        faults.arm(3)  // start (1) and one batch (2) commit; the second batch fails
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 20) }
        #expect(try f.admin.pendingRotation()?.remaining == 25)
        // Without keys.manage: nothing happens, the job waits.
        #expect(try auditor.resumeInterruptedRotation() == nil)
        #expect(try keyVersions(f) == [1, 2])
        #expect(try f.admin.check().warnings.contains { $0.area == "rotation" && $0.message.contains("25 of 45") })
        // A key manager's next session finishes it, reporting from where it was.
        let later = try f.login("admin", adminPassword)
        let seen = Mutex<[Int]>([])
        let result = try #require(try later.resumeInterruptedRotation(batchSize: 20) { done, _ in seen.withLock { $0.append(done) } })
        #expect(result.targetVersion == 2 && result.resealed == 25 && result.destroyed == [1])
        #expect(seen.withLock { $0.first } == 20 && seen.withLock { $0.last } == 45)
        #expect(try later.pendingRotation() == nil && keyVersions(f) == [2])
        #expect(try later.resumeInterruptedRotation() == nil, "nothing left to finish")
        #expect(try !later.check().warnings.contains { $0.area == "rotation" })
        try expectAllOpen(later, values)
    }

    @Test func aVersionThatDoesNotOpenStopsTheRotationAndWritesNothingOfItsBatch() throws {
        let f = try Fixture()
        let values = try populate(f, 30)
        // Row 25 of 30: the writer has already updated the rows before it (in the transaction) when it fails.
        let row = try f.vault.store.unsafeQuery(
            "SELECT v.secret_id, s.name FROM secret_versions v JOIN secrets s ON s.id = v.secret_id ORDER BY v.secret_id LIMIT 1 OFFSET 25")[
                0]
        let victim = row["secret_id"] as! Int64, victimName = row["name"] as! String
        try f.vault.store.unsafeExecute("UPDATE secret_versions SET ciphertext = zeroblob(60) WHERE secret_id = ?", arguments: [victim])
        #expect(
            throws: KeyholdError.integrity(
                "secret_versions secret_id=\(victim) version=1: does not open; rotation stopped (run `keyhold check`)")
        ) {
            try f.admin.rotateDataKey(batchSize: 100)
        }
        #expect(try keyVersions(f) == [1], "nothing of the failed batch was written")
        // Everything else still opens under the old key.
        for (name, value) in values where name != victimName {
            #expect(try f.admin.reveal(name).utf8String() == value)
        }
    }

    @Test func aRotationThatDidNotCommitLeavesNoKeyBehindInTheSession() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        try f.admin.createSecret("a/one", .value(pw("first value")))
        let other = try f.login("admin", adminPassword)
        faults.arm(1)
        #expect(throws: InjectedFault.self) { try f.admin.rotateDataKey(batchSize: 10) }
        try other.rotateDataKey(batchSize: 10)
        try f.admin.createSecret("a/two", .value(pw("second value")))
        #expect(try f.login("admin", adminPassword).reveal("a/two").utf8String() == "second value")
    }

    @Test func versionsBelowTheMinimumAreRefusedEvenIfARowSurvives() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/key", .value(pw("under key one")))
        let oldKey = try f.vault.store.unsafeQuery("SELECT sealed FROM data_keys WHERE version = 1")[0]["sealed"]!! as! [UInt8]
        let oldRow = try f.vault.store.unsafeQuery("SELECT secret_id, ciphertext FROM secret_versions")[0]
        try f.admin.rotateDataKey()
        // Someone restores the destroyed key and the old ciphertext from an old copy.
        try f.vault.store.unsafeExecute(
            "INSERT INTO data_keys (version, sealed, state, created_at) VALUES (1, ?, 'decrypt-only', 0)",
            arguments: [oldKey])
        try f.vault.store.unsafeExecute(
            "UPDATE secret_versions SET key_version = 1, ciphertext = ? WHERE secret_id = ?",
            arguments: [oldRow["ciphertext"]!!, oldRow["secret_id"]!!])
        let fresh = try f.login("admin", adminPassword)
        do {
            _ = try fresh.reveal("app/key")
            Issue.record("a version under a key below the minimum opened")
        } catch let KeyholdError.integrity(message) {
            #expect(message.contains("minimum decryption version"))
        }
    }

    @Test func rootRotationResealsEverythingAndEndsOtherSessions() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/key", .value(pw("stays readable")))
        let operatorSession = try f.user("olivia", roles: ["operator"])
        _ = try f.user("harry", roles: ["helpdesk"])
        try f.admin.revokeRole("olivia", role: "operator")
        try f.admin.grantRole("olivia", role: "operator")
        #expect(try f.admin.keyStatus().revocationWarning != nil)
        let newKey = try f.admin.rotateRootKey().utf8String()!
        #expect(newKey != f.recoveryKey)
        #expect(try f.admin.keyStatus().revocationWarning == nil)
        #expect(try f.admin.keyStatus().rootVersion == 2)
        #expect(try f.admin.reveal("app/key").utf8String() == "stays readable")
        #expect(throws: KeyholdError.self) { try operatorSession.reveal("app/key") }
        let again = try f.login("olivia", userPassword)
        #expect(try again.reveal("app/key").utf8String() == "stays readable")
        // The new recovery key opens the vault, the old one no longer does.
        let sealed = try f.vault.store.unsafeQuery("SELECT recovery_sealed FROM vault")[0]["recovery_sealed"]!! as! [UInt8]
        #expect(throws: Never.self) { try Keyring.openRecovery(sealed, recovery: try RecoveryKey.parse(newKey)) }
        #expect(throws: KeyholdError.self) { try Keyring.openRecovery(sealed, recovery: try RecoveryKey.parse(f.recoveryKey)) }
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func recoveryRestoresAnAdministrator() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/key", .value(pw("still here")))
        // The only administrator forgets the password and locks themself out.
        for _ in 0..<8 { _ = try? f.vault.login(username: "admin", password: pw("forgotten password guess")) }
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "admin", password: pw(adminPassword)) }
        // A typo is caught and named; a valid key of another vault is refused.
        var typo = Array(f.recoveryKey)
        typo[4] = typo[4] == "A" ? "B" : "A"  // group 1's check symbol: always caught
        do { _ = try f.vault.recover(recoveryKey: String(typo), username: "admin"); Issue.record("typo accepted") } catch let
            KeyholdError.recoveryKey(e)
        { #expect(e == .check(group: 1)) }
        #expect(throws: KeyholdError.self) {
            try f.vault.recover(recoveryKey: RecoveryKey.encode(RecoveryKey.generate()), username: "admin")
        }
        _ = try f.user("harry", roles: ["helpdesk"])
        #expect(throws: KeyholdError.self) { try f.vault.recover(recoveryKey: f.recoveryKey, username: "harry") }
        let temp = try f.vault.recover(recoveryKey: f.recoveryKey, username: "admin")
        guard case .mustChangePassword(let change) = try f.vault.login(username: "admin", password: temp) else {
            Issue.record("expected a forced change"); return
        }
        let admin = try change.complete(newPassword: pw("a brand new steward passphrase"))
        #expect(try admin.reveal("app/key").utf8String() == "still here")
        let events = try admin.auditEvents(AuditQuery(action: "vault.recover"))
        #expect(events.count == 1 && events[0].signed && events[0].actor == "recovery-key")
        #expect(try admin.verifyAudit().ok)
    }

    @Test func passwordChangeResealsTheUserKeyInOneTransaction() throws {
        let faults = CountdownFault(failAt: nil)
        let f = try Fixture(fault: { try faults.reach($0) })
        func sealedKeys() throws -> [[UInt8]] {
            try f.vault.store.unsafeQuery("SELECT sealed_secret_key, kdf_salt FROM user_keys")
                .flatMap { [$0["sealed_secret_key"]!! as! [UInt8], $0["kdf_salt"]!! as! [UInt8]] }
        }
        let before = try sealedKeys()
        faults.arm(1)
        #expect(throws: InjectedFault.self) { try f.admin.changePassword(current: pw(adminPassword), new: pw("another long passphrase")) }
        let unchanged = try sealedKeys() == before
        #expect(unchanged, "a failed password change must leave the sealed key as it was")
        faults.arm(nil)
        try f.admin.changePassword(current: pw(adminPassword), new: pw("another long passphrase"))
        let changed = try sealedKeys() != before
        #expect(changed, "a password change re-seals the key")
        _ = try f.login("admin", "another long passphrase")
    }
}
