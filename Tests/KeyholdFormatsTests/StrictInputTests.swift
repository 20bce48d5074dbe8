import Foundation
import KeyholdCore
import Testing
@testable import KeyholdFormats

/// Input that is wrong: repeated JSON keys, deep or wide JSON and
/// KeePassXC XML, text that is not UTF-8.
@Suite struct StrictInputTests {
    // MARK: JSON

    /// Foundation's reader kept one of two repeated keys without a word; now each is refused
    /// by the entry it lies in, with the key and both lines.
    @Test func aRepeatedKeyMakesItsEntryBad() throws {
        let text = """
            {"secrets": [
              {"name": "app/ok", "value": "fine"},
              {"name": "app/db", "value": "first",
               "value": "second"},
              {"name": "app/n", "value": "x", "description": "a", "description": "b"},
              {"name": "app/deep", "value": {"k": 1, "k": 2}},
              {"name": "n1", "name": "n2", "value": "x"}
            ]}
            """
        let read = try JSONEntries.parse(Array(text.utf8))
        #expect(read.entries.map(\.key) == ["app/ok"])
        #expect(
            problems(read) == [
                #"secrets[1] (app/db): the key "value" appears twice (lines 3 and 4); give it once"#,
                #"secrets[2] (app/n): the key "description" appears twice (lines 5 and 5); give it once"#,
                #"secrets[3] (app/deep): the key "k" appears twice in one object (lines 6 and 6); give it once"#,
                #"secrets[4] (n1): the key "name" appears twice (lines 7 and 7); give it once"#
            ])
    }

    @Test func aRepeatedNameInTheFlatShapeIsBadAndImportsNeither() throws {
        let read = try JSONEntries.parse(Array("{\"B\": \"1\",\n \"A\": \"x\",\n \"B\": \"2\"}".utf8))
        #expect(read.entries.map(\.key) == ["A"])
        #expect(problems(read) == [#"entry "B": the name is given twice in the object (lines 1 and 3); give it once"#])
        // Keys are compared after their escapes are read: "\u0042" is "B".
        let escaped = try JSONEntries.parse(Array(#"{"B": "1", "\u0042": "2"}"#.utf8))
        #expect(escaped.entries.isEmpty && escaped.bad.count == 1)
    }

    @Test func aRepeatedTopLevelKeyRefusesTheFile() {
        let m = sourceRefusal { _ = try JSONEntries.parse(Array(#"{"secrets": [], "secrets": [{"name": "a", "value": "b"}]}"#.utf8)) }
        #expect(m == #"JSON: the key "secrets" appears twice in the top-level object (lines 1 and 1); give it once"#)
        let u = sourceRefusal { _ = try UserJSON.parse(Array("{\"users\": [],\n\"users\": []}".utf8)) }
        #expect(u == #"JSON: the key "users" appears twice in the top-level object (lines 1 and 2); give it once"#)
    }

    @Test func aRepeatedKeyMakesItsAccountBad() throws {
        let text = """
            {"users": [
              {"username": "alice", "password_hash": "h1", "password_hash": "h2"},
              {"username": "bob", "password_hash": "h", "roles": ["a"]}
            ]}
            """
        let read = try UserJSON.parse(Array(text.utf8))
        #expect(read.entries.map(\.username) == ["bob"])
        #expect(
            read.bad.map { "\($0.origin): \($0.message)" } == [
                #"users[0] (alice): the key "password_hash" appears twice (lines 2 and 2); give it once"#
            ])
    }

    @Test func strictJSONGrammar() {
        func refused(_ text: String) -> Bool { (try? StrictJSON.parse(Array(text.utf8))) == nil }
        for bad in [
            "", " ", "{", "{\"a\" 1}", "{\"a\": 1,}", "[1,]", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]", "[tru]",
            "[nul]", "{\"a\": 1} x", "{} {}", "[\"\\x\"]", "[\"\\u12\"]", "[\"\\ud800\"]", "[\"\\udc00\"]",
            "[\"\\ud800\\u0041\"]", "[\"a\nb\"]", "[\"unclosed]", "{'a': 1}", "[NaN]", "[Infinity]", "{\"a\":1}}"
        ] {
            #expect(refused(bad), "\(bad.debugDescription)")
        }
        #expect(refused("[\"\u{FF}\"]") == false)  // U+00FF is text; bytes that are not UTF-8 are another matter:
        #expect((try? StrictJSON.parse([0x5B, 0x22, 0xFF, 0x22, 0x5D])) == nil)
        for good in [
            "{}", "[]", " [1, -0, 0.5, 1e10, -2.5E-3, true, false, null, \"\", {\"a\": [{}]}] ", "\"text\"", "0",
            "\u{FEFF}{\"bom\": 1}", "[\"\\ud83d\\ude00 \\u00e9 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"]"
        ] {
            #expect(!refused(good), "\(good.debugDescription)")
        }
        let document = try? StrictJSON.parse(Array(#"["\ud83d\ude00\u00e9\n"]"#.utf8))
        guard case .array(let items)? = document?.root else {
            Issue.record("not read"); return
        }
        #expect(document?.string(items.first) == "😀é\n")
    }

    /// Nesting is bounded and read without recursion: a million brackets are refused with a
    /// sentence, at once, not a crash.
    @Test func deepJSONIsRefusedWithoutRecursion() {
        let ok = String(repeating: "[", count: StrictJSON.maxDepth) + String(repeating: "]", count: StrictJSON.maxDepth)
        #expect((try? StrictJSON.parse(Array(ok.utf8))) != nil)
        let over = String(repeating: "[", count: StrictJSON.maxDepth + 1) + String(repeating: "]", count: StrictJSON.maxDepth + 1)
        do { _ = try StrictJSON.parse(Array(over.utf8)); Issue.record("accepted") } catch {
            #expect(error.description == "objects and lists nest more than 64 deep (line 1, column 65)")
        }
        let far = Array(String(repeating: "{\"a\":", count: 1_000_000).utf8)
        #expect(sourceRefusal { _ = try JSONEntries.parse(far) }?.contains("nest more than 64 deep") == true)
    }

    @Test func aWideJSONFileReadsInLinearTime() throws {
        var text = "{\"secrets\": ["
        for i in 0..<50_000 { text += (i == 0 ? "" : ",") + "{\"name\": \"app/s\(i)\", \"value\": \"v\(i)\"}" }
        text += "]}"
        let flat = "{" + (0..<50_000).map { "\"k\($0)\": \"v\"" }.joined(separator: ",") + "}"
        let start = Date()
        let read = try JSONEntries.parse(Array(text.utf8))
        let wide = try JSONEntries.parse(Array(flat.utf8))
        #expect(read.entries.count == 50_000 && read.bad.isEmpty)
        #expect(wide.entries.count == 50_000 && wide.bad.isEmpty)
        // About 4 s in a debug build on an idle machine; a table copied per key (quadratic) took 45.
        #expect(Date().timeIntervalSince(start) < 30, "took \(Date().timeIntervalSince(start)) s")
    }

    @Test func errorsGiveThePlaceAndNeverTheText() {
        let m = sourceRefusal { _ = try JSONEntries.parse(Array("{\"a\": \"secret-ish\",\n  \"b\" 1}".utf8)) }
        #expect(m == "not valid JSON (or not UTF-8): expected \":\" after a key (line 2, column 7)")
        let u = sourceRefusal { _ = try UserJSON.parse(Array("{".utf8)) }
        #expect(u?.hasPrefix("not valid JSON (or not UTF-8): ") == true)
    }

    // MARK: KeePassXC XML

    static func nested(_ depth: Int, entryAtBottom: Bool = true) -> [UInt8] {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<KeePassFile><Root>"
        s.reserveCapacity(depth * 40 + 200)
        for i in 0..<depth { s += "<Group><Name>g\(i % 10)</Name>" }
        if entryAtBottom {
            s += "<Entry><String><Key>Title</Key><Value>t</Value></String><String><Key>Password</Key><Value>p</Value></String></Entry>"
        }
        for _ in 0..<depth { s += "</Group>" }
        s += "</Root></KeePassFile>\n"
        return Array(s.utf8)
    }

    @Test func groupsUpToTheLimitRead() throws {
        let read = try KeePassXML.parse(Self.nested(KeePassXML.maxGroupDepth))
        // The path is far longer than a secret name may be: a bad entry, named, not a crash.
        #expect(read.entries.isEmpty)
        #expect(
            problems(read) == [
                #"entry at line 2 ("t"): its group path and title make a name longer than 255 bytes, the most a secret name may have"#
            ])
        let shallow = try KeePassXML.parse(Self.nested(5))
        #expect(shallow.entries.map(\.key) == ["g1/g2/g3/g4/t"])
    }

    @Test func groupsJustOverTheLimitAreRefusedClearly() {
        let m = sourceRefusal { _ = try KeePassXML.parse(Self.nested(KeePassXML.maxGroupDepth + 1)) }
        #expect(m == "groups nest more than 1000 deep (line 2); Keyhold reads at most 1000 levels")
    }

    /// 200,000 nested groups crashed the process (SIGSEGV: recursive group paths, and the
    /// recursive release of the group chain); now the read stops at the bound.
    @Test func groupsFarOverTheLimitAreRefusedWithoutACrash() {
        let groups = Self.nested(200_000)
        // Other elements are bounded too.
        let deep = Array(
            ("<KeePassFile><Meta>" + String(repeating: "<X>", count: 100_000)
                + String(repeating: "</X>", count: 100_000) + "</Meta></KeePassFile>").utf8)
        let start = Date()
        let m = sourceRefusal { _ = try KeePassXML.parse(groups) }
        #expect(m?.hasPrefix("groups nest more than 1000 deep") == true, "\(m ?? "accepted")")
        let e = sourceRefusal { _ = try KeePassXML.parse(deep) }
        #expect(e?.hasPrefix("elements nest more than 1032 deep") == true, "\(e ?? "accepted")")
        // A few seconds in a debug build; the bound leaves room for a loaded machine.
        #expect(Date().timeIntervalSince(start) < 30, "took \(Date().timeIntervalSince(start)) s")
    }

    @Test func aWideFileReadsQuickly() throws {
        var s = "<KeePassFile><Root><Group><Name>Root</Name>"
        for g in 0..<2_000 {
            s += "<Group><UUID>u\(g)</UUID><Name>group \(g)</Name>"
            for e in 0..<20 {
                s +=
                    "<Entry><String><Key>Title</Key><Value>e\(e)</Value></String><String><Key>Password</Key><Value>p\(g)-\(e)</Value></String></Entry>"
            }
            s += "<Group><Name>inner</Name><Entry><String><Key>Title</Key><Value>x</Value></String></Entry></Group></Group>"
        }
        s += "</Group></Root></KeePassFile>"
        let start = Date()
        let read = try KeePassXML.parse(Array(s.utf8))
        #expect(read.entries.count == 2_000 * 21 && read.bad.isEmpty)
        #expect(read.entries.first?.key == "group_0/e0")
        #expect(read.entries.last?.key == "group_1999/inner/x")
        #expect(Date().timeIntervalSince(start) < 60, "took \(Date().timeIntervalSince(start)) s")
    }

    @Test func aRepeatedFieldMakesTheEntryBad() throws {
        let doc =
            "<KeePassFile><Root><Group><Name>r</Name><Entry><String><Key>Title</Key><Value>t</Value></String>"
            + "<String><Key>Password</Key><Value>1</Value></String><String><Key>Password</Key><Value>2</Value></String></Entry></Group></Root></KeePassFile>"
        let read = try KeePassXML.parse(Array(doc.utf8))
        #expect(read.entries.isEmpty)
        #expect(problems(read) == [#"entry at line 1 ("t"): gives the field "Password" twice"#])
    }

    /// Found by the fuzz target: Foundation's XMLParser hands a processing instruction without
    /// data (`<?ob?>`) to strlen as a null pointer, a SIGSEGV. KeePassXC writes no processing
    /// instruction but the XML declaration, and no document type declaration (the way to entity
    /// expansion): both are refused before XMLParser sees the text; in comments and CDATA they are text.
    @Test func processingInstructionsAndDoctypesAreRefusedBeforeXMLParser() throws {
        let pi = sourceRefusal { _ = try KeePassXML.parse(Array("<?ob?><".utf8)) }
        #expect(pi == "not a KeePass 2 XML export: it holds a processing instruction (<?...?>, line 1), which KeePassXC does not write")
        let later = sourceRefusal { _ = try KeePassXML.parse(Array("<?xml version=\"1.0\"?>\n<KeePassFile>\n<?x?></KeePassFile>".utf8)) }
        #expect(later?.contains("processing instruction (<?...?>, line 3)") == true, "\(later ?? "accepted")")
        let doctype =
            "<!DOCTYPE k [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<KeePassFile><Root/></KeePassFile>"
        #expect(
            sourceRefusal { _ = try KeePassXML.parse(Array(doctype.utf8)) }?.contains("document type declaration (<!DOCTYPE, line 1)")
                == true)
        // The declaration itself, a BOM, and "<?" or "<!DOCTYPE" inside comments and CDATA are fine.
        let fine =
            "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- <?not a pi?> <!DOCTYPE no> -->"
            + "<KeePassFile><Root><Group><Name>r</Name><Entry><String><Key>Title</Key><Value>t</Value></String>"
            + "<String><Key>Password</Key><Value><![CDATA[<?php <!DOCTYPE x> ?>]]></Value></String></Entry></Group></Root></KeePassFile>"
        let read = try KeePassXML.parse(Array(fine.utf8))
        #expect(entries(read).map(\.value) == ["<?php <!DOCTYPE x> ?>"])
        #expect(KeePassXML.markupRefusal(Array(KeePassXMLTests.document.utf8)) == nil)
    }

    /// Found by the fuzz target: an element name that is not UTF-8 trapped inside Foundation's XMLParser.
    @Test func textThatIsNotUTF8IsRefusedNotACrash() {
        let m = sourceRefusal { _ = try KeePassXML.parse([0x3C] + [UInt8](repeating: 0xCD, count: 40)) }
        #expect(m == "not a KeePass 2 XML export: the file is not UTF-8 text")
    }
}
