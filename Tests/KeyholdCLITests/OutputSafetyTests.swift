import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing

// MARK: - Running keyhold with its standard output somewhere unusual

/// Starts the built keyhold through python3's `subprocess` (which gives the child SIGPIPE's
/// default back, as a shell would), with standard output on `/dev/full`, on a pipe whose
/// reader is gone, or on a pseudo-terminal; or, for `keyhold run`, with SIGPIPE at its
/// default or ignored. A child killed by signal N exits 200+N, so a crash is told apart.
enum Sinks {
    static var python: String { ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"] ?? "python3" }

    static let script = #"""
        import os, subprocess, sys, pty, tty
        mode, args = sys.argv[1], sys.argv[2:]
        stdin = sys.stdin.buffer.read()
        def finish(code, out=b"", err=b""):
            sys.stdout.buffer.write(out); sys.stderr.buffer.write(err)
            sys.exit(code if code >= 0 else 200 - code)
        if mode in ("full", "closed-pipe"):
            if mode == "full":
                out = os.open("/dev/full", os.O_WRONLY)
            else:
                r, out = os.pipe()
                os.close(r)
            p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
            os.close(out)
            _, err = p.communicate(stdin)
            finish(p.returncode, err=err)
        elif mode == "pty":
            master, slave = pty.openpty()
            tty.setraw(slave)
            p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
            os.close(slave)
            chunks = []
            while True:
                try:
                    c = os.read(master, 65536)
                except OSError:
                    break
                if not c:
                    break
                chunks.append(c)
            err = p.stderr.read()
            finish(p.wait(), b"".join(chunks), err)
        else:
            p = subprocess.run(args, input=stdin, capture_output=True, restore_signals=(mode == "default"))
            finish(p.returncode, p.stdout, p.stderr)
        """#

    enum Mode: String, CaseIterable { case full, closedPipe = "closed-pipe", pty, sigpipeDefault = "default", sigpipeIgnored = "ignored" }

    /// Runs keyhold with `args` in `mode`, as `env` (plus the test KDF).
    static func run(_ mode: Mode, _ args: [String], stdin: String = "", env: [String: String]) throws -> Subprocess.Result {
        try Subprocess.run(
            python, ["-c", script, mode.rawValue, KeyholdBinary.path] + args, stdin: Data(stdin.utf8),
            env: KeyholdBinary.environment(env))
    }

    /// The two ways standard output fails.
    static let failing: [Mode] = [.full, .closedPipe]
}

/// Checks a run that could not write its output: exit 72 (not a signal), the reason on stderr
/// in one line, with `consequence` when given.
func expectOutputFailure(
    _ r: Subprocess.Result, _ what: String, consequence: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(r.status < 200, "\(what): killed by signal \(r.status - 200)", sourceLocation: sourceLocation)
    #expect(r.status == 72, "\(what): exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n").filter { $0.contains("cannot write to standard output") }
    #expect(lines.count == 1, "\(what): \(r.stderr)", sourceLocation: sourceLocation)
    #expect(
        lines.first?.hasPrefix("keyhold: cannot write to standard output: ") == true, "\(what): \(r.stderr)",
        sourceLocation: sourceLocation)
    if let consequence {
        #expect(r.stderr.contains(consequence), "\(what): \(r.stderr)", sourceLocation: sourceLocation)
    }
}

// MARK: - One-time secrets

/// A recovery key or temporary password that cannot be written is never committed: the
/// vault stays as it was.
@Suite struct OneTimeSecretTests {
    static let password = "mossy granite under the bridge"
    let scratch = TempDir(prefix: "keyhold-out")
    var db: String { scratch.file("vault/keyhold.db") }
    var owner: [String: String] { ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": Self.password] }

    /// A vault made by `init`; its recovery key.
    func makeVault() throws -> String {
        let r = try CLI.run(["init", "--db", db], stdin: "owner\n\(Self.password)\n")
        guard r.status == 0 else { throw TestFailure("init failed: \(r.stderr)") }
        return try #require(
            r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.count == 77 && $0.split(separator: "-").count == 13 })
    }

    func cli(_ args: [String], env: [String: String]? = nil, stdin: String = "") throws -> CLI.Result {
        try CLI.run(args + ["--db", db], stdin: stdin, env: env ?? owner)
    }

    func usernames() throws -> [String] {
        let r = try cli(["user", "list", "--json"])
        let users = try SecretsFixture.json(r.stdout)["users"] as? [[String: Any]] ?? []
        return users.compactMap { $0["username"] as? String }.sorted()
    }

    @Test(arguments: Sinks.failing)
    func initThatCannotShowItsRecoveryKeyMakesNoVault(_ mode: Sinks.Mode) throws {
        let r = try Sinks.run(mode, ["init", "--db", db], stdin: "owner\n\(Self.password)\n", env: [:])
        expectOutputFailure(r, "init", consequence: "the recovery key could not be shown, so no vault was created")
        #expect(!FileManager.default.fileExists(atPath: db))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: scratch.file("vault"))) ?? []
        #expect(left.isEmpty, "init left \(left)")
        // Nothing in the way of a second try.
        #expect(try CLI.run(["init", "--db", db], stdin: "owner\n\(Self.password)\n").status == 0)
    }

    @Test(arguments: Sinks.failing)
    func userAddAndResetThatCannotShowThePasswordChangeNothing(_ mode: Sinks.Mode) throws {
        _ = try makeVault()
        let alice = try cli(["user", "add", "alice"])
        #expect(alice.status == 0, "\(alice.stderr)")
        let aliceTemp = alice.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        for json in [[], ["--json"]] {
            let add = try Sinks.run(mode, ["user", "add", "bob", "--db", db] + json, env: owner)
            expectOutputFailure(add, "user add \(json)", consequence: "so the user was not created")
            #expect(try usernames() == ["alice", "owner"])

            let reset = try Sinks.run(mode, ["user", "reset", "alice", "--db", db] + json, env: owner)
            expectOutputFailure(reset, "user reset \(json)", consequence: "so the password was not reset")
        }
        let resets = try cli(["audit", "list", "--action", AuditAction.userResetPassword.rawValue, "--json"])
        #expect((try SecretsFixture.json(resets.stdout)["events"] as? [Any])?.isEmpty == true, "\(resets.stdout)")
        let creates = try cli(["audit", "list", "--action", AuditAction.userCreate.rawValue, "--json"])
        #expect((try SecretsFixture.json(creates.stdout)["events"] as? [Any])?.count == 1, "\(creates.stdout)")
        // Alice's first temporary password still works: the failed resets changed nothing.
        let first = try cli(
            ["status"],
            env: [
                "KEYHOLD_USER": "alice", "KEYHOLD_PASSWORD": aliceTemp,
                "KEYHOLD_NEW_PASSWORD": "a long passphrase nobody else uses 42"
            ])
        #expect(first.status == 0, "\(first.stderr)")
        // And bob can still be made, the normal way.
        #expect(try cli(["user", "add", "bob"]).status == 0)
    }

    @Test(arguments: Sinks.failing)
    func rotateRootThatCannotShowTheNewKeyKeepsTheOldOne(_ mode: Sinks.Mode) throws {
        let recovery = try makeVault()
        let before = try cli(["key", "status", "--json"]).stdout
        let r = try Sinks.run(mode, ["key", "rotate-root", "--yes", "--db", db], env: owner)
        expectOutputFailure(r, "key rotate-root", consequence: "the old recovery key still opens the vault")
        #expect(try cli(["key", "status", "--json"]).stdout == before)
        let rotations = try cli(["audit", "list", "--action", AuditAction.keyRotateRoot.rawValue, "--json"])
        #expect((try SecretsFixture.json(rotations.stdout)["events"] as? [Any])?.isEmpty == true, "a root rotation was recorded")

        // `key recover` that cannot show the temporary password changes nothing either ...
        let failed = try Sinks.run(mode, ["key", "recover", "owner", "--db", db], stdin: recovery + "\n", env: [:])
        expectOutputFailure(failed, "key recover", consequence: "nothing was changed")
        #expect(try cli(["status"]).status == 0, "the owner's password must still work")
        // ... and the old recovery key still opens the vault.
        let recovered = try cli(["key", "recover", "owner"], env: [:], stdin: recovery + "\n")
        #expect(recovered.status == 0, "\(recovered.stderr)")
        #expect(recovered.stdout.trimmingCharacters(in: .whitespacesAndNewlines).count == 20)
    }
}

// MARK: - Every command

/// A failed write to standard output is exit 72 and one line on stderr, never a crash, on every command.
@Suite struct OutputFailureTests {
    let v: SecretsFixture
    init() throws {
        v = try SecretsFixture()
        try v.set("app/token", "tok-value")
    }

    static let commands: [[String]] = [
        ["status"], ["user", "list"], ["user", "list", "--json"], ["user", "show", "owner"], ["secret", "list"],
        ["secret", "list", "--json"], ["secret", "show", "app/token"], ["secret", "show", "app/token", "--json"],
        ["secret", "versions", "app/token"], ["role", "list"], ["role", "show", "admin", "--json"], ["audit", "list"],
        ["audit", "list", "--json"], ["audit", "verify"], ["audit", "head"], ["key", "status", "--json"], ["check"],
        ["secret", "set", "app/other", "--stdin"], ["export", "--format", "json", "--yes", "-"]
    ]

    @Test(arguments: Sinks.failing)
    func everyCommandThatCannotWriteExits72(_ mode: Sinks.Mode) throws {
        for command in Self.commands {
            let r = try Sinks.run(mode, v.withDB(command), stdin: "a value\n", env: v.owner)
            expectOutputFailure(r, command.joined(separator: " "))
        }
        for command in [["--help"], ["user", "--help"], ["--version"], []] {
            let r = try Sinks.run(mode, command, env: [:])
            expectOutputFailure(r, "keyhold " + command.joined(separator: " "))
        }
    }

    /// Errors still go to stderr with their own code when stdout is gone.
    @Test func anErrorIsStillAnError() throws {
        let r = try Sinks.run(.closedPipe, v.withDB(["secret", "show", "nothing/here"]), env: v.owner)
        #expect(r.status == 67, "\(r.stderr)")
    }
}

// MARK: - Text from the vault

/// C0, C1 and bidi controls never reach a terminal raw: refused at input, and escaped in
/// every output (tables, messages, --json) for what a file written by others may hold.
@Suite struct VaultTextEscapingTests {
    let v: SecretsFixture
    init() throws { v = try SecretsFixture() }

    /// U+0085 (NEL), U+009B (CSI), U+202E (right-to-left override), ESC and BEL.
    static let hostile = "A\u{85}B\u{9B}2J\u{202E}C\u{1B}]0;title\u{07}D\u{2066}E"

    /// Every character of `text` that must not reach a terminal raw (line breaks aside).
    static func raw(_ text: String) -> [String] {
        text.unicodeScalars.filter { $0 != "\n" && Validate.isHidden($0) }.map { "U+" + String($0.value, radix: 16) }
    }

    @Test func inputWithControlCharactersIsRefused() throws {
        let cases: [([String], String)] = [
            (["secret", "set", "app/a\u{85}b", "--stdin"], "secret name"),
            (["secret", "set", "app/ok", "--stdin", "--description", "x\u{9B}y"], "secret description"),
            (["secret", "set", "app/ok", "--stdin", "--description", "x\u{202E}y"], "secret description"),
            (["user", "add", "bo\u{85}b"], "username"),
            (["user", "add", "carol", "--display-name", "C\u{9B}arol"], "display name"),
            (["user", "add", "dave", "--display-name", "D\u{202E}ave"], "display name"),
            (["role", "add", "ops", "--description", "o\u{85}ps"], "description")
        ]
        for (args, field) in cases {
            let r = try v.run(args, stdin: "value")
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(field), "\(args): \(r.stderr)")
            #expect(Self.raw(r.stderr).isEmpty, "the refusal quotes the input raw: \(Self.raw(r.stderr))")
        }
        let listed = try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)
        #expect((listed["secrets"] as? [Any])?.isEmpty == true, "a refused secret was stored")
    }

    @Test func storedTextIsEscapedInTablesMessagesAndJSON() throws {
        try v.set("app/plain", "value", ["--description", "ordinary"])
        #expect(try v.run(["user", "add", "alice"]).status == 0)
        #expect(try v.run(["role", "add", "ops", "--permission", "secrets.list"]).status == 0)
        // What someone who can write the file may put there.
        let hostile =
            "'A' || char(133) || 'B' || char(155) || '2J' || char(8238) || 'C' || char(27) || ']0;title' || char(7) || 'D' || char(8294) || 'E'"
        try Python.sql(
            v.db,
            """
            UPDATE users SET display_name = \(hostile) WHERE username = 'alice';
            UPDATE secrets SET description = \(hostile) WHERE name = 'app/plain';
            UPDATE roles SET description = \(hostile) WHERE name = 'ops';
            DROP TRIGGER audit_no_update;
            UPDATE audit_events SET details = '{"note":"' || \(hostile) || '"}' WHERE seq = (SELECT max(seq) FROM audit_events);
            """)

        let outputs: [[String]] = [
            ["user", "show", "alice"], ["user", "show", "alice", "--json"], ["user", "list", "--json"],
            ["secret", "list", "--json"], ["role", "show", "ops"], ["role", "show", "ops", "--json"],
            ["role", "list", "--json"], ["audit", "list"], ["audit", "list", "--json"]
        ]
        for args in outputs {
            let r = try v.run(args)
            #expect(Self.raw(r.stdout).isEmpty, "\(args) prints \(Self.raw(r.stdout)) raw")
            #expect(Self.raw(r.stderr).isEmpty, "\(args) says \(Self.raw(r.stderr)) raw")
            if args.contains("--json") {
                #expect(r.stdout.contains(#"A\u0085B\u009b2J\u202eC\u001b]0;title\u0007D\u2066E"#), "\(args): \(r.stdout)")
            } else {
                #expect(r.stdout.contains(#"A\u{0085}B\u{009B}2J\u{202E}C␛]0;title␇D\u{2066}E"#), "\(args): \(r.stdout)")
            }
        }
        // JSON escapes are exact: parsed back, the text is what was stored.
        let shown = try SecretsFixture.json(try v.run(["user", "show", "alice", "--json"]).stdout)
        #expect(shown["display_name"] as? String == Self.hostile)
    }
}

// MARK: - Secret values on a terminal

/// On a terminal a value's control characters are shown escaped (with a note on stderr);
/// into a pipe or a file, or with --raw, the bytes go out unchanged.
@Suite struct ValueOnTerminalTests {
    let v: SecretsFixture
    /// A window title (OSC 2), a clipboard write (OSC 52), C1 controls, bidi, a tab and a line feed.
    static let value: [UInt8] = Array("a\u{1B}]2;pwned\u{07}b\u{1B}]52;c;aGk=\u{07}\u{202E}c\u{9B}1m\td\ne\r\u{7F}".utf8) + [0xFF]
    static let escaped = #"a\x1b]2;pwned\x07b\x1b]52;c;aGk=\x07\u202ec\u009b1m"# + "\td\ne" + #"\x0d\x7f\xff"#

    init() throws {
        v = try SecretsFixture()
        #expect(try v.setFile("app/evil", Self.value).status == 0)
    }

    @Test func onATerminalTheValueIsEscapedWithANote() throws {
        for extra in [[], ["--version", "1"]] {
            let r = try Sinks.run(.pty, v.withDB(["secret", "show", "app/evil"] + extra), env: v.owner)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout == Data((Self.escaped + "\n").utf8), "\(extra): \(r.text.debugDescription)")
            #expect(!r.stdout.contains(0x1B) && !r.stdout.contains(0x07), "a raw escape sequence reached the terminal")
            #expect(r.stderr.contains("shown escaped") && r.stderr.contains("--raw"), "\(r.stderr)")
        }
    }

    @Test func intoAPipeOrWithRawTheBytesAreUnchanged() throws {
        #expect(try v.show("app/evil") == Data(Self.value), "through a pipe the value must come byte for byte")
        let raw = try Sinks.run(.pty, v.withDB(["secret", "show", "app/evil", "--raw"]), env: v.owner)
        #expect(raw.status == 0, "\(raw.stderr)")
        #expect(raw.stdout == Data(Self.value + [0x0A]), "--raw must write the exact bytes on a terminal")
        #expect(!raw.stderr.contains("shown escaped"))
        // A plain value on a terminal: as it is, no note.
        try v.set("app/plain", "just text\twith a tab")
        let plain = try Sinks.run(.pty, v.withDB(["secret", "show", "app/plain"]), env: v.owner)
        #expect(plain.stdout == Data("just text\twith a tab\n".utf8))
        #expect(!plain.stderr.contains("shown escaped"))
    }

    @Test func jsonStaysJSONEscaped() throws {
        try v.set("app/c1", "x\u{85}y\u{202E}z\u{1B}[2J")
        let r = try Sinks.run(.pty, v.withDB(["secret", "show", "app/c1", "--json"]), env: v.owner)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.text.contains(#""value" : "x\u0085y\u202ez\u001b[2J""#), "\(r.text)")
        #expect(VaultTextEscapingTests.raw(r.text).isEmpty)
        let both = try v.run(["secret", "show", "app/c1", "--json", "--raw"])
        #expect(both.status == 64, "\(both.stderr)")
    }

    @Test func anExportToTheTerminalIsEscapedToo() throws {
        try v.set("app/c1", "x\u{9B}y")
        let r = try Sinks.run(.pty, v.withDB(["export", "--format", "json", "--yes", "-"]), env: v.owner)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(VaultTextEscapingTests.raw(r.text).isEmpty, "\(VaultTextEscapingTests.raw(r.text))")
        #expect(r.stdout.range(of: Data([0x1B])) == nil)
        #expect(r.text.contains(#"x\u009by"#), "\(r.text)")
        // Into a pipe, the export is as before.
        let piped = try v.run(["export", "--format", "json", "--yes", "-"])
        #expect(piped.stdout.contains("x\u{9B}y"))
    }
}

// MARK: - No traps in the product

/// `try!` and `fatalError(` trap the process: none on any path of the product.
@Suite struct NoTrapsTests {
    @Test func sourcesHoldNoTryBangOrFatalError() throws {
        let root = Repository.root.appendingPathComponent("Sources").path
        let files = try #require(FileManager.default.enumerator(atPath: root)).compactMap { $0 as? String }.filter {
            $0.hasSuffix(".swift")
        }
        #expect(files.count > 50, "Sources/ not found at \(root)")
        var found: [String] = []
        for file in files {
            let text = try String(contentsOfFile: root + "/" + file, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.components(separatedBy: "//").first ?? ""
                guard code.contains("try!") || code.contains("fatalError(") else { continue }
                found.append("Sources/\(file):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(found.isEmpty, "traps in the product:\n\(found.joined(separator: "\n"))")
    }
}
