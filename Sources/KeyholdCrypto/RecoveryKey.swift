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
        public var description: String {
            switch self {
            case .length(let n): "recovery key: expected 65 symbols in 13 groups, got \(n)"
            case .character(let c): "recovery key: \"\(c.unicodeScalars.first.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String(c) } ?? "")\" is not a recovery key symbol"
            case .check(let g): "recovery key: group \(g) does not match its check (a typo in group \(g))"
            }
        }
    }

    /// A fresh recovery key.
    public static func generate() -> SecureBytes { SecureBytes(random: 32) }

    /// The typeable form of a 32-byte key.
    public static func encode(_ key: SecureBytes) -> String {
        precondition(key.count == 32)
        var symbols: [UInt8] = []
        key.withBytes { bytes in
            var acc: UInt32 = 0, bits = 0
            for b in bytes {
                acc = (acc << 8) | UInt32(b); bits += 8
                while bits >= 5 { bits -= 5; symbols.append(alphabet[Int((acc >> UInt32(bits)) & 31)]) }
            }
            symbols.append(alphabet[Int((acc << UInt32(5 - bits)) & 31)])  // 4 zero padding bits
        }
        var out: [String] = []
        for g in 0..<groups {
            let group = Array(symbols[g * 4..<(g + 1) * 4])
            out.append(String(decoding: group + [check(group: g + 1, symbols: group)], as: UTF8.self))
        }
        return out.joined(separator: "-")
    }

    /// Reads a typed recovery key back, tolerant of case, spaces, dashes and O/I/L look-alikes.
    /// Only ASCII is folded to upper case (a letter whose upper case is ASCII, such as "ß" -> "SS",
    /// is not a symbol).
    public static func parse(_ text: String) throws(ParseError) -> SecureBytes {
        var symbols: [UInt8] = []
        for ch in text {
            if ch == "-" || ch.isWhitespace { continue }
            guard var ascii = ch.asciiValue else { throw .character(ch) }
            if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(ascii) { ascii -= 0x20 }
            switch ascii {
            case UInt8(ascii: "O"): ascii = UInt8(ascii: "0")
            case UInt8(ascii: "I"), UInt8(ascii: "L"): ascii = UInt8(ascii: "1")
            default: break
            }
            guard alphabet.contains(ascii) else { throw .character(Character(Unicode.Scalar(ascii))) }
            symbols.append(ascii)
        }
        guard symbols.count == groups * 5 else { throw .length(symbols: symbols.count) }
        var data: [UInt8] = []
        for g in 0..<groups {
            let group = Array(symbols[g * 5..<g * 5 + 4])
            guard symbols[g * 5 + 4] == check(group: g + 1, symbols: group) else { throw .check(group: g + 1) }
            data += group
        }
        var bytes = [UInt8]()
        var acc: UInt32 = 0, bits = 0
        for s in data {
            guard let value = alphabet.firstIndex(of: s) else { throw .character(Character(Unicode.Scalar(s))) }
            acc = (acc << 5) | UInt32(value); bits += 5
            if bits >= 8 { bits -= 8; bytes.append(UInt8((acc >> UInt32(bits)) & 0xFF)) }
        }
        // 260 bits read: 32 bytes and 4 padding bits, which must be zero.
        guard bytes.count == 32, acc & ((1 << UInt32(bits)) - 1) == 0 else { throw .check(group: groups) }
        let key = SecureBytes(copying: bytes)
        Sodium.wipe(&bytes)
        return key
    }

    static func check(group index: Int, symbols: [UInt8]) -> UInt8 {
        let digest = Hash.blake2b256(Array("keyhold/recovery-check/\(index):".utf8) + symbols)
        return alphabet[Int(digest[0] % 32)]
    }
}
