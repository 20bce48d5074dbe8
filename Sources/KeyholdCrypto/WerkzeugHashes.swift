import CSodium

/// Werkzeug's password hashes (`werkzeug.security.generate_password_hash`), as a Flask
/// application stores them, verified with libsodium so that `user import` can keep them
/// and the next login replaces them with Argon2id (docs/APPLICATIONS.md):
///
/// - `scrypt:<N>:<r>:<p>$<salt>$<hex>`: scrypt (libsodium's
///   `crypto_pwhash_scryptsalsa208sha256_ll`) of the password's UTF-8 bytes with the salt's
///   bytes, 64 bytes out, as lower-case hex (128 digits);
/// - `pbkdf2:sha256:<iterations>$<salt>$<hex>`: PBKDF2-HMAC-SHA256 (RFC 8018; HMAC-SHA256
///   is libsodium's `crypto_auth_hmacsha256`), 32 bytes out, as lower-case hex (64 digits).
///
/// The salt is used as its ASCII bytes, as Werkzeug does (`salt.encode()`), not decoded.
enum Werkzeug {
    /// A Werkzeug hash read into its parts.
    struct Parsed {
        enum KDF: Equatable {
            case scrypt(n: UInt64, r: UInt32, p: UInt32)
            case pbkdf2SHA256(iterations: Int)
        }
        var kdf: KDF
        var salt: [UInt8]
        var expected: [UInt8]
    }

    /// Bounds on what an imported hash may ask of a login (each verification pays it):
    /// far above Werkzeug's defaults (scrypt N=32768, r=8, p=1: 32 MiB; PBKDF2 1,000,000
    /// iterations), far below what would let one planted hash exhaust the machine.
    static let scryptMaxMemory: UInt64 = 256 << 20
    static let scryptMaxWork: UInt64 = 1 << 24
    static let pbkdf2MaxIterations = 10_000_000
    static let maxSaltBytes = 128

    /// Reads `hash` (already checked to be printable ASCII) or says why it is not a Werkzeug
    /// hash this release verifies. The reason never quotes the hash.
    static func parse(_ hash: String, scheme: PasswordHashScheme) throws -> Parsed {
        let parts = hash.utf8.split(separator: UInt8(ascii: "$"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw CryptoError.malformed("not a Werkzeug hash (method$salt$hash)") }
        let method = parts[0].split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map { Array($0) }
        let salt = Array(parts[1]), digest = Array(parts[2])
        guard (1...maxSaltBytes).contains(salt.count) else {
            throw CryptoError.malformed("Werkzeug salt must be 1 to \(maxSaltBytes) characters")
        }
        let kdf: Parsed.KDF
        let outputBytes: Int
        switch scheme {
        case .werkzeugScrypt:
            guard method.count == 4, let n = decimal(method[1]), let r = decimal(method[2]), let p = decimal(method[3]) else {
                throw CryptoError.malformed("not a Werkzeug scrypt hash (scrypt:<N>:<r>:<p>$salt$hash)")
            }
            guard n >= 2, n <= 1 << 20, n & (n - 1) == 0 else {
                throw CryptoError.malformed("scrypt N must be a power of two from 2 to 1048576")
            }
            guard (1...32).contains(r), (1...16).contains(p) else {
                throw CryptoError.malformed("scrypt r must be 1 to 32 and p 1 to 16")
            }
            guard 128 * UInt64(n) * UInt64(r) <= scryptMaxMemory, UInt64(n) * UInt64(r) * UInt64(p) <= scryptMaxWork else {
                throw CryptoError.malformed("scrypt cost above what Keyhold verifies (128·N·r at most 256 MiB, N·r·p at most 2^24)")
            }
            kdf = .scrypt(n: UInt64(n), r: UInt32(r), p: UInt32(p))
            outputBytes = 64
        case .werkzeugPBKDF2:
            guard method.count == 3, method[1] == Array("sha256".utf8), let iterations = decimal(method[2]) else {
                throw CryptoError.malformed("not a Werkzeug PBKDF2 hash (pbkdf2:sha256:<iterations>$salt$hash)")
            }
            guard (1...pbkdf2MaxIterations).contains(iterations) else {
                throw CryptoError.malformed("PBKDF2 iterations must be 1 to \(pbkdf2MaxIterations)")
            }
            kdf = .pbkdf2SHA256(iterations: iterations)
            outputBytes = 32
        default:
            throw CryptoError.malformed("not a Werkzeug hash")
        }
        guard digest.count == outputBytes * 2, let expected = lowerHex(digest) else {
            throw CryptoError.malformed("the hash part must be \(outputBytes * 2) lower-case hexadecimal digits")
        }
        return Parsed(kdf: kdf, salt: salt, expected: expected)
    }

    /// Whether `password` matches `hash`, compared in constant time. False for a hash that does
    /// not read (a row changed since its import is refused like a wrong password).
    static func verify(_ password: SecureBytes, hash: String, scheme: PasswordHashScheme) -> Bool {
        guard let parsed = try? parse(hash, scheme: scheme),
            let derived = try? derive(password, kdf: parsed.kdf, salt: parsed.salt, count: parsed.expected.count)
        else {
            return false
        }
        return derived.withBytes { d in
            parsed.expected.withUnsafeBytes { e in sodium_memcmp(d.baseAddress!, e.baseAddress!, e.count) == 0 }
        }
    }

    /// The derived bytes, in guarded memory.
    static func derive(_ password: SecureBytes, kdf: Parsed.KDF, salt: [UInt8], count: Int) throws -> SecureBytes {
        Sodium.ensureReady()
        return try SecureBytes(count: count) { out in
            let o = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            // An empty password has no bytes: any valid pointer stands for it.
            let empty: [UInt8] = [0]
            try password.withBytes { pw in
                try empty.withUnsafeBufferPointer { e in
                    let p = pw.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? e.baseAddress!
                    switch kdf {
                    case .scrypt(let n, let r, let parallel):
                        let rc = crypto_pwhash_scryptsalsa208sha256_ll(p, pw.count, salt, salt.count, n, r, parallel, o, count)
                        guard rc == 0 else { throw CryptoError.kdfFailed }
                    case .pbkdf2SHA256(let iterations):
                        try pbkdf2SHA256(password: p, length: pw.count, salt: salt, iterations: iterations, into: o, count: count)
                    }
                }
            }
        }
    }

    /// PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA256: block i is U1 ^ ... ^ Uc with
    /// U1 = HMAC(P, S || u32be(i)) and Uj = HMAC(P, Uj-1). The HMAC state keyed with P is
    /// made once and copied for each U (the key's two hash blocks are not re-done each time).
    static func pbkdf2SHA256(
        password: UnsafePointer<UInt8>, length: Int, salt: [UInt8], iterations: Int,
        into out: UnsafeMutablePointer<UInt8>, count: Int
    ) throws {
        var keyed = crypto_auth_hmacsha256_state()
        var state = crypto_auth_hmacsha256_state()
        var u = [UInt8](repeating: 0, count: 32)
        var t = [UInt8](repeating: 0, count: 32)
        defer {
            withUnsafeMutableBytes(of: &keyed) { sodium_memzero($0.baseAddress!, $0.count) }
            withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress!, $0.count) }
            Sodium.wipe(&u)
            Sodium.wipe(&t)
        }
        guard crypto_auth_hmacsha256_init(&keyed, password, length) == 0 else { throw CryptoError.kdfFailed }
        var block: UInt32 = 1
        var written = 0
        while written < count {
            state = keyed
            crypto_auth_hmacsha256_update(&state, salt, UInt64(salt.count))
            let index = [UInt8(block >> 24), UInt8((block >> 16) & 0xFF), UInt8((block >> 8) & 0xFF), UInt8(block & 0xFF)]
            crypto_auth_hmacsha256_update(&state, index, 4)
            crypto_auth_hmacsha256_final(&state, &u)
            t = u
            if iterations > 1 {
                u.withUnsafeMutableBufferPointer { ub in
                    t.withUnsafeMutableBufferPointer { tb in
                        for _ in 1..<iterations {
                            state = keyed
                            crypto_auth_hmacsha256_update(&state, ub.baseAddress!, 32)
                            crypto_auth_hmacsha256_final(&state, ub.baseAddress!)
                            for i in 0..<32 { tb[i] ^= ub[i] }
                        }
                    }
                }
            }
            let n = min(32, count - written)
            for i in 0..<n { out[written + i] = t[i] }
            written += n
            block += 1
        }
    }

    /// A decimal of 1 to 8 ASCII digits without a leading zero, as Werkzeug writes them.
    private static func decimal(_ bytes: [UInt8]) -> Int? {
        guard (1...8).contains(bytes.count), bytes.allSatisfy({ (0x30...0x39).contains($0) }),
            bytes.count == 1 || bytes[0] != 0x30
        else { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    private static func lowerHex(_ digits: [UInt8]) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i + 1 < digits.count {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
