import Foundation
import KeyholdCrypto
import KeyholdStore

/// What `Vault.upgrade` did.
public struct UpgradeResult: Sendable, Equatable {
    public var fromFormat: Int
    public var toFormat: Int
    /// The copy of the vault as it was, written before anything changed.
    public var backup: String
    /// Keys the upgrade found holding the root key, now endorsed by the root signing key.
    public var endorsedKeys: Int
    /// Keys listed in the anchor: their owners pin the vault at their next login.
    public var keysToPin: Int
    public var secretsTagged: Int
    /// Users whose key access still awaits an administrator's approval.
    public var pendingRequests: [String]
}

extension Vault {
    /// Brings a vault of format 1 to the current format (docs/SECURITY.md, "Upgrading a format-1 vault"),
    /// as an administrator holding keys.manage and roles.manage and the root key: a backup
    /// first (`backup`, created new, mode 0600), then one transaction that adds format 2's
    /// rows and is audited as `vault.upgrade`, the anchor trust starts from. Everything the
    /// file holds at that moment is taken as it is (the one moment of trust on first use);
    /// the event lists it. Any failure leaves the vault as it was.
    public static func upgrade(
        at path: String, username: String, password: SecureBytes, backup: String,
        options: VaultOptions = VaultOptions()
    ) throws -> UpgradeResult {
        Sodium.hardenProcess()
        let store = try wrap { try Store.open(at: path, allowOlder: true) }
        guard case .older(let from) = store.kind else {
            throw KeyholdError.conflict("\(path) is already a vault of format \(VaultFile.currentFormat)")
        }
        let vault = Vault(path: path, store: store, options: options)
        let now = options.clock.now()
        let admin = try vault.legacyLogin(username: username, password: password, now: now)
        try wrap { try store.backup(to: backup) }
        let result = try wrap {
            try store.upgrade { tx -> UpgradeResult in
                guard let v = try tx.vault() else { throw KeyholdError.store(.halfMade(path: path)) }
                let vaultID = Sodium.randomBytes(16)
                let signer = try Trust.rootSigningKey(admin.root)
                try tx.insertRootKey(RootKeyRow(version: v.rootVersion, publicKey: signer.publicKey, link: nil, createdAt: now))
                let root = Trust.Root(
                    key: admin.root, version: v.rootVersion, signer: signer, names: try Trust.nameKey(admin.root),
                    vaultID: vaultID)
                // The state taken as it is: roles, who holds them, every key in use.
                let roles = try tx.roles().map { Authority.roleEntry($0.name, Set(names: $0.permissions)) }
                let byUser = try tx.roleNamesByUser()
                let users = byUser.keys.sorted().map { "\($0):\((byUser[$0] ?? []).joined(separator: ","))" }
                let live = try tx.userKeys().filter { $0.retiredAt == nil && $0.sealedSecretKey != nil }
                let keys = live.map { Trust.SnapshotKey(keyID: $0.id, userID: $0.userID, publicKey: $0.publicKey).text }
                // Keys holding R were sealed to by holders of R: endorsed now. Any other key waits for an approval.
                var endorsed = 0
                for g in try tx.grants() where g.sealedRoot != nil {
                    guard let keyID = g.keyID, let key = live.first(where: { $0.id == keyID && $0.userID == g.userID }) else { continue }
                    try Trust.endorse(tx, root: root, key: key)
                    try tx.putGrant(Trust.signGrant(g, root: root))
                    endorsed += 1
                }
                var tagged = 0
                try tx.forEachSecretNameAndRetag { id, name in
                    tagged += 1
                    return Trust.nameTag(root.names, secretID: id, name: name)
                }
                var pending: [String] = []
                for g in try tx.grants() where g.sealedRoot == nil {
                    if let u = try tx.user(id: g.userID) { pending.append(u.username) }
                }
                let usersThrough = try tx.users().map(\.id).max() ?? 0
                try AuditChain.append(
                    tx, at: now, actorID: admin.userID, actorName: admin.username,
                    signer: .init(keyID: admin.keyID, keyPair: admin.pair), action: .vaultUpgrade,
                    target: "vault",
                    details: [
                        "from_format": .int(Int64(from)), "format": .int(Int64(VaultFile.currentFormat)),
                        "vault_id": .string(Store.hex(vaultID)),
                        "root_version": .int(Int64(v.rootVersion)),
                        "root_public_key": .string(Store.hex(signer.publicKey)),
                        "roles": .strings(roles), "users": .strings(users), "keys": .strings(keys),
                        "users_through": .int(usersThrough), "backup": .string(backup)
                    ])
                guard let anchorEvent = try tx.lastAuditEvent() else {
                    throw KeyholdError.integrity("audit_events: the upgrade event is missing")
                }
                try tx.setVaultIdentity(vaultID: vaultID, anchorSeq: anchorEvent.seq)
                guard let adminKey = try tx.userKey(id: admin.keyID) else {
                    throw KeyholdError.integrity("user_keys id=\(admin.keyID): missing")
                }
                try Trust.pin(tx, anchor: try Trust.anchor(tx), key: adminKey, pair: admin.pair)
                #if DEBUG
                    try options.fault?(.beforeCommit)
                #endif
                return UpgradeResult(
                    fromFormat: from, toFormat: VaultFile.currentFormat, backup: backup, endorsedKeys: endorsed,
                    keysToPin: keys.count, secretsTagged: tagged, pendingRequests: pending.sorted())
            }
        }
        _ = try? store.checkpointTruncate()
        return result
    }

    /// The administrator's login to a format-1 vault, for the upgrade: the password, the key pair
    /// it opens and the root key sealed to it. Failures count toward the lockout and are audited,
    /// as any login's; a locked account answers as a wrong password does.
    private func legacyLogin(username: String, password: SecureBytes, now: Int64)
        throws -> (userID: Int64, username: String, keyID: Int64, pair: SigningKeyPair, root: SecureBytes)
    {
        let found = try Vault.wrap { try store.read { try $0.user(named: String(username.prefix(64))) } }
        guard let user = found, !user.locked, !(user.lockedUntil.map { $0 > now } ?? false),
            PasswordHash.verify(password, hash: user.passwordHash)
        else {
            try Vault.wrap {
                try store.write { tx in
                    if var u = found, !u.locked, !(u.lockedUntil.map { $0 > now } ?? false) {
                        u.failedLogins += 1
                        if let delay = Vault.lockoutDelay(afterFailures: u.failedLogins) { u.lockedUntil = now + delay }
                        try tx.updateUser(u)
                    }
                    let name = found?.username ?? ((try? Validate.username(username)) ?? "(not a valid username)")
                    try AuditChain.append(
                        tx, at: now, actorID: found?.id, actorName: name, signer: nil, action: .loginFailed,
                        target: "user:\(name)", details: ["reason": .string("upgrade: login failed")])
                }
            }
            if found == nil { _ = PasswordHash.verify(password, hash: try dummyHash()) }
            throw KeyholdError.authenticationFailed
        }
        if user.disabled { throw KeyholdError.disabled(username: user.username) }
        if let e = user.expiresAt, e <= now { throw KeyholdError.expired(username: user.username) }
        return try Vault.wrap {
            try store.read { tx in
                guard Permission.stewardship.isSubset(of: Set(names: try tx.permissions(ofUser: user.id))) else {
                    throw KeyholdError.refused("the upgrade is made by an administrator holding roles.manage and keys.manage")
                }
                guard let keyID = user.keyID, let key = try tx.userKey(id: keyID) else {
                    throw KeyholdError.noKeyAccess("\(user.username) has no key pair")
                }
                let pair = try Keyring.openUserKey(key, password: password)
                guard let grant = try tx.grant(userID: user.id), grant.sealedRoot != nil, grant.keyID == keyID else {
                    throw KeyholdError.noKeyAccess("\(user.username) holds no key grant; the upgrade needs the root key")
                }
                let root = try Keyring.openGrant(grant, pair: pair)
                // The root key must open every data key, or it is not this vault's.
                for k in try tx.dataKeys() { _ = try Keyring.openDataKey(k, root: root) }
                return (user.id, user.username, keyID, pair, root)
            }
        }
    }
}
