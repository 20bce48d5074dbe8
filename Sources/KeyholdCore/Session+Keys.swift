import Foundation
import KeyholdCrypto
import KeyholdStore

/// What a data-key rotation did.
public struct RotationResult: Sendable, Equatable {
    /// The new active data key.
    public var targetVersion: Int
    /// Secret versions re-sealed by this run (a resumed job counts only what it did).
    public var resealed: Int
    /// Data key versions destroyed once no secret used them.
    public var destroyed: [Int]
    /// Whether the WAL was checkpointed after the keys were destroyed.
    public var checkpointed: Bool

    public init(targetVersion: Int, resealed: Int, destroyed: [Int], checkpointed: Bool) {
        self.targetVersion = targetVersion; self.resealed = resealed; self.destroyed = destroyed; self.checkpointed = checkpointed
    }
}

/// A rotation job in progress.
public struct RotationState: Sendable, Equatable {
    public var targetVersion: Int
    public var total: Int
    public var remaining: Int
    public var startedAt: Int64
    /// Whether a process (this one or another) holds the job's lease now: the job is
    /// running there. False once its owner died or stopped: the job was interrupted.
    public var leaseHeld: Bool = false
}

extension Session {
    /// A data-key rotation that was started and not finished (running elsewhere, or
    /// killed or interrupted), if any.
    public func pendingRotation() throws -> RotationState? {
        let state = try read(requires: nil, action: "key.status") { tx, _ in
            try tx.runningRotation().map { job in
                RotationState(targetVersion: job.targetVersion, total: job.total,
                              remaining: try tx.countVersionsBelow(keyVersion: job.targetVersion), startedAt: job.startedAt)
            }
        }
        guard var state else { return nil }
        state.leaseHeld = rotationLeaseHeld()
        return state
    }

    /// Whether another open of the lock file holds the rotation lease now (for reports only:
    /// a lock file that cannot be opened reads as free; taking the lease would say why).
    func rotationLeaseHeld() -> Bool {
        guard let lock = try? OwnerLock(vaultPath: vault.path) else { return false }
        return (try? lock.isHeldElsewhere(.rotation)) ?? false
    }

    /// Runs `body` holding the rotation lease (DESIGN section 3, one owner at a time):
    /// byte 0 of the vault's lock file, locked exclusive by this call's own open of
    /// the file, so the lease dies with the process and two sessions of one process
    /// exclude each other too. Held by someone else: waits for it with `wait`, else
    /// throws `rotationInProgress` at once.
    func withRotationLease<T>(wait: Bool, _ body: () throws -> T) throws -> T {
        let lock = try Vault.wrap { try OwnerLock(vaultPath: vault.path) }
        if wait {
            try Vault.wrap { try lock.lock(.rotation, .exclusive) }
        } else if !(try Vault.wrap { try lock.tryLock(.rotation, .exclusive) }) {
            let job = try? read(requires: nil, action: "key.status") { tx, _ in try tx.runningRotation() }
            let what = (job ?? nil).map { "another process is running the data-key rotation to key \($0.targetVersion) (job \($0.id))" }
                ?? "another process is starting or finishing a data-key rotation"
            throw KeyholdError.rotationInProgress(what + "; try again when it has finished")
        }
        // Closing the lock file (when `lock` goes) releases the lease as well; this says when.
        defer { try? lock.unlock(.rotation) }
        return try body()
    }

    /// Makes a new data key active and re-seals every secret version still
    /// under an older one, `batchSize` rows per transaction (each with one
    /// audit event). Killed at any point, `resumeRotation` finishes the job.
    /// Old keys are destroyed once nothing uses them; with `raiseMinimum`,
    /// versions below the new key are refused from then on.
    ///
    /// The whole job runs holding the rotation lease: if another process holds it,
    /// this throws `rotationInProgress`, or with `wait` waits for it first.
    @discardableResult
    public func rotateDataKey(batchSize: Int = Session.defaultBatchSize, raiseMinimum: Bool = true, wait: Bool = false,
                              progress: ProgressHandler? = nil) throws -> RotationResult {
        let root = try requireRoot(for: .keysManage)
        return try withRotationLease(wait: wait) {
            let job = try perform("key.rotate-data", target: "data-key", requires: .keysManage) { op -> RotationJobRow in
                if try op.tx.runningRotation() != nil {
                    throw KeyholdError.conflict("a data-key rotation was interrupted; finish it with `keyhold key resume` first")
                }
                let keys = try op.tx.dataKeys()
                let previous = keys.first { $0.active }?.version ?? 0
                let version = (keys.map(\.version).max() ?? 0) + 1
                let fresh = SecureBytes(random: 32)
                try op.tx.insertDataKey(DataKeyRow(version: version, sealed: try Seal.seal(fresh, key: root, aad: Keyring.dataKeyAAD(version)),
                                                   active: false, createdAt: op.now))
                try op.tx.setActiveDataKey(version: version)
                // Not cached here: if this transaction does not commit, a cached key would be used for
                // the version another session creates next. `dataKey` loads it once committed.
                let total = try op.tx.countVersionsBelow(keyVersion: version)
                var job = RotationJobRow(targetVersion: version, running: true, total: total, raiseMinimum: raiseMinimum,
                                         startedAt: op.now, startedBy: userID)
                job.id = try op.tx.insertRotationJob(job)
                op.details = ["from": .int(Int64(previous)), "to": .int(Int64(version)), "total": .int(Int64(total))]
                return job
            }
            return try runRotation(job, batchSize: batchSize, progress: progress)
        }
    }

    /// What the next open does with an interrupted rotation: finishes it when
    /// this session may (it holds keys.manage and the root key); nil when there
    /// is nothing to resume or the session may not. The job waits for a key
    /// manager otherwise; secrets still open meanwhile (old keys decrypt).
    /// Throws `rotationInProgress` when another process owns the job (it is
    /// running there, not interrupted), and `rotationSuperseded` when another
    /// process finished it meanwhile: callers at login report both and go on.
    @discardableResult
    public func resumeInterruptedRotation(batchSize: Int = Session.defaultBatchSize,
                                          progress: ProgressHandler? = nil) throws -> RotationResult? {
        guard hasKeyAccess, try permissions().contains(.keysManage), try pendingRotation() != nil else { return nil }
        return try resumeRotation(batchSize: batchSize, progress: progress)
    }

    /// Finishes a rotation that was interrupted; nil when none is pending. Holds the
    /// rotation lease throughout: if another process holds it (the job is running
    /// there), throws `rotationInProgress`, or with `wait` waits for it and then
    /// finishes whatever is left (nil if that process finished the job).
    @discardableResult
    public func resumeRotation(batchSize: Int = Session.defaultBatchSize, wait: Bool = false,
                               progress: ProgressHandler? = nil) throws -> RotationResult? {
        _ = try requireRoot(for: .keysManage)
        return try withRotationLease(wait: wait) {
            // Read under the lease: no other process moves the job while we hold it.
            guard let job = try read(requires: .keysManage, action: "key.resume", { tx, _ in try tx.runningRotation() }) else {
                return nil
            }
            return try runRotation(job, batchSize: batchSize, progress: progress)
        }
    }

    /// Re-seals the job's remaining versions batch by batch, then finishes it; the caller holds the lease.
    ///
    /// Every transaction first checks that `job` is still the running job and that its
    /// target is still the active data key; else it changes nothing and throws
    /// `rotationSuperseded` (a process that lost its lease, e.g. to a deleted lock
    /// file, and woke up late). The transaction that finds nothing left under an
    /// older key is the finish: old keys that no version uses (counted in that same
    /// transaction) are destroyed, never the active one; the minimum decryption
    /// version is only raised, never above the active key; the job is marked done.
    private func runRotation(_ job: RotationJobRow, batchSize: Int, progress: ProgressHandler?) throws -> RotationResult {
        let target = job.targetVersion
        let resealers = [Resealer(capacity: Validate.secretValueMaxBytes), Resealer(capacity: Validate.secretValueMaxBytes)]
        var resealed = 0
        let alreadyDone = job.total - (try pendingRotation()?.remaining ?? 0)
        progress?(alreadyDone, job.total)
        var destroyed: [Int] = []
        while true {
            let count = try perform("key.rotate-data.batch", target: "data-key", requires: .keysManage) { op -> Int? in
                guard let running = try op.tx.runningRotation(), running.id == job.id,
                      try op.tx.activeDataKey()?.version == target else {
                    throw KeyholdError.rotationSuperseded(jobID: job.id)
                }
                let rows = try op.tx.versionsBelow(keyVersion: target, limit: max(1, batchSize))
                if rows.isEmpty {
                    destroyed = try finishRotation(&op, job)
                    return nil
                }
                let to = try dataKey(op.tx, version: target)
                var keys: [Int: SecureBytes] = [:]  // per batch: one lookup per key version, not per row
                for row in rows where keys[row.keyVersion] == nil { keys[row.keyVersion] = try dataKey(op.tx, version: row.keyVersion) }
                // Re-sealed on both cores, half each, into two buffers; then written in order.
                let split = ResealSplit(rows: rows, from: keys, to: to, target: target, resealers: resealers)
                try split.run()
                for (i, row) in rows.enumerated() {
                    try split.withSealed(i) { sealed in
                        try op.tx.resealVersion(secretID: row.secretID, version: row.version, keyVersion: target, ciphertext: sealed)
                    }
                }
                let ids = rows.map(\.secretID)
                op.details = ["job": .int(job.id), "to": .int(Int64(target)), "count": .int(Int64(rows.count)),
                              "digest": .string(AuditChain.digest(ids))]
                return rows.count
            }
            guard let count else { break }
            resealed += count
            progress?(min(alreadyDone + resealed, job.total), job.total)
        }
        dataKeys.withLock { cache in for v in destroyed { cache[v] = nil } }
        progress?(job.total, job.total)
        return RotationResult(targetVersion: target, resealed: resealed, destroyed: destroyed,
                              checkpointed: destroyed.isEmpty || lastCheckpoint.checkpointed)
    }

    /// The finishing transaction of `job` (checked by the caller to be the running job,
    /// its target active, nothing left under an older key). Returns the keys destroyed.
    private func finishRotation(_ op: inout Op, _ job: RotationJobRow) throws -> [Int] {
        op.action = "key.rotate-data.finish"
        var destroyed: [Int] = []
        for k in try op.tx.dataKeys() where !k.active && k.version != job.targetVersion {
            // Counted here, in the transaction that deletes: a key some version uses stays.
            guard try op.tx.countVersions(keyVersion: k.version) == 0 else { continue }
            if try op.tx.deleteUnusedDataKey(version: k.version) { destroyed.append(k.version) }
        }
        let raised = job.raiseMinimum ? try op.tx.raiseMinDecryptVersion(to: job.targetVersion) : false
        guard try op.tx.finishRotationJob(id: job.id, at: op.now) else { throw KeyholdError.rotationSuperseded(jobID: job.id) }
        op.securelyDeletes = !destroyed.isEmpty
        op.details = ["job": .int(job.id), "to": .int(Int64(job.targetVersion)), "destroyed": .strings(destroyed.map(String.init)),
                      "min_decrypt_version": .int(Int64(try op.tx.vault()?.minDecryptVersion ?? 0)), "raised_minimum": .bool(raised)]
        return destroyed
    }

    /// Replaces the root key R: every data key and every grant re-sealed and a
    /// new recovery key made, in one transaction. Returns the new recovery key
    /// (typeable text), to be shown once. Clears the revocation warning.
    public func rotateRootKey() throws -> SecureBytes {
        let old = try requireRoot(for: .keysManage)
        let fresh = SecureBytes(random: 32)
        let recovery = RecoveryKey.generate()
        let version = try perform("key.rotate-root", target: "root-key", requires: .keysManage) { op -> Int in
            for k in try op.tx.dataKeys() {
                let d = try Keyring.openDataKey(k, root: old)
                try op.tx.updateDataKeySealed(version: k.version, sealed: try Seal.seal(d, key: fresh, aad: Keyring.dataKeyAAD(k.version)))
            }
            var resealed: [String] = []
            for g in try op.tx.grants() where g.sealedRoot != nil {
                guard let keyID = g.keyID, let key = try op.tx.userKey(id: keyID) else { continue }
                try op.tx.putGrant(try Keyring.sealGrant(root: fresh, to: key, userID: g.userID, now: op.now))
                resealed.append(key.username)
            }
            try op.tx.setRecoverySealed(try Seal.seal(fresh, key: recovery, aad: Keyring.recoveryAAD))
            let v = try op.tx.vault()!
            try op.tx.setRootVersion(v.rootVersion + 1)
            try op.tx.setRevocationWarning(nil)
            op.securelyDeletes = true
            op.details = ["root_version": .int(Int64(v.rootVersion + 1)), "grants": .strings(resealed.sorted()),
                          "cleared_warning": .bool(v.revocationWarning != nil)]
            return v.rootVersion + 1
        }
        replaceRoot(fresh, version: version)
        return SecureBytes(utf8: RecoveryKey.encode(recovery))
    }
}

extension Vault {
    /// Regains access with the recovery key when every key holder is gone or
    /// locked out: the named user (who must hold roles.manage and keys.manage)
    /// gets a temporary password (returned once), a new key pair and R sealed
    /// to it, and is unlocked, enabled and un-expired. Audited as `vault.recover`.
    public func recover(recoveryKey text: String, username: String) throws -> SecureBytes {
        let recovery: SecureBytes
        do { recovery = try RecoveryKey.parse(text) } catch { throw KeyholdError.recoveryKey(error) }
        var temp: SecureBytes!
        try Vault.wrap {
            try store.write { tx in
                let now = clock.now()
                guard let v = try tx.vault() else { throw KeyholdError.store(.corrupt("the vault row is missing")) }
                let root = try Keyring.openRecovery(v.recoverySealed, recovery: recovery)
                guard var user = try tx.user(named: username) else { throw KeyholdError.notFound(kind: "user", name: username) }
                let perms = Set(names: try tx.permissions(ofUser: user.id))
                guard Permission.stewardship.isSubset(of: perms) else {
                    throw KeyholdError.refused("recovery restores an administrator: \(user.username) must hold roles.manage and keys.manage")
                }
                let cost = KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit)
                temp = Token.generate(length: Session.temporaryPasswordLength, alphabet: .alnum)
                if let old = user.keyID { try tx.retireUserKey(id: old, at: now) }
                user.passwordHash = try PasswordHash.hash(temp, cost: cost)
                user.mustChange = true
                user.passwordExpiresAt = now + v.tempPasswordTTL
                user.locked = false
                user.disabled = false
                user.expiresAt = nil
                user.failedLogins = 0
                user.lockedUntil = nil
                user.updatedAt = now
                let key = try Keyring.makeUserKey(tx, user: &user, password: temp, cost: cost, now: now)
                try tx.updateUser(user)
                try tx.putGrant(try Keyring.sealGrant(root: root, to: try tx.userKey(id: key.id)!, userID: user.id, now: now))
                try options.fault?(.beforeAudit)
                // No session exists: the event is signed with the recovered user's new key.
                try AuditChain.append(tx, at: now, actorID: nil, actorName: "recovery-key",
                                      signer: .init(keyID: key.id, keyPair: key.pair), action: "vault.recover",
                                      target: "user:\(user.username)", details: ["user": .string(user.username)])
                try options.fault?(.beforeCommit)
            }
        }
        _ = try? store.checkpointTruncate()
        return temp
    }
}

/// One batch of a rotation re-sealed on two threads: rows 0..<half by the first,
/// the rest by the second, each through its own resealer into its own buffer
/// (new ciphertexts are not secret; the plaintexts stay in each resealer's
/// guarded scratch). The writer then takes them in order.
final class ResealSplit: @unchecked Sendable {
    private final class Part {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        var failed: KeyholdError?
    }
    private let rows: [SecretVersionRow]
    private let from: [Int: SecureBytes]
    private let to: SecureBytes
    private let target: Int
    private let resealers: [Resealer]
    private let parts = [Part(), Part()]
    private var half: Int { rows.count / 2 }

    init(rows: [SecretVersionRow], from: [Int: SecureBytes], to: SecureBytes, target: Int, resealers: [Resealer]) {
        self.rows = rows; self.from = from; self.to = to; self.target = target; self.resealers = resealers
    }

    func run() throws {
        DispatchQueue.concurrentPerform(iterations: 2) { reseal(part: $0) }
        for part in parts { if let failed = part.failed { throw failed } }
    }

    /// The new ciphertext of row `index`, valid during `body`.
    func withSealed<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let part = parts[index < half ? 0 : 1]
        let k = index < half ? index : index - half
        let start = k == 0 ? 0 : part.ends[k - 1]
        return try part.bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<part.ends[k]])) }
    }

    private func reseal(part index: Int) {
        let part = parts[index], resealer = resealers[index]
        let range = index == 0 ? 0..<half : half..<rows.count
        part.bytes.reserveCapacity(rows[range].reduce(0) { $0 + $1.ciphertext.count })
        for row in rows[range] {
            do {
                guard let key = from[row.keyVersion] else { throw CryptoError.integrity }
                try row.ciphertext.withUnsafeBytes { ciphertext in
                    try Keyring.withSecretAAD(secretID: row.secretID, version: row.version, keyVersion: row.keyVersion) { fromAAD in
                        try Keyring.withSecretAAD(secretID: row.secretID, version: row.version, keyVersion: target) { toAAD in
                            try resealer.reseal(ciphertext, from: key, fromAAD: fromAAD, to: to, toAAD: toAAD) { sealed in
                                part.bytes.append(contentsOf: sealed)
                                part.ends.append(part.bytes.count)
                            }
                        }
                    }
                }
            } catch {
                part.failed = KeyholdError.integrity(
                    "secret_versions secret_id=\(row.secretID) version=\(row.version): does not open; rotation stopped (run `keyhold check`)")
                return
            }
        }
    }
}
