import CSodium

/// One reusable block of guarded memory (sodium_malloc: guard pages, mlock)
/// for bulk work that holds many plaintexts briefly: one allocation for a
/// whole job instead of one per value. Inaccessible (PROT_NONE) except inside
/// `withUnsafeMutableBytes`; `wipe` zeroes it; released zeroed.
/// Not thread-safe: one per job.
public final class GuardedBuffer: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    /// Usable bytes.
    public let capacity: Int

    public init(capacity: Int) throws {
        pointer = try Sodium.guardedAllocate(capacity)
        self.capacity = capacity
        sodium_mprotect_noaccess(pointer)
    }

    // sodium_free makes the region writable, zeroes it and unmaps it.
    deinit { sodium_free(pointer) }

    /// Read-write access for the duration of `body` only; do not let the buffer escape.
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        sodium_mprotect_readwrite(pointer)
        defer { sodium_mprotect_noaccess(pointer) }
        return try body(UnsafeMutableRawBufferPointer(start: pointer, count: capacity))
    }

    /// Zeroes the first `count` bytes (all by default).
    public func wipe(_ count: Int? = nil) {
        let n = min(count ?? capacity, capacity)
        guard n > 0 else { return }
        sodium_mprotect_readwrite(pointer)
        sodium_memzero(pointer, n)
        sodium_mprotect_noaccess(pointer)
    }
}

/// Seals many values from raw (guarded) memory into one reusable output
/// buffer, so a batch allocates nothing per value. The output is ciphertext,
/// not secret. Same format as `Seal.seal`. Not thread-safe: one per job.
public final class Sealer: @unchecked Sendable {
    private let output: UnsafeMutableRawPointer
    private let capacity: Int

    /// A sealer for plaintexts of at most `capacity` bytes.
    public init(capacity: Int) {
        Sodium.ensureReady()
        self.capacity = capacity
        output = .allocate(byteCount: Seal.nonceBytes + capacity + Seal.tagBytes, alignment: 16)
    }

    deinit { output.deallocate() }

    /// Seals `message` under `key`, bound to `aad`, with a fresh nonce, and hands
    /// `nonce || ciphertext || tag` to `body`. The bytes are valid only during the call.
    public func seal<R>(
        _ message: UnsafeRawBufferPointer, key: SecureBytes, aad: String,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        var aad = aad
        return try aad.withUTF8 { try seal(message, key: key, aad: UnsafeRawBufferPointer($0), body) }
    }

    /// `seal` with the AAD given as bytes (callers that build it without allocating).
    public func seal<R>(
        _ message: UnsafeRawBufferPointer, key: SecureBytes, aad: UnsafeRawBufferPointer,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R {
        guard key.count == Seal.keyBytes else { throw CryptoError.malformed("key length") }
        guard message.count <= capacity else { throw CryptoError.malformed("value longer than the sealer's buffer") }
        let o = output.assumingMemoryBound(to: UInt8.self)
        randombytes_buf(output, Seal.nonceBytes)
        var written: UInt64 = 0
        let rc = key.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                o + Seal.nonceBytes, &written,
                message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count), nil,
                o, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(rc == 0 && Int(written) == message.count + Seal.tagBytes)
        return try body(UnsafeRawBufferPointer(start: output, count: Seal.nonceBytes + message.count + Seal.tagBytes))
    }
}

extension Seal {
    /// Opens `sealed` into `out` (guarded memory the caller owns and wipes) without
    /// allocating: bulk reading opens many values into one buffer. Returns the
    /// plaintext's length; throws `CryptoError.integrity` on any mismatch.
    public static func open(
        _ sealed: UnsafeRawBufferPointer, key: SecureBytes, aad: UnsafeRawBufferPointer,
        into out: UnsafeMutableRawBufferPointer
    ) throws -> Int {
        Sodium.ensureReady()
        guard key.count == keyBytes else { throw CryptoError.malformed("key length") }
        guard sealed.count >= nonceBytes + tagBytes else { throw CryptoError.integrity }
        let length = sealed.count - nonceBytes - tagBytes
        guard length <= out.count else { throw CryptoError.malformed("value longer than the output buffer") }
        let s = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var written: UInt64 = 0
        let rc = key.withBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                out.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, nil,
                s + nonceBytes, UInt64(length + tagBytes),
                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(aad.count),
                s, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard rc == 0 else { throw CryptoError.integrity }
        return length
    }
}
