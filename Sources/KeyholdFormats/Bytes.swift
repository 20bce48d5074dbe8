import Foundation
import KeyholdCore

// Plaintext as bytes: a growable buffer that is wiped when released, and UTF-8
// checks that need no String (a String cannot be wiped).

/// A growable plaintext buffer in guarded memory (`SecureBuffer`): it grows without leaving
/// copies behind and is zeroed when released. A parse's values, an export's text.
public final class PlainBuffer {
    private let storage: SecureBuffer
    public init() { storage = SecureBuffer() }
    /// A buffer with room for `capacity` bytes.
    public init(capacity: Int) throws { storage = try SecureBuffer(capacity: capacity) }

    /// The plaintext, valid until the buffer next grows or is released; copies made of it are
    /// the caller's to wipe.
    public var bytes: UnsafeBufferPointer<UInt8> { storage.bytes }
    /// Bytes held.
    public var count: Int { storage.count }

    /// Wipes the bytes and empties the buffer, keeping its capacity.
    public func clear() { storage.removeAll() }

    /// Appends text (as UTF-8), a byte, or bytes (which may be this buffer's own).
    public func append(_ s: String) throws { try storage.append(s) }
    public func append(_ b: UInt8) throws { try storage.append(b) }
    public func append(_ raw: UnsafeRawBufferPointer) throws { try storage.append(raw) }
    public func append<C: Collection>(contentsOf c: C) throws where C.Element == UInt8 { try storage.append(contentsOf: c) }

    /// Reads into the free space after the bytes held (read(2) straight into guarded memory);
    /// see `SecureBuffer.appendReading`.
    @discardableResult
    public func appendReading(atLeast room: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        try storage.appendReading(atLeast: room, fill)
    }

    /// Drops the bytes from `length` on (zeroed).
    public func truncate(to length: Int) { storage.truncate(to: length) }
}

/// A view of bytes in a `PlainBuffer` (or other guarded memory).
public typealias ByteSlice = Slice<UnsafeBufferPointer<UInt8>>

extension Slice where Base == UnsafeBufferPointer<UInt8> {
    /// The same bytes as a raw buffer.
    public var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: self)) }
}

/// Byte helpers for plaintext that must not become a String.
public enum Bytes {
    /// Zeroes a transient byte buffer in a way the optimiser keeps, and empties it.
    public static func wipe(_ bytes: inout [UInt8]) {
        zero(&bytes)
        bytes.removeAll()
    }

    /// Zeroes the bytes in place (explicit_bzero: not optimised away).
    static func zero(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { b in if let base = b.baseAddress { explicit_bzero(base, b.count) } }
    }

    /// Whether the bytes are well-formed UTF-8 (no overlong forms, no surrogates), checked without making a String.
    public static func isUTF8(_ b: UnsafeRawBufferPointer) -> Bool { scalars(b) { _ in true } }

    /// Walks the UTF-8 scalars of `b`, stopping (false) at malformed input or when `visit` returns false.
    public static func scalars(_ b: UnsafeRawBufferPointer, _ visit: (UInt32) -> Bool) -> Bool {
        var i = 0
        let n = b.count
        while i < n {
            let c0 = UInt32(b[i])
            var scalar: UInt32
            var len: Int
            switch c0 {
            case 0x00...0x7F: scalar = c0; len = 1
            case 0xC2...0xDF: scalar = c0 & 0x1F; len = 2
            case 0xE0...0xEF: scalar = c0 & 0x0F; len = 3
            case 0xF0...0xF4: scalar = c0 & 0x07; len = 4
            default: return false
            }
            guard i + len <= n else { return false }
            for k in 1..<len {
                let c = UInt32(b[i + k])
                guard c & 0xC0 == 0x80 else { return false }
                scalar = (scalar << 6) | (c & 0x3F)
            }
            switch len {
            case 3: if scalar < 0x800 || (0xD800...0xDFFF).contains(scalar) { return false }
            case 4: if scalar < 0x10000 || scalar > 0x10FFFF { return false }
            default: break
            }
            if !visit(scalar) { return false }
            i += len
        }
        return true
    }
}

/// Standard base64 (RFC 4648 section 4, with padding) decoded byte by byte into guarded
/// memory: `Data(base64Encoded:)` would decode a secret value into an ordinary buffer.
public enum Base64 {
    /// Appends the bytes `text` encodes to `out`; false when `text` is not padded standard
    /// base64 (then what was appended is the caller's to drop).
    public static func decode(_ text: ByteSlice, into out: PlainBuffer) throws -> Bool {
        guard text.count % 4 == 0 else { return false }
        var quad: UInt32 = 0
        var n = 0, padding = 0
        for (k, c) in text.enumerated() {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="):
                // Only at the end: one or two, as the last of the text.
                guard k >= text.count - 2 else { return false }
                padding += 1
                v = 0
            default: return false
            }
            if padding > 0 && c != UInt8(ascii: "=") { return false }
            quad = quad << 6 | v
            n += 1
            if n == 4 {
                try out.append(UInt8(quad >> 16 & 0xFF))
                if padding < 2 { try out.append(UInt8(quad >> 8 & 0xFF)) }
                if padding < 1 { try out.append(UInt8(quad & 0xFF)) }
                quad = 0
                n = 0
            }
        }
        return true
    }
}
