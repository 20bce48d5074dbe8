import Testing
@testable import KeyholdCrypto

@Suite struct SealTests {
    let key: SecureBytes
    init() throws { key = try SecureBytes(random: Seal.keyBytes) }
    let aad = "keyhold/secret/7/3/2"

    @Test func constantsMatchTheFormat() {
        #expect(Seal.keyBytes == 32)
        #expect(Seal.nonceBytes == 24)
        #expect(Seal.tagBytes == 16)
    }

    @Test(arguments: [0, 1, 16, 100, 65_536])
    func roundTripAndLength(length: Int) throws {
        let plain = Sodium.randomBytes(length)
        let sealed = try Seal.seal(SecureBytes(copying: plain), key: key, aad: aad)
        #expect(sealed.count == 24 + length + 16)
        let opened = try Seal.open(sealed, key: key, aad: aad)
        #expect(opened.count == length)
        let same = try holds(opened, plain)
        #expect(same, "opened bytes differ from the sealed message")
    }

    @Test func sealingTheSameMessageTwiceGivesDifferentNoncesAndCiphertexts() throws {
        let message = try SecureBytes(random: 48)
        let a = try Seal.seal(message, key: key, aad: aad)
        let b = try Seal.seal(message, key: key, aad: aad)
        #expect(a.count == b.count)
        #expect(Array(a.prefix(24)) != Array(b.prefix(24)), "nonce reused")
        #expect(Array(a.dropFirst(24)) != Array(b.dropFirst(24)), "ciphertext repeated")
    }

    @Test(arguments: [
        "keyhold/secret/7/3/1", "keyhold/secret/7/4/2", "keyhold/secret/8/3/2",
        "keyhold/datakey/2", "", "keyhold/secret/7/3/2 ", "Keyhold/secret/7/3/2"
    ])
    func openWithAnotherAADFails(otherAAD: String) throws {
        let sealed = try Seal.seal(SecureBytes(random: 32), key: key, aad: aad)
        #expect(throws: CryptoError.integrity) { try Seal.open(sealed, key: key, aad: otherAAD) }
    }

    @Test func openWithAnotherKeyFails() throws {
        let sealed = try Seal.seal(SecureBytes(random: 32), key: key, aad: aad)
        #expect(throws: CryptoError.integrity) { try Seal.open(sealed, key: SecureBytes(random: 32), aad: aad) }
        // A key that differs in one bit.
        var near = key.unsafeArray()
        near[31] ^= 0x80
        let nearKey = try SecureBytes(copying: near)
        Sodium.wipe(&near)
        #expect(throws: CryptoError.integrity) { try Seal.open(sealed, key: nearKey, aad: aad) }
    }

    /// Every byte of nonce, ciphertext and tag is covered by authentication.
    @Test func flippingAnyByteFails() throws {
        let sealed = try Seal.seal(SecureBytes(random: 20), key: key, aad: aad)
        #expect(sealed.count == 60)
        var failures = 0
        for i in sealed.indices {
            do {
                _ = try Seal.open(flipping(sealed, at: i), key: key, aad: aad)
                Issue.record("a flipped byte at offset \(i) still opened")
            } catch CryptoError.integrity {
                failures += 1
            } catch {
                Issue.record("offset \(i): unexpected error \(error)")
            }
        }
        #expect(failures == sealed.count)
    }

    @Test func flippedNonceCiphertextAndTagEachFail() throws {
        let sealed = try Seal.seal(SecureBytes(random: 20), key: key, aad: aad)
        let regions = [("nonce", 0), ("nonce", 23), ("ciphertext", 24), ("ciphertext", 43), ("tag", 44), ("tag", 59)]
        for (region, offset) in regions {
            #expect(throws: CryptoError.integrity, "flipped \(region) byte at \(offset)") {
                try Seal.open(flipping(sealed, at: offset), key: key, aad: aad)
            }
        }
    }

    @Test func truncatedOrExtendedValuesFail() throws {
        let sealed = try Seal.seal(SecureBytes(random: 20), key: key, aad: aad)
        let variants: [(String, [UInt8])] = [
            ("last byte dropped", Array(sealed.dropLast())),
            ("first byte dropped", Array(sealed.dropFirst())),
            ("tag dropped", Array(sealed.dropLast(16))),
            ("nonce and tag only", Array(sealed.prefix(40))),
            ("shorter than nonce + tag", Array(sealed.prefix(39))),
            ("nonce only", Array(sealed.prefix(24))),
            ("empty", []),
            ("byte appended", sealed + [0])
        ]
        for (what, bytes) in variants {
            #expect(throws: CryptoError.integrity, "\(what)") { try Seal.open(bytes, key: key, aad: aad) }
        }
    }

    @Test func emptyMessageIsStillAuthenticated() throws {
        let sealed = try Seal.seal(SecureBytes(count: 0) { _ in }, key: key, aad: aad)
        #expect(sealed.count == 40)
        #expect(try Seal.open(sealed, key: key, aad: aad).count == 0)
        #expect(throws: CryptoError.integrity) { try Seal.open(sealed, key: key, aad: "other") }
        #expect(throws: CryptoError.integrity) { try Seal.open(flipping(sealed, at: 39), key: key, aad: aad) }
    }

    @Test func wrongKeyLengthIsMalformed() throws {
        let short = try SecureBytes(random: 16)
        #expect(throws: CryptoError.malformed("key length")) { try Seal.seal(SecureBytes(random: 8), key: short, aad: aad) }
        let sealed = try Seal.seal(SecureBytes(random: 8), key: key, aad: aad)
        #expect(throws: CryptoError.malformed("key length")) { try Seal.open(sealed, key: SecureBytes(random: 33), aad: aad) }
    }

    /// The layout is nonce || AEAD output: the first 24 bytes are the nonce the
    /// AEAD used, so a sealed value moved onto another nonce fails.
    @Test func nonceIsTheFirst24Bytes() throws {
        let a = try Seal.seal(SecureBytes(random: 10), key: key, aad: aad)
        let b = try Seal.seal(SecureBytes(random: 10), key: key, aad: aad)
        let spliced = Array(b.prefix(24)) + Array(a.dropFirst(24))
        #expect(throws: CryptoError.integrity) { try Seal.open(spliced, key: key, aad: aad) }
    }
}
