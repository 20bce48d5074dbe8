import ArgumentParser
import Foundation
import KeyholdCore

/// The formats `user import` reads.
enum UserImportFormat: String, ExpressibleByArgument, CaseIterable {
    case csv, json
}

/// `keyhold user import`: an application's accounts with the password hashes it already has.
struct UserImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an application's accounts with their existing password hashes.",
        discussion: """
            Each account keeps the hash it has, exactly as given: Argon2id or Argon2i PHC strings \
            ($argon2id$v=19$m=...,t=...,p=...$salt$hash) and bcrypt ($2b$, $2y$, $2a$). A hash \
            that is not Argon2id at the vault's cost is flagged legacy (user list, user show, \
            check): Keyhold re-makes an Argon2 hash at the user's next Keyhold login; a bcrypt \
            account cannot log in to Keyhold (the application still verifies it) until an \
            administrator resets its password.

            Every entry is checked first (username and e-mail as for any user, the hash's form, \
            names given twice or already in the vault, unknown roles). A bad entry is named by its \
            line (CSV) or index (JSON) and nothing is imported, unless --skip-bad is given: then \
            the bad entries are listed on stderr and the rest is imported. Writing is one \
            transaction and one audit event (user.import, with the count and a digest of the new \
            user ids) per --batch accounts.

            Imported accounts get no key pair (Keyhold never saw their password; it is made at \
            their first Keyhold login), no password change is forced, and no role unless given: \
            --role for every account, and/or a roles column. Roles need roles.manage and every \
            permission of the role.

            Formats:
              csv   a header line naming the columns, then one account per line: \
            username,email,display_name,password_hash[,roles] (any order; username and \
            password_hash are required). Fields may be "double quoted" ("" for a quote); an Argon2 \
            hash may be left unquoted although it holds commas. Roles are separated by ; (or by , \
            inside quotes).
              json  {"users": [{"username": "...", "email": "...", "display_name": "...", \
            "password_hash": "...", "roles": ["..."]}]} (roles may also be one string, "a,b").

            FILE - reads standard input (then KEYHOLD_USER and KEYHOLD_PASSWORD must be set).
            """)

    @OptionGroup var session: SessionOptions
    @OptionGroup var output: JSONFlag
    @Option(help: "The file's format.") var format: UserImportFormat
    @Option(name: .customLong("role"), help: "A role for every imported account (repeatable).") var roles: [String] = []
    @Flag(name: .customLong("skip-bad"), help: "Skip bad entries (listed on stderr) and import the rest.") var skipBad = false
    @Option(name: .customLong("batch"), help: "Accounts per transaction.") var batch: Int = Session.defaultBatchSize
    @Argument(help: "A CSV or JSON file, or - for standard input.") var file: String

    func run() throws { try runReporting(importUsers) }

    private func importUsers() throws {
        guard batch >= 1 else { throw usageError("--batch", "--batch must be at least 1") }
        // Read and parse before logging in, so `-` is read whole before any prompt.
        let raw = try Bytes.readSource(file)
        let read = switch format {
        case .csv: try UserCSV.parse(raw.bytes)
        case .json: try UserJSON.parse(raw.bytes)
        }
        let s = try session.session()
        let review = try s.reviewAppUsers(read.entries, roles: roles)
        let bad = (read.bad + review.rejected.map { BadEntry(origin: $0.origin, message: $0.message, seq: Self.seq($0.origin, read)) })
            .sorted { $0.seq < $1.seq }
        if !bad.isEmpty {
            let verb = skipBad ? "skipped" : "bad entry"
            for b in bad.prefix(100) { Terminal.err("keyhold: \(verb): \(b.origin): \(b.message)") }
            if bad.count > 100 { Terminal.err("keyhold: ... and \(bad.count - 100) more") }
            if !skipBad {
                Terminal.err("keyhold: \(bad.count) bad entr\(bad.count == 1 ? "y" : "ies"); nothing was imported "
                             + "(fix \(bad.count == 1 ? "it" : "them"), or give --skip-bad to import the rest)")
                throw ExitCode(Exit.usage)
            }
        }
        let batches = (review.accepted.count + batch - 1) / batch
        let report: ProgressHandler = { @Sendable (done: Int, total: Int) -> Void in Terminal.err("imported \(done)/\(total)") }
        let r = try s.importAppUsers(review.accepted, roles: roles, skipBad: skipBad, batchSize: batch,
                                     progress: batches > 1 ? report : nil)
        if output.json {
            try Output.printJSON([
                "imported": r.imported, "legacy": r.legacyCount, "legacy_by_scheme": r.legacy,
                "read": read.entries.count + read.bad.count,
                "bad": bad.map { ["origin": $0.origin, "message": $0.message] },
            ])
        } else {
            var line = "Imported \(r.imported) user\(r.imported == 1 ? "" : "s")"
            if r.legacyCount > 0 {
                line += "; \(r.legacyCount) with a legacy hash ("
                    + r.legacy.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"
            }
            if !bad.isEmpty { line += "; \(bad.count) bad entr\(bad.count == 1 ? "y" : "ies") skipped" }
            Terminal.out(line + ".")
        }
    }

    /// Source order of a rejected entry (its position among the parsed ones).
    private static func seq(_ origin: String, _ read: UserSourceRead) -> Int {
        read.seqByOrigin[origin] ?? Int.max
    }
}

/// What a user file yielded: accounts to review, and entries already bad in their form.
struct UserSourceRead {
    var entries: [AppUserEntry] = []
    var bad: [BadEntry] = []
    var seqByOrigin: [String: Int] = [:]
    private var count = 0

    mutating func add(_ e: AppUserEntry) { seqByOrigin[e.origin] = count; count += 1; entries.append(e) }
    mutating func add(_ b: BadEntry) { var b = b; b.seq = count; count += 1; bad.append(b) }

    /// Roles from one field: separated by `,` or `;`, white space trimmed, empty parts dropped.
    static func roles(_ s: String) -> [String] {
        s.split(whereSeparator: { $0 == "," || $0 == ";" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// CSV (RFC 4180): a header line, comma-separated fields, "double quotes" with "" inside,
/// CRLF or LF line ends. A record is named by the line it starts on.
enum UserCSV {
    static let columns = ["username", "email", "display_name", "password_hash", "roles"]

    static func parse(_ data: [UInt8]) throws -> UserSourceRead {
        guard let text = String(validating: data, as: UTF8.self) else {
            throw usageError("source", "CSV: the file is not UTF-8 text")
        }
        let records = try split(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        guard let header = records.first else { throw usageError("source", "CSV: the file is empty (it needs a header line)") }
        var index: [String: Int] = [:]
        for (i, name) in header.fields.enumerated() {
            let key = name.trimmingCharacters(in: .whitespaces).lowercased()
            guard columns.contains(key) else {
                throw usageError("source", "CSV line \(header.line): unknown column \"\(Validate.visible(key))\" (known: \(columns.joined(separator: ", ")))")
            }
            guard index[key] == nil else { throw usageError("source", "CSV line \(header.line): column \(key) appears twice") }
            index[key] = i
        }
        for required in ["username", "password_hash"] where index[required] == nil {
            throw usageError("source", "CSV line \(header.line): the header needs a \(required) column "
                             + "(username,email,display_name,password_hash[,roles])")
        }
        var result = UserSourceRead()
        for record in records.dropFirst() {
            let origin = "line \(record.line)"
            if record.fields.count == 1, record.fields[0].trimmingCharacters(in: .whitespaces).isEmpty { continue }  // blank line
            var record = record
            // An Argon2 PHC string holds two commas (m=...,t=...,p=...): read an unquoted one whole.
            if let ph = index["password_hash"], record.fields.count == header.fields.count + 2, ph + 2 < record.fields.count,
               record.fields[ph].hasPrefix("$argon2"), record.fields[ph + 1].hasPrefix("t="), record.fields[ph + 2].hasPrefix("p=") {
                record.fields.replaceSubrange(ph...(ph + 2), with: [record.fields[ph...(ph + 2)].joined(separator: ",")])
            }
            guard record.fields.count == header.fields.count else {
                result.add(BadEntry(origin: origin, message: "has \(record.fields.count) field\(record.fields.count == 1 ? "" : "s"), the header \(header.fields.count)"))
                continue
            }
            func field(_ name: String) -> String? { index[name].map { record.fields[$0] } }
            let email = field("email").flatMap { $0.isEmpty ? nil : $0 }
            result.add(AppUserEntry(username: field("username")!, email: email, displayName: field("display_name") ?? "",
                                    passwordHash: field("password_hash")!, roles: UserSourceRead.roles(field("roles") ?? ""),
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
                    throw usageError("source", "CSV line \(line): a quote inside an unquoted field (quote the whole field, with \"\" for a quote)")
                }
                inQuotes = true; quoted = true; any = true
            case ",": endField(); any = true
            case "\r" where it.first == "\n": continue
            case "\n":
                endRecord(); line += 1; start = line
            default:
                if quoted { throw usageError("source", "CSV line \(line): text after a closing quote") }
                field.unicodeScalars.append(c); any = true
            }
        }
        if inQuotes { throw usageError("source", "CSV line \(start): a quoted field is not closed") }
        if any || !field.isEmpty || !fields.isEmpty { endRecord() }
        return records
    }
}

/// JSON: {"users": [{"username", "email", "display_name", "password_hash", "roles"}]}.
enum UserJSON {
    static let keys = ["username", "email", "display_name", "password_hash", "roles"]

    static func parse(_ data: [UInt8]) throws -> UserSourceRead {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(data), options: []) } catch {
            throw usageError("source", "not valid JSON (or not UTF-8)")
        }
        guard let top = object as? [String: Any], let list = top["users"] as? [Any] else {
            throw usageError("source", #"JSON: the top level must be {"users": [{"username": ..., "password_hash": ...}, ...]}"#)
        }
        var result = UserSourceRead()
        for (i, item) in list.enumerated() {
            let origin = "users[\(i)]"
            func bad(_ m: String) { result.add(BadEntry(origin: origin, message: m)) }
            guard let u = item as? [String: Any] else { bad("must be an object with username and password_hash"); continue }
            if let extra = u.keys.sorted().first(where: { !keys.contains($0) }) {
                bad("unknown key \"\(Validate.visible(extra))\" (known: \(keys.joined(separator: ", ")))"); continue
            }
            guard let username = u["username"] as? String else { bad("username is missing or not a string"); continue }
            let named = "\(origin) (\(Validate.visible(username)))"
            guard let hash = u["password_hash"] as? String else {
                result.add(BadEntry(origin: named, message: "password_hash is missing or not a string")); continue
            }
            /// A key that may be absent or null: nil; a string: it; anything else: a bad entry.
            func text(_ key: String) -> (ok: Bool, value: String?) {
                guard let v = u[key], !(v is NSNull) else { return (true, nil) }
                guard let s = v as? String else { return (false, nil) }
                return (true, s)
            }
            let email = text("email"), display = text("display_name")
            guard email.ok else { result.add(BadEntry(origin: named, message: "email must be a string or null")); continue }
            guard display.ok else { result.add(BadEntry(origin: named, message: "display_name must be a string")); continue }
            var roles: [String] = []
            if let r = u["roles"], !(r is NSNull) {
                if let s = r as? String {
                    roles = UserSourceRead.roles(s)
                } else if let list = r as? [Any], list.allSatisfy({ $0 is String }) {
                    roles = list.compactMap { $0 as? String }
                } else {
                    result.add(BadEntry(origin: named, message: "roles must be a list of strings (or one string, \"a,b\")")); continue
                }
            }
            result.add(AppUserEntry(username: username, email: email.value.flatMap { $0.isEmpty ? nil : $0 },
                                    displayName: display.value ?? "", passwordHash: hash,
                                    roles: roles, origin: named))
        }
        return result
    }
}
