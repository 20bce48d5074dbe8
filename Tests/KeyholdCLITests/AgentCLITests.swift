import Foundation
import KeyholdTestSupport
import Testing

/// `keyhold unlock`, `lock` and commands through the agent, with the real binary.
final class AgentVault: @unchecked Sendable {
    let vault: AdminVault
    let runtime = TempDir(prefix: "keyhold-runtime")
    var env: [String: String] { ["XDG_RUNTIME_DIR": runtime.path] }
    /// No credentials at all: only an agent can serve this.
    var nobody: [String: String] { env }
    var admin: [String: String] { env.merging(vault.admin) { $1 } }

    init() throws { vault = try AdminVault() }

    func run(_ args: [String], as who: [String: String]? = nil, stdin: String = "") throws -> CLI.Result {
        try vault.raw(args + ["--db", vault.db], stdin: stdin, env: who ?? nobody)
    }

    func unlock(_ extra: [String] = []) throws -> CLI.Result {
        try run(["unlock"] + extra, as: admin)
    }

    /// Audit events of `action`, read with a login of its own (`throughAgent`: through the agent, no login).
    func events(_ action: String, throughAgent: Bool = false) throws -> [[String: Any]] {
        let r =
            throughAgent
            ? try run(["audit", "list", "--action", action, "--json"])
            : try vault.raw(["audit", "list", "--action", action, "--json", "--no-agent", "--db", vault.db], env: admin)
        return (try JSONObject.parse(r.stdout)["events"] as? [[String: Any]]) ?? []
    }

    /// The `details` object of the last `action` event.
    func lastDetails(_ action: String) throws -> [String: Any] {
        (try events(action).last?["details"] as? [String: Any]) ?? [:]
    }

    /// Waits up to `seconds` for `condition`.
    func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            usleep(100_000)
        }
        return try condition()
    }

    var socketCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: runtime.path + "/keyhold")) ?? []).filter { $0.hasSuffix(".sock") }.count
    }

    deinit { _ = try? run(["lock"]) }
}

private func + (a: [String: String], b: [String: String]) -> [String: String] { a.merging(b) { $1 } }

@Suite struct AgentCLITests {
    @Test func unlockServesCommandsWithoutAPasswordUntilLock() throws {
        let a = try AgentVault()
        #expect(try a.run(["secret", "show", "app/one"]).status != 0, "no agent, no credentials: refused")
        let unlocked = try a.unlock()
        #expect(unlocked.status == 0, "\(unlocked.stderr)")
        #expect(unlocked.stdout.contains("Unlocked") && a.socketCount == 1)
        let logins = try a.events("login", throughAgent: true).count

        let set = try a.run(["secret", "set", "app/one", "--stdin"], stdin: "value-through-the-agent")
        #expect(set.status == 0, "\(set.stderr)")
        let show = try a.run(["secret", "show", "app/one"])
        #expect(show.status == 0 && show.stdout == "value-through-the-agent")
        #expect(try a.run(["secret", "list", "--prefix", "app/", "--json"]).stdout.contains("app/one"))
        let status = try a.run(["status"])
        #expect(status.status == 0 && status.stdout.contains("unlocked for admin"), "\(status.stdout)\(status.stderr)")
        // One unlock, no login per command.
        #expect(try a.events("login", throughAgent: true).count == logins)
        #expect(try a.events("session.unlock", throughAgent: true).count == 1)
        // A value handed to a program through the agent.
        let run = try a.run(["run", "--only", "app/one", "--", "/bin/sh", "-c", "printf %s \"$ONE\""])
        #expect(run.status == 0 && run.stdout == "value-through-the-agent", "\(run.stderr)")

        let lock = try a.run(["lock"])
        #expect(lock.status == 0 && lock.stdout.contains("Locked"))
        #expect(a.eventually { a.socketCount == 0 })
        #expect(try a.run(["secret", "show", "app/one"]).status != 0, "after lock a command needs a login again")
        #expect(try a.lastDetails("session.lock")["reason"] as? String == "lock")
    }

    @Test func noAgentBypassesTheAgent() throws {
        let a = try AgentVault()
        #expect(try a.unlock().status == 0)
        #expect(try a.run(["secret", "list", "--no-agent"]).status == 65, "--no-agent logs in, and has no credentials")
        #expect(try a.run(["secret", "list", "--no-agent"], as: a.admin).status == 0)
    }

    @Test func idleTimeEndsTheAgent() throws {
        let a = try AgentVault()
        #expect(try a.unlock(["--idle", "2s"]).status == 0)
        #expect(a.eventually(15) { a.socketCount == 0 }, "the agent outlived its idle time")
        #expect(try a.lastDetails("session.lock")["reason"] as? String == "idle")
        #expect(try a.run(["unlock", "--idle", "0s"], as: a.admin).status == 64, "a duration out of range is a usage error")
    }

    @Test func aKilledAgentLeavesNothingThatBlocksTheNextUnlock() throws {
        let a = try AgentVault()
        #expect(try a.unlock().status == 0)
        let status = try a.run(["status"])
        #expect(status.status == 0)
        // Its pid, from the unlock event.
        let pid = try #require(try a.lastDetails("session.unlock")["pid"] as? Int)
        #expect(kill(pid_t(pid), SIGKILL) == 0)
        #expect(a.eventually { kill(pid_t(pid), 0) != 0 })
        #expect(a.socketCount == 1, "a killed agent leaves its socket")
        // Commands fall back to a login; a new unlock takes the place.
        #expect(try a.run(["secret", "list"], as: a.admin).status == 0)
        #expect(try a.unlock().status == 0)
        #expect(try a.run(["secret", "list"]).status == 0)
    }

    @Test func sigtermEndsTheAgentAndConcurrentClientsAreServed() throws {
        let a = try AgentVault()
        #expect(try a.unlock().status == 0)
        #expect(try a.run(["secret", "set", "app/c", "--stdin"], stdin: "concurrent-value").status == 0)
        let results = ResultsBox()
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            let r = try? a.run(["secret", "show", "app/c"])
            results.add(r?.status == 0 && r?.stdout == "concurrent-value")
        }
        #expect(results.all == Array(repeating: true, count: 6))
        let pid = try #require(try a.lastDetails("session.unlock")["pid"] as? Int)
        #expect(kill(pid_t(pid), SIGTERM) == 0)
        #expect(a.eventually { a.socketCount == 0 })
        #expect(try a.lastDetails("session.lock")["reason"] as? String == "signal")
    }

    /// The agent's user disabled by another administrator: its next command is refused and it ends.
    @Test func aDisabledUsersAgentEnds() throws {
        let a = try AgentVault()
        try a.vault.addActiveUser("admin2", password: "second admins own passphrase", roles: ["admin"])
        #expect(try a.unlock().status == 0)
        let admin2 = a.env + AdminVault.login("admin2", "second admins own passphrase")
        #expect(try a.run(["user", "disable", "admin", "--no-agent"], as: admin2).status == 0)
        let refused = try a.run(["secret", "list"])
        #expect(refused.status == 65 && refused.stderr.contains("session ended"), "\(refused.stderr)")
        #expect(a.eventually { a.socketCount == 0 })
    }

    @Test func withoutXDGRuntimeDirUnlockSaysWhatToDo() throws {
        let v = try AdminVault()
        let r = try v.run(["unlock"])
        #expect(r.status != 0 && r.stderr.contains("XDG_RUNTIME_DIR"), "\(r.stderr)")
        #expect(try v.run(["secret", "list"]).status == 0, "commands work without an agent")
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Bool] = []
    func add(_ v: Bool) { lock.withLock { values.append(v) } }
    var all: [Bool] { lock.withLock { values } }
}
