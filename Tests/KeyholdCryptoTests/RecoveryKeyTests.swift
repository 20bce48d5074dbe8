import Testing
@testable import KeyholdCrypto

/// An independent, bit-by-bit implementation of docs/FORMAT.md section 4,
/// written from the text and sharing no code with RecoveryKey.
enum ReferenceRecoveryKey {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// The 52 data symbols: 256 key bits, most significant first, then 4 zero bits.
    static func dataSymbols(_ key: [UInt8]) -> [Character] {
        var bits: [Int] = []
        for byte in key {
            for shift in stride(from: 7, through: 0, by: -1) { bits.append(Int((byte >> UInt8(shift)) & 1)) }
        }
        bits += [0, 0, 0, 0]
        precondition(bits.count == 260)
        return stride(from: 0, to: 260, by: 5).map { start in
            var value = 0
            for bit in bits[start..<start + 5] { value = value * 2 + bit }
            return alphabet[value]
        }
    }

    /// alphabet[BLAKE2b-256("keyhold/recovery-check/" || <i> || ":" || <group>)[0] mod 32]
    static func check(group index: Int, _ group: String) -> Character {
        let input = Array("keyhold/recovery-check/".utf8) + Array(String(index).utf8) + Array(":".utf8) + Array(group.utf8)
        return alphabet[Int(Hash.blake2b256(input)[0]) % 32]
    }

    static func encode(_ key: [UInt8]) -> String {
        let symbols = dataSymbols(key)
        var groups: [String] = []
        for i in 1...13 {
            let group = String(symbols[(i - 1) * 4..<i * 4])
            groups.append(group + String(check(group: i, group)))
        }
        return groups.joined(separator: "-")
    }

    static func value(of symbol: Character) -> Int { alphabet.firstIndex(of: symbol)! }
}

@Suite struct RecoveryKeyTests {
    typealias ParseError = RecoveryKey.ParseError

    /// The kind of a parse error without the offending character (which is part of a key).
    static func kind(_ error: any Error) -> String {
        switch error as? ParseError {
        case .character?: "bad character"
        case .length(let n)?: "length \(n)"
        case .check(let g)?: "check of group \(g)"
        case .outOfMemory?: "out of memory"
        case nil: "not a ParseError"
        }
    }

    /// The 65 symbols of an encoded key, dashes removed.
    static func symbols(_ encoded: String) -> [Character] { Array(encoded.filter { $0 != "-" }) }

    /// Re-joins 65 symbols into 13 dash-separated groups.
    static func joined(_ symbols: [Character]) -> String {
        stride(from: 0, to: symbols.count, by: 5).map { String(symbols[$0..<min($0 + 5, symbols.count)]) }
            .joined(separator: "-")
    }

    // MARK: Shape and encoding

    @Test func generateGivesFresh32ByteKeys() throws {
        let a = try RecoveryKey.generate(), b = try RecoveryKey.generate()
        #expect(a.count == 32 && b.count == 32)
        let equal = a.constantTimeEquals(b)
        #expect(!equal, "two generated recovery keys are equal")
    }

    @Test func encodingHas13GroupsOf5CrockfordSymbols() throws {
        let alphabet = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        for _ in 0..<50 {
            let encoded = try RecoveryKey.encode(try RecoveryKey.generate())
            let length = encoded.count
            #expect(length == 77)
            let groups = encoded.split(separator: "-", omittingEmptySubsequences: false)
            #expect(groups.count == 13)
            let allFive = groups.allSatisfy { $0.count == 5 }
            #expect(allFive, "a group is not 5 symbols long")
            let allInAlphabet = groups.allSatisfy { $0.allSatisfy(alphabet.contains) }
            #expect(allInAlphabet, "a symbol outside the Crockford alphabet")
        }
    }

    /// Known answers computed outside Swift (Python hashlib) from FORMAT.md
    /// section 4, for fixed fake keys. Not parameterised, so the keys never
    /// appear in test output; a failure names the vector by number.
    static let knownAnswers: [(key: [UInt8], encoded: String)] = [
        (
            (0..<32).map { UInt8($0) },
            "000GV-40R49-0M308-E209E-185GE-R38E4-1W81Z-24GKV-2GAHB-C5RRA-34D1E-P70XN-3RFGF"
        ),
        (
            [UInt8](repeating: 0, count: 32),
            "0000Z-0000E-0000T-0000M-0000T-00009-00001-0000K-00008-0000C-0000X-00007-0000Y"
        ),
        (
            [UInt8](repeating: 0xFF, count: 32),
            "ZZZZX-ZZZZM-ZZZZS-ZZZZ2-ZZZZF-ZZZZV-ZZZZA-ZZZZ3-ZZZZ7-ZZZZS-ZZZZ0-ZZZZZ-ZZZGZ"
        )
    ]

    @Test func knownAnswers() throws {
        for (n, vector) in Self.knownAnswers.enumerated() {
            let encodedMatches = try RecoveryKey.encode(try SecureBytes(copying: vector.key)) == vector.encoded
            #expect(encodedMatches, "vector \(n + 1): encoding differs from the known answer")
            let referenceMatches = ReferenceRecoveryKey.encode(vector.key) == vector.encoded
            #expect(referenceMatches, "vector \(n + 1): the test's reference encoder differs from the known answer")
            do {
                let roundTrips = try holds(try RecoveryKey.parse(vector.encoded), vector.key)
                #expect(roundTrips, "vector \(n + 1): parsing gives other bytes")
            } catch {
                Issue.record("vector \(n + 1): refused (\(Self.kind(error)))")
            }
        }
    }

    @Test func encodingMatchesIndependentBitByBitImplementation() throws {
        var mismatches = 0
        for _ in 0..<300 {
            var bytes = Sodium.randomBytes(32)
            if try RecoveryKey.encode(try SecureBytes(copying: bytes)) != ReferenceRecoveryKey.encode(bytes) { mismatches += 1 }
            Sodium.wipe(&bytes)
        }
        #expect(mismatches == 0)
    }

    @Test func parseInvertsEncode() throws {
        for _ in 0..<200 {
            let key = try RecoveryKey.generate()
            let parsed = try RecoveryKey.parse(RecoveryKey.encode(key))
            let same = parsed.constantTimeEquals(key)
            #expect(same, "parse(encode(k)) != k")
        }
    }

    // MARK: Tolerant reading

    @Test func toleratesCaseSpacesMissingDashesAndLookAlikes() throws {
        // A key whose symbols include both 0 and 1, so the look-alikes are exercised.
        var key = try RecoveryKey.generate()
        var encoded = try RecoveryKey.encode(key)
        var attempts = 0
        while !(encoded.contains("0") && encoded.contains("1")) && attempts < 1000 {
            key = try RecoveryKey.generate(); encoded = try RecoveryKey.encode(key); attempts += 1
        }
        let hasBoth = encoded.contains("0") && encoded.contains("1")
        try #require(hasBoth)

        var lookAlike = ""
        var zeroes = 0, ones = 0
        for ch in encoded {
            switch ch {
            case "0": lookAlike.append(["O", "o"][zeroes % 2]); zeroes += 1
            case "1": lookAlike.append(["I", "i", "L", "l"][ones % 4]); ones += 1
            default: lookAlike.append(ch)
            }
        }
        let variants: [(String, String)] = [
            ("lower case", encoded.lowercased()),
            ("spaces for dashes", encoded.replacingOccurrences(of: "-", with: " ")),
            ("no dashes", encoded.replacingOccurrences(of: "-", with: "")),
            ("mixed separators and padding", "  " + encoded.replacingOccurrences(of: "-", with: " - ") + "\n"),
            ("tabs and newlines", encoded.replacingOccurrences(of: "-", with: "\t").replacingOccurrences(of: "\t", with: "\r\n")),
            ("look-alikes O/I/L", lookAlike),
            ("look-alikes, lower case, no dashes", lookAlike.lowercased().replacingOccurrences(of: "-", with: ""))
        ]
        for (what, text) in variants {
            do {
                let parsed = try RecoveryKey.parse(text)
                let same = parsed.constantTimeEquals(key)
                #expect(same, "\(what): parsed to other bytes")
            } catch {
                Issue.record("\(what): refused (\(Self.kind(error)))")
            }
        }
    }

    // MARK: Errors

    /// A data symbol changed to another symbol whose group check really changes
    /// (decided by the reference implementation) is reported in that group.
    @Test(arguments: 1...13)
    func changedDataSymbolNamesItsGroup(group: Int) throws {
        let key = try RecoveryKey.generate()
        let original = Self.symbols(try RecoveryKey.encode(key))
        for position in 0..<4 {
            let index = (group - 1) * 5 + position
            var substituted: [Character]?
            for candidate in ReferenceRecoveryKey.alphabet where candidate != original[index] {
                var changed = original
                changed[index] = candidate
                let groupText = String(changed[(group - 1) * 5..<(group - 1) * 5 + 4])
                if ReferenceRecoveryKey.check(group: group, groupText) != changed[(group - 1) * 5 + 4] {
                    substituted = changed
                    break
                }
            }
            let changed = try #require(substituted, "no substitute changes the check")
            #expect(throws: ParseError.check(group: group), "symbol \(position + 1) of group \(group)") {
                try RecoveryKey.parse(Self.joined(changed))
            }
        }
    }

    /// Every possible single substitution of a data symbol: most are caught,
    /// every one that is caught names the right group, and the misses are the
    /// ~1/32 check collisions (which then parse to a different key).
    @Test(arguments: 1...13)
    func everySubstitutionInAGroupIsCaughtOrACollision(group: Int) throws {
        let key = try RecoveryKey.generate()
        let original = Self.symbols(try RecoveryKey.encode(key))
        var caught = 0, collided = 0, wrong = 0, total = 0
        for position in 0..<4 {
            let index = (group - 1) * 5 + position
            for candidate in ReferenceRecoveryKey.alphabet where candidate != original[index] {
                var changed = original
                changed[index] = candidate
                total += 1
                do {
                    let parsed = try RecoveryKey.parse(Self.joined(changed))
                    collided += 1
                    if parsed.constantTimeEquals(key) { wrong += 1 }  // a change must not give back the same key
                } catch  where error == .check(group: group) {
                    caught += 1
                } catch {
                    wrong += 1
                }
            }
        }
        #expect(total == 124)
        #expect(wrong == 0, "group \(group): \(wrong) substitutions gave the wrong error or the same key")
        #expect(caught + collided == total)
        // Expected collisions ~ 124/32 ~ 3.9; 20 would be far outside chance.
        #expect(caught >= 104, "group \(group): only \(caught) of \(total) substitutions caught")
    }

    @Test(arguments: 1...13)
    func changedCheckSymbolNamesItsGroup(group: Int) throws {
        let original = Self.symbols(try RecoveryKey.encode(try RecoveryKey.generate()))
        let index = (group - 1) * 5 + 4
        for candidate in ReferenceRecoveryKey.alphabet where candidate != original[index] {
            var changed = original
            changed[index] = candidate
            #expect(throws: ParseError.check(group: group)) { try RecoveryKey.parse(Self.joined(changed)) }
        }
    }

    @Test func firstBadGroupIsNamed() throws {
        var symbols = Self.symbols(try RecoveryKey.encode(try RecoveryKey.generate()))
        // Break the checks of groups 4 and 9 (check symbols changed).
        for g in [4, 9] {
            let i = (g - 1) * 5 + 4
            symbols[i] = symbols[i] == "0" ? "1" : "0"
        }
        #expect(throws: ParseError.check(group: 4)) { try RecoveryKey.parse(Self.joined(symbols)) }
    }

    @Test func wrongLengthIsRefused() throws {
        let encoded = try RecoveryKey.encode(try RecoveryKey.generate())
        let symbols = Self.symbols(encoded)
        #expect(throws: ParseError.length(symbols: 64)) { try RecoveryKey.parse(String(symbols.dropLast())) }
        #expect(throws: ParseError.length(symbols: 66)) { try RecoveryKey.parse(encoded + "0") }
        #expect(throws: ParseError.length(symbols: 60)) { try RecoveryKey.parse(Self.joined(Array(symbols.prefix(60)))) }
        #expect(throws: ParseError.length(symbols: 0)) { try RecoveryKey.parse("") }
        #expect(throws: ParseError.length(symbols: 0)) { try RecoveryKey.parse(" - - ") }
        #expect(throws: ParseError.length(symbols: 130)) { try RecoveryKey.parse(encoded + encoded) }
    }

    @Test(arguments: ["U", "u", "!", "_", "=", "é", "€", "\u{0}", "Ö"])
    func badCharacterIsRefused(bad: String) throws {
        var symbols = Self.symbols(try RecoveryKey.encode(try RecoveryKey.generate()))
        symbols[17] = Character(bad)
        // ASCII is named in upper case, as read; anything else as typed.
        let expected = bad.unicodeScalars.allSatisfy(\.isASCII) ? Character(bad.uppercased()) : Character(bad)
        #expect(throws: ParseError.character(expected)) { try RecoveryKey.parse(Self.joined(symbols)) }
    }

    /// Only ASCII folds to upper case: "ß" (upper case "SS", two symbols) and the ligature "ﬁ"
    /// ("FI") are not symbols. Before, the whole text was upper-cased first, so these read as
    /// "SS" and "F1" (and the error was about the length, not the character).
    @Test func nonASCIIDoesNotFoldIntoSymbols() throws {
        let encoded = try RecoveryKey.encode(try RecoveryKey.generate())
        #expect(throws: ParseError.character("ß")) { try RecoveryKey.parse("ß" + encoded) }
        #expect(throws: ParseError.character("ﬁ")) { try RecoveryKey.parse("ﬁ" + encoded) }
    }

    /// The last data symbol carries one key bit and the 4 padding bits. With
    /// the check recomputed so only the padding is wrong, parsing must refuse.
    @Test func nonZeroPaddingBitsAreRefused() throws {
        let original = Self.symbols(try RecoveryKey.encode(try RecoveryKey.generate()))
        let lastData = 12 * 5 + 3
        let value = ReferenceRecoveryKey.value(of: original[lastData])
        let paddingIsZero = value & 0xF == 0
        #expect(paddingIsZero, "the encoder wrote non-zero padding")
        for padding in 1...15 {
            var changed = original
            changed[lastData] = ReferenceRecoveryKey.alphabet[(value & 0x10) | padding]
            changed[64] = ReferenceRecoveryKey.check(group: 13, String(changed[60..<64]))
            #expect(throws: ParseError.check(group: 13), "padding \(padding)") {
                try RecoveryKey.parse(Self.joined(changed))
            }
        }
        // Control: flipping the key bit (padding still zero) with a fresh check is accepted.
        var control = original
        control[lastData] = ReferenceRecoveryKey.alphabet[value ^ 0x10]
        control[64] = ReferenceRecoveryKey.check(group: 13, String(control[60..<64]))
        let parsed = try RecoveryKey.parse(Self.joined(control))
        #expect(parsed.count == 32)
    }

    @Test func errorDescriptionsNameTheProblem() {
        #expect(ParseError.check(group: 5).description.contains("group 5"))
        #expect(ParseError.length(symbols: 64).description.contains("64"))
        #expect(ParseError.character("U").description.contains("\"U\""))
        #expect(ParseError.character("\u{7}").description.contains("\\u{7}"))
    }
}
