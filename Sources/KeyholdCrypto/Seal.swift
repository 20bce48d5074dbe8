import CSodium

/// A failure of the crypto layer. Never carries key or plaintext bytes.
public enum CryptoError: Error, Equatable, Sendable {
    /// A ciphertext failed authentication: wrong key, wrong AAD (moved to
    /// another row or purpose), or altered bytes.
    case integrity
    /// A key or ciphertext had the wrong length.
    case malformed(String)
    /// Argon2id could not run with these parameters (usually memory).
    case kdfFailed
    /// Guarded memory could not be mapped (the system is out of memory or address space).
    case outOfMemory(bytes: Int)
}

/// XChaCha20-Poly1305-IETF sealing: `nonce(24) || ciphertext || tag(16)`.
public enum Seal {
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    /// Seals `message` under `key`, bound to `aad`.
    public static func seal(_ message: SecureBytes, key: SecureBytes, aad: String) throws -> [UInt8] {
        Sodium.ensureReady()
        guard key.count == keyBytes else { throw CryptoError.malformed("key length") }
        let nonce = Sodium.randomBytes(nonceBytes)
        var out = [UInt8](repeating: 0, count: nonceBytes + message.count + tagBytes)
        let aadBytes = Array(aad.utf8)
        var written: UInt64 = 0
        let rc = out.withUnsafeMutableBytes { o in
            message.withBytes { m in
                key.withBytes { k in
                    o.baseAddress!.copyMemory(from: nonce, byteCount: nonceBytes)
                    return crypto_aead_xchacha20poly1305_ietf_encrypt(
                        o.baseAddress!.advanced(by: nonceBytes).assumingMemoryBound(to: UInt8.self), &written,
                        m.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(m.count),
                        aadBytes, UInt64(aadBytes.count), nil,
                        nonce, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        precondition(rc == 0 && Int(written) == message.count + tagBytes)
        return out
    }

    /// Opens a sealed value; throws `CryptoError.integrity` on any mismatch.
    public static func open(_ sealed: [UInt8], key: SecureBytes, aad: String) throws -> SecureBytes {
        Sodium.ensureReady()
        guard key.count == keyBytes else { throw CryptoError.malformed("key length") }
        guard sealed.count >= nonceBytes + tagBytes else { throw CryptoError.integrity }
        let length = sealed.count - nonceBytes - tagBytes
        let aadBytes = Array(aad.utf8)
        return try SecureBytes(count: length) { out in
            var written: UInt64 = 0
            let rc = sealed.withUnsafeBytes { s in
                key.withBytes { k in
                    // SecureBytes always has a valid base address, even for zero bytes.
                    crypto_aead_xchacha20poly1305_ietf_decrypt(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, nil,
                        s.baseAddress!.advanced(by: nonceBytes).assumingMemoryBound(to: UInt8.self),
                        UInt64(length + tagBytes),
                        aadBytes, UInt64(aadBytes.count),
                        s.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            guard rc == 0 else { throw CryptoError.integrity }
        }
    }
}

/// BLAKE2b hashing.
public enum Hash {
    /// Unkeyed BLAKE2b with a 32-byte output.
    public static func blake2b256<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
        Sodium.ensureReady()
        var out = [UInt8](repeating: 0, count: 32)
        let bytes = Array(data)
        _ = crypto_generichash(&out, 32, bytes, UInt64(bytes.count), nil, 0)
        return out
    }

    /// Keyed BLAKE2b with a 32-byte output that is public (a tag stored in the file), in
    /// ordinary memory: no guarded allocation, which costs about ten system calls
    /// (mmap, mprotect, mlock and their undoing) and made tagging 100,000 names take seconds.
    public static func blake2b256Tag(key: SecureBytes, _ data: UnsafeRawBufferPointer) -> [UInt8] {
        Sodium.ensureReady()
        var out = [UInt8](repeating: 0, count: 32)
        key.withBytes { k in
            _ = crypto_generichash(
                &out, 32, data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count),
                k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count)
        }
        return out
    }

    /// Keyed BLAKE2b (a key derived from `key`, or a secret MAC) with a 32-byte output, kept in guarded memory.
    public static func blake2b256(key: SecureBytes, _ data: [UInt8]) throws -> SecureBytes {
        Sodium.ensureReady()
        return try SecureBytes(count: 32) { out in
            key.withBytes { k in
                _ = crypto_generichash(
                    out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32, data, UInt64(data.count),
                    k.baseAddress!.assumingMemoryBound(to: UInt8.self), k.count)
            }
        }
    }
}
