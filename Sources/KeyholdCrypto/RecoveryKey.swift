import CSodium

/// The recovery key: 32 random bytes in a form a person can type back.
///
/// 52 Crockford base-32 symbols in 13 groups of 4, each group followed by a
/// check symbol, joined by `-` (docs/FORMAT.md section 4). A typo is caught
/// and the group named.
public enum RecoveryKey {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
    static let groups = 13

    /// Why a typed recovery key was refused.
    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case length(symbols: Int)
        case character(Character)
        case check(group: Int)
        /// Guarded memory for the symbols could not be mapped.
        case outOfMemory
        public var description: String {
            switch self {
            case .length(let n): "recovery key: expected 65 symbols in 13 groups, got \(n)"
            case .character(let c):
                "recovery key: \"\(c.unicodeScalars.first.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String(c) } ?? "")\" is not a recovery key symbol"
            case .check(let g): "recovery key: group \(g) does not match its check (a typo in group \(g))"
            case .outOfMemory: "recovery key: out of memory while reading it"
            }
        }
    }

    /// A fresh recovery key.
    public static func generate() throws -> SecureBytes { try SecureBytes(random: 32) }

    /// Bytes of the typeable form: 13 groups of 5 symbols and 12 dashes.
    public static let textBytes = groups * 5 + groups - 1

    /// The typeable form of a 32-byte key, as a String (for tests and tools: the product shows
    /// the key from `encodeGuarded`, since a String cannot be wiped).
    public static func encode(_ key: SecureBytes) throws -> String {
        try encodeGuarded(key).utf8String() ?? ""
    }

    /// The typeable form of a 32-byte key, made in guarded memory (its symbols never sit in
    /// ordinary memory): `textBytes` ASCII bytes.
    public static func encodeGuarded(_ key: SecureBytes) throws -> SecureBytes {
        precondition(key.count == 32)
        let symbols = try SecureBytes(count: groups * 4) { out in
            key.withBytes { bytes in
                var acc: UInt32 = 0, bits = 0, n = 0
                for b in bytes {
                    acc = (acc << 8) | UInt32(b); bits += 8
                    while bits >= 5 { bits -= 5; out[n] = alphabet[Int((acc >> UInt32(bits)) & 31)]; n += 1 }
                }
                out[n] = alphabet[Int((acc << UInt32(5 - bits)) & 31)]  // 4 zero padding bits
                acc = 0
            }
        }
        return try SecureBytes(count: textBytes) { out in
            try symbols.withBytes { s in
                var o = 0
                for g in 0..<groups {
                    if g > 0 { out[o] = UInt8(ascii: "-"); o += 1 }
                    for k in 0..<4 { out[o] = s[g * 4 + k]; o += 1 }
                    out[o] = try check(group: g + 1, symbols: UnsafeRawBufferPointer(rebasing: s[(g * 4)..<(g * 4 + 4)]))
                    o += 1
                }
            }
        }
    }

    /// Reads a typed recovery key back, tolerant of case, spaces, dashes and O/I/L look-alikes.
    /// Only ASCII is folded to upper case (a letter whose upper case is ASCII, such as "ß" -> "SS",
    /// is not a symbol). For tests and tools: the product reads typed keys with `parse(bytes:)`.
    public static func parse(_ text: String) throws(ParseError) -> SecureBytes {
        var copy = text
        var result: Result<SecureBytes, ParseError> = .failure(.length(symbols: 0))
        copy.withUTF8 { b in result = Result { () throws(ParseError) in try parse(bytes: UnsafeRawBufferPointer(b)) } }
        return try result.get()
    }

    /// Reads a typed recovery key (UTF-8 bytes, say from guarded memory) back, as `parse(_:)`
    /// describes. The symbols are gathered in guarded memory.
    public static func parse(typed: SecureBytes) throws(ParseError) -> SecureBytes {
        var result: Result<SecureBytes, ParseError> = .failure(.length(symbols: 0))
        typed.withBytes { b in result = Result { () throws(ParseError) in try parse(bytes: b) } }
        return try result.get()
    }

    /// Reads a typed recovery key from UTF-8 bytes; see `parse(_:)`.
    public static func parse(bytes text: UnsafeRawBufferPointer) throws(ParseError) -> SecureBytes {
        /// Guarded allocation fails only when the system is out of memory.
        func guarded<T>(_ body: () throws -> T) throws(ParseError) -> T {
            do { return try body() } catch { throw .outOfMemory }
        }
        let symbols = try guarded { try SecureBuffer(capacity: groups * 5) }
        var total = 0
        var it = text.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            let scalar: Unicode.Scalar
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalar = s
            case .emptyInput: break decoding
            case .error: throw .character("\u{FFFD}")
            }
            if scalar == "-" || scalar.properties.isWhitespace { continue }
            guard scalar.isASCII else { throw .character(Character(scalar)) }
            var ascii = UInt8(scalar.value)
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(ascii) { ascii -= 0x20 }
            switch ascii {
            case UInt8(ascii: "O"): ascii = UInt8(ascii: "0")
            case UInt8(ascii: "I"), UInt8(ascii: "L"): ascii = UInt8(ascii: "1")
            default: break
            }
            guard alphabet.contains(ascii) else { throw .character(Character(Unicode.Scalar(ascii))) }
            // Count every symbol (the error says how many), keep no more than a key has.
            total += 1
            if total <= groups * 5 { try guarded { try symbols.append(ascii) } }
        }
        guard total == groups * 5 else { throw .length(symbols: total) }
        let s = symbols.bytes
        for g in 0..<groups {
            let group = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(s)[(g * 5)..<(g * 5 + 4)])
            let expected = try guarded { try check(group: g + 1, symbols: group) }
            guard s[g * 5 + 4] == expected else { throw .check(group: g + 1) }
        }
        // 260 bits read: 32 bytes and 4 padding bits, which must be zero.
        var padding = false
        let key = try guarded {
            try SecureBytes(count: 32) { out in
                var acc: UInt32 = 0, bits = 0, n = 0
                for g in 0..<groups {
                    for k in 0..<4 {
                        let value = alphabet.firstIndex(of: s[g * 5 + k]) ?? 0  // every symbol is in the alphabet
                        acc = (acc << 5) | UInt32(value); bits += 5
                        if bits >= 8 { bits -= 8; out[n] = UInt8((acc >> UInt32(bits)) & 0xFF); n += 1 }
                    }
                }
                padding = acc & ((1 << UInt32(bits)) - 1) != 0
                acc = 0
            }
        }
        guard !padding else { throw .check(group: groups) }
        return key
    }

    /// The check symbol of a group: a BLAKE2b over its number and its four symbols, hashed
    /// from guarded memory (the symbols are never copied into ordinary memory).
    static func check(group index: Int, symbols: UnsafeRawBufferPointer) throws -> UInt8 {
        Sodium.ensureReady()
        let label = Array("keyhold/recovery-check/\(index):".utf8)
        let input = try SecureBytes(count: label.count + symbols.count) { out in
            label.withUnsafeBytes { out.copyMemory(from: $0) }
            (out.baseAddress! + label.count).copyMemory(from: symbols.baseAddress!, byteCount: symbols.count)
        }
        var digest = [UInt8](repeating: 0, count: 32)
        input.withBytes { m in
            _ = crypto_generichash(&digest, 32, m.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(m.count), nil, 0)
        }
        let symbol = alphabet[Int(digest[0] % 32)]
        Sodium.wipe(&digest)
        return symbol
    }
}
