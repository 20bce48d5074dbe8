import Foundation

// Plaintext as bytes: a growable buffer that is wiped when released, and UTF-8
// checks that need no String (a String cannot be wiped).

/// A growable plaintext buffer that is wiped when released.
public final class PlainBuffer {
    /// The plaintext; copies made of it are the caller's to wipe.
    public var bytes: [UInt8] = []
    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }
    deinit { Bytes.wipe(&bytes) }

    /// Wipes the bytes and empties the buffer, keeping its capacity.
    public func clear() {
        Bytes.zero(&bytes)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Appends text (as UTF-8), a byte, or bytes.
    public func append(_ s: String) { bytes.append(contentsOf: Array(s.utf8)) }
    public func append(_ b: UInt8) { bytes.append(b) }
    public func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
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
