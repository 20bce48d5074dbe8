import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCLI
import KeyholdCore

/// `keyhold run`, end to end through the built binary. Values are compared without
/// being printed (see `carries`).
@Suite struct RunTests {
    let v: SecretsFixture
    init() throws { v = try SecretsFixture() }

    static let withheld = ["KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD"]

    /// Parses `env -0` output.
    static func environment(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for entry in text.split(separator: "\0") {
            guard let eq = entry.firstIndex(of: "=") else { continue }
            out[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
        }
        return out
    }

    /// Kills a started keyhold that hangs, unless disarmed first (so a finished pid is never signalled).
    final class Watchdog: @unchecked Sendable {
        private let lock = NSLock()
        private var armed = true
        init(_ pid: pid_t, seconds: Double = 30) {
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
                lock.withLock { if armed { kill(pid, SIGKILL) } }
            }
        }
        /// Call before reaping the process.
        func disarm() { lock.withLock { armed = false } }
    }

    /// Starts keyhold without waiting, for the signal tests.
    func start(_ args: [String]) throws -> (process: Process, out: Pipe, watchdog: Watchdog) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLI.binary)
        p.arguments = v.withDB(args)
        p.environment = KeyholdBinary.environment(v.owner)
        let out = Pipe()
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = out; p.standardError = FileHandle.nullDevice
        try p.run()
        return (p, out, Watchdog(p.processIdentifier))
    }

    /// Whether the process has exited (a zombie not reaped yet counts), from /proc.
    static func exited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state == "Z" || state == "X"
    }

    /// Waits for a started keyhold (the watchdog disarmed first, once it has exited).
    static func wait(_ p: Process, _ watchdog: Watchdog) {
        while p.isRunning { usleep(10_000) }
        watchdog.disarm()
        p.waitUntilExit()
    }

    /// Reads standard output until `marker` appears (or EOF).
    static func read(_ pipe: Pipe, until marker: String) -> String {
        var seen = Data()
        while !carries(seen, marker) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        return String(decoding: seen, as: UTF8.self)
    }

    func handouts() throws -> [[String: Any]] { try v.audit("secret.handout").events }

    // MARK: The environment

    @Test func theChildSeesExactlyTheExpectedVariables() throws {
        try v.set("app/prod/db-password", "pg pass Ω with spaces")
        _ = try v.setFile("app/prod/api.token", Array("multi\nline value\n".utf8))
        try v.set("other/not-me", "must not be handed out")
        let env = v.owner.merging(["KEYHOLD_NEW_PASSWORD": "an unused new password"]) { a, _ in a }

        let r = try v.run(["run", "--prefix", "app/", "--", "/usr/bin/env", "-0"], as: env)
        quietExpect(r.status == 0, "\(r.stderr)")
        let child = Self.environment(r.stdout)
        var expected = KeyholdBinary.environment(env)
        for key in Self.withheld { expected[key] = nil }
        #expect(Set(child.keys) == Set(expected.keys).union(["DB_PASSWORD", "API_TOKEN"]))
        for key in Self.withheld { quietExpect(child[key] == nil, "\(key) reached the child") }
        let inherited = expected.allSatisfy { child[$0.key] == $0.value }
        #expect(inherited, "an inherited variable changed")
        let db = child["DB_PASSWORD"] == "pg pass Ω with spaces"
        #expect(db, "DB_PASSWORD is not the secret's value")
        let api = child["API_TOKEN"] == "multi\nline value\n"
        #expect(api, "API_TOKEN is not the secret's bytes")
        let leaked = carries(r.stderr, "pg pass") || carries(r.stdout, "must not be handed out")
        quietExpect(!leaked, "a value leaked (stderr, or a secret not chosen)")

        // --only picks by name; several names may follow one --only.
        let only = try v.run(["run", "--only", "other/not-me", "app/prod/db-password", "--", "/usr/bin/env", "-0"])
        quietExpect(only.status == 0, "\(only.stderr)")
        let onlyEnv = Self.environment(only.stdout)
        quietExpect(
            onlyEnv["NOT_ME"] != nil && onlyEnv["DB_PASSWORD"] != nil && onlyEnv["API_TOKEN"] == nil,
            "onlyEnv[\"NOT_ME\"] != nil && onlyEnv[\"DB_PASSWORD\"] != nil && onlyEnv[\"API_TOKEN\"] == nil")

        // --map renames.
        let mapped = try v.run([
            "run", "--prefix", "app/prod/", "--map", "app/prod/db-password=DATABASE_PASSWORD", "--",
            "/usr/bin/env", "-0"
        ])
        quietExpect(mapped.status == 0, "\(mapped.stderr)")
        let mappedEnv = Self.environment(mapped.stdout)
        quietExpect(mappedEnv["DB_PASSWORD"] == nil, "mappedEnv[\"DB_PASSWORD\"] == nil")
        let renamed = mappedEnv["DATABASE_PASSWORD"] == "pg pass Ω with spaces"
        #expect(renamed, "DATABASE_PASSWORD is not the secret's value")
        quietExpect(mappedEnv["API_TOKEN"] != nil, "mappedEnv[\"API_TOKEN\"] != nil")
    }

    @Test func clashesAreRefusedUnlessOverridden() throws {
        try v.set("app/a/token", "token of a")
        try v.set("app/b/token", "token of b")

        let two = try v.run(["run", "--prefix", "app/", "--", "true"])
        #expect(two.status == 68)
        quietExpect(
            two.stderr.contains("app/a/token") && two.stderr.contains("app/b/token") && two.stderr.contains("TOKEN"),
            "two.stderr.contains(\"app/a/token\") && two.stderr.contains(\"app/b/token\") && two.stderr.contains(\"TOKEN\")")
        #expect(
            try v.run(["run", "--prefix", "app/", "--override", "--", "true"]).status == 68, "two secrets on one variable always refuse")
        #expect(
            try v.run(["run", "--prefix", "app/", "--map", "app/a/token=TOKEN", "--map", "app/b/token=TOKEN", "--", "true"]).status == 68)

        let fixed = try v.run(["run", "--prefix", "app/", "--map", "app/b/token=B_TOKEN", "--", "/usr/bin/env", "-0"])
        quietExpect(fixed.status == 0, "\(fixed.stderr)")
        let env = Self.environment(fixed.stdout)
        let both = env["TOKEN"] == "token of a" && env["B_TOKEN"] == "token of b"
        #expect(both, "the mapped variables do not hold their secrets")

        // A variable already in the environment.
        let existing = try v.run(["run", "--only", "app/a/token", "--", "/usr/bin/env", "-0"], extraEnv: ["TOKEN": "from the shell"])
        #expect(existing.status == 68)
        quietExpect(
            existing.stderr.contains("app/a/token") && existing.stderr.contains("TOKEN") && existing.stderr.contains("--override"),
            "existing.stderr.contains(\"app/a/token\") && existing.stderr.contains(\"TOKEN\") && existing.stderr.contains(\"--override\")")
        quietExpect(existing.stdout.isEmpty, "existing.stdout.isEmpty")
        let home = try v.run(["run", "--only", "app/a/token", "--map", "app/a/token=HOME", "--", "true"])
        #expect(home.status == 68)

        let overridden = try v.run(
            ["run", "--only", "app/a/token", "--override", "--", "/usr/bin/env", "-0"],
            extraEnv: ["TOKEN": "from the shell"])
        quietExpect(overridden.status == 0, "\(overridden.stderr)")
        let won = Self.environment(overridden.stdout)["TOKEN"] == "token of a"
        #expect(won, "with --override the secret does not replace the variable")
        quietExpect(overridden.stdout.split(separator: "\0").filter { $0.hasPrefix("TOKEN=") }.count == 1, "TOKEN is set more than once")

        // Nothing was handed out by the refused runs.
        #expect(try handouts().count == 2)
    }

    /// README's first session stores app/prod/SECRET_KEY; the Flask example then made app/SECRET_KEY and ran
    /// `--prefix app/`, which takes both. Every clash is named in one refusal, each variable with its secrets;
    /// `--exact-depth` takes only the names directly under the prefix.
    @Test func everyClashIsReportedAtOnceAndExactDepthKeepsToOneLevel() throws {
        try v.set("app/SECRET_KEY", "flask key value")
        try v.set("app/prod/SECRET_KEY", "prod key value")
        try v.set("app/API_TOKEN", "api token value")
        try v.set("app/prod/API_TOKEN", "prod api token value")
        try v.set("app/prod/STRIPE_KEY", "stripe value")
        try v.set("app/prod/eu/HOME", "home value")

        let r = try v.run(["run", "--prefix", "app/", "--", "/usr/bin/env", "-0"])
        #expect(r.status == 68)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        // One line per clashing variable, naming every secret behind it; the environment clash too.
        quietExpect(lines.contains("  API_TOKEN <- app/API_TOKEN, app/prod/API_TOKEN"), r.stderr)
        quietExpect(lines.contains("  SECRET_KEY <- app/SECRET_KEY, app/prod/SECRET_KEY"), r.stderr)
        quietExpect(lines.contains("  HOME <- app/prod/eu/HOME (already set in the environment)"), r.stderr)
        quietExpect(r.stderr.contains("2 variables would get more than one secret, and 1 variable is already set"), r.stderr)
        quietExpect(r.stderr.contains("--exact-depth"), "the refusal names --exact-depth: \(r.stderr)")
        quietExpect(!r.stderr.contains("STRIPE_KEY"), "a variable without a clash is not listed")
        quietExpect(r.stdout.isEmpty, "the command ran")
        let leaked = carries(r.all, "key value") || carries(r.all, "token value")
        quietExpect(!leaked, "a value leaked")

        // --exact-depth: app/SECRET_KEY and app/API_TOKEN only.
        let direct = try v.run(["run", "--prefix", "app/", "--exact-depth", "--", "/usr/bin/env", "-0"])
        quietExpect(direct.status == 0, direct.stderr)
        let env = Self.environment(direct.stdout)
        let ok = env["SECRET_KEY"] == "flask key value" && env["API_TOKEN"] == "api token value" && env["STRIPE_KEY"] == nil
        #expect(ok, "--exact-depth did not hand out exactly the names directly under app/")
        let handed = try handouts()
        #expect(handed.count == 1, "the refused run handed something out")
        if let details = handed.first?["details"] as? [String: Any] {
            #expect((details["names"] as? [String])?.sorted() == ["app/API_TOKEN", "app/SECRET_KEY"])
        }
        // Without --prefix it means nothing: a usage error.
        #expect(try v.run(["run", "--exact-depth", "--", "true"]).status == 64)
        // A prefix whose direct children are none: not found, saying why.
        let none = try v.run(["run", "--prefix", "app/prod/eu", "--exact-depth", "--", "true"])
        #expect(none.status == 67)
        quietExpect(none.stderr.contains("--exact-depth"), none.stderr)
    }

    @Test func usageNotFoundAndDenied() throws {
        try v.set("app/token", "usage test value")
        #expect(try v.run(["run", "--prefix", "app/"]).status == 64)  // no command
        #expect(try v.run(["run", "--prefix", "app/", "--"]).status == 64)
        #expect(try v.run(["run", "--map", "app/token", "--", "true"]).status == 64)  // not NAME=VAR
        #expect(try v.run(["run", "--map", "app/token=1X", "--", "true"]).status == 64)  // not a variable name
        let stray = try v.run(["run", "--prefix", "app/", "--map", "other/x=X", "--", "true"])
        #expect(stray.status == 64)
        quietExpect(stray.stderr.contains("other/x"), "stray.stderr.contains(\"other/x\")")
        let noPrefix = try v.run(["run", "--prefix", "nothing/", "--", "true"])
        #expect(noPrefix.status == 67)
        quietExpect(noPrefix.stderr.contains("nothing/"), "noPrefix.stderr.contains(\"nothing/\")")
        #expect(try v.run(["run", "--prefix", "APP/", "--", "true"]).status == 67, "the prefix matches case-sensitively")
        let unknown = try v.run(["run", "--only", "app/token", "app/missing", "--", "true"])
        #expect(unknown.status == 67)
        quietExpect(unknown.stderr.contains("app/missing"), "unknown.stderr.contains(\"app/missing\")")

        let auditor = try v.addUser("audrey", role: "auditor")
        let denied = try v.run(["run", "--prefix", "app/", "--", "/usr/bin/env"], as: auditor)
        #expect(denied.status == 66)
        quietExpect(denied.stderr.contains("permission denied"), "denied.stderr.contains(\"permission denied\")")
        quietExpect(denied.stdout.isEmpty, "denied.stdout.isEmpty")
        #expect(try handouts().isEmpty)
    }

    @Test func aMissingCommandExits127AndHandsOutNothing() throws {
        try v.set("app/token", "never handed out")
        for mask in [[], ["--mask"]] {
            let r = try v.run(["run", "--prefix", "app/"] + mask + ["--", "no-such-command-for-keyhold"])
            #expect(r.status == 127, "\(mask)")
            quietExpect(
                r.stderr.contains("no-such-command-for-keyhold: command not found"),
                "r.stderr.contains(\"no-such-command-for-keyhold: command not found\")")
            #expect(try v.run(["run", "--prefix", "app/"] + mask + ["--", "/no/such/dir/cmd"]).status == 127)
        }
        let notExecutable = v.scratch.file("not-executable")
        _ = FileManager.default.createFile(
            atPath: notExecutable, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try v.run(["run", "--prefix", "app/", "--", notExecutable]).status == 126)
        #expect(try handouts().isEmpty)
    }

    @Test func exitCodesPassThrough() throws {
        try v.set("app/token", "exit code value")
        #expect(try v.run(["run", "--prefix", "app/", "--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try v.run(["run", "--prefix", "app/", "--mask", "--", "sh", "-c", "exit 7"]).status == 7)
        #expect(try v.run(["run", "--prefix", "app/", "--mask", "--", "sh", "-c", "exit 0"]).status == 0)
        #expect(try v.run(["run", "--prefix", "app/", "--mask", "--", "sh", "-c", "kill -9 $$"]).status == 128 + 9)
    }

    @Test func aValueWithANulByteIsRefused() throws {
        let stored = try v.setFile("app/nul", [0x61, 0x00, 0x62])
        #expect(stored.status == 0)
        let r = try v.run(["run", "--only", "app/nul", "--", "sh", "-c", "echo ran"])
        #expect(r.status == 64)
        quietExpect(
            r.stderr.contains("app/nul") && r.stderr.contains("NUL"), "r.stderr.contains(\"app/nul\") && r.stderr.contains(\"NUL\")")
        quietExpect(!r.stdout.contains("ran"), "!r.stdout.contains(\"ran\")")
    }

    // MARK: argv, files, audit

    @Test func valuesNeverReachArgvOrOpenFilesAndTheHandoutIsAudited() throws {
        try v.set("app/prod/db-password", "argv check value one")
        try v.set("app/prod/api-key", "argv check value two")
        let script = #"printf '%s\n' "$0" "$@"; echo ---; tr '\0' '\n' < /proc/$$/cmdline; echo ---; ls -l /proc/$$/fd"#
        for mask in [[], ["--mask"]] {
            let r = try v.run(["run", "--prefix", "app/prod/"] + mask + ["--", "sh", "-c", script, "zero", "one", "two"])
            quietExpect(r.status == 0, "\(r.stderr)")
            let parts = r.stdout.components(separatedBy: "---\n")
            quietExpect(parts.count == 3, "parts.count == 3")
            quietExpect(parts.first == "zero\none\ntwo\n", "parts.first == \"zero\\none\\ntwo\\n\"")
            quietExpect(
                parts.count > 1 && parts[1] == "sh\n-c\n\(script)\nzero\none\ntwo\n",
                "parts.count > 1 && parts[1] == \"sh\\n-c\\n\\(script)\\nzero\\none\\ntwo\\n\"")
            quietExpect(parts.count > 2 && !parts[2].contains("keyhold.db"), "the vault is open in the child")
            let leaked = carries(r.all, "argv check value")
            #expect(!leaked, "a value appeared in argv or output")
        }
        // With --mask keyhold stays the parent: its own argv holds no value either.
        let parent = try v.run(["run", "--prefix", "app/prod/", "--mask", "--", "sh", "-c", #"tr '\0' '\n' < /proc/$PPID/cmdline"#])
        quietExpect(parent.stdout.contains("--mask"), "parent.stdout.contains(\"--mask\")")
        let inParent = carries(parent.all, "argv check value")
        #expect(!inParent)

        let audit = try v.audit("secret.handout")
        #expect(audit.events.count == 3)
        for e in audit.events {
            #expect(e["actor"] as? String == "owner")
            let details = try #require(e["details"] as? [String: Any])
            #expect(details["names"] as? [String] == ["app/prod/api-key", "app/prod/db-password"])
            #expect(details["count"] as? Int == 2)
        }
        let inAudit = carries(audit.text, "argv check value")
        #expect(!inAudit, "the audit log holds a value")
    }

    // MARK: --mask

    @Test func maskRedactsStdoutAndStderr() throws {
        try v.set("app/token", "tok-0123456789-secret")
        try v.set("app/token-long", "tok-0123456789-secret-and-more")
        let r = try v.run([
            "run", "--prefix", "app/", "--mask", "--", "sh", "-c",
            #"echo "out:$TOKEN"; echo "err:$TOKEN" >&2; echo "both:$TOKEN_LONG|$TOKEN""#
        ])
        quietExpect(r.status == 0, "the masked run failed")
        quietExpect(
            r.stdout == "out:<redacted:app/token>\nboth:<redacted:app/token-long>|<redacted:app/token>\n",
            "r.stdout == \"out:<redacted:app/token>\\nboth:<redacted:app/token-long>|<redacted:app/token>\\n\"")
        quietExpect(r.stderr.contains("err:<redacted:app/token>\n"), "r.stderr.contains(\"err:<redacted:app/token>\\n\")")
        let leaked = carries(r.all, "0123456789")
        #expect(!leaked, "a value passed the mask")

        // A value written in two pieces, with a pause between (two reads for keyhold).
        let split = try v.run([
            "run", "--only", "app/token", "--mask", "--", "sh", "-c",
            #"a=$(printf %s "$TOKEN" | cut -c1-9); b=$(printf %s "$TOKEN" | cut -c10-); printf "[%s" "$a"; sleep 0.3; printf "%s]\n" "$b""#
        ])
        quietExpect(split.status == 0, "the split run failed")
        quietExpect(split.stdout == "[<redacted:app/token>]\n", "split.stdout == \"[<redacted:app/token>]\\n\"")

        // A prefix of a value at the end of the output is not a value: it is written as is.
        let partial = try v.run(["run", "--only", "app/token", "--mask", "--", "sh", "-c", "printf 'tok-01'"])
        quietExpect(partial.stdout == "tok-01", "partial.stdout == \"tok-01\"")

        // Large output goes through whole.
        let many = try v.run([
            "run", "--only", "app/token", "--mask", "--", "sh", "-c",
            #"i=0; while [ $i -lt 5000 ]; do echo "$i $TOKEN"; i=$((i+1)); done"#
        ])
        let lines = many.stdout.split(separator: "\n")
        #expect(lines.count == 5000)
        quietExpect(lines.last == "4999 <redacted:app/token>", "lines.last == \"4999 <redacted:app/token>\"")
        let manyLeak = carries(many.stdout, "0123456789")
        #expect(!manyLeak)
    }

    @Test func signalsAreForwardedWithMaskAndTheExitCodeFollows() throws {
        try v.set("app/token", "signal test value")
        let (p, out, pw) = try start([
            "run", "--prefix", "app/", "--mask", "--", "sh", "-c",
            #"trap "echo got TERM; exit 3" TERM; echo ready; sleep 5 & wait"#
        ])
        let before = Self.read(out, until: "ready\n")
        quietExpect(before == "ready\n", "before == \"ready\\n\"")
        let began = Date()
        p.terminate()  // SIGTERM to keyhold, which forwards it to the child
        // Not read to EOF: a process spawned concurrently by another test may hold a copy of the pipe.
        let rest = Self.read(out, until: "got TERM\n")
        // keyhold itself must be gone well before the background sleep ends. (Foundation's
        // Process notices the exit only when every inherited copy of its own descriptors is
        // closed, the sleep's included, so /proc tells when keyhold exited.)
        while !Self.exited(p.processIdentifier) && Date().timeIntervalSince(began) < 4.5 { usleep(20_000) }
        #expect(Date().timeIntervalSince(began) < 4, "keyhold waited for the background sleep")
        Self.wait(p, pw)
        #expect(p.terminationReason == .exit)
        #expect(p.terminationStatus == 3)
        quietExpect(rest == "got TERM\n", "rest == \"got TERM\\n\"")

        // Without --mask keyhold became the command: the signal is its own.
        let (q, qout, qw) = try start(["run", "--prefix", "app/", "--", "sh", "-c", #"trap "exit 4" TERM; echo ready; sleep 5 & wait"#])
        quietExpect(Self.read(qout, until: "ready\n") == "ready\n", "Self.read(qout, until: \"ready\\n\") == \"ready\\n\"")
        q.terminate()
        Self.wait(q, qw)
        #expect(q.terminationStatus == 4)

        // A child killed by the forwarded signal: 128 + 15.
        let (k, kout, kw) = try start(["run", "--prefix", "app/", "--mask", "--", "sh", "-c", "echo ready; exec sleep 5"])
        quietExpect(Self.read(kout, until: "ready\n") == "ready\n", "Self.read(kout, until: \"ready\\n\") == \"ready\\n\"")
        k.terminate()
        Self.wait(k, kw)
        #expect(k.terminationReason == .exit)
        #expect(k.terminationStatus == 128 + 15)
    }

    // MARK: Units

    @Test func variableNames() {
        #expect(Handout.variableName(for: "app/prod/db-password") == "DB_PASSWORD")
        #expect(Handout.variableName(for: "app/prod/2fa.seed") == "_2FA_SEED")
        #expect(Handout.variableName(for: "token") == "TOKEN")
        #expect(Handout.variableName(for: "a/b/Mixed.Case-v2") == "MIXED_CASE_V2")
        #expect(Handout.isVariableName("_X1") && Handout.isVariableName("db_url"))
        #expect(!Handout.isVariableName("1X") && !Handout.isVariableName("A-B") && !Handout.isVariableName(""))
    }

    @Test func theRedactorIsIndependentOfReadBoundaries() throws {
        // The values side by side in one buffer, as the hand-out's environment holds them.
        let values = Array("abc123abc123456zz-top".utf8)
        let spans = [("short", 0..<6), ("long", 6..<15), ("other", 15..<21)]
        let input = Array("xabc12abc123456 abc123 abc12zz-topzz-to abc1234 zz-top".utf8)
        let expected = "xabc12<redacted:long> <redacted:short> abc12<redacted:other>zz-to <redacted:short>4 <redacted:other>"
        for size in 1...input.count {
            var r = try values.withUnsafeBytes { all in try Redactor(spans.map { ($0.0, UnsafeRawBufferPointer(rebasing: all[$0.1])) }) }
            var out: [UInt8] = []
            for start in stride(from: 0, to: input.count, by: size) {
                input[start..<min(start + size, input.count)].withUnsafeBytes { out += r.feed($0, final: false) }
                #expect(r.held < 9, "more than the longest value less one held back")
            }
            out += r.feed(UnsafeRawBufferPointer(start: nil, count: 0), final: true)
            #expect(String(decoding: out, as: UTF8.self) == expected, "chunks of \(size)")
        }
    }
}
