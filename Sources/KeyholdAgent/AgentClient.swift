import Foundation
import KeyholdCrypto

/// A command's side of the agent: asks it for its status, to end, or to run a command line,
/// relaying this process's standard input, output, error and terminal.
public enum AgentClient {
    /// The variables that may carry a password: taken out of the environment at start and
    /// never passed on (to the agent, to a program `run` starts, to gpg).
    public static let passwordVariables = ["KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD", "KEYHOLD_BACKUP_PASSWORD"]
    /// Variables a client never sends (the agent holds the session; nothing needs them).
    public static let withheld = Set(passwordVariables)

    /// The vault's agent's status, or nil when none answers.
    public static func status(vault: String, environment: [String: String]) -> AgentStatus? {
        ask(.status, vault: vault, environment: environment)
    }

    /// Ends the vault's agent; its status as it ended, or nil when none was running.
    public static func lock(vault: String, environment: [String: String]) -> AgentStatus? {
        ask(.lock, vault: vault, environment: environment)
    }

    private static func ask(_ op: Hello.Op, vault: String, environment: [String: String]) -> AgentStatus? {
        guard let path = try? AgentSocket.path(forVault: vault, environment: environment),
            let fd = try? AgentSocket.connect(to: path)
        else { return nil }
        defer { close(fd) }
        let channel = FrameChannel(fd: fd)
        guard (try? channel.send(try Frame.json(.hello, Hello(v: 1, op: op)))) != nil,
            let answer = try? channel.receive(), answer.kind == .status
        else { return nil }
        return try? answer.decode(AgentStatus.self)
    }

    /// Runs `argv` through the vault's agent. Returns the exit code, or nil when no agent serves
    /// the vault (or it will not serve this command): the caller then runs it itself. A program
    /// the command hands over (`keyhold run`) is started here by `start`, whose exit code is returned.
    public static func run(
        argv: [String], vault: String, environment: [String: String],
        start: ([UInt8]) -> Int32
    ) -> Int32? {
        let terminal = (stdin: isatty(STDIN_FILENO) == 1, stdout: isatty(STDOUT_FILENO) == 1, stderr: isatty(STDERR_FILENO) == 1)
        guard let (fd, command) = send(argv: argv, vault: vault, environment: environment, terminal: terminal) else { return nil }
        defer { close(fd) }
        let channel = LockedChannel(FrameChannel(fd: fd))
        if !command.stdinIsTTY {
            Thread.detachNewThread { streamStdin(to: channel, untilEOF: true) }
        }
        var startPayload: [UInt8]?
        defer { if startPayload != nil { Sodium.wipe(&startPayload!) } }
        while true {
            guard var frame = try? channel.channel.receive() else {
                writeErr("keyhold: the agent went away during the command; run it again (or with --no-agent)\n")
                return 1
            }
            defer { Sodium.wipe(&frame.payload) }
            switch frame.kind {
            case .stdout:
                guard write(STDOUT_FILENO, frame.payload) else {
                    writeErr("keyhold: cannot write to standard output: \(String(cString: strerror(errno)))\n")
                    return outputFailed
                }
            case .stderr:
                _ = write(STDERR_FILENO, frame.payload)
            case .prompt:
                struct Prompt: Codable { var text: String; var echo: Bool }
                guard let p = try? frame.decode(Prompt.self) else { return 1 }
                // No guarded memory for the answer (out of memory): no reply, as at end of input.
                var answer = (try? Terminal.readLine(prompt: p.text, echo: p.echo)) ?? nil
                defer { if answer != nil { Sodium.wipe(&answer!) } }
                try? channel.send(answer.map { Frame(.reply, $0) } ?? Frame(.noReply))
            case .readAll:
                streamStdin(to: channel, untilEOF: true)
            case .start:
                startPayload = frame.payload
            case .exit:
                guard let code = frame.exitCode else { return 1 }
                if code == 0, let payload = startPayload { return start(payload) }
                return code
            case .refused:
                return nil
            default:
                return 1
            }
        }
    }

    /// Runs `argv` through the vault's agent with no terminal and no input, and returns its
    /// exit code and standard output (standard error is dropped). Nil when no agent serves
    /// the vault or it will not serve this command: the caller then does without, never
    /// logging in itself. A prompt is answered with nothing (the command fails rather than
    /// waits); a program to start (`keyhold run`) is refused. For shell completions.
    public static func capture(argv: [String], vault: String, environment: [String: String]) -> (status: Int32, stdout: [UInt8])? {
        guard let (fd, _) = send(argv: argv, vault: vault, environment: environment, terminal: (false, false, false))
        else { return nil }
        defer { close(fd) }
        let channel = FrameChannel(fd: fd)
        guard (try? channel.send(Frame(.stdinEnd))) != nil else { return nil }
        var out: [UInt8] = []
        while true {
            guard var frame = try? channel.receive() else { return nil }
            defer { Sodium.wipe(&frame.payload) }
            switch frame.kind {
            case .stdout: out += frame.payload
            case .stderr: continue
            case .prompt: guard (try? channel.send(Frame(.noReply))) != nil else { return nil }
            case .readAll: guard (try? channel.send(Frame(.stdinEnd))) != nil else { return nil }
            case .exit:
                return frame.exitCode.map { ($0, out) }
            default: return nil
            }
        }
    }

    /// Connects to the vault's agent and sends it the command (`argv`, the working directory, the
    /// environment without the withheld variables, which of the streams are terminals). Nil when
    /// no agent answers: the connection's descriptor, for the caller to close, and the command.
    private static func send(
        argv: [String], vault: String, environment: [String: String],
        terminal: (stdin: Bool, stdout: Bool, stderr: Bool)
    ) -> (Int32, AgentCommand)? {
        guard let path = try? AgentSocket.path(forVault: vault, environment: environment),
            let fd = try? AgentSocket.connect(to: path)
        else { return nil }
        let command = AgentCommand(
            argv: argv, cwd: FileManager.default.currentDirectoryPath,
            environment: environment.filter { !withheld.contains($0.key) },
            stdinIsTTY: terminal.stdin, stdoutIsTTY: terminal.stdout, stderrIsTTY: terminal.stderr)
        let channel = FrameChannel(fd: fd)
        do {
            try channel.send(try Frame.json(.hello, Hello(v: 1, op: .command)))
            try channel.send(try Frame.json(.command, command))
        } catch {
            close(fd)
            return nil
        }
        return (fd, command)
    }

    /// The exit code of a command whose standard output could not be written (docs/CLI.md).
    public static let outputFailed: Int32 = 72

    private static func streamStdin(to channel: LockedChannel, untilEOF: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        defer { Sodium.wipe(&buffer) }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var piece = Array(buffer[0..<n])
            defer { Sodium.wipe(&piece) }
            guard (try? channel.send(Frame(.stdin, piece))) != nil else { return }
        }
        try? channel.send(Frame(.stdinEnd))
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
    }

    private static func writeErr(_ s: String) { _ = write(STDERR_FILENO, Array(s.utf8)) }
}

/// A frame channel whose sends may come from two threads (the standard input relay and the replies).
final class LockedChannel: @unchecked Sendable {
    let channel: FrameChannel
    private let lock = NSLock()
    init(_ channel: FrameChannel) { self.channel = channel }
    func send(_ frame: Frame) throws { try lock.withLock { try channel.send(frame) } }
}

/// The client's terminal, for the agent's prompts.
enum Terminal {
    /// Shows `prompt` on standard error and reads one line from the terminal (no echo unless `echo`).
    static func readLine(prompt: String, echo: Bool) throws -> [UInt8]? {
        _ = prompt.utf8CString.withUnsafeBufferPointer { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
        var old = termios()
        let tty = isatty(STDIN_FILENO) == 1
        if tty && !echo {
            tcgetattr(STDIN_FILENO, &old)
            var quiet = old
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if tty && !echo {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
                _ = Glibc.write(STDERR_FILENO, "\n", 1)
            }
        }
        // Read straight into guarded memory (an Array would leave a copy each time it grew); the
        // frame that carries it is an exact copy, wiped once sent.
        let line = try SecureBuffer(capacity: 256)
        var newline = false
        while line.count <= 65_538 {
            let n = try line.appendReading(atLeast: 1) { room in read(STDIN_FILENO, room.baseAddress!, 1) }
            if n != 1 { break }
            if line.bytes.last == 0x0A {
                newline = true
                line.truncate(to: line.count - 1)
                if line.bytes.last == 0x0D { line.truncate(to: line.count - 1) }
                break
            }
        }
        return !newline && line.count == 0 ? nil : Array(line.bytes)
    }
}

/// The console's connection to the vault's agent: requests one at a time, each answered by its
/// progress reports and then its answer (docs/ARCHITECTURE.md, "The console through the agent").
public final class ConsoleConnection: @unchecked Sendable {
    private let channel: FrameChannel
    private let lock = NSLock()
    private var closed = false

    /// Connects to the vault's agent; nil when none answers.
    public init?(vault: String, environment: [String: String]) {
        guard let path = try? AgentSocket.path(forVault: vault, environment: environment),
            let fd = try? AgentSocket.connect(to: path)
        else { return nil }
        channel = FrameChannel(fd: fd)
        do {
            try channel.send(try Frame.json(.hello, Hello(v: 1, op: .console)))
        } catch {
            Glibc.close(fd)
            return nil
        }
    }

    /// Sends `request` and returns the agent's answer, handing `progress` each report before it.
    /// Throws when the agent went away (locked, timed out, killed) or answered out of turn.
    public func exchange(_ request: AgentMessage, progress: (AgentMessage) -> Void) throws -> AgentMessage {
        try lock.withLock {
            guard !closed else { throw FrameError.closed }
            try channel.send(request, as: .request)
            while true {
                let (kind, message) = try channel.receiveMessage()
                switch kind {
                case .progress: progress(message)
                case .response: return message
                default: throw FrameError.unknownKind(kind.rawValue)
                }
            }
        }
    }

    /// Waits up to `milliseconds` for the agent to hang up; true once it has. Reads nothing, so it
    /// may run beside `exchange`.
    public func hungUp(waitingUpTo milliseconds: Int32) -> Bool {
        // POLLRDHUP (0x2000): the peer shut its side down.
        var p = pollfd(fd: channel.fd, events: Int16(0x2000), revents: 0)
        let n = poll(&p, 1, milliseconds)
        return n > 0 && p.revents & Int16(0x2000 | Int32(POLLHUP) | Int32(POLLERR)) != 0
    }

    /// Stops reading: a `hungUp` waiting on the connection returns at once (the descriptor stays open).
    public func shutdownReading() {
        lock.withLock {
            if !closed { _ = shutdown(channel.fd, Int32(SHUT_RD)) }
        }
    }

    /// Ends the connection (the agent keeps running).
    public func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            Glibc.close(channel.fd)
        }
    }

    deinit { close() }
}
