import CSodium

/// An Ed25519 key pair. The secret key (libsodium's 64-byte form) stays in guarded memory.
public struct SigningKeyPair: Sendable {
    public let publicKey: [UInt8]
    public let secretKey: SecureBytes

    public static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)
    public static let secretKeyBytes = Int(crypto_sign_SECRETKEYBYTES)
    public static let signatureBytes = Int(crypto_sign_BYTES)

    /// A fresh key pair.
    public static func generate() throws -> SigningKeyPair {
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let sk = try SecureBytes(count: secretKeyBytes) { out in
            _ = crypto_sign_keypair(&pk, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return SigningKeyPair(unchecked: pk, secretKey: sk)
    }

    /// The key pair whose seed is `seed` (32 bytes), as `crypto_sign_seed_keypair`
    /// makes it: a signing key derived from another secret (the root key's).
    public static func derived(fromSeed seed: SecureBytes) throws -> SigningKeyPair {
        guard seed.count == 32 else { throw CryptoError.malformed("seed length") }
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: publicKeyBytes)
        let sk = try SecureBytes(count: secretKeyBytes) { out in
            seed.withBytes { s in
                _ = crypto_sign_seed_keypair(
                    &pk, out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return SigningKeyPair(unchecked: pk, secretKey: sk)
    }

    /// Re-forms a key pair from its stored public key and unsealed secret key,
    /// checking that the two belong together.
    public init(publicKey: [UInt8], secretKey: SecureBytes) throws {
        guard publicKey.count == Self.publicKeyBytes, secretKey.count == Self.secretKeyBytes else {
            throw CryptoError.malformed("key pair length")
        }
        // Derive the public key from the seed (the first 32 bytes), not only
        // the copy kept in the second half, which a spliced key could fake.
        Sodium.ensureReady()
        var derived = [UInt8](repeating: 0, count: Self.publicKeyBytes)
        _ = try SecureBytes(count: Self.secretKeyBytes) { scratch in
            secretKey.withBytes { sk in
                _ = crypto_sign_seed_keypair(
                    &derived, scratch.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        let embedded = secretKey.withBytes { Array($0[32..<64]) }
        guard derived == publicKey, embedded == publicKey else { throw CryptoError.integrity }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    private init(unchecked pk: [UInt8], secretKey sk: SecureBytes) {
        publicKey = pk
        secretKey = sk
    }

    /// Detached signature of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Self.signatureBytes)
        secretKey.withBytes { sk in
            _ = crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return sig
    }

    /// Whether `signature` is `publicKey`'s signature of `message`.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ensureReady()
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}

/// Anonymous sealed boxes to the X25519 form of an Ed25519 key: how R is granted to a user.
public enum SealedBox {
    /// `crypto_box_seal(message, x25519(publicKey))`.
    public static func seal(_ message: SecureBytes, to publicKey: [UInt8]) throws -> [UInt8] {
        Sodium.ensureReady()
        var curve = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
        guard publicKey.count == SigningKeyPair.publicKeyBytes,
            crypto_sign_ed25519_pk_to_curve25519(&curve, publicKey) == 0
        else {
            throw CryptoError.malformed("public key")
        }
        var out = [UInt8](repeating: 0, count: message.count + crypto_box_sealbytes())
        let rc = message.withBytes { m in
            crypto_box_seal(&out, m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count), curve)
        }
        precondition(rc == 0)
        return out
    }

    /// Opens a sealed box with the recipient's Ed25519 key pair.
    public static func open(_ sealed: [UInt8], with keyPair: SigningKeyPair) throws -> SecureBytes {
        Sodium.ensureReady()
        let overhead = crypto_box_sealbytes()
        guard sealed.count >= overhead else { throw CryptoError.integrity }
        var curvePK = [UInt8](repeating: 0, count: Int(crypto_box_PUBLICKEYBYTES))
        guard crypto_sign_ed25519_pk_to_curve25519(&curvePK, keyPair.publicKey) == 0 else {
            throw CryptoError.malformed("public key")
        }
        let curveSK = try SecureBytes(count: Int(crypto_box_SECRETKEYBYTES)) { out in
            let rc = keyPair.secretKey.withBytes { sk in
                crypto_sign_ed25519_sk_to_curve25519(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            guard rc == 0 else { throw CryptoError.malformed("secret key") }
        }
        return try SecureBytes(count: sealed.count - overhead) { out in
            let rc = curveSK.withBytes { csk in
                crypto_box_seal_open(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    sealed, UInt64(sealed.count), curvePK,
                    csk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            guard rc == 0 else { throw CryptoError.integrity }
        }
    }
}
