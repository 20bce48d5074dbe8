import KeyholdCore

/// `.env` files, read and written exactly as python-dotenv (the parser Flask's `load_dotenv`
/// uses) reads them, so that what Keyhold imports is what the application saw and what it
/// exports reads back byte for byte. The rules are python-dotenv's own (`dotenv/parser.py`,
/// release `pythonDotenvVersion`); docs/CLI.md spells them out.
///
/// Reading a file, as `dotenv_values(path, encoding="utf-8")` does:
/// - the file is UTF-8 (else python-dotenv fails on it), read with universal newlines: CRLF and
///   a lone CR are line breaks, everywhere (inside quotes too); one leading byte order mark is dropped;
/// - `KEY=value`, `export KEY=value`, `'quoted key'=value`, `# comments`; a bare `KEY` has no value;
/// - white space is Python's (`str.isspace`: also NBSP, form feed, U+2000..U+200A, U+3000, ...);
/// - `'single'` quotes decode `\\` and `\'`; `"double"` quotes decode `\\ \' \" \a \b \f \n \r \t \v`;
///   any other backslash stays; both may span lines; a backslash always takes the next character;
/// - unquoted values run to the end of the line, lose a white-space-then-`#` comment and trailing
///   white space; `KEY= # c` (white space, then `#`) is empty, `KEY=#c` is `#c`;
/// - a statement python-dotenv cannot parse is skipped by it up to the end of its line;
/// - a key given again replaces the earlier value;
/// - `${NAME}` and `${NAME:-default}` are expanded by python-dotenv after this parse (see `Variables`).
public enum DotEnv {
    /// The python-dotenv release these rules match, and the one the tests run against.
    public static let pythonDotenvVersion = "1.2.4"

    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
    private static let hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), squote = UInt8(ascii: "'"), dquote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\"), dollar = UInt8(ascii: "$"), lbrace = UInt8(ascii: "{"), rbrace = UInt8(ascii: "}")

    // MARK: - The statements of a file

    /// A `KEY=value` or bare `KEY` statement, as python-dotenv's parser yields it.
    public struct Binding {
        /// The key as python-dotenv gives it (any text; Keyhold's name rules are checked later).
        public var key: String
        /// The value after quotes and escapes, before any `${...}` is expanded (a range of
        /// `Statements.values`); nil for a bare `KEY` without `=`, which python-dotenv gives no value.
        public var value: Range<Int>?
        /// The line the statement starts on.
        public var line: Int
    }

    /// One statement of the file, in file order.
    public enum Statement {
        case binding(Binding)
        /// A statement python-dotenv cannot parse: it skips it, up to the end of the line where it failed.
        case unparsable(line: Int, message: String)
    }

    /// Everything python-dotenv's parser makes of a file.
    public struct Statements {
        public fileprivate(set) var items: [Statement] = []
        /// Set when python-dotenv cannot read the file at all (it is not UTF-8); then there are no items.
        public fileprivate(set) var unreadable: BadEntry?
        /// The values, one after another, wiped when released.
        public let values = PlainBuffer()

        /// The bytes of a binding's value (a view into `values`).
        public func value(_ range: Range<Int>) -> ByteSlice { values.bytes[range] }
    }

    /// The statements of a .env file (bytes where they lie: a file read into guarded memory), as
    /// python-dotenv's `parse_stream` yields them for the file read as `dotenv_values` reads it.
    /// What cannot be parsed is reported, not thrown; it throws only when out of guarded memory.
    public static func statements(_ data: UnsafeBufferPointer<UInt8>) throws -> Statements {
        var result = Statements()
        if let bad = firstInvalidUTF8(data) {
            let line = 1 + lineBreaks(data[0..<bad])
            result.unreadable = BadEntry(
                origin: "line \(line)",
                message:
                    "the file is not UTF-8 text (byte \(bad + 1) is not valid UTF-8); python-dotenv fails to read it, so the application gets none of it"
            )
            return result
        }
        // Universal newlines (CRLF and lone CR become LF), and one byte order mark dropped.
        let text = try PlainBuffer(capacity: data.count)
        var i = data.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while i < data.count {
            let b = data[i]
            if b == cr {
                try text.append(lf)
                if i + 1 < data.count, data[i + 1] == lf { i += 1 }
            } else {
                try text.append(b)
            }
            i += 1
        }
        // The text is complete: its bytes stay where they are while the parser appends to `values`.
        var parser = Parser(t: text.bytes, values: result.values)
        result.items = parser.run()
        return result
    }

    /// The line breaks (LF, CRLF, lone CR) in `bytes`.
    private static func lineBreaks(_ bytes: ByteSlice) -> Int {
        var count = 0
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == lf {
                count += 1
            } else if bytes[i] == cr {
                count += 1
                if i + 1 < bytes.endIndex, bytes[i + 1] == lf { i += 1 }
            }
            i += 1
        }
        return count
    }

    /// The offset of the first byte that is not well-formed UTF-8 (as Python's decoder judges it), or nil.
    private static func firstInvalidUTF8(_ data: UnsafeBufferPointer<UInt8>) -> Int? {
        let ok = Bytes.isUTF8(UnsafeRawBufferPointer(data))
        if ok { return nil }
        // Rare: find where, one scalar at a time.
        var i = 0
        while i < data.count {
            let b = data[i]
            let len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            let end = min(i + len, data.count)
            let good = end - i == len && Bytes.isUTF8(data[i..<end].raw)
            if !good { return i }
            i = end
        }
        return nil
    }

    /// A port of python-dotenv's `Reader`/`parse_binding` over the translated text.
    private struct Parser {
        let t: UnsafeBufferPointer<UInt8>
        let values: PlainBuffer
        var pos = 0
        var line = 1

        struct Failure: Error { let message: String }

        /// Runs `body`, which appends to `values`; guarded memory that cannot be had (out of
        /// memory) fails the line, naming the key.
        func appending(_ key: String, _ body: () throws -> Void) throws(Failure) {
            do { try body() } catch { throw Failure(message: "\(Validate.visible(key)): out of memory while reading the value") }
        }

        init(t: UnsafeBufferPointer<UInt8>, values: PlainBuffer) { self.t = t; self.values = values }

        var n: Int { t.count }

        mutating func run() -> [Statement] {
            var items: [Statement] = []
            while pos < n {
                skipSpaces(newlines: true)  // _multiline_whitespace
                if pos >= n { break }
                let start = line
                do {
                    if let s = try statement() {
                        items.append(.binding(Binding(key: s.key, value: s.value, line: start)))
                    }
                } catch {
                    items.append(.unparsable(line: start, message: error.message + "; python-dotenv skips this line"))
                    restOfLine()
                }
            }
            return items
        }

        /// `parse_binding` after the leading white space: nil for a comment.
        mutating func statement() throws(Failure) -> (key: String, value: Range<Int>?)? {
            // _export: `export` and at least one blank
            if n - pos > 6, t[pos..<pos + 6].elementsEqual("export".utf8), t[pos + 6] != lf, spaceLength(pos + 6) > 0 {
                pos += 6
                skipSpaces(newlines: false)
            }
            // parse_key
            var key: String?
            if pos < n, t[pos] == hash {
                key = nil
            } else if pos < n, t[pos] == squote {
                guard pos + 1 < n, t[pos + 1] != squote, let close = nextKeyQuote(from: pos + 1) else {
                    throw Failure(message: "the quoted key is empty or never closed")
                }
                key = String(decoding: t[(pos + 1)..<close], as: UTF8.self)
                advance(to: close + 1)
            } else {
                let s = pos
                while pos < n, t[pos] != equals, t[pos] != hash, spaceLength(pos) == 0 { pos += scalarLength(pos) }
                guard pos > s else { throw Failure(message: "expected KEY=value") }
                key = String(decoding: t[s..<pos], as: UTF8.self)
            }
            skipSpaces(newlines: false)
            var value: Range<Int>?
            var quoted = false
            if pos < n, t[pos] == equals {
                pos += 1
                let afterEquals = pos
                skipSpaces(newlines: false)
                let here = values.bytes.count
                if pos > afterEquals, pos < n, t[pos] == hash {
                    value = here..<here  // `KEY= # comment` is empty
                } else {
                    quoted = pos < n && (t[pos] == squote || t[pos] == dquote)
                    value = try parseValue(key: key ?? "")
                }
            }
            // _comment: blanks, then `#` and the rest of the line (optional)
            let save = pos
            skipSpaces(newlines: false)
            if pos < n, t[pos] == hash {
                while pos < n, t[pos] != lf { pos += 1 }
            } else {
                pos = save
            }
            // _end_of_line
            skipSpaces(newlines: false)
            if pos < n {
                guard t[pos] == lf else {
                    let k = Validate.visible(key ?? "")
                    throw Failure(
                        message: quoted
                            ? "\(k): unexpected text after the closing quote"
                            : value == nil ? "expected KEY=value" : "\(k): unexpected text after the value")
                }
                pos += 1
                line += 1
            }
            return key.map { (key: $0, value: value) }
        }

        /// `parse_value`: appends the value to `values` and returns where it lies.
        mutating func parseValue(key: String) throws(Failure) -> Range<Int> {
            let start = values.bytes.count
            guard pos < n, t[pos] != lf else { return start..<start }
            let q = t[pos]
            if q == squote || q == dquote {
                guard let close = closingQuote(q, openedAt: pos) else {
                    throw Failure(
                        message: "\(Validate.visible(key)): the \(q == squote ? "single" : "double")-quoted value is never closed")
                }
                let range = (pos + 1)..<close
                try appending(key) { try decode(range, double: q == dquote) }
                advance(to: close + 1)
                return start..<values.bytes.count
            }
            // Unquoted: the rest of the line, less a white-space-then-# comment, less trailing white space.
            let s = pos
            var kept = s  // the end of the last character that is not white space, before any comment
            var run = -1  // where the current run of white space started
            var cut = false
            while pos < n, t[pos] != lf {
                if cut { pos += 1; continue }
                let w = spaceLength(pos)
                if w > 0 {
                    if run < 0 { run = pos }
                    pos += w
                    continue
                }
                if t[pos] == hash, run >= 0 { cut = true; continue }
                run = -1
                pos += scalarLength(pos)
                kept = pos
            }
            try appending(key) { try values.append(contentsOf: t[s..<kept]) }
            return start..<values.bytes.count
        }

        /// Appends the quoted text with python-dotenv's escapes decoded: `\\` and `\'` in single
        /// quotes; those and `\" \a \b \f \n \r \t \v` in double quotes; any other backslash stays.
        mutating func decode(_ range: Range<Int>, double: Bool) throws {
            var i = range.lowerBound
            while i < range.upperBound {
                let b = t[i]
                if b == backslash, i + 1 < range.upperBound {
                    let e = t[i + 1]
                    var d: UInt8?
                    switch e {
                    case backslash, squote: d = e
                    case dquote where double: d = e
                    case UInt8(ascii: "a") where double: d = 0x07
                    case UInt8(ascii: "b") where double: d = 0x08
                    case UInt8(ascii: "f") where double: d = 0x0C
                    case UInt8(ascii: "n") where double: d = lf
                    case UInt8(ascii: "r") where double: d = cr
                    case UInt8(ascii: "t") where double: d = tab
                    case UInt8(ascii: "v") where double: d = 0x0B
                    default: d = nil
                    }
                    if let d {
                        try values.append(d)
                        i += 2
                        continue
                    }
                }
                try values.append(b)
                i += 1
            }
        }

        /// The closing quote of a value opened at `p`: `'((?:\\.|[^'\\])*)'` (and the same for `"`):
        /// a backslash takes the next character, whatever it is; the first quote not so taken closes.
        /// Linear over a file: a scan that finds nothing runs to the end, and then no later quote
        /// of that kind opens a value (it would have closed this one), so it happens once.
        func closingQuote(_ q: UInt8, openedAt p: Int) -> Int? {
            var i = p + 1
            while i < n {
                let b = t[i]
                if b == backslash { i += 2; continue }
                if b == q { return i }
                i += 1
            }
            return nil
        }

        /// The next `'` at or after `from` (a quoted key has no escapes).
        func nextKeyQuote(from: Int) -> Int? {
            var i = from
            while i < n, t[i] != squote { i += 1 }
            return i < n ? i : nil
        }

        /// Moves to `end`, counting the line breaks passed.
        mutating func advance(to end: Int) {
            while pos < end {
                if t[pos] == lf { line += 1 }
                pos += 1
            }
        }

        /// Skips Python white space; line breaks too when `newlines` (`\s*` against `[^\S\r\n]*`).
        mutating func skipSpaces(newlines: Bool) {
            while pos < n {
                if t[pos] == lf {
                    guard newlines else { return }
                    line += 1
                    pos += 1
                    continue
                }
                let w = spaceLength(pos)
                if w == 0 { return }
                pos += w
            }
        }

        /// `_rest_of_line`: where python-dotenv resumes after a statement it cannot parse.
        mutating func restOfLine() {
            while pos < n, t[pos] != lf { pos += 1 }
            if pos < n { pos += 1; line += 1 }
        }

        func scalarLength(_ i: Int) -> Int { DotEnv.scalarLength(t, i) }
        func spaceLength(_ i: Int) -> Int { DotEnv.spaceLength(t, i) }
    }

    /// The length of the UTF-8 character at `i` (the text is known to be valid UTF-8).
    private static func scalarLength(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let b = t[i]
        return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
    }

    /// The length of the white-space character at `i`, or 0: Python's `\s` (`str.isspace`):
    /// U+0009..U+000D, U+001C..U+0020, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
    /// U+2029, U+202F, U+205F, U+3000.
    private static func spaceLength(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let n = t.count
        switch t[i] {
        case 0x09...0x0D, 0x1C...0x20: return 1
        case 0xC2: return i + 1 < n && (t[i + 1] == 0x85 || t[i + 1] == 0xA0) ? 2 : 0
        case 0xE1: return i + 2 < n && t[i + 1] == 0x9A && t[i + 2] == 0x80 ? 3 : 0
        case 0xE2:
            guard i + 2 < n else { return 0 }
            let b1 = t[i + 1], b2 = t[i + 2]
            if b1 == 0x80, (0x80...0x8A).contains(b2) || b2 == 0xA8 || b2 == 0xA9 || b2 == 0xAF { return 3 }
            return b1 == 0x81 && b2 == 0x9F ? 3 : 0
        case 0xE3: return i + 2 < n && t[i + 1] == 0x80 && t[i + 2] == 0x80 ? 3 : 0
        default: return 0
        }
    }

    // MARK: - `${NAME}` and `${NAME:-default}`

    /// One `${NAME}` or `${NAME:-default}` in a value, as python-dotenv's `_posix_variable`
    /// (`\$\{([^}:]*)(?::-([^}]*))?\}`) finds it. Ranges are offsets into the value.
    public struct Variable: Equatable {
        public var range: Range<Int>
        public var name: Range<Int>
        public var defaultValue: Range<Int>?
    }

    /// The variables python-dotenv expands in `value` (when interpolation is on, as in
    /// `load_dotenv`, `dotenv_values` and Flask), left to right.
    public static func variables<C: RandomAccessCollection>(in value: C) -> [Variable] where C.Element == UInt8, C.Index == Int {
        var found: [Variable] = []
        let base = value.startIndex, end = value.endIndex
        var i = base
        while i + 1 < end {
            guard value[i] == dollar, value[i + 1] == lbrace else { i += 1; continue }
            var j = i + 2
            while j < end, value[j] != rbrace, value[j] != UInt8(ascii: ":") { j += 1 }
            if j < end, value[j] == rbrace {
                found.append(Variable(range: (i - base)..<(j + 1 - base), name: (i + 2 - base)..<(j - base), defaultValue: nil))
                i = j + 1
                continue
            }
            if j + 1 < end, value[j] == UInt8(ascii: ":"), value[j + 1] == UInt8(ascii: "-") {
                var k = j + 2
                while k < end, value[k] != rbrace { k += 1 }
                if k < end {
                    found.append(
                        Variable(
                            range: (i - base)..<(k + 1 - base), name: (i + 2 - base)..<(j - base),
                            defaultValue: (j + 2 - base)..<(k - base)))
                    i = k + 1
                    continue
                }
            }
            i += 1
        }
        return found
    }

    // MARK: - Import

    /// What import does with a value that holds `${...}`, which python-dotenv expands when the
    /// application loads the file.
    public enum Variables: Sendable {
        /// The line is a bad entry that names the two choices below.
        case refuse
        /// Expanded as python-dotenv does, from the keys earlier in the same file only: a name
        /// not defined there is refused (the application's environment is not Keyhold's to guess).
        case expand
        /// Stored as written.
        case literal
    }

    /// What an import of a .env file gets.
    public struct Read {
        /// The values the application sees, one per key (the last binding of a key wins), and the bad lines.
        public var source = SourceRead()
        /// Not errors, for the report: keys given more than once, keys without a value.
        public var notes: [BadEntry] = []
        /// Set when python-dotenv cannot read the file at all; then nothing else is.
        public var unreadable: BadEntry?
    }

    /// Reads a .env file into the values the application gets from python-dotenv: each key's
    /// last value, `${...}` handled as `variables` says. A statement python-dotenv cannot parse,
    /// and a value that cannot be stored as the application sees it, is a bad entry of its line.
    public static func read(_ data: [UInt8], variables policy: Variables) throws -> Read {
        try data.withUnsafeBufferPointer { try read($0, variables: policy) }
    }

    /// `read` of bytes where they lie (a file read into guarded memory).
    public static func read(_ data: UnsafeBufferPointer<UInt8>, variables policy: Variables) throws -> Read {
        var read = Read()
        let st = try statements(data)
        if let u = st.unreadable { read.unreadable = u; return read }

        var lastIndex: [String: Int] = [:], lines: [String: [Int]] = [:]
        for (i, item) in st.items.enumerated() {
            if case .binding(let b) = item {
                lastIndex[b.key] = i
                lines[b.key, default: []].append(b.line)
            }
        }
        // The value of each key so far, as python-dotenv resolves them in order.
        enum Known { case noValue, value(Range<Int>), failed(line: Int) }
        var known: [String: Known] = [:]
        let resolved = PlainBuffer()

        for (i, item) in st.items.enumerated() {
            let b: Binding
            switch item {
            case .unparsable(let line, let message):
                read.source.add(BadEntry(origin: "line \(line)", message: message))
                continue
            case .binding(let binding): b = binding
            }
            let isLast = lastIndex[b.key] == i
            let origin = "line \(b.line)"
            let key = Validate.visible(b.key)
            if isLast, let all = lines[b.key], all.count > 1 {
                let others = all.dropLast().map(String.init).joined(separator: ", ")
                read.notes.append(
                    BadEntry(
                        origin: origin,
                        message: b.value == nil
                            ? "\(key) is given \(all.count) times (also at line \(others)); the last has no value, so python-dotenv gives the application none and it is not imported"
                            : "\(key) is given \(all.count) times (also at line \(others)); the value here, the last, is what python-dotenv gives the application and is imported"
                    ))
            }
            guard let raw = b.value else {
                known[b.key] = .noValue
                if isLast, lines[b.key]?.count == 1 {
                    read.notes.append(
                        BadEntry(origin: origin, message: "\(key) has no `=`, so python-dotenv gives it no value; not imported"))
                }
                continue
            }
            let value = st.value(raw)
            let found = variables(in: value)
            let start = resolved.bytes.count
            var failure: String?
            if found.isEmpty || policy == .literal {
                try resolved.append(contentsOf: value)
            } else if policy == .refuse {
                failure =
                    "\(key): the value holds ${...}, which python-dotenv expands when the application loads the file; "
                    + "import with --expand (resolved from keys earlier in this file) or --literal (stored as written)"
            } else {
                var cursor = 0
                for v in found {
                    try resolved.append(contentsOf: value[(value.startIndex + cursor)..<(value.startIndex + v.range.lowerBound)])
                    cursor = v.range.upperBound
                    let name = String(
                        decoding: value[(value.startIndex + v.name.lowerBound)..<(value.startIndex + v.name.upperBound)], as: UTF8.self)
                    if name.isEmpty {
                        // No key and no environment variable has an empty name: python-dotenv takes the default.
                        if let d = v.defaultValue {
                            try resolved.append(contentsOf: value[(value.startIndex + d.lowerBound)..<(value.startIndex + d.upperBound)])
                        }
                        continue
                    }
                    switch known[name] {
                    case .noValue?: break  // a bare KEY expands to "", default or not
                    case .value(let r)?:
                        // Index by index: a slice of the buffer held across its own append would copy it unwiped.
                        for k in r { try resolved.append(resolved.bytes[k]) }
                    case .failed(let line)?:
                        failure = "\(key): its ${...} refers to the key at line \(line), which could not be resolved"
                    case nil:
                        failure =
                            "\(key): its ${...} names no key defined earlier in this file; python-dotenv would take it from "
                            + "the application's environment (or the default), which Keyhold does not guess; define it earlier, or import with --literal"
                    }
                    if failure != nil { break }
                }
                if failure == nil { try resolved.append(contentsOf: value[(value.startIndex + cursor)...]) }
            }
            if let failure {
                known[b.key] = .failed(line: b.line)
                read.source.add(BadEntry(origin: origin, message: failure))
                continue
            }
            let range = start..<resolved.bytes.count
            known[b.key] = .value(range)
            if isLast { try read.source.add(key: b.key, value: resolved.bytes[range], origin: origin) }
        }
        return read
    }

    /// Bytes in, entries and bad lines out: `read` with `${...}` refused, and a file python-dotenv
    /// cannot read as a single bad entry.
    public static func parse(_ data: [UInt8]) throws -> SourceRead {
        try data.withUnsafeBufferPointer { try parse($0) }
    }

    /// `parse` of bytes where they lie.
    public static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> SourceRead {
        let r = try read(data, variables: .refuse)
        if let u = r.unreadable {
            var s = SourceRead()
            s.add(u)
            return s
        }
        return r.source
    }

    // MARK: - Export

    /// The .env key for a secret name: upper-cased, every character but ASCII letters and digits
    /// (so `/`, `.` and `-` too) as `_`, and `_` in front of a leading digit.
    public static func key(for name: String) -> String {
        var key = String(
            name.uppercased().unicodeScalars.map { s -> Character in
                (s.isASCII && (("A"..."Z").contains(s) || ("0"..."9").contains(s))) ? Character(s) : "_"
            })
        if let first = key.unicodeScalars.first, ("0"..."9").contains(first) { key = "_" + key }
        return key
    }

    /// The comment that opens an exported file (and says how `${` was written, when that was chosen).
    public static func header(count: Int?, interpolate: Bool? = nil) -> String {
        let what = count.map { "\($0) secret value\($0 == 1 ? "" : "s")" } ?? "secret values"
        var s = "# Exported from Keyhold: \(what) in plaintext. Delete this file when done.\n"
        switch interpolate {
        case true?: s += "# Written for python-dotenv with interpolation on (load_dotenv, Flask): a literal ${ is written ${:-$}{.\n"
        case false?: s += "# Written for python-dotenv with interpolation off (interpolate=False): ${...} is as stored.\n"
        case nil: break
        }
        return s
    }

    /// Why `appendLine` cannot write `value` so that python-dotenv reads it back byte for byte,
    /// or nil. `interpolate` is how the file will be read: nil when not said, and then a value
    /// holding `${...}` is refused (no spelling reads back the same with interpolation on and off).
    public static func exportProblem(_ value: UnsafeRawBufferPointer, interpolate: Bool?) -> String? {
        guard Bytes.isUTF8(value) else { return "is not UTF-8 text, which python-dotenv cannot read; export it as json" }
        if value.contains(0) { return "holds a NUL byte, which no environment variable can hold; export it as json" }
        if interpolate == nil, !variables(in: value).isEmpty {
            return "holds ${...}, which python-dotenv expands when interpolation is on (the default of load_dotenv, "
                + "dotenv_values and Flask) and keeps when it is off, so no one spelling reads back the same both ways; "
                + "give --interpolate (written to expand to the value) or --no-interpolate (written as is)"
        }
        return nil
    }

    /// Writes one `KEY=value` line that python-dotenv reads back as `value` (UTF-8 without NUL:
    /// see `exportProblem`): `'value'` when it has no quote, backslash or control character;
    /// unquoted when it ends in a backslash and needs nothing else (python-dotenv before 1.2.3
    /// misread a quoted one); else `"double quoted"` with `\\ \" \n \r \t \a \b \f \v` escaped
    /// (CR must be: a raw one is a line break to python-dotenv). With `interpolate`, every `${`
    /// of a value that python-dotenv would expand is written `${:-$}{`, which expands to `${`.
    public static func appendLine(key: String, value: UnsafeRawBufferPointer, interpolate: Bool = false, to out: PlainBuffer) throws {
        if interpolate, !variables(in: value).isEmpty {
            // In guarded memory: it grows by five bytes per `${`, and an Array would leave copies as it grew.
            let protected = try PlainBuffer(capacity: value.count + 16)
            var i = 0
            while i < value.count {
                if i + 1 < value.count, value[i] == dollar, value[i + 1] == lbrace {
                    try protected.append(contentsOf: "${:-$}{".utf8)
                    i += 2
                } else {
                    try protected.append(value[i])
                    i += 1
                }
            }
            try appendLine(key: key, value: UnsafeRawBufferPointer(protected.bytes), interpolate: false, to: out)
            return
        }
        try out.append(key)
        try out.append(equals)
        if !value.contains(where: { $0 == squote || $0 == backslash || $0 < 0x20 }) {
            try out.append(squote)
            try out.append(contentsOf: value)
            try out.append(squote)
        } else if value.last == backslash, unquotedReadsBack(value) {
            try out.append(contentsOf: value)
        } else {
            try out.append(dquote)
            for b in value {
                switch b {
                case backslash: try out.append("\\\\")
                case dquote: try out.append("\\\"")
                case lf: try out.append("\\n")
                case cr: try out.append("\\r")
                case tab: try out.append("\\t")
                case 0x07: try out.append("\\a")
                case 0x08: try out.append("\\b")
                case 0x0C: try out.append("\\f")
                case 0x0B: try out.append("\\v")
                default: try out.append(b)
                }
            }
            try out.append(dquote)
        }
        try out.append(lf)
    }

    /// Whether python-dotenv reads `value` unquoted as itself: one line, not starting with a quote
    /// or white space, not ending in white space, and no white space followed by `#`.
    private static func unquotedReadsBack(_ value: UnsafeRawBufferPointer) -> Bool {
        guard let first = value.first, first != squote, first != dquote else { return false }
        let t = value.assumingMemoryBound(to: UInt8.self)
        var i = 0
        var previousSpace = false
        while i < t.count {
            if t[i] == lf || t[i] == cr { return false }
            let w = spaceLength(t, i)
            if w > 0 {
                if i == 0 { return false }
                previousSpace = true
                i += w
                if i == t.count { return false }
                continue
            }
            if t[i] == hash, previousSpace { return false }
            previousSpace = false
            i += scalarLength(t, i)
        }
        return true
    }
}
