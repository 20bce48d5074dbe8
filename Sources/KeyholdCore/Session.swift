import Foundation
import KeyholdCrypto
import KeyholdStore
import Synchronization

/// One logged-in user: who acts, what they may do, the keys they hold.
///
/// Every operation validates its input, re-checks inside its transaction that
/// the user is still active and still holds the permission, does the work and
/// appends its signed audit event, all in one transaction.
public final class Session: Sendable {
    public let vault: Vault
    public let userID: Int64
    public let username: String
    let keyID: Int64
    let keyPair: SigningKeyPair
    /// The root key R (if this user holds a grant), checked against the vault's chain of root keys.
    private let rootState: Mutex<Trust.Root?>
    let dataKeys = Mutex<[Int: SecureBytes]>([:])
    /// The fingerprint of this user's key while their key access awaits an administrator's approval.
    public let pendingKeyFingerprint: String?

    init(
        vault: Vault, userID: Int64, username: String, keyID: Int64, keyPair: SigningKeyPair, root: Trust.Root?,
        pendingKeyFingerprint: String? = nil
    ) {
        self.vault = vault
        self.userID = userID
        self.username = username
        self.keyID = keyID
        self.keyPair = keyPair
        self.pendingKeyFingerprint = pendingKeyFingerprint
        rootState = Mutex(root)
    }

    /// The root key R and what follows from it, if this user holds a grant.
    var root: Trust.Root? { rootState.withLock { $0 } }

    /// Replaces R after a root rotation made by this session.
    func replaceRoot(_ root: Trust.Root) { rootState.withLock { $0 = root } }

    /// Whether this session holds the root key (and so can open secrets).
    public var hasKeyAccess: Bool { root != nil }

    /// The permissions the user holds now.
    public func permissions() throws -> Set<Permission> {
        try Vault.wrap { try vault.store.read { try Set(names: $0.permissions(ofUser: userID)) } }
    }

    /// What an operation is doing inside its transaction.
    struct Op {
        let tx: Tx
        let now: Int64
        /// The actor's permissions, re-read in this transaction.
        let permissions: Set<Permission>
        /// The audit action; an operation that learns inside its transaction what it did may change it.
        var action: AuditAction
        var target: String
        var details: [String: AuditValue] = [:]
        /// Set when the operation deleted keys or ciphertexts: checkpoint the WAL afterwards.
        var securelyDeletes = false
    }

    /// Runs one operation: re-check the actor, do the work, audit, commit; then
    /// checkpoint if it deleted anything sensitive.
    func perform<T>(
        _ action: AuditAction, target: String, requires permission: Permission?,
        _ body: (inout Op) throws -> T
    ) throws -> T {
        var deleted = false
        let result: T = try Vault.wrap {
            try vault.store.write { tx in
                let now = vault.clock.now()
                let perms = try checkActor(tx, now: now)
                if let permission, !perms.contains(permission) {
                    throw KeyholdError.permissionDenied(action: action.rawValue, missing: permission)
                }
                var op = Op(tx: tx, now: now, permissions: perms, action: action, target: target)
                let result = try body(&op)
                #if DEBUG
                    try vault.options.fault?(.beforeAudit)
                #endif
                try AuditChain.append(
                    tx, at: now, actorID: userID, actorName: username,
                    signer: .init(keyID: keyID, keyPair: keyPair), action: op.action,
                    target: op.target, details: op.details)
                #if DEBUG
                    try vault.options.fault?(.beforeCommit)
                #endif
                deleted = op.securelyDeletes
                return result
            }
        }
        if deleted { lastCheckpoint = checkpointAfterDeletion() }
        return result
    }

    /// Read-only work under a permission (no audit event: nothing changes and nothing secret is shown).
    func read<T>(requires permission: Permission?, action: String, _ body: (Tx, Set<Permission>) throws -> T) throws -> T {
        try read(requires: permission, action: action, damaged: false, body)
    }

    /// `read`; with `damaged`, on a file that may have damaged pages, whose damage `body` catches
    /// (`Tx.storeErrors`) to go on with the rows it can still read (`Store.readDamaged`).
    func read<T>(
        requires permission: Permission?, action: String, damaged: Bool,
        _ body: (Tx, Set<Permission>) throws -> T
    ) throws -> T {
        try Vault.wrap {
            let run = { (tx: Tx) throws -> T in
                let perms = try self.checkActor(tx, now: self.vault.clock.now())
                if let permission, !perms.contains(permission) {
                    throw KeyholdError.permissionDenied(action: action, missing: permission)
                }
                return try body(tx, perms)
            }
            return damaged ? try vault.store.readDamaged(run) : try vault.store.read(run)
        }
    }

    /// The acting user must still exist, be active, and still use the key this session unlocked.
    private func checkActor(_ tx: Tx, now: Int64) throws -> Set<Permission> {
        guard let me = try tx.user(id: userID) else { throw KeyholdError.sessionEnded("\(username) was deleted") }
        if me.disabled { throw KeyholdError.sessionEnded("\(username) was disabled") }
        if me.locked { throw KeyholdError.sessionEnded("\(username) was locked by an administrator") }
        if let e = me.expiresAt, e <= now { throw KeyholdError.sessionEnded("\(username) has expired") }
        if me.keyID != keyID { throw KeyholdError.sessionEnded("the password of \(username) was reset") }
        if let root, let v = try tx.vault(), v.rootVersion != root.version {
            throw KeyholdError.sessionEnded("the root key was rotated; log in again")
        }
        return Set(names: try tx.permissions(ofUser: userID))
    }

    /// Outcome of the last checkpoint after a deletion.
    private let checkpointState = Mutex<DeletionOutcome>(DeletionOutcome(checkpointed: true))
    var lastCheckpoint: DeletionOutcome {
        get { checkpointState.withLock { $0 } }
        set { checkpointState.withLock { $0 = newValue } }
    }

    /// `wal_checkpoint(TRUNCATE)`, retried a few times while a reader blocks it.
    func checkpointAfterDeletion() -> DeletionOutcome {
        for attempt in 0..<5 {
            if let c = try? vault.store.checkpointTruncate(), !c.blocked { return DeletionOutcome(checkpointed: true) }
            usleep(UInt32(50_000 << attempt))
        }
        return DeletionOutcome(checkpointed: false)
    }

    // MARK: Keys held by the session

    /// The permission, then the root key: so a user lacking both hears about the permission.
    func requireRoot(for permission: Permission) throws -> Trust.Root {
        _ = try read(requires: permission, action: permission.rawValue) { _, _ in true }
        return try requireRoot()
    }

    func requireRoot() throws -> Trust.Root {
        guard let root else {
            throw KeyholdError.noKeyAccess(
                pendingKeyFingerprint.map {
                    "\(username)'s key access awaits an administrator's approval (key fingerprint \($0))"
                } ?? "\(username) holds no key grant")
        }
        return root
    }

    func dataKey(_ tx: Tx, version: Int) throws -> SecureBytes {
        if let min = try tx.minDecryptVersion(), version < min {
            throw KeyholdError.integrity("data_keys version=\(version): below the vault's minimum decryption version \(min)")
        }
        if let k = dataKeys.withLock({ $0[version] }) { return k }
        let root = try requireRoot()
        guard let row = try tx.dataKeys().first(where: { $0.version == version }) else {
            throw KeyholdError.integrity("data_keys version=\(version): missing")
        }
        let key = try Keyring.openDataKey(row, root: root.key)
        dataKeys.withLock { $0[version] = key }
        return key
    }

    /// Thrown inside `perform` to roll back an operation that found nothing to do (and so writes no event).
    struct NothingToDo: Error {}

    // MARK: Own account

    /// Changes one's own password; the current one is required. The new one is checked first
    /// (bad input writes nothing). A wrong current password is a failed login: counted toward
    /// the lockout and audited as `login.failed` (`Vault.countFailedPassword`), as from the
    /// console's login or an application; an account locked out refuses even the right one.
    /// A right one changes the password in one transaction with its one event.
    public func changePassword(current: SecureBytes, new: SecureBytes) throws {
        if current.constantTimeEquals(new) {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "new password", rule: .unchanged,
                    message: "new password: must differ from the current one"))
        }
        let minLength = try Vault.wrap { try vault.store.read { try $0.requiredVault().passwordMinLength } }
        try Validate.checkPassword(new, username: username, minimumLength: minLength)
        guard let me = try Vault.wrap({ try vault.store.read { try $0.user(id: userID) } }) else {
            throw KeyholdError.sessionEnded("\(username) was deleted")
        }
        let now = vault.clock.now()
        let lockedOut = me.locked || (me.lockedUntil.map { $0 > now } ?? false)
        // The Argon2id work is done whether or not the account is locked out: the same answer, the same time.
        guard PasswordHash.verify(current, hash: me.passwordHash), !lockedOut else {
            try vault.countFailedPassword(userID: userID, username: username, lockedOut: lockedOut, now: now)
            throw KeyholdError.authenticationFailed
        }
        try setOwnPassword(new, requireChange: false)
    }

    /// Sets the user's password and re-seals their secret key under it, in one transaction.
    /// `requireChange`: the password being replaced is a temporary one, which the new one must
    /// differ from; a caller that holds it (and compared it already) says so with
    /// `comparedWithCurrent`, sparing an Argon2 verification of the new one against its hash.
    func setOwnPassword(
        _ new: SecureBytes, requireChange: Bool, comparedWithCurrent: Bool = false,
        origin: LoginOrigin = .keyhold
    ) throws {
        let (minLength, cost) = try Vault.wrap {
            try vault.store.read { tx in
                let v = try tx.requiredVault()
                return (v.passwordMinLength, KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit))
            }
        }
        try Validate.checkPassword(new, username: username, minimumLength: minLength)
        if requireChange, !comparedWithCurrent,
            let old = try Vault.wrap({ try vault.store.read { try $0.user(id: userID)?.passwordHash } }),
            PasswordHash.verify(new, hash: old)
        {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "new password", rule: .unchanged,
                    message: "new password: must differ from the temporary one"))
        }
        let hash = try Vault.wrap { try PasswordHash.hash(new, cost: cost) }
        try perform(.passwordChange, target: "user:\(username)", requires: nil) { op in
            guard var me = try op.tx.user(id: userID) else { throw KeyholdError.sessionEnded("\(username) was deleted") }
            if requireChange, let expires = me.passwordExpiresAt, expires <= op.now {
                throw KeyholdError.temporaryPasswordExpired(username: username)
            }
            me.passwordHash = hash
            me.mustChange = false
            me.passwordExpiresAt = nil
            me.updatedAt = op.now
            try op.tx.updateUser(me)
            try Keyring.sealUserKey(op.tx, pair: keyPair, userID: userID, keyID: keyID, password: new, cost: cost)
            op.details = ["forced": .bool(requireChange)].merging(origin.detail) { a, _ in a }
        }
    }
}

extension Session {
    /// Records that an agent now holds this session for many commands (`session.unlock`), with its limits.
    public func recordAgentStart(idle: Int64, max: Int64, pid: Int32) throws {
        try perform(.sessionUnlock, target: "user:\(username)", requires: nil) { op in
            op.details = ["idle_ms": .int(idle), "max_ms": .int(max), "pid": .int(Int64(pid))]
        }
    }

    /// Records that the agent holding this session ended (`session.lock`): why, and how many commands it served.
    public func recordAgentEnd(reason: String, commands: Int) throws {
        try perform(.sessionLock, target: "user:\(username)", requires: nil) { op in
            op.details = ["reason": .string(reason), "commands": .int(Int64(commands))]
        }
    }
}

extension Session {
    /// Throws `sessionEnded` if the user was deleted, disabled, locked, expired, had their password
    /// reset or the root key rotated since this session began (what every operation checks first).
    public func checkStillActive() throws {
        _ = try read(requires: nil, action: "session") { _, _ in true }
    }
}
