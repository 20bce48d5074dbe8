import Foundation
import KeyholdCore
import KeyholdFormats

/// Human tables and `--json` output. Every string from the vault goes through
/// `Validate.visible` in tables, so nothing stored can move the cursor or
/// retitle the terminal; JSON escapes the same characters (`Validate.isHidden`) as \uxxxx.
enum Output {
    /// A plain table: headers, then rows, columns padded to their widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let cells = [headers] + rows.map { $0.map(Validate.visible) }
        let widths = columnWidths(cells)
        return cells.map { tableLine($0, widths) }.joined(separator: "\n")
    }

    /// The width of each column (of the first row's count): its widest cell, in characters.
    static func columnWidths(_ cells: [[String]]) -> [Int] {
        var widths = [Int](repeating: 0, count: cells.first?.count ?? 0)
        for row in cells { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return widths
    }

    /// One line of a table: the cells two spaces apart, each but the last padded to its column's
    /// width (a wider cell is written whole), without white space at either end.
    static func tableLine(_ row: [String], _ widths: [Int]) -> String {
        var line = ""
        for (i, c) in row.enumerated() {
            if i > 0 { line += "  " }
            line += c
            if i < row.count - 1, i < widths.count { line += String(repeating: " ", count: max(0, widths[i] - c.count)) }
        }
        return trimmingBlanks(line)
    }

    /// `s.trimmingCharacters(in: .whitespaces)` (Unicode's space separators, the tab, and, as
    /// Foundation counts it, U+200B) without Foundation's round trip through UTF-16, a fifth of a
    /// million-row `user list`.
    static func trimmingBlanks(_ s: String) -> String {
        func blank(_ c: Unicode.Scalar) -> Bool { c == "\t" || c == "\u{200B}" || c.properties.generalCategory == .spaceSeparator }
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !blank($0) }), let last = scalars.lastIndex(where: { !blank($0) }) else {
            return ""
        }
        if first == scalars.startIndex && scalars.index(after: last) == scalars.endIndex { return s }
        return String(scalars[first...last])
    }

    /// Pretty JSON with sorted keys, for scripts: the bytes `JSONSerialization` writes
    /// with `.prettyPrinted, .sortedKeys, .withoutEscapingSlashes`, written by `JSONText`
    /// (JSONSerialization takes 12 s over 100,000 secrets; a test holds the two to the
    /// same bytes), except that the characters `Validate.isHidden` names are escaped as
    /// \uxxxx. A value `JSONText` does not know goes to JSONSerialization whole, and its
    /// text is given the same escapes.
    static func json(_ value: Any) throws -> String {
        var text = JSONText()
        if try text.append(value, indent: 0) { return String(decoding: text.bytes, as: UTF8.self) }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else {
            return "{}"
        }
        return escapingHidden(String(decoding: data, as: UTF8.self))
    }

    /// JSON text with every hidden character (`Validate.isHidden`) written as \uxxxx. Outside
    /// strings JSON holds only ASCII punctuation and white space, so every such character
    /// found is inside a string, where the escape means the same character.
    static func escapingHidden(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { $0.value >= 0x7F && Validate.isHidden($0) }) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x7F && Validate.isHidden(scalar) {
                let digits = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Prints `value` as `json(_:)` writes it, and a newline, straight from the bytes
    /// written (a listing of 100,000 users is 70 MB: never copied into a String).
    static func printJSON(_ value: Any) throws {
        var text = JSONText()
        defer { text.wipe() }  // it may hold a value (`secret get --json`) or a temporary password
        guard try text.append(value, indent: 0) else { return try Terminal.out(json(value)) }
        try text.endLine()
        try Terminal.writeOut(UnsafeRawBufferPointer(text.bytes))
    }

    /// An ISO 8601 time or `-`.
    static func time(_ ms: Int64?) -> String { ms.map(Clock.format) ?? "-" }

    /// JSON for an optional time: the ISO string or null.
    static func jsonTime(_ ms: Int64?) -> Any { ms.map(Clock.format) ?? NSNull() }
}

/// Writes what the CLI prints with `--json` (dictionaries, arrays, strings, integers,
/// finite doubles, booleans, `NSNull`, and the `NSNumber`s JSONSerialization parses) as
/// JSONSerialization's pretty, sorted output. Keys sort as JSONSerialization sorts
/// them (numeric, case-insensitive, in the system locale), once per set of keys:
/// a list's objects share theirs.
struct JSONText {
    /// The text, in guarded memory: it may hold a secret (`JSONSecret`), and an Array would leave
    /// a copy of what was written so far each time it grew.
    private let buffer = SecureBuffer()
    /// The text written so far (valid until the next append).
    var bytes: UnsafeBufferPointer<UInt8> { buffer.bytes }
    private var keyOrders: [[String]: [String]] = [:]
    private var lastKeys: [String] = []

    /// Appends `value` (nested lines indented by `indent` spaces more); false for a value it cannot write.
    mutating func append(_ value: Any, indent: Int) throws -> Bool {
        // Exact types first: a failed `is NSNull` or `as? NSNumber` bridges the value to an object.
        let type = Swift.type(of: value)
        if type == JSONSecret.self {
            let secret = value as! JSONSecret
            secret.base64 ? try base64(secret.value) : try string(secret.value)
        } else if type == String.self {
            try string(value as! String)
        } else if type == [String: Any].self {
            return try object(value as! [String: Any], indent: indent)
        } else if type == Int.self {
            try buffer.append(String(value as! Int))
        } else if type == Bool.self {
            try buffer.append((value as! Bool) ? "true" : "false")
        } else if type == Int64.self {
            try buffer.append(String(value as! Int64))
        } else if type == Double.self {
            return try double(value as! Double)
        } else if let d = value as? [String: Any] {
            return try object(d, indent: indent)
        } else if let a = value as? [Any] {
            return try array(a, indent: indent)
        } else if value is NSNull {
            try buffer.append("null")
        } else if let n = value as? NSNumber {
            return try number(n)
        } else if let s = value as? String {
            try string(s)
        } else {
            return false
        }
        return true
    }

    private mutating func number(_ n: NSNumber) throws -> Bool {
        switch String(cString: n.objCType) {
        case "c", "B": try buffer.append(n.boolValue ? "true" : "false")
        case "q", "l", "i", "s": try buffer.append(String(n.int64Value))
        case "Q", "L", "I", "S", "C": try buffer.append(String(n.uint64Value))
        case "d", "f": return try double(n.doubleValue)
        default: return false
        }
        return true
    }

    /// As JSONSerialization writes a double: Swift's shortest form without a trailing ".0";
    /// false for NaN and the infinities, which JSON cannot hold.
    private mutating func double(_ d: Double) throws -> Bool {
        guard d.isFinite else { return false }
        var digits = d.description
        if digits.hasSuffix(".0") { digits.removeLast(2) }
        try buffer.append(digits)
        return true
    }

    /// Zeroes the text written so far.
    mutating func wipe() { buffer.removeAll() }

    /// Ends the text with a line break, as printed.
    mutating func endLine() throws { try buffer.append(UInt8(ascii: "\n")) }

    private mutating func object(_ d: [String: Any], indent: Int) throws -> Bool {
        let sorted = sortedKeys(d)
        try buffer.append(UInt8(ascii: "{"))
        try buffer.append(UInt8(ascii: "\n"))
        for (k, key) in sorted.enumerated() {
            if k > 0 { try buffer.append(",\n") }
            try pad(indent + 2)
            try string(key)
            try buffer.append(" : ")
            guard try append(d[key]!, indent: indent + 2) else { return false }
        }
        try close("}", indent: indent)
        return true
    }

    /// The keys of `d` as JSONSerialization orders them. A list's objects share their keys,
    /// so the last order is tried first; then a cache by the keys in plain order (cheap to
    /// sort: dictionaries with the same keys list them in different orders); the collator
    /// only for a set of keys not seen before.
    private mutating func sortedKeys(_ d: [String: Any]) -> [String] {
        if lastKeys.count == d.count, lastKeys.allSatisfy({ d[$0] != nil }) { return lastKeys }
        let plain = d.keys.sorted()
        if let known = keyOrders[plain] {
            lastKeys = known
            return known
        }
        let sorted = plain.sorted {
            $0.compare(
                $1, options: [.numeric, .caseInsensitive, .forcedOrdering], range: $0.startIndex..<$0.endIndex,
                locale: NSLocale.system) == .orderedAscending
        }
        if keyOrders.count < 64 { keyOrders[plain] = sorted }
        lastKeys = sorted
        return sorted
    }

    private mutating func array(_ a: [Any], indent: Int) throws -> Bool {
        try buffer.append(UInt8(ascii: "["))
        try buffer.append(UInt8(ascii: "\n"))
        for (k, item) in a.enumerated() {
            if k > 0 { try buffer.append(",\n") }
            try pad(indent + 2)
            guard try append(item, indent: indent + 2) else { return false }
        }
        try close("]", indent: indent)
        return true
    }

    /// The line break after the last item (or the opening one: an empty container keeps
    /// an empty line inside, as JSONSerialization writes it), then the closing bracket.
    private mutating func close(_ bracket: Unicode.Scalar, indent: Int) throws {
        try buffer.append(UInt8(ascii: "\n"))
        try pad(indent)
        try buffer.append(UInt8(ascii: bracket))
    }

    private mutating func pad(_ n: Int) throws {
        var left = n
        while left > 0 {
            let k = min(left, Self.spaces.count)
            try Self.spaces.withUnsafeBytes { try buffer.append(UnsafeRawBufferPointer(rebasing: $0[..<k])) }
            left -= k
        }
    }

    private static let spaces = [UInt8](repeating: UInt8(ascii: " "), count: 32)

    /// A JSON string of bytes in guarded memory (UTF-8: the caller checked), escaped as `string`
    /// escapes a String, decoded where they lie.
    private mutating func string(_ secret: SecureBytes) throws {
        try buffer.append(UInt8(ascii: "\""))
        try secret.withBytes { raw in
            var it = raw.makeIterator()
            var decoder = UTF8()
            while case .scalarValue(let scalar) = decoder.decode(&it) { try escaped(scalar) }
        }
        try buffer.append(UInt8(ascii: "\""))
    }

    /// Standard base64 of bytes in guarded memory, as a JSON string.
    private mutating func base64(_ secret: SecureBytes) throws {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        try buffer.append(UInt8(ascii: "\""))
        try secret.withBytes { raw in
            var i = 0
            while i < raw.count {
                let n = min(3, raw.count - i)
                var v = UInt32(raw[i]) << 16
                if n > 1 { v |= UInt32(raw[i + 1]) << 8 }
                if n > 2 { v |= UInt32(raw[i + 2]) }
                try buffer.append(alphabet[Int(v >> 18 & 63)])
                try buffer.append(alphabet[Int(v >> 12 & 63)])
                try buffer.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
                try buffer.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
                v = 0
                i += 3
            }
        }
        try buffer.append(UInt8(ascii: "\""))
    }

    /// A JSON string: quote and backslash escaped, control characters as \b \f \n \r \t
    /// or \u00xx, everything else (slashes, non-ASCII) as its UTF-8 bytes, except what
    /// must not reach a terminal raw (`Validate.isHidden`: DEL, C1 and bidi controls,
    /// invisible characters, U+2028/U+2029), written as \uxxxx too.
    private mutating func string(_ s: String) throws {
        try buffer.append(UInt8(ascii: "\""))
        // Most strings need no escape: copied whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 >= 0x7F }) {
            try buffer.append(s)
            try buffer.append(UInt8(ascii: "\""))
            return
        }
        for scalar in s.unicodeScalars { try escaped(scalar) }
        try buffer.append(UInt8(ascii: "\""))
    }

    /// One scalar of a JSON string, escaped as `string` says, byte by byte (no temporary array
    /// holds a character of what may be a secret value).
    private mutating func escaped(_ scalar: Unicode.Scalar) throws {
        let v = scalar.value
        let backslash = UInt8(ascii: "\\")
        switch v {
        case 0x22: try buffer.append(backslash); try buffer.append(UInt8(ascii: "\""))
        case 0x5C: try buffer.append(backslash); try buffer.append(backslash)
        case 0x08: try buffer.append(backslash); try buffer.append(UInt8(ascii: "b"))
        case 0x0C: try buffer.append(backslash); try buffer.append(UInt8(ascii: "f"))
        case 0x0A: try buffer.append(backslash); try buffer.append(UInt8(ascii: "n"))
        case 0x0D: try buffer.append(backslash); try buffer.append(UInt8(ascii: "r"))
        case 0x09: try buffer.append(backslash); try buffer.append(UInt8(ascii: "t"))
        case _ where v < 0x20 || Validate.isHidden(scalar):
            // Every hidden character lies in the Basic Multilingual Plane: four hex digits.
            try buffer.append(backslash)
            try buffer.append(UInt8(ascii: "u"))
            for shift in [12, 8, 4, 0] as [UInt32] { try buffer.append(Self.hex[Int(v >> shift & 15)]) }
        default:
            for b in scalar.utf8 { try buffer.append(b) }
        }
    }

    private static let hex = Array("0123456789abcdef".utf8)
}

/// A secret value (a revealed value, a temporary password) for `Output.printJSON`: written into
/// the JSON text from guarded memory, as a string (UTF-8) or, with `base64`, its base64.
struct JSONSecret {
    let value: SecureBytes
    let base64: Bool
    init(_ value: SecureBytes, base64: Bool = false) { self.value = value; self.base64 = base64 }
}

/// A listing streamed as one JSON document, `{"<key>": [item, item, ...]}`, written a page at a
/// time: the same bytes `Output.printJSON([key: items])` writes for the whole array (and its
/// newline), with only one page's text in memory.
struct JSONListStream {
    private let key: String
    private var text = JSONText()
    private var items = 0
    private var begun = false

    /// Nothing is written before the first page (which may fail, say for want of a permission:
    /// then nothing at all is on standard output).
    init(key: String) { self.key = key }

    /// The document's opening, up to its array's first item.
    private mutating func begin() throws {
        guard !begun else { return }
        begun = true
        try text.bytes(of: "{\n  ")
        try text.key(key)
        try text.bytes(of: " : [\n")
    }

    /// Writes `page`'s items after those before.
    mutating func write(_ page: [[String: Any]]) throws {
        try begin()
        for item in page {
            if items > 0 { try text.bytes(of: ",\n") }
            try text.bytes(of: "    ")
            let start = text.count
            if try !text.append(item, indent: 4) {
                // Not a value JSONText writes (none of the CLI's listings has one): JSONSerialization's
                // text of the item instead, as `printJSON` falls back, each line indented to its place.
                text.truncate(to: start)
                try text.bytes(of: Output.json(item).split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n    "))
            }
            items += 1
        }
        try flush()
    }

    /// Closes the array and the document (an empty array keeps its empty line, as JSONSerialization writes it).
    mutating func finish() throws {
        try begin()
        try text.bytes(of: "\n  ]\n}\n")
        try flush()
    }

    private mutating func flush() throws {
        try text.drain { try Terminal.writeOut($0) }
    }
}

extension JSONText {
    /// Appends literal text (the punctuation of a streamed document).
    mutating func bytes(of literal: String) throws { try buffer.append(literal) }

    /// Bytes written so far.
    var count: Int { buffer.count }

    /// Forgets what was written after the first `n` bytes.
    mutating func truncate(to n: Int) { buffer.truncate(to: n) }

    /// Appends a JSON string (an object's key).
    mutating func key(_ s: String) throws { try string(s) }

    /// Hands the text written so far to `write`, then forgets it (keeping the key order caches).
    mutating func drain(_ write: (UnsafeRawBufferPointer) throws -> Void) throws {
        defer { buffer.removeAll() }
        try buffer.withUnsafeBytes { try write($0) }
    }
}

/// A table written a page at a time. The columns' widths are those of the headers and the first
/// page's cells (`Output.table` measures every row, which a stream cannot before it writes); a
/// later cell wider than its column is written whole and pushes the rest of its row right. A
/// listing of one page is byte for byte `Output.table`'s.
struct TableStream {
    private let headers: [String]
    private var widths: [Int]?

    init(_ headers: [String]) { self.headers = headers }

    /// Writes `rows` (cells made visible here, as `Output.table` does); the first call writes the headers too.
    mutating func write(_ rows: [[String]]) throws {
        let cells = rows.map { $0.map(Validate.visible) }
        var lines: [String] = []
        let widths = self.widths ?? Output.columnWidths([headers] + cells)
        if self.widths == nil {
            self.widths = widths
            lines.append(Output.tableLine(headers, widths))
        }
        lines += cells.map { Output.tableLine($0, widths) }
        if !lines.isEmpty { try Terminal.out(lines.joined(separator: "\n")) }
    }

    /// Ends the table: the headers alone if no row came.
    mutating func finish() throws {
        if widths == nil { try write([]) }
    }
}

/// Listings printed page by page (docs/CLI.md, "Listings"): each page read in a transaction
/// of its own and written before the next is read, so memory holds one page whatever the
/// vault holds and no transaction stays open while the output waits for its reader.
enum Listing {
    /// Rows per page read and written.
    static let pageSize = 1_000

    /// Fetches pages from `.first` (or `start`) to the end, handing each page's items to `body`.
    static func each<Item: PageItem>(
        from start: PagePosition<Item.Key> = .first,
        _ fetch: (PagePosition<Item.Key>) throws -> Page<Item>,
        _ body: ([Item]) throws -> Void
    ) throws {
        var position = start
        while true {
            let page = try fetch(position)
            try body(page.items)
            guard let next = page.next else { return }
            position = next
        }
    }
}
