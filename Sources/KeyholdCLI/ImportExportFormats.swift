import ArgumentParser
import Foundation
import KeyholdCore

// Shared pieces of `keyhold import` / `keyhold export`, and the .env and JSON
// formats. Plaintext is handled as bytes (SecureBytes, or [UInt8] buffers that
// are wiped), never put in an error message.

/// The formats `import` and `export` speak.
enum TransferFormat: String, ExpressibleByArgument, CaseIterable {
    case dotenv, json, pass, keepassxc

    /// Whether the format is one file (so `-` can mean stdin or stdout).
    var isFile: Bool { self != .pass }
}

/// One entry read from a source, before the prefix is applied and it is validated.
struct SourceEntry {
    /// The name as the source gives it (a .env key, a JSON name, a path in a pass store, a KeePass group path and title).
    var key: String
    /// Where the value lies in the source's value arena (`SourceRead.values`).
    var value: Range<Int>
    var description: String = ""
    /// Where it came from, for messages: `line 12`, `secrets[3]`, `file web/git.gpg`, `entry at line 40`.
    var origin: String
    /// Position in the source, to list problems in source order.
    var seq = 0
}

/// An entry that cannot be imported: where, and why (never its value).
struct BadEntry {
    var origin: String
    var message: String
    var seq = 0
}

/// What a source yielded: the good entries and the bad ones, each in source order.
struct SourceRead {
    private(set) var entries: [SourceEntry] = []
    private(set) var bad: [BadEntry] = []
    /// Every value, one after another, wiped when released. One buffer, not one
    /// guarded allocation per value: a large import would exhaust locked memory.
    let values = PlainBuffer()
    private var count = 0

    /// Adds an entry whose value is `value` (copied into the arena).
    mutating func add<C: Collection>(key: String, value: C, description: String = "", origin: String) where C.Element == UInt8 {
        let start = values.bytes.count
        values.append(contentsOf: value)
        var e = SourceEntry(key: key, value: start..<values.bytes.count, description: description, origin: origin)
        e.seq = count
        count += 1
        entries.append(e)
    }
    mutating func add(_ b: BadEntry) { var b = b; b.seq = count; count += 1; bad.append(b) }
}

/// A file system or tool failure (exit 1), with a message for a person.
struct TransferFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A usage error (exit 64) with a message for a person.
func usageError(_ field: String, _ message: String) -> KeyholdError {
    .invalid(KeyholdCore.ValidationError(field: field, rule: "usage", message: message))
}

// MARK: - Bytes

/// A growable plaintext buffer that is wiped when released.
final class PlainBuffer {
    var bytes: [UInt8] = []
    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }
    deinit { wipe(&bytes) }

    /// Wipes the bytes and empties the buffer, keeping its capacity.
    func clear() {
        bytes.withUnsafeMutableBytes { b in if let base = b.baseAddress { explicit_bzero(base, b.count) } }
        bytes.removeAll(keepingCapacity: true)
    }

    func append(_ s: String) { bytes.append(contentsOf: Array(s.utf8)) }
    func append(_ b: UInt8) { bytes.append(b) }
    func append<C: Collection>(contentsOf c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
}

enum Bytes {
    /// Whether the bytes are well-formed UTF-8 (no overlong forms, no surrogates), checked without making a String.
    static func isUTF8(_ b: UnsafeRawBufferPointer) -> Bool { scalars(b) { _ in true } }

    /// Walks the UTF-8 scalars of `b`, stopping (false) at malformed input or when `visit` returns false.
    static func scalars(_ b: UnsafeRawBufferPointer, _ visit: (UInt32) -> Bool) -> Bool {
        var i = 0
        let n = b.count
        while i < n {
            let c0 = UInt32(b[i])
            var scalar: UInt32
            var len: Int
            switch c0 {
            case 0x00...0x7F: scalar = c0; len = 1
            case 0xC2...0xDF: scalar = c0 & 0x1F; len = 2
            case 0xE0...0xEF: scalar = c0 & 0x0F; len = 3
            case 0xF0...0xF4: scalar = c0 & 0x07; len = 4
            default: return false
            }
            guard i + len <= n else { return false }
            for k in 1..<len {
                let c = UInt32(b[i + k])
                guard c & 0xC0 == 0x80 else { return false }
                scalar = (scalar << 6) | (c & 0x3F)
            }
            switch len {
            case 3: if scalar < 0x800 || (0xD800...0xDFFF).contains(scalar) { return false }
            case 4: if scalar < 0x10000 || scalar > 0x10FFFF { return false }
            default: break
            }
            if !visit(scalar) { return false }
            i += len
        }
        return true
    }

    /// Reads a whole file (or stdin for `-`), at most `limit` bytes.
    static func readSource(_ path: String, limit: Int = 64 << 20) throws -> PlainBuffer {
        let fd: Int32 = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            if errno == ENOENT { throw KeyholdError.notFound(kind: "file", name: path) }
            throw TransferFailure("cannot read \(Validate.visible(path)): \(why)")
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            throw usageError("source", "\(Validate.visible(path)) is a directory (only --format pass reads a directory)")
        }
        let out = PlainBuffer(capacity: 64 << 10)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        defer { wipe(&chunk) }
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw TransferFailure("cannot read \(Validate.visible(path)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.bytes.count > limit {
                throw usageError("source", "\(Validate.visible(path)) is larger than \(limit >> 20) MiB")
            }
        }
        return out
    }
}

// MARK: - .env

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
enum DotEnv {
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
    private static let hash = UInt8(ascii: "#"), equals = UInt8(ascii: "="), squote = UInt8(ascii: "'"), dquote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    static func parse(_ data: [UInt8]) -> SourceRead {
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
    static func key(for name: String) -> String {
        var key = String(name.uppercased().unicodeScalars.map { s -> Character in
            (s.isASCII && (("A"..."Z").contains(s) || ("0"..."9").contains(s))) ? Character(s) : "_"
        })
        if let first = key.unicodeScalars.first, ("0"..."9").contains(first) { key = "_" + key }
        return key
    }

    /// Writes one `KEY=value` line: single-quoted when the value has no `'` and no control
    /// characters (literal for every .env reader and for a shell), else double-quoted with
    /// `\n`, `\r`, `\t`, `\"` and `\\` escaped. Values must be UTF-8 text.
    static func appendLine(key: String, value: UnsafeRawBufferPointer, to out: PlainBuffer) {
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

// MARK: - JSON

/// JSON, the documented shape:
///
///     {"secrets": [{"name": "app/db", "value": "text", "description": "optional"},
///                  {"name": "app/key", "value_base64": "AAEC..."}]}
///
/// `value` is UTF-8 text; `value_base64` (standard base64) carries any bytes; exactly one of the two.
/// A flat object `{"NAME": "value", ...}` (every value a string) is accepted too. Other keys in an
/// entry are refused (a misspelt `vaule` must not import an empty secret).
enum JSONFormat {
    static func parse(_ data: [UInt8]) throws -> SourceRead {
        let object: Any
        var copy = Data(data)
        defer { copy.resetBytes(in: 0..<copy.count) }
        do {
            object = try JSONSerialization.jsonObject(with: copy, options: [])
        } catch {
            throw usageError("source", "not valid JSON (or not UTF-8)\(position(of: error))")
        }
        guard let top = object as? [String: Any] else {
            throw usageError("source", #"JSON: the top level must be an object: {"secrets": [...]} or {"NAME": "value", ...}"#)
        }
        var result = SourceRead()
        if let list = top["secrets"] as? [Any] {
            for (index, item) in list.enumerated() {
                let origin = "secrets[\(index)]"
                func bad(_ m: String) { result.add(BadEntry(origin: origin, message: m)) }
                guard let entry = item as? [String: Any] else { bad("must be an object with name and value"); continue }
                guard let name = entry["name"] as? String else { bad("name is missing or not a string"); continue }
                let origin2 = "\(origin) (\(Validate.visible(name)))"
                if let extra = entry.keys.sorted().first(where: { !["name", "value", "value_base64", "description"].contains($0) }) {
                    result.add(BadEntry(origin: origin2, message: "unknown key \"\(Validate.visible(extra))\" (known: name, value, value_base64, description)"))
                    continue
                }
                var description = ""
                if let d = entry["description"] {
                    guard let s = d as? String else { result.add(BadEntry(origin: origin2, message: "description must be a string")); continue }
                    description = s
                }
                switch (entry["value"], entry["value_base64"]) {
                case (let v?, nil):
                    guard let s = v as? String else { result.add(BadEntry(origin: origin2, message: "value must be a string")); continue }
                    result.add(key: name, value: s.utf8, description: description, origin: origin2)
                case (nil, let v?):
                    guard let s = v as? String, var bytes = Data(base64Encoded: s) else {
                        result.add(BadEntry(origin: origin2, message: "value_base64 must be a string of standard base64")); continue
                    }
                    result.add(key: name, value: bytes, description: description, origin: origin2)
                    bytes.resetBytes(in: 0..<bytes.count)
                case (nil, nil): result.add(BadEntry(origin: origin2, message: "needs value or value_base64"))
                default: result.add(BadEntry(origin: origin2, message: "give value or value_base64, not both"))
                }
            }
        } else {
            for name in top.keys.sorted() {
                let origin = "entry \"\(Validate.visible(name))\""
                guard let s = top[name] as? String else {
                    result.add(BadEntry(origin: origin, message: #"the value must be a string (or use the {"secrets": [...]} shape)"#))
                    continue
                }
                result.add(key: name, value: s.utf8, origin: origin)
            }
        }
        return result
    }

    /// `line L, column C` from a JSONSerialization error when it says so (its wording can quote the input, so only numbers are kept).
    private static func position(of error: any Error) -> String {
        let text = "\(error) \((error as NSError).userInfo)"
        var numbers: [String: String] = [:]
        for word in ["line", "column"] {
            if let r = text.range(of: "\(word) ") {
                let digits = text[r.upperBound...].prefix { $0.isNumber }
                if !digits.isEmpty { numbers[word] = String(digits) }
            }
        }
        guard let l = numbers["line"] else { return "" }
        return " (near line \(l)\(numbers["column"].map { ", column \($0)" } ?? ""))"
    }

    /// Appends a JSON string literal of `bytes` (valid UTF-8) to `out`.
    static func appendString(_ bytes: UnsafeRawBufferPointer, to out: PlainBuffer) {
        out.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): out.append("\\\"")
            case UInt8(ascii: "\\"): out.append("\\\\")
            case 0x0A: out.append("\\n")
            case 0x0D: out.append("\\r")
            case 0x09: out.append("\\t")
            case 0x08: out.append("\\b")
            case 0x0C: out.append("\\f")
            case 0..<0x20: out.append("\\u00"); out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 0xF)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func appendString(_ s: String, to out: PlainBuffer) {
        let bytes = Array(s.utf8)
        bytes.withUnsafeBytes { appendString($0, to: out) }
    }
}
