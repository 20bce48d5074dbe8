import Foundation
import KeyholdAgent
import KeyholdConsole
import KeyholdCore
import Synchronization

/// The console's runner when an agent serves the vault (`keyhold unlock`): each effect goes to
/// the agent, which runs it with its session, and its action (and progress) comes back. Session
/// effects stay here: the console starts logged in as the agent's user, and never logs in,
/// creates a vault or changes a password through it (docs/ARCHITECTURE.md, "The console
/// through the agent").
public final class AgentRunner: AccountRunner {
    private let connection: ConsoleConnection
    private let stopped = Atomic<Bool>(false)
    private let watching = Atomic<Bool>(false)
    /// Signalled when the watcher thread has stopped using the connection.
    private let watcherDone = DispatchSemaphore(value: 0)
    /// The agent's user, as it answered at connection.
    public let account: Account

    /// What the console says when the agent is gone.
    static let gone = "the agent ended (locked, timed out or stopped); run `keyhold unlock` again, or `keyhold --no-agent`"

    /// Connects to the vault's agent and asks whose session it holds; nil when no agent answers,
    /// or it serves another user than `user` (when one is named; spaces around it do not count).
    public init?(vault: String, environment: [String: String], user: String?) {
        let user = user?.trimmingCharacters(in: .whitespaces)
        guard let c = ConsoleConnection(vault: vault, environment: environment) else { return nil }
        guard let reply = try? c.exchange(try AgentMessage.encode(ConsoleRequest.account), progress: { _ in }),
            case .account(let a) = try? reply.decode(ConsoleReply.self)
        else {
            c.close()
            return nil
        }
        if let user, !user.isEmpty, user.lowercased() != a.username.lowercased() {
            c.close()
            return nil
        }
        connection = c
        account = a
    }

    public func run(_ effect: Effect, progress: (@Sendable (Action) -> Void)?) -> Action {
        if case .session(let e) = effect {
            // Forgetting the session is the console's own business: the agent keeps its session.
            return e == .logout ? .session(.loggedOut) : .failed(effect, "the console does not log in through the agent")
        }
        let request: AgentMessage
        do { request = try AgentMessage.encode(ConsoleRequest.run(effect)) } catch { return .failed(effect, "\(error)") }
        let reply: AgentMessage
        do {
            reply = try connection.exchange(request) { report in
                if case .action(let a)? = try? report.decode(ConsoleReply.self) { progress?(a.action) }
            }
        } catch {
            return .sessionEnded(Self.gone)
        }
        guard case .action(let a)? = try? reply.decode(ConsoleReply.self) else {
            return .failed(effect, "the agent's answer could not be read")
        }
        return a.action
    }

    /// A thread that waits for the agent to hang up (it does at `keyhold lock`, at its time limits
    /// and when it is killed) and then posts the end of the session, so the console leaves
    /// without waiting for a key.
    public func watch(_ post: @escaping @Sendable (Action) -> Void) {
        watching.store(true, ordering: .relaxed)
        Thread.detachNewThread { [self] in
            defer { watcherDone.signal() }
            while !stopped.load(ordering: .relaxed) {
                if connection.hungUp(waitingUpTo: 250) {
                    if !stopped.load(ordering: .relaxed) { post(.sessionEnded(Self.gone)) }
                    return
                }
            }
        }
    }

    /// Ends the connection; the agent keeps running.
    public func close() {
        stopped.store(true, ordering: .relaxed)
        if watching.load(ordering: .relaxed) {
            // Wakes the watcher's poll at once; its descriptor is closed only once it has left.
            connection.shutdownReading()
            watcherDone.wait()
        }
        connection.close()
    }
}

/// The agent's side of the console: each request a console sends, answered with the agent's
/// session. The agent calls it one request at a time, under its command lock, and checks the
/// session after each (as after a command).
public struct ConsoleAgent: Sendable {
    private let runner: CoreRunner
    private let session: Session

    public init(session: Session) {
        self.session = session
        runner = CoreRunner(session: session)
    }

    /// One request in, its answer out; progress reports go to `progress` as they come.
    public func serve(_ request: AgentMessage, progress: @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage {
        let reply: ConsoleReply
        switch try? request.decode(ConsoleRequest.self) {
        case .account:
            do { reply = .account(try runner.account(session)) } catch { reply = .action(.sessionEnded("\(error)")) }
        case .run(let effect):
            if case .session = effect {
                reply = .action(.failed(effect, "the agent does not log in, create a vault or change a password"))
                break
            }
            let action = runner.run(effect) { a in
                if let r = RunnerAction(a), let m = try? AgentMessage.encode(ConsoleReply.action(r)) { progress(m) }
            }
            reply = .action(RunnerAction(action) ?? .failed(effect, "the agent cannot send this answer"))
        case nil:
            reply = .action(.sessionEnded("the console's request could not be read"))
        }
        return (try? AgentMessage.encode(reply)) ?? AgentMessage(json: [])
    }
}

extension AgentMessage {
    /// `value` as JSON, each of its `SecureBytes` set aside in `values` (never in the JSON).
    public static func encode<T: Encodable>(_ value: T) throws -> AgentMessage {
        let sink = SecureValues()
        let encoder = JSONEncoder()
        encoder.userInfo[.secureValues] = sink
        return AgentMessage(json: Array(try encoder.encode(value)), values: sink.values)
    }

    /// The value the JSON describes, its `SecureBytes` taken from `values`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.userInfo[.secureValues] = SecureValues(values)
        return try decoder.decode(type, from: Data(json))
    }
}
