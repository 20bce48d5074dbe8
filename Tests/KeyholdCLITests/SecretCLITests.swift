import Foundation
import KeyholdTestSupport
import Testing

// MARK: - Helpers of the secret and run tests

/// A fresh vault made through `keyhold init`, administrator `owner`. Every command
/// goes through the built binary. Values are compared without ever being printed:
/// a failed check says what differs, not the secret.
final class SecretsFixture: @unchecked Sendable {
    static let ownerPassword = "mossy granite under the bridge"

    let scratch = TempDir(prefix: "keyhold-cli")
    let db: String
    var owner: [String: String] { ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": Self.ownerPassword] }

    init() throws {
        db = scratch.file("vault/keyhold.db")
        let r = try CLI.run(["init", "--db", db], stdin: "owner\n\(Self.ownerPassword)\n")
        guard r.status == 0 else { throw TestFailure("init failed: \(r.stderr)") }
    }

    /// `args` with `--db` put before any `--` (after which everything belongs to the child of `run`).
    func withDB(_ args: [String]) -> [String] {
        var args = args
        args.insert(contentsOf: ["--db", db], at: args.firstIndex(of: "--") ?? args.count)
        return args
    }

    /// Runs keyhold against this vault, as `env` (the owner by default) plus `extraEnv`.
    func run(_ args: [String], as env: [String: String]? = nil, stdin: String = "", extraEnv: [String: String] = [:]) throws -> CLI.Result {
        try CLI.run(withDB(args), stdin: stdin, env: (env ?? owner).merging(extraEnv) { _, b in b })
    }

    /// Like `run`, with standard output kept as bytes (for binary values).
    func runBytes(_ args: [String], as env: [String: String]? = nil) throws -> (status: Int32, stdout: Data, stderr: String) {
        let r = try KeyholdBinary.run(withDB(args), env: env ?? owner)
        return (r.status, r.stdout, r.stderr)
    }

    /// `secret set NAME --stdin` with `value` (one trailing newline is dropped by --stdin).
    @discardableResult
    func set(_ name: String, _ value: String, _ extra: [String] = []) throws -> CLI.Result {
        let r = try run(["secret", "set", name, "--stdin"] + extra, stdin: value)
        guard r.status == 0 else { throw TestFailure("secret set \(name) exited \(r.status): \(r.stderr)") }
        return r
    }

    /// `secret set NAME --from-file` with exactly these bytes.
    func setFile(_ name: String, _ bytes: [UInt8]) throws -> CLI.Result {
        let path = scratch.file("value-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try run(["secret", "set", name, "--from-file", path])
    }

    /// `secret show NAME` as bytes; throws if it fails.
    func show(_ name: String, _ extra: [String] = []) throws -> Data {
        let r = try runBytes(["secret", "show", name] + extra)
        guard r.status == 0 else { throw TestFailure("secret show \(name) exited \(r.status): \(r.stderr)") }
        return r.stdout
    }

    /// Adds a user with `role` and completes their first login; returns their login environment.
    func addUser(_ name: String, role: String) throws -> [String: String] {
        let added = try run(["user", "add", name, "--role", role])
        guard added.status == 0 else { throw TestFailure("user add \(name) exited \(added.status): \(added.stderr)") }
        let temp = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let password = "a long passphrase nobody else uses 42"
        let first = try run(["status"], as: ["KEYHOLD_USER": name, "KEYHOLD_PASSWORD": temp, "KEYHOLD_NEW_PASSWORD": password])
        guard first.status == 0 else { throw TestFailure("first login of \(name) exited \(first.status): \(first.stderr)") }
        return ["KEYHOLD_USER": name, "KEYHOLD_PASSWORD": password]
    }

    /// `audit list --action ACTION --json` events.
    func audit(_ action: String) throws -> (events: [[String: Any]], text: String) {
        let r = try run(["audit", "list", "--action", action, "--json"])
        guard r.status == 0 else { throw TestFailure("audit list exited \(r.status): \(r.stderr)") }
        return ((try Self.json(r.stdout)["events"] as? [[String: Any]]) ?? [], r.stdout)
    }

    static func json(_ text: String) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object")
        }
        return o
    }
}

/// An expectation whose failure shows only `what`, never the values compared (they may be secrets).
func quietExpect(_ ok: Bool, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(ok, Comment(rawValue: what()), sourceLocation: sourceLocation)
}

/// True when `haystack` holds `needle`; kept out of `#expect` so a failure never prints either.
func carries(_ haystack: String, _ needle: String) -> Bool { haystack.contains(needle) }
func carries(_ haystack: Data, _ needle: String) -> Bool { haystack.range(of: Data(needle.utf8)) != nil }

@Suite struct SecretCLITests {
    let v: SecretsFixture
    init() throws { v = try SecretsFixture() }

    @Test func setTwiceThenListShowAndVersions() throws {
        let first = try v.set("app/prod/db-password", "first value 1\n", ["--description", "Postgres", "--rotate-by", "2020-01-01"])
        quietExpect(
            first.stdout == "stored app/prod/db-password version 1\n", "first.stdout == \"stored app/prod/db-password version 1\\n\"")
        let second = try v.set("app/prod/db-password", "second value 2")
        quietExpect(
            second.stdout == "stored app/prod/db-password version 2\n", "second.stdout == \"stored app/prod/db-password version 2\\n\"")
        try v.set("other/api-key", "third value 3")
        // The new version cleared the date that had passed (SecretVersionTests); set one again to see it flagged.
        #expect(try v.run(["secret", "rotate-by", "app/prod/db-password", "2020-01-01"]).status == 0)
        for r in [first, second] {
            let leaked = carries(r.all, "first value 1") || carries(r.all, "second value 2")
            #expect(!leaked, "set printed a value")
        }

        // show: exactly the current value (no newline: stdout is not a terminal); --version for older ones.
        let current = try v.show("app/prod/db-password")
        let currentOK = current == Data("second value 2".utf8)
        #expect(currentOK, "show did not print exactly the current value (\(current.count) bytes)")
        let old = try v.show("app/prod/db-password", ["--version", "1"])
        let oldOK = old == Data("first value 1".utf8)
        #expect(oldOK, "show --version 1 did not print exactly the first value (one trailing newline dropped by --stdin)")
        // `get`, the word a newcomer tries first, is the same command.
        let got = try v.runBytes(["secret", "get", "app/prod/db-password"])
        #expect(got.status == 0 && got.stdout == current, "secret get is secret show")

        // show --json: name, version, value.
        let shown = try v.run(["secret", "show", "app/prod/db-password", "--json"])
        #expect(shown.status == 0)
        let j = try SecretsFixture.json(shown.stdout)
        #expect(Set(j.keys) == ["name", "version", "value"])
        #expect(j["name"] as? String == "app/prod/db-password")
        #expect(j["version"] as? Int == 2)
        let jsonValueOK = (j["value"] as? String) == "second value 2"
        #expect(jsonValueOK, "show --json value differs")
        let oldJSON = try SecretsFixture.json(try v.run(["secret", "show", "app/prod/db-password", "--json", "--version", "1"]).stdout)
        #expect(oldJSON["version"] as? Int == 1)

        // list: names and metadata, never values; the past rotate-by date is flagged.
        let list = try v.run(["secret", "list"])
        #expect(list.status == 0)
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.first?.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                == "NAME VERSION VERSIONS ROTATE BY UPDATED")
        let row = try #require(lines.first { $0.hasPrefix("app/prod/db-password ") })
        let cells = row.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(cells[1] == "2" && cells[2] == "2")
        #expect(cells[3] == "2020-01-01T00:00:00Z" && cells[4] == "OVERDUE")
        #expect(lines.contains { $0.hasPrefix("other/api-key ") && !$0.contains("OVERDUE") })
        let listLeak = carries(list.all, "second value 2") || carries(list.all, "third value 3")
        #expect(!listLeak, "list printed a value")

        let prefixed = try SecretsFixture.json(try v.run(["secret", "list", "--prefix", "app/", "--json"]).stdout)
        let secrets = try #require(prefixed["secrets"] as? [[String: Any]])
        #expect(secrets.count == 1)
        let s = try #require(secrets.first)
        #expect(
            Set(s.keys) == [
                "name", "description", "version", "versions", "history_limit", "rotate_by",
                "rotation_overdue", "created_at", "updated_at"
            ])
        #expect(s["name"] as? String == "app/prod/db-password")
        #expect(s["description"] as? String == "Postgres")
        #expect(s["version"] as? Int == 2 && s["versions"] as? Int == 2)
        #expect(s["rotate_by"] as? String == "2020-01-01T00:00:00Z")
        #expect(s["rotation_overdue"] as? Bool == true)
        #expect(s["history_limit"] is NSNull)

        // versions: table and JSON.
        let versions = try v.run(["secret", "versions", "app/prod/db-password"])
        #expect(versions.status == 0)
        let vlines = versions.stdout.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        #expect(vlines.count == 3)
        #expect(vlines.first == ["VERSION", "CURRENT", "DATA", "KEY", "CREATED", "CREATED", "BY"])
        #expect(vlines.dropFirst().map { $0[0] } == ["1", "2"])
        quietExpect(vlines.last?[1] == "*" && vlines.last?.last == "owner", "vlines.last?[1] == \"*\" && vlines.last?.last == \"owner\"")
        let vj = try SecretsFixture.json(try v.run(["secret", "versions", "app/prod/db-password", "--json"]).stdout)
        #expect(vj["name"] as? String == "app/prod/db-password")
        #expect(vj["current_version"] as? Int == 2)
        let vs = try #require(vj["versions"] as? [[String: Any]])
        #expect(vs.map { $0["version"] as? Int } == [1, 2])
        #expect(vs.map { $0["current"] as? Bool } == [false, true])
        #expect(Set(vs[0].keys) == ["version", "key_version", "created_at", "created_by", "current"])
        #expect(vs[0]["created_by"] as? String == "owner")

        // Every show (and the get) was audited, naming the secret, never the value.
        let audit = try v.audit("secret.reveal")
        #expect(audit.events.count == 5)
        #expect(audit.events.allSatisfy { $0["target"] as? String == "secret:app/prod/db-password" })
        let auditLeak = carries(audit.text, "second value 2") || carries(audit.text, "first value 1")
        #expect(!auditLeak, "the audit log holds a value")
    }

    /// A new value with a new description and rotate-by date is one change: one transaction, one event.
    @Test func setOnAnExistingSecretWithMetadataIsOneEvent() throws {
        try v.set("app/token", "first token value")
        let count = try v.audit("secret.").events.count
        let r = try v.set("app/token", "second token value", ["--description", "deploy token", "--rotate-by", "2031-05-06"])
        quietExpect(r.stdout == "stored app/token version 2\n", "r.stdout == \"stored app/token version 2\\n\"")
        let after = try v.audit("secret.").events
        #expect(after.count == count + 1, "one event, not one per change")
        let last = try #require(after.last)
        #expect(last["action"] as? String == "secret.update" && last["target"] as? String == "secret:app/token")
        let details = last["details"] as? [String: Any]
        #expect(details?["version"] as? Int == 2)
        #expect(details?["description_changed"] as? Bool == true)
        #expect(details?["rotate_by"] as? Int == 1_935_792_000_000)
        let s = try #require(
            (try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [[String: Any]])?.first)
        #expect(s["description"] as? String == "deploy token" && s["rotate_by"] as? String == "2031-05-06T00:00:00Z")
        // --rotate-by never clears the date in the same single step.
        try v.set("app/token", "third token value", ["--rotate-by", "never"])
        let cleared = try #require(
            (try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [[String: Any]])?.first)
        #expect(cleared["rotate_by"] is NSNull && cleared["description"] as? String == "deploy token")
    }

    @Test func binaryValueIsShownByteExact() throws {
        let bytes: [UInt8] = [0x00, 0xFF, 0xFE, 0x41, 0x0A, 0x00, 0xC3, 0x28, 0x0D, 0x0A]
        let stored = try v.setFile("bin/blob", bytes)
        quietExpect(stored.status == 0, "\(stored.stderr)")
        quietExpect(stored.stdout == "stored bin/blob version 1\n", "stored.stdout == \"stored bin/blob version 1\\n\"")
        let shown = try v.show("bin/blob")
        let exact = shown == Data(bytes)
        #expect(exact, "show changed the bytes (\(shown.count) of \(bytes.count))")

        let j = try SecretsFixture.json(try v.run(["secret", "show", "bin/blob", "--json"]).stdout)
        #expect(Set(j.keys) == ["name", "version", "value_base64"])
        let decoded = (j["value_base64"] as? String).flatMap { Data(base64Encoded: $0) }
        let decodedOK = decoded == Data(bytes)
        #expect(decodedOK, "value_base64 does not decode to the stored bytes")

        // A file value is used as is: a trailing newline stays.
        _ = try v.setFile("text/with-newline", Array("line\n".utf8))
        let text = try v.show("text/with-newline")
        let kept = text == Data("line\n".utf8)
        #expect(kept, "the trailing newline of a file value was not kept")
    }

    @Test func generateMakesTheRequestedValueAndNeverPrintsIt() throws {
        let cases: [(String, Int, String)] = [
            ("urlsafe", 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            ("hex", 64, "0123456789abcdef"),
            ("alnum", 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            ("base64", 50, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
            ("alpha", 33, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
            ("numeric", 12, "0123456789"),
            ("ascii", 90, String((0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }))
        ]
        for (alphabet, length, chars) in cases {
            let name = "gen/\(alphabet)"
            let r = try v.run(["secret", "generate", name, "--length", String(length), "--alphabet", alphabet])
            quietExpect(r.status == 0, "\(alphabet): \(r.stderr)")
            quietExpect(r.stdout == "generated \(name) version 1\n", "r.stdout == \"generated \\(name) version 1\\n\"")
            let value = try v.show(name)
            #expect(value.count == length, "\(alphabet): wrong length")
            let allowed = Set(chars.utf8)
            #expect(value.allSatisfy { allowed.contains($0) }, "\(alphabet): a character outside the alphabet")
            let printed = carries(r.all, String(decoding: value, as: UTF8.self))
            #expect(!printed, "generate printed the value")
        }

        // Defaults: 32 urlsafe characters. --bytes is an alias of --length.
        #expect(try v.run(["secret", "generate", "gen/default"]).status == 0)
        let def = try v.show("gen/default")
        #expect(def.count == 32)
        let alias = try v.run(["secret", "generate", "gen/flask-secret-key", "--bytes", "48", "--alphabet", "urlsafe", "--json"])
        #expect(alias.status == 0)
        let aj = try SecretsFixture.json(alias.stdout)
        #expect(Set(aj.keys) == ["name", "version", "created"])
        #expect(aj["name"] as? String == "gen/flask-secret-key" && aj["version"] as? Int == 1 && aj["created"] as? Bool == true)
        let before = try v.show("gen/flask-secret-key")
        #expect(before.count == 48)

        // On an existing secret, with --new-version: a new version, a new value.
        let again = try v.run(["secret", "generate", "gen/flask-secret-key", "--bytes", "48", "--new-version"])
        quietExpect(
            again.stdout == "generated gen/flask-secret-key version 2\n", "again.stdout == \"generated gen/flask-secret-key version 2\\n\"")
        let after = try v.show("gen/flask-secret-key")
        let changed = after != before
        #expect(after.count == 48)
        #expect(changed, "a new version has the old value")
        let printed = carries(again.all, String(decoding: after, as: UTF8.self))
        #expect(!printed, "generate printed the value")
    }

    @Test func usageErrorsExit64AndWriteNothing() throws {
        let positional = try v.run(["secret", "set", "app/token", "hunter2-on-argv"])
        #expect(positional.status == 64)
        quietExpect(
            positional.stderr.contains("never taken from the command line"),
            "positional.stderr.contains(\"never taken from the command line\")")
        let echoed = carries(positional.all, "hunter2-on-argv")
        #expect(!echoed, "the refused value was echoed")
        let positionalGen = try v.run(["secret", "generate", "app/token", "some-value"])
        #expect(positionalGen.status == 64)

        let badName = try v.run(["secret", "set", "app//token", "--stdin"], stdin: "x")
        #expect(badName.status == 64)
        quietExpect(badName.stderr.contains("secret name"), "badName.stderr.contains(\"secret name\")")
        #expect(try v.run(["secret", "set", "../etc", "--stdin"], stdin: "x").status == 64)
        #expect(try v.run(["secret", "generate", "bad name"]).status == 64)

        let badAlphabet = try v.run(["secret", "generate", "app/token", "--alphabet", "emoji"])
        #expect(badAlphabet.status == 64)
        quietExpect(
            badAlphabet.stderr.contains("urlsafe, hex, alnum, base64, alpha, numeric, ascii"),
            "badAlphabet.stderr.contains(\"urlsafe, hex, alnum, base64, alpha, numeric, ascii\")")
        #expect(try v.run(["secret", "generate", "app/token", "--length", "0"]).status == 64)
        #expect(try v.run(["secret", "generate", "app/token", "--length", "5000"]).status == 64)
        #expect(try v.run(["secret", "set", "app/token", "--stdin", "--rotate-by", "someday"], stdin: "x").status == 64)
        #expect(try v.run(["secret", "rotate-by", "app/token", "someday"]).status == 64)
        #expect(try v.run(["secret", "set", "app/token", "--stdin"], stdin: "").status == 64)

        let list = try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)
        #expect((list["secrets"] as? [Any])?.isEmpty == true, "a refused command stored something")
    }

    @Test func notFoundAndGuards() throws {
        for args in [
            ["secret", "show", "no/such"], ["secret", "versions", "no/such"], ["secret", "rotate-by", "no/such", "never"],
            ["secret", "delete", "no/such", "--yes"], ["secret", "show", "no/such", "--json"]
        ] {
            let r = try v.run(args)
            quietExpect(r.status == 67, "\(args): \(r.stderr)")
            quietExpect(r.stderr.contains("no secret named no/such"), "\(args)")
        }
        try v.set("app/token", "only version here")
        #expect(try v.run(["secret", "show", "app/token", "--version", "9"]).status == 67)
        #expect(try v.run(["secret", "delete", "app/token", "--version", "9", "--yes"]).status == 67)
        // The only version cannot be deleted alone (a guard: 66); the secret stays.
        let only = try v.run(["secret", "delete", "app/token", "--version", "1", "--yes"])
        #expect(only.status == 66)
        quietExpect(only.stderr.contains("delete the secret instead"), "only.stderr.contains(\"delete the secret instead\")")
        #expect(try v.show("app/token").count == "only version here".count)
    }

    @Test func rotateByAndDelete() throws {
        try v.set("app/token", "value one")
        try v.set("app/token", "value two")
        try v.set("app/token", "value three")
        let set = try v.run(["secret", "rotate-by", "app/token", "2031-05-06"])
        #expect(set.status == 0)
        quietExpect(
            set.stderr.contains("app/token: rotate by 2031-05-06T00:00:00Z."),
            "set.stderr.contains(\"app/token: rotate by 2031-05-06T00:00:00Z.\")")
        var s = try #require(
            (try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [[String: Any]])?.first)
        #expect(s["rotate_by"] as? String == "2031-05-06T00:00:00Z")
        #expect(s["rotation_overdue"] as? Bool == false)
        #expect(try v.run(["secret", "rotate-by", "app/token", "never"]).status == 0)
        s = try #require((try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [[String: Any]])?.first)
        #expect(s["rotate_by"] is NSNull)

        // Delete one version, then the current one: the newest left becomes current.
        let one = try v.run(["secret", "delete", "app/token", "--version", "1", "--yes"])
        #expect(one.status == 0)
        quietExpect(one.stderr.contains("app/token: version 1 deleted."), "one.stderr.contains(\"app/token: version 1 deleted.\")")
        quietExpect(!one.stderr.contains("checkpoint"), "!one.stderr.contains(\"checkpoint\")")
        // No terminal to type the name back on: --yes is needed, and without it nothing is deleted.
        let unconfirmed = try v.run(["secret", "delete", "app/token", "--version", "3"])
        #expect(unconfirmed.status == 64)
        quietExpect(
            unconfirmed.stderr.contains("delete version 3 of secret app/token: there is no terminal to confirm on, so give --yes"),
            unconfirmed.stderr)
        #expect(
            (try SecretsFixture.json(try v.run(["secret", "versions", "app/token", "--json"]).stdout)["versions"] as? [Any])?.count == 2)
        #expect(try v.run(["secret", "delete", "app/token", "--version", "3", "--yes"]).status == 0)
        let vj = try SecretsFixture.json(try v.run(["secret", "versions", "app/token", "--json"]).stdout)
        #expect((vj["versions"] as? [[String: Any]])?.map { $0["version"] as? Int } == [2])
        #expect(vj["current_version"] as? Int == 2)
        let current = try v.show("app/token")
        let currentOK = current == Data("value two".utf8)
        #expect(currentOK, "the current version after deletions is not version 2")

        let all = try v.run(["secret", "delete", "app/token", "--yes"])
        #expect(all.status == 0)
        quietExpect(all.stderr.contains("app/token: deleted."), "all.stderr.contains(\"app/token: deleted.\")")
        #expect(try v.run(["secret", "show", "app/token"]).status == 67)
        let remaining = try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [Any]
        #expect(remaining?.isEmpty == true)
        let deleted = try v.audit("secret.delete")
        #expect(deleted.events.count == 1)
    }

    @Test func anAuditorListsButIsDeniedValues() throws {
        try v.set("app/token", "auditor must not see this")
        let auditor = try v.addUser("audrey", role: "auditor")

        let list = try v.run(["secret", "list"], as: auditor)
        quietExpect(list.status == 0, "\(list.stderr)")
        quietExpect(list.stdout.contains("app/token"), "list.stdout.contains(\"app/token\")")
        #expect(try v.run(["secret", "versions", "app/token"], as: auditor).status == 0)
        let show = try v.run(["secret", "show", "app/token"], as: auditor)
        quietExpect(
            show.stderr.contains("permission denied: secret.reveal needs secrets.read"),
            "show.stderr.contains(\"permission denied: secret.reveal needs secrets.read\")")

        for args in [
            ["secret", "show", "app/token"], ["secret", "show", "app/token", "--json"],
            ["secret", "generate", "app/other"], ["secret", "delete", "app/token", "--yes"],
            ["secret", "rotate-by", "app/token", "never"]
        ] {
            let r = try v.run(args, as: auditor)
            quietExpect(r.status == 66, "\(args): \(r.stderr)")
            let leaked = carries(r.all, "auditor must not see this")
            #expect(!leaked, "\(args) printed the value")
        }
        let set = try v.run(["secret", "set", "app/token", "--stdin"], as: auditor, stdin: "replacement value")
        #expect(set.status == 66)
        let unchanged = try v.show("app/token") == Data("auditor must not see this".utf8)
        #expect(unchanged, "a denied set changed the value")
    }
}
