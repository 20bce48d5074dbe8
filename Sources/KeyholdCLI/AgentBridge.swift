import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdFormats

/// What `keyhold run` hands its client through an agent: the program, and the values for its
/// environment (the client rebuilds the environment from its own and starts the program).
struct RunStart {
    struct Header: Codable {
        var program: String
        var arguments: [String]
        var mask: Bool
        var plan: [Handout.Entry]
        var sizes: [Int]
    }
    var program: String
    var arguments: [String]
    var mask: Bool
    var plan: [Handout.Entry]
    /// The values one after another, in plan order.
    var values: [UInt8]
    var sizes: [Int] = []

    init(program: String, arguments: [String], mask: Bool, plan: [Handout.Entry], values: [UInt8], sizes: [Int]) {
        self.program = program; self.arguments = arguments; self.mask = mask; self.plan = plan; self.values = values
        self.sizes = sizes
    }

    /// `u32 length || header JSON || values`.
    func encoded() throws -> [UInt8] {
        let header = Array(
            try JSONEncoder().encode(
                Header(
                    program: program, arguments: arguments, mask: mask, plan: plan,
                    sizes: sizes)))
        let n = UInt32(header.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + header + values
    }

    static func decode(_ bytes: [UInt8]) throws -> RunStart {
        guard bytes.count >= 4 else { throw KeyholdError.integrity("agent: a start request too short") }
        let n = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard bytes.count >= 4 + n else { throw KeyholdError.integrity("agent: a start request cut short") }
        let h = try JSONDecoder().decode(Header.self, from: Data(bytes[4..<4 + n]))
        guard h.sizes.count == h.plan.count, h.sizes.reduce(0, +) == bytes.count - 4 - n else {
            throw KeyholdError.integrity("agent: a start request whose values do not add up")
        }
        return RunStart(
            program: h.program, arguments: h.arguments, mask: h.mask, plan: h.plan, values: Array(bytes[(4 + n)...]),
            sizes: h.sizes)
    }

    /// Starts the program here (the client): the environment is this process's, less the
    /// withheld variables and those a secret replaces, plus each secret. Returns only with the
    /// exit code to leave with (masked, or when it cannot be executed).
    func startHere() throws -> Int32 {
        let inherited = Handout.processEnvironment().filter { !RunCommand.withheld.contains($0.name) }
        let environment = try Handout.Environment(plan: plan, sizes: sizes, inherited: inherited)
        var offset = 0
        do {
            try values.withUnsafeBytes { raw in
                for (i, size) in sizes.enumerated() {
                    try environment.set(i, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size]))
                    offset += size
                }
            }
        } catch {
            return fail(error).rawValue
        }
        if mask { return try Handout.spawnMasked(program, arguments: arguments, environment: environment) }
        let error = Handout.exec(program, arguments: arguments, environment: environment)
        Terminal.err("keyhold: \(Validate.visible(arguments.first ?? program)): cannot execute: \(String(cString: strerror(error)))")
        return error == ENOENT ? 127 : 126
    }
}

/// The agent's side of the command line: runs a client's command in this process, with the
/// agent's session and the client's streams, environment and working directory.
public struct CommandLineAgent: AgentHandler {
    let session: Session
    /// The console's side, when the executable links it: one request in, its answer out.
    let consoleRequest: AgentConsoleServer?

    public init(session: Session, console: AgentConsoleServer?) {
        self.session = session
        consoleRequest = console
    }

    public func console(_ request: AgentMessage, progress: @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage {
        // Without the console linked, an empty answer: the client reads it as none.
        consoleRequest?(request, progress) ?? AgentMessage(json: [])
    }

    public func run(_ command: AgentCommand, io: AgentIO) -> Int32? {
        // Another user named (KEYHOLD_USER), or a command that is not the agent's to run: the client runs it itself.
        if let user = command.environment["KEYHOLD_USER"], !user.isEmpty, user.lowercased() != session.username.lowercased() {
            return nil
        }
        guard AgentRouting.servedByAgent(command.argv) else { return nil }
        let previous = FileManager.default.currentDirectoryPath
        guard chdir(command.cwd) == 0 else {
            try? Array("keyhold: the agent cannot work in \(command.cwd): \(String(cString: strerror(errno)))\n".utf8)
                .withUnsafeBytes { try io.writeErr($0) }
            return Exit.failure
        }
        defer { _ = chdir(previous) }
        let terminal = TerminalIO(
            stdinIsTTY: command.stdinIsTTY, stdoutIsTTY: command.stdoutIsTTY, stderrIsTTY: command.stderrIsTTY,
            environment: command.environment,
            write: { fd, bytes in
                do { try fd == STDERR_FILENO ? io.writeErr(bytes) : io.writeOut(bytes); return nil } catch { return EPIPE }
            },
            readLine: { (try? io.readLine()).flatMap { $0 } },
            prompt: { text, echo in (try? io.prompt(text, echo: echo)).flatMap { $0 } },
            readAll: { limit in (try? io.readAll(limit: limit)) ?? SecureBuffer() },
            session: session,
            start: { request in
                var payload = try request.encoded()
                defer { Bytes.wipe(&payload) }
                try io.start(payload)
            })
        return Terminal.$io.withValue(terminal) { KeyholdCommand.run(arguments: Array(command.argv.dropFirst())) }
    }
}

/// Which commands go through an agent when one serves the vault.
enum AgentRouting {
    /// Commands the client always runs itself: they make or change the vault file as a whole,
    /// manage the agent, serve applications, need no vault, or give no session (a recovery).
    static let local: Set<String> = [
        "init", "unlock", "lock", "upgrade", "restore", "agent-serve", "app-serve", "help", "completions",
        "--help", "-h", "--version", "--generate-completion-script"
    ]

    /// Whether `argv` (with the program name first) may be served by the agent.
    static func servedByAgent(_ argv: [String]) -> Bool {
        let args = Array(argv.dropFirst())
        guard let first = args.first, !first.hasPrefix("-") || first == "--db" else { return false }
        if args.contains("--no-agent") || args.contains("--help") || args.contains("-h") { return false }
        if local.contains(first) { return false }
        // A recovery gives no session; a password change is checked against the password itself.
        if args.starts(with: ["key", "recover"]) || args.starts(with: ["user", "passwd"]) { return false }
        return true
    }
}
