import Foundation
import KeyholdTestSupport
import Testing

/// The real `keyhold` binary in a real terminal: a private tmux server with one
/// 80x24 window running a plain shell, driven with send-keys and read with
/// capture-pane. tmux must be installed (`make test` installs it).
final class Tmux: @unchecked Sendable {
    static let executable = Subprocess.which("tmux")

    let socket = "keyhold-test-\(UInt32.random(in: 0...UInt32.max))"
    let environment: [String: String]

    init(environment: [String: String]) { self.environment = environment }

    deinit {
        _ = try? run(["kill-server"])
        try? FileManager.default.removeItem(atPath: outputFile)
    }

    /// Runs tmux through system(3): Foundation's Process waits for every inherited descriptor,
    /// and the server tmux forks keeps them for good.
    @discardableResult
    func run(_ args: [String]) throws -> String {
        let out = outputFile
        let env = environment.map { "\(Tmux.quote($0.key))=\(Tmux.quote($0.value))" }.joined(separator: " ")
        let line =
            (["env", "-i", env, Tmux.quote(Tmux.executable ?? "tmux"), "-L", socket, "-f", "/dev/null"]
            + args.map(Tmux.quote)).joined(separator: " ") + " </dev/null >\(Tmux.quote(out)) 2>&1"
        _ = system(line)
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    private var outputFile: String { NSTemporaryDirectory() + socket + ".out" }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Starts the server with a shell in an 80x24 window.
    func start(width: Int = 80, height: Int = 24) throws {
        try run(["new-session", "-d", "-s", "e2e", "-x", String(width), "-y", String(height), "/bin/sh"])
        try run(["set-option", "-g", "history-limit", "5000"])
    }

    /// Named keys (`Enter`, `Escape`, `Tab`).
    func keys(_ names: String...) throws { try run(["send-keys", "-t", "e2e"] + names) }

    /// Literal text.
    func type(_ text: String) throws { try run(["send-keys", "-t", "e2e", "-l", text]) }

    /// The visible screen.
    func screen() throws -> String { try run(["capture-pane", "-p", "-t", "e2e"]) }

    /// The scrollback and the screen.
    func scrollback() throws -> String { try run(["capture-pane", "-p", "-t", "e2e", "-S", "-1000"]) }

    func display(_ format: String) throws -> String {
        try run(["display-message", "-p", "-t", "e2e", format]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func resize(_ width: Int, _ height: Int) throws {
        try run(["resize-window", "-t", "e2e", "-x", String(width), "-y", String(height)])
    }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls the screen until `condition` holds; returns that screen.
    @discardableResult
    func wait(
        for what: String, timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: (String) -> Bool
    ) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try screen()
            if condition(last) { return last }
            Thread.sleep(forTimeInterval: 0.03)
        }
        Issue.record("timed out waiting for \(what); the screen:\n\(last)", sourceLocation: sourceLocation)
        throw Timeout(description: "timed out waiting for \(what)")
    }

    @discardableResult
    func wait(for text: String, timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try wait(for: "\"\(text)\"", timeout: timeout, sourceLocation: sourceLocation) { $0.contains(text) }
    }
}

/// A shell in a tmux pane whose `KEYHOLD_DB` is `db`, each of `vaults` made first by `init`
/// (administrator `admin`, `shellPassword`), with `extra` in its environment; and that environment.
private func shellPane(db: String, home: String, vaults: [String], extra: [String: String] = [:]) throws -> (Tmux, [String: String]) {
    var env = KeyholdBinary.environment(["KEYHOLD_DB": db])
    for key in ["TMUX", "TMUX_PANE", "NO_COLOR", "ENV"] { env[key] = nil }
    env["KEYHOLD_BIN"] = KeyholdBinary.path
    env["KEYHOLD_IDLE_LOCK"] = "0"
    env["PS1"] = "$ "
    env["HOME"] = home
    env.merge(extra) { $1 }
    for path in vaults {
        let made = try cli(["init", "--db", path], stdin: "admin\n\(shellPassword)\n", env: env)
        #expect(made.status == 0, "init: \(made.output)")
    }
    let t = Tmux(environment: env)
    try t.start()
    try t.wait(for: "the shell prompt") { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    return (t, env)
}

/// The console started in `shellPane` (its exit status echoed when it ends) and the login typed,
/// up to its Enter.
private func shellConsole(db: String, home: String, vaults: [String]) throws -> Tmux {
    let (t, _) = try shellPane(db: db, home: home, vaults: vaults)
    try t.type("\"$KEYHOLD_BIN\"; echo \"exit=$?\"")
    try t.keys("Enter")
    try t.wait(for: "Log in")
    try t.type("admin")
    try t.keys("Tab")
    try t.type(shellPassword)
    try t.keys("Enter")
    return t
}

private let shellPassword = "e2e Correct Horse 4417"

/// Runs the CLI outside the terminal (so nothing it is given reaches the pane).
private func cli(_ args: [String], stdin: String, env: [String: String]) throws -> (status: Int32, output: String) {
    let r = try Subprocess.run(KeyholdBinary.path, args, stdin: Data(stdin.utf8), env: env)
    return (r.status, r.text + r.stderr)
}

private func occurrences(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

@Suite(.enabled(if: Tmux.executable != nil, "tmux is not installed (make test installs it)"))
struct TmuxEndToEndTests {
    @Test(.hangGuard)
    func firstRunLoginRevealRotateFilterResizeQuit() throws {
        let dir = TempDir()
        let db = dir.file("vault.db")
        let adminPassword = "e2e Correct Horse 4417"
        let secretValue = "sk-e2e-Q7vX9mZpL3"

        var env = KeyholdBinary.environment(["KEYHOLD_DB": db])
        for key in ["TMUX", "TMUX_PANE", "NO_COLOR", "ENV"] { env[key] = nil }
        env["KEYHOLD_BIN"] = KeyholdBinary.path
        env["KEYHOLD_REVEAL_SECONDS"] = "2"
        env["KEYHOLD_IDLE_LOCK"] = "0"
        env["PS1"] = "$ "
        env["HOME"] = dir.path

        let t = Tmux(environment: env)
        try t.start()
        try t.wait(for: "the shell prompt") { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        let command = "\"$KEYHOLD_BIN\"; echo \"exit=$?\""

        // First run: create the vault and its administrator.
        try t.type(command)
        try t.keys("Enter")
        try t.wait(for: "Create the vault and its first administrator")
        try t.keys("Tab")  // from the username (admin) to the password
        try t.type(adminPassword)
        try t.keys("Tab")
        try t.type(adminPassword)
        try t.keys("Enter")

        // The recovery key, shown once, typed back.
        let shown = try t.wait(for: "It opens the vault")
        let lines = shown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex { $0.contains("shown this once") })
        let end = try #require(lines.firstIndex { $0.contains("It opens the vault") })
        let keyLines = lines[(start + 1)..<end].map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(keyLines.count == 3, "recovery key lines: \(keyLines)")
        let recoveryKey = keyLines.joined(separator: "-")
        try t.type(recoveryKey)
        try t.keys("Enter")
        try t.wait(for: "1 Dashboard")
        try t.wait(for: "Audit chain verified")

        // Users: a new user with a role.
        try t.type("2")
        try t.wait(for: "Users (1)")
        try t.type("n")
        try t.wait(for: "New user")
        try t.type("dora")
        try t.keys("Tab", "Tab", "Tab")
        let roles = try t.wait(for: "the role list") { $0.contains("› [ ]") }
        // Move the cursor to `operator` and check it.
        let roleOrder = roles.split(separator: "\n").filter { $0.contains("[ ]") || $0.contains("[x]") }
        let operatorIndex = try #require(roleOrder.firstIndex { $0.contains("operator") })
        for _ in 0..<operatorIndex { try t.keys("Down") }
        try t.wait(for: "› [ ] operator")
        try t.keys("Space")
        try t.wait(for: "› [x] operator")
        try t.keys("Enter")
        // The temporary password: the one word on its own line inside the dialog. Waited for with
        // the notice's title: a capture may catch the dialog half drawn.
        func password(_ screen: String) -> String? {
            screen.split(separator: "\n").compactMap { line -> String? in
                let inside = line.split(separator: "│").map { $0.trimmingCharacters(in: .whitespaces) }
                return inside.first { $0.count >= 12 && !$0.contains(" ") && $0.allSatisfy { $0.isLetter || $0.isNumber } }
            }.first
        }
        let notice = try t.wait(for: "User dora created, with its temporary password") {
            $0.contains("User dora created") && password($0) != nil
        }
        let temporary = try #require(password(notice))
        try t.keys("Enter")
        try t.wait(for: "Users (2)")
        try t.wait(for: "operator")

        // Quit; the shell is back.
        try t.type("q")
        try t.wait(for: "exit=0")
        #expect(try t.display("#{alternate_on}") == "0")

        // Another secret, added with the CLI from outside the terminal.
        var cliEnv = env
        cliEnv["KEYHOLD_USER"] = "admin"
        cliEnv["KEYHOLD_PASSWORD"] = adminPassword
        let set = try cli(["secret", "set", "app/other", "--stdin"], stdin: "another-value-1", env: cliEnv)
        #expect(set.status == 0, "secret set: \(set.output)")

        // Second run: the login screen.
        try t.type(command)
        try t.keys("Enter")
        try t.wait(for: "Log in")
        try t.type("admin")
        try t.keys("Tab")
        try t.type(adminPassword)
        try t.keys("Enter")
        try t.wait(for: "1 Dashboard")

        // Secrets: a new one through the form, its value typed into the masked field.
        try t.type("3")
        try t.wait(for: "Secrets (1)")
        try t.type("n")
        try t.wait(for: "New secret")
        try t.type("app/e2e/token")
        try t.keys("Tab", "Tab")
        try t.type(secretValue)
        let masked = try t.wait(for: "[" + String(repeating: "•", count: secretValue.count) + " ")
        #expect(!masked.contains(secretValue))
        try t.keys("Enter")
        try t.wait(for: "Created secret app/e2e/token")
        try t.wait(for: "Secrets (2)")

        // Reveal, then it hides by itself.
        try t.type("/")
        try t.type("e2e")
        try t.wait(for: "/e2e")
        try t.wait(for: "filtered to e2e") { $0.contains("app/e2e/token") && !$0.contains("app/other") }
        try t.keys("Enter")
        try t.type("v")
        try t.wait(for: secretValue)
        try t.wait(for: "the value hidden again", timeout: 8) { !$0.contains(secretValue) }
        // Revealed again and hidden with h.
        try t.type("v")
        try t.wait(for: secretValue)
        try t.type("h")
        try t.wait(for: "the value hidden by h") { !$0.contains(secretValue) }

        // Keys: rotate the data key; the progress ends in a toast and the new key is active.
        try t.type("5")
        try t.wait(for: "v1 · v1 active")
        try t.type("r")
        try t.wait(for: "Data key v2 active")
        try t.wait(for: "v2 · v2 active")
        try t.type("3")
        try t.wait(for: "app/e2e/token")

        // Too small, and back.
        try t.resize(50, 12)
        try t.wait(for: "Keyhold needs a terminal of at least")
        try t.resize(80, 24)
        try t.wait(for: "3 Secrets")

        try t.type("q")
        // The first run's "exit=0" may still be on screen: wait for the second one in the history.
        let after = try t.wait(for: "the second exit") { _ in ((try? occurrences("exit=0", in: t.scrollback())) ?? 0) >= 2 }
        #expect(try t.display("#{alternate_on}") == "0")
        #expect(!after.contains("Keyhold"), "the console is still on screen:\n\(after)")
        #expect(!after.contains("3 Secrets"))

        let history = try t.scrollback()
        #expect(occurrences("exit=0", in: history) == 2, "both runs exit 0:\n\(history)")
        #expect(!history.contains(secretValue), "the secret value is in the scrollback")
        #expect(!history.contains(adminPassword), "the password is in the scrollback")
        for line in keyLines { #expect(!history.contains(line), "the recovery key is in the scrollback") }
        #expect(!history.contains(recoveryKey))
        #expect(!history.contains(temporary), "the temporary password is in the scrollback")
        #expect(!history.contains("Create the vault"), "a console screen is in the scrollback")
        #expect(!history.contains("Dashboard"), "a console screen is in the scrollback")
    }

    /// The real console in a terminal, another vault moved over its file: the next key stops it
    /// with the reason; q leaves it, the reason stays on the terminal and the exit is 1.
    @Test(.hangGuard)
    func aVaultMovedOverTheFileStopsTheRealConsole() throws {
        let dir = TempDir()
        let db = dir.file("vault.db"), other = dir.file("other.db")
        let t = try shellConsole(db: db, home: dir.path, vaults: [db, other])
        try t.wait(for: "1 Dashboard")

        #expect(rename(other, db) == 0)  // mv other.db vault.db
        try t.type("2")
        try t.wait(for: "The vault file was replaced")
        try t.type("q")
        let after = try t.wait(for: "exit=1")
        #expect(after.contains("keyhold: the vault file"), "the reason is not left on the terminal:\n\(after)")
        #expect(try t.display("#{alternate_on}") == "0")
    }

    /// With `keyhold unlock` done, the console opens on the dashboard without a password and
    /// reveals through the agent; `--no-agent` asks for the password; `keyhold lock` while the
    /// console is open makes it leave, saying why, the terminal given back.
    @Test(.hangGuard)
    func theConsoleUsesTheAgentAndLeavesWhenItIsLocked() throws {
        let dir = TempDir()
        let db = dir.file("vault.db")
        let runtime = TempDir(prefix: "keyhold-runtime")
        let (t, env) = try shellPane(db: db, home: dir.path, vaults: [db], extra: ["XDG_RUNTIME_DIR": runtime.path])
        let value = "agent-e2e-Zq81vT"
        let unlocked = try cli(["unlock"], stdin: "", env: env.merging(["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": shellPassword]) { $1 })
        #expect(unlocked.status == 0, "unlock: \(unlocked.output)")
        defer { _ = try? cli(["lock"], stdin: "", env: env) }
        let set = try cli(["secret", "set", "app/agent/token", "--stdin"], stdin: value, env: env)
        #expect(set.status == 0, "secret set: \(set.output)")

        try t.type("\"$KEYHOLD_BIN\"; echo \"exit=$?\"")
        try t.keys("Enter")
        let first = try t.wait(for: "1 Dashboard")
        // No login form ("Log in", its Username field; the dashboard itself shows "Password KDF").
        #expect(!first.contains("Log in") && !first.contains("Username"), "a password was asked for:\n\(first)")
        try t.wait(for: "through the agent")
        try t.type("3")
        try t.wait(for: "app/agent/token")
        try t.keys("Enter")
        try t.type("v")
        try t.wait(for: value)
        try t.type("q")
        try t.wait(for: "exit=0")

        // --no-agent: the login form, as without an agent.
        try t.type("\"$KEYHOLD_BIN\" --no-agent; echo \"exit=$?\"")
        try t.keys("Enter")
        try t.wait(for: "Log in")
        try t.keys("C-c")
        try t.wait(for: "exit=130")

        // The agent locked while the console is open: it leaves at once, saying why.
        try t.type("\"$KEYHOLD_BIN\"; echo \"exit=$?\"")
        try t.keys("Enter")
        try t.wait(for: "1 Dashboard")
        let locked = try cli(["lock"], stdin: "", env: env)
        #expect(locked.status == 0, "lock: \(locked.output)")
        let after = try t.wait(for: "exit=1")
        #expect(after.contains("the agent ended"), "the reason is not on the terminal:\n\(after)")
        #expect(try t.display("#{alternate_on}") == "0")
    }

    /// A key typed right after the login's Enter, before the dashboard shows, reaches the
    /// dashboard (it was dropped while the password hash was checked). Ctrl-C then leaves the
    /// real console with exit status 130, as an interrupted program does, with the terminal
    /// given back (the alternate screen off, the shell usable).
    @Test(.hangGuard)
    func aKeyTypedDuringLoginActsAndCtrlCExitsWith130() throws {
        let dir = TempDir()
        let db = dir.file("vault.db")
        let t = try shellConsole(db: db, home: dir.path, vaults: [db])
        try t.type("2")  // at once: the login is still being checked
        try t.wait(for: "Users (1)")
        try t.keys("C-c")
        let after = try t.wait(for: "exit=130")
        #expect(!after.contains("exit=0"))
        #expect(try t.display("#{alternate_on}") == "0")
        // The terminal is back in its normal mode: the shell echoes what is typed.
        try t.type("echo typed-$((6 * 7))")
        try t.keys("Enter")
        try t.wait(for: "typed-42")
    }
}
