import Testing
@testable import KeyholdCore

/// `Validate.visible` (names and text from the vault) and `Validate.terminalSafeValue`
/// (secret values on a terminal): nothing that steers a terminal gets through either.
@Suite struct DisplayEscapingTests {
    static func safe(_ bytes: [UInt8]) throws -> String? {
        try bytes.withUnsafeBytes { try Validate.terminalSafeValue($0) }.map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    @Test func visibleEscapesC0C1BidiAndInvisibleCharacters() {
        #expect(Validate.visible("plain ascii") == "plain ascii")
        #expect(Validate.visible("é 名前 😀") == "é 名前 😀")
        #expect(Validate.visible("a\u{1B}[2J\u{7}\t\n") == "a␛[2J␇␉␊")
        #expect(Validate.visible("\u{7F}") == "␡")
        #expect(Validate.visible("x\u{85}y\u{9B}z\u{80}\u{9F}") == #"x\u{0085}y\u{009B}z\u{0080}\u{009F}"#)
        for bidi: UInt32 in [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C] {
            let scalar = Unicode.Scalar(bidi)!
            let shown = Validate.visible("a" + String(Character(scalar)) + "b")
            #expect(!shown.unicodeScalars.contains(scalar), "U+\(String(bidi, radix: 16)) shown raw")
            #expect(Validate.isHidden(scalar))
        }
        #expect(Validate.visible("\u{2028}\u{200B}") == #"\u{2028}\u{200B}"#)
    }

    @Test func aValueIsEscapedOnlyWhereItMustBe() throws {
        #expect(try Self.safe(Array("plain value with a\ttab\nand a line".utf8)) == nil)
        #expect(try Self.safe(Array("é 名前 😀".utf8)) == nil)
        #expect(try Self.safe(Array("a\u{1B}]2;title\u{7}b".utf8)) == #"a\x1b]2;title\x07b"#)
        #expect(try Self.safe(Array("\u{1B}]52;c;aGk=\u{7}".utf8)) == #"\x1b]52;c;aGk=\x07"#)
        #expect(try Self.safe(Array("r\r\u{7F}\u{0}".utf8)) == #"r\x0d\x7f\x00"#)
        #expect(try Self.safe(Array("c1\u{85}\u{9B}6n".utf8)) == #"c1\u0085\u009b6n"#)
        #expect(try Self.safe(Array("b\u{202E}\u{2066}\u{200F}\u{61C}".utf8)) == #"b\u202e\u2066\u200f\u061c"#)
        // Bytes that are not UTF-8 (a lone C1 byte, a truncated sequence, an overlong form, a surrogate).
        #expect(try Self.safe([0x61, 0x9B, 0x62]) == #"a\x9bb"#)
        #expect(try Self.safe([0x61, 0xE2, 0x80]) == #"a\xe2\x80"#)
        #expect(try Self.safe([0xC0, 0x9B]) == #"\xc0\x9b"#)
        #expect(try Self.safe([0xED, 0xA0, 0x80]) == #"\xed\xa0\x80"#)
        // Ordinary text around them is kept byte for byte.
        #expect(try Self.safe(Array("é\u{1B}😀\t".utf8)) == "é\\x1b😀\t")
    }
}
