import Foundation
import KeyholdConsole
import KeyholdConsoleAgent
import KeyholdCore
import KeyholdCrypto
import KeyholdTestSupport
import Synchronization
import Testing
@testable import KeyholdAgent

/// The agent's handler as the executable makes it: commands are not these tests' business.
struct ConsoleOnlyHandler: AgentHandler {
    let agent: ConsoleAgent
    init(_ session: Session) { agent = ConsoleAgent(session: session) }
    func run(_ command: AgentCommand, io: AgentIO) -> Int32? { nil }
    func console(_ request: AgentMessage, progress: @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage {
        agent.serve(request, progress: progress)
    }
}

/// The console's runner over a real agent (its socket, frames and session).
@Suite struct ConsoleAgentTests {
    static func page<K>(_ anchor: PageQuery<K>.Anchor = .first) -> PageQuery<K> {
        PageQuery(id: 1, filter: "", anchor: anchor, side: 20, count: true)
    }

    @Test func aConsoleSessionRunsWithTheAgentsSession() throws {
        let agent = try RunningAgent(handler: { ConsoleOnlyHandler($0) })
        let admin = agent.fixture.admin
        _ = try agent.fixture.user("carol", roles: ["user"])
        try admin.createSecret("db/password", .value(try SecureBytes(utf8: "hunter2-through-the-agent")), description: "the db")
        let before = try admin.auditEvents(AuditQuery()).count

        let runner = try #require(AgentRunner(vault: agent.fixture.path, environment: agent.environment, user: nil))
        defer { runner.close() }
        #expect(runner.account.username == "admin" && runner.account.can(.secretsWrite))
        // Another user named: not this agent.
        #expect(AgentRunner(vault: agent.fixture.path, environment: agent.environment, user: "carol") == nil)

        guard case .users(.page(let users)) = runner.run(.users(.page(Self.page())), progress: nil) else {
            Issue.record("no page of users"); return
        }
        #expect(users.rows.map(\.username) == ["admin", "carol"] && users.total == 2 && users.query.id == 1)

        guard
            case .secrets(.revealed(let name, let version, let value)) = runner.run(
                .secrets(.reveal("db/password", version: 1)), progress: nil)
        else { Issue.record("not revealed"); return }
        #expect(name == "db/password" && version == 1 && value.utf8String() == "hunter2-through-the-agent")

        let typed = Sensitive(try SecureBytes(utf8: "a new value, typed"))
        let created = runner.run(
            .secrets(
                .create(name: "api/key", value: .typed(typed), description: "made through the agent", rotateBy: nil, historyLimit: nil)),
            progress: nil)
        guard case .secrets(.saved(.created("api/key"))) = created else { Issue.record("not created: \(created)"); return }
        #expect(try admin.reveal("api/key").utf8String() == "a new value, typed")

        // A refusal comes back as the effect's failure, the session goes on.
        guard
            case .failed(.secrets(.reveal("nope", version: 1)), let message) = runner.run(
                .secrets(.reveal("nope", version: 1)), progress: nil)
        else { Issue.record("no failure"); return }
        #expect(message.contains("nope"))
        // Session effects never reach the agent; a logout is the console's own.
        guard case .session(.loggedOut) = runner.run(.session(.logout), progress: nil) else { Issue.record("no logout"); return }

        // The agent's events: no login for any of it, every one as admin.
        let events = Array(try admin.auditEvents(AuditQuery()).dropFirst(before))
        #expect(!events.isEmpty && !events.contains { $0.action.hasPrefix("login") })
        #expect(events.allSatisfy { $0.actor == "admin" })
        #expect(events.contains { $0.action == "secret.create" && $0.target.contains("api/key") })
        #expect(agent.server.status.commands >= 5, "each request counted as the agent's activity")
    }

    /// A data-key rotation run through the agent reports its progress over the socket as it goes
    /// (progress frames before the answer), and a root rotation's new recovery key comes back
    /// whole, as the raw bytes beside the JSON.
    @Test func aRotationThroughTheAgentReportsItsProgressOverTheSocket() throws {
        let agent = try RunningAgent(handler: { ConsoleOnlyHandler($0) })
        let admin = agent.fixture.admin
        for i in 0..<7 { try admin.createSecret("svc/\(i)", .value(try SecureBytes(utf8: "value \(i)"))) }
        let runner = try #require(AgentRunner(vault: agent.fixture.path, environment: agent.environment, user: nil))
        defer { runner.close() }

        let heard = Mutex<[String]>([])
        let finished = runner.run(.keys(.rotateDataKey)) { action in
            let text = if case .keys(.rotationProgress(let done, let total)) = action { "\(done)/\(total)" } else { "\(action)" }
            heard.withLock { $0.append(text) }
        }
        guard case .keys(.rotationFinished(let result?)) = finished else { Issue.record("no rotation: \(finished)"); return }
        #expect(result.targetVersion == 2 && result.resealed == 7 && result.destroyed == [1])
        let reports = heard.withLock { $0 }
        #expect(reports.first == "0/7" && reports.last == "7/7", "progress heard: \(reports)")
        #expect(try admin.keyStatus().activeDataKey == 2)
        for i in 0..<7 { #expect(try admin.reveal("svc/\(i)").utf8String() == "value \(i)") }

        guard case .keys(.rootRotated(let recovery, let rootVersion)) = runner.run(.keys(.rotateRootKey), progress: nil) else {
            Issue.record("no root rotation"); return
        }
        let key = try #require(recovery.utf8String())
        #expect(rootVersion == 2 && key != agent.fixture.recoveryKey)
        #expect(try RecoveryKey.parse(key).count == 32, "a recovery key that reads back (its check holds)")
    }

    @Test func aDisabledUserEndsTheConsoleAndTheAgent() throws {
        let agent = try RunningAgent(handler: { ConsoleOnlyHandler($0) })
        let other = try agent.fixture.user("admin2", roles: ["admin"])
        let runner = try #require(AgentRunner(vault: agent.fixture.path, environment: agent.environment, user: nil))
        defer { runner.close() }
        try other.disableUser("admin")
        guard case .sessionEnded = runner.run(.users(.page(Self.page())), progress: nil) else {
            Issue.record("the session went on"); return
        }
        #expect(agent.waitForEnd() == .sessionEnded)
        guard case .sessionEnded(let why) = runner.run(.dashboard(.load(dueWithin: 0)), progress: nil) else {
            Issue.record("the agent still answers"); return
        }
        #expect(why.contains("agent ended"))
    }

    @Test func theConsoleHearsWhenTheAgentIsLocked() throws {
        let agent = try RunningAgent(handler: { ConsoleOnlyHandler($0) })
        let runner = try #require(AgentRunner(vault: agent.fixture.path, environment: agent.environment, user: nil))
        defer { runner.close() }
        let heard = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        runner.watch { action in
            if case .sessionEnded(let why) = action { heard.withLock { $0.append(why) } }
            done.signal()
        }
        let l = try RawClient(agent.path)
        try l.hello(.lock)
        _ = try l.channel.receive()
        l.close()
        let start = Date()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(Date().timeIntervalSince(start) < 3, "heard at once, not after the agent's wait for connections")
        #expect(heard.withLock { $0.count } == 1)
        #expect(agent.waitForEnd() == .lock)
    }
}
