import Foundation
import KeyholdCrypto
import KeyholdStore
import Synchronization

#if DEBUG
    /// Points inside an operation's transaction where a test may inject a failure.
    /// Debug builds only: the release product has no fault hooks.
    public enum FaultPoint: String, Sendable, CaseIterable {
        /// After the operation's work, before its audit event.
        case beforeAudit
        /// After the audit event, before commit.
        case beforeCommit
    }
#endif

/// How a vault is opened or created.
public struct VaultOptions: Sendable {
    /// Argon2id cost for a new vault: `.interactive` unless the caller chooses another (only tests and the
    /// benchmark choose a cheaper one, through their own support code).
    public var kdf: KDFCost = .interactive
    public var clock: Clock = .system
    /// Minimum password length for a new vault (never below 8).
    public var passwordMinLength: Int = Validate.passwordDefaultMinimum
    #if DEBUG
        /// Test hook (debug builds only): called at each `FaultPoint`; a throw there aborts the operation.
        public var fault: (@Sendable (FaultPoint) throws -> Void)?
    #endif
    public init() {}
}

/// Where a login comes from. Keyhold's own (console, command line, agent) records no origin;
/// a login an application asks the application service for records `"via": "app"` in each of
/// its events. Everything else (the lockout, the count, the refusals, the hash upgrade) is the same.
public enum LoginOrigin: String, Sendable {
    case keyhold
    case app

    /// The audit detail that says so, if any.
    var detail: [String: AuditValue] { self == .app ? ["via": .string(rawValue)] : [:] }
}

/// What a successful login yields.
public enum LoginResult: Sendable {
    case session(Session)
    /// The password was set by someone else (or has expired): it must be changed before anything else.
    case mustChangePassword(PasswordChange)
}

/// A vault file: create, open, log in.
public final class Vault: Sendable {
    public let path: String
    /// The store under the vault: the package's tests reach it; no other module can.
    package let store: Store
    let options: VaultOptions
    public var clock: Clock { options.clock }
    private let dummy = Mutex<(cost: KDFCost, hash: String)?>(nil)

    /// Consecutive failures allowed before delays start.
    public static let freeLoginFailures = 5
    /// The longest lockout delay.
    public static let maxLockout: Int64 = Clock.hour

    init(path: String, store: Store, options: VaultOptions) {
        self.path = path
        self.store = store
        self.options = options
    }

    /// Whether a vault file exists at `path`.
    public static func exists(at path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Opens an existing vault of this release's format. Anything else (no file, a
    /// directory, another program's database, an older or newer format, a file others
    /// may read) is refused with the fix named, and left as it was.
    public static func open(at path: String, options: VaultOptions = VaultOptions()) throws -> Vault {
        Sodium.hardenProcess()
        let store = try wrap { try Store.open(at: path) }
        guard let row = try wrap({ try store.read { try $0.vault() } }) else { throw KeyholdError.store(.halfMade(path: path)) }
        guard row.vaultID != nil, row.anchorSeq != nil else {
            throw KeyholdError.integrity("vault: format \(VaultFile.currentFormat) without its identity or anchor event")
        }
        return Vault(path: path, store: store, options: options)
    }

    /// Creates a vault and its first administrator. The recovery key (typeable
    /// text) is made once and never stored in clear: `deliver` gets it before
    /// anything is committed (a failure there leaves no vault), and it is returned.
    public static func create(
        at path: String, admin username: String, password: SecureBytes,
        email: String? = nil, displayName: String = "",
        options: VaultOptions = VaultOptions(),
        deliver: (SecureBytes) throws -> Void = { _ in }
    ) throws -> (session: Session, recoveryKey: SecureBytes) {
        Sodium.hardenProcess()
        let minLength = try valid { try Validate.passwordMinimumSetting(options.passwordMinLength) }
        let username = try valid { try Validate.username(username) }
        let email = try valid { try Validate.email(email) }
        let displayName = try valid { try Validate.displayName(displayName) }
        try Validate.checkPassword(password, username: username, minimumLength: minLength)

        let now = options.clock.now()
        let root = try SecureBytes(random: 32)
        let recovery = try RecoveryKey.generate()
        let recoveryText = try RecoveryKey.encodeGuarded(recovery)
        let dataKey = try SecureBytes(random: 32)
        let vaultID = Sodium.randomBytes(16)
        var created: (userID: Int64, keyID: Int64, pair: SigningKeyPair)?
        let store = try wrap {
            try Store.create(at: path) { tx in
                var vaultRow = VaultRow(
                    format: VaultFile.currentFormat, createdAt: now, kdfOpslimit: options.kdf.opslimit,
                    kdfMemlimit: options.kdf.memlimit, passwordMinLength: minLength, historyLimit: 10, tempPasswordTTL: Clock.day,
                    recoverySealed: try Seal.seal(root, key: recovery, aad: Keyring.recoveryAAD), revocationWarning: nil)
                vaultRow.vaultID = vaultID
                try tx.insertVault(vaultRow)
                try tx.insertDataKey(
                    DataKeyRow(
                        version: 1, sealed: try Seal.seal(dataKey, key: root, aad: Keyring.dataKeyAAD(1)),
                        active: true, createdAt: now))
                let signer = try Trust.rootSigningKey(root)
                try tx.insertRootKey(RootKeyRow(version: 1, publicKey: signer.publicKey, link: nil, createdAt: now))
                let trusted = Trust.Root(key: root, version: 1, signer: signer, names: try Trust.nameKey(root), vaultID: vaultID)
                var adminRole: Int64 = 0
                for r in BuiltinRole.all {
                    let id = try tx.insertRole(
                        name: r.name, description: r.description, builtin: true, createdAt: now,
                        permissions: r.permissions.names)
                    if r.name == "admin" { adminRole = id }
                }
                var user = UserRow(
                    username: username, email: email, displayName: displayName,
                    passwordHash: try PasswordHash.hash(password, cost: options.kdf),
                    mustChange: false, passwordExpiresAt: nil, createdAt: now, updatedAt: now)
                user.id = try tx.insertUser(user)
                // Pinned below, once the genesis event (the anchor it names) exists.
                let key = try Keyring.makeUserKey(tx, user: &user, password: password, cost: options.kdf, now: now, anchor: nil)
                try tx.updateUser(user)
                try tx.addUserRole(userID: user.id, roleID: adminRole)
                try tx.putGrant(try Keyring.sealGrant(root: trusted, to: try Trust.endorseNew(tx, root: trusted, keyID: key.id), now: now))
                #if DEBUG
                    try options.fault?(.beforeAudit)
                #endif
                try AuditChain.append(
                    tx, at: now, actorID: user.id, actorName: username,
                    signer: .init(keyID: key.id, keyPair: key.pair), action: .vaultCreate,
                    target: "vault",
                    details: [
                        "format": .int(Int64(VaultFile.currentFormat)), "admin": .string(username),
                        "vault_id": .string(Store.hex(vaultID)),
                        "user_id": .int(user.id), "key_id": .int(key.id),
                        "public_key": .string(Store.hex(key.pair.publicKey)),
                        "root_version": .int(1), "root_public_key": .string(Store.hex(signer.publicKey)),
                        "roles": .strings(BuiltinRole.all.map { Authority.roleEntry($0.name, $0.permissions) }),
                        "kdf_opslimit": .int(Int64(options.kdf.opslimit)),
                        "kdf_memlimit": .int(Int64(options.kdf.memlimit))
                    ])
                try tx.setVaultIdentity(vaultID: vaultID, anchorSeq: 1)
                guard let keyRow = try tx.userKey(id: key.id) else { throw KeyholdError.integrity("user_keys id=\(key.id): missing") }
                try Trust.pin(tx, anchor: try Trust.anchor(tx), key: keyRow, pair: key.pair)
                try deliver(recoveryText)
                #if DEBUG
                    try options.fault?(.beforeCommit)
                #endif
                created = (user.id, key.id, key.pair)
            }
        }
        guard let created else { throw KeyholdError.integrity("vault: creation returned no administrator") }
        let vault = Vault(path: path, store: store, options: options)
        let signer = try wrap { try Trust.rootSigningKey(root) }
        let session = Session(
            vault: vault, userID: created.userID, username: username, keyID: created.keyID, keyPair: created.pair,
            root: Trust.Root(key: root, version: 1, signer: signer, names: try Trust.nameKey(root), vaultID: vaultID))
        return (session, recoveryText)
    }

    /// The lockout delay after `failures` consecutive failures: none for the
    /// first few, then one minute doubling up to an hour.
    public static func lockoutDelay(afterFailures failures: Int) -> Int64? {
        guard failures >= freeLoginFailures else { return nil }
        let doublings = min(failures - freeLoginFailures, 6)
        return min(Clock.minute << Int64(doublings), maxLockout)
    }

    /// Logs a user in. Failures are counted and audited before the password
    /// is even checked, so parallel guessing cannot outrun the lockout. An unknown
    /// user, a wrong password and an account locked out take the same path: the
    /// same Argon2id work, the same error; the log records which it was.
    public func login(username typed: String, password: SecureBytes, origin: LoginOrigin = .keyhold) throws -> LoginResult {
        let name = String(typed.prefix(64))
        let now = clock.now()
        // Step 1: count this attempt as a failure until it succeeds (locked accounts are not counted again).
        let attempt: (user: UserRow, locked: Bool, before: UserRow)? = try Vault.wrap {
            try store.write { tx -> (UserRow, Bool, UserRow)? in
                guard var user = try tx.user(named: name) else { return nil }
                if user.locked || (user.lockedUntil.map { $0 > now } ?? false) { return (user, true, user) }
                // A bcrypt hash is refused below without checking any password: nothing to count.
                if PasswordHash.scheme(of: user.passwordHash) == .bcrypt { return (user, false, user) }
                let before = user
                user.failedLogins += 1
                if let delay = Vault.lockoutDelay(afterFailures: user.failedLogins) { user.lockedUntil = now + delay }
                try tx.updateUser(user)
                return (user, false, before)
            }
        }
        guard let (user, locked, before) = attempt else {
            // Same work as a real check, so timing does not tell which usernames exist.
            _ = PasswordHash.verify(password, hash: try dummyHash())
            // A password typed into the username field must not land in the log: record only name-shaped input.
            let shown = (try? Validate.username(name)) ?? "(not a valid username)"
            try recordFailure(
                name: shown, userID: nil, action: .loginFailed, reason: "unknown user", now: now,
                origin: origin)
            throw KeyholdError.authenticationFailed
        }
        if locked {
            // The same Argon2id work and the same answer as a wrong password; the result is not used.
            _ = PasswordHash.verify(password, hash: user.passwordHash)
            try recordFailure(
                name: user.username, userID: user.id, action: .loginRefused, reason: "locked", now: now,
                origin: origin)
            throw KeyholdError.authenticationFailed
        }
        // An imported bcrypt hash: libsodium cannot verify it (docs/ARCHITECTURE.md, "Imported accounts").
        if PasswordHash.scheme(of: user.passwordHash) == .bcrypt {
            try recordFailure(
                name: user.username, userID: user.id, action: .loginRefused, reason: "legacy bcrypt hash", now: now,
                origin: origin)
            throw KeyholdError.refused(Session.bcryptLoginRefusal)
        }
        // Step 2: the expensive check, outside any transaction.
        guard PasswordHash.verify(password, hash: user.passwordHash) else {
            try recordFailure(
                name: user.username, userID: user.id, action: .loginFailed, reason: "wrong password", now: now,
                origin: origin)
            throw KeyholdError.authenticationFailed
        }
        // Step 3: the password is right. States that refuse even a right password.
        let refusal: (String, KeyholdError)? =
            user.disabled
            ? ("disabled", .disabled(username: user.username))
            : (user.expiresAt.map { $0 <= now } ?? false)
                ? ("expired", .expired(username: user.username))
                : (user.passwordExpiresAt.map { $0 <= now } ?? false)
                    ? ("temporary password expired", .temporaryPasswordExpired(username: user.username)) : nil
        if let (reason, error) = refusal {
            try recordFailure(name: user.username, userID: user.id, action: .loginRefused, reason: reason, now: now, origin: origin)
            throw error
        }
        let session: Session
        do {
            session = try Vault.wrap { try openSession(user: user, password: password, now: now, origin: origin) }
        } catch let error as KeyholdError {
            // The password was right: a row that does not open or does not check out is damage or
            // tampering, not a guess. It is recorded as such and not counted toward the lockout.
            if case .integrity(let what) = error {
                try Vault.wrap {
                    try store.write { tx in
                        if var row = try tx.user(id: user.id) {
                            row.failedLogins = before.failedLogins
                            row.lockedUntil = before.lockedUntil
                            try tx.updateUser(row)
                        }
                        try AuditChain.append(
                            tx, at: now, actorID: user.id, actorName: user.username, signer: nil,
                            action: .loginRefused, target: "user:\(user.username)",
                            details: ["reason": .string("integrity"), "row": .string(what)]
                                .merging(origin.detail) { a, _ in a })
                    }
                }
            }
            throw error
        }
        if user.mustChange { return .mustChangePassword(PasswordChange(session: session)) }
        return .session(session)
    }

    /// Unlocks the user's keys and records the login, resetting the failure count. Before
    /// anything is trusted: the key's pin must bind it to this vault's anchor, and a root
    /// key from the grant must be the current generation of the vault's chain of root keys.
    private func openSession(user: UserRow, password: SecureBytes, now: Int64, origin: LoginOrigin) throws -> Session {
        try store.write { tx in
            guard let vault = try tx.vault() else { throw KeyholdError.store(.halfMade(path: path)) }
            let cost = KDFCost(opslimit: vault.kdfOpslimit, memlimit: vault.kdfMemlimit)
            guard var row = try tx.user(id: user.id) else { throw KeyholdError.authenticationFailed }
            let anchor = try Trust.anchor(tx)
            // An imported account's first login: the first time Keyhold sees the password, so its key pair
            // is made (and pinned) now. It receives the root key only once an administrator approves it.
            let keyCreated = row.keyID == nil
            if keyCreated { _ = try Keyring.makeUserKey(tx, user: &row, password: password, cost: cost, now: now, anchor: anchor) }
            guard let keyID = row.keyID, let key = try tx.userKey(id: keyID), key.userID == row.id else {
                throw KeyholdError.integrity("users id=\(row.id) (\(row.username)): the user's key pair is missing")
            }
            let pair = try Keyring.openUserKey(key, password: password)
            try Trust.checkOwnPin(tx, anchor: anchor, key: key, pair: pair)
            var root: Trust.Root?
            var details = origin.detail
            let grant = try tx.grant(userID: row.id)
            if let grant, grant.sealedRoot != nil, grant.keyID == keyID {
                let trusted = try Trust.openGrant(tx, grant, pair: pair, anchor: anchor)
                // One's own key, opened with one's own password, held by a holder of R: vouched for.
                if !Trust.isEndorsed(key, vaultID: anchor.vaultID, version: trusted.version, rootPublicKey: trusted.signer.publicKey) {
                    try Trust.endorse(tx, root: trusted, key: key)
                }
                root = trusted
            }
            var pending: String?
            if root == nil, let grant {
                // A request for key access: the administrator approving it sees this same fingerprint.
                pending = Fingerprint.of(publicKey: key.publicKey)
                if grant.keyID != keyID { try tx.putGrant(Keyring.pendingGrant(userID: row.id, keyID: keyID, now: now)) }
                details["key_request"] = .string(pending ?? "")
            }
            details["key_access"] = .bool(root != nil)
            if keyCreated {
                details["key_pair"] = .string("created")
                details["user_id"] = .int(row.id)
                details["key_id"] = .int(keyID)
                details["public_key"] = .string(Store.hex(key.publicKey))
            }
            // Legacy (imported Argon2i or Werkzeug, or below the vault's cost): re-made as Argon2id at the
            // vault's cost. A hash at or above the cost is kept: re-making it would only weaken it.
            if PasswordHash.isLegacy(row.passwordHash, cost: cost) {
                row.passwordHash = try PasswordHash.hash(password, cost: cost)
                details["rehashed"] = .bool(true)
            }
            if KDFCost(opslimit: key.kdfOpslimit ?? 0, memlimit: key.kdfMemlimit ?? 0) != cost {
                try Keyring.sealUserKey(tx, pair: pair, userID: row.id, keyID: keyID, password: password, cost: cost)
            }
            row.failedLogins = 0
            row.lockedUntil = nil
            row.lastLoginAt = now
            if row.mustChange { details["must_change"] = .bool(true) }
            try tx.updateUser(row)
            try AuditChain.append(
                tx, at: now, actorID: row.id, actorName: row.username,
                signer: .init(keyID: keyID, keyPair: pair), action: .login, target: "user:\(row.username)",
                details: details)
            return Session(
                vault: self, userID: row.id, username: row.username, keyID: keyID, keyPair: pair, root: root,
                pendingKeyFingerprint: pending)
        }
    }

    /// A wrong password given by a user already logged in (to change it): counted toward the
    /// lockout and audited as a login's is, in one transaction (`login.failed`, "wrong password");
    /// while locked out, only audited (`login.refused`, "locked"), as a login is.
    func countFailedPassword(userID: Int64, username: String, lockedOut: Bool, now: Int64) throws {
        try Vault.wrap {
            try store.write { tx in
                if !lockedOut, var user = try tx.user(id: userID) {
                    user.failedLogins += 1
                    if let delay = Vault.lockoutDelay(afterFailures: user.failedLogins) { user.lockedUntil = now + delay }
                    try tx.updateUser(user)
                }
                try AuditChain.append(
                    tx, at: now, actorID: userID, actorName: username, signer: nil,
                    action: lockedOut ? .loginRefused : .loginFailed, target: "user:\(username)",
                    details: ["reason": .string(lockedOut ? "locked" : "wrong password")])
            }
        }
    }

    private func recordFailure(
        name: String, userID: Int64?, action: AuditAction, reason: String, now: Int64,
        origin: LoginOrigin
    ) throws {
        try Vault.wrap {
            try store.write { tx in
                try AuditChain.append(
                    tx, at: now, actorID: userID, actorName: name, signer: nil, action: action,
                    target: "user:\(name)", details: ["reason": .string(reason)].merging(origin.detail) { a, _ in a })
            }
        }
    }

    /// A hash of a random password at the vault's cost, so refusing an unknown
    /// user costs the same Argon2id work as checking a real one.
    func dummyHash() throws -> String {
        let cost =
            try Vault.wrap {
                try store.read { tx in try tx.vault().map { KDFCost(opslimit: $0.kdfOpslimit, memlimit: $0.kdfMemlimit) } }
            } ?? .interactive
        if let cached = dummy.withLock({ $0 }), cached.cost == cost { return cached.hash }
        let h = try Vault.wrap { try PasswordHash.hash(SecureBytes(random: 16), cost: cost) }
        dummy.withLock { $0 = (cost, h) }
        return h
    }

    /// Closes the vault's connection and lets go of its in-use lock. A file found replaced
    /// meanwhile is reported (`StoreError.replaced`) and left as the store leaves it.
    /// Sessions of this vault fail afterwards.
    public func close() throws {
        try Vault.wrap { try store.close() }
    }

    /// The vault id and the newest audit event (sequence number, hash).
    func identity() throws -> (vaultID: [UInt8], head: AuditRow?) {
        try Vault.wrap {
            try store.read { tx in
                guard let id = try tx.vault()?.vaultID else { throw KeyholdError.integrity("vault: no vault id") }
                return (id, try tx.lastAuditEvent())
            }
        }
    }

    /// Counts and settings readable without logging in (nothing secret). The counts walk whole
    /// tables (tens of ms each at a million rows); `facts()` is the rest alone.
    public func summary() throws -> VaultSummary {
        try Vault.wrap {
            try store.read { tx in
                VaultSummary(
                    users: try tx.userCount(), secrets: try tx.secretCount(), auditEvents: try tx.auditCount(),
                    facts: try Self.facts(tx))
            }
        }
    }

    /// The vault's settings and active data key: a few rows, whatever the vault's size.
    public func facts() throws -> VaultFacts {
        try Vault.wrap { try store.read { try Self.facts($0) } }
    }

    private static func facts(_ tx: Tx) throws -> VaultFacts {
        let v = try tx.requiredVault()
        return VaultFacts(
            activeDataKey: try tx.activeDataKey()?.version ?? 0, kdf: KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit),
            passwordMinLength: v.passwordMinLength, createdAt: v.createdAt)
    }

    /// Maps store and crypto errors into `KeyholdError`.
    static func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as KeyholdError { throw e } catch let e as StoreError { throw KeyholdError.store(e) } catch let
            e as ValidationError
        { throw KeyholdError.invalid(e) } catch CryptoError.kdfFailed {
            throw KeyholdError.refused("Argon2id could not run (not enough memory for the vault's KDF cost)")
        } catch let e as CryptoError { throw KeyholdError.integrity("\(e)") }
    }

    /// Runs a validator, reporting its failure as `KeyholdError.invalid`.
    static func valid<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as ValidationError { throw KeyholdError.invalid(e) }
    }
}

/// Counts and settings readable before login.
public struct VaultSummary: Sendable, Equatable, Codable {
    public var users: Int
    public var secrets: Int
    public var auditEvents: Int
    public var facts: VaultFacts
}

/// A vault's settings and active data key (`Vault.facts()`).
public struct VaultFacts: Sendable, Equatable, Codable {
    public var activeDataKey: Int
    public var kdf: KDFCost
    public var passwordMinLength: Int
    public var createdAt: Int64
}

/// A login that must set a new password before it becomes a session.
public final class PasswordChange: Sendable {
    let session: Session
    init(session: Session) { self.session = session }
    public var username: String { session.username }

    /// Sets the new password (the old one was already checked) and returns the session.
    public func complete(newPassword: SecureBytes) throws -> Session {
        try session.setOwnPassword(newPassword, requireChange: true)
        return session
    }
}

extension Validate {
    /// Validates a password held in guarded memory (on its bytes: no String of it is made).
    static func checkPassword(_ password: SecureBytes, username: String, minimumLength: Int) throws(KeyholdError) {
        do { try Validate.password(password, username: username, minimumLength: minimumLength) } catch { throw .invalid(error) }
    }
}

extension Tx {
    /// The vault's one row, which every whole vault has. A file without it was changed outside
    /// Keyhold after it was opened: an integrity error naming the row, never a crash.
    func requiredVault() throws -> VaultRow {
        guard let v = try vault() else { throw KeyholdError.integrity("vault id=1: the vault's row is missing") }
        return v
    }
}
