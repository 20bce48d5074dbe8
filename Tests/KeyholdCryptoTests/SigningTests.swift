import Testing
@testable import KeyholdCrypto

@Suite struct SigningTests {
    @Test func sizes() throws {
        let pair = try SigningKeyPair.generate()
        #expect(pair.publicKey.count == 32)
        #expect(pair.secretKey.count == 64)
        #expect(SigningKeyPair.signatureBytes == 64)
        #expect(pair.sign([1, 2, 3]).count == 64)
    }

    @Test func generatedPairsDiffer() throws {
        let a = try SigningKeyPair.generate(), b = try SigningKeyPair.generate()
        #expect(a.publicKey != b.publicKey)
    }

    @Test func signAndVerify() throws {
        let pair = try SigningKeyPair.generate()
        for message in [[], [0], Array("keyhold/audit/v1".utf8), Sodium.randomBytes(32), Sodium.randomBytes(5000)] {
            let signature = pair.sign(message)
            #expect(SigningKeyPair.verify(signature: signature, message: message, publicKey: pair.publicKey))
        }
    }

    @Test func ed25519IsDeterministic() throws {
        let pair = try SigningKeyPair.generate()
        let message = Sodium.randomBytes(32)
        #expect(pair.sign(message) == pair.sign(message))
    }

    @Test func verifyFailsForAChangedMessage() throws {
        let pair = try SigningKeyPair.generate()
        let message = Sodium.randomBytes(32)
        let signature = pair.sign(message)
        for i in message.indices {
            #expect(!SigningKeyPair.verify(signature: signature, message: flipping(message, at: i), publicKey: pair.publicKey))
        }
        #expect(!SigningKeyPair.verify(signature: signature, message: message + [0], publicKey: pair.publicKey))
        #expect(!SigningKeyPair.verify(signature: signature, message: Array(message.dropLast()), publicKey: pair.publicKey))
    }

    @Test func verifyFailsUnderAnotherKey() throws {
        let pair = try SigningKeyPair.generate(), other = try SigningKeyPair.generate()
        let message = Sodium.randomBytes(32)
        #expect(!SigningKeyPair.verify(signature: pair.sign(message), message: message, publicKey: other.publicKey))
        #expect(!SigningKeyPair.verify(signature: other.sign(message), message: message, publicKey: pair.publicKey))
    }

    @Test func verifyFailsForAChangedOrMalformedSignature() throws {
        let pair = try SigningKeyPair.generate()
        let message = Sodium.randomBytes(32)
        let signature = pair.sign(message)
        for i in [0, 31, 32, 63] {
            #expect(!SigningKeyPair.verify(signature: flipping(signature, at: i), message: message, publicKey: pair.publicKey))
        }
        #expect(!SigningKeyPair.verify(signature: Array(signature.dropLast()), message: message, publicKey: pair.publicKey))
        #expect(!SigningKeyPair.verify(signature: signature + [0], message: message, publicKey: pair.publicKey))
        #expect(!SigningKeyPair.verify(signature: [], message: message, publicKey: pair.publicKey))
        #expect(!SigningKeyPair.verify(signature: signature, message: message, publicKey: Array(pair.publicKey.dropLast())))
    }

    @Test func reformingAMatchingPairWorksAndSigns() throws {
        let pair = try SigningKeyPair.generate()
        let reformed = try SigningKeyPair(publicKey: pair.publicKey, secretKey: SecureBytes(copying: pair.secretKey.unsafeArray()))
        let message = Sodium.randomBytes(16)
        #expect(SigningKeyPair.verify(signature: reformed.sign(message), message: message, publicKey: pair.publicKey))
    }

    @Test func reformingAMismatchedPairIsRefused() throws {
        let a = try SigningKeyPair.generate(), b = try SigningKeyPair.generate()
        #expect(throws: CryptoError.integrity) { try SigningKeyPair(publicKey: b.publicKey, secretKey: a.secretKey) }
        #expect(throws: CryptoError.integrity) { try SigningKeyPair(publicKey: a.publicKey, secretKey: b.secretKey) }
        #expect(throws: CryptoError.integrity) {
            try SigningKeyPair(publicKey: flipping(a.publicKey, at: 0), secretKey: a.secretKey)
        }
    }

    /// A secret key whose seed is A's but whose embedded public half is B's does
    /// not belong to B's public key: it would sign with A's scalar and B's key
    /// in the hash, making signatures nobody can verify.
    @Test func reformingASpliceOfTwoKeysIsRefused() throws {
        let a = try SigningKeyPair.generate(), b = try SigningKeyPair.generate()
        var spliced = Array(a.secretKey.unsafeArray().prefix(32)) + b.publicKey
        let splicedKey = try SecureBytes(copying: spliced)
        Sodium.wipe(&spliced)
        #expect(throws: CryptoError.integrity) { try SigningKeyPair(publicKey: b.publicKey, secretKey: splicedKey) }
    }

    @Test func reformingWithWrongLengthsIsMalformed() throws {
        let pair = try SigningKeyPair.generate()
        #expect(throws: CryptoError.malformed("key pair length")) {
            try SigningKeyPair(publicKey: Array(pair.publicKey.dropLast()), secretKey: pair.secretKey)
        }
        #expect(throws: CryptoError.malformed("key pair length")) {
            try SigningKeyPair(publicKey: pair.publicKey, secretKey: SecureBytes(random: 32))
        }
    }
}

@Suite struct SealedBoxTests {
    @Test func roundTrip() throws {
        let pair = try SigningKeyPair.generate()
        for length in [0, 1, 32, 1000] {
            var plain = Sodium.randomBytes(length)
            let sealed = try SealedBox.seal(SecureBytes(copying: plain), to: pair.publicKey)
            #expect(sealed.count == length + 48, "ephemeral public key (32) + MAC (16)")
            let opened = try SealedBox.open(sealed, with: pair)
            let same = try holds(opened, plain)
            Sodium.wipe(&plain)
            #expect(same, "sealed box opened to other bytes")
        }
    }

    @Test func sealsAreRandomised() throws {
        let pair = try SigningKeyPair.generate()
        let root = try SecureBytes(random: 32)
        #expect(try SealedBox.seal(root, to: pair.publicKey) != SealedBox.seal(root, to: pair.publicKey))
    }

    @Test func openWithAnotherKeyPairFails() throws {
        let pair = try SigningKeyPair.generate(), other = try SigningKeyPair.generate()
        let sealed = try SealedBox.seal(SecureBytes(random: 32), to: pair.publicKey)
        #expect(throws: CryptoError.integrity) { try SealedBox.open(sealed, with: other) }
    }

    @Test func alteredOrTruncatedBoxFails() throws {
        let pair = try SigningKeyPair.generate()
        let sealed = try SealedBox.seal(SecureBytes(random: 32), to: pair.publicKey)
        for i in [0, 31, 32, 47, 48, sealed.count - 1] {
            #expect(throws: CryptoError.integrity, "flipped byte \(i)") { try SealedBox.open(flipping(sealed, at: i), with: pair) }
        }
        #expect(throws: CryptoError.integrity) { try SealedBox.open(Array(sealed.dropLast()), with: pair) }
        #expect(throws: CryptoError.integrity) { try SealedBox.open(Array(sealed.prefix(47)), with: pair) }
        #expect(throws: CryptoError.integrity) { try SealedBox.open([], with: pair) }
    }

    @Test func sealToMalformedPublicKeyThrows() {
        #expect(throws: CryptoError.malformed("public key")) {
            try SealedBox.seal(SecureBytes(random: 32), to: [UInt8](repeating: 1, count: 31))
        }
    }
}
