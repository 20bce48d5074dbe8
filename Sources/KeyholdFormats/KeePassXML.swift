import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import KeyholdCore

/// KeePassXC's XML export (the KeePass 2 XML format: `KeePassFile/Root/Group/.../Entry`).
///
/// Import: each `Entry` (not those in `History`, nor those in the recycle bin group) becomes
/// a secret named by its group path below the root group and its Title, each part with every
/// character outside `[A-Za-z0-9._-]` turned into `_`; the value is the Password; the
/// description is `user: UserName; url: URL` from whichever are present, else the first line
/// of Notes. A value marked `Protected="True"` is encrypted inside a .kdbx and cannot be read
/// from XML: such an entry is bad, and so is one that gives a field (a `String` key) twice.
///
/// Groups may nest at most `maxGroupDepth` deep, and elements `maxElementDepth`: a deeper
/// document is refused whole, before it is read further. Reading is linear in the input and
/// uses no recursion (the group tree is an array of parent indices).
///
/// Export: a `KeePassFile` with one root group `Keyhold`, a group per path segment, and one
/// entry per secret (Title the last segment, Password the value, Notes the description).
public enum KeePassXML {
    // MARK: Import

    /// The deepest nesting of groups read (KeePassXC's own trees are a few levels deep).
    public static let maxGroupDepth = 1000
    /// The deepest nesting of elements read: the groups, and room for what lies around and in an entry.
    public static let maxElementDepth = maxGroupDepth + 32

    /// Reads every entry as described above; throws (field `source`) when the text is not UTF-8,
    /// holds markup KeePassXC never writes (`markupRefusal`), is not well-formed XML, nests
    /// deeper than the bounds above, or is not a KeePass 2 export.
    public static func parse(_ data: [UInt8]) throws -> SourceRead {
        try data.withUnsafeBufferPointer { try parse($0) }
    }

    /// `parse` of bytes where they lie (a file read into guarded memory). XMLParser (libxml2)
    /// copies them into buffers of its own and hands each text node over as a String: those
    /// copies are not wiped (docs/SECURITY.md, "Memory").
    public static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> SourceRead {
        // Foundation's XMLParser traps on a name that is not UTF-8 (found by the fuzz target),
        // and KeePassXC writes UTF-8 only: check it here, where it is a sentence, not a crash.
        guard Bytes.isUTF8(UnsafeRawBufferPointer(data)) else {
            throw sourceError("not a KeePass 2 XML export: the file is not UTF-8 text")
        }
        if let refusal = markupRefusal(data) { throw sourceError(refusal) }
        let reader = Reader()
        // The bytes where they are, not a copy: XMLParser hands them to libxml2, which copies them anyway.
        let view =
            data.baseAddress.map { Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0), count: data.count, deallocator: .none) }
            ?? Data()
        let parser = XMLParser(data: view)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = reader
        let ok = parser.parse()
        defer { reader.wipe() }
        guard ok, reader.failure == nil else {
            if let f = reader.failure { throw sourceError(f) }
            throw sourceError("not well-formed XML (line \(parser.lineNumber), column \(parser.columnNumber))")
        }
        guard reader.sawRoot else { throw sourceError("not a KeePass 2 XML export: no KeePassFile/Root element") }
        return try reader.result()
    }

    /// Markup KeePassXC never writes and Keyhold does not hand to Foundation's XMLParser:
    /// a processing instruction other than the leading XML declaration (XMLParser passes a
    /// null pointer to strlen for one without data, `<?x?>`: found by the fuzz target) and a document
    /// type declaration (the gate to entity expansion). One linear pass that skips comments
    /// and CDATA sections, where `<?` and `<!DOCTYPE` are only text; nil when there is none.
    static func markupRefusal(_ b: [UInt8]) -> String? { b.withUnsafeBufferPointer { markupRefusal($0) } }

    static func markupRefusal(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        var i = b.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        func at(_ s: String) -> Bool { b[i...].starts(with: s.utf8) }
        /// Moves past the next `end`; false when there is none (left to the parser to refuse).
        func skip(past end: String) -> Bool {
            let e = Array(end.utf8)
            while i < b.count {
                if b[i] == 0x0A { line += 1 }
                if b[i] == e[0], b[i...].starts(with: e) { i += e.count; return true }
                i += 1
            }
            return false
        }
        // The XML declaration, `<?xml ...?>`, may open the document (and only there).
        if at("<?xml"), i + 5 < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[i + 5]) {
            guard skip(past: "?>") else { return nil }
        }
        while i < b.count {
            switch b[i] {
            case 0x0A:
                line += 1
                i += 1
            case UInt8(ascii: "<") where at("<!--"):
                i += 4
                guard skip(past: "-->") else { return nil }
            case UInt8(ascii: "<") where at("<![CDATA["):
                i += 9
                guard skip(past: "]]>") else { return nil }
            case UInt8(ascii: "<") where at("<?"):
                return
                    "not a KeePass 2 XML export: it holds a processing instruction (<?...?>, line \(line)), which KeePassXC does not write"
            case UInt8(ascii: "<") where at("<!"):
                return
                    "not a KeePass 2 XML export: it holds a document type declaration (<!DOCTYPE, line \(line)), which KeePassXC does not write"
            default:
                i += 1
            }
        }
        return nil
    }

    /// Replaces every character outside the secret-name charset with `_`; `.` and `..` become `_` and `__`.
    static func sanitise(_ part: String) -> String {
        var s = String(
            part.map { c -> Character in
                c.unicodeScalars.count == 1
                    && c.unicodeScalars.allSatisfy({
                        $0.isASCII
                            && (("a"..."z").contains($0) || ("A"..."Z").contains($0)
                                || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-")
                    }) ? c : "_"
            })
        if s.isEmpty { s = "_" }
        if s == "." { s = "_" } else if s == ".." { s = "__" }
        return s
    }

    /// A description safe to store: control characters as spaces, format characters dropped, one line, at most 500 characters.
    static func oneLine(_ s: String) -> String {
        var scalars = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            switch u.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator: scalars.append(" ")
            case .format: continue
            default: scalars.append(u)
            }
        }
        let text = String(scalars).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return text.count > Validate.descriptionMaxLength ? String(text.prefix(Validate.descriptionMaxLength - 1)) + "…" : text
    }

    /// A group, by index into `Reader.groups`; a parent always has a lower index than its children.
    private struct GroupRecord {
        /// The enclosing group's index, or -1 for a group directly in `Root`.
        let parent: Int
        var name = ""
        var uuid = ""
    }

    private final class EntryNode {
        let line: Int
        let group: Int
        var strings: [String: String] = [:]
        var protected: Set<String> = []
        /// The first field key given twice, if any.
        var repeated: String?
        init(line: Int, group: Int) { self.line = line; self.group = group }
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var failure: String?
        var sawRoot = false
        private var stack: [String] = []
        private var text = ""
        private var recycleBin = ""
        private var groups: [GroupRecord] = []
        /// The open group, or -1.
        private var group = -1
        private var groupDepth = 0
        private var entries: [EntryNode] = []
        private var entry: EntryNode?
        private var historyDepth = 0
        private var stringKey: String?
        private var stringValue: String?
        private var valueProtected = false

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            let parent = stack.last
            stack.append(name)
            text = ""
            // Bounded before anything else, so a deep document costs neither stack nor time.
            if stack.count > KeePassXML.maxElementDepth {
                failure =
                    "elements nest more than \(KeePassXML.maxElementDepth) deep (line \(parser.lineNumber)); "
                    + "Keyhold reads at most \(KeePassXML.maxGroupDepth) levels of groups"
                parser.abortParsing()
                return
            }
            if stack.count == 1, name != "KeePassFile" {
                failure = "not a KeePass 2 XML export: the document element is <\(Validate.visible(name))>, not <KeePassFile>"
                parser.abortParsing()
                return
            }
            if name == "Root", parent == "KeePassFile" { sawRoot = true }
            guard sawRoot else { return }
            switch name {
            case "History": if entry != nil { historyDepth += 1 }
            case "Group" where historyDepth == 0 && entry == nil:
                guard groupDepth < KeePassXML.maxGroupDepth else {
                    failure =
                        "groups nest more than \(KeePassXML.maxGroupDepth) deep (line \(parser.lineNumber)); "
                        + "Keyhold reads at most \(KeePassXML.maxGroupDepth) levels"
                    parser.abortParsing()
                    return
                }
                groups.append(GroupRecord(parent: group))
                group = groups.count - 1
                groupDepth += 1
            case "Entry" where historyDepth == 0 && entry == nil:
                if group >= 0 { entry = EntryNode(line: parser.lineNumber, group: group) }
            case "String" where historyDepth == 0 && entry != nil && parent == "Entry":
                stringKey = nil; stringValue = nil; valueProtected = false
            case "Value" where historyDepth == 0 && entry != nil && parent == "String":
                valueProtected = attributes["Protected"]?.lowercased() == "true"
            default: break
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        func parser(_ parser: XMLParser, foundIgnorableWhitespace whitespaceString: String) { text += whitespaceString }

        func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) { text += String(decoding: CDATABlock, as: UTF8.self) }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            stack.removeLast()
            let parent = stack.last
            defer { text = "" }
            if name == "RecycleBinUUID", parent == "Meta" { recycleBin = text.trimmingCharacters(in: .whitespacesAndNewlines); return }
            guard sawRoot else { return }
            switch name {
            case "History": if entry != nil { historyDepth -= 1 }
            case "Name" where parent == "Group" && entry == nil: if group >= 0 { groups[group].name = text }
            case "UUID" where parent == "Group" && entry == nil:
                if group >= 0 { groups[group].uuid = text.trimmingCharacters(in: .whitespacesAndNewlines) }
            case "Group" where entry == nil && group >= 0:
                group = groups[group].parent
                groupDepth -= 1
            case "Key" where historyDepth == 0 && parent == "String" && entry != nil: stringKey = text
            case "Value" where historyDepth == 0 && parent == "String" && entry != nil: stringValue = text
            case "String" where historyDepth == 0 && parent == "Entry":
                if let entry, let key = stringKey {
                    if entry.strings[key] != nil, entry.repeated == nil { entry.repeated = key }
                    entry.strings[key] = stringValue ?? ""
                    if valueProtected { entry.protected.insert(key) }
                }
                stringValue = nil
            case "Entry" where historyDepth == 0:
                if let entry { entries.append(entry) }
                entry = nil
            default: break
            }
        }

        func result() throws -> SourceRead {
            var out = SourceRead()
            // Whether each group lies in the recycle bin: one pass, parents first.
            let bin = recycleBin.isEmpty || recycleBin == "AAAAAAAAAAAAAAAAAAAAAA==" ? nil : recycleBin
            var inBin = [Bool](repeating: false, count: groups.count)
            if let bin {
                for (i, g) in groups.enumerated() { inBin[i] = g.uuid == bin || (g.parent >= 0 && inBin[g.parent]) }
            }
            var sanitised = [String?](repeating: nil, count: groups.count)
            for e in entries {
                let title = e.strings["Title"] ?? ""
                let origin = "entry at line \(e.line) (\"\(Validate.visible(title))\")"
                if inBin[e.group] { continue }
                if let key = e.repeated {
                    out.add(BadEntry(origin: origin, message: "gives the field \"\(Validate.visible(key))\" twice"))
                    continue
                }
                if e.protected.contains("Password") {
                    out.add(
                        BadEntry(
                            origin: origin,
                            message: "the password is encrypted (Protected=\"True\"): export the database from KeePassXC as XML"))
                    continue
                }
                guard !title.isEmpty else { out.add(BadEntry(origin: origin, message: "has no Title to name it by")); continue }
                // The group names below the top group, innermost first; a walk of at most
                // secretNameMaxBytes / 2 steps, since a longer name is refused anyway.
                var parts = [KeePassXML.sanitise(title)]
                var length = parts[0].utf8.count
                var g = e.group
                while g >= 0, groups[g].parent >= 0, length <= Validate.secretNameMaxBytes {
                    if sanitised[g] == nil { sanitised[g] = KeePassXML.sanitise(groups[g].name) }
                    let part = sanitised[g] ?? "_"
                    parts.append(part)
                    length += 1 + part.utf8.count
                    g = groups[g].parent
                }
                guard length <= Validate.secretNameMaxBytes else {
                    out.add(
                        BadEntry(
                            origin: origin,
                            message: "its group path and title make a name longer than "
                                + "\(Validate.secretNameMaxBytes) bytes, the most a secret name may have"))
                    continue
                }
                var described: [String] = []
                if let u = e.strings["UserName"], !u.isEmpty { described.append("user: \(u)") }
                if let u = e.strings["URL"], !u.isEmpty { described.append("url: \(u)") }
                let description =
                    described.isEmpty
                    ? (e.strings["Notes"] ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
                    : described.joined(separator: "; ")
                try out.add(
                    key: parts.reversed().joined(separator: "/"), value: (e.strings["Password"] ?? "").utf8,
                    description: oneLine(description), origin: origin)
            }
            return out
        }

        func wipe() {
            for e in entries { e.strings = [:] }
            entries = []
            text = ""
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
            if failure == nil { failure = "not well-formed XML (line \(parser.lineNumber), column \(parser.columnNumber))" }
        }
    }

    // MARK: Export

    /// One secret to write: its path below the root group and its description (the value comes later).
    public struct Item {
        public var segments: [String]
        public var description: String
        public init(segments: [String], description: String) { self.segments = segments; self.description = description }
    }

    /// Whether the value can be carried in XML 1.0 text: UTF-8, and no control character but tab, LF and CR.
    public static func canCarry(_ value: UnsafeRawBufferPointer) -> Bool {
        Bytes.scalars(value) { s in
            s == 0x09 || s == 0x0A || s == 0x0D || (0x20...0xD7FF).contains(s) || (0xE000...0xFFFD).contains(s) || s >= 0x10000
        }
    }

    /// Writes the document as the values arrive, one entry at a time: a group per path
    /// segment below a root group `Keyhold`; in each group its entries (by title), then
    /// its subgroups (by name). `order` is the order the entries take in the document,
    /// so the values are handed in that order.
    public final class Writer {
        private enum Step {
            case open(String, depth: Int)
            case entry(Int, depth: Int)
            case close(depth: Int)
        }
        /// Indices into the items, in document order.
        public let order: [Int]
        private let items: [Item]
        private let now: String
        private var steps: [Step] = []
        private var next = 0

        /// `now` is the time written in every `Times` element (ISO 8601).
        public init(_ items: [Item], now: String) {
            final class Node { var groups: [String: Node] = [:]; var items: [Int] = [] }
            let root = Node()
            for (i, item) in items.enumerated() {
                var node = root
                for g in item.segments.dropLast() {
                    if let child = node.groups[g] { node = child } else { let child = Node(); node.groups[g] = child; node = child }
                }
                node.items.append(i)
            }
            var steps: [Step] = []
            func walk(_ name: String, _ node: Node, _ depth: Int) {
                steps.append(.open(name, depth: depth))
                for i in node.items.sorted(by: { items[$0].segments.last! < items[$1].segments.last! }) {
                    steps.append(.entry(i, depth: depth + 1))
                }
                for name in node.groups.keys.sorted() { walk(name, node.groups[name]!, depth + 1) }
                steps.append(.close(depth: depth))
            }
            walk("Keyhold", root, 2)
            self.items = items
            self.now = now
            self.steps = steps
            order = steps.compactMap { if case .entry(let i, _) = $0 { i } else { nil } }
        }

        /// Writes the document up to the first group.
        public func begin(_ out: PlainBuffer) throws {
            try out.append(
                """
                <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
                <KeePassFile>
                \t<Meta>
                \t\t<Generator>Keyhold</Generator>
                \t\t<DatabaseName>Keyhold export</DatabaseName>
                \t\t<MemoryProtection>
                \t\t\t<ProtectTitle>False</ProtectTitle>
                \t\t\t<ProtectUserName>False</ProtectUserName>
                \t\t\t<ProtectPassword>True</ProtectPassword>
                \t\t\t<ProtectURL>False</ProtectURL>
                \t\t\t<ProtectNotes>False</ProtectNotes>
                \t\t</MemoryProtection>
                \t\t<RecycleBinEnabled>False</RecycleBinEnabled>
                \t</Meta>
                \t<Root>

                """)
        }

        /// Writes the next entry (`items[order[k]]` for the k-th call) with its value, and the groups before it.
        public func entry(_ value: UnsafeRawBufferPointer, to out: PlainBuffer) throws {
            while next < steps.count {
                let step = steps[next]
                next += 1
                if case .entry(let i, let depth) = step {
                    try write(items[i], value: value, depth: depth, to: out)
                    return
                }
                try write(step, to: out)
            }
            preconditionFailure("more values than entries")
        }

        /// Passes over the next entry without writing it (a value left out), writing the groups before it.
        public func skip(_ out: PlainBuffer) throws {
            while next < steps.count {
                let step = steps[next]
                next += 1
                if case .entry = step { return }
                try write(step, to: out)
            }
        }

        /// Writes the groups after the last entry and closes the document.
        public func end(_ out: PlainBuffer) throws {
            while next < steps.count {
                if case .entry = steps[next] {} else { try write(steps[next], to: out) }  // an entry here was left out
                next += 1
            }
            try out.append("\t\t<DeletedObjects/>\n\t</Root>\n</KeePassFile>\n")
        }

        private func write(_ step: Step, to out: PlainBuffer) throws {
            switch step {
            case .open(let name, let depth):
                try indent(depth, out); try out.append("<Group>\n")
                try indent(depth + 1, out); try out.append("<UUID>\(KeePassXML.uuid())</UUID>\n")
                try indent(depth + 1, out); try out.append("<Name>"); try KeePassXML.escape(name, to: out); try out.append("</Name>\n")
                try indent(depth + 1, out); try out.append("<IconID>48</IconID>\n")
                try times(depth + 1, out)
            case .close(let depth):
                try indent(depth, out); try out.append("</Group>\n")
            case .entry:
                preconditionFailure("an entry needs its value")
            }
        }

        private func write(_ item: Item, value: UnsafeRawBufferPointer, depth: Int, to out: PlainBuffer) throws {
            try indent(depth, out); try out.append("<Entry>\n")
            try indent(depth + 1, out); try out.append("<UUID>\(KeePassXML.uuid())</UUID>\n")
            try indent(depth + 1, out); try out.append("<IconID>0</IconID>\n")
            try times(depth + 1, out)
            try field("Notes", item.description, depth + 1, out)
            try field("Password", value, protect: true, depth + 1, out)
            try field("Title", item.segments.last!, depth + 1, out)
            try field("URL", "", depth + 1, out)
            try field("UserName", "", depth + 1, out)
            try indent(depth, out); try out.append("</Entry>\n")
        }

        private func indent(_ depth: Int, _ out: PlainBuffer) throws { try out.append(String(repeating: "\t", count: depth)) }

        private func times(_ depth: Int, _ out: PlainBuffer) throws {
            try indent(depth, out); try out.append("<Times>\n")
            for tag in ["LastModificationTime", "CreationTime", "LastAccessTime", "ExpiryTime"] {
                try indent(depth + 1, out); try out.append("<\(tag)>\(now)</\(tag)>\n")
            }
            try indent(depth + 1, out); try out.append("<Expires>False</Expires>\n")
            try indent(depth + 1, out); try out.append("<UsageCount>0</UsageCount>\n")
            try indent(depth + 1, out); try out.append("<LocationChanged>\(now)</LocationChanged>\n")
            try indent(depth, out); try out.append("</Times>\n")
        }

        private func field(_ key: String, _ value: UnsafeRawBufferPointer, protect: Bool, _ depth: Int, _ out: PlainBuffer) throws {
            try indent(depth, out); try out.append("<String>\n")
            try indent(depth + 1, out); try out.append("<Key>\(key)</Key>\n")
            try indent(depth + 1, out); try out.append(protect ? "<Value ProtectInMemory=\"True\">" : "<Value>")
            try KeePassXML.escape(value, to: out)
            try out.append("</Value>\n")
            try indent(depth, out); try out.append("</String>\n")
        }

        private func field(_ key: String, _ value: String, _ depth: Int, _ out: PlainBuffer) throws {
            let bytes = Array(value.utf8)
            try bytes.withUnsafeBytes { try field(key, $0, protect: false, depth, out) }
        }
    }

    private static func uuid() -> String {
        var g = SystemRandomNumberGenerator()
        return Data((0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }).base64EncodedString()
    }

    private static func escape(_ s: String, to out: PlainBuffer) throws {
        let bytes = Array(s.utf8)
        try bytes.withUnsafeBytes { try escape($0, to: out) }
    }

    /// XML text: `&`, `<`, `>` as entities, and CR as `&#13;` so that no reader folds it into a newline.
    private static func escape(_ value: UnsafeRawBufferPointer, to out: PlainBuffer) throws {
        for b in value {
            switch b {
            case UInt8(ascii: "&"): try out.append("&amp;")
            case UInt8(ascii: "<"): try out.append("&lt;")
            case UInt8(ascii: ">"): try out.append("&gt;")
            case 0x0D: try out.append("&#13;")
            default: try out.append(b)
            }
        }
    }
}
