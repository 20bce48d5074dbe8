import Testing
@testable import KeyholdFormats

@Suite struct KeePassXMLTests {
    /// A KeePassXC export in miniature: nested groups, a recycle bin, history, a protected value.
    static let document = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <KeePassFile>
        \t<Meta>
        \t\t<RecycleBinUUID>YmluYmluYmluYmluYmluYg==</RecycleBinUUID>
        \t</Meta>
        \t<Root>
        \t\t<Group>
        \t\t\t<UUID>cm9vdHJvb3Ryb290cm9vdA==</UUID>
        \t\t\t<Name>Passwords</Name>
        \t\t\t<Entry>
        \t\t\t\t<String><Key>Title</Key><Value>Mail server</Value></String>
        \t\t\t\t<String><Key>UserName</Key><Value>ops</Value></String>
        \t\t\t\t<String><Key>URL</Key><Value>imap://mail</Value></String>
        \t\t\t\t<String><Key>Password</Key><Value>p&amp;ss &lt;1&gt;</Value></String>
        \t\t\t\t<History>
        \t\t\t\t\t<Entry><String><Key>Title</Key><Value>old</Value></String></Entry>
        \t\t\t\t</History>
        \t\t\t</Entry>
        \t\t\t<Group>
        \t\t\t\t<UUID>d2Vid2Vid2Vid2Vid2ViZQ==</UUID>
        \t\t\t\t<Name>Web Sites</Name>
        \t\t\t\t<Entry>
        \t\t\t\t\t<String><Key>Title</Key><Value>git</Value></String>
        \t\t\t\t\t<String><Key>Notes</Key><Value>first line
        second line</Value></String>
        \t\t\t\t\t<String><Key>Password</Key><Value><![CDATA[cdata <value>]]></Value></String>
        \t\t\t\t</Entry>
        \t\t\t\t<Entry>
        \t\t\t\t\t<String><Key>Title</Key><Value>vault</Value></String>
        \t\t\t\t\t<String><Key>Password</Key><Value Protected="True">ZW5jcnlwdGVk</Value></String>
        \t\t\t\t</Entry>
        \t\t\t\t<Entry>
        \t\t\t\t\t<String><Key>Password</Key><Value>untitled</Value></String>
        \t\t\t\t</Entry>
        \t\t\t</Group>
        \t\t\t<Group>
        \t\t\t\t<UUID>YmluYmluYmluYmluYmluYg==</UUID>
        \t\t\t\t<Name>Recycle Bin</Name>
        \t\t\t\t<Entry><String><Key>Title</Key><Value>deleted</Value></String></Entry>
        \t\t\t</Group>
        \t\t</Group>
        \t</Root>
        </KeePassFile>
        """

    @Test func readsEntriesByGroupPathAndTitle() throws {
        let read = try KeePassXML.parse(Array(Self.document.utf8))
        let got = entries(read)
        #expect(got.map(\.key) == ["Mail_server", "Web_Sites/git"])
        #expect(got.map(\.value) == ["p&ss <1>", "cdata <value>"])
        #expect(got.map(\.description) == ["user: ops; url: imap://mail", "first line"])
        #expect(got.map(\.origin) == [#"entry at line 10 ("Mail server")"#, #"entry at line 22 ("git")"#])
        #expect(
            problems(read) == [
                #"entry at line 28 ("vault"): the password is encrypted (Protected="True"): export the database from KeePassXC as XML"#,
                #"entry at line 32 (""): has no Title to name it by"#
            ])
    }

    @Test func aDocumentThatIsNotAnExportIsRefusedWhole() {
        #expect(
            sourceRefusal { _ = try KeePassXML.parse(Array("<html><body/></html>".utf8)) }
                == "not a KeePass 2 XML export: the document element is <html>, not <KeePassFile>")
        #expect(
            sourceRefusal { _ = try KeePassXML.parse(Array("<KeePassFile><Meta/></KeePassFile>".utf8)) }
                == "not a KeePass 2 XML export: no KeePassFile/Root element")
        #expect(
            sourceRefusal { _ = try KeePassXML.parse(Array("<KeePassFile>\n<Root>\n</KeePassFile>".utf8)) }?
                .hasPrefix("not well-formed XML (line ") == true)
    }

    @Test func namePartsAreMadeSecretNames() {
        #expect(KeePassXML.sanitise("Web Sites") == "Web_Sites")
        #expect(KeePassXML.sanitise("a/b:é") == "a_b__")
        #expect(KeePassXML.sanitise(".") == "_")
        #expect(KeePassXML.sanitise("..") == "__")
        #expect(KeePassXML.sanitise("") == "_")
    }

    @Test func descriptionsAreOneLineAndBounded() {
        #expect(KeePassXML.oneLine("a\tb\n\nc\u{200B}d") == "a b cd")
        let long = KeePassXML.oneLine(String(repeating: "x", count: 600))
        #expect(long.count == 500 && long.hasSuffix("…"))
    }

    @Test func whatItWritesReadsBackTheSame() throws {
        let items = [
            KeePassXML.Item(segments: ["zeta"], description: "last at the top"),
            KeePassXML.Item(segments: ["app", "prod", "db"], description: "the <prod> database & more"),
            KeePassXML.Item(segments: ["app", "api"], description: ""),
            KeePassXML.Item(segments: ["alpha"], description: "first")
        ]
        let values = ["z", "line one\nline two\r\nwith CR", "<&> \"quoted\" 'single' ✓", "a"]
        let writer = KeePassXML.Writer(items, now: "2027-01-15T08:00:00Z")
        #expect(writer.order == [3, 0, 2, 1], "entries of a group by title, then its subgroups by name")
        let out = PlainBuffer()
        try writer.begin(out)
        for i in writer.order { try Array(values[i].utf8).withUnsafeBytes { try writer.entry($0, to: out) } }
        try writer.end(out)

        let read = try KeePassXML.parse(out.bytes)
        #expect(read.bad.isEmpty, "\(problems(read))")
        let got = Dictionary(uniqueKeysWithValues: entries(read).map { ($0.key, ($0.value, $0.description)) })
        #expect(got.count == items.count)
        for (item, value) in zip(items, values) {
            let entry = got[item.segments.joined(separator: "/")]
            #expect(entry?.0 == value, "value of \(item.segments)")
            #expect(entry?.1 == item.description, "description of \(item.segments)")
        }
    }

    @Test func carriesOnlyTextXMLCanHold() {
        func carries(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { KeePassXML.canCarry($0) } }
        #expect(carries(Array("tab\tLF\nCR\r ✓".utf8)))
        #expect(!carries([0x01]))
        #expect(!carries(Array("\u{FFFE}".utf8)))
        #expect(!carries([0xC3]))
    }
}
