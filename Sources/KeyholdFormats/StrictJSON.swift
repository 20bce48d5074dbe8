import KeyholdCore

/// A strict JSON reader (RFC 8259) for the files Keyhold imports, in place of
/// Foundation's, which keeps one of two repeated keys without a word.
///
/// - Every key of every object is kept, in document order, and each key given twice in
///   one object is reported (`Document.duplicates`) with both lines; what to do about it
///   is the format's call (the importers refuse it).
/// - Nesting is bounded (`maxDepth`) and read with an explicit stack, never recursion, so
///   no input can exhaust the call stack; time is linear in the input.
/// - Text is UTF-8 only; `\u` escapes must pair their surrogates; control characters must
///   be escaped; nothing but white space may follow the value.
/// - Errors give a line and column and never quote the input (it may hold secrets).
/// - String values are decoded into one guarded buffer (`Document.strings`), never into
///   Strings: they may be secret values. Keys, and the strings a format wants as text
///   (names, descriptions), are made Strings by `Document.string(_:)`.
enum StrictJSON {
    /// Containers nested deeper than this are refused (the import shapes need 3).
    static let maxDepth = 64

    /// A value. Numbers are checked against the grammar but not kept: no import shape uses one.
    enum Value {
        case object([Member])
        case array([Value])
        /// Where the decoded UTF-8 lies in `Document.strings`.
        case string(Range<Int>)
        case number
        case bool(Bool)
        case null

        /// The value of the first member named `key` (objects only).
        subscript(key: String) -> Value? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.key == key }?.value
        }

        var isString: Bool { if case .string = self { true } else { false } }
        var isNull: Bool { if case .null = self { true } else { false } }
    }

    /// One `"key": value` of an object, with the line the key is on.
    struct Member {
        var key: String
        var value: Value
        var line: Int
    }

    /// Where a value lies: member keys and array indices from the top.
    enum Step: Equatable {
        case key(String)
        case index(Int)
    }

    /// A key given more than once in one object.
    struct Duplicate {
        /// The object's place in the document (empty: the top-level object).
        var path: [Step]
        var key: String
        var firstLine: Int
        var line: Int
    }

    struct Document {
        var root: Value
        /// Every repeated key, in document order.
        var duplicates: [Duplicate]
        /// The decoded bytes of every string value, one after another (guarded memory, zeroed when released).
        let strings: PlainBuffer

        /// A string value as a String (for names, descriptions and the like, never secret values), or nil.
        func string(_ value: Value?) -> String? {
            guard case .string(let r)? = value else { return nil }
            return String(decoding: strings.bytes[r], as: UTF8.self)
        }

        /// A string value's bytes where they lie in `strings`, or nil.
        func bytes(_ value: Value?) -> ByteSlice? {
            guard case .string(let r)? = value else { return nil }
            return strings.bytes[r]
        }
    }

    /// Why the text is not JSON: a sentence, and where.
    struct ParseError: Error, CustomStringConvertible {
        var reason: String
        var line: Int
        var column: Int
        var description: String { "\(reason) (line \(line), column \(column))" }
    }

    /// An open container.
    private struct Frame {
        var isObject: Bool
        var members: [Member] = []
        var items: [Value] = []
        /// For objects: the key whose value is being read, and its line.
        var key = ""
        var keyLine = 0
        /// For objects of many members: key -> line of its first occurrence.
        var seen: [String: Int]?
    }

    static func parse(_ b: [UInt8]) throws(ParseError) -> Document {
        var result: Result<Document, ParseError> = .failure(ParseError(reason: "", line: 0, column: 0))
        b.withUnsafeBufferPointer { p in result = Result { () throws(ParseError) in try parse(p) } }
        return try result.get()
    }

    /// Parses bytes where they lie (a file read into guarded memory).
    static func parse(_ b: UnsafeBufferPointer<UInt8>) throws(ParseError) -> Document {
        let strings: PlainBuffer
        do { strings = try PlainBuffer(capacity: min(b.count, 1 << 16)) } catch {
            throw ParseError(reason: "out of memory before reading", line: 1, column: 1)
        }
        var i = 0
        var line = 1, lineStart = 0
        var stack: [Frame] = []
        var duplicates: [Duplicate] = []

        func fail(_ reason: String) -> ParseError {
            // Columns count bytes from 1; good enough to find the place in an editor.
            ParseError(reason: reason, line: line, column: i - lineStart + 1)
        }
        /// Appends to `strings`; guarded memory that cannot be had (out of memory) fails here.
        func put(_ body: () throws -> Void) throws(ParseError) {
            do { try body() } catch { throw fail("out of memory while reading a string") }
        }
        func skipSpace() {
            while i < b.count {
                switch b[i] {
                case 0x20, 0x09, 0x0D: i += 1
                case 0x0A: i += 1; line += 1; lineStart = i
                default: return
                }
            }
        }
        func expect(_ c: UInt8, _ what: String) throws(ParseError) {
            guard i < b.count, b[i] == c else { throw fail(i < b.count ? "expected \(what)" : "the text ends where \(what) was expected") }
            i += 1
        }
        /// Decodes a string onto the end of `strings`; returns where it lies there.
        func readString() throws(ParseError) -> Range<Int> {
            try expect(0x22, "a string")
            let start = strings.count
            let out = strings
            while true {
                guard i < b.count else { throw fail("a string is not closed") }
                let c = b[i]
                switch c {
                case 0x22:
                    i += 1
                    guard Bytes.isUTF8(strings.bytes[start...].raw) else {
                        throw fail("a string is not UTF-8")
                    }
                    return start..<strings.count
                case 0x5C:
                    i += 1
                    guard i < b.count else { throw fail("a string is not closed") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case 0x22, 0x5C, 0x2F: try put { try out.append(e) }
                    case UInt8(ascii: "b"): try put { try out.append(0x08) }
                    case UInt8(ascii: "f"): try put { try out.append(0x0C) }
                    case UInt8(ascii: "n"): try put { try out.append(0x0A) }
                    case UInt8(ascii: "r"): try put { try out.append(0x0D) }
                    case UInt8(ascii: "t"): try put { try out.append(0x09) }
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard i + 1 < b.count, b[i] == 0x5C, b[i + 1] == UInt8(ascii: "u") else {
                                throw fail("a \\u escape of a high surrogate is not followed by its low surrogate")
                            }
                            i += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else {
                                throw fail("a \\u escape of a high surrogate is not followed by its low surrogate")
                            }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("a \\u escape is a lone low surrogate")
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw fail("a \\u escape is not a character") }
                        try put { try out.append(contentsOf: u.utf8) }
                    default:
                        i -= 1
                        throw fail("an unknown escape in a string (known: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)")
                    }
                case 0x00..<0x20:
                    throw fail("a control character in a string must be escaped")
                default:
                    try put { try out.append(c) }
                    i += 1
                }
            }
        }
        func hex4() throws(ParseError) -> UInt32 {
            guard i + 4 <= b.count else { throw fail("a \\u escape needs four hex digits") }
            var v: UInt32 = 0
            for k in i..<(i + 4) {
                let c = b[k]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("a \\u escape needs four hex digits")
                }
                v = v << 4 | d
            }
            i += 4
            return v
        }
        func digits() -> Int {
            let start = i
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
            return i - start
        }
        func readNumber() throws(ParseError) {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, (0x30...0x39).contains(b[i]) else { throw fail("a number needs a digit") }
            if b[i] == 0x30 { i += 1 } else { _ = digits() }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                guard digits() > 0 else { throw fail("a number needs a digit after the decimal point") }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits() > 0 else { throw fail("a number needs a digit in its exponent") }
            }
        }
        func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard i + w.count <= b.count, b[i..<(i + w.count)].elementsEqual(w) else { return false }
            i += w.count
            return true
        }
        /// Reads a key and its colon into the open object, noting a repeat.
        func readKey() throws(ParseError) {
            let keyLine = line
            // Keys are names: read as the other strings are, then made a String and dropped from `strings`.
            let span = try readString()
            let key = String(decoding: strings.bytes[span], as: UTF8.self)
            strings.truncate(to: span.lowerBound)
            skipSpace()
            try expect(UInt8(ascii: ":"), "\":\" after a key")
            let top = stack.count - 1
            var first: Int?
            if stack[top].seen != nil {
                // Changed in place (a copy taken out and put back would copy the table each time).
                first = stack[top].seen?[key]
                if first == nil { stack[top].seen?[key] = keyLine }
            } else {
                first = stack[top].members.first { $0.key == key }?.line
                // Past a few members, a table keeps the check linear.
                if stack[top].members.count >= 16 {
                    var seen: [String: Int] = [:]
                    for m in stack[top].members where seen[m.key] == nil { seen[m.key] = m.line }
                    if seen[key] == nil { seen[key] = keyLine }
                    stack[top].seen = seen
                }
            }
            if let first {
                let path = stack.dropLast().map { f in f.isObject ? Step.key(f.key) : Step.index(f.items.count) }
                duplicates.append(Duplicate(path: Array(path), key: key, firstLine: first, line: keyLine))
            }
            stack[top].key = key
            stack[top].keyLine = keyLine
        }

        // A byte order mark may open the text (RFC 8259 section 8.1).
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3; lineStart = 3 }
        skipSpace()
        // Each turn reads one value (opening containers as it goes), then closes what it completes.
        while true {
            guard i < b.count else { throw fail(stack.isEmpty ? "the text is empty" : "the text ends inside a value") }
            var value: Value
            switch b[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < maxDepth else { throw fail("objects and lists nest more than \(maxDepth) deep") }
                let isObject = b[i] == UInt8(ascii: "{")
                i += 1
                stack.append(Frame(isObject: isObject))
                skipSpace()
                if i < b.count, b[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i += 1
                    stack.removeLast()
                    value = isObject ? .object([]) : .array([])
                } else {
                    if isObject { try readKey(); skipSpace() }
                    continue
                }
            case 0x22: value = .string(try readString())
            case UInt8(ascii: "-"), 0x30...0x39: try readNumber(); value = .number
            default:
                if literal("true") {
                    value = .bool(true)
                } else if literal("false") {
                    value = .bool(false)
                } else if literal("null") {
                    value = .null
                } else {
                    throw fail("expected a value (an object, list, string, number, true, false or null)")
                }
            }
            // Hand the value to its container; close every container it completes.
            while true {
                skipSpace()
                guard !stack.isEmpty else {
                    guard i == b.count else { throw fail("text after the end of the JSON value") }
                    return Document(root: value, duplicates: duplicates, strings: strings)
                }
                let top = stack.count - 1
                if stack[top].isObject {
                    stack[top].members.append(Member(key: stack[top].key, value: value, line: stack[top].keyLine))
                } else {
                    stack[top].items.append(value)
                }
                let isObject = stack[top].isObject
                guard i < b.count else { throw fail(isObject ? "an object is not closed" : "a list is not closed") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    skipSpace()
                    if isObject { try readKey(); skipSpace() }
                    break
                }
                guard b[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                    throw fail(isObject ? "expected \",\" or \"}\" in an object" : "expected \",\" or \"]\" in a list")
                }
                i += 1
                let done = stack.removeLast()
                value = done.isObject ? .object(done.members) : .array(done.items)
            }
        }
    }
}
