import CSodium

/// Argon2id cost: passes (opslimit) and memory in bytes (memlimit).
public struct KDFCost: Equatable, Sendable, Codable {
    public var opslimit: Int
    public var memlimit: Int
    public init(opslimit: Int, memlimit: Int) {
        self.opslimit = opslimit
        self.memlimit = memlimit
    }

    /// libsodium's INTERACTIVE limits (t=2, 64 MiB): the product's default and floor for new vaults.
    public static let interactive = KDFCost(
        opslimit: Int(crypto_pwhash_OPSLIMIT_INTERACTIVE), memlimit: Int(crypto_pwhash_MEMLIMIT_INTERACTIVE))
    /// libsodium's MODERATE limits (t=3, 256 MiB).
    public static let moderate = KDFCost(
        opslimit: Int(crypto_pwhash_OPSLIMIT_MODERATE), memlimit: Int(crypto_pwhash_MEMLIMIT_MODERATE))

    /// Whether this cost is at least `other` in both dimensions.
    public func isAtLeast(_ other: KDFCost) -> Bool { opslimit >= other.opslimit && memlimit >= other.memlimit }
}

/// Password hashing (PHC strings) and password-derived keys, both Argon2id.
public enum PasswordHash {
    public static let saltBytes = Int(crypto_pwhash_SALTBYTES)

    /// `crypto_pwhash_str`: an Argon2id PHC string any Argon2 library verifies.
    public static func hash(_ password: SecureBytes, cost: KDFCost) throws -> String {
        Sodium.ensureReady()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        let rc = password.withBytes { p in
            crypto_pwhash_str_alg(
                &out, p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count),
                UInt64(cost.opslimit), Int(cost.memlimit), crypto_pwhash_ALG_ARGON2ID13)
        }
        guard rc == 0 else { throw CryptoError.kdfFailed }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Verifies a password against a stored hash: an Argon2id or Argon2i PHC string, or an
    /// imported Werkzeug hash (`scrypt:`, `pbkdf2:sha256:`). False for bcrypt (libsodium has
    /// none) and for anything else.
    public static func verify(_ password: SecureBytes, hash: String) -> Bool {
        Sodium.ensureReady()
        guard let scheme = scheme(of: hash) else { return false }
        switch scheme {
        case .argon2id, .argon2i:
            return password.withBytes { p in
                crypto_pwhash_str_verify(hash, p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count)) == 0
            }
        case .werkzeugScrypt, .werkzeugPBKDF2:
            return Werkzeug.verify(password, hash: hash, scheme: scheme)
        case .bcrypt:
            return false
        }
    }

    /// Whether the hash is not Argon2id at exactly this cost (so it should be re-made at the next login).
    public static func needsRehash(_ hash: String, cost: KDFCost) -> Bool {
        Sodium.ensureReady()
        return crypto_pwhash_str_needs_rehash(hash, UInt64(cost.opslimit), Int(cost.memlimit)) != 0
    }

    /// U = Argon2id(password, salt, cost), 32 bytes: the key that wraps a user's secret key.
    public static func deriveKey(_ password: SecureBytes, salt: [UInt8], cost: KDFCost) throws -> SecureBytes {
        Sodium.ensureReady()
        guard salt.count == saltBytes else { throw CryptoError.malformed("salt length") }
        return try SecureBytes(count: 32) { out in
            let rc = password.withBytes { p in
                crypto_pwhash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32,
                    p.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(p.count),
                    salt, UInt64(cost.opslimit), Int(cost.memlimit), crypto_pwhash_ALG_ARGON2ID13)
            }
            guard rc == 0 else { throw CryptoError.kdfFailed }
        }
    }
}
