import KeyholdCore

/// `.env` files: `KEY=value` lines.
///
/// - blank lines and lines starting with `#` are skipped; `export KEY=value` is accepted;
/// - `'single quoted'` values are literal (and may span lines);
/// - `"double quoted"` values may span lines and know the escapes `\n`, `\r`, `\t`, `\"`, `\'` and `\\`
///   (any other backslash is kept as it is);
/// - unquoted values end at the end of the line or at a `#` that follows white space (a comment),
///   and are trimmed;
/// - nothing is interpolated: `${OTHER}` is kept as typed.
/// A line that is none of these is a bad entry named by its line number.
public enum DotEnv {
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
    private static let hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), squote = UInt8(ascii: "'"), dquote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    /// Reads every entry; a line that is none of the forms above is a bad entry (never an error for the whole file).
    public static func parse(_ data: [UInt8]) -> SourceRead {
        var result = SourceRead()
        let n = data.count
        var i = 0
        var line = 1
        if n >= 3, data[0] == 0xEF, data[1] == 0xBB, data[2] == 0xBF { i = 3 }   // a UTF-8 byte order mark

        func isBlank(_ b: UInt8) -> Bool { b == space || b == tab || b == cr }
        func skipBlanks() { while i < n, isBlank(data[i]) { i += 1 } }
        func skipLine() {
            while i < n, data[i] != lf { i += 1 }
            if i < n { i += 1; line += 1 }
        }

        while i < n {
            let start = line
            skipBlanks()
            if i >= n { break }
            if data[i] == lf { i += 1; line += 1; continue }
            if data[i] == hash { skipLine(); continue }
            if n - i > 7, data[i..<i + 6].elementsEqual("export".utf8), data[i + 6] == space || data[i + 6] == tab {
                i += 6
                skipBlanks()
            }
            let keyStart = i
            while i < n, data[i] != equals, data[i] != lf, !isBlank(data[i]) { i += 1 }
            let key = String(decoding: data[keyStart..<i], as: UTF8.self)
            skipBlanks()
            guard !key.isEmpty, i < n, data[i] == equals else {
                result.add(BadEntry(origin: "line \(start)", message: "expected KEY=value"))
                skipLine()
                continue
            }
            i += 1
            skipBlanks()
            let value = PlainBuffer()
            if i < n, data[i] == squote || data[i] == dquote {
                let quote = data[i]
                i += 1
                var closed = false
                while i < n {
                    let b = data[i]
                    if b == quote { closed = true; i += 1; break }
                    if quote == dquote, b == backslash, i + 1 < n {
                        let e = data[i + 1]
                        switch e {
                        case UInt8(ascii: "n"): value.append(lf)
                        case UInt8(ascii: "r"): value.append(cr)
                        case UInt8(ascii: "t"): value.append(tab)
                        case dquote, squote, backslash: value.append(e)
                        default: value.append(b); value.append(e)
                        }
                        if e == lf { line += 1 }
                        i += 2
                        continue
                    }
                    if b == lf { line += 1 }
                    value.append(b)
                    i += 1
                }
                guard closed else {
                    let kind = quote == squote ? "single" : "double"
                    result.add(BadEntry(origin: "line \(start)", message: "\(Validate.visible(key)): the \(kind)-quoted value is never closed"))
                    break
                }
                skipBlanks()
                if i < n, data[i] == hash { while i < n, data[i] != lf { i += 1 } }
                if i < n, data[i] != lf {
                    result.add(BadEntry(origin: "line \(line)", message: "\(Validate.visible(key)): unexpected text after the closing quote"))
                    skipLine()
                    continue
                }
            } else {
                let valueStart = i
                var end = i
                while end < n, data[end] != lf {
                    if data[end] == hash, end > valueStart, data[end - 1] == space || data[end - 1] == tab { break }
                    end += 1
                }
                var last = end
                while last > valueStart, isBlank(data[last - 1]) { last -= 1 }
                value.append(contentsOf: data[valueStart..<last])
                i = end
                while i < n, data[i] != lf { i += 1 }
            }
            if i < n { i += 1; line += 1 }   // the newline ending the entry
            result.add(key: key, value: value.bytes, origin: "line \(start)")
        }
        return result
    }

    /// The .env key for a secret name: upper-cased, every character but ASCII letters and digits
    /// (so `/`, `.` and `-` too) as `_`, and `_` in front of a leading digit.
    public static func key(for name: String) -> String {
        var key = String(name.uppercased().unicodeScalars.map { s -> Character in
            (s.isASCII && (("A"..."Z").contains(s) || ("0"..."9").contains(s))) ? Character(s) : "_"
        })
        if let first = key.unicodeScalars.first, ("0"..."9").contains(first) { key = "_" + key }
        return key
    }

    /// The comment that opens an exported file.
    public static func header(count: Int) -> String {
        "# Exported from Keyhold: \(count) secret value\(count == 1 ? "" : "s") in plaintext. Delete this file when done.\n"
    }

    /// Whether `appendLine` can carry the value: UTF-8 text with no control character but tab, LF and CR.
    public static func canCarry(_ value: UnsafeRawBufferPointer) -> Bool {
        Bytes.scalars(value) { $0 >= 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
    }

    /// Writes one `KEY=value` line: single-quoted when the value has no `'` and no control
    /// characters (literal for every .env reader and for a shell), else double-quoted with
    /// `\n`, `\r`, `\t`, `\"` and `\\` escaped. Values must be UTF-8 text.
    public static func appendLine(key: String, value: UnsafeRawBufferPointer, to out: PlainBuffer) {
        out.append(key)
        out.append(equals)
        let plain = !value.contains { $0 == squote || $0 < 0x20 || $0 == 0x7F }
        if plain {
            out.append(squote)
            out.append(contentsOf: value)
            out.append(squote)
        } else {
            out.append(dquote)
            for b in value {
                switch b {
                case lf: out.append("\\n")
                case cr: out.append("\\r")
                case tab: out.append("\\t")
                case dquote: out.append("\\\"")
                case backslash: out.append("\\\\")
                default: out.append(b)
                }
            }
            out.append(dquote)
        }
        out.append(lf)
    }
}
