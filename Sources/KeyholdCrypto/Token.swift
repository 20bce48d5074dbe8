/// Random tokens for generated credentials and temporary passwords.
public enum Token {
    /// A character set a generated token is drawn from.
    public enum Alphabet: String, CaseIterable, Sendable, Codable {
        case urlsafe, hex, alnum, base64, alpha, numeric, ascii

        /// The characters, each drawn with equal probability.
        public var characters: [UInt8] {
            switch self {
            case .urlsafe: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
            case .hex: Array("0123456789abcdef".utf8)
            case .alnum: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
            case .base64: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
            case .alpha: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
            case .numeric: Array("0123456789".utf8)
            case .ascii: (0x21...0x7E).map { UInt8($0) }  // printable, no space
            }
        }
    }

    /// `length` characters drawn uniformly from `alphabet`, in guarded memory.
    public static func generate(length: Int, alphabet: Alphabet) throws -> SecureBytes {
        let chars = alphabet.characters
        return try SecureBytes(count: length) { out in
            for i in 0..<length {
                out[i] = chars[Int(Sodium.randomUniform(UInt32(chars.count)))]
            }
        }
    }
}
