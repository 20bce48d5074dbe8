import Foundation
import KeyholdTestSupport
import Testing

// End-to-end tests of `keyhold import` and `keyhold export`, through the built binary.
// Secret values are compared as bytes and never printed: a failing check names the
// secret and the sizes, not the value.

/// Two vaults (made by `keyhold init`) in one scratch directory, administrator `owner` in both.
final class TransferFixture: @unchecked Sendable {
    static let password = "mossy granite under the bridge"
    static let owner = ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": password]

    let scratch = TempDir(prefix: "keyhold-cli")
    var dir: String { scratch.path }
    let a: String
    let b: String

    init() throws {
        a = scratch.file("a/keyhold.db")
        b = scratch.file("b/keyhold.db")
        for db in [a, b] {
            let r = try CLI.run(["init", "--db", db], stdin: "owner\n\(Self.password)\n")
            guard r.status == 0 else { throw TestFailure("init failed: \(r.stderr)") }
        }
    }

    /// keyhold ARGS --db DB as the owner (or `env`), with `stdin`.
    func run(_ db: String, _ args: [String], stdin: String = "", env: [String: String] = TransferFixture.owner) throws -> CLI.Result {
        try CLI.run(args + ["--db", db], stdin: stdin, env: env)
    }

    /// keyhold with stdout kept as bytes.
    func runBytes(_ db: String, _ args: [String], env: [String: String] = TransferFixture.owner) throws -> (
        status: Int32, stdout: Data, stderr: String
    ) {
        let r = try KeyholdBinary.run(args + ["--db", db], env: env)
        return (r.status, r.stdout, r.stderr)
    }

    /// Stores `value` as NAME in `db`: `secret set NAME --stdin` for text, `--from-file` for bytes that
    /// --stdin would change (a trailing newline) or that are not text.
    func set(_ db: String, _ name: String, _ value: [UInt8]) throws {
        let r: CLI.Result
        if let text = String(validating: value, as: UTF8.self), value.last != 0x0A, value.last != 0x0D {
            r = try run(db, ["secret", "set", name, "--stdin"], stdin: text)
        } else {
            let file = scratch.file("value-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: file, contents: Data(value), attributes: [.posixPermissions: 0o600])
            defer { try? FileManager.default.removeItem(atPath: file) }
            r = try run(db, ["secret", "set", name, "--from-file", file])
        }
        guard r.status == 0 else { throw TestFailure("secret set \(name) exited \(r.status): \(r.stderr)") }
    }

    /// The value `secret show NAME` prints, byte for byte (no newline is added off a terminal).
    func show(_ db: String, _ name: String) throws -> [UInt8]? {
        let r = try runBytes(db, ["secret", "show", name])
        return r.status == 0 ? Array(r.stdout) : nil
    }

    /// Expects NAME in `db` to hold exactly `value`; a failure says the sizes, never the bytes.
    func expectValue(_ db: String, _ name: String, _ value: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let got = try show(db, name)
        let same = got == value
        #expect(
            same,
            "\(name) holds \(got.map { "\($0.count) bytes" } ?? "nothing (show failed)"), expected \(value.count) bytes other than these",
            sourceLocation: sourceLocation)
    }

    func expectValue(_ db: String, _ name: String, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try expectValue(db, name, Array(text.utf8), sourceLocation: sourceLocation)
    }

    /// Expects none of `values` in `output`; a failure names the place, never the value.
    func expectAbsent(_ output: String, _ values: [String], _ place: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (i, v) in values.enumerated() where !v.isEmpty {
            let leaked = output.contains(v)
            #expect(!leaked, "secret value #\(i) appeared in \(place)", sourceLocation: sourceLocation)
        }
    }

    /// The names in `secret list --json`.
    func names(_ db: String) throws -> [String] {
        let r = try run(db, ["secret", "list", "--json"])
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
            let list = o["secrets"] as? [[String: Any]]
        else { throw TestFailure("secret list --json failed (\(r.status)): \(r.stderr)") }
        return list.compactMap { $0["name"] as? String }.sorted()
    }

    /// The audit events with `action`, from `audit list --json`.
    func events(_ db: String, action: String) throws -> [[String: Any]] {
        let r = try run(db, ["audit", "list", "--json", "--action", action])
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
            let list = o["events"] as? [[String: Any]]
        else { throw TestFailure("audit list --json failed (\(r.status)): \(r.stderr)") }
        return list
    }

    func mode(_ path: String) -> Int? { (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int }

    func write(_ name: String, _ text: String) -> String {
        let path = scratch.file(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }
}

/// A throwaway gpg home with one passphrase-less key, for pass stores made in the test.
final class ThrowawayGPG: @unchecked Sendable {
    let home: String
    let env: [String: String]
    private(set) var fingerprint = ""

    /// Fails (never skips) when pass or gpg is missing: `make test` installs them.
    init(in dir: String) throws {
        for tool in ["gpg", "pass", "gpgconf"] {
            try #require(
                Subprocess.which(tool) != nil,
                "\(tool) is not installed: `make test` installs pass and gnupg (or: apt-get install -y pass gnupg)")
        }
        home = dir + "/gnupg"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var env = ProcessInfo.processInfo.environment
        env["GNUPGHOME"] = home
        self.env = env
        let gen = try Subprocess.run(
            "gpg",
            [
                "--batch", "--passphrase", "", "--quick-gen-key", "Keyhold Test <test@example.invalid>",
                "default", "default", "never"
            ], env: env)
        try #require(gen.status == 0, "gpg --quick-gen-key failed: \(gen.stderr)")
        let list = try Subprocess.run("gpg", ["--batch", "--with-colons", "--list-secret-keys"], env: env)
        let fpr = String(decoding: list.stdout, as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix("fpr:") }?.split(separator: ":", omittingEmptySubsequences: false)
        fingerprint = try #require(fpr.map { String($0[9]) }, "no fingerprint in gpg's key list")
    }

    deinit { _ = try? Subprocess.run("gpgconf", ["--kill", "gpg-agent"], env: env) }

    /// Runs `pass ARGS` on the store at `store`.
    func pass(_ store: String, _ args: [String], stdin: [UInt8] = []) throws -> Subprocess.Result {
        var env = self.env
        env["PASSWORD_STORE_DIR"] = store
        return try Subprocess.run("pass", args, stdin: Data(stdin), env: env)
    }
}

@Suite struct ImportExportTests {
    /// Values no format may bend: quotes, `#`, `$`, backslashes, spaces at both ends, line breaks (LF and CR LF), non-ASCII.
    static let textValues: [(String, [UInt8])] = [
        ("DB_PASSWORD", Array(#"p@ss w0rd 'single' "double" # not a comment = still value"#.utf8)),
        ("API_KEY", Array("line one\nline two\n  indented \\ back\\slash $HOME ${OTHER} \\n literal".utf8)),
        ("PADDED", Array("  spaces around\t ".utf8)),
        ("UNICODE_1", Array("héllo wörld ✓ 🔑 Ω".utf8)),
        ("CRLF", Array("first\r\nsecond\rthird".utf8)),
        ("TRAILING_NEWLINE", Array("ends with a newline\n".utf8)),
        ("FLASK_SECRET_KEY", Array("Zq9-x_7Yh2Lk0PqW3eRtY6uI8oPaSdFgHjKlZxCvBnM".utf8))
    ]

    /// Names that use paths (json, pass and keepassxc keep them).
    static let pathValues: [(String, [UInt8])] = [
        ("app/prod/db-password", Array(#"<xml> & "quotes" 'too' ]]> &amp;"#.utf8)),
        ("app/prod/api.key", Array("multi\nline\n\nwith blank line".utf8)),
        ("app/web/FLASK_SECRET_KEY", Array("  padded  ".utf8)),
        ("top", Array("x".utf8)),
        ("CRLF", Array("a\r\nb\r".utf8))
    ]

    /// Bytes that are not UTF-8 text (json carries them as value_base64, pass as they are).
    static let binaryValues: [(String, [UInt8])] = [("bin/random", [0x00, 0xFF, 0x80, 0x01, 0x0A, 0xC3, 0x28, 0x7F])]

    /// Sets `values` in vault a, exports with `format` to a new file, imports into vault b, compares every value.
    func roundTrip(
        _ format: String, _ values: [(String, [UInt8])], in fixture: TransferFixture? = nil, gpg: ThrowawayGPG? = nil,
        exportFlags: [String] = [], importFlags: [String] = []
    ) throws {
        let f = try fixture ?? TransferFixture()
        for (name, value) in values { try f.set(f.a, name, value) }
        let dest = f.scratch.file("export-\(format)")
        var exportArgs = ["export", "--format", format, "--yes", dest] + exportFlags
        var env = TransferFixture.owner
        if let gpg { exportArgs += ["--gpg-id", gpg.fingerprint]; env["GNUPGHOME"] = gpg.home }
        let exported = try f.run(f.a, exportArgs, env: env)
        #expect(exported.status == 0, "export --format \(format): \(exported.stderr)")
        #expect(f.mode(dest) == (format == "pass" ? 0o700 : 0o600), "export must be private")
        let imported = try f.run(f.b, ["import", "--format", format, dest] + importFlags, env: env)
        #expect(imported.status == 0, "import --format \(format): \(imported.stderr)")
        #expect(imported.stdout.contains("\(values.count) created"), "summary: \(imported.stdout)")
        let texts = values.compactMap { $0.1.count > 3 ? String(validating: $0.1, as: UTF8.self) : nil }
        f.expectAbsent(exported.all, texts, "the output of export --format \(format)")
        f.expectAbsent(imported.all, texts, "the output of import --format \(format)")
        #expect(try f.names(f.b) == values.map(\.0).sorted())
        for (name, value) in values {
            let inA = try f.show(f.a, name), inB = try f.show(f.b, name)
            let setRight = inA == value, survived = inB == inA
            #expect(setRight, "\(name): vault a does not hold what was set (\(inA?.count ?? -1) bytes, expected \(value.count))")
            #expect(
                survived, "\(name): the \(format) round trip changed the value (\(inB?.count ?? -1) bytes, expected \(inA?.count ?? -1))")
        }
    }

    /// API_KEY holds ${OTHER}: written for a reader that interpolates and expanded on import, or literal both ways.
    @Test func dotenvRoundTrip() throws {
        try roundTrip("dotenv", Self.textValues, exportFlags: ["--interpolate"], importFlags: ["--expand"])
        try roundTrip("dotenv", Self.textValues, exportFlags: ["--no-interpolate"], importFlags: ["--literal"])
    }

    @Test func jsonRoundTrip() throws {
        try roundTrip("json", Self.textValues + Self.pathValues.filter { $0.0 != "CRLF" } + Self.binaryValues)
    }

    @Test func keepassxcRoundTrip() throws { try roundTrip("keepassxc", Self.pathValues + [("UNICODE_1", Self.textValues[3].1)]) }

    @Test func passRoundTrip() throws {
        let f = try TransferFixture()
        let gpg = try ThrowawayGPG(in: f.dir)
        try roundTrip("pass", Self.pathValues + Self.binaryValues + [("TRAILING_NEWLINE", Self.textValues[5].1)], in: f, gpg: gpg)
    }

    /// The exported store is one pass itself reads: `pass show` gives the value plus the newline pass expects.
    @Test func passExportIsAStorePassReads() throws {
        let f = try TransferFixture()
        let gpg = try ThrowawayGPG(in: f.dir)
        try f.set(f.a, "app/prod/db-password", Array("hunter2 but longer".utf8))
        try f.set(f.a, "other/x", Array("not exported".utf8))
        let store = f.scratch.file("store")
        let r = try f.run(
            f.a, ["export", "--format", "pass", "--prefix", "app/", "--gpg-id", gpg.fingerprint, "--yes", store],
            env: TransferFixture.owner.merging(["GNUPGHOME": gpg.home]) { _, b in b })
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try String(contentsOfFile: store + "/.gpg-id", encoding: .utf8) == gpg.fingerprint + "\n")
        #expect(FileManager.default.fileExists(atPath: store + "/prod/db-password.gpg"), "the prefix is left out of the path")
        #expect(!FileManager.default.fileExists(atPath: store + "/other"))
        let shown = try gpg.pass(store, ["show", "prod/db-password"])
        #expect(shown.status == 0, "pass show: \(shown.stderr)")
        let same = Array(shown.stdout) == Array("hunter2 but longer\n".utf8)
        #expect(same, "pass show gives another value (\(shown.stdout.count) bytes)")
        // No plaintext file was left anywhere in the store.
        let files = FileManager.default.enumerator(atPath: store)?.allObjects as? [String] ?? []
        for file in files where !file.hasSuffix(".gpg") && file != ".gpg-id" {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: store + "/" + file, isDirectory: &isDir)
            #expect(isDir.boolValue, "unexpected file \(file) in the exported store")
        }
        // A missing --gpg-id is a usage error, before anything is revealed.
        let missing = try f.run(f.a, ["export", "--format", "pass", "--yes", f.scratch.file("store2")])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("--gpg-id"))
    }

    /// A store made by pass itself (`pass init`, `pass insert -m`) imports whole, with the prefix.
    @Test func passStoreFixtureImports() throws {
        let f = try TransferFixture()
        let gpg = try ThrowawayGPG(in: f.dir)
        let store = f.scratch.file("password-store")
        let initialised = try gpg.pass(store, ["init", gpg.fingerprint])
        try #require(initialised.status == 0, "pass init: \(initialised.stderr)")
        let entries: [(String, String, [UInt8])] = [
            // (path, what pass insert is fed, the value Keyhold keeps: the whole file less one trailing newline)
            (
                "web/github.com", "gh-password\nuser: alice\nurl: https://github.com\n",
                Array("gh-password\nuser: alice\nurl: https://github.com".utf8)
            ),
            ("db/prod", "s3cr3t-prod\n", Array("s3cr3t-prod".utf8)),
            ("db/staging", "no trailing newline", Array("no trailing newline".utf8)),
            ("keys/two-newlines", "kept one\n\n", Array("kept one\n".utf8))
        ]
        for (path, content, _) in entries {
            let r = try gpg.pass(store, ["insert", "-m", path], stdin: Array(content.utf8))
            try #require(r.status == 0, "pass insert \(path): \(r.stderr)")
        }
        var env = TransferFixture.owner
        env["GNUPGHOME"] = gpg.home
        let r = try f.run(f.b, ["import", "--format", "pass", "--prefix", "legacy/", store], env: env)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("4 created"))
        #expect(try f.names(f.b) == entries.map { "legacy/" + $0.0 }.sorted())
        for (path, _, value) in entries { try f.expectValue(f.b, "legacy/" + path, value) }
        f.expectAbsent(r.all, entries.map { String(decoding: $0.2, as: UTF8.self) }, "the output of import --format pass")

        // A file gpg cannot decrypt is named, and nothing is imported without --skip-bad.
        _ = FileManager.default.createFile(atPath: store + "/broken.gpg", contents: Data("not gpg at all".utf8))
        let broken = try f.run(f.a, ["import", "--format", "pass", store], env: env)
        #expect(broken.status == 64)
        #expect(broken.stderr.contains("file broken.gpg"), "\(broken.stderr)")
        #expect(try f.names(f.a).isEmpty)
    }

    @Test func badDotenvLineIsNamedAndNothingIsWritten() throws {
        let f = try TransferFixture()
        try f.set(f.a, "EXISTING", Array("already here".utf8))
        let before = try f.names(f.a)
        let auditBefore = try f.events(f.a, action: "secret.import").count
        let env = f.write(
            "bad.env",
            """
            # a comment
            GOOD_ONE=first-value
            this line is not an assignment
            export GOOD_TWO = "second value"
            BAD NAME=x
            EMPTY=
            GOOD_ONE=again

            """)
        let r = try f.run(f.a, ["import", "--format", "dotenv", env])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("line 3: expected KEY=value; python-dotenv skips this line"), "\(r.stderr)")
        #expect(r.stderr.contains("line 5: expected KEY=value"), "BAD NAME is not KEY=value: \(r.stderr)")
        #expect(r.stderr.contains("line 6: secret value: must not be empty"), "\(r.stderr)")
        #expect(r.stderr.contains("note: line 7: GOOD_ONE is given 2 times (also at line 2)"), "reported, not refused: \(r.stderr)")
        #expect(r.stderr.contains("3 bad entries; nothing was imported"), "\(r.stderr)")
        f.expectAbsent(r.all, ["first-value", "second value", "again"], "the refused import's output")
        #expect(try f.names(f.a) == before, "a refused import must write nothing")
        #expect(try f.events(f.a, action: "secret.import").count == auditBefore)

        let skipped = try f.run(f.a, ["import", "--format", "dotenv", "--skip-bad", env])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("skipped: line 3"))
        #expect(skipped.stdout.contains("2 created"), "\(skipped.stdout)")
        #expect(try f.names(f.a) == ["EXISTING", "GOOD_ONE", "GOOD_TWO"])
        try f.expectValue(f.a, "GOOD_ONE", "again")  // the last, as python-dotenv gives the application
        try f.expectValue(f.a, "GOOD_TWO", "second value")
    }

    /// The .env syntax: export, comments, quotes and escapes, trimming, CRLF, an unclosed quote.
    @Test func dotenvSyntax() throws {
        let f = try TransferFixture()
        let file = f.write(
            "syntax.env",
            "\u{FEFF}# header\r\n"
                + "UNQUOTED =  trimmed value   # a comment\r\n"
                + "HASH=a#b\n"
                + "export EXPORTED=yes\n"
                + "SINGLE='lit\\n $X \"q\"' # comment\n"
                + "DOUBLE=\"tab\\there\\nnew \\\"q\\\" \\\\ \\$ end\"\n"
                + "MULTI=\"one\ntwo\"\n"
                + "  INDENTED=\tv  \n")
        let r = try f.run(f.a, ["import", "--format", "dotenv", "--prefix", "env/", file])
        #expect(r.status == 0, "\(r.stderr)")
        let expected: [String: String] = [
            "UNQUOTED": "trimmed value", "HASH": "a#b", "EXPORTED": "yes", "SINGLE": #"lit\n $X "q""#,
            "DOUBLE": "tab\there\nnew \"q\" \\ \\$ end", "MULTI": "one\ntwo", "INDENTED": "v"
        ]
        #expect(try f.names(f.a) == expected.keys.map { "env/" + $0 }.sorted())
        for (k, v) in expected { try f.expectValue(f.a, "env/" + k, v) }
        let unclosed = f.write("unclosed.env", "A=1\nB=\"never closed\nC=3\n")
        let u = try f.run(f.b, ["import", "--format", "dotenv", unclosed])
        #expect(u.status == 64)
        #expect(u.stderr.contains("line 2: B: the double-quoted value is never closed"), "\(u.stderr)")
        #expect(try f.names(f.b).isEmpty)
    }

    /// `${NAME}` is what python-dotenv expands when the application loads the file: never stored
    /// or written silently, either way.
    @Test func dotenvVariablesNeedAChoice() throws {
        let f = try TransferFixture()
        let file = f.write("vars.env", "HOST=db\nURL=postgres://${HOST}:${PORT:-5432}/app\nTOKEN='tok$en${HOST}x'\n")
        let refused = try f.run(f.a, ["import", "--format", "dotenv", file])
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("line 2: URL: the value holds ${...}") && refused.stderr.contains("line 3: TOKEN"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--expand") && refused.stderr.contains("--literal"))
        #expect(try f.names(f.a).isEmpty)

        // --expand takes names from earlier keys only: PORT is not there, so URL is refused, not guessed.
        let expanded = try f.run(
            f.a, ["import", "--format", "dotenv", "--expand", "--prefix", "x/", file],
            env: TransferFixture.owner.merging(["PORT": "1"]) { a, _ in a })
        #expect(expanded.status == 64, "\(expanded.stderr)")
        #expect(expanded.stderr.contains("line 2: URL: its ${...} names no key defined earlier in this file"), "\(expanded.stderr)")
        let skipped = try f.run(f.a, ["import", "--format", "dotenv", "--expand", "--skip-bad", "--prefix", "x/", file])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(try f.names(f.a) == ["x/HOST", "x/TOKEN"])
        try f.expectValue(f.a, "x/TOKEN", "tok$endbx")
        let literal = try f.run(f.a, ["import", "--format", "dotenv", "--literal", "--prefix", "l/", file])
        #expect(literal.status == 0, "\(literal.stderr)")
        try f.expectValue(f.a, "l/URL", "postgres://${HOST}:${PORT:-5432}/app")
        for args in [["--expand", "--literal"], ["--format", "json", "--expand"]] {
            let bad = try f.run(f.a, ["import", "--format", "dotenv"] + args + [file])
            #expect(bad.status == 64, "\(args): \(bad.stderr)")
        }

        // Export: refused by default, naming the secret; --interpolate / --no-interpolate write for each reader.
        let dest = f.scratch.file("vars-out.env")
        let plain = try f.run(f.a, ["export", "--format", "dotenv", "--yes", "--prefix", "l/", dest])
        #expect(plain.status == 64, "\(plain.stderr)")
        #expect(
            plain.stderr.contains("l/TOKEN") && plain.stderr.contains("--interpolate") && plain.stderr.contains("--no-interpolate"),
            "\(plain.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dest))
        let on = try f.run(f.a, ["export", "--format", "dotenv", "--yes", "--prefix", "l/", "--interpolate", "-"])
        #expect(on.status == 0, "\(on.stderr)")
        #expect(on.stdout.contains("URL='postgres://${:-$}{HOST}:${:-$}{PORT:-5432}/app'\n"), "\(on.stdout)")
        let off = try f.run(f.a, ["export", "--format", "dotenv", "--yes", "--prefix", "l/", "--no-interpolate", "-"])
        #expect(off.status == 0, "\(off.stderr)")
        #expect(off.stdout.contains("URL='postgres://${HOST}:${PORT:-5432}/app'\n"), "\(off.stdout)")
        let json = try f.run(f.a, ["export", "--format", "json", "--yes", "--interpolate", "-"])
        #expect(json.status == 64, "--interpolate is only for dotenv: \(json.stderr)")
    }

    @Test func jsonShapesAndErrors() throws {
        let f = try TransferFixture()
        let flat = f.write("flat.json", #"{"app/one": "1st", "app/two": "2nd\nline"}"#)
        let r = try f.run(f.a, ["import", "--format", "json", flat])
        #expect(r.status == 0, "\(r.stderr)")
        try f.expectValue(f.a, "app/two", "2nd\nline")

        let bad = f.write(
            "bad.json",
            """
            {"secrets": [
              {"name": "ok/one", "value": "v1", "description": "first"},
              {"name": "ok/two", "vaule": "typo"},
              {"name": "bad name", "value": "v"},
              {"name": "ok/three", "value_base64": "AP8B"},
              {"name": "ok/four", "value": "a", "value_base64": "AA=="},
              "not an object"
            ]}
            """)
        let b = try f.run(f.b, ["import", "--format", "json", bad])
        #expect(b.status == 64)
        #expect(b.stderr.contains("secrets[1] (ok/two): unknown key \"vaule\""), "\(b.stderr)")
        #expect(b.stderr.contains("secrets[2] (bad name): secret name"), "\(b.stderr)")
        #expect(b.stderr.contains("secrets[4] (ok/four): give value or value_base64, not both"), "\(b.stderr)")
        #expect(b.stderr.contains("secrets[5]: must be an object"), "\(b.stderr)")
        #expect(try f.names(f.b).isEmpty)
        let skip = try f.run(f.b, ["import", "--format", "json", "--skip-bad", "--json", bad])
        #expect(skip.status == 0, "\(skip.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(skip.stdout.utf8)) as? [String: Any]
        #expect(summary?["created"] as? Int == 2)
        #expect((summary?["bad"] as? [Any])?.count == 4)
        try f.expectValue(f.b, "ok/three", [0x00, 0xFF, 0x01])

        let notJSON = f.write("not.json", "{\"a\": ")
        let n = try f.run(f.b, ["import", "--format", "json", notJSON])
        #expect(n.status == 64)
        #expect(n.stderr.contains("not valid JSON"))

        // Standard input.
        let piped = try f.run(f.b, ["import", "--format", "json", "-"], stdin: #"{"secrets": [{"name": "from/stdin", "value": "piped"}]}"#)
        #expect(piped.status == 0, "\(piped.stderr)")
        try f.expectValue(f.b, "from/stdin", "piped")
    }

    /// A real KeePassXC 2.7 XML export: groups below the root, history and recycle bin left out, names sanitised.
    @Test func keepassxcExportImports() throws {
        let f = try TransferFixture()
        let file = f.write("keepassxc.xml", Self.keepassxcExport)
        let r = try f.run(f.a, ["import", "--format", "keepassxc", "--json", file])
        #expect(r.status == 64, "the entry without a password is bad: \(r.stderr)")
        #expect(r.stderr.contains("(\"No password\")"), "\(r.stderr)")
        #expect(r.stderr.contains("secret value: must not be empty"), "\(r.stderr)")
        #expect(try f.names(f.a).isEmpty)
        let s = try f.run(f.a, ["import", "--format", "keepassxc", "--skip-bad", "--prefix", "kp/", file])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(try f.names(f.a) == ["kp/Top_level_entry", "kp/Web/Git_Hub", "kp/Web/Sub_group/caf_"])
        try f.expectValue(f.a, "kp/Web/Git_Hub", "hunter2 <&> \"current\"")
        try f.expectValue(f.a, "kp/Top_level_entry", "  top\nsecond line")
        try f.expectValue(f.a, "kp/Web/Sub_group/caf_", "CDATA ]] value")
        let show = try f.run(f.a, ["secret", "list", "--json"])
        #expect(show.stdout.contains("user: alice; url: https://github.com"), "\(show.stdout)")
        f.expectAbsent(
            s.all + r.all, ["hunter2", "old-password", "deleted-password", "CDATA ]] value"], "the output of import --format keepassxc")
    }

    @Test func exportRefusesExistingDestAndWritesPrivateFiles() throws {
        let f = try TransferFixture()
        try f.set(f.a, "ONE", Array("value one".utf8))
        let existing = f.write("existing.env", "keep me\n")
        let r = try f.run(f.a, ["export", "--format", "dotenv", "--yes", existing])
        #expect(r.status == 68, "\(r.stderr)")
        #expect(try String(contentsOfFile: existing, encoding: .utf8) == "keep me\n", "an existing file must be left alone")
        for format in ["dotenv", "json", "keepassxc"] {
            let dest = f.scratch.file("new.\(format)")
            let w = try f.run(f.a, ["export", "--format", format, "--yes", dest])
            #expect(w.status == 0, "\(format): \(w.stderr)")
            #expect(f.mode(dest) == 0o600, "\(format): mode \(String(f.mode(dest) ?? 0, radix: 8))")
            f.expectAbsent(w.all, ["value one"], "the output of export --format \(format)")
        }
        // The documented JSON shape.
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.scratch.file("new.json")))) as? [String: Any]
        let entries = json?["secrets"] as? [[String: Any]]
        #expect(json.map { Set($0.keys) } == ["secrets"])
        #expect(entries?.count == 1)
        #expect(entries.map { Set($0[0].keys) } == ["name", "value", "description"])
        #expect(entries?.first?["name"] as? String == "ONE")
        // Standard output for dotenv.
        let out = try f.run(f.a, ["export", "--format", "dotenv", "--yes", "-"])
        #expect(out.status == 0)
        let line = out.stdout.contains("ONE='value one'\n")
        #expect(line, "export to - must print ONE='...' on stdout")
        // Two names with one .env key are refused, naming both, before anything is revealed.
        try f.set(f.a, "a/b", Array("x".utf8))
        try f.set(f.a, "A_B", Array("y".utf8))
        let exportsBefore = try f.events(f.a, action: "secret.export").count
        let clash = try f.run(f.a, ["export", "--format", "dotenv", "--yes", f.scratch.file("clash.env")])
        #expect(clash.status == 68)
        #expect(clash.stderr.contains("A_B and a/b both become the .env key A_B"), "\(clash.stderr)")
        #expect(!FileManager.default.fileExists(atPath: f.scratch.file("clash.env")))
        #expect(try f.events(f.a, action: "secret.export").count == exportsBefore)
    }

    /// Export streams to its file, so a value the format cannot carry, found after thousands
    /// were written, must still leave no file (and, on standard output, print nothing). The
    /// hand-out was audited before the first value was opened, so the attempt is on record.
    @Test func exportRefusingAValuePartWayLeavesNothing() throws {
        let f = try TransferFixture()
        let good = (0..<3_000).map { "\"many/v\($0)\": \"value number \($0) of many\"" }
        let file = f.write("many.json", "{" + (good + [#""many/zz-last": "bad\u0000value""#]).joined(separator: ", ") + "}")
        let imported = try f.run(f.a, ["import", "--format", "json", file])
        try #require(imported.status == 0, "\(imported.stderr)")
        for format in ["dotenv", "keepassxc"] {
            let dest = f.scratch.file("refused.\(format)")
            let r = try f.run(f.a, ["export", "--format", format, "--yes", dest])
            #expect(r.status == 64, "\(format): \(r.stderr)")
            #expect(r.stderr.contains("many/zz-last") && r.stderr.contains("export it as json"), "\(format): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dest), "\(format): the partial file was left behind")
            let out = try f.runBytes(f.a, ["export", "--format", format, "--yes", "-"])
            #expect(out.status == 64, "\(format) to stdout: \(out.stderr)")
            #expect(out.stdout.isEmpty, "\(format) to stdout printed \(out.stdout.count) bytes before the refusal")
        }
        let events = try f.events(f.a, action: "secret.export")
        #expect(events.count == 4)
        #expect(events.allSatisfy { ($0["details"] as? [String: Any])?["count"] as? Int == 3_001 })
    }

    @Test func exportWithoutTerminalNeedsYes() throws {
        let f = try TransferFixture()
        try f.set(f.a, "ONE", Array("value one".utf8))
        let dest = f.scratch.file("out.json")
        let r = try f.run(f.a, ["export", "--format", "json", dest], stdin: "yes\n")
        #expect(r.status == 64)
        #expect(r.stderr.contains("--yes"), "\(r.stderr)")
        #expect(r.stderr.contains("plaintext"))
        #expect(!FileManager.default.fileExists(atPath: dest))
        #expect(try f.events(f.a, action: "secret.export").isEmpty)
    }

    /// On a terminal (a pty from util-linux `script`), export asks; anything but `yes` cancels before anything is revealed.
    @Test func exportOnTerminalAsksForYes() throws {
        let f = try TransferFixture()
        try f.set(f.a, "ONE", Array("value one".utf8))
        let script = try #require(Subprocess.which("script"), "util-linux `script` (Debian: bsdutils) is needed to give export a terminal")
        let env = KeyholdBinary.environment(TransferFixture.owner)
        for (answer, expected) in [("no", Int32(1)), ("yes", Int32(0))] {
            let dest = f.scratch.file("tty-\(answer).json")
            let command = [CLI.binary, "export", "--format", "json", dest, "--db", f.a].map { "'\($0)'" }.joined(separator: " ")
            let r = try Subprocess.run(script, ["-qec", command, "/dev/null"], stdin: Data("\(answer)\n".utf8), env: env)
            let out = String(decoding: r.stdout, as: UTF8.self)
            #expect(r.status == expected, "answer \(answer): \(out)")
            #expect(out.contains("PLAINTEXT") && out.contains("Type yes"), "the question: \(out)")
            #expect(FileManager.default.fileExists(atPath: dest) == (answer == "yes"))
            f.expectAbsent(out, ["value one"], "the terminal")
        }
        #expect(try f.events(f.a, action: "secret.export").count == 1, "only the confirmed export reveals")
    }

    @Test func exportByAuditorIsDenied() throws {
        let f = try TransferFixture()
        try f.set(f.a, "ONE", Array("value one".utf8))
        let add = try f.run(f.a, ["user", "add", "carol", "--role", "auditor"])
        try #require(add.status == 0, "\(add.stderr)")
        let temp = add.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let carol = ["KEYHOLD_USER": "carol", "KEYHOLD_PASSWORD": temp, "KEYHOLD_NEW_PASSWORD": "a fresh passphrase for the auditor"]
        let dest = f.scratch.file("carol.env")
        let r = try f.run(f.a, ["export", "--format", "dotenv", "--yes", dest], env: carol)
        #expect(r.status == 66, "\(r.stderr)")
        #expect(r.stderr.contains("secrets.read"))
        #expect(!FileManager.default.fileExists(atPath: dest))
        let imp = try f.run(
            f.a, ["import", "--format", "json", "-"], stdin: #"{"x": "y"}"#,
            env: ["KEYHOLD_USER": "carol", "KEYHOLD_PASSWORD": "a fresh passphrase for the auditor"])
        #expect(imp.status == 66, "\(imp.stderr)")
        #expect(try f.names(f.a) == ["ONE"])
    }

    @Test func auditRecordsExportAndImportBatches() throws {
        let f = try TransferFixture()
        let values = (1...5).map { ("batch/s\($0)", Array("value number \($0)".utf8)) }
        for (n, v) in values { try f.set(f.a, n, v) }
        let dest = f.scratch.file("all.json")
        let e = try f.run(f.a, ["export", "--format", "json", "--yes", dest])
        #expect(e.status == 0, "\(e.stderr)")
        let exports = try f.events(f.a, action: "secret.export")
        #expect(exports.count == 1)
        let details = exports.first?["details"] as? [String: Any]
        #expect(details?["count"] as? Int == 5)
        #expect((details?["names"] as? [String])?.sorted() == values.map(\.0).sorted())

        let i = try f.run(f.b, ["import", "--format", "json", "--batch", "2", dest])
        #expect(i.status == 0, "\(i.stderr)")
        for line in ["imported 2/5", "imported 4/5", "imported 5/5"] { #expect(i.stderr.contains(line), "\(i.stderr)") }
        let imports = try f.events(f.b, action: "secret.import")
        #expect(imports.map { ($0["details"] as? [String: Any])?["count"] as? Int } == [2, 2, 1])
        for event in imports {
            let digest = (event["details"] as? [String: Any])?["digest"] as? String
            #expect(digest?.count == 64, "each batch names a digest of its ids")
        }
        let audit = try f.run(f.b, ["audit", "list", "--json"])
        f.expectAbsent(audit.all, values.map { String(decoding: $0.1, as: UTF8.self) }, "the audit log")
        for (n, v) in values { try f.expectValue(f.b, n, v) }
    }

    @Test func onExistingFailSkipUpdate() throws {
        let f = try TransferFixture()
        try f.set(f.a, "KEEP", Array("old".utf8))
        let file = f.write("new.env", "KEEP=new\nFRESH=fresh\n")
        let fail = try f.run(f.a, ["import", "--format", "dotenv", file])
        #expect(fail.status == 68, "\(fail.stderr)")
        #expect(fail.stderr.contains("line 1: a secret named KEEP already exists"), "\(fail.stderr)")
        #expect(try f.names(f.a) == ["KEEP"])
        let skip = try f.run(f.a, ["import", "--format", "dotenv", "--on-existing", "skip", file])
        #expect(skip.status == 0)
        #expect(skip.stdout.contains("1 created, 0 updated, 0 unchanged (same value: no new version), 1 skipped"), "\(skip.stdout)")
        try f.expectValue(f.a, "KEEP", "old")
        let update = try f.run(f.a, ["import", "--format", "dotenv", "--on-existing", "update", file])
        #expect(update.status == 0)
        // FRESH already holds "fresh" (the skip run made it): unchanged, no new version.
        #expect(update.stdout.contains("0 created, 1 updated, 1 unchanged"), "\(update.stdout)")
        try f.expectValue(f.a, "KEEP", "new")
    }

    /// Trimmed from what `keepassxc-cli export --format xml` 2.7.4 wrote, plus history, a recycle bin and CDATA.
    static let keepassxcExport = """
        <?xml version="1.0" encoding="UTF-8" standalone="yes"?>
        <KeePassFile>
        \t<Meta>
        \t\t<Generator>KeePassXC</Generator>
        \t\t<DatabaseName/>
        \t\t<MemoryProtection>
        \t\t\t<ProtectPassword>True</ProtectPassword>
        \t\t</MemoryProtection>
        \t\t<RecycleBinEnabled>True</RecycleBinEnabled>
        \t\t<RecycleBinUUID>cmVjeWNsZWJpbmdyb3VwAA==</RecycleBinUUID>
        \t</Meta>
        \t<Root>
        \t\t<Group>
        \t\t\t<UUID>i3CY7GymQlaTf4ZbWPyxvA==</UUID>
        \t\t\t<Name>Passwords</Name>
        \t\t\t<Notes/>
        \t\t\t<Entry>
        \t\t\t\t<UUID>AAECAwQFBgcICQoLDA0ODw==</UUID>
        \t\t\t\t<String><Key>Notes</Key><Value>first line of notes
        second line</Value></String>
        \t\t\t\t<String><Key>Password</Key><Value ProtectInMemory="True">  top
        second line</Value></String>
        \t\t\t\t<String><Key>Title</Key><Value>Top level entry</Value></String>
        \t\t\t</Entry>
        \t\t\t<Entry>
        \t\t\t\t<String><Key>Password</Key><Value ProtectInMemory="True"/></String>
        \t\t\t\t<String><Key>Title</Key><Value>No password</Value></String>
        \t\t\t</Entry>
        \t\t\t<Group>
        \t\t\t\t<UUID>oL9//W5RTSe59E6r6ehk7A==</UUID>
        \t\t\t\t<Name>Web</Name>
        \t\t\t\t<Entry>
        \t\t\t\t\t<UUID>PVdoo1R1T9edGTrQtMPlUw==</UUID>
        \t\t\t\t\t<Times><CreationTime>2026-11-23T12:57:13Z</CreationTime></Times>
        \t\t\t\t\t<String>
        \t\t\t\t\t\t<Key>Notes</Key>
        \t\t\t\t\t\t<Value/>
        \t\t\t\t\t</String>
        \t\t\t\t\t<String>
        \t\t\t\t\t\t<Key>Password</Key>
        \t\t\t\t\t\t<Value ProtectInMemory="True">hunter2 &lt;&amp;&gt; "current"</Value>
        \t\t\t\t\t</String>
        \t\t\t\t\t<String>
        \t\t\t\t\t\t<Key>Title</Key>
        \t\t\t\t\t\t<Value>Git Hub</Value>
        \t\t\t\t\t</String>
        \t\t\t\t\t<String>
        \t\t\t\t\t\t<Key>URL</Key>
        \t\t\t\t\t\t<Value>https://github.com</Value>
        \t\t\t\t\t</String>
        \t\t\t\t\t<String>
        \t\t\t\t\t\t<Key>UserName</Key>
        \t\t\t\t\t\t<Value>alice</Value>
        \t\t\t\t\t</String>
        \t\t\t\t\t<AutoType><Enabled>True</Enabled></AutoType>
        \t\t\t\t\t<History>
        \t\t\t\t\t\t<Entry>
        \t\t\t\t\t\t\t<String><Key>Password</Key><Value ProtectInMemory="True">old-password</Value></String>
        \t\t\t\t\t\t\t<String><Key>Title</Key><Value>Git Hub</Value></String>
        \t\t\t\t\t\t</Entry>
        \t\t\t\t\t</History>
        \t\t\t\t</Entry>
        \t\t\t\t<Group>
        \t\t\t\t\t<UUID>c3ViZ3JvdXB1dWlkMDAwMA==</UUID>
        \t\t\t\t\t<Name>Sub group</Name>
        \t\t\t\t\t<Entry>
        \t\t\t\t\t\t<String><Key>Password</Key><Value ProtectInMemory="True"><![CDATA[CDATA ]] value]]></Value></String>
        \t\t\t\t\t\t<String><Key>Title</Key><Value>café</Value></String>
        \t\t\t\t\t</Entry>
        \t\t\t\t</Group>
        \t\t\t</Group>
        \t\t\t<Group>
        \t\t\t\t<UUID>cmVjeWNsZWJpbmdyb3VwAA==</UUID>
        \t\t\t\t<Name>Recycle Bin</Name>
        \t\t\t\t<Entry>
        \t\t\t\t\t<String><Key>Password</Key><Value ProtectInMemory="True">deleted-password</Value></String>
        \t\t\t\t\t<String><Key>Title</Key><Value>Deleted</Value></String>
        \t\t\t\t</Entry>
        \t\t\t</Group>
        \t\t</Group>
        \t\t<DeletedObjects/>
        \t</Root>
        </KeePassFile>

        """
}
