import Testing
@testable import KeyholdCrypto

@Suite struct BatchSealingTests {
    let key: SecureBytes

    init() throws {
        key = try SecureBytes(random: Seal.keyBytes)
    }
    let aad = "keyhold/secret/7/3/2"

    @Test(arguments: [1, 16, 100, 65_536])
    func sealerOutputOpensLikeSeal(length: Int) throws {
        let plain = Sodium.randomBytes(length)
        let sealer = Sealer(capacity: 65_536)
        let sealed = try plain.withUnsafeBytes { try sealer.seal($0, key: key, aad: aad) { Array($0) } }
        #expect(sealed.count == Seal.nonceBytes + length + Seal.tagBytes)
        #expect(try holds(try Seal.open(sealed, key: key, aad: aad), plain))
        #expect(throws: CryptoError.integrity) { try Seal.open(sealed, key: key, aad: aad + "x") }
        let again = try plain.withUnsafeBytes { try sealer.seal($0, key: key, aad: aad) { Array($0) } }
        #expect(Array(again.prefix(Seal.nonceBytes)) != Array(sealed.prefix(Seal.nonceBytes)), "nonce reused")
    }

    @Test func sealerRefusesWhatDoesNotFit() throws {
        let sealer = Sealer(capacity: 8)
        #expect(throws: CryptoError.self) {
            try [UInt8](repeating: 1, count: 9).withUnsafeBytes { try sealer.seal($0, key: key, aad: aad) { _ in } }
        }
        let short = try SecureBytes(random: 16)
        #expect(throws: CryptoError.malformed("key length")) {
            try [UInt8](repeating: 1, count: 4).withUnsafeBytes { try sealer.seal($0, key: short, aad: aad) { _ in } }
        }
    }

    @Test func resealerRawFormMatches() throws {
        let plain = Sodium.randomBytes(77)
        let old = try Seal.seal(SecureBytes(copying: plain), key: key, aad: aad)
        let newKey = try SecureBytes(random: Seal.keyBytes)
        let resealer = try Resealer(capacity: 1024)
        let moved = try old.withUnsafeBytes { o in
            try resealer.reseal(o, from: key, fromAAD: aad, to: newKey, toAAD: "keyhold/secret/7/3/3") { Array($0) }
        }
        #expect(try holds(try Seal.open(moved, key: newKey, aad: "keyhold/secret/7/3/3"), plain))
        #expect(throws: CryptoError.integrity) {
            try old.withUnsafeBytes { try resealer.reseal($0, from: key, fromAAD: "keyhold/secret/7/3/9", to: newKey, toAAD: aad) { _ in } }
        }
        #expect(
            try holds(
                try Seal.open(try resealer.reseal(old, from: key, fromAAD: aad, to: newKey, toAAD: aad), key: newKey, aad: aad), plain))
    }

    @Test func openIntoABufferMatchesOpen() throws {
        let plain = Sodium.randomBytes(300)
        let sealed = try Seal.seal(SecureBytes(copying: plain), key: key, aad: aad)
        let buffer = try GuardedBuffer(capacity: 512)
        let (length, same) = try buffer.withUnsafeMutableBytes { out in
            let n = try sealed.withUnsafeBytes { s in try Array(aad.utf8).withUnsafeBytes { try Seal.open(s, key: key, aad: $0, into: out) }
            }
            return (n, out.prefix(n).elementsEqual(plain))
        }
        #expect(length == 300 && same)
        func open(_ sealed: [UInt8], aad: String, capacity: Int) throws -> Int {
            try GuardedBuffer(capacity: capacity).withUnsafeMutableBytes { out in
                try sealed.withUnsafeBytes { s in try Array(aad.utf8).withUnsafeBytes { try Seal.open(s, key: key, aad: $0, into: out) } }
            }
        }
        #expect(throws: CryptoError.integrity) { try open(sealed, aad: aad + "x", capacity: 512) }
        var altered = sealed
        altered[Seal.nonceBytes] ^= 1
        #expect(throws: CryptoError.integrity) { try open(altered, aad: aad, capacity: 512) }
        #expect(throws: CryptoError.self) { try open(sealed, aad: aad, capacity: 299) }
        #expect(throws: CryptoError.integrity) {
            try open(Array(sealed.prefix(Seal.nonceBytes + Seal.tagBytes - 1)), aad: aad, capacity: 512)
        }
    }

    @Test func guardedBufferIsWritableInsideAndWipedOnRequest() throws {
        let buffer = try GuardedBuffer(capacity: 64)
        buffer.withUnsafeMutableBytes { b in
            #expect(b.count == 64)
            for i in b.indices { b[i] = 0xAB }
        }
        buffer.wipe(32)
        let bytes = buffer.withUnsafeMutableBytes { Array($0) }
        #expect(bytes.prefix(32).allSatisfy { $0 == 0 } && bytes.suffix(32).allSatisfy { $0 == 0xAB })
        buffer.wipe()
        #expect(buffer.withUnsafeMutableBytes { Array($0) }.allSatisfy { $0 == 0 })
    }
}
