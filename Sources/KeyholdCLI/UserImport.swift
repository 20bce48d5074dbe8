import ArgumentParser
import Foundation
import KeyholdCore
import KeyholdFormats

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
            ($argon2id$v=19$m=...,t=...,p=...$salt$hash), bcrypt ($2b$, $2y$, $2a$) and Werkzeug's \
            scrypt:N:r:p$salt$hex and pbkdf2:sha256:iterations$salt$hex. A hash that is not Argon2id \
            at or above the vault's cost is flagged legacy (user list, user show, check): Keyhold \
            re-makes an Argon2 or Werkzeug hash at the user's next successful login; a bcrypt \
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

    func validate() throws { try checkOption(batch, "--batch", Validate.batchSizeRange) }

    func run() throws { try runReporting(importUsers) }

    private func importUsers() throws {
        // Read and parse before logging in, so `-` is read whole before any prompt.
        let raw = try SourceFile.read(file)
        let read =
            switch format {
            case .csv: try UserCSV.parse(raw.bytes)
            case .json: try UserJSON.parse(raw.bytes)
            }
        let s = try session.session()
        let review = try s.reviewAppUsers(read.entries, roles: roles)
        let bad = (read.bad + review.rejected.map { BadEntry(origin: $0.origin, message: $0.message, seq: Self.seq($0.origin, read)) })
            .sorted { $0.seq < $1.seq }
        try reportBadEntries(bad, skipBad: skipBad)
        let batches = (review.accepted.count + batch - 1) / batch
        let report: ProgressHandler = { @Sendable (done: Int, total: Int) -> Void in Terminal.err("imported \(done)/\(total)") }
        let r = try s.importAppUsers(
            review.accepted, roles: roles, skipBad: skipBad, batchSize: batch,
            progress: batches > 1 ? report : nil)
        if output.json {
            try Output.printJSON([
                "imported": r.imported, "legacy": r.legacyCount, "legacy_by_scheme": r.legacy,
                "read": read.entries.count + read.bad.count,
                "bad": bad.map { ["origin": $0.origin, "message": $0.message] }
            ])
        } else {
            var line = "Imported \(r.imported) user\(r.imported == 1 ? "" : "s")"
            if r.legacyCount > 0 {
                line +=
                    "; \(r.legacyCount) with a legacy hash ("
                    + r.legacy.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ")"
            }
            if !bad.isEmpty { line += "; \(bad.count) bad entr\(bad.count == 1 ? "y" : "ies") skipped" }
            try Terminal.out(line + ".")
        }
    }

    /// Source order of a rejected entry (its position among the parsed ones).
    private static func seq(_ origin: String, _ read: UserSourceRead) -> Int {
        read.seqByOrigin[origin] ?? Int.max
    }
}
