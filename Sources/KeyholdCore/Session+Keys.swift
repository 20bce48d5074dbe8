import Foundation
import KeyholdCrypto
import KeyholdStore

/// What a data-key rotation did.
public struct RotationResult: Sendable, Equatable, Codable {
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
public struct RotationState: Sendable, Equatable, Codable {
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
                RotationState(
                    targetVersion: job.targetVersion, total: job.total,
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

    /// Runs `body` holding the rotation lease (one owner at a time; docs/SECURITY.md, "Rotation"):
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
            let what =
                (job ?? nil).map { "another process is running the data-key rotation to key \($0.targetVersion) (job \($0.id))" }
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
    public func rotateDataKey(
        batchSize: Int = Session.defaultBatchSize, raiseMinimum: Bool = true, wait: Bool = false,
        progress: ProgressHandler? = nil
    ) throws -> RotationResult {
        let root = try requireRoot(for: .keysManage)
        return try withRotationLease(wait: wait) {
            let job = try perform(.keyRotateData, target: "data-key", requires: .keysManage) { op -> RotationJobRow in
                if try op.tx.runningRotation() != nil {
                    throw KeyholdError.conflict("a data-key rotation was interrupted; finish it with `keyhold key resume` first")
                }
                let keys = try op.tx.dataKeys()
                let previous = keys.first { $0.active }?.version ?? 0
                let version = (keys.map(\.version).max() ?? 0) + 1
                let fresh = try SecureBytes(random: 32)
                try op.tx.insertDataKey(
                    DataKeyRow(
                        version: version, sealed: try Seal.seal(fresh, key: root.key, aad: Keyring.dataKeyAAD(version)),
                        active: false, createdAt: op.now))
                try op.tx.setActiveDataKey(version: version)
                // Not cached here: if this transaction does not commit, a cached key would be used for
                // the version another session creates next. `dataKey` loads it once committed.
                let total = try op.tx.countVersionsBelow(keyVersion: version)
                var job = RotationJobRow(
                    targetVersion: version, running: true, total: total, raiseMinimum: raiseMinimum,
                    startedAt: op.now, startedBy: userID)
                job.id = try op.tx.insertRotationJob(job)
                op.details = ["from": .int(Int64(previous)), "to": .int(Int64(version)), "total": .int(Int64(total))]
                return job
            }
            // A new job: nothing of it is done yet (no need to count what is left).
            return try runRotation(job, batchSize: batchSize, alreadyDone: 0, progress: progress)
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
    public func resumeInterruptedRotation(
        batchSize: Int = Session.defaultBatchSize,
        progress: ProgressHandler? = nil
    ) throws -> RotationResult? {
        guard hasKeyAccess, try permissions().contains(.keysManage), try pendingRotation() != nil else { return nil }
        return try resumeRotation(batchSize: batchSize, progress: progress)
    }

    /// Finishes a rotation that was interrupted; nil when none is pending. Holds the
    /// rotation lease throughout: if another process holds it (the job is running
    /// there), throws `rotationInProgress`, or with `wait` waits for it and then
    /// finishes whatever is left (nil if that process finished the job).
    @discardableResult
    public func resumeRotation(
        batchSize: Int = Session.defaultBatchSize, wait: Bool = false,
        progress: ProgressHandler? = nil
    ) throws -> RotationResult? {
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
    private func runRotation(
        _ job: RotationJobRow, batchSize: Int, alreadyDone known: Int? = nil,
        progress: ProgressHandler?
    ) throws -> RotationResult {
        let target = job.targetVersion
        let resealer = try Resealer(capacity: Validate.secretValueMaxBytes)
        var resealed = 0
        let alreadyDone = try known ?? (job.total - (pendingRotation()?.remaining ?? 0))
        progress?(alreadyDone, job.total)
        var reported = alreadyDone
        var destroyed: [Int] = []
        // The last row re-sealed, in the table's order: the next batch reads on after it.
        var last: VersionBatch.Position?
        while true {
            let batch = try perform(.keyRotateDataBatch, target: "data-key", requires: .keysManage) {
                op -> (count: Int, last: VersionBatch.Position?)? in
                guard let running = try op.tx.runningRotation(), running.id == job.id,
                    try op.tx.activeDataKey()?.version == target
                else {
                    throw KeyholdError.rotationSuperseded(jobID: job.id)
                }
                let limit = max(1, batchSize)
                var rows = try last.map { try op.tx.versionsBelow(keyVersion: target, after: $0, limit: limit) } ?? VersionBatch()
                if rows.isEmpty {
                    // Nothing after `last` (or the job's start): a version may lie before it (one written
                    // under an older key meanwhile); the index finds any, and none left is the finish.
                    guard let first = try op.tx.firstVersionBelow(keyVersion: target) else {
                        destroyed = try finishRotation(&op, job)
                        return nil
                    }
                    rows = try op.tx.versionsBelow(keyVersion: target, from: first, limit: limit)
                }
                let to = try dataKey(op.tx, version: target)
                var keys: [Int: SecureBytes] = [:]  // per batch: one lookup per key version, not per row
                for row in rows.keys where keys[row.keyVersion] == nil {
                    keys[row.keyVersion] = try dataKey(op.tx, version: row.keyVersion)
                }
                // Re-sealed in order on a second thread while this one writes each row as soon as it is
                // ready: the crypto runs beside SQLite's updates instead of before them.
                let stream = ResealStream(rows: rows, from: keys, to: to, target: target, resealer: resealer)
                stream.start()
                defer { stream.finish() }
                for (i, row) in rows.keys.enumerated() {
                    try stream.withSealed(i) { sealed in
                        try op.tx.resealVersion(secretID: row.secretID, version: row.version, keyVersion: target, ciphertext: sealed)
                    }
                }
                let ids = rows.keys.map(\.secretID)
                op.details = [
                    "job": .int(job.id), "to": .int(Int64(target)), "count": .int(Int64(rows.count)),
                    "digest": .string(AuditChain.digest(ids))
                ]
                return (rows.count, rows.last)
            }
            guard let batch else { break }
            last = batch.last
            resealed += batch.count
            reported = min(alreadyDone + resealed, job.total)
            progress?(reported, job.total)
        }
        dataKeys.withLock { cache in for v in destroyed { cache[v] = nil } }
        // The whole job done, once (the last batch may have said so already).
        if reported != job.total { progress?(job.total, job.total) }
        return RotationResult(
            targetVersion: target, resealed: resealed, destroyed: destroyed,
            checkpointed: destroyed.isEmpty || lastCheckpoint.checkpointed)
    }

    /// The finishing transaction of `job` (checked by the caller to be the running job,
    /// its target active, nothing left under an older key). Returns the keys destroyed.
    private func finishRotation(_ op: inout Op, _ job: RotationJobRow) throws -> [Int] {
        op.action = .keyRotateDataFinish
        var destroyed: [Int] = []
        for k in try op.tx.dataKeys() where !k.active && k.version != job.targetVersion {
            // Counted here, in the transaction that deletes: a key some version uses stays.
            guard try op.tx.countVersions(keyVersion: k.version) == 0 else { continue }
            if try op.tx.deleteUnusedDataKey(version: k.version) { destroyed.append(k.version) }
        }
        let raised = job.raiseMinimum ? try op.tx.raiseMinDecryptVersion(to: job.targetVersion) : false
        guard try op.tx.finishRotationJob(id: job.id, at: op.now) else { throw KeyholdError.rotationSuperseded(jobID: job.id) }
        op.securelyDeletes = !destroyed.isEmpty
        op.details = [
            "job": .int(job.id), "to": .int(Int64(job.targetVersion)), "destroyed": .strings(destroyed.map(String.init)),
            "min_decrypt_version": .int(Int64(try op.tx.vault()?.minDecryptVersion ?? 0)), "raised_minimum": .bool(raised)
        ]
        return destroyed
    }

    /// Replaces the root key R: every data key re-sealed, a new root signing key signed by
    /// the old one, every endorsement the old one made renewed, every grant re-sealed to the
    /// keys the new one endorses, every name tag re-made, and a new recovery key, in one
    /// transaction. Users who are disabled, locked or expired, and keys no root key endorsed,
    /// receive nothing: their grants wait for an administrator. `deliver` gets the new
    /// recovery key (typeable text) before anything is committed; it is also returned.
    /// Clears the revocation warning.
    public func rotateRootKey(deliver: (SecureBytes) throws -> Void = { _ in }) throws -> SecureBytes {
        let old = try requireRoot(for: .keysManage)
        let freshKey = try SecureBytes(random: 32)
        let recovery = try RecoveryKey.generate()
        let recoveryText = try RecoveryKey.encodeGuarded(recovery)
        let fresh = try perform(.keyRotateRoot, target: "root-key", requires: .keysManage) { op -> Trust.Root in
            let anchor = try Trust.anchor(op.tx)
            let current = try Trust.currentRootKey(op.tx, anchor: anchor)
            guard current.version == old.version, current.publicKey == old.signer.publicKey else {
                throw KeyholdError.sessionEnded("the root key was rotated; log in again")
            }
            for k in try op.tx.dataKeys() {
                let d = try Keyring.openDataKey(k, root: old.key)
                try op.tx.updateDataKeySealed(
                    version: k.version, sealed: try Seal.seal(d, key: freshKey, aad: Keyring.dataKeyAAD(k.version)))
            }
            let signer = try Trust.rootSigningKey(freshKey)
            let version = old.version + 1
            let link = old.signer.sign(Trust.rootLinkMessage(vaultID: anchor.vaultID, version: version, publicKey: signer.publicKey))
            try op.tx.insertRootKey(RootKeyRow(version: version, publicKey: signer.publicKey, link: link, createdAt: op.now))
            try op.tx.setRootVersion(version)
            let fresh = Trust.Root(
                key: freshKey, version: version, signer: signer, names: try Trust.nameKey(freshKey), vaultID: anchor.vaultID)
            // Endorsements carry over only where the old root key made them.
            for k in try op.tx.userKeys()
            where k.retiredAt == nil
                && Trust.isEndorsed(k, vaultID: anchor.vaultID, version: old.version, rootPublicKey: old.signer.publicKey)
            {
                try Trust.endorse(op.tx, root: fresh, key: k)
            }
            var resealed: [String] = [], leftOut: [String] = []
            for g in try op.tx.grants() where g.sealedRoot != nil {
                guard let user = try op.tx.user(id: g.userID) else { try op.tx.deleteGrant(userID: g.userID); continue }
                // Sealed to the user's own endorsed key, whatever key the row named.
                switch try Trust.sealable(op.tx, root: fresh, user: user, now: op.now) {
                case .success(let key):
                    try op.tx.putGrant(try Keyring.sealGrant(root: fresh, to: key, now: op.now))
                    resealed.append(user.username)
                case .failure:
                    // Planted, not the user's key, or a user who may receive nothing now: the grant waits.
                    try op.tx.putGrant(Keyring.pendingGrant(userID: user.id, keyID: user.keyID, now: op.now))
                    leftOut.append(user.username)
                }
            }
            try op.tx.forEachSecretNameAndRetag { id, name in Trust.nameTag(fresh.names, secretID: id, name: name) }
            try op.tx.setRecoverySealed(try Seal.seal(freshKey, key: recovery, aad: Keyring.recoveryAAD))
            let v = try op.tx.vault()
            try op.tx.setRevocationWarning(nil)
            op.securelyDeletes = true
            op.details = [
                "root_version": .int(Int64(version)), "grants": .strings(resealed.sorted()),
                "root_public_key": .string(Store.hex(signer.publicKey)), "root_link": .string(Store.hex(link)),
                "cleared_warning": .bool(v?.revocationWarning != nil)
            ]
            if !leftOut.isEmpty { op.details["left_out"] = .strings(leftOut.sorted()) }
            try deliver(recoveryText)
            return fresh
        }
        replaceRoot(fresh)
        dataKeys.withLock { $0.removeAll() }
        return recoveryText
    }

    // MARK: Key requests

    /// Users whose key access awaits an administrator's approval, with the fingerprint of
    /// the key each would receive the root key on (the one they are shown at login).
    public func keyRequests() throws -> [KeyRequest] {
        try read(requires: .keysManage, action: "key.requests") { tx, _ in
            try tx.grants().filter { $0.sealedRoot == nil }.compactMap { g -> KeyRequest? in
                guard let user = try tx.user(id: g.userID) else { return nil }
                let key = try user.keyID.flatMap { try tx.userKey(id: $0) }
                return KeyRequest(
                    username: user.username, fingerprint: key.map { Fingerprint.of(publicKey: $0.publicKey) },
                    requestedAt: g.createdAt)
            }.sorted { $0.username < $1.username }
        }
    }

    /// Approves a user's key access: the typed fingerprint must be that of the user's key
    /// (read to the administrator by the user, from their login). The root signing key then
    /// endorses the key and R is sealed to it.
    public func approveKeyRequest(_ name: String, fingerprint typed: String) throws {
        let root = try requireRoot(for: .keysManage)
        try perform(.keyApprove, target: "user:\(name)", requires: .keysManage) { op in
            let user = try existingUser(op.tx, name)
            op.target = "user:\(user.username)"
            guard Set(names: try op.tx.permissions(ofUser: user.id)).grantsKeyAccess else {
                throw KeyholdError.refused(
                    "\(user.username) holds no role that gives key access (secrets.read, secrets.write or keys.manage)")
            }
            guard let keyID = user.keyID, let key = try op.tx.userKey(id: keyID), key.userID == user.id, key.retiredAt == nil else {
                throw KeyholdError.refused("\(user.username) has no key pair yet: it is made at their first login")
            }
            let expected = Fingerprint.of(publicKey: key.publicKey)
            guard Fingerprint.matches(typed, expected) else {
                throw KeyholdError.refused(
                    "the fingerprint does not match \(user.username)'s key (\(expected)); ask them to read "
                        + "theirs from their login, and approve only if the two agree")
            }
            if let grant = try op.tx.grant(userID: user.id), grant.sealedRoot != nil, grant.keyID == keyID {
                throw KeyholdError.conflict("\(user.username) already holds key access")
            }
            try Trust.endorse(op.tx, root: root, key: key)
            switch try Trust.sealable(op.tx, root: root, user: user, now: op.now) {
            case .success(let sealable): try op.tx.putGrant(try Keyring.sealGrant(root: root, to: sealable, now: op.now))
            case .failure(.inactive(let why)): throw KeyholdError.refused("\(user.username) is \(why): approve once the account is active")
            case .failure: throw KeyholdError.integrity("user_keys id=\(keyID): does not check out after its endorsement")
            }
            op.details = [
                "user_id": .int(user.id), "key_id": .int(keyID), "public_key": .string(Store.hex(key.publicKey)),
                "fingerprint": .string(expected)
            ]
        }
    }
}

extension Vault {
    /// Regains access with the recovery key when every key holder is gone or
    /// locked out: the named user (who must hold roles.manage and keys.manage)
    /// gets a temporary password (given to `deliver` before anything is committed,
    /// and returned), a new key pair and R sealed to it, and is unlocked, enabled
    /// and un-expired. Audited as `vault.recover`, with a proof by the root signing
    /// key (which only the recovery key could open here) vouching for the new key.
    public func recover(
        recoveryKey text: String, username: String,
        deliver: (SecureBytes) throws -> Void = { _ in }
    ) throws -> SecureBytes {
        try recover(recoveryKey: SecureBytes(utf8: text), username: username, deliver: deliver)
    }

    /// `recover` with the recovery key as typed, in guarded memory (the product's form: the
    /// typed key is read and parsed without a String of it).
    public func recover(
        recoveryKey typed: SecureBytes, username: String,
        deliver: (SecureBytes) throws -> Void = { _ in }
    ) throws -> SecureBytes {
        let recovery: SecureBytes
        do { recovery = try RecoveryKey.parse(typed: typed) } catch { throw KeyholdError.recoveryKey(error) }
        let temp = try Token.generate(length: Session.temporaryPasswordLength, alphabet: .alnum)
        try Vault.wrap {
            try store.write { tx in
                let now = clock.now()
                guard let v = try tx.vault() else { throw KeyholdError.store(.halfMade(path: path)) }
                let anchor = try Trust.anchor(tx)
                guard var user = try tx.user(named: username) else { throw KeyholdError.notFound(kind: "user", name: username) }
                let root = try Trust.verifiedRoot(
                    tx, try Keyring.openRecovery(v.recoverySealed, recovery: recovery), anchor: anchor,
                    grantOf: user.id)
                let perms = Set(names: try tx.permissions(ofUser: user.id))
                guard Permission.stewardship.isSubset(of: perms) else {
                    throw KeyholdError.refused(
                        "recovery restores an administrator: \(user.username) must hold roles.manage and keys.manage")
                }
                let cost = KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit)
                let retired = user.keyID
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
                let key = try Keyring.makeUserKey(tx, user: &user, password: temp, cost: cost, now: now, anchor: anchor)
                try tx.updateUser(user)
                try tx.putGrant(try Keyring.sealGrant(root: root, to: try Trust.endorseNew(tx, root: root, keyID: key.id), now: now))
                #if DEBUG
                    try options.fault?(.beforeAudit)
                #endif
                let proof = root.signer.sign(
                    Trust.recoverMessage(
                        vaultID: anchor.vaultID, userID: user.id, keyID: key.id,
                        publicKey: key.pair.publicKey))
                var details: [String: AuditValue] = [
                    "user": .string(user.username), "user_id": .int(user.id), "key_id": .int(key.id),
                    "public_key": .string(Store.hex(key.pair.publicKey)), "recovery_signature": .string(Store.hex(proof))
                ]
                if let retired { details["retired_key_id"] = .int(retired) }
                // No session exists: the event is signed with the recovered user's new key.
                try AuditChain.append(
                    tx, at: now, actorID: nil, actorName: "recovery-key",
                    signer: .init(keyID: key.id, keyPair: key.pair), action: .vaultRecover,
                    target: "user:\(user.username)", details: details)
                try deliver(temp)
                #if DEBUG
                    try options.fault?(.beforeCommit)
                #endif
            }
        }
        _ = try? store.checkpointTruncate()
        return temp
    }
}

/// One batch of a rotation re-sealed on a second thread, in row order, into one
/// buffer (new ciphertexts are not secret; the plaintexts stay in the resealer's
/// guarded scratch), while the writer writes the rows already done: it waits only
/// for the row it needs next. The crypto (about a third of a row's instructions)
/// thus runs on the second core beside SQLite's updates, not before them. The
/// writer must call `finish` (it waits for the thread) before the resealer or the
/// stream is used again.
final class ResealStream: @unchecked Sendable {
    private let rows: VersionBatch
    private let from: [Int: SecureBytes]
    private let to: SecureBytes
    private let target: Int
    private let resealer: Resealer
    /// Row `i`'s new ciphertext goes where its old one lies in `rows.bytes`: it is as long.
    private let bytes: UnsafeMutableRawPointer
    /// Guards `done`, `failed`, `cancelled` and `running`; the thread publishes rows under it.
    private let condition = NSCondition()
    private var done = 0
    private var failed: KeyholdError?
    private var cancelled = false
    private var running = false
    /// Rows re-sealed between two publications: fewer lock round trips, a short first wait.
    private static let publishEvery = 16

    init(rows: VersionBatch, from: [Int: SecureBytes], to: SecureBytes, target: Int, resealer: Resealer) {
        self.rows = rows; self.from = from; self.to = to; self.target = target; self.resealer = resealer
        bytes = .allocate(byteCount: max(1, rows.bytes.count), alignment: 16)
    }

    deinit { bytes.deallocate() }

    func start() {
        condition.lock()
        running = true
        condition.unlock()
        // A thread of Dispatch's pool: a rotation has a batch every few milliseconds.
        DispatchQueue.global(qos: .userInitiated).async { [self] in reseal() }
    }

    /// The new ciphertext of row `index`, valid during `body`; waits until it is ready.
    /// Throws the integrity error that stopped the thread at or before this row.
    /// For the writing thread only (it remembers how far the last look went).
    func withSealed<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        if index >= seen {
            condition.lock()
            while done <= index && failed == nil && running { condition.wait() }
            seen = done
            let failure = failed
            condition.unlock()
            guard index < seen else { throw failure ?? KeyholdError.integrity("rotation: row \(index) was not re-sealed") }
        }
        let range = rows.range(of: index)
        return try body(UnsafeRawBufferPointer(start: bytes + range.lowerBound, count: range.count))
    }
    /// Rows the writer has already seen published (read without the lock: only the writer uses it).
    private var seen = 0

    /// Stops the thread (if it is still going) and waits for it.
    func finish() {
        condition.lock()
        cancelled = true
        while running { condition.wait() }
        condition.unlock()
    }

    private func reseal() {
        var failure: KeyholdError?
        var sealed = 0
        for (i, row) in rows.keys.enumerated() {
            do {
                guard let key = from[row.keyVersion] else { throw CryptoError.integrity }
                let range = rows.range(of: i)
                let slot = UnsafeMutableRawBufferPointer(start: bytes + range.lowerBound, count: range.count)
                try rows.bytes.withUnsafeBytes { all in
                    let ciphertext = UnsafeRawBufferPointer(rebasing: all[range])
                    try Keyring.withSecretAAD(secretID: row.secretID, version: row.version, keyVersion: row.keyVersion) { fromAAD in
                        try Keyring.withSecretAAD(secretID: row.secretID, version: row.version, keyVersion: target) { toAAD in
                            try resealer.reseal(ciphertext, from: key, fromAAD: fromAAD, to: to, toAAD: toAAD) { new in
                                guard new.count == slot.count else { throw CryptoError.integrity }
                                slot.copyMemory(from: new)
                            }
                        }
                    }
                }
            } catch {
                failure = KeyholdError.integrity(
                    "secret_versions secret_id=\(row.secretID) version=\(row.version): does not open; rotation stopped (run `keyhold check`)"
                )
                break
            }
            sealed = i + 1
            if sealed % Self.publishEvery == 0 || sealed == rows.count {
                condition.lock()
                done = sealed
                let stop = cancelled
                condition.broadcast()
                condition.unlock()
                if stop { break }
            }
        }
        condition.lock()
        done = sealed
        failed = failure
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
