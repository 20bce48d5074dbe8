import Foundation
import KeyholdCore

/// JSON, the documented shape:
///
///     {"secrets": [{"name": "app/db", "value": "text", "description": "optional"},
///                  {"name": "app/key", "value_base64": "AAEC..."}]}
///
/// `value` is UTF-8 text; `value_base64` (standard base64) carries any bytes; exactly one of the two.
/// A flat object `{"NAME": "value", ...}` (every value a string) is accepted too. Other keys in an
/// entry are refused (a misspelt `vaule` must not import an empty secret).
public enum JSONEntries {
    /// Reads either shape; throws (field `source`) only when the text is not JSON or not one of the shapes
    /// (or repeats a key of the top-level object of the `secrets` shape), and names any other problem as a
    /// bad entry by its index and name: a key given twice in one entry's object makes the entry bad.
    public static func parse(_ data: [UInt8]) throws -> SourceRead {
        try data.withUnsafeBufferPointer { try parse($0) }
    }

    /// `parse` of bytes where they lie (a file read into guarded memory). Values go from the
    /// parse's guarded buffer to the result's; a `value_base64` is decoded from one to the other.
    public static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> SourceRead {
        let document: StrictJSON.Document
        do { document = try StrictJSON.parse(data) } catch {
            throw sourceError("not valid JSON (or not UTF-8): \(error)")
        }
        guard case .object(let top) = document.root else {
            throw sourceError(#"JSON: the top level must be an object: {"secrets": [...]} or {"NAME": "value", ...}"#)
        }
        var result = SourceRead()
        if case .array(let list)? = document.root["secrets"] {
            let repeated = try repeatedKeys(document, inList: "secrets")
            for (index, item) in list.enumerated() {
                let origin = "secrets[\(index)]"
                func bad(_ m: String) { result.add(BadEntry(origin: origin, message: m)) }
                guard case .object(let members) = item else { bad("must be an object with name and value"); continue }
                let named = document.string(item["name"])
                if let d = repeated[index] {
                    result.add(
                        BadEntry(
                            origin: named.map { "\(origin) (\(Validate.visible($0)))" } ?? origin,
                            message: repeatedKey(d, entryDepth: 2)))
                    continue
                }
                guard let name = named else { bad("name is missing or not a string"); continue }
                let origin2 = "\(origin) (\(Validate.visible(name)))"
                if let extra = members.map(\.key).sorted().first(where: { !["name", "value", "value_base64", "description"].contains($0) })
                {
                    result.add(
                        BadEntry(
                            origin: origin2,
                            message: "unknown key \"\(Validate.visible(extra))\" (known: name, value, value_base64, description)"))
                    continue
                }
                var description = ""
                if let d = item["description"] {
                    guard let s = document.string(d) else {
                        result.add(BadEntry(origin: origin2, message: "description must be a string")); continue
                    }
                    description = s
                }
                switch (item["value"], item["value_base64"]) {
                case (let v?, nil):
                    guard let bytes = document.bytes(v) else {
                        result.add(BadEntry(origin: origin2, message: "value must be a string")); continue
                    }
                    try result.add(key: name, value: bytes, description: description, origin: origin2)
                case (nil, let v?):
                    guard let text = document.bytes(v), try result.add(key: name, base64: text, description: description, origin: origin2)
                    else {
                        result.add(BadEntry(origin: origin2, message: "value_base64 must be a string of standard base64")); continue
                    }
                case (nil, nil): result.add(BadEntry(origin: origin2, message: "needs value or value_base64"))
                default: result.add(BadEntry(origin: origin2, message: "give value or value_base64, not both"))
                }
            }
        } else {
            // Flat: every top-level key is an entry. A name given twice, or a repeated key inside its value, makes it bad.
            var repeated: [String: StrictJSON.Duplicate] = [:]
            for d in document.duplicates {
                let name: String
                if d.path.isEmpty { name = d.key } else if case .key(let k) = d.path[0] { name = k } else { continue }
                if repeated[name] == nil { repeated[name] = d }
            }
            var seen = Set<String>()
            for member in top.sorted(by: { $0.key < $1.key }) where seen.insert(member.key).inserted {
                let name = member.key
                let origin = "entry \"\(Validate.visible(name))\""
                if let d = repeated[name] {
                    result.add(
                        BadEntry(
                            origin: origin,
                            message: d.path.isEmpty
                                ? "the name is given twice in the object (lines \(d.firstLine) and \(d.line)); give it once"
                                : repeatedKey(d, entryDepth: 1)))
                    continue
                }
                guard let bytes = document.bytes(member.value) else {
                    result.add(BadEntry(origin: origin, message: #"the value must be a string (or use the {"secrets": [...]} shape)"#))
                    continue
                }
                try result.add(key: name, value: bytes, origin: origin)
            }
        }
        return result
    }

    /// The message for a key repeated in an entry (`entryDepth`: the length of the entry object's path).
    /// For a document whose entries are the list under the top-level `list` key: throws for a
    /// key given twice in the top-level object; else the first repeated key inside each entry,
    /// by the entry's index.
    static func repeatedKeys(_ document: StrictJSON.Document, inList list: String) throws -> [Int: StrictJSON.Duplicate] {
        if let d = document.duplicates.first(where: { $0.path.isEmpty }) {
            throw sourceError(
                "JSON: the key \"\(Validate.visible(d.key))\" appears twice in the top-level object "
                    + "(lines \(d.firstLine) and \(d.line)); give it once")
        }
        var repeated: [Int: StrictJSON.Duplicate] = [:]
        for d in document.duplicates where d.path.count >= 2 && d.path[0] == .key(list) {
            if case .index(let n) = d.path[1], repeated[n] == nil { repeated[n] = d }
        }
        return repeated
    }

    static func repeatedKey(_ d: StrictJSON.Duplicate, entryDepth: Int) -> String {
        "the key \"\(Validate.visible(d.key))\" appears twice"
            + (d.path.count > entryDepth ? " in one object" : "")
            + " (lines \(d.firstLine) and \(d.line)); give it once"
    }

    // MARK: Writing, one entry at a time

    /// Opens the document: `{"secrets": [`.
    public static func begin(to out: PlainBuffer) throws { try out.append("{\n  \"secrets\": [") }

    /// Writes the `index`-th entry (from 0): `value` as text when it is UTF-8, else as `value_base64`.
    public static func appendEntry(index: Int, name: String, value: UnsafeRawBufferPointer, description: String, to out: PlainBuffer) throws
    {
        try out.append(index == 0 ? "\n    {\"name\": " : ",\n    {\"name\": ")
        try appendString(name, to: out)
        if Bytes.isUTF8(value) {
            try out.append(", \"value\": ")
            try appendString(value, to: out)
        } else {
            try out.append(", \"value_base64\": \"")
            var encoded = Array(Data(value).base64EncodedData())
            try out.append(contentsOf: encoded)
            Bytes.wipe(&encoded)
            try out.append("\"")
        }
        try out.append(", \"description\": ")
        try appendString(description, to: out)
        try out.append("}")
    }

    /// Closes the document after `count` entries.
    public static func end(count: Int, to out: PlainBuffer) throws { try out.append(count == 0 ? "]\n}\n" : "\n  ]\n}\n") }

    /// Appends a JSON string literal of `bytes` (valid UTF-8) to `out`.
    public static func appendString(_ bytes: UnsafeRawBufferPointer, to out: PlainBuffer) throws {
        try out.append(UInt8(ascii: "\""))
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""): try out.append("\\\"")
            case UInt8(ascii: "\\"): try out.append("\\\\")
            case 0x0A: try out.append("\\n")
            case 0x0D: try out.append("\\r")
            case 0x09: try out.append("\\t")
            case 0x08: try out.append("\\b")
            case 0x0C: try out.append("\\f")
            case 0..<0x20: try out.append("\\u00"); try out.append(hex[Int(b >> 4)]); try out.append(hex[Int(b & 0xF)])
            default: try out.append(b)
            }
        }
        try out.append(UInt8(ascii: "\""))
    }

    public static func appendString(_ s: String, to out: PlainBuffer) throws {
        let bytes = Array(s.utf8)
        try bytes.withUnsafeBytes { try appendString($0, to: out) }
    }
}
