import Foundation
import KeyholdCore

// The files `user import` reads: an application's accounts with their password hashes.

/// What a user file yielded: accounts to review, and entries already bad in their form.
public struct UserSourceRead {
    public var entries: [AppUserEntry] = []
    public var bad: [BadEntry] = []
    /// Source order of each entry, by its origin (to list the core's rejections in place).
    public var seqByOrigin: [String: Int] = [:]
    private var count = 0

    public init() {}

    /// Adds an account, numbered in source order with the bad entries.
    public mutating func add(_ e: AppUserEntry) { seqByOrigin[e.origin] = count; count += 1; entries.append(e) }
    /// Adds a bad entry, numbered in source order with the accounts.
    public mutating func add(_ b: BadEntry) { var b = b; b.seq = count; count += 1; bad.append(b) }

    /// Roles from one field: separated by `,` or `;`, white space trimmed, empty parts dropped.
    static func roles(_ s: String) -> [String] {
        s.split(whereSeparator: { $0 == "," || $0 == ";" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// CSV (RFC 4180): a header line, comma-separated fields, "double quotes" with "" inside,
/// CRLF or LF line ends. A record is named by the line it starts on.
public enum UserCSV {
    /// The columns a header may name.
    public static let columns = ["username", "email", "display_name", "password_hash", "roles"]

    /// Reads every record; throws (field `source`) when the text is not UTF-8, not CSV, or the header is wrong.
    public static func parse(_ data: [UInt8]) throws -> UserSourceRead {
        try data.withUnsafeBufferPointer { try parse($0) }
    }

    /// `parse` of bytes where they lie. The records are read as Strings: an account file holds
    /// password hashes, names and addresses, which the vault file holds as they are, never passwords.
    public static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> UserSourceRead {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw sourceError("CSV: the file is not UTF-8 text")
        }
        let records = try split(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        guard let header = records.first else { throw sourceError("CSV: the file is empty (it needs a header line)") }
        var index: [String: Int] = [:]
        for (i, name) in header.fields.enumerated() {
            let key = name.trimmingCharacters(in: .whitespaces).lowercased()
            guard columns.contains(key) else {
                throw sourceError(
                    "CSV line \(header.line): unknown column \"\(Validate.visible(key))\" (known: \(columns.joined(separator: ", ")))")
            }
            guard index[key] == nil else { throw sourceError("CSV line \(header.line): column \(key) appears twice") }
            index[key] = i
        }
        for required in ["username", "password_hash"] where index[required] == nil {
            throw sourceError(
                "CSV line \(header.line): the header needs a \(required) column "
                    + "(username,email,display_name,password_hash[,roles])")
        }
        var result = UserSourceRead()
        for record in records.dropFirst() {
            let origin = "line \(record.line)"
            if record.fields.count == 1, record.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }  // blank line
            var record = record
            // An Argon2 PHC string holds two commas (m=...,t=...,p=...): read an unquoted one whole.
            if let ph = index["password_hash"], record.fields.count == header.fields.count + 2, ph + 2 < record.fields.count,
                record.fields[ph].hasPrefix("$argon2"), record.fields[ph + 1].hasPrefix("t="), record.fields[ph + 2].hasPrefix("p=")
            {
                record.fields.replaceSubrange(ph...(ph + 2), with: [record.fields[ph...(ph + 2)].joined(separator: ",")])
            }
            guard record.fields.count == header.fields.count else {
                result.add(
                    BadEntry(
                        origin: origin,
                        message: "has \(record.fields.count) field\(record.fields.count == 1 ? "" : "s"), the header \(header.fields.count)"
                    ))
                continue
            }
            func field(_ name: String) -> String? { index[name].map { record.fields[$0] } }
            // Both columns are in the header (checked above) and the record has every column.
            guard let username = field("username"), let hash = field("password_hash") else { continue }
            let email = field("email").flatMap { $0.isEmpty ? nil : $0 }
            result.add(
                AppUserEntry(
                    username: username, email: email, displayName: field("display_name") ?? "",
                    passwordHash: hash, roles: UserSourceRead.roles(field("roles") ?? ""),
                    origin: origin))
        }
        return result
    }

    struct Record { var line: Int; var fields: [String] }

    /// Splits CSV text into records (each with the line it starts on).
    static func split(_ text: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1, start = 1
        var inQuotes = false, quoted = false, any = false
        var it = Array(text.unicodeScalars)[...]
        func endField() { fields.append(field); field = ""; quoted = false }
        func endRecord() { endField(); records.append(Record(line: start, fields: fields)); fields = []; any = false }
        while let c = it.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if it.first == "\"" { it.removeFirst(); field.unicodeScalars.append("\"") } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty, !quoted else {
                    throw sourceError("CSV line \(line): a quote inside an unquoted field (quote the whole field, with \"\" for a quote)")
                }
                inQuotes = true; quoted = true; any = true
            case ",": endField(); any = true
            case "\r" where it.first == "\n": continue
            case "\n":
                endRecord(); line += 1; start = line
            default:
                if quoted { throw sourceError("CSV line \(line): text after a closing quote") }
                field.unicodeScalars.append(c); any = true
            }
        }
        if inQuotes { throw sourceError("CSV line \(start): a quoted field is not closed") }
        if any || !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}

/// JSON: {"users": [{"username", "email", "display_name", "password_hash", "roles"}]}.
public enum UserJSON {
    /// The keys an account object may have.
    public static let keys = ["username", "email", "display_name", "password_hash", "roles"]

    /// Reads every account; throws (field `source`) when the text is not JSON or not that shape, or
    /// repeats a key of the top-level object. A key given twice in one account makes it a bad entry.
    public static func parse(_ data: [UInt8]) throws -> UserSourceRead {
        try data.withUnsafeBufferPointer { try parse($0) }
    }

    /// `parse` of bytes where they lie.
    public static func parse(_ data: UnsafeBufferPointer<UInt8>) throws -> UserSourceRead {
        let document: StrictJSON.Document
        do { document = try StrictJSON.parse(data) } catch {
            throw sourceError("not valid JSON (or not UTF-8): \(error)")
        }
        guard case .array(let list)? = document.root["users"] else {
            throw sourceError(#"JSON: the top level must be {"users": [{"username": ..., "password_hash": ...}, ...]}"#)
        }
        let repeated = try JSONEntries.repeatedKeys(document, inList: "users")
        var result = UserSourceRead()
        for (i, u) in list.enumerated() {
            let origin = "users[\(i)]"
            func bad(_ m: String) { result.add(BadEntry(origin: origin, message: m)) }
            guard case .object(let members) = u else { bad("must be an object with username and password_hash"); continue }
            if let d = repeated[i] {
                result.add(
                    BadEntry(
                        origin: document.string(u["username"]).map { "\(origin) (\(Validate.visible($0)))" } ?? origin,
                        message: JSONEntries.repeatedKey(d, entryDepth: 2)))
                continue
            }
            if let extra = members.map(\.key).sorted().first(where: { !keys.contains($0) }) {
                bad("unknown key \"\(Validate.visible(extra))\" (known: \(keys.joined(separator: ", ")))"); continue
            }
            guard let username = document.string(u["username"]) else { bad("username is missing or not a string"); continue }
            let named = "\(origin) (\(Validate.visible(username)))"
            guard let hash = document.string(u["password_hash"]) else {
                result.add(BadEntry(origin: named, message: "password_hash is missing or not a string")); continue
            }
            /// A key that may be absent or null: nil; a string: it; anything else: a bad entry.
            func text(_ key: String) -> (ok: Bool, value: String?) {
                guard let v = u[key], !v.isNull else { return (true, nil) }
                guard let s = document.string(v) else { return (false, nil) }
                return (true, s)
            }
            let email = text("email"), display = text("display_name")
            guard email.ok else { result.add(BadEntry(origin: named, message: "email must be a string or null")); continue }
            guard display.ok else { result.add(BadEntry(origin: named, message: "display_name must be a string")); continue }
            var roles: [String] = []
            if let r = u["roles"], !r.isNull {
                if let s = document.string(r) {
                    roles = UserSourceRead.roles(s)
                } else if case .array(let list) = r, list.allSatisfy(\.isString) {
                    roles = list.compactMap { document.string($0) }
                } else {
                    result.add(BadEntry(origin: named, message: "roles must be a list of strings (or one string, \"a,b\")")); continue
                }
            }
            result.add(
                AppUserEntry(
                    username: username, email: email.value.flatMap { $0.isEmpty ? nil : $0 },
                    displayName: display.value ?? "", passwordHash: hash,
                    roles: roles, origin: named))
        }
        return result
    }
}
