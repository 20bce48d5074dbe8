import CSodium

/// Moves sealed values from one key to another through one reusable guarded
/// buffer, so re-encrypting many rows allocates no locked memory per row.
/// Not thread-safe: one per job.
public final class Resealer: @unchecked Sendable {
    private let scratch: UnsafeMutableRawPointer
    private let capacity: Int

    /// A resealer for plaintexts of at most `capacity` bytes.
    public init(capacity: Int) {
        Sodium.ensureReady()
        guard let p = sodium_malloc(max(capacity, 1)) else { fatalError("sodium_malloc failed: out of locked memory") }
        scratch = p
        self.capacity = capacity
    }

    deinit { sodium_free(scratch) }

    /// Opens `sealed` with `from`/`fromAAD` and seals it again with `to`/`toAAD` under a fresh nonce.
    public func reseal(_ sealed: [UInt8], from: SecureBytes, fromAAD: String, to: SecureBytes, toAAD: String) throws -> [UInt8] {
        guard from.count == Seal.keyBytes, to.count == Seal.keyBytes else { throw CryptoError.malformed("key length") }
        guard sealed.count >= Seal.nonceBytes + Seal.tagBytes else { throw CryptoError.integrity }
        let length = sealed.count - Seal.nonceBytes - Seal.tagBytes
        guard length <= capacity else { throw CryptoError.malformed("value longer than the resealer's buffer") }
        defer { sodium_memzero(scratch, length) }
        let plain = scratch.assumingMemoryBound(to: UInt8.self)
        let fromAADBytes = Array(fromAAD.utf8), toAADBytes = Array(toAAD.utf8)
        var written: UInt64 = 0
        let opened = sealed.withUnsafeBytes { s in
            from.withBytes { k in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    plain, &written, nil,
                    s.baseAddress!.advanced(by: Seal.nonceBytes).assumingMemoryBound(to: UInt8.self), UInt64(length + Seal.tagBytes),
                    fromAADBytes, UInt64(fromAADBytes.count),
                    s.baseAddress!.assumingMemoryBound(to: UInt8.self), k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        guard opened == 0 else { throw CryptoError.integrity }
        var out = [UInt8](repeating: 0, count: sealed.count)
        out.withUnsafeMutableBytes { o in
            randombytes_buf(o.baseAddress!, Seal.nonceBytes)
            to.withBytes { k in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
                    o.baseAddress!.advanced(by: Seal.nonceBytes).assumingMemoryBound(to: UInt8.self), &written,
                    plain, UInt64(length), toAADBytes, UInt64(toAADBytes.count), nil,
                    o.baseAddress!.assumingMemoryBound(to: UInt8.self), k.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return out
    }
}
