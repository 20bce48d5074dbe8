import Foundation
import KeyholdCrypto
import KeyholdStore

/// Trust in the file (docs/SECURITY.md, "Trust in the file"; bytes in docs/FORMAT.md).
///
/// Whoever can write the vault file can plant rows. The product therefore trusts
/// no row because it is there: a key receives the root key R only when a root
/// signing key (derived from R, so only holders of R can sign) endorses it; a
/// user's own key pins the vault (its id and the audit event trust starts from);
/// R is accepted only when the key derived from it is the end of a chain of
/// root keys signed one by the next from the anchor's; a secret's name carries a
/// keyed hash only holders of R can make.
enum Trust {
    // MARK: Derived keys

    /// The Ed25519 key pair of a root key generation: seed = BLAKE2b-256(key: R, "keyhold/root-signing-key/v1").
    static func rootSigningKey(_ root: SecureBytes) throws -> SigningKeyPair {
        try SigningKeyPair.derived(fromSeed: Hash.blake2b256(key: root, Array("keyhold/root-signing-key/v1".utf8)))
    }

    /// The key of secret name tags: BLAKE2b-256(key: R, "keyhold/secret-names/v1").
    static func nameKey(_ root: SecureBytes) throws -> SecureBytes {
        try Hash.blake2b256(key: root, Array("keyhold/secret-names/v1".utf8))
    }

    /// BLAKE2b-256(key: name key, "keyhold/secret-name/v1" NUL || u64 id || name).
    /// The tag is stored in the file, so it is made in ordinary memory: import and
    /// root rotation make one per secret.
    static func nameTag(_ key: SecureBytes, secretID: Int64, name: String) -> [UInt8] {
        var message = nameTagLabel
        message.reserveCapacity(nameTagLabel.count + 8 + name.utf8.count)
        put(&message, secretID)
        message.append(contentsOf: name.utf8)
        return message.withUnsafeBytes { Hash.blake2b256Tag(key: key, $0) }
    }
    private static let nameTagLabel = label("keyhold/secret-name/v1")

    // MARK: Signed messages

    /// What a user's pin signs: their key bound to this vault and its anchor event.
    static func pinMessage(_ anchor: Anchor, userID: Int64, keyID: Int64, publicKey: [UInt8]) -> [UInt8] {
        var m = label("keyhold/pin/v1") + anchor.vaultID
        put(&m, anchor.seq)
        m += anchor.hash
        put(&m, userID)
        put(&m, keyID)
        return m + publicKey
    }

    /// What a root signing key signs to vouch for a user's key.
    static func endorsementMessage(vaultID: [UInt8], rootVersion: Int, userID: Int64, keyID: Int64, publicKey: [UInt8]) -> [UInt8] {
        var m = label("keyhold/key-endorsement/v1") + vaultID
        put(&m, Int64(rootVersion))
        put(&m, userID)
        put(&m, keyID)
        return m + publicKey
    }

    /// What generation `version - 1` of the root signing key signs to introduce generation `version`.
    static func rootLinkMessage(vaultID: [UInt8], version: Int, publicKey: [UInt8]) -> [UInt8] {
        var m = label("keyhold/root-key/v1") + vaultID
        put(&m, Int64(version))
        return m + publicKey
    }

    /// What the root signing key signs to vouch for a sealed grant: its user, key and sealed bytes.
    static func grantMessage(vaultID: [UInt8], rootVersion: Int, userID: Int64, keyID: Int64, sealed: [UInt8]) -> [UInt8] {
        var m = label("keyhold/grant/v1") + vaultID
        put(&m, Int64(rootVersion))
        put(&m, userID)
        put(&m, keyID)
        return m + Hash.blake2b256(sealed)
    }

    /// Signs a sealed grant with the root signing key.
    static func signGrant(_ grant: GrantRow, root: Root) -> GrantRow {
        var g = grant
        if let sealed = g.sealedRoot, let keyID = g.keyID {
            g.signature = root.signer.sign(
                grantMessage(
                    vaultID: root.vaultID, rootVersion: root.version, userID: g.userID,
                    keyID: keyID, sealed: sealed))
        }
        return g
    }

    /// Whether a sealed grant carries the current root signing key's signature (anyone can check).
    static func grantHolds(_ grant: GrantRow, vaultID: [UInt8], root: RootKeyRow) -> Bool {
        guard let sealed = grant.sealedRoot, let keyID = grant.keyID, let signature = grant.signature else { return false }
        return SigningKeyPair.verify(
            signature: signature,
            message: grantMessage(
                vaultID: vaultID, rootVersion: root.version, userID: grant.userID,
                keyID: keyID, sealed: sealed),
            publicKey: root.publicKey)
    }

    /// What the root signing key signs when the recovery key brings an administrator back.
    static func recoverMessage(vaultID: [UInt8], userID: Int64, keyID: Int64, publicKey: [UInt8]) -> [UInt8] {
        var m = label("keyhold/recover/v1") + vaultID
        put(&m, userID)
        put(&m, keyID)
        return m + publicKey
    }

    private static func label(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
    private static func put(_ m: inout [UInt8], _ v: Int64) {
        let u = UInt64(bitPattern: v)
        for shift in stride(from: 56, through: 0, by: -8) { m.append(UInt8((u >> UInt64(shift)) & 0xFF)) }
    }

    // MARK: The anchor

    /// The audit event trust starts from, as the vault row names it and each user's pin binds it.
    struct Anchor: Equatable {
        var seq: Int64
        var hash: [UInt8]
        var vaultID: [UInt8]
        var action: String
        /// The root key generation the anchor names, and its public key.
        var rootVersion: Int
        var rootPublicKey: [UInt8]
        /// Keys the upgrade found in place (vault.upgrade only): they may pin themselves at their next login.
        var unpinnedKeys: [Int64: [UInt8]]
    }

    /// Reads and checks the anchor: the event must be the one the vault row names, hash to itself,
    /// be a vault.create or vault.upgrade event, and name the vault's id.
    static func anchor(_ tx: Tx) throws -> Anchor {
        guard let vault = try tx.vault(), let vaultID = vault.vaultID, let seq = vault.anchorSeq else {
            throw KeyholdError.integrity("vault: the vault's identity or anchor event is missing")
        }
        guard let event = try tx.auditEvent(seq: seq) else {
            throw KeyholdError.integrity("audit_events seq=\(seq): the anchor event the vault names is missing")
        }
        guard event.action == AuditAction.vaultCreate.rawValue && seq == 1 || event.action == AuditAction.vaultUpgrade.rawValue,
            AuditChain.hash(event) == event.hash
        else {
            throw KeyholdError.integrity("audit_events seq=\(seq): not a valid anchor event (vault.create or vault.upgrade)")
        }
        let details = AuditDetails(event.details)
        guard details.hex("vault_id") == vaultID, let version = details.int("root_version"),
            let rootPK = details.hex("root_public_key"), rootPK.count == 32
        else {
            throw KeyholdError.integrity("audit_events seq=\(seq): the anchor event does not name this vault and its root key")
        }
        var unpinned: [Int64: [UInt8]] = [:]
        if event.action == AuditAction.vaultUpgrade.rawValue {
            for entry in details.strings("keys") ?? [] {
                if let k = SnapshotKey(entry) { unpinned[k.keyID] = k.publicKey }
            }
        }
        return Anchor(
            seq: seq, hash: event.hash, vaultID: vaultID, action: event.action, rootVersion: Int(version),
            rootPublicKey: rootPK, unpinnedKeys: unpinned)
    }

    /// One key of an upgrade's snapshot: "key id:user id:public key (hex)".
    struct SnapshotKey {
        var keyID: Int64, userID: Int64, publicKey: [UInt8]
        init?(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count == 3, let k = Int64(parts[0]), let u = Int64(parts[1]), let pk = AuditDetails.bytes(hex: String(parts[2])),
                pk.count == 32
            else { return nil }
            keyID = k; userID = u; publicKey = pk
        }
        init(keyID: Int64, userID: Int64, publicKey: [UInt8]) { self.keyID = keyID; self.userID = userID; self.publicKey = publicKey }
        var text: String { "\(keyID):\(userID):\(Store.hex(publicKey))" }
    }

    // MARK: Root keys

    /// The current root key generation: the anchor's, then each later one whose link
    /// the one before signed. Every row must chain; the vault's root version must be the last.
    static func currentRootKey(_ tx: Tx, anchor: Anchor) throws -> RootKeyRow {
        let rows = try tx.rootKeys().filter { $0.version >= anchor.rootVersion }
        guard var current = rows.first, current.version == anchor.rootVersion, current.publicKey == anchor.rootPublicKey else {
            throw KeyholdError.integrity("root_keys version=\(anchor.rootVersion): missing or not the key the anchor event names")
        }
        for next in rows.dropFirst() {
            guard next.version == current.version + 1, let link = next.link,
                SigningKeyPair.verify(
                    signature: link,
                    message: rootLinkMessage(
                        vaultID: anchor.vaultID, version: next.version,
                        publicKey: next.publicKey),
                    publicKey: current.publicKey)
            else {
                throw KeyholdError.integrity("root_keys version=\(next.version): not signed by root key version \(current.version)")
            }
            current = next
        }
        guard let vault = try tx.vault(), vault.rootVersion == current.version else {
            throw KeyholdError.integrity("vault.root_version does not match the last root key generation (\(current.version))")
        }
        return current
    }

    /// The root key a session holds, with what follows from it: checked against the chain of root keys.
    struct Root {
        let key: SecureBytes
        let version: Int
        let signer: SigningKeyPair
        let names: SecureBytes
        let vaultID: [UInt8]
    }

    /// Opens a user's grant, trusting it only if the current root signing key signed it and the
    /// root key inside is that generation's.
    static func openGrant(_ tx: Tx, _ grant: GrantRow, pair: SigningKeyPair, anchor: Anchor) throws -> Root {
        let current = try currentRootKey(tx, anchor: anchor)
        guard grantHolds(grant, vaultID: anchor.vaultID, root: current) else {
            throw KeyholdError.integrity(
                "grants user_id=\(grant.userID): not signed by the vault's root key "
                    + "(replaced or planted outside Keyhold)")
        }
        return try verifiedRoot(tx, try Keyring.openGrant(grant, pair: pair), anchor: anchor, grantOf: grant.userID)
    }

    /// Accepts `root` only if its signing key is the current root key generation's.
    static func verifiedRoot(_ tx: Tx, _ root: SecureBytes, anchor: Anchor, grantOf userID: Int64) throws -> Root {
        let current = try currentRootKey(tx, anchor: anchor)
        let signer = try rootSigningKey(root)
        guard signer.publicKey == current.publicKey else {
            throw KeyholdError.integrity(
                "grants user_id=\(userID): opens to a root key this vault never made (not root key version \(current.version))")
        }
        return Root(key: root, version: current.version, signer: signer, names: try nameKey(root), vaultID: anchor.vaultID)
    }

    // MARK: Pins

    /// Pins `key` (whose owner's secret key is in hand) to this vault.
    static func pin(_ tx: Tx, anchor: Anchor, key: UserKeyRow, pair: SigningKeyPair) throws {
        let pin = pair.sign(pinMessage(anchor, userID: key.userID, keyID: key.id, publicKey: key.publicKey))
        try tx.setUserKeyPin(id: key.id, pin: pin)
    }

    /// Whether the key's pin binds it to this vault's anchor (anyone can check: it is a signature by the key).
    static func pinHolds(_ key: UserKeyRow, anchor: Anchor) -> Bool {
        guard let pin = key.pin else { return false }
        return SigningKeyPair.verify(
            signature: pin,
            message: pinMessage(
                anchor, userID: key.userID, keyID: key.id,
                publicKey: key.publicKey),
            publicKey: key.publicKey)
    }

    /// At login, with the key's secret key open: the pin must hold. A key the upgrade found in
    /// place pins itself once; any other missing or wrong pin means the vault is not the one
    /// this user's key was made in.
    static func checkOwnPin(_ tx: Tx, anchor: Anchor, key: UserKeyRow, pair: SigningKeyPair) throws {
        if pinHolds(key, anchor: anchor) { return }
        if key.pin == nil, anchor.unpinnedKeys[key.id] == key.publicKey {
            try pin(tx, anchor: anchor, key: key, pair: pair)
            return
        }
        throw KeyholdError.integrity(
            key.pin == nil
                ? "user_keys id=\(key.id) (user \(key.username)): the key carries no pin for this vault"
                : "user_keys id=\(key.id) (user \(key.username)): the key's pin names another vault or anchor event")
    }

    // MARK: Endorsements

    /// The root signing key vouches for `key`.
    static func endorse(_ tx: Tx, root: Root, key: UserKeyRow) throws {
        let signature = root.signer.sign(
            endorsementMessage(
                vaultID: root.vaultID, rootVersion: root.version, userID: key.userID,
                keyID: key.id, publicKey: key.publicKey))
        try tx.setUserKeyEndorsement(id: key.id, endorsement: signature, rootVersion: root.version)
    }

    /// Whether `key` carries an endorsement by the root key generation `version` with public key `rootPublicKey`.
    static func isEndorsed(_ key: UserKeyRow, vaultID: [UInt8], version: Int, rootPublicKey: [UInt8]) -> Bool {
        guard let signature = key.endorsement, key.endorsedRoot == version else { return false }
        return SigningKeyPair.verify(
            signature: signature,
            message: endorsementMessage(
                vaultID: vaultID, rootVersion: version, userID: key.userID,
                keyID: key.id, publicKey: key.publicKey),
            publicKey: rootPublicKey)
    }

    /// A key the root key may be sealed to: the user's current key, not retired, endorsed by
    /// the current root signing key. Only `Trust.sealable` makes one, so nothing is sealed to
    /// a key because a row asks for it.
    struct SealableKey {
        let row: UserKeyRow
        fileprivate init(_ row: UserKeyRow) { self.row = row }
    }

    /// Why a user's key may not receive the root key (nil: it may).
    enum Refusal: Error, Equatable {
        case noKey
        case notEndorsed(keyID: Int64)
        case inactive(String)
    }

    /// The user's key, if the root key may be sealed to it now.
    static func sealable(_ tx: Tx, root: Root, user: UserRow, now: Int64) throws -> Result<SealableKey, Refusal> {
        if user.disabled { return .failure(.inactive("disabled")) }
        if user.locked { return .failure(.inactive("locked")) }
        if let e = user.expiresAt, e <= now { return .failure(.inactive("expired")) }
        guard let keyID = user.keyID, let key = try tx.userKey(id: keyID), key.userID == user.id, key.retiredAt == nil,
            key.sealedSecretKey != nil
        else { return .failure(.noKey) }
        guard isEndorsed(key, vaultID: root.vaultID, version: root.version, rootPublicKey: root.signer.publicKey) else {
            return .failure(.notEndorsed(keyID: keyID))
        }
        return .success(SealableKey(key))
    }

    /// A key made in this transaction by a session holding R: endorsed at once, so it is sealable.
    static func endorseNew(_ tx: Tx, root: Root, keyID: Int64) throws -> SealableKey {
        guard let key = try tx.userKey(id: keyID) else { throw KeyholdError.integrity("user_keys id=\(keyID): missing") }
        try endorse(tx, root: root, key: key)
        guard let endorsed = try tx.userKey(id: keyID) else { throw KeyholdError.integrity("user_keys id=\(keyID): missing") }
        return SealableKey(endorsed)
    }
}
