import Testing
@testable import KeyholdCrypto

@Suite struct TokenTests {
    static let expectedSizes: [Token.Alphabet: Int] = [
        .urlsafe: 64, .hex: 16, .alnum: 62, .base64: 64, .alpha: 52, .numeric: 10, .ascii: 94
    ]

    @Test func everyAlphabetIsCovered() {
        #expect(Set(Token.Alphabet.allCases) == Set(Self.expectedSizes.keys))
    }

    @Test(arguments: Token.Alphabet.allCases)
    func alphabetHasDistinctPrintableCharacters(alphabet: Token.Alphabet) {
        let chars = alphabet.characters
        #expect(chars.count == Self.expectedSizes[alphabet])
        #expect(Set(chars).count == chars.count, "duplicates would bias the draw")
        #expect(chars.allSatisfy { $0 > 0x20 && $0 < 0x7F })
    }

    @Test(arguments: Token.Alphabet.allCases)
    func lengthAndMembership(alphabet: Token.Alphabet) throws {
        let allowed = Set(alphabet.characters)
        for length in [0, 1, 2, 16, 40, 100, 1000] {
            let token = try Token.generate(length: length, alphabet: alphabet)
            #expect(token.count == length)
            let allMembers = token.withBytes { $0.allSatisfy(allowed.contains) }
            #expect(allMembers, "a \(alphabet) token of length \(length) has a character outside its alphabet")
            let isText = token.utf8String()?.utf8.count == length
            #expect(isText, "a \(alphabet) token is not \(length) bytes of UTF-8 text")
        }
    }

    @Test func tokensDiffer() throws {
        let a = try Token.generate(length: 32, alphabet: .urlsafe)
        let b = try Token.generate(length: 32, alphabet: .urlsafe)
        let same = a.constantTimeEquals(b)
        #expect(!same)
    }

    @Test func hexIsRoughlyUniform() throws {
        let n = 65_536
        let token = try Token.generate(length: n, alphabet: .hex)
        var counts: [UInt8: Int] = [:]
        token.withBytes { for b in $0 { counts[b, default: 0] += 1 } }
        let expected = n / 16
        #expect(counts.count == 16)
        for symbol in Token.Alphabet.hex.characters {
            let c = counts[symbol] ?? 0
            #expect(
                c >= expected * 3 / 4 && c <= expected * 5 / 4,
                "symbol \(Character(UnicodeScalar(symbol))) drawn \(c) times, expected about \(expected)")
        }
    }

    /// Every alphabet, including those whose size is not a power of two
    /// (numeric, alnum, alpha, ascii), where a modulo draw would skew.
    @Test(arguments: Token.Alphabet.allCases)
    func everyAlphabetIsRoughlyUniform(alphabet: Token.Alphabet) throws {
        let chars = alphabet.characters
        let perSymbol = 2000
        let token = try Token.generate(length: chars.count * perSymbol, alphabet: alphabet)
        var counts: [UInt8: Int] = [:]
        token.withBytes { for b in $0 { counts[b, default: 0] += 1 } }
        #expect(counts.count == chars.count, "some symbols never drawn")
        let outside = chars.filter { c in
            let n = counts[c] ?? 0
            return n < perSymbol * 3 / 4 || n > perSymbol * 5 / 4
        }
        #expect(outside.isEmpty, "\(alphabet): \(outside.count) symbols outside ±25% of \(perSymbol)")
    }
}
