import KeyholdTestSupport
import Testing
@testable import KeyholdCrypto

/// Werkzeug's hashes of `password`, made by Werkzeug 3.1.9 itself
/// (`werkzeug.security.generate_password_hash`), and checked there with `check_password_hash`.
enum WerkzeugVectors {
    static let password = "werkzeug password 7"
    static let scrypt =
        "scrypt:16384:8:1$6ewgYu3sJ5kLGwJS$b19dcb061fc38ce0579c843ad54259aa49c45af7f570355d6c47408b7aafcbb22e9739e11d306ca78f88d29809073b5eae96ebf3da8b3f4158cc0f9d228a164c"
    /// Werkzeug 3.1's default method, `scrypt` (N=32768, r=8, p=1).
    static let scryptDefault =
        "scrypt:32768:8:1$vV2H79GGOj61EtP9$a8b06d0dc4f7ba962c2d41d57937e88d37468a29f5a29507ef4f97a11558c473d3219606a4985019521e4329295a9a1f4f497238b2bd2d72558d651289d8ad96"
    static let pbkdf2 = "pbkdf2:sha256:1000$8FfMWml9hRemLyjU$4a213ae5d5ac015a377ffd8c955e0e77f7ef5703526489d1c4a7a9bb681f4424"
    /// Werkzeug 3.1's `pbkdf2:sha256` (1,000,000 iterations).
    static let pbkdf2Default = "pbkdf2:sha256:1000000$vfqJ0oW8OPP0B2Ty$3b3e26b4491e5df54dabd854055d1a1ee5ca18195250581258c3bb84294e93fc"
    /// Non-ASCII passwords are hashed as UTF-8; longer and shorter salts than the default.
    static let unicodePassword = "pässwörd ünïcode ☃"
    static let pbkdf2Unicode =
        "pbkdf2:sha256:2000$UKdssxGJJM0mhh59FmsB4Wtr$9b606cb991c4f8a753828d6976752da1d9bf5838c9605b183b84646d38fd9fce"
    static let scryptUnicode =
        "scrypt:1024:4:2$60Ttah45$2ae51ecca6666f17a735886ec2c437608c94fa5b6c1154e2374f8d18c34dadf37e9c63dd1714870d5417d65e8221ebba6e8edc245c6b98a227f593d877307d43"
}

@Suite struct WerkzeugHashTests {
    let right: SecureBytes
    let wrong: SecureBytes

    init() throws {
        right = try SecureBytes(utf8: WerkzeugVectors.password)
        wrong = try SecureBytes(utf8: WerkzeugVectors.password + "8")
    }

    @Test func schemesAreReadByPrefix() throws {
        #expect(PasswordHash.scheme(of: WerkzeugVectors.scrypt) == .werkzeugScrypt)
        #expect(PasswordHash.scheme(of: WerkzeugVectors.pbkdf2) == .werkzeugPBKDF2)
        #expect(try PasswordHash.checkImported(WerkzeugVectors.scryptDefault) == .werkzeugScrypt)
        #expect(try PasswordHash.checkImported(WerkzeugVectors.pbkdf2Default) == .werkzeugPBKDF2)
        #expect(try PasswordHash.checkImported(WerkzeugVectors.scryptUnicode) == .werkzeugScrypt)
        #expect(PasswordHash.scheme(of: "pbkdf2:sha1:1000$salt$00") == nil)
    }

    @Test func scryptRightPasswordPassesWrongFails() throws {
        #expect(PasswordHash.verify(right, hash: WerkzeugVectors.scrypt))
        #expect(!PasswordHash.verify(wrong, hash: WerkzeugVectors.scrypt))
        #expect(PasswordHash.verify(right, hash: WerkzeugVectors.scryptDefault))
        #expect(!PasswordHash.verify(wrong, hash: WerkzeugVectors.scryptDefault))
        #expect(try !PasswordHash.verify(SecureBytes(utf8: ""), hash: WerkzeugVectors.scrypt))
    }

    @Test func pbkdf2RightPasswordPassesWrongFails() {
        #expect(PasswordHash.verify(right, hash: WerkzeugVectors.pbkdf2))
        #expect(!PasswordHash.verify(wrong, hash: WerkzeugVectors.pbkdf2))
        #expect(PasswordHash.verify(right, hash: WerkzeugVectors.pbkdf2Default))
        #expect(!PasswordHash.verify(wrong, hash: WerkzeugVectors.pbkdf2Default))
    }

    @Test func unicodePasswordsAndOtherSaltLengths() throws {
        let unicode = try SecureBytes(utf8: WerkzeugVectors.unicodePassword)
        #expect(PasswordHash.verify(unicode, hash: WerkzeugVectors.pbkdf2Unicode))
        #expect(PasswordHash.verify(unicode, hash: WerkzeugVectors.scryptUnicode))
        #expect(!PasswordHash.verify(right, hash: WerkzeugVectors.pbkdf2Unicode))
        #expect(!PasswordHash.verify(right, hash: WerkzeugVectors.scryptUnicode))
    }

    /// A hash whose salt, parameters or digest changed no longer verifies the right password.
    @Test func anyChangedPartFails() {
        let changed = [
            WerkzeugVectors.pbkdf2.replacingOccurrences(of: ":1000$", with: ":1001$"),
            WerkzeugVectors.pbkdf2.replacingOccurrences(of: "$8FfM", with: "$8FfN"),
            WerkzeugVectors.pbkdf2.replacingOccurrences(of: "4424", with: "4425"),
            WerkzeugVectors.scrypt.replacingOccurrences(of: ":8:1$", with: ":8:2$"),
            WerkzeugVectors.scrypt.replacingOccurrences(of: "a164c", with: "a164d")
        ]
        for (i, h) in changed.enumerated() {
            #expect(!PasswordHash.verify(right, hash: h), "changed hash #\(i) verified")
        }
    }

    /// RFC 7914 section 11's vectors: PBKDF2-HMAC-SHA256 over two blocks, and scrypt.
    @Test func rfc7914Vectors() throws {
        let pbkdf2 = try Werkzeug.derive(
            SecureBytes(utf8: "passwd"), kdf: .pbkdf2SHA256(iterations: 1),
            salt: Array("salt".utf8), count: 64)
        #expect(
            try holds(
                pbkdf2,
                hex(
                    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                        + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")))
        let scrypt = try Werkzeug.derive(
            SecureBytes(utf8: "password"), kdf: .scrypt(n: 1024, r: 8, p: 16),
            salt: Array("NaCl".utf8), count: 64)
        #expect(
            try holds(
                scrypt,
                hex(
                    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                        + "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")))
        // An empty password (a key of no bytes), three iterations (Python's hashlib).
        let empty = try Werkzeug.derive(SecureBytes(utf8: ""), kdf: .pbkdf2SHA256(iterations: 3), salt: Array("salt".utf8), count: 32)
        #expect(try holds(empty, hex("5ddf839afa2d5fb4be56e1a0f48917617559bef61ec122bfca1c7f75ac8f401d")))
    }

    @Test func malformedOrOutOfBoundsIsRefusedWithoutQuotingTheHash() {
        let digest64 = String(repeating: "ab", count: 32), digest128 = String(repeating: "cd", count: 64)
        let bad = [
            "scrypt:16384:8:1$Pepper1",  // no digest
            "scrypt:16384:8$Pepper1$" + digest128,  // two parameters
            "scrypt:16383:8:1$Pepper1$" + digest128,  // N not a power of two
            "scrypt:2097152:8:1$Pepper1$" + digest128,  // N above 2^20
            "scrypt:1048576:8:1$Pepper1$" + digest128,  // 1 GiB of memory
            "scrypt:16384:0:1$Pepper1$" + digest128,  // r below 1
            "scrypt:16384:8:17$Pepper1$" + digest128,  // p above 16
            "scrypt:016384:8:1$Pepper1$" + digest128,  // a leading zero
            "scrypt:16384:8:1$$" + digest128,  // empty salt
            "scrypt:16384:8:1$Pepper1$" + digest64,  // a digest of the wrong length
            "scrypt:16384:8:1$Pepper1$" + digest128.uppercased(),  // upper-case hex
            "pbkdf2:sha256$Pepper1$" + digest64,  // no iterations
            "pbkdf2:sha256:0$Pepper1$" + digest64,  // zero iterations
            "pbkdf2:sha256:10000001$Pepper1$" + digest64,  // above the bound
            "pbkdf2:sha256:1000$Pepper1$" + digest128,  // a digest of the wrong length
            "pbkdf2:sha256:1000$Pepper1$" + String(digest64.dropLast()) + "g",
            "pbkdf2:sha256:1000$" + String(repeating: "s", count: 129) + "$" + digest64,
            "pbkdf2:sha1:1000$Pepper1$" + String(repeating: "ab", count: 20),  // another digest
            "sha256$Pepper1$" + digest64  // Werkzeug's oldest form
        ]
        for (i, h) in bad.enumerated() {
            do {
                _ = try PasswordHash.checkImported(h)
                Issue.record("bad hash #\(i) accepted")
            } catch CryptoError.malformed(let why) {
                #expect(!why.contains("Pepper1") && !why.contains(digest64) && !why.contains(digest128), "#\(i) quotes the hash")
            } catch {
                Issue.record("bad hash #\(i): \(error)")
            }
            #expect(!PasswordHash.verify(right, hash: h))
        }
    }

    @Test func werkzeugHashesAreLegacyAtAnyCost() {
        #expect(PasswordHash.isLegacy(WerkzeugVectors.scryptDefault, cost: .insecureMinimumForTests))
        #expect(PasswordHash.isLegacy(WerkzeugVectors.pbkdf2Default, cost: .insecureMinimumForTests))
    }
}

private func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16) ?? 0)
        i = j
    }
    return out
}
