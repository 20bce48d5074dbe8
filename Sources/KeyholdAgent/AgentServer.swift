import Foundation
import KeyholdCore
import KeyholdCrypto
import Synchronization

/// What a client asks the agent to run, and how its side looks. Never a password: the
/// client drops `KEYHOLD_PASSWORD` and `KEYHOLD_NEW_PASSWORD` from `environment`.
public struct AgentCommand: Codable, Sendable, Equatable {
    public var argv: [String]
    public var cwd: String
    public var environment: [String: String]
    public var stdinIsTTY: Bool
    public var stdoutIsTTY: Bool
    public var stderrIsTTY: Bool
    public init(
        argv: [String], cwd: String, environment: [String: String], stdinIsTTY: Bool, stdoutIsTTY: Bool,
        stderrIsTTY: Bool
    ) {
        self.argv = argv; self.cwd = cwd; self.environment = environment
        self.stdinIsTTY = stdinIsTTY; self.stdoutIsTTY = stdoutIsTTY; self.stderrIsTTY = stderrIsTTY
    }
}

/// What `keyhold status` and `keyhold unlock` say about a running agent.
public struct AgentStatus: Codable, Sendable, Equatable {
    public var user: String
    public var vault: String
    public var pid: Int32
    public var started: Int64
    public var idleDeadline: Int64
    public var maxDeadline: Int64
    public var commands: Int
}

/// The first frame of every connection.
struct Hello: Codable {
    enum Op: String, Codable { case status, lock, command, console }
    var v: Int
    var op: Op
}

/// The client's streams and terminal, as seen by one command the agent runs for it.
public final class AgentIO: @unchecked Sendable {
    private let channel: FrameChannel
    public let command: AgentCommand
    private var stdinEnded = false
    /// Standard input received and not yet read, in guarded memory (an Array would leave a copy
    /// each time it grew, and stale bytes past its end each time a line was taken off the front).
    private let pending = SecureBuffer()
    private let lock = NSLock()

    init(channel: FrameChannel, command: AgentCommand) {
        self.channel = channel
        self.command = command
    }

    /// Bytes for the client's standard output.
    public func writeOut(_ bytes: UnsafeRawBufferPointer) throws { try send(.stdout, bytes) }
    /// Bytes for the client's standard error.
    public func writeErr(_ bytes: UnsafeRawBufferPointer) throws { try send(.stderr, bytes) }

    private func send(_ kind: Frame.Kind, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        repeat {
            let n = min(bytes.count - offset, Frame.maxPayload)
            var piece = Array(bytes[offset..<offset + n])
            defer { wipe(&piece) }
            try lock.withLock { try channel.send(Frame(kind, piece)) }
            offset += n
        } while offset < bytes.count
    }

    /// One line of the client's standard input (not a terminal), without its newline, in guarded
    /// memory; nil at its end.
    public func readLine() throws -> SecureBytes? {
        while true {
            if let nl = pending.bytes.firstIndex(of: 0x0A) {
                let end = nl > 0 && pending.bytes[nl - 1] == 0x0D ? nl - 1 : nl
                let line = try SecureBytes(copying: pending.bytes[..<end])
                pending.removeFirst(nl + 1)
                return line
            }
            if stdinEnded {
                if pending.count == 0 { return nil }
                defer { pending.removeAll() }
                return try pending.secureBytes()
            }
            try fill()
        }
    }

    /// All of the client's standard input, up to `limit` bytes and one more (more is an error for
    /// the caller to name), in guarded memory. On a terminal the client reads until end of file
    /// (Ctrl-D), as a local command would.
    public func readAll(limit: Int) throws -> SecureBuffer {
        if command.stdinIsTTY && !stdinEnded { try channel.send(Frame(.readAll)) }
        while !stdinEnded && pending.count <= limit { try fill() }
        defer { pending.removeAll() }
        let out = try SecureBuffer(capacity: min(pending.count, limit + 1))
        try out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(pending.bytes).prefix(limit + 1)))
        return out
    }

    /// Hands the client what `keyhold run` starts where the person is: the program and the
    /// values for its environment (over the socket, never in argv). The client starts it once
    /// the command has ended with exit code 0.
    public func start(_ payload: [UInt8]) throws {
        try lock.withLock { try channel.send(Frame(.start, payload)) }
    }

    /// Asks the person at the client's terminal (no echo unless `echo`); nil when they give nothing.
    public func prompt(_ text: String, echo: Bool) throws -> SecureBytes? {
        struct Prompt: Codable { var text: String; var echo: Bool }
        try channel.send(try Frame.json(.prompt, Prompt(text: text, echo: echo)))
        var answer = try channel.receive()
        defer { wipe(&answer.payload) }
        switch answer.kind {
        case .reply: return try SecureBytes(copying: answer.payload)
        case .noReply: return nil
        default: throw FrameError.unknownKind(answer.kind.rawValue)
        }
    }

    private func fill() throws {
        var frame = try channel.receive()
        defer { wipe(&frame.payload) }
        switch frame.kind {
        case .stdin: try pending.append(contentsOf: frame.payload)
        case .stdinEnd: stdinEnded = true
        default: throw FrameError.unknownKind(frame.kind.rawValue)
        }
    }
}

/// What the agent does with a command or a console's request. The executable provides it
/// (the command line and the console live in their own targets).
public protocol AgentHandler: Sendable {
    /// Runs one command line with the agent's session; returns its exit code, or nil when the
    /// agent should not serve it (the client then runs it itself).
    func run(_ command: AgentCommand, io: AgentIO) -> Int32?
    /// One console request in, its answer out; `progress` sends reports while a long effect runs.
    /// Called one at a time with commands.
    func console(_ request: AgentMessage, progress: @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage
}

/// Answers one console request with the agent's session, progress reports to the closure given
/// (the console's `ConsoleAgent.serve`, set by the executable that links the console).
public typealias AgentConsoleServer = @Sendable (AgentMessage, @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage

/// The agent: one vault, one user's session held in memory, served to clients of the same
/// uid over a Unix socket until `lock`, a time limit, a signal or the session's end.
public final class AgentServer: @unchecked Sendable {
    public let session: Session
    private let socketPath: String
    private let clock: Clock
    private let handler: AgentHandler
    private let state: Mutex<(lease: Lease, commands: Int, end: AgentEnd?, active: Int)>
    /// Held while a command runs: commands are served one after another.
    private let commands = Mutex(())
    /// Console connections waiting for their next request: shut down when the agent ends, so
    /// that the console hears of it at once.
    private let waitingConsoles = Mutex(Set<Int32>())

    public init(session: Session, socketPath: String, lease: Lease, clock: Clock, handler: AgentHandler) {
        self.session = session
        self.socketPath = socketPath
        self.clock = clock
        self.handler = handler
        state = Mutex((lease, 0, nil, 0))
    }

    public var status: AgentStatus {
        state.withLock { s in
            AgentStatus(
                user: session.username, vault: session.vault.path, pid: getpid(), started: s.lease.started,
                idleDeadline: s.lease.idleDeadline, maxDeadline: s.lease.maxDeadline, commands: s.commands)
        }
    }

    /// Serves on `listener` (from `AgentSocket.listen`) until the agent ends; returns why. The
    /// socket is removed and the session's end recorded (`session.lock`) when it still may be.
    public func serve(listener: Int32) -> AgentEnd {
        let signals = SignalPipe.install()
        defer { close(listener); unlink(socketPath) }
        while true {
            if let end = state.withLock({ s in s.end ?? s.lease.expired(at: clock.now()) }) {
                return finish(end)
            }
            var fds = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            ]
            let ready = poll(&fds, 2, 1_000)
            if ready < 0 && errno != EINTR { return finish(.signal) }
            if fds[1].revents != 0 { return finish(.signal) }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            // Only this user's processes: the directory is 0700 and the socket 0600, and the peer is checked.
            guard AgentSocket.peerUID(fd) == geteuid() else { close(fd); continue }
            state.withLock { $0.active += 1 }
            Thread.detachNewThread { [self] in
                serve(connection: fd)
                close(fd)
                state.withLock { $0.active -= 1 }
            }
        }
    }

    private func serve(connection fd: Int32) {
        let channel = FrameChannel(fd: fd)
        do {
            let hello = try channel.receive().decode(Hello.self)
            switch hello.op {
            case .status:
                try channel.send(try Frame.json(.status, status))
            case .lock:
                try channel.send(try Frame.json(.status, status))
                end(.lock)
            case .command:
                let request = try channel.receive()
                guard request.kind == .command else { return }
                let command = try request.decode(AgentCommand.self)
                let io = AgentIO(channel: channel, command: command)
                // One command at a time: each runs in its client's working directory.
                guard let code = commands.withLock({ _ in handler.run(command, io: io) }) else {
                    try channel.send(Frame(.refused))
                    return
                }
                counted()
                try channel.send(Frame.exit(code))
                checkSession()
            case .console:
                // One request after another, each answered (its progress first), until the client
                // goes or the agent ends. The values of each are freed (and wiped) once answered.
                let sends = NSLock()
                while true {
                    waitingConsoles.withLock { _ = $0.insert(fd) }
                    if state.withLock({ $0.end }) != nil { waitingConsoles.withLock { _ = $0.remove(fd) }; return }
                    var received = try? channel.receiveMessage()
                    waitingConsoles.withLock { _ = $0.remove(fd) }
                    defer { if received != nil { wipe(&received!.message.json) } }
                    guard let (kind, request) = received, kind == .request else { return }
                    var answer = commands.withLock { _ in
                        handler.console(request) { report in
                            var report = report
                            sends.withLock { _ = try? channel.send(report, as: .progress) }
                            wipe(&report.json)
                        }
                    }
                    defer { wipe(&answer.json) }
                    counted()
                    try sends.withLock { try channel.send(answer, as: .response) }
                    checkSession()
                }
            }
        } catch {
            return  // a client that went away, or spoke out of turn
        }
    }

    /// Each command served: the idle time starts again.
    private func counted() {
        let now = clock.now()
        state.withLock {
            $0.lease.touch(now); $0.commands += 1
        }
    }

    /// After each command: a session that ended (the user disabled, locked, expired or deleted,
    /// their password reset, the root key rotated) ends the agent, and so does a vault file found
    /// replaced (docs/SECURITY.md, "A vault replaced while in use"): the store has stopped using it.
    private func checkSession() {
        do {
            try session.checkStillActive()
        } catch let e as KeyholdError where e.isVaultReplaced {
            end(.vaultReplaced)
        } catch {
            end(.sessionEnded)
        }
    }

    /// Asks the agent to end (as `keyhold lock` does).
    public func end(_ reason: AgentEnd) {
        state.withLock { if $0.end == nil { $0.end = reason } }
    }

    private func finish(_ reason: AgentEnd) -> AgentEnd {
        unlink(socketPath)  // no new clients from here on
        // A console between requests hears now that the agent is gone.
        waitingConsoles.withLock { for fd in $0 { shutdown(fd, Int32(SHUT_RDWR)) } }
        // Commands in flight finish (each is one transaction or a few); a stuck one is not waited for long.
        for _ in 0..<50 where state.withLock({ $0.active }) > 0 { usleep(100_000) }
        // An ended session, or a file that is no longer this vault, takes no event.
        if reason != .sessionEnded && reason != .vaultReplaced {
            try? session.recordAgentEnd(reason: reason.rawValue, commands: state.withLock { $0.commands })
        }
        return reason
    }
}

/// SIGTERM, SIGHUP and SIGINT written to a pipe the server polls, so the agent ends cleanly.
enum SignalPipe {
    nonisolated(unsafe) static var writeEnd: Int32 = -1

    static func install() -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return -1 }
        writeEnd = fds[1]
        // A process started from a thread that blocks signals (a Dispatch worker's) inherits that
        // mask: unblock the ones that end the agent, or SIGTERM would never reach it.
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGTERM, SIGHUP, SIGINT] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal(sig) { _ in
                var byte: UInt8 = 1
                _ = write(SignalPipe.writeEnd, &byte, 1)
            }
        }
        return fds[0]
    }
}

/// Zeroes bytes that may have held a value before they are freed.
func wipe(_ bytes: inout [UInt8]) {
    Sodium.wipe(&bytes)
    bytes.removeAll()
}
