import CSodium

/// The password-hash schemes a vault may hold: Keyhold writes only Argon2id;
/// Argon2i, bcrypt and Werkzeug's scrypt and PBKDF2-SHA256 arrive by importing an
/// application's accounts and are kept exactly as they were until the account's next
/// login re-makes them (bcrypt excepted: libsodium cannot verify it; docs/APPLICATIONS.md).
public enum PasswordHashScheme: String, Sendable, Equatable, CaseIterable {
    case argon2id, argon2i, bcrypt
    /// Werkzeug's `scrypt:<N>:<r>:<p>$salt$hex` (Flask's default since Werkzeug 3.0).
    case werkzeugScrypt = "scrypt"
    /// Werkzeug's `pbkdf2:sha256:<iterations>$salt$hex`.
    case werkzeugPBKDF2 = "pbkdf2-sha256"
}

extension PasswordHash {
    /// The longest hash accepted on import, in bytes (a PHC string with a
    /// 64-byte salt and output is well under this).
    public static let importedMaxLength = 512

    /// The scheme of a stored hash by its prefix alone (no parsing); nil for anything else.
    public static func scheme(of hash: String) -> PasswordHashScheme? {
        if hash.hasPrefix("$argon2id$") { return .argon2id }
        if hash.hasPrefix("$argon2i$") { return .argon2i }
        if hash.hasPrefix("$2a$") || hash.hasPrefix("$2b$") || hash.hasPrefix("$2y$") { return .bcrypt }
        if hash.hasPrefix("scrypt:") { return .werkzeugScrypt }
        if hash.hasPrefix("pbkdf2:sha256:") { return .werkzeugPBKDF2 }
        return nil
    }

    /// Checks the form of a hash made elsewhere and returns its scheme.
    ///
    /// - Argon2id and Argon2i: a PHC string that libsodium parses
    ///   (`$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`, unpadded base64).
    /// - bcrypt: `$2a$`, `$2b$` or `$2y$`, a two-digit cost 04 to 31, `$`, then
    ///   53 characters of bcrypt's alphabet `./A-Za-z0-9` (22 of salt, 31 of hash).
    /// - Werkzeug: `scrypt:<N>:<r>:<p>$<salt>$<128 hex digits>` or
    ///   `pbkdf2:sha256:<iterations>$<salt>$<64 hex digits>`, within the bounds of
    ///   `Werkzeug.parse` (a login pays the cost a hash names).
    ///
    /// Throws `CryptoError.malformed` with a reason that never quotes the hash.
    public static func checkImported(_ hash: String) throws -> PasswordHashScheme {
        guard !hash.isEmpty else { throw CryptoError.malformed("empty") }
        guard hash.utf8.count <= importedMaxLength else {
            throw CryptoError.malformed("longer than \(importedMaxLength) bytes")
        }
        // Printable ASCII only: no spaces, no control characters, and no NUL that
        // would end the C string libsodium sees before the stored one ends.
        guard hash.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CryptoError.malformed("contains a space, a control character or a non-ASCII character")
        }
        guard let scheme = scheme(of: hash) else {
            throw CryptoError.malformed(
                "not a supported hash: expected $argon2id$, $argon2i$, $2b$, $2y$ or $2a$ (bcrypt), "
                    + "scrypt: or pbkdf2:sha256: (Werkzeug)")
        }
        switch scheme {
        case .argon2id, .argon2i:
            Sodium.ensureReady()
            // needs_rehash parses the whole string and returns -1 if it cannot.
            let rc =
                scheme == .argon2id
                ? crypto_pwhash_argon2id_str_needs_rehash(hash, 1, 8192)
                : crypto_pwhash_argon2i_str_needs_rehash(hash, 1, 8192)
            guard rc != -1 else {
                throw CryptoError.malformed(
                    "not a valid \(scheme.rawValue) PHC string ($\(scheme.rawValue)$v=19$m=...,t=...,p=...$salt$hash)")
            }
        case .bcrypt:
            let bytes = Array(hash.utf8)
            func digit(_ b: UInt8) -> Int? { (0x30...0x39).contains(b) ? Int(b - 0x30) : nil }
            guard bytes.count == 60, bytes[6] == UInt8(ascii: "$"),
                let d1 = digit(bytes[4]), let d2 = digit(bytes[5])
            else {
                throw CryptoError.malformed("not a valid bcrypt hash ($2b$<cost>$ and 53 characters, 60 in all)")
            }
            let cost = d1 * 10 + d2
            guard (4...31).contains(cost) else { throw CryptoError.malformed("bcrypt cost \(cost) is outside 04 to 31") }
            guard bytes[7...].allSatisfy(isBcryptBase64) else {
                throw CryptoError.malformed("not a valid bcrypt hash: salt and hash use only ./A-Za-z0-9")
            }
        case .werkzeugScrypt, .werkzeugPBKDF2:
            _ = try Werkzeug.parse(hash, scheme: scheme)
        }
        return scheme
    }

    private static func isBcryptBase64(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: false
        }
    }

    /// The start of every hash `hash(_:cost:)` writes at `cost`:
    /// `$argon2id$v=19$m=<memlimit / 1024>,t=<opslimit>,p=1$`.
    public static func currentPrefix(cost: KDFCost) -> String {
        "$argon2id$v=19$m=\(cost.memlimit / 1024),t=\(cost.opslimit),p=1$"
    }

    /// Whether the hash is legacy: anything but Argon2id (version 19) at or above
    /// the vault's cost, that is with `m` (KiB) at least `memlimit / 1024` and `t`
    /// at least `opslimit`, any number of lanes. A stronger hash made elsewhere is
    /// kept as it is; a weaker one, another scheme, or a form that does not read is
    /// legacy. The same rule as the `legacy_hash` column of the `app_users` view in
    /// schema.sql (migration 6), so the view, `user list`, `check` and the login agree.
    public static func isLegacy(_ hash: String, cost: KDFCost) -> Bool {
        guard let params = argon2idParameters(hash) else { return true }
        return params.memoryKiB < cost.memlimit / 1024 || params.passes < cost.opslimit
    }

    /// `m` (KiB) and `t` of an `$argon2id$v=19$m=<m>,t=<t>,p=` string, read exactly as the
    /// view reads them (byte for byte: the digits up to the first `,t=`, then up to the next
    /// `,p=`, each 1 to 10 ASCII digits); nil for anything else.
    static func argon2idParameters(_ hash: String) -> (memoryKiB: Int, passes: Int)? {
        let head = Array("$argon2id$v=19$m=".utf8)
        let bytes = Array(hash.utf8)
        guard bytes.starts(with: head) else { return nil }
        var rest = bytes[head.count...]
        func number(until marker: String) -> Int? {
            let m = Array(marker.utf8)
            guard let at = rest.indices.first(where: { rest[$0...].starts(with: m) }) else { return nil }
            let digits = rest[..<at]
            rest = rest[(at + m.count)...]
            guard (1...10).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(String(decoding: digits, as: UTF8.self))
        }
        guard let m = number(until: ",t="), let t = number(until: ",p=") else { return nil }
        return (m, t)
    }
}
