/// The fingerprint of a user's public key, as people compare it: the requesting
/// user is shown it at login, the approving administrator sees it beside the
/// request (docs/FORMAT.md, "Fingerprints").
///
/// BLAKE2b-256 of `"keyhold/fingerprint/v1\0" || public key`, first 20 bytes,
/// in 32 Crockford base-32 symbols, 8 groups of 4 joined by `-`.
public enum Fingerprint {
    /// The fingerprint of an Ed25519 public key.
    public static func of(publicKey: [UInt8]) -> String {
        let digest = Hash.blake2b256(Array("keyhold/fingerprint/v1".utf8) + [0] + publicKey)
        var symbols: [UInt8] = []
        var acc: UInt32 = 0, bits = 0
        for b in digest.prefix(20) {
            acc = (acc << 8) | UInt32(b); bits += 8
            while bits >= 5 { bits -= 5; symbols.append(RecoveryKey.alphabet[Int((acc >> UInt32(bits)) & 31)]) }
        }
        return stride(from: 0, to: symbols.count, by: 4)
            .map { String(decoding: symbols[$0..<$0 + 4], as: UTF8.self) }
            .joined(separator: "-")
    }

    /// Whether a typed fingerprint is `expected`, ignoring case, spaces and dashes
    /// and reading O, I and L as 0, 1 and 1 (as the recovery key does).
    public static func matches(_ typed: String, _ expected: String) -> Bool {
        func normal(_ s: String) -> String {
            String(
                s.uppercased().compactMap { ch -> Character? in
                    if ch == "-" || ch.isWhitespace { return nil }
                    switch ch {
                    case "O": return "0";
                    case "I", "L": return "1";
                    default: return ch
                    }
                })
        }
        return normal(typed) == normal(expected)
    }
}
