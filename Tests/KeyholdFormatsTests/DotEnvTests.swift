import Testing
@testable import KeyholdFormats

@Suite struct DotEnvTests {
    @Test func readsTheDocumentedForms() {
        let text = """
            \u{FEFF}# a comment
            PLAIN=value
            export EXPORTED=yes
              SPACED = trimmed value   # a comment after white space
            HASH=a#b
            SINGLE='lit\\n ${X} "q"'
            DOUBLE="a\\nb\\tc\\"d\\'e\\\\f\\zg"
            MULTI="one
            two"
            EMPTY=
            KEPT=${OTHER}

            """
        let read = DotEnv.parse(Array(text.utf8))
        #expect(read.bad.isEmpty, "\(problems(read))")
        let got = entries(read)
        #expect(got.map(\.key) == ["PLAIN", "EXPORTED", "SPACED", "HASH", "SINGLE", "DOUBLE", "MULTI", "EMPTY", "KEPT"])
        #expect(got.map(\.value) == ["value", "yes", "trimmed value", "a#b", #"lit\n ${X} "q""#, "a\nb\tc\"d'e\\f\\zg",
                                     "one\ntwo", "", "${OTHER}"])
        #expect(got.map(\.origin) == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 10", "line 11"])
    }

    @Test func crlfLineEndsAreNotPartOfValues() {
        let got = entries(DotEnv.parse(Array("A=1\r\nB='2'\r\nC=\"3\"\r\n".utf8)))
        #expect(got.map(\.key) == ["A", "B", "C"])
        #expect(got.map(\.value) == ["1", "2", "3"])
    }

    @Test func badLinesAreNamedByLineAndTheRestIsRead() {
        let text = "GOOD=1\nnot an assignment\n=nokey\nAFTER='x' trailing\nLAST=2\n"
        let read = DotEnv.parse(Array(text.utf8))
        #expect(entries(read).map(\.key) == ["GOOD", "LAST"])
        #expect(problems(read) == [
            "line 2: expected KEY=value",
            "line 3: expected KEY=value",
            "line 4: AFTER: unexpected text after the closing quote",
        ])
        #expect(read.bad.map(\.seq) == [1, 2, 3], "bad entries keep their place in the source")
    }

    @Test func anUnclosedQuoteNamesTheKeyAndItsLine() {
        let read = DotEnv.parse(Array("A=1\nB=\"open\nC=3\n".utf8))
        #expect(entries(read).map(\.key) == ["A"])
        #expect(problems(read) == ["line 2: B: the double-quoted value is never closed"])
        let single = DotEnv.parse(Array("K='x".utf8))
        #expect(problems(single) == ["line 1: K: the single-quoted value is never closed"])
    }

    @Test func aKeyWithControlCharactersIsShownVisibly() {
        let read = DotEnv.parse(Array("K\u{1B}[31m=\"open".utf8))
        #expect(problems(read) == ["line 1: K\u{241B}[31m: the double-quoted value is never closed"])
    }

    @Test func keysForNames() {
        #expect(DotEnv.key(for: "app/db-url.v2") == "APP_DB_URL_V2")
        #expect(DotEnv.key(for: "9lives") == "_9LIVES")
        #expect(DotEnv.key(for: "émoji") == "_MOJI")
    }

    @Test func writesSingleQuotesWhenItCanAndEscapesOtherwise() {
        func line(_ value: String) -> String {
            let out = PlainBuffer()
            Array(value.utf8).withUnsafeBytes { DotEnv.appendLine(key: "K", value: $0, to: out) }
            return String(decoding: out.bytes, as: UTF8.self)
        }
        #expect(line("plain $HOME #x \"q\" \\") == "K='plain $HOME #x \"q\" \\'\n")
        #expect(line("it's") == "K=\"it's\"\n")
        #expect(line("a\nb\r\tc\"d\\e") == "K=\"a\\nb\\r\\tc\\\"d\\\\e\"\n")
    }

    @Test func whatItWritesReadsBackTheSame() {
        let values = ["plain", "it's", "multi\nline\r\nvalue", "tab\there", "quote \" and \\ backslash", "# not a comment",
                      " spaced ", "${NOT_EXPANDED}", "ünïcödé ✓", "'both' \"kinds\"", "trailing backslash \\"]
        let out = PlainBuffer()
        out.append(DotEnv.header(count: values.count))
        for (i, v) in values.enumerated() {
            Array(v.utf8).withUnsafeBytes { DotEnv.appendLine(key: "K\(i)", value: $0, to: out) }
        }
        let read = DotEnv.parse(out.bytes)
        #expect(read.bad.isEmpty, "\(problems(read))")
        let got = entries(read)
        #expect(got.map(\.key) == values.indices.map { "K\($0)" })
        #expect(got.map(\.value) == values)
    }

    @Test func carriesOnlyTextWithoutOtherControlCharacters() {
        func carries(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { DotEnv.canCarry($0) } }
        #expect(carries(Array("text\twith\r\nbreaks ✓".utf8)))
        #expect(!carries([0x61, 0x00, 0x62]))
        #expect(!carries([0x1B]))
        #expect(!carries([0xFF, 0xFE]))
    }
}
