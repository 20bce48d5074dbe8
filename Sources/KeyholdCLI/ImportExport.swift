import ArgumentParser
import Foundation
import KeyholdCore
import KeyholdFormats

/// What `import` does with a name that already exists.
enum OnExisting: String, ExpressibleByArgument, CaseIterable {
    case fail, skip, update
    var core: ImportConflict {
        switch self {
        case .fail: .fail
        case .skip: .skip
        case .update: .update
        }
    }
}

/// `keyhold import`: every entry is read and checked first; then one transaction per batch.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import secrets from .env, JSON, a pass store or KeePassXC XML.",
        discussion: """
            Every entry is read and checked before anything is written. A bad entry (a name \
            outside the secret-name rules, an empty or oversized value, a name given twice, a \
            line that is not KEY=value) is named by its line, entry or file, and nothing is \
            imported, unless --skip-bad is given: then the bad entries are listed on stderr and \
            the rest is imported. Names are --prefix followed by the name in the source.

            Formats:
              dotenv     read as python-dotenv \(DotEnv.pythonDotenvVersion) reads it for Flask \
            (docs/CLI.md has the rules): KEY=value, `export KEY=value`, # comments, 'single' and \
            "double" quotes with python-dotenv's escapes, CRLF or CR line breaks. A line python-dotenv \
            cannot parse is a bad entry (it skips it). A key given again: the last value is imported, \
            as the application sees it, and the report says so. A value holding ${NAME} or \
            ${NAME:-default} (which python-dotenv expands) is a bad entry unless --expand (resolved \
            from keys earlier in the same file; a name not defined there is refused) or --literal \
            (stored as written).
              json       {"secrets": [{"name": "...", "value": "...", "description": "..."}]}, with \
            "value_base64" instead of "value" for bytes that are not UTF-8 text; or a flat object \
            {"NAME": "value", ...}.
              pass       a password-store directory: each *.gpg file is decrypted by your own \
            `gpg --quiet --batch --decrypt` (nothing is written to disk); the name is its path \
            without .gpg; the value is the whole file less one trailing newline (pass shows the \
            first line as the password; Keyhold keeps every line).
              keepassxc  KeePassXC's XML export: the name is the group path below the root group \
            and the Title (characters outside A-Z a-z 0-9 . _ - become _), the value the Password, \
            the description the UserName and URL (else the first line of Notes). The recycle bin \
            and entry history are left out.

            SOURCE - reads standard input (then KEYHOLD_USER and KEYHOLD_PASSWORD must be set). \
            Writing is one transaction and one audit event (secret.import, with the count and a \
            digest of the secret ids) per --batch entries, with progress on stderr when there is \
            more than one batch.
            """)

    @OptionGroup var session: SessionOptions
    @OptionGroup var output: JSONFlag
    @Option(help: "The source's format.") var format: TransferFormat
    @Option(help: "Put this in front of every imported name (e.g. app/prod/).") var prefix: String = ""
    @Flag(name: .customLong("skip-bad"), help: "Skip bad entries (listed on stderr) and import the rest.") var skipBad = false
    @Flag(help: "dotenv: expand ${NAME} and ${NAME:-default} from keys earlier in the file, as python-dotenv does.") var expand = false
    @Flag(help: "dotenv: store ${NAME} and ${NAME:-default} as written.") var literal = false
    @Option(name: .customLong("on-existing"), help: "When a name exists: fail (import nothing), skip it, or update it (a new version).")
    var onExisting: OnExisting = .fail
    @Option(name: .customLong("batch"), help: "Most entries per transaction (a transaction also ends at 1 MiB of values).")
    var batch: Int = Session.defaultImportBatchSize
    @Argument(help: "A file, a pass store directory, or - for standard input.") var source: String

    func validate() throws { try checkOption(batch, "--batch", Validate.batchSizeRange) }

    func run() throws { try runReporting(importAll) }

    private func importAll() throws {
        if source == "-", !format.isFile { throw usageError("SOURCE", "--format pass reads a directory, not standard input") }
        if expand || literal {
            guard format == .dotenv else {
                throw usageError(expand ? "--expand" : "--literal", "\(expand ? "--expand" : "--literal") is only for --format dotenv")
            }
            guard !(expand && literal) else { throw usageError("--expand", "give --expand or --literal, not both") }
        }
        // The file is read before logging in, so that `-` is read whole before any prompt.
        var raw: PlainBuffer? = format.isFile ? try SourceFile.read(source) : nil
        if format == .pass {
            _ = try PassStore.files(in: source)
            _ = try Tool.require("gpg", package: "gnupg")
        }
        let s = try session.session()
        guard try s.permissions().contains(.secretsWrite) else {
            throw KeyholdError.permissionDenied(action: "secret.import", missing: .secretsWrite)
        }
        let read: SourceRead
        var notes: [BadEntry] = []
        switch format {
        case .dotenv:
            let d = try DotEnv.read(raw!.bytes, variables: expand ? .expand : literal ? .literal : .refuse)
            if let u = d.unreadable { throw usageError("source", "\(u.origin): \(u.message); nothing was imported") }
            read = d.source
            notes = d.notes
        case .json: read = try JSONEntries.parse(raw!.bytes)
        case .keepassxc: read = try KeePassXML.parse(raw!.bytes)
        case .pass: read = try PassStore.read(source)
        }
        raw = nil

        let (entries, bad) = check(read)
        for n in notes.prefix(100) { Terminal.err("keyhold: note: \(n.origin): \(n.message)") }
        if notes.count > 100 { Terminal.err("keyhold: ... and \(notes.count - 100) more notes") }
        try reportBadEntries(bad, skipBad: skipBad)
        let batches = (entries.count + batch - 1) / batch
        let report: ProgressHandler = { @Sendable (done: Int, total: Int) -> Void in Terminal.err("imported \(done)/\(total)") }
        let progress: ProgressHandler? = batches > 1 ? report : nil
        let r = try s.importSecrets(from: entries, onExisting: onExisting.core, batchSize: batch, progress: progress)
        if output.json {
            try Output.printJSON([
                "created": r.created, "updated": r.updated, "unchanged": r.unchanged, "skipped": r.skipped,
                "read": read.entries.count + read.bad.count,
                "bad": bad.map { ["origin": $0.origin, "message": $0.message] },
                "notes": notes.map { ["origin": $0.origin, "message": $0.message] }
            ])
        } else {
            var line =
                "Imported: \(r.created) created, \(r.updated) updated, \(r.unchanged) unchanged (same value: no new version), "
                + "\(r.skipped) skipped (already there)"
            if !bad.isEmpty { line += ", \(bad.count) bad entr\(bad.count == 1 ? "y" : "ies") skipped" }
            try Terminal.out(line + ".")
        }
    }

    /// Applies the prefix and checks every entry as the core will: name, value size, description, duplicates.
    private func check(_ read: SourceRead) -> (entries: ParsedSource, bad: [BadEntry]) {
        var bad = read.bad
        var items: [ImportItem] = [], spans: [Range<Int>] = []
        var seen: [String: String] = [:]
        for e in read.entries {
            let name = prefix + e.key
            do {
                _ = try Validate.secretName(name)
                try Validate.secretValueSize(e.value.count)
                _ = try Validate.description(e.description, field: "secret description")
            } catch {
                bad.append(BadEntry(origin: e.origin, message: error.message, seq: e.seq))
                continue
            }
            if let first = seen[name] {
                bad.append(BadEntry(origin: e.origin, message: "\(Validate.visible(name)) is given twice (first at \(first))", seq: e.seq))
                continue
            }
            seen[name] = e.origin
            items.append(ImportItem(name: name, description: e.description, origin: e.origin, valueCount: e.value.count))
            spans.append(e.value)
        }
        return (ParsedSource(items: items, spans: spans, values: read.values), bad.sorted { $0.seq < $1.seq })
    }
}

/// Parsed entries as the core's streaming import source: values are copied
/// from the arena into the core's guarded batch buffer one batch at a time.
struct ParsedSource: ImportSource {
    let items: [ImportItem]
    let spans: [Range<Int>]
    let values: PlainBuffer
    var count: Int { items.count }
    func item(at index: Int) -> ImportItem { items[index] }
    func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.copyMemory(from: values.bytes[spans[index]].raw)
    }
}

/// `keyhold export`: plaintext out, so it needs secrets.read, a confirmation, and is audited (secret.export).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export secrets to .env, JSON, a pass store or KeePassXC XML.",
        discussion: """
            Writes the current value of every secret whose name starts with --prefix (the \
            prefix is left out of the written names, so `import --prefix` puts it back). Needs \
            secrets.read; the export is audited (secret.export, naming the secrets). On a \
            terminal it asks you to type `yes`; without a terminal it needs --yes.

            DEST is a new file, created with mode 0600 (an existing file is never overwritten: \
            exit 68), or - for standard output. For pass it is a new directory (0700) made a \
            password store for --gpg-id (.gpg-id), each secret encrypted by your own \
            `gpg --encrypt --recipient ID` from a pipe. Values are written as they are opened, a \
            batch at a time; if the export fails, what was written is removed (on standard output \
            dotenv and keepassxc are held to the end, so a value they cannot carry prints nothing).

            Formats:
              dotenv     KEY='value' lines; the key is the name upper-cased with every character \
            but letters and digits (so / . -) as _; two names with the same key are refused. \
            Values are written so that python-dotenv \(DotEnv.pythonDotenvVersion) reads them back byte \
            for byte: 'single quoted' when that is literal, else "double quoted" with its escapes \
            (a value ending in a backslash may be left unquoted). A value holding ${NAME} reads back \
            differently with python-dotenv's interpolation on (the default of load_dotenv and \
            Flask) and off: it is refused unless --interpolate (written to expand to itself) or \
            --no-interpolate (written as is) says which. Values that are not UTF-8 or hold a NUL \
            are refused (use json).
              json       {"secrets": [{"name": "...", "value": "...", "description": "..."}]}, with \
            "value_base64" for values that are not UTF-8 text.
              pass       one NAME.gpg file per secret (the value plus a newline).
              keepassxc  KeePass 2 XML, as KeePassXC exports it (load it with \
            `keepassxc-cli import FILE NEW.kdbx`): a group per path segment below a root group `Keyhold`, Title \
            the last segment, Password the value, Notes the description.
            """)

    @OptionGroup var session: SessionOptions
    @Option(help: "The format to write.") var format: TransferFormat
    @Option(help: "Only secrets whose name starts with this; it is left out of the written names.") var prefix: String = ""
    @Flag(help: "Do not ask for confirmation (needed without a terminal).") var yes = false
    @Option(name: .customLong("gpg-id"), help: "For --format pass: the gpg key (id, fingerprint or e-mail) to encrypt to.")
    var gpgID: String?
    @Flag(
        inversion: .prefixedNo,
        help:
            "For --format dotenv: whether the file will be read with python-dotenv's interpolation on (load_dotenv, Flask) or off; needed only when a value holds ${...}."
    )
    var interpolate: Bool?
    @Flag(
        name: .customLong("skip-bad"),
        help: "Leave out a secret whose value does not open or cannot be read (named on stderr) and export the rest.")
    var skipBad = false
    @Argument(help: "A new file, - for standard output, or (pass) a new directory.") var dest: String

    func run() throws {
        try runReporting {
            do { try exportAll() } catch KeyholdError.integrity(let what) where !skipBad {
                throw KeyholdError.integrity("\(what); nothing was exported (--skip-bad leaves it out and exports the rest)")
            }
        }
    }

    private func exportAll() throws {
        let toStdout = dest == "-"
        if format == .pass {
            guard let gpgID, !gpgID.isEmpty else {
                throw usageError("--gpg-id", "--format pass needs --gpg-id ID: the gpg key the new store is encrypted to")
            }
            if toStdout { throw usageError("DEST", "--format pass writes a directory, not standard output") }
        } else if gpgID != nil {
            throw usageError("--gpg-id", "--gpg-id is only for --format pass")
        }
        if let interpolate, format != .dotenv {
            throw usageError(
                interpolate ? "--interpolate" : "--no-interpolate", "--interpolate and --no-interpolate are only for --format dotenv")
        }
        if !yes, !Terminal.stdinIsTTY {
            throw usageError(
                "--yes",
                """
                export writes secret values in plaintext to \(toStdout ? "standard output" : Validate.visible(dest)); \
                there is no terminal to confirm on, so give --yes to say that is intended
                """)
        }
        if !toStdout {
            var st = stat()
            if lstat(dest, &st) == 0 {
                throw KeyholdError.conflict("\(Validate.visible(dest)) already exists; export never overwrites")
            }
            let parent = (dest as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            if !parent.isEmpty, !(FileManager.default.fileExists(atPath: parent, isDirectory: &isDir) && isDir.boolValue) {
                throw KeyholdError.notFound(kind: "directory", name: parent)
            }
        }
        let gpg = format == .pass ? try PassStore.checkRecipient(gpgID!) : nil

        let s = try session.session()
        guard try s.permissions().contains(.secretsRead) else {
            throw KeyholdError.permissionDenied(action: "secret.export", missing: .secretsRead)
        }
        // Without counting versions: a damaged page among them is named by the hand-out, not a stop here.
        let infos = try s.secretsWithoutCounts(prefix: prefix.isEmpty ? nil : prefix).filter { $0.name.hasPrefix(prefix) }
        guard !infos.isEmpty else {
            Terminal.err(
                prefix.isEmpty
                    ? "keyhold: the vault holds no secrets; nothing to export"
                    : "keyhold: no secret name starts with \(Validate.visible(prefix)); nothing to export")
            throw ExitCode(Exit.notFound)
        }
        var names: [String] = []
        for info in infos {
            let short = String(info.name.dropFirst(prefix.count))
            do { _ = try Validate.secretName(short) } catch {
                throw usageError(
                    "--prefix",
                    "with --prefix \(Validate.visible(prefix)) the secret \(Validate.visible(info.name)) "
                        + "would be written as \"\(Validate.visible(short))\", which is not a name; end the prefix with /")
            }
            names.append(short)
        }
        var keys: [String] = []
        if format == .dotenv {
            var byKey: [String: String] = [:]
            for (info, short) in zip(infos, names) {
                let key = DotEnv.key(for: short)
                if let other = byKey[key] {
                    throw KeyholdError.conflict(
                        "\(Validate.visible(other)) and \(Validate.visible(info.name)) "
                            + "both become the .env key \(key); export them separately with --prefix")
                }
                byKey[key] = info.name
                keys.append(key)
            }
        }
        if !yes {
            let answer = try Terminal.ask(
                "This writes \(infos.count) secret value\(infos.count == 1 ? "" : "s") in PLAINTEXT to "
                    + "\(toStdout ? "standard output" : Validate.visible(dest)). Type yes to continue: ")
            guard answer?.trimmingCharacters(in: .whitespaces) == "yes" else {
                Terminal.err("Cancelled; nothing was revealed or written.")
                throw ExitCode(Exit.failure)
            }
        }

        // One audited hand-out; each value is written as it comes and wiped with its batch.
        let left = LeftOut(names: infos.map(\.name), skipBad: skipBad)
        if format == .pass {
            umask(0o077)
            try PassStore.create(dest, gpgID: gpgID!)
            do {
                try s.revealEach(infos.map(\.name), purpose: .export, skipping: left.skipping) { i, value in
                    try PassStore.add(path: names[i], value: value, to: dest, gpgID: gpgID!, gpg: gpg!)
                }
            } catch {
                try? FileManager.default.removeItem(atPath: dest)
                throw error
            }
        } else {
            // Standard output is held to the end for the formats that may refuse a value, so a refusal writes nothing,
            // and on a terminal, so the escaping of control characters sees whole characters.
            let sink =
                toStdout
                ? ExportSink(standardOutputHolding: format != .json || Terminal.stdoutIsTTY)
                : try ExportSink(creating: dest)
            do {
                try write(infos, names: names, keys: keys, session: s, to: sink, leftOut: left)
                try sink.finish()
            } catch {
                sink.discard()
                throw error
            }
        }
        let count = infos.count - left.count
        if left.count > 0 {
            Terminal.err(
                "keyhold: left out \(left.count) secret\(left.count == 1 ? "" : "s") that could not be opened: "
                    + left.names.map(Validate.visible).joined(separator: ", "))
        }
        if !toStdout {
            Terminal.err(
                "Exported \(count) secret\(count == 1 ? "" : "s") to \(Validate.visible(dest)) (\(format.rawValue)). "
                    + (format == .pass ? "" : "It holds plaintext: delete it when done."))
        }
    }

    /// The secrets an export with --skip-bad leaves out, each named on stderr as it is found.
    final class LeftOut {
        private let all: [String]
        private(set) var names: [String] = []
        let skipBad: Bool
        init(names: [String], skipBad: Bool) { all = names; self.skipBad = skipBad }
        var count: Int { names.count }
        /// Counts a name left out and reported elsewhere.
        func add(_ name: String) { names.append(name) }
        /// For `Session.revealEach`: nil without --skip-bad (a bad row stops the export).
        var skipping: ((Int, String) -> Void)? {
            guard skipBad else { return nil }
            return { [self] index, why in
                names.append(all[index])
                Terminal.err("keyhold: left out \(Validate.visible(all[index])): \(Validate.visible(why))")
            }
        }
    }

    /// Reveals the values (`Session.revealEach`: one audited hand-out, a batch at a time) and writes
    /// each in the file formats as it comes. `names` are without the prefix; `keys` are the .env keys.
    private func write(
        _ infos: [SecretInfo], names: [String], keys: [String], session s: Session, to sink: ExportSink,
        leftOut left: LeftOut
    ) throws {
        let out = sink.buffer
        switch format {
        case .dotenv:
            // With --skip-bad the count is not known before the values are opened.
            try out.append(DotEnv.header(count: skipBad ? nil : infos.count, interpolate: interpolate))
            try s.revealEach(infos.map(\.name), purpose: .export, skipping: left.skipping) { i, value in
                if let why = DotEnv.exportProblem(value, interpolate: interpolate) { throw refusal(infos[i].name, why) }
                try DotEnv.appendLine(key: keys[i], value: value, interpolate: interpolate == true, to: out)
                try sink.wrote()
            }
        case .json:
            try JSONEntries.begin(to: out)
            var written = 0
            try s.revealEach(infos.map(\.name), purpose: .export, skipping: left.skipping) { i, value in
                try JSONEntries.appendEntry(index: written, name: names[i], value: value, description: infos[i].description, to: out)
                written += 1
                try sink.wrote()
            }
            try JSONEntries.end(count: written, to: out)
        case .keepassxc:
            let items = zip(names, infos).map {
                KeePassXML.Item(segments: $0.split(separator: "/").map(String.init), description: $1.description)
            }
            let writer = KeePassXML.Writer(items, now: ISO8601DateFormatter().string(from: Date()))
            try writer.begin(out)
            let order = writer.order  // the document's order of entries, so each is written as its value comes
            // Values come in document order, so the names left out are counted in that order too.
            let inOrder = LeftOut(names: order.map { infos[$0].name }, skipBad: skipBad)
            defer { for name in inOrder.names { left.add(name) } }
            var next = 0  // the k of the next entry the writer writes
            try s.revealEach(order.map { infos[$0].name }, purpose: .export, skipping: inOrder.skipping) { k, value in
                guard KeePassXML.canCarry(value) else {
                    throw refusal(
                        infos[order[k]].name, "is not text that XML can carry (UTF-8 without control characters); export it as json")
                }
                while next < k { try writer.skip(out); next += 1 }  // entries left out before this one
                try writer.entry(value, to: out)
                next += 1
                try sink.wrote()
            }
            try writer.end(out)
        case .pass:
            throw usageError("--format", "pass writes a directory, not a file")  // handled by the caller; never reached
        }
    }

    private func refusal(_ name: String, _ why: String) -> KeyholdError {
        usageError("value", "the value of \(Validate.visible(name)) \(why); nothing was written")
    }
}

/// Lists the entries an import cannot take on stderr (the first 100, by origin and rule, never
/// a value). Without `--skip-bad` any bad entry stops the import before anything is written:
/// a usage error (exit 64).
func reportBadEntries(_ bad: [BadEntry], skipBad: Bool) throws {
    guard !bad.isEmpty else { return }
    let verb = skipBad ? "skipped" : "bad entry"
    for b in bad.prefix(100) { Terminal.err("keyhold: \(verb): \(b.origin): \(b.message)") }
    if bad.count > 100 { Terminal.err("keyhold: ... and \(bad.count - 100) more") }
    if !skipBad {
        Terminal.err(
            "keyhold: \(bad.count) bad entr\(bad.count == 1 ? "y" : "ies"); nothing was imported "
                + "(fix \(bad.count == 1 ? "it" : "them"), or give --skip-bad to import the rest)")
        throw ExitCode(Exit.usage)
    }
}
