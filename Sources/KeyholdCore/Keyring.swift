import KeyholdCrypto
import KeyholdStore

/// The key hierarchy of docs/FORMAT.md: AAD strings and the wrapping steps.
enum Keyring {
    static let recoveryAAD = "keyhold/recovery"
    static func dataKeyAAD(_ v: Int) -> String { "keyhold/datakey/\(v)" }
    static func secretAAD(secretID: Int64, version: Int, keyVersion: Int) -> String {
        "keyhold/secret/\(secretID)/\(version)/\(keyVersion)"
    }
    static func userKeyAAD(userID: Int64, keyID: Int64) -> String { "keyhold/userkey/\(userID)/\(keyID)" }

    /// The bytes of `secretAAD`, built on the stack and handed to `body` (bulk sealing allocates nothing per row).
    static func withSecretAAD<R>(
        secretID: Int64, version: Int, keyVersion: Int,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 96) { buffer in
            var n = 0
            func put(_ byte: UInt8) { buffer[n] = byte; n += 1 }
            func put(_ value: Int64) {
                if value < 0 { put(UInt8(ascii: "-")) }
                var m = value.magnitude, digits = 1
                while m >= 10 { m /= 10; digits += 1 }
                m = value.magnitude
                n += digits
                for i in 1...digits { buffer[n - i] = UInt8(ascii: "0") + UInt8(m % 10); m /= 10 }
            }
            for b in secretAADPrefix { put(b) }
            put(secretID)
            put(UInt8(ascii: "/"))
            put(Int64(version))
            put(UInt8(ascii: "/"))
            put(Int64(keyVersion))
            return try body(UnsafeRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[0..<n]))
        }
    }
    private static let secretAADPrefix = Array("keyhold/secret/".utf8)

    /// Makes a new Ed25519 key pair for a user, sealed under U derived from `password`, pinned to
    /// this vault (`anchor`; nil only while the genesis event that is the anchor is not yet written),
    /// and points the user at it.
    static func makeUserKey(
        _ tx: Tx, user: inout UserRow, password: SecureBytes, cost: KDFCost, now: Int64,
        anchor: Trust.Anchor?
    ) throws -> (id: Int64, pair: SigningKeyPair) {
        let pair = try SigningKeyPair.generate()
        let row = UserKeyRow(
            userID: user.id, username: user.username, publicKey: pair.publicKey, sealedSecretKey: nil,
            kdfSalt: nil, kdfOpslimit: nil, kdfMemlimit: nil, createdAt: now)
        let id = try tx.insertUserKey(row)
        try sealUserKey(tx, pair: pair, userID: user.id, keyID: id, password: password, cost: cost)
        if let anchor {
            var pinned = row
            pinned.id = id
            try Trust.pin(tx, anchor: anchor, key: pinned, pair: pair)
        }
        user.keyID = id
        return (id, pair)
    }

    /// (Re)seals a user's secret key under a password, with a fresh salt.
    static func sealUserKey(_ tx: Tx, pair: SigningKeyPair, userID: Int64, keyID: Int64, password: SecureBytes, cost: KDFCost) throws {
        let salt = Sodium.randomBytes(PasswordHash.saltBytes)
        let u = try PasswordHash.deriveKey(password, salt: salt, cost: cost)
        let sealed = try Seal.seal(pair.secretKey, key: u, aad: userKeyAAD(userID: userID, keyID: keyID))
        try tx.setUserKeySealed(id: keyID, sealedSecretKey: sealed, salt: salt, opslimit: cost.opslimit, memlimit: cost.memlimit)
    }

    /// Opens a user's secret key with their password.
    static func openUserKey(_ key: UserKeyRow, password: SecureBytes) throws -> SigningKeyPair {
        guard let sealed = key.sealedSecretKey, let salt = key.kdfSalt, let ops = key.kdfOpslimit, let mem = key.kdfMemlimit else {
            throw KeyholdError.integrity("user_keys id=\(key.id): the secret key was retired")
        }
        let u = try PasswordHash.deriveKey(password, salt: salt, cost: KDFCost(opslimit: ops, memlimit: mem))
        do {
            let sk = try Seal.open(sealed, key: u, aad: userKeyAAD(userID: key.userID, keyID: key.id))
            return try SigningKeyPair(publicKey: key.publicKey, secretKey: sk)
        } catch {
            throw KeyholdError.integrity("user_keys id=\(key.id) (user \(key.username)): the secret key does not open")
        }
    }

    /// R sealed to a key that `Trust.sealable` (or `Trust.endorseNew`) vouched for: no other key can receive it.
    /// The root signing key signs it, so a replaced grant is caught before it is opened.
    static func sealGrant(root: Trust.Root, to key: Trust.SealableKey, now: Int64) throws -> GrantRow {
        Trust.signGrant(
            GrantRow(
                userID: key.row.userID, keyID: key.row.id,
                sealedRoot: try SealedBox.seal(root.key, to: key.row.publicKey), createdAt: now), root: root)
    }

    /// A grant waiting for the root key: an administrator approves the key (or, for an
    /// endorsed key, a key holder's next change of the user seals it).
    static func pendingGrant(userID: Int64, keyID: Int64?, now: Int64) -> GrantRow {
        GrantRow(userID: userID, keyID: keyID, sealedRoot: nil, createdAt: now)
    }

    static func openGrant(_ grant: GrantRow, pair: SigningKeyPair) throws -> SecureBytes {
        guard let sealed = grant.sealedRoot else { throw KeyholdError.noKeyAccess("your key access awaits approval") }
        do {
            let r = try SealedBox.open(sealed, with: pair)
            guard r.count == 32 else { throw CryptoError.integrity }
            return r
        } catch {
            throw KeyholdError.integrity("grants user_id=\(grant.userID): the root key grant does not open")
        }
    }

    static func openDataKey(_ row: DataKeyRow, root: SecureBytes) throws -> SecureBytes {
        do {
            let k = try Seal.open(row.sealed, key: root, aad: dataKeyAAD(row.version))
            guard k.count == 32 else { throw CryptoError.integrity }
            return k
        } catch {
            throw KeyholdError.integrity("data_keys version=\(row.version): does not open with the root key")
        }
    }

    static func openRecovery(_ sealed: [UInt8], recovery: SecureBytes) throws -> SecureBytes {
        do {
            let r = try Seal.open(sealed, key: recovery, aad: recoveryAAD)
            guard r.count == 32 else { throw CryptoError.integrity }
            return r
        } catch {
            throw KeyholdError.integrity("vault.recovery_sealed: the recovery key does not open this vault")
        }
    }
}
