import ArgumentParser
import Foundation
import KeyholdCore
import KeyholdFormats

/// `keyhold secret ...`
struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Store, generate, show and delete secrets.",
        discussion: """
            Secret values are never taken from the command line. `set` reads the value from \
            --stdin, --from-file PATH, or a prompt without echo; `generate` makes a random one \
            nobody typed. `show` prints the value alone (for `$(keyhold secret show NAME)`) and is audited.
            """,
        subcommands: [List.self, Show.self, SetValue.self, Generate.self, Versions.self, RotateBy.self, Delete.self]
    )

    /// JSON shape of a secret's metadata (docs/CLI.md). Never the value.
    static func json(_ s: SecretInfo, now: Int64) -> [String: Any] {
        [
            "name": s.name, "description": s.description, "version": s.currentVersion, "versions": s.versionCount,
            "history_limit": s.historyLimit ?? NSNull(), "rotate_by": Output.jsonTime(s.rotateBy),
            "rotation_overdue": overdue(s, now: now), "created_at": Output.jsonTime(s.createdAt),
            "updated_at": Output.jsonTime(s.updatedAt)
        ]
    }

    static func overdue(_ s: SecretInfo, now: Int64) -> Bool { s.rotateBy.map { $0 <= now } ?? false }

    /// The ROTATE BY cell: the date, flagged when it has passed.
    static func rotateByCell(_ s: SecretInfo, now: Int64) -> String {
        guard let t = s.rotateBy else { return "-" }
        return Clock.format(t) + (overdue(s, now: now) ? " OVERDUE" : "")
    }

    /// Checks name and description before any value is read or stored.
    static func precheck(name: String, description: String?) throws {
        do {
            _ = try Validate.secretName(name)
            if let description { _ = try Validate.description(description, field: "secret description") }
        } catch { throw KeyholdError.invalid(error) }
    }

    static func reportStored(_ verb: String, name: String, version: Int, created: Bool, json: Bool) throws {
        if json {
            try Output.printJSON(["name": name, "version": version, "created": created])
        } else {
            try Terminal.out("\(verb) \(Validate.visible(name)) version \(version)")
        }
    }

    /// The rotate-by date of an existing secret when it has passed (and the command sets no
    /// date of its own): the new version will clear it. Nil for a new secret. A report only:
    /// the core decides, in the write's own transaction.
    static func pastRotateBy(_ s: Session, _ name: String, given: Bool) throws -> Int64? {
        guard !given, try s.permissions().contains(.secretsList),
            let info = try? s.secret(named: name), let due = info.rotateBy, due <= s.vault.clock.now()
        else { return nil }
        return due
    }

    /// Says that a new version cleared a rotate-by date that had passed, and how to set the next.
    static func noteClearedRotateBy(_ name: String, _ past: Int64?, created: Bool) {
        guard let past, !created else { return }
        Terminal.err(
            "\(Validate.visible(name)): the new version is the rotation that was due \(Clock.format(past)), so that date "
                + "is cleared; set the next with `keyhold secret rotate-by \(Validate.visible(name)) DATE`")
    }

    // MARK: list

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List secrets: names and metadata, never values.",
            discussion: "Printed page by page as read (docs/CLI.md, \"Listings\"), in name order.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "Only secrets whose name starts with this text (e.g. app/prod/).") var prefix: String?
        @Option(help: "Only secrets whose name contains this text (without regard to ASCII case).") var filter: String?

        func validate() throws {
            if prefix != nil && filter != nil { throw ArgumentParser.ValidationError("give --prefix or --filter, not both") }
        }

        func run() throws {
            try runReporting {
                let s = try session.session()
                let name: NameFilter? = prefix.map { .prefix($0) } ?? filter.map { .contains($0) }
                let now = Clock.system.now()
                let pages = { (at: PagePosition<String>) in try s.secretPage(name, at: at, limit: Listing.pageSize) }
                if output.json {
                    var list = JSONListStream(key: "secrets")
                    try Listing.each(pages) { try list.write($0.map { SecretCommand.json($0, now: now) }) }
                    try list.finish()
                    return
                }
                var table = TableStream(["NAME", "VERSION", "VERSIONS", "ROTATE BY", "UPDATED"])
                try Listing.each(pages) { secrets in
                    try table.write(
                        secrets.map {
                            [
                                $0.name, String($0.currentVersion), String($0.versionCount),
                                SecretCommand.rotateByCell($0, now: now), Output.time($0.updatedAt)
                            ]
                        })
                }
                try table.finish()
            }
        }
    }

    // MARK: show

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a secret's value alone (for $(...)); audited.",
            discussion: """
                Into a pipe or a file, prints exactly the stored bytes. On a terminal, control characters in \
                the value (C0 other than tab and line feed, DEL, C1, bidi controls) and bytes that are not \
                UTF-8 are shown escaped (\\x1b, \\u202e), with a line on stderr saying so, and a newline \
                follows the value; --raw prints the exact bytes there too. --json prints {"name", "version", \
                "value"}, or "value_base64" instead of "value" when the value is not valid UTF-8.
                """,
            aliases: ["get"])
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(help: "The secret's name.", completion: .custom(Completions.secretNames)) var name: String
        @Option(name: .customLong("version"), help: "This version instead of the current one.") var version: Int?
        @Flag(help: "Print the exact bytes even on a terminal (control characters included).") var raw = false

        func validate() throws {
            if raw && output.json { throw ArgumentParser.ValidationError("give --raw or --json, not both") }
            try version.map { try checkOption($0, "--version", Validate.versionRange) }
        }

        func run() throws {
            try runReporting {
                let s = try session.session()
                // With --json the version is pinned first, so the number printed is the one revealed.
                let pinned = try output.json ? (version ?? s.secret(named: name).currentVersion) : version
                let value = try s.reveal(name, version: pinned)
                if output.json {
                    // The value goes into the JSON text from guarded memory (`JSONSecret`), never a String.
                    var out: [String: Any] = ["name": name, "version": pinned ?? 0]
                    if value.withBytes(Bytes.isUTF8) {
                        out["value"] = JSONSecret(value)
                    } else {
                        out["value_base64"] = JSONSecret(value, base64: true)
                    }
                    try Output.printJSON(out)
                    return
                }
                let escaped = try value.withBytes { try Terminal.writeValue($0, raw: raw) }
                if Terminal.stdoutIsTTY { try [UInt8(ascii: "\n")].withUnsafeBytes { try Terminal.writeOut($0) } }
                if escaped { Terminal.err(Terminal.escapedValueNote) }
            }
        }
    }

    // MARK: set

    struct SetValue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Store a value: create the secret, or add a new version to an existing one.",
            discussion: """
                The value is read from --stdin, --from-file PATH, or typed at a prompt without echo; \
                never from the command line.
                """)
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @OptionGroup var source: ValueSource
        @Argument(
            help: "Name: path segments of letters, digits, '.', '_', '-' joined by '/' (e.g. app/prod/db-password).",
            completion: .custom(Completions.secretNames))
        var name: String
        @Argument(help: .hidden) var value: [String] = []
        @Option(help: "Description (replaces the current one when the secret exists).") var description: String?
        @Option(name: .customLong("rotate-by"), help: "Rotate by this date: YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (UTC), or 'never'.")
        var rotateBy: String?

        func validate() throws {
            try refuseArgvValue(value, what: "a secret value")
            _ = try rotateBy.map { try DateArgument.parse($0, field: "--rotate-by") }
        }

        func run() throws {
            try runReporting {
                let rotate = try rotateBy.map { try DateArgument.parse($0, field: "--rotate-by") }
                try SecretCommand.precheck(name: name, description: description)
                let s = try session.session()
                let v = try source.read(prompt: "Value for \(Validate.visible(name)) (not echoed): ")
                let past = try SecretCommand.pastRotateBy(s, name, given: rotate != nil)
                let (version, created) = try s.setSecret(name, .value(v), description: description, rotateBy: rotate)
                try SecretCommand.reportStored("stored", name: name, version: version, created: created, json: output.json)
                SecretCommand.noteClearedRotateBy(name, past, created: created)
            }
        }
    }

    // MARK: generate

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a random value nobody typed: create the secret (or, with --new-version, add a version).",
            discussion: """
                Prints only the name and the version stored, never the value; read it with `keyhold secret show`. \
                A name that exists is refused (exit 68: a new value would replace the one in use) unless \
                --new-version says that is meant. Example, a Flask SECRET_KEY: \
                keyhold secret generate app/prod/secret-key --length 64 --alphabet urlsafe
                """)
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(help: "The secret's name.", completion: .custom(Completions.secretNames)) var name: String
        @Option(
            name: [.customLong("length"), .customLong("bytes")],
            help: "Length in characters (= bytes: every alphabet is ASCII), 1 to \(Session.maxGeneratedLength). --bytes is an alias.")
        var length: Int = 32
        @Option(help: "Characters to draw from: \(Token.Alphabet.allCases.map(\.rawValue).joined(separator: ", ")).")
        var alphabet: String = Token.Alphabet.urlsafe.rawValue
        @Option(help: "Description (replaces the current one when the secret exists).") var description: String?
        @Option(name: .customLong("rotate-by"), help: "Rotate by this date: YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (UTC), or 'never'.")
        var rotateBy: String?
        @Flag(name: .customLong("new-version"), help: "The secret may exist: add the generated value as its new current version.")
        var newVersion = false
        @Argument(help: .hidden) var value: [String] = []

        func validate() throws {
            try refuseArgvValue(value, what: "a secret value")
            _ = try rotateBy.map { try DateArgument.parse($0, field: "--rotate-by") }
            guard Token.Alphabet(rawValue: alphabet) != nil else {
                throw ArgumentParser.ValidationError(
                    "--alphabet: unknown alphabet '\(alphabet)'; use one of \(Token.Alphabet.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            try checkOption(length, "--length", 1...Session.maxGeneratedLength)
        }

        func run() throws {
            try runReporting {
                let rotate = try rotateBy.map { try DateArgument.parse($0, field: "--rotate-by") }
                try SecretCommand.precheck(name: name, description: description)
                let s = try session.session()
                guard let chosen = Token.Alphabet(rawValue: alphabet) else {
                    throw ArgumentParser.ValidationError("--alphabet: unknown alphabet")
                }
                let input = SecretInput.generated(length: length, alphabet: chosen)
                guard newVersion else {
                    // Created or refused in one transaction: never a new value over one in use by accident.
                    do {
                        try s.createSecret(name, input, description: description ?? "", rotateBy: rotate ?? nil)
                    } catch KeyholdError.conflict(_) {
                        throw KeyholdError.conflict(
                            "a secret named \(Validate.visible(name)) already exists, and a generated value "
                                + "would replace the one in use; give --new-version to add it as a new version")
                    }
                    try SecretCommand.reportStored("generated", name: name, version: 1, created: true, json: output.json)
                    return
                }
                let past = try SecretCommand.pastRotateBy(s, name, given: rotate != nil)
                let (version, created) = try s.setSecret(name, input, description: description, rotateBy: rotate)
                try SecretCommand.reportStored("generated", name: name, version: version, created: created, json: output.json)
                SecretCommand.noteClearedRotateBy(name, past, created: created)
            }
        }
    }

    // MARK: versions

    struct Versions: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the stored versions of a secret (never values).")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(help: "The secret's name.", completion: .custom(Completions.secretNames)) var name: String

        func run() throws {
            try runReporting {
                let s = try session.session()
                let info = try s.secret(named: name)
                let versions = try s.versions(of: name)
                if output.json {
                    try Output.printJSON([
                        "name": info.name, "current_version": info.currentVersion,
                        "versions": versions.map {
                            [
                                "version": $0.version, "key_version": $0.keyVersion, "created_at": Output.jsonTime($0.createdAt),
                                "created_by": $0.createdBy ?? NSNull(), "current": $0.version == info.currentVersion
                            ] as [String: Any]
                        }
                    ])
                    return
                }
                try Terminal.out(
                    Output.table(
                        ["VERSION", "CURRENT", "DATA KEY", "CREATED", "CREATED BY"],
                        versions.map {
                            [
                                String($0.version), $0.version == info.currentVersion ? "*" : "", String($0.keyVersion),
                                Output.time($0.createdAt), $0.createdBy ?? "-"
                            ]
                        }))
            }
        }
    }

    // MARK: rotate-by

    struct RotateBy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-by", abstract: "Set the date by which a credential should be rotated, or 'never'.")
        @OptionGroup var session: SessionOptions
        @Argument(help: "The secret's name.", completion: .custom(Completions.secretNames)) var name: String
        @Argument(help: "YYYY-MM-DD, an ISO 8601 time (UTC), 'now', or 'never' to clear.") var date: String

        func validate() throws { _ = try DateArgument.parse(date, field: "DATE") }

        func run() throws {
            let time = try DateArgument.parse(date, field: "DATE")
            try runReporting {
                try session.session().setRotateBy(name, at: time)
                Terminal.err("\(Validate.visible(name)): " + (time.map { "rotate by \(Clock.format($0))" } ?? "no rotate-by date") + ".")
            }
        }
    }

    // MARK: delete

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a secret with all its versions, or one version; the bytes are scrubbed from the vault files.")
        @OptionGroup var session: SessionOptions
        @Argument(help: "The secret's name.", completion: .custom(Completions.secretNames)) var name: String
        @Option(name: .customLong("version"), help: "Delete only this version (not the only one left).") var version: Int?
        @Flag(help: "Do not ask to type the name back (needed without a terminal).") var yes = false

        func validate() throws { try version.map { try checkOption($0, "--version", Validate.versionRange) } }

        func run() throws {
            try runReporting {
                try Confirm.requireYes(yes, action: version.map { "delete version \($0) of secret" } ?? "delete secret", name: name)
                let s = try session.session()
                let outcome: DeletionOutcome
                if let version {
                    try Confirm.typed(name, action: "delete version \(version) of secret", skip: yes)
                    outcome = try s.deleteVersion(name, version: version)
                    Terminal.err("\(Validate.visible(name)): version \(version) deleted.")
                } else {
                    try Confirm.typed(name, action: "delete secret", skip: yes)
                    outcome = try s.deleteSecret(name)
                    Terminal.err("\(Validate.visible(name)): deleted.")
                }
                if !outcome.checkpointed { Terminal.err(Confirm.checkpointWarning) }
            }
        }
    }
}
