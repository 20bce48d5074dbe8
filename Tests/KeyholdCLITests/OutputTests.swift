import Foundation
import Testing
@testable import KeyholdCLI
import KeyholdCore
import KeyholdTestSupport

/// `Output.json` writes JSON itself (JSONSerialization is too slow for 100,000 rows);
/// JSONSerialization, with the options the CLI always used, is the oracle for its bytes,
/// once the characters that must not reach a terminal raw are escaped in its text.
@Suite struct JSONTextTests {
    static func oracle(_ value: Any) throws -> String {
        Output.escapingHidden(
            String(
                decoding: try JSONSerialization.data(
                    withJSONObject: value,
                    options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                as: UTF8.self))
    }

    /// DEL, C1 and bidi controls, invisible characters and U+2028/U+2029 come out as \\uxxxx
    /// (JSONSerialization writes them raw); parsed back they are the same text.
    @Test func charactersThatMustNotReachATerminalAreEscaped() throws {
        let text = "a\u{7F}b\u{85}c\u{9B}d\u{202E}e\u{2066}f\u{200E}g\u{61C}h\u{200B}i\u{2028}j\u{1B}k é😀"
        let mine = try #require(try Self.written(["t": text]))
        #expect(
            mine == #"""
                {
                  "t" : "a\u007fb\u0085c\u009bd\u202ee\u2066f\u200eg\u061ch\u200bi\u2028j\u001bk é😀"
                }
                """#)
        let parsed = try JSONSerialization.jsonObject(with: Data(mine.utf8)) as? [String: String]
        #expect(parsed?["t"] == text)
        // What goes through JSONSerialization instead is given the same escapes.
        #expect(Output.escapingHidden("{\"t\":\"\u{85}\u{202E}\"}") == #"{"t":"\u0085\u202e"}"#)
    }

    static func written(_ value: Any) throws -> String? {
        var text = JSONText()
        return try text.append(value, indent: 0) ? String(decoding: text.bytes, as: UTF8.self) : nil
    }

    @Test func writesWhatJSONSerializationWritesForTheCLIsShapes() throws {
        let controls = String(decoding: (0..<0x20).map { UInt8($0) } + [0x7F], as: UTF8.self)
        let value: [String: Any] = [
            "secrets": [
                ["name": "app/prod/db", "version": 3, "rotate_by": NSNull(), "overdue": false],
                ["name": "a \"quoted\" \\ name/with/slashes", "version": Int64.max, "rotate_by": "2026-11-23T00:00:00Z", "overdue": true]
            ],
            "empty_list": [Any](), "empty_object": [String: Any](), "nested": [[[Any]()]],
            "controls": controls, "unicode": "é ü 😀 \u{2028} 名前", "negative": -42, "zero": 0,
            "keys": ["b": 1, "B": 2, "a10": 3, "a9": 4, "_x": 5, "a_b": 6, "ab": 7, "é": 8, "Z": 9, "10": 10, "9": 11, "": 12]
        ]
        let mine = try #require(try Self.written(value))
        #expect(mine == (try Self.oracle(value)))
        #expect(try Output.json(value) == mine)
    }

    /// Indentation deeper than the writer's run of spaces (32): written in pieces, the same text.
    @Test func deepNestingIsIndentedAsJSONSerializationIndentsIt() throws {
        var value: Any = ["leaf": "x", "n": 1]
        for depth in 0..<40 { value = depth % 2 == 0 ? [value, depth] : ["k\(depth)": value] }
        let wrapped: [String: Any] = ["deep": value]
        let mine = try #require(try Self.written(wrapped))
        #expect(mine == (try Self.oracle(wrapped)))
        #expect(mine.contains(String(repeating: " ", count: 80) + "\"leaf\" : \"x\""))
    }

    @Test func numbersParsedByJSONSerializationKeepTheirKind() throws {
        // Audit details are parsed back into objects (NSNumber on Linux) before they are printed.
        let parsed = try JSONSerialization.jsonObject(
            with: Data(#"{"count":3,"ok":true,"no":false,"big":-9007199254740993,"list":[1,true,null,"x"]}"#.utf8))
        let mine = try #require(try Self.written(parsed))
        #expect(mine == (try Self.oracle(parsed)))
        #expect(mine.contains("\"ok\" : true") && mine.contains("\"count\" : 3") && mine.contains("-9007199254740993"))
    }

    @Test func randomValuesMatchTheOracle() throws {
        var rng = SeededGenerator(seed: 0x4B65_7968)
        let alphabet = Array("aZ_9 /\\\"é😀\n\t\u{1}\u{1f}-.10")
        func text(_ r: inout SeededGenerator) -> String {
            String((0..<Int(r.next() % 8)).map { _ in alphabet[Int(r.next() % UInt64(alphabet.count))] })
        }
        func make(_ depth: Int, _ r: inout SeededGenerator) throws -> Any {
            switch r.next() % (depth > 3 ? 5 : 7) {
            case 0: return text(&r)
            case 1: return Int(truncatingIfNeeded: r.next()) >> Int(r.next() % 60)
            case 2: return r.next() % 2 == 0
            case 3: return NSNull()
            case 4: return r.next() % 2 == 0 ? Int64(r.next() % 1000) : Double(Int64(r.next() % 2_000_000) - 1_000_000) / 64
            case 5: return try (0..<Int(r.next() % 4)).map { _ in try make(depth + 1, &r) }
            default:
                var d: [String: Any] = [:]
                for _ in 0..<Int(r.next() % 5) { d[text(&r)] = try make(depth + 1, &r) }
                return d
            }
        }
        for _ in 0..<1000 {
            let value: [String: Any] = ["v": try make(0, &rng)]
            let mine = try #require(try Self.written(value))
            let expected = try Self.oracle(value)
            #expect(mine == expected)
            if mine != expected { break }
        }
    }

    @Test func doublesAreWrittenAsJSONSerializationWritesThem() throws {
        let doubles: [Double] = [0.5, 1.5, 1e-7, 1e300, 3.14159, -0.0, 100, 1e20, 1e16, 123456789.123, 0.1, 2.5e-5, 1e15, -7.25]
        let value: [String: Any] = ["d": doubles, "parsed": try JSONSerialization.jsonObject(with: Data("[0.25, 1e-9, 2.0]".utf8))]
        #expect(try #require(try Self.written(value)) == (try Self.oracle(value)))
    }

    @Test func whatItCannotWriteGoesToJSONSerializationWhole() throws {
        #expect(try Self.written(["x": Double.nan]) == nil && Self.written(["when": Date()]) == nil)
        #expect(try Output.json(["x": Double.infinity]) == "{}", "not JSON at all: as before, an empty object")
        #expect(try Output.json(["bad": Date()]) == "{}")
    }
}

@Suite struct TableTests {
    /// The table as it was first written (Foundation's padding), the oracle for the faster one
    /// where it was right: characters of one UTF-16 unit (it padded by UTF-16 units).
    static func foundationTable(_ headers: [String], _ rows: [[String]]) -> String {
        let cells = [headers] + rows.map { $0.map(Validate.visible) }
        var widths = [Int](repeating: 0, count: headers.count)
        for row in cells { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return cells.map { row in
            row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// A table line's ends trimmed as Foundation's `.whitespaces` trims them (space separators and
    /// the tab; not line breaks), whatever characters the cells hold.
    @Test func trimmingBlanksIsFoundationsTrimOfWhitespaces() {
        let samples = [
            "", " ", "\t \u{A0}", "plain", "  both ends  ", "\u{3000}ideographic\u{2003}", "keep\n", "\ninside\n ",
            "e\u{301} ", " \u{301}x", "a  b", "\u{200B}zero width\u{200B}", "名前 \u{A0}", "\u{1F600} \t"
        ]
        for s in samples {
            #expect(Output.trimmingBlanks(s) == s.trimmingCharacters(in: .whitespaces), "\(s.unicodeScalars.map { $0.value })")
        }
        // Every scalar alone: blank to both, or to neither.
        var differ: [UInt32] = []
        for v in UInt32(0)...0x10FFFF {
            guard let u = Unicode.Scalar(v) else { continue }
            let s = "a" + String(Character(u))
            if Output.trimmingBlanks(s) != s.trimmingCharacters(in: .whitespaces) { differ.append(v) }
        }
        #expect(differ.isEmpty, "trimmed differently: \(differ.prefix(20).map { String($0, radix: 16) })")
    }

    @Test func columnsLineUpByCharactersAndTheLastIsNotPadded() {
        let table = Output.table(["NAME", "VERSION", "NOTE"], [["app/é😀", "3", "x"], ["b😀", "12", ""], ["", "1", "end"]])
        #expect(
            table == """
                NAME    VERSION  NOTE
                app/é😀  3        x
                b😀      12
                1        end
                """, "an emoji is one character, kept whole (Foundation's padding counted UTF-16 and cut it in two)")
        #expect(Output.table(["A"], [["\u{1b}[2Jx"]]).contains("\u{1b}") == false, "control characters are made visible")
    }

    @Test func randomTablesMatchTheFoundationOne() {
        var rng = SeededGenerator(seed: 7)
        let alphabet = Array("ab Z/é名 \t-\u{1}")
        for _ in 0..<300 {
            let columns = 1 + Int(rng.next() % 4)
            func cell() -> String { String((0..<Int(rng.next() % 6)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }) }
            let headers = (0..<columns).map { _ in cell() }
            let rows = (0..<Int(rng.next() % 5)).map { _ in (0..<columns).map { _ in cell() } }
            let mine = Output.table(headers, rows), expected = Self.foundationTable(headers, rows)
            #expect(mine == expected)
            if mine != expected { break }
        }
    }
}
