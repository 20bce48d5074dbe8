import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdFormats

/// Durations as people write them: `90s`, `15m`, `8h`, `1d` (a bare number is minutes).
enum Duration {
    static func milliseconds(_ text: String, option: String, range: ClosedRange<Int64>) throws -> Int64 {
        let units: [Character: Int64] = ["s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000]
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let unit = t.last.flatMap { units[$0] }
        let digits = unit == nil ? t : String(t.dropLast())
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isASCII), let n = Int64(digits),
            case let ms = n * (unit ?? 60_000), range.contains(ms)
        else {
            throw ArgumentParser.ValidationError(
                "\(option) \(Validate.visible(text)): give a duration such as 90s, 15m, 8h or 1d, "
                    + "from \(range.lowerBound / 1_000)s to \(range.upperBound / 3_600_000)h")
        }
        return ms
    }
}

/// `keyhold unlock`: an agent for this vault and user, holding the session for later commands.
struct UnlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Keep this vault unlocked for your later commands (an agent), until `keyhold lock` or a time limit.",
        discussion: """
            Logs in (the password as for any command: prompt, stdin or KEYHOLD_PASSWORD) and starts an agent \
            for this vault and user, or reuses the one that runs. Later commands on the vault go through it \
            without asking for the password (--no-agent logs in instead); it holds your key pair and the root \
            key in guarded memory and never hands them out. It listens on a socket in $XDG_RUNTIME_DIR/keyhold \
            (yours alone) and forgets everything after --idle without a command, after --max in all, at \
            `keyhold lock`, and on SIGTERM or SIGHUP; it ends too when its user's session ends or the vault \
            file is replaced (the command that finds it fails). Audited as session.unlock and session.lock.
            """)
    @OptionGroup var vault: VaultOptionsGroup
    @Option(help: "Forget everything after this long without a command (e.g. 15m, 2h; default 15m).") var idle: String = "15m"
    @Option(help: "Forget everything after this long in all (e.g. 8h; default 8h).") var max: String = "8h"

    func run() throws {
        try runReporting {
            let idleMs = try Duration.milliseconds(idle, option: "--idle", range: Lease.idleRange)
            let maxMs = try Duration.milliseconds(max, option: "--max", range: Lease.maxRange)
            let env = Terminal.environment
            let path = vault.path
            _ = try AgentSocket.path(forVault: path, environment: env, create: true)
            if let running = AgentClient.status(vault: path, environment: env) {
                if let user = env["KEYHOLD_USER"], !user.isEmpty, user.lowercased() != running.user.lowercased() {
                    throw KeyholdError.conflict("an agent for \(path) serves \(running.user); end it with `keyhold lock` first")
                }
                try Terminal.out(
                    "An agent already serves \(path) for \(running.user) (until \(Clock.format(running.idleDeadline)) "
                        + "if idle, \(Clock.format(running.maxDeadline)) at the latest).")
                return
            }
            let user = try Credentials.username()
            let password = try Credentials.password()
            try AgentLauncher.start(vault: path, user: user, password: password, idle: idleMs, max: maxMs)
            guard let status = AgentClient.status(vault: path, environment: env) else {
                throw KeyholdError.refused("the agent did not start")
            }
            try Terminal.out(
                "Unlocked \(path) for \(status.user): commands use the agent until \(Clock.format(status.idleDeadline)) "
                    + "if idle, \(Clock.format(status.maxDeadline)) at the latest (`keyhold lock` ends it).")
        }
    }
}

/// `keyhold lock`: ends the vault's agent.
struct LockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock", abstract: "End the agent of this vault: it forgets the keys it held.")
    @OptionGroup var vault: VaultOptionsGroup

    func run() throws {
        try runReporting {
            guard let status = AgentClient.lock(vault: vault.path, environment: Terminal.environment) else {
                try Terminal.out("No agent serves \(vault.path).")
                return
            }
            // The agent ends on its own once its commands are done; wait briefly so the next command sees it gone.
            for _ in 0..<50 where AgentClient.status(vault: vault.path, environment: Terminal.environment) != nil { usleep(100_000) }
            try Terminal.out("Locked \(vault.path) (the agent of \(status.user) ended after \(status.commands) command(s)).")
        }
    }
}

/// The agent process itself (started by `unlock`, not by hand): reads the username and the
/// password from standard input, logs in, listens, says "ready", and serves until it ends.
struct AgentServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent-serve", shouldDisplay: false)
    @OptionGroup var vault: VaultOptionsGroup
    @Option var idle: Int64
    @Option var max: Int64

    func run() throws {
        let env = Terminal.environment
        let path = vault.path
        let ready: (String) -> Void = { line in try? Terminal.outRaw(line) }
        let session: Session
        let listener: Int32
        let socket: String
        do {
            guard let user = try Terminal.readLineSecure()?.utf8String(), let password = try Terminal.readLineSecure() else {
                throw KeyholdError.refused("no credentials given to the agent")
            }
            let opened = try Vault.open(at: path, options: vault.options)
            switch try opened.login(username: user, password: password) {
            case .session(let s): session = s
            case .mustChangePassword:
                throw KeyholdError.refused("the password is a temporary one: change it first (keyhold user passwd), then unlock")
            }
            try Credentials.finishInterruptedRotation(session)
            socket = try AgentSocket.path(forVault: path, environment: env, create: true)
            listener = try AgentSocket.listen(at: socket)
            try session.recordAgentStart(idle: idle, max: max, pid: getpid())
        } catch {
            ready("error \(error)")
            throw ExitCode(Exit.failure)
        }
        let server = AgentServer(
            session: session, socketPath: socket,
            lease: Lease(idle: idle, max: max, started: session.vault.clock.now()),
            clock: session.vault.clock,
            handler: CommandLineAgent(session: session, console: KeyholdCommand.consoleAgent?(session)))
        ready("ready \(getpid())")
        AgentLauncher.detach()
        // Ended because the vault's file was replaced: the exit code a command gets for it.
        if server.serve(listener: listener) == .vaultReplaced { throw ExitCode(Exit.failure) }
    }

}

/// Starting the agent: a new process of this program (`agent-serve`), given the credentials on a
/// pipe (never argv or the environment), which answers "ready" or why not, then detaches.
enum AgentLauncher {
    static func start(vault: String, user: String, password: SecureBytes, idle: Int64, max: Int64) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = ["agent-serve", "--db", vault, "--idle", String(idle), "--max", String(max)]
        // Its environment: this one's, less the credentials it is given another way.
        p.environment = Terminal.environment.filter { !AgentClient.withheld.contains($0.key) }
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw KeyholdError.refused("cannot start the agent: \(error)") }
        // The username's line, then the password straight from guarded memory (never gathered into
        // an Array, which would leave a copy behind each time it grew), then its newline.
        let pipe = input.fileHandleForWriting.fileDescriptor
        _ = Array((user + "\n").utf8).withUnsafeBytes { Terminal.writeFD(all: $0, to: pipe) }
        _ = password.withBytes { Terminal.writeFD(all: $0, to: pipe) }
        _ = [UInt8(0x0A)].withUnsafeBytes { Terminal.writeFD(all: $0, to: pipe) }
        try? input.fileHandleForWriting.close()
        // Its first line: "ready <pid>" or "error <why>".
        var line: [UInt8] = []
        var byte: UInt8 = 0
        let fd = output.fileHandleForReading.fileDescriptor
        while Foundation.read(fd, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("ready ") else {
            throw KeyholdError.refused(text.hasPrefix("error ") ? String(text.dropFirst(6)) : "the agent did not start")
        }
    }

    /// The agent leaves the session of the terminal that started it, and its standard streams.
    static func detach() {
        _ = setsid()
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, STDIN_FILENO); dup2(null, STDOUT_FILENO); dup2(null, STDERR_FILENO)
            if null > 2 { close(null) }
        }
    }
}

extension KeyholdCommand {
    /// When an agent serves the vault and runs this command: runs it there and exits with its
    /// code. Otherwise returns, and the command runs here.
    public static func exitThroughAgentIfServed(_ argv: [String]) {
        if let code = runThroughAgent(argv) { Foundation.exit(code) }
    }

    /// Runs the command line through the vault's agent when one serves it (and the command is one
    /// an agent runs): its exit code, or nil to run it here.
    public static func runThroughAgent(_ argv: [String]) -> Int32? {
        guard AgentRouting.servedByAgent(argv) else { return nil }
        let env = ProcessInfo.processInfo.environment
        let path = Completions.vaultPath(argv, environment: env)
        return AgentClient.run(argv: argv, vault: path, environment: env) { payload in
            var bytes = payload
            defer { Bytes.wipe(&bytes) }
            do { return try RunStart.decode(bytes).startHere() } catch { return fail(error).rawValue }
        }
    }
}
