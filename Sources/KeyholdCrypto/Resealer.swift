import CSodium

/// Moves sealed values from one key to another through one reusable guarded
/// buffer, so re-encrypting many rows allocates no locked memory per row.
/// Not thread-safe: one per job.
public final class Resealer: @unchecked Sendable {
    private let scratch: UnsafeMutableRawPointer
    private let capacity: Int
    /// Reusable output (ciphertext, not secret) for the non-allocating `reseal`.
    private let output: UnsafeMutableRawPointer

    /// A resealer for plaintexts of at most `capacity` bytes.
    public init(capacity: Int) throws {
        scratch = try Sodium.guardedAllocate(capacity)
        self.capacity = capacity
        output = .allocate(byteCount: Seal.nonceBytes + capacity + Seal.tagBytes, alignment: 16)
    }

    deinit {
        sodium_free(scratch)
        output.deallocate()
    }

    /// Opens `sealed` with `from`/`fromAAD` and seals it again with `to`/`toAAD` under a fresh nonce.
    public func reseal(_ sealed: [UInt8], from: SecureBytes, fromAAD: String, to: SecureBytes, toAAD: String) throws -> [UInt8] {
        try sealed.withUnsafeBytes { s in
            try reseal(s, from: from, fromAAD: fromAAD, to: to, toAAD: toAAD) { Array($0) }
        }
    }

    /// Like `reseal(_:from:fromAAD:to:toAAD:)`, but hands the new sealed bytes to
    /// `body` from a reusable buffer (valid only during the call): no allocation per row.
    public func reseal<R>(
        _ sealed: UnsafeRawBufferPointer, from: SecureBytes, fromAAD: String, to: SecureBytes, toAAD: String,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        var fromAAD = fromAAD, toAAD = toAAD
        return try fromAAD.withUTF8 { f in
            try toAAD.withUTF8 { t in
                try reseal(sealed, from: from, fromAAD: UnsafeRawBufferPointer(f), to: to, toAAD: UnsafeRawBufferPointer(t), body)
            }
        }
    }

    /// `reseal` with both AADs given as bytes (callers that build them without allocating).
    public func reseal<R>(
        _ sealed: UnsafeRawBufferPointer, from: SecureBytes, fromAAD: UnsafeRawBufferPointer,
        to: SecureBytes, toAAD: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        guard from.count == Seal.keyBytes, to.count == Seal.keyBytes else { throw CryptoError.malformed("key length") }
        guard sealed.count >= Seal.nonceBytes + Seal.tagBytes else { throw CryptoError.integrity }
        let length = sealed.count - Seal.nonceBytes - Seal.tagBytes
        guard length <= capacity else { throw CryptoError.malformed("value longer than the resealer's buffer") }
        defer { sodium_memzero(scratch, length) }
        let plain = scratch.assumingMemoryBound(to: UInt8.self)
        let s = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written: UInt64 = 0
        let opened = from.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                plain, &written, nil, s + Seal.nonceBytes, UInt64(length + Seal.tagBytes),
                fromAAD.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(fromAAD.count),
                s, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard opened == 0 else { throw CryptoError.integrity }
        let o = output.assumingMemoryBound(to: UInt8.self)
        randombytes_buf(output, Seal.nonceBytes)
        let rc = to.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                o + Seal.nonceBytes, &written, plain, UInt64(length),
                toAAD.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(toAAD.count), nil,
                o, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(rc == 0 && Int(written) == length + Seal.tagBytes)
        return try body(UnsafeRawBufferPointer(start: output, count: sealed.count))
    }
}
