import CSodium
import Glibc

/// Bytes that hold a key or a plaintext: kept in libsodium guarded memory
/// (sodium_malloc: guard pages, mlock) and zeroed when released.
///
/// Immutable once made, so it is safe to share between threads.
public final class SecureBytes: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    /// Number of bytes held.
    public private(set) var count: Int

    /// Allocates `count` bytes and lets `fill` write them.
    public init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let p = try Sodium.guardedAllocate(count)
        // Fill before the stored properties are set: a throw after full
        // initialisation would run deinit, which would free `p` a second time.
        do {
            try fill(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            sodium_free(p)
            throw error
        }
        sodium_mprotect_readonly(p)
        pointer = p
        self.count = count
    }

    /// Allocates `capacity` bytes and lets `fill` write into them; `fill` returns how many it
    /// wrote (at most `capacity`), which becomes `count`. For input read straight into guarded
    /// memory, whose length is known only once it is read (a line typed at a prompt, a file).
    /// The bytes past `count` are zeroed.
    public convenience init(capacity: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws {
        var used = 0
        try self.init(count: capacity) { buffer in
            used = min(max(try fill(buffer), 0), capacity)
            if used < capacity { sodium_memzero(buffer.baseAddress! + used, capacity - used) }
        }
        count = used
    }

    /// Copies bytes in. The caller remains responsible for wiping its own copy.
    public convenience init<C: Collection>(copying bytes: C) throws where C.Element == UInt8 {
        try self.init(count: bytes.count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// Copies the UTF-8 bytes of a string (Swift strings cannot be wiped; keep them short-lived).
    public convenience init(utf8 string: String) throws {
        var s = string
        let count = s.utf8.count
        try self.init(count: count) { buffer in
            s.withUTF8 { src in
                if let base = src.baseAddress, count > 0 {
                    buffer.baseAddress!.copyMemory(from: base, byteCount: count)
                }
            }
        }
    }

    /// `count` random bytes.
    public convenience init(random count: Int) throws {
        try self.init(count: count) { buffer in
            if count > 0 { randombytes_buf(buffer.baseAddress!, count) }
        }
    }

    deinit {
        // sodium_free zeroes the region before unmapping it.
        sodium_free(pointer)
    }

    /// Read access to the bytes; do not let the buffer escape.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// The bytes decoded as UTF-8, or nil if they are not valid UTF-8.
    /// The result is an ordinary string: use it only where text is required.
    public func utf8String() -> String? {
        withBytes { String(validating: $0.bindMemory(to: UInt8.self), as: UTF8.self) }
    }

    /// Constant-time comparison.
    public func constantTimeEquals(_ other: SecureBytes) -> Bool {
        other.withBytes { constantTimeEquals($0) }
    }

    /// Whether `other` (bytes the caller holds, already in guarded memory) equals these, in constant
    /// time for equal lengths: no copy of `other` is made.
    public func constantTimeEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        guard count == other.count else { return false }
        guard count > 0, let b = other.baseAddress else { return count == 0 }
        return withBytes { a in a.baseAddress.map { sodium_memcmp($0, b, count) == 0 } ?? false }
    }

    /// A plain copy, for handing bytes to an API that needs an array. Wipe it with `Sodium.wipe` after use.
    public func unsafeArray() -> [UInt8] { withBytes { Array($0) } }
}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the bytes.
    public var description: String { "SecureBytes(\(count) bytes)" }
    public var debugDescription: String { description }
}
