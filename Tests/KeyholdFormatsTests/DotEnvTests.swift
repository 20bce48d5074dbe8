import Testing
@testable import KeyholdFormats

// The .env rules, each as python-dotenv (DotEnv.pythonDotenvVersion) reads them. The same
// inputs, and python-dotenv's own test suite, are checked against python-dotenv itself by
// scripts/test_dotenv_interop.py (in `make test`).

/// The values of a read as [key: text].
private func values(_ read: SourceRead) -> [String: String] {
    Dictionary(entries(read).map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
}

private func read(_ text: String, _ policy: DotEnv.Variables = .refuse) throws -> DotEnv.Read {
    try DotEnv.read(Array(text.utf8), variables: policy)
}

@Suite struct DotEnvReadTests {
    @Test func readsTheCommonForms() throws {
        let text = """
            # a comment
            PLAIN=value
            export EXPORTED=yes
              SPACED = trimmed value   # a comment after white space
            HASH=a#b
            SINGLE='lit\\n "q"'
            DOUBLE="a\\nb\\tc\\"d\\'e\\\\f\\zg"
            MULTI="one
            two"
            'QUOTED KEY'=v

            """
        let r = try DotEnv.parse(Array(text.utf8))
        #expect(r.bad.isEmpty, "\(problems(r))")
        let got = entries(r)
        #expect(got.map(\.key) == ["PLAIN", "EXPORTED", "SPACED", "HASH", "SINGLE", "DOUBLE", "MULTI", "QUOTED KEY"])
        #expect(got.map(\.value) == ["value", "yes", "trimmed value", "a#b", #"lit\n "q""#, "a\nb\tc\"d'e\\f\\zg", "one\ntwo", "v"])
        #expect(got.map(\.origin) == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 10"])
    }

    @Test func singleQuotesDecodeBackslashAndQuote() throws {
        let r = try read(#"A='x\\y'"# + "\n" + #"B='it\'s'"# + "\n" + #"C='a\nb'"# + "\n")
        #expect(values(r.source) == ["A": #"x\y"#, "B": "it's", "C": #"a\nb"#])
    }

    @Test func doubleQuotesDecodePythonDotenvsEscapesAndKeepTheRest() throws {
        let r = try read(#"A="\a\b\f\v\n\r\t\"\'\\ \$ \x \u00e9""# + "\n")
        #expect(values(r.source) == ["A": "\u{07}\u{08}\u{0C}\u{0B}\n\r\t\"'\\ \\$ \\x \\u00e9"])
    }

    @Test func crAndCRLFAreLineBreaksEverywhere() throws {
        let r = try read("A=1\rB=2\r\nC='multi\rline'\rD=\"x\r\ny\"\r\nE=3")
        #expect(values(r.source) == ["A": "1", "B": "2", "C": "multi\nline", "D": "x\ny", "E": "3"])
        #expect(entries(r.source).map(\.origin) == ["line 1", "line 2", "line 3", "line 5", "line 7"])
    }

    @Test func pythonsWhiteSpaceIsTrimmed() throws {
        let r = try read(
            "A=\u{A0} value\u{A0}\u{2003}\u{0C}\nB=\u{3000}x\u{2028}\n\u{A0}C=1\nD=a\u{A0}#c\nE=x\u{1C}#y\nF=\u{1F}z\u{1E}\nG=b\u{A0} c\n")
        #expect(values(r.source) == ["A": "value", "B": "x", "C": "1", "D": "a", "E": "x", "F": "z", "G": "b\u{A0} c"])
    }

    @Test func anEmptyValueBeforeACommentIsEmpty() throws {
        let r = try read("KEY= # comment\nK2=\t# c\nK3=#nocomment\nK4=# # c\nK5=v # c\n")
        #expect(values(r.source) == ["KEY": "", "K2": "", "K3": "#nocomment", "K4": "#", "K5": "v"])
    }

    @Test func aRepeatedKeyGivesTheLastValueAndIsReported() throws {
        let r = try read("A=first\nB=1\nA=second\nA=third\n")
        #expect(values(r.source) == ["A": "third", "B": "1"])
        #expect(entries(r.source).first { $0.key == "A" }?.origin == "line 4")
        #expect(
            r.notes.map { "\($0.origin): \($0.message)" } == [
                "line 4: A is given 3 times (also at line 1, 3); the value here, the last, is what python-dotenv gives the application and is imported"
            ])
        #expect(r.source.bad.isEmpty)
    }

    @Test func aBareKeyHasNoValue() throws {
        let r = try read("A=1\nB=2\nA\nC\n")
        #expect(values(r.source) == ["B": "2"], "a bare A after A=1 leaves the application no A")
        #expect(r.notes.map(\.origin) == ["line 3", "line 4"])
        #expect(r.notes[1].message == "C has no `=`, so python-dotenv gives it no value; not imported")
        #expect(try values(read("A\nA=1\n").source) == ["A": "1"])
    }

    @Test func aLinePythonDotenvCannotParseIsBadAndOnlyItsLineIsSkipped() throws {
        let text = "GOOD=1\nnot an assignment\n=nokey\nAFTER='x' trailing\n''=5\nA=\"open\nB=2\nC='x\nD=3\nexport =4\nLAST=6\n"
        let r = try DotEnv.parse(Array(text.utf8))
        #expect(values(r) == ["GOOD": "1", "B": "2", "D": "3", "LAST": "6"])
        #expect(
            problems(r) == [
                "line 2: expected KEY=value; python-dotenv skips this line",
                "line 3: expected KEY=value; python-dotenv skips this line",
                "line 4: AFTER: unexpected text after the closing quote; python-dotenv skips this line",
                "line 5: the quoted key is empty or never closed; python-dotenv skips this line",
                "line 6: A: the double-quoted value is never closed; python-dotenv skips this line",
                "line 8: C: the single-quoted value is never closed; python-dotenv skips this line",
                "line 10: expected KEY=value; python-dotenv skips this line"
            ])
        #expect(r.bad.map(\.seq) == [1, 2, 3, 4, 5, 7, 9], "bad entries keep their place in the source")
    }

    @Test func aBackslashTakesTheNextCharacterInQuotes() throws {
        // An escaped backslash at the end closes; an escaped quote never does.
        #expect(try values(read(#"P='C:\Users\\'"# + "\nQ=1\nR='z'\n").source) == ["P": #"C:\Users\"#, "Q": "1", "R": "z"])
        #expect(try values(read(#"P="C:\Users\\""# + "\nQ=1\n").source) == ["P": #"C:\Users\"#, "Q": "1"])
        let r = try read(#"P='C:\Users\'"# + "\nQ=1\nR='z'\n")
        #expect(values(r.source).isEmpty, "python-dotenv reads from P's quote to R's, then fails, and Q is inside")
        #expect(problems(r.source) == ["line 1: P: unexpected text after the closing quote; python-dotenv skips this line"])
    }

    @Test func oneByteOrderMarkIsDropped() throws {
        #expect(try values(read("\u{FEFF}A=1\nB=2\n").source) == ["A": "1", "B": "2"])
        #expect(try values(read("\u{FEFF}\u{FEFF}A=1\n").source) == ["\u{FEFF}A": "1"], "a second one is part of the key")
    }

    @Test func aFileThatIsNotUTF8IsUnreadable() throws {
        let r = try DotEnv.read(Array("A=1\r\nB=2\n".utf8) + [0x43, 0x3D, 0xFF], variables: .literal)
        #expect(r.unreadable?.origin == "line 3")
        #expect(r.unreadable?.message.contains("not UTF-8") == true)
        #expect(r.source.entries.isEmpty)
        #expect(try DotEnv.read([0x41, 0x3D, 0xED, 0xA0, 0x80], variables: .literal).unreadable != nil, "a surrogate is not UTF-8")
        #expect(try problems(DotEnv.parse([0xC0, 0x80])).count == 1)
    }

    @Test func keysAndValuesAreAnyText() throws {
        let r = try read("é=è\n[=b\na:b=1\nK=ünï ✓ \u{1B}[0m\n")
        #expect(values(r.source) == ["é": "è", "[": "b", "a:b": "1", "K": "ünï ✓ \u{1B}[0m"])
    }
}

@Suite struct DotEnvVariableTests {
    @Test func findsWhatPythonDotenvExpands() {
        func found(_ s: String) -> [String] {
            let b = Array(s.utf8)
            return DotEnv.variables(in: b).map { String(decoding: b[$0.range], as: UTF8.self) }
        }
        #expect(found("${A}") == ["${A}"])
        #expect(found("x${A:-d}y${B}") == ["${A:-d}", "${B}"])
        #expect(found("${} ${:-$}") == ["${}", "${:-$}"])
        #expect(found("$A ${A ${a:b} $ {A}").isEmpty)
        #expect(found("$${X}}") == ["${X}"])
        #expect(found("${a:b}${c}") == ["${c}"])
    }

    @Test func refusedByDefaultNamingTheChoices() throws {
        let r = try read("A=1\nB=${A}\nC='${A}'\nD=$A\n")
        #expect(values(r.source) == ["A": "1", "D": "$A"])
        #expect(r.source.bad.map(\.origin) == ["line 2", "line 3"])
        #expect(r.source.bad[0].message.contains("--expand") && r.source.bad[0].message.contains("--literal"))
    }

    @Test func literalKeepsThemAsWritten() throws {
        #expect(try values(read("A=1\nB=${A}\nC=${X:-d}\n", .literal).source) == ["A": "1", "B": "${A}", "C": "${X:-d}"])
    }

    @Test func expandResolvesFromEarlierKeysOnly() throws {
        let r = try read(
            """
            HOST=db
            URL=postgres://${HOST}:${PORT:-5432}/app
            A=1
            A=${A}2
            BARE
            E=${BARE:-default}
            F=${:-lit}x${}
            G=${LATER}
            LATER=1
            H=${G}h

            """, .expand)
        #expect(values(r.source) == ["HOST": "db", "A": "12", "E": "", "F": "litx", "LATER": "1"])
        #expect(
            r.source.bad.map(\.origin) == ["line 2", "line 8", "line 10"], "PORT, LATER (not yet defined) and G (refused) are not guessed")
        #expect(r.source.bad[0].message.contains("names no key defined earlier"))
        #expect(r.source.bad[2].message.contains("refers to the key at line 8"))
    }
}

@Suite struct DotEnvWriteTests {
    private func line(_ value: [UInt8], interpolate: Bool = false) throws -> String {
        let out = PlainBuffer()
        try value.withUnsafeBytes { try DotEnv.appendLine(key: "K", value: $0, interpolate: interpolate, to: out) }
        return String(decoding: out.bytes, as: UTF8.self)
    }
    private func line(_ value: String, interpolate: Bool = false) throws -> String { try line(Array(value.utf8), interpolate: interpolate) }

    @Test func singleQuotesWhenLiteralElseDoubleQuotesWithEscapes() throws {
        #expect(try line("plain $HOME #x \"q\"") == "K='plain $HOME #x \"q\"'\n")
        #expect(try line("it's") == "K=\"it's\"\n")
        #expect(try line("a\nb\r\tc\"d\\e\u{07}\u{08}\u{0C}\u{0B}") == #"K="a\nb\r\tc\"d\\e\a\b\f\v""# + "\n")
        #expect(try line("a\\b") == #"K="a\\b""# + "\n")
    }

    @Test func aTrailingBackslashIsUnquotedWhenThatReadsBack() throws {
        #expect(try line(#"C:\Users\"#) == #"K=C:\Users\"# + "\n", "read the same by python-dotenv before and after 1.2.3")
        #expect(try line("multi\nline\\") == #"K="multi\nline\\""# + "\n")
        #expect(try line(" spaced\\") == #"K=" spaced\\""# + "\n")
        #expect(try line("x #y\\") == #"K="x #y\\""# + "\n")
        #expect(try line("'q\\") == #"K="'q\\""# + "\n")
    }

    @Test func withInterpolationADollarBraceIsWrittenToExpandToItself() throws {
        #expect(try line("tok${HOME}x", interpolate: true) == "K='tok${:-$}{HOME}x'\n")
        #expect(try line("$${X}}", interpolate: true) == "K='$${:-$}{X}}'\n")
        #expect(try line("${X", interpolate: true) == "K='${X'\n", "nothing to protect: python-dotenv expands nothing there")
        #expect(try line("tok${HOME}x") == "K='tok${HOME}x'\n")
    }

    @Test func whatItCannotCarryIsNamed() {
        func problem(_ b: [UInt8], _ interpolate: Bool? = nil) -> String? {
            b.withUnsafeBytes { DotEnv.exportProblem($0, interpolate: interpolate) }
        }
        #expect(problem(Array("text\twith\r\nbreaks ✓ \u{1B} \\".utf8)) == nil)
        #expect(problem([0x61, 0x00, 0x62])?.contains("NUL") == true)
        #expect(problem([0xFF, 0xFE])?.contains("not UTF-8") == true)
        let dollar = Array("a${B}c".utf8)
        #expect(problem(dollar)?.contains("--interpolate") == true)
        #expect(problem(dollar, true) == nil)
        #expect(problem(dollar, false) == nil)
        #expect(problem(Array("a$B ${c".utf8)) == nil)
    }

    /// Every value, written together in one file, reads back the same through the parser.
    @Test func whatItWritesReadsBackTheSame() throws {
        let values = [
            "plain", "it's", "multi\nline\r\nvalue\rend", "tab\there", "quote \" and \\ backslash", "# not a comment",
            " spaced ", "ünïcödé ✓", "'both' \"kinds\"", "trailing backslash \\", "\\", "C:\\Users\\", "\u{A0}nbsp\u{A0}",
            "\u{0C}\u{0B}\u{07}\u{08}\u{1B}\u{7F}\u{85}\u{2028}", "\n", "x #y", "=eq", "\"dq", "'sq", "\u{FEFF}bom"
        ]
        let dollars = ["${X}", "tok$en${HOME}x", "${A:-d}", "${}", "${:-$}", "$${X}}", "pre ${X} \\"]
        for interpolate in [false, true] {
            let all = values + (interpolate ? dollars : [])
            let out = PlainBuffer()
            try out.append(DotEnv.header(count: all.count, interpolate: interpolate))
            for (i, v) in all.enumerated() {
                try Array(v.utf8).withUnsafeBytes { try DotEnv.appendLine(key: "K\(i)", value: $0, interpolate: interpolate, to: out) }
            }
            let r = try DotEnv.read(out.bytes, variables: interpolate ? .expand : .refuse)
            #expect(r.source.bad.isEmpty, "\(problems(r.source))")
            let got = entries(r.source)
            #expect(got.map(\.key) == all.indices.map { "K\($0)" })
            for (i, v) in all.enumerated() where got.count == all.count {
                #expect(got[i].value == v, "K\(i) comes back changed")
            }
        }
    }

    @Test func keysForNames() {
        #expect(DotEnv.key(for: "app/db-url.v2") == "APP_DB_URL_V2")
        #expect(DotEnv.key(for: "9lives") == "_9LIVES")
        #expect(DotEnv.key(for: "émoji") == "_MOJI")
    }
}
