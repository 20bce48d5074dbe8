import Testing
@testable import KeyholdCrypto

@Suite struct HashTests {
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test(arguments: [
        ("", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"),
        ("abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
    ])
    func blake2b256KnownAnswers(input: String, expected: String) {
        let digest = Hash.blake2b256(Array(input.utf8))
        #expect(digest.count == 32)
        #expect(Self.hex(digest) == expected)
    }

    @Test func acceptsAnyByteCollection() {
        let bytes = Array("abc".utf8)
        #expect(Hash.blake2b256(bytes[...]) == Hash.blake2b256(bytes))
        #expect(Hash.blake2b256("abc".utf8) == Hash.blake2b256(bytes))
        #expect(Hash.blake2b256([0]) != Hash.blake2b256([]))
    }
}
