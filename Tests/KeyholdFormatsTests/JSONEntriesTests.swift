import Foundation
import Testing
@testable import KeyholdFormats

@Suite struct JSONEntriesTests {
    @Test func readsTheSecretsShape() throws {
        let text = #"""
            {"secrets": [
              {"name": "app/db", "value": "text ✓", "description": "the database"},
              {"name": "app/key", "value_base64": "AAEC/w=="}
            ]}
            """#
        let read = try JSONEntries.parse(Array(text.utf8))
        #expect(read.bad.isEmpty)
        #expect(read.entries.map(\.key) == ["app/db", "app/key"])
        #expect(read.entries.map(\.description) == ["the database", ""])
        #expect(read.entries.map(\.origin) == ["secrets[0] (app/db)", "secrets[1] (app/key)"])
        #expect(Array(read.value(of: read.entries[0])) == Array("text ✓".utf8))
        #expect(Array(read.value(of: read.entries[1])) == [0x00, 0x01, 0x02, 0xFF])
    }

    @Test func readsAFlatObjectInNameOrder() throws {
        let got = entries(try JSONEntries.parse(Array(#"{"B": "2", "A": "1"}"#.utf8)))
        #expect(got.map(\.key) == ["A", "B"])
        #expect(got.map(\.value) == ["1", "2"])
        #expect(got.map(\.origin) == [#"entry "A""#, #"entry "B""#])
    }

    @Test func badEntriesAreNamedByIndexAndName() throws {
        let text = #"""
            {"secrets": [
              "not an object",
              {"value": "x"},
              {"name": "a", "vaule": "typo"},
              {"name": "b"},
              {"name": "c", "value": "x", "value_base64": "eA=="},
              {"name": "d", "value": 1},
              {"name": "e", "value_base64": "not base64!"},
              {"name": "f", "value": "x", "description": 2},
              {"name": "ok", "value": "fine"}
            ]}
            """#
        let read = try JSONEntries.parse(Array(text.utf8))
        #expect(read.entries.map(\.key) == ["ok"])
        #expect(
            problems(read) == [
                "secrets[0]: must be an object with name and value",
                "secrets[1]: name is missing or not a string",
                #"secrets[2] (a): unknown key "vaule" (known: name, value, value_base64, description)"#,
                #"secrets[3] (b): needs value or value_base64"#,
                #"secrets[4] (c): give value or value_base64, not both"#,
                #"secrets[5] (d): value must be a string"#,
                #"secrets[6] (e): value_base64 must be a string of standard base64"#,
                #"secrets[7] (f): description must be a string"#
            ])
        let flat = try JSONEntries.parse(Array(#"{"A": 1}"#.utf8))
        #expect(problems(flat) == [#"entry "A": the value must be a string (or use the {"secrets": [...]} shape)"#])
    }

    @Test func aSourceThatIsNotTheShapeIsRefusedWhole() {
        #expect(
            sourceRefusal { _ = try JSONEntries.parse(Array("[1, 2]".utf8)) }?.hasPrefix("JSON: the top level must be an object") == true)
        let broken = sourceRefusal { _ = try JSONEntries.parse(Array("{\"a\": \"secret-ish\",\n".utf8)) }
        #expect(broken?.hasPrefix("not valid JSON (or not UTF-8)") == true)
        #expect(broken?.contains("secret-ish") == false, "the message never quotes the input")
        #expect(sourceRefusal { _ = try JSONEntries.parse([0x7B, 0xFF, 0x7D]) } != nil)
    }

    @Test func whatItWritesReadsBackTheSame() throws {
        let values: [[UInt8]] = [
            Array("plain".utf8), Array("quote \" backslash \\ / ✓".utf8), Array("lines\n\r\t\u{8}\u{C}".utf8),
            [0x00, 0x1F, 0x7F], [0xFF, 0xFE, 0x00], []
        ]
        let out = PlainBuffer()
        try JSONEntries.begin(to: out)
        for (i, v) in values.enumerated() {
            try v.withUnsafeBytes { try JSONEntries.appendEntry(index: i, name: "n/\(i)", value: $0, description: "d \"\(i)\"", to: out) }
        }
        try JSONEntries.end(count: values.count, to: out)
        // Foundation reads it as the documented shape...
        let object = try JSONSerialization.jsonObject(with: Data(out.bytes)) as? [String: [[String: String]]]
        let list = try #require(object?["secrets"])
        #expect(list.map { $0["value_base64"] != nil } == [false, false, false, false, true, false])
        // ... and so does the parser, byte for byte.
        let read = try JSONEntries.parse(out.bytes)
        #expect(read.bad.isEmpty, "\(problems(read))")
        #expect(read.entries.map(\.key) == values.indices.map { "n/\($0)" })
        #expect(read.entries.map(\.description) == values.indices.map { "d \"\($0)\"" })
        #expect(read.entries.map { Array(read.value(of: $0)) } == values)
    }

    @Test func anEmptyDocumentIsStillJSON() throws {
        let out = PlainBuffer()
        try JSONEntries.begin(to: out)
        try JSONEntries.end(count: 0, to: out)
        let read = try JSONEntries.parse(out.bytes)
        #expect(read.entries.isEmpty && read.bad.isEmpty)
    }
}
