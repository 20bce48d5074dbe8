import CSodium

/// A growable buffer of plaintext in libsodium guarded memory (sodium_malloc: guard pages,
/// mlock), for input whose length is known only once it is read (standard input, a file, a
/// parse's values) and output assembled from plaintext (an export).
///
/// An `Array` that grows moves its bytes to a larger allocation and frees the old one as it
/// is, so every growth leaves a copy in freed memory. This buffer grows by copying into a new
/// guarded allocation and freeing the old one with `sodium_free`, which zeroes it: no copy is
/// left behind. Released zeroed. One allocation at a time (not one per value), so a large
/// import costs a few mappings, not one per entry. Not thread-safe.
public final class SecureBuffer: @unchecked Sendable {
    private var pointer: UnsafeMutableRawPointer
    /// Bytes held.
    public private(set) var count = 0
    /// Bytes it can hold before it moves.
    public private(set) var capacity: Int

    /// An empty buffer; it maps guarded memory when the first byte comes.
    public init() {
        capacity = 0
        pointer = Self.none
    }

    /// A buffer with room for `capacity` bytes.
    public init(capacity: Int) throws {
        self.capacity = max(capacity, 0)
        pointer = self.capacity > 0 ? try Sodium.guardedAllocate(self.capacity) : Self.none
    }

    deinit { if pointer != Self.none { sodium_free(pointer) } }

    /// Where an empty buffer points: never written (every write reserves room first) nor freed.
    nonisolated(unsafe) private static let none = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 16)

    /// Makes room for at least `total` bytes, moving to a larger allocation (the old one zeroed).
    public func reserve(_ total: Int) throws {
        guard total > capacity else { return }
        let grown = max(total, capacity * 2, 64)
        let fresh = try Sodium.guardedAllocate(grown)
        if count > 0 { fresh.copyMemory(from: pointer, byteCount: count) }
        if pointer != Self.none { sodium_free(pointer) }
        pointer = fresh
        capacity = grown
    }

    /// The bytes held; valid until the buffer next grows or is released.
    public var bytes: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: UInt8.self), count: count)
    }

    /// Read access to the bytes held; do not let the buffer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Appends bytes (which may lie in this buffer itself: they are found again after it grows).
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0, var base = bytes.baseAddress else { return }
        let own = UnsafeRawPointer(pointer)
        if base >= own && base < own + count {
            let offset = own.distance(to: base)
            try reserve(count + bytes.count)
            base = UnsafeRawPointer(pointer) + offset
        } else {
            try reserve(count + bytes.count)
        }
        (pointer + count).copyMemory(from: base, byteCount: bytes.count)
        count += bytes.count
    }

    /// Appends the UTF-8 of `s`, from its contiguous storage (the generic `append(contentsOf:)`
    /// costs a metadata lookup per call from another module: half the time of a 100,000-row list).
    public func append(_ s: String) throws {
        var s = s
        try s.withUTF8 { try append(UnsafeRawBufferPointer($0)) }
    }

    /// Appends one byte.
    public func append(_ byte: UInt8) throws {
        try reserve(count + 1)
        pointer.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends the bytes of a collection (contiguous ones without a copy).
    public func append<C: Collection>(contentsOf c: C) throws where C.Element == UInt8 {
        let done: Void? = try c.withContiguousStorageIfAvailable { try append(UnsafeRawBufferPointer($0)) }
        if done != nil { return }
        try reserve(count + c.count)
        for b in c { try append(b) }
    }

    /// Reads into the free space after the bytes held: `fill` gets room for at least `atLeast`
    /// bytes and returns how many it wrote (0 or less: nothing). For read(2) straight into
    /// guarded memory.
    @discardableResult
    public func appendReading(atLeast room: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        try reserve(count + room)
        let n = try fill(UnsafeMutableRawBufferPointer(start: pointer + count, count: capacity - count))
        if n > 0 { count += min(n, capacity - count) }
        return n
    }

    /// Drops the bytes from `length` on (zeroed).
    public func truncate(to length: Int) {
        guard length >= 0, length < count else { return }
        sodium_memzero(pointer + length, count - length)
        count = length
    }

    /// Drops the first `n` bytes, moving the rest to the front (the space they leave is zeroed).
    public func removeFirst(_ n: Int) {
        let n = min(max(n, 0), count)
        guard n > 0 else { return }
        if n < count { pointer.copyMemory(from: pointer + n, byteCount: count - n) }
        truncate(to: count - n)
    }

    /// Zeroes the bytes held and empties the buffer, keeping its capacity.
    public func removeAll() { truncate(to: 0) }

    /// A copy of the bytes as `SecureBytes` (guarded to guarded).
    public func secureBytes() throws -> SecureBytes {
        try SecureBytes(count: count) { out in if count > 0 { out.baseAddress!.copyMemory(from: pointer, byteCount: count) } }
    }
}

extension SecureBuffer: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never shows the bytes.
    public var description: String { "SecureBuffer(\(count) bytes)" }
    public var debugDescription: String { description }
}
