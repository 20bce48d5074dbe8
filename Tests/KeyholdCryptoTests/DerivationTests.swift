import Testing
@testable import KeyholdCrypto

/// Keys derived from other secrets, and key fingerprints (docs/FORMAT.md).
@Suite struct DerivationTests {
    /// RFC 8032, section 7.1, test 1: the seed gives the published public key.
    @Test func seedKeyPairMatchesRFC8032() throws {
        let seed = try SecureBytes(copying: hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        let pair = try SigningKeyPair.derived(fromSeed: seed)
        #expect(pair.publicKey == hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        #expect(
            pair.sign([])
                == hex(
                    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
                ))
        // The same seed gives the same pair; the pair re-forms from its parts.
        #expect(try SigningKeyPair.derived(fromSeed: seed).publicKey == pair.publicKey)
        #expect(throws: Never.self) { try SigningKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey) }
    }

    @Test func seedMustBe32Bytes() {
        #expect(throws: CryptoError.self) { try SigningKeyPair.derived(fromSeed: SecureBytes(random: 31)) }
    }

    /// Python's hashlib.blake2b(b"abc", key=bytes(range(32)), digest_size=32).
    @Test func keyedBlake2bMatchesHashlib() throws {
        let key = try SecureBytes(copying: (0..<32).map { UInt8($0) })
        let mac = try Hash.blake2b256(key: key, Array("abc".utf8))
        #expect(mac.unsafeArray() == hex("d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f"))
        // Another key gives another value; the unkeyed hash differs too.
        #expect(try Hash.blake2b256(key: SecureBytes(random: 32), Array("abc".utf8)).unsafeArray() != mac.unsafeArray())
        #expect(Hash.blake2b256(Array("abc".utf8)) != mac.unsafeArray())
        // The public tag (ordinary memory) is the same function.
        #expect(Array("abc".utf8).withUnsafeBytes { Hash.blake2b256Tag(key: key, $0) } == mac.unsafeArray())
        #expect(try [UInt8]().withUnsafeBytes { Hash.blake2b256Tag(key: key, $0) } == Hash.blake2b256(key: key, []).unsafeArray())
    }

    /// Computed independently in Python (docs/FORMAT.md gives the recipe).
    @Test func fingerprintOfKnownKey() {
        let pk = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(Fingerprint.of(publicKey: pk) == "1T38-47K3-CEBT-261C-2VZE-F19N-7TN2-W7DC")
    }

    @Test func fingerprintsDifferAndReadBackTolerantly() throws {
        let a = try SigningKeyPair.generate(), b = try SigningKeyPair.generate()
        let fa = Fingerprint.of(publicKey: a.publicKey)
        #expect(fa != Fingerprint.of(publicKey: b.publicKey))
        #expect(fa.count == 39 && fa.split(separator: "-").count == 8)
        #expect(Fingerprint.matches(fa.lowercased().replacingOccurrences(of: "-", with: " "), fa))
        #expect(Fingerprint.matches(fa.replacingOccurrences(of: "0", with: "O"), fa))
        #expect(!Fingerprint.matches(String(fa.dropLast()), fa))
        #expect(!Fingerprint.matches(Fingerprint.of(publicKey: b.publicKey), fa))
    }

    private func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }
}
