import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing

/// No copy of a typed password once login is done, and none of a revealed value once it is
/// hidden (docs/SECURITY.md, "Memory"): `keyhold-memory-probe` runs the product's own code (the command
/// line's `secret show`, the console's model, update and view) in its process and then reads
/// that process's memory, every mapping, through /proc/self/mem. Each scenario has its control
/// in the same run: the scan finds the password while it is typed into a form (or sits in the
/// environment) and the value while it is revealed, so a scan that could not see them would fail.
///
/// The scan looks for each secret's bytes in a row. The console's frame and ncurses' screen
/// hold a revealed value one character per cell while it is on screen (docs/SECURITY.md,
/// "Memory"); the probe draws frames, as the console does, but has no terminal.
@Suite(.serialized) struct MemoryTests {
    static let secretName = "app/memory-probe"

    /// A vault whose administrator's password and one secret's value are fresh random text
    /// (so nothing else in any process holds them by chance).
    struct Setup {
        let dir = TempDir()
        let password: String
        let value: String
        var vault: String { dir.file("vault.db") }

        init() throws {
            password = "pw-" + Self.random(29)
            value = "value-" + Self.random(144)  // long enough to take several lines in the console
            let (session, _) = try Vault.create(
                at: dir.file("vault.db"), admin: "admin", password: pw(password),
                options: .insecureFastForTests())
            try session.createSecret(MemoryTests.secretName, .value(pw(value)))
        }

        static func random(_ n: Int) -> String {
            let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            return String((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
        }
    }

    struct Phase {
        let name: String
        let passwordHits: [String]
        let valueHits: [String]
        let extra: [String: Any]
    }

    /// Runs the probe in `mode`; its exit code and phases, and what the command wrote.
    static func probe(_ mode: String, _ setup: Setup, env: [String: String] = [:]) throws -> (
        exit: Int, phases: [String: Phase], output: String
    ) {
        let output = setup.dir.file("output")
        let r = try Subprocess.run(
            KeyholdBinary.builtProgram("keyhold-memory-probe"),
            [mode, setup.vault, secretName, output],
            stdin: Data((setup.password + "\n" + setup.value + "\n").utf8),
            env: KeyholdBinary.environment(env))
        guard r.status == 0,
            let object = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any],
            let list = object["phases"] as? [[String: Any]]
        else {
            throw TestFailure("the probe failed (\(r.status)): \(r.stderr)")
        }
        var phases: [String: Phase] = [:]
        for p in list {
            guard let name = p["name"] as? String else { continue }
            phases[name] = Phase(
                name: name, passwordHits: p["password"] as? [String] ?? [], valueHits: p["value"] as? [String] ?? [],
                extra: p)
        }
        let written = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (object["exit"] as? Int ?? -1, phases, written)
    }

    /// What every command-line scenario checks after `secret show` ran: it printed the value,
    /// and then neither the password nor the value is anywhere; the control (the value held by
    /// the core) is found, and gone once let go.
    static func expectCommandLeftNothing(_ run: (exit: Int, phases: [String: Phase], output: String), _ setup: Setup) {
        #expect(run.exit == 0, "secret show failed")
        #expect(run.output == setup.value, "secret show did not print the value")
        let done = run.phases["command done"]
        #expect(done?.passwordHits == [], "the password is still in memory after the command: \(done?.passwordHits ?? [])")
        #expect(done?.valueHits == [], "the value is still in memory after the command: \(done?.valueHits ?? [])")
        let held = run.phases["core: value held"]
        #expect((held?.valueHits.count ?? 0) >= 1, "control: the value held in guarded memory was not found")
        let released = run.phases["core: value let go"]
        #expect(released?.valueHits == [], "the value is still in memory once let go: \(released?.valueHits ?? [])")
        #expect(released?.passwordHits == [], "the password is in memory after the core's login: \(released?.passwordHits ?? [])")
    }

    /// The password typed at the no-echo prompt on a terminal.
    @Test func passwordTypedAtThePrompt() throws {
        let setup = try Setup()
        let run = try Self.probe("cli-tty", setup)
        #expect(run.phases["before the command"]?.passwordHits == [])
        Self.expectCommandLeftNothing(run, setup)
    }

    /// The password piped on standard input.
    @Test func passwordOnStandardInput() throws {
        let setup = try Setup()
        let run = try Self.probe("cli-stdin", setup)
        Self.expectCommandLeftNothing(run, setup)
    }

    /// `--json`: the value goes into the JSON text from guarded memory.
    @Test func valueAsJSON() throws {
        let setup = try Setup()
        var run = try Self.probe("cli-json", setup)
        let object = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
        #expect(
            object?["value"] as? String == setup.value && object?["name"] as? String == Self.secretName,
            "secret show --json did not print the value")
        run.output = setup.value  // checked above
        Self.expectCommandLeftNothing(run, setup)
    }

    /// KEYHOLD_PASSWORD: found in the process's environment block at start (the control), gone
    /// once `ProcessSetup.start` has taken it into guarded memory, and gone after the command.
    @Test func passwordInTheEnvironment() throws {
        let setup = try Setup()
        let run = try Self.probe("cli-env", setup, env: ["KEYHOLD_PASSWORD": setup.password])
        let before = run.phases["environment, before start"]
        #expect((before?.passwordHits.count ?? 0) >= 1, "control: the password in the environment was not found")
        // Taken: the one copy left is the guarded one (a read-only page of its own) until the command takes it.
        let after = run.phases["environment, after start"]?.passwordHits ?? []
        #expect(
            !after.isEmpty && after.allSatisfy { $0.hasSuffix("r--p [anonymous]") },
            "the environment still holds the password: \(after)")
        Self.expectCommandLeftNothing(run, setup)
    }

    /// The console: the password typed into the login form key by key, the value revealed and
    /// hidden (with `h`, and by the clock).
    @Test func console() throws {
        let setup = try Setup()
        let run = try Self.probe("console", setup)
        func phase(_ name: String) -> Phase? { run.phases[name] }
        #expect(phase("login form")?.passwordHits == [])
        #expect((phase("password typed")?.passwordHits.count ?? 0) >= 1, "control: the password in the login form was not found")
        let loggedIn = phase("logged in")
        #expect(loggedIn?.extra["route"] as? String == "dashboard" && loggedIn?.extra["account"] as? String == "admin", "not logged in")
        #expect(loggedIn?.passwordHits == [], "the password is still in memory after login: \(loggedIn?.passwordHits ?? [])")
        let revealed = phase("value revealed")
        #expect(revealed?.extra["revealed"] as? String == Self.secretName, "the value was not revealed")
        #expect((revealed?.valueHits.count ?? 0) >= 1, "control: the revealed value was not found")
        let hidden = phase("hidden with h")
        #expect(hidden?.extra["revealed"] as? String == "")
        #expect(hidden?.valueHits == [], "the value is still in memory once hidden: \(hidden?.valueHits ?? [])")
        #expect((phase("revealed again")?.valueHits.count ?? 0) >= 1, "control: revealed again, not found")
        let timedOut = phase("hidden by the clock")
        #expect(timedOut?.extra["revealed"] as? String == "")
        #expect(timedOut?.valueHits == [], "the value is still in memory once hidden by the clock: \(timedOut?.valueHits ?? [])")
        #expect(timedOut?.passwordHits == [])
    }
}
