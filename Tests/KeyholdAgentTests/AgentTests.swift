import Foundation
import KeyholdCore
import KeyholdTestSupport
import Synchronization
import Testing
@testable import KeyholdAgent

/// A handler for the server's own tests: echoes standard input upper-cased, asks one question.
struct EchoHandler: AgentHandler {
    func run(_ command: AgentCommand, io: AgentIO) -> Int32? {
        do {
            if command.argv == ["ask"] {
                let answer = try io.prompt("Say something: ", echo: false)
                try Array("you said \(answer?.count ?? 0) bytes\n".utf8).withUnsafeBytes { try io.writeOut($0) }
                return 0
            }
            let all = try io.readAll(limit: 1 << 20)
            let upper = all.bytes.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
            try upper.withUnsafeBytes { try io.writeOut($0) }
            try Array("argv \(command.argv.joined(separator: " "))\n".utf8).withUnsafeBytes { try io.writeErr($0) }
            return 7
        } catch {
            return 99
        }
    }
    func console(_ request: AgentMessage, progress: @escaping @Sendable (AgentMessage) -> Void) -> AgentMessage {
        AgentMessage(json: request.json.reversed(), values: request.values)
    }
}

/// A raw client speaking the frames, as `AgentClient` does over the process's own streams.
struct RawClient {
    let channel: FrameChannel
    init(_ path: String) throws { channel = FrameChannel(fd: try AgentSocket.connect(to: path)) }
    func hello(_ op: Hello.Op) throws { try channel.send(try Frame.json(.hello, Hello(v: 1, op: op))) }
    func close() { Glibc.close(channel.fd) }
}

/// A running agent over a Fixture's admin session, in a private runtime directory.
final class RunningAgent: @unchecked Sendable {
    let fixture: Fixture
    let runtime = TempDir(prefix: "keyhold-runtime")
    let server: AgentServer
    let path: String
    private let ended = Mutex<AgentEnd?>(nil)
    private let done = DispatchSemaphore(value: 0)

    var environment: [String: String] { ["XDG_RUNTIME_DIR": runtime.path] }

    init(
        idle: Int64 = Lease.defaultIdle, max: Int64 = Lease.defaultMax, handler: (Session) -> AgentHandler = { _ in EchoHandler() }
    ) throws {
        fixture = try Fixture()
        path = try AgentSocket.path(forVault: fixture.path, environment: ["XDG_RUNTIME_DIR": runtime.path], create: true)
        server = AgentServer(
            session: fixture.admin, socketPath: path,
            lease: Lease(idle: idle, max: max, started: fixture.clock.now), clock: fixture.clock.clock,
            handler: handler(fixture.admin))
        let listener = try AgentSocket.listen(at: path)
        Thread.detachNewThread { [self] in
            let reason = server.serve(listener: listener)
            ended.withLock { $0 = reason }
            done.signal()
        }
    }

    /// Waits (up to `seconds`) for the agent to end; why it did.
    func waitForEnd(seconds: Int = 10) -> AgentEnd? {
        _ = done.wait(timeout: .now() + .seconds(seconds))
        return ended.withLock { $0 }
    }
}

@Suite struct AgentTests {
    @Test func leaseEndsAfterIdleOrInAll() {
        var lease = Lease(idle: 1_000, max: 5_000, started: 10_000)
        #expect(lease.expired(at: 10_999) == nil)
        #expect(lease.expired(at: 11_000) == .idle)
        lease.touch(10_900)
        #expect(lease.expired(at: 11_899) == nil && lease.idleDeadline == 11_900)
        lease.touch(14_500)
        #expect(lease.idleDeadline == 15_000, "never beyond the absolute limit")
        #expect(lease.expired(at: 15_000) == .max)
        lease.touch(12_000)
        #expect(lease.lastUse == 14_500, "time does not go back")
        #expect(Lease.defaultIdle == 15 * 60_000 && Lease.defaultMax == 8 * 3_600_000)
    }

    @Test func framesRoundTripOverASocket() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let a = FrameChannel(fd: fds[0]), b = FrameChannel(fd: fds[1])
        for frame in [Frame(.hello), Frame(.stdout, Array(0...255)), Frame(.exit, [0, 0, 0, 9])] {
            try a.send(frame)
            #expect(try b.receive() == frame)
        }
        // A length beyond the limit is refused before anything is allocated for it.
        let header: [UInt8] = [Frame.Kind.stdin.rawValue, 0x7F, 0xFF, 0xFF, 0xFF]
        _ = header.withUnsafeBytes { write(fds[0], $0.baseAddress, 5) }
        #expect(throws: FrameError.tooLarge(0x7FFF_FFFF)) { try b.receive() }
        close(fds[0])
        #expect(throws: FrameError.self) { try b.receive() }
    }

    /// An exit code goes as four bytes big-endian and comes back the same, negative and large
    /// ones included; anything else is no exit code.
    @Test func exitCodesRoundTrip() {
        for code: Int32 in [0, 1, 9, 72, 130, 255, 256, -1, .min, .max] {
            #expect(Frame.exit(code).exitCode == code)
        }
        #expect(Frame.exit(9).payload == [0, 0, 0, 9])
        #expect(Frame(.exit, [0, 0, 9]).exitCode == nil)
        #expect(Frame(.stdout, [0, 0, 0, 9]).exitCode == nil)
    }

    @Test func socketDirectoryIsPrivateOrRefused() throws {
        #expect(throws: AgentError.noRuntimeDirectory) { try AgentSocket.directory(environment: [:], create: true) }
        #expect(AgentError.noRuntimeDirectory.description.contains("XDG_RUNTIME_DIR"))
        let runtime = TempDir(prefix: "keyhold-runtime")
        let dir = try AgentSocket.directory(environment: ["XDG_RUNTIME_DIR": runtime.path], create: true)
        #expect(permissions(dir) == 0o700)
        #expect(chmod(dir, 0o755) == 0)
        #expect(throws: AgentError.self) { try AgentSocket.directory(environment: ["XDG_RUNTIME_DIR": runtime.path], create: true) }
        // Two vaults, two sockets; the same vault by another path, the same socket.
        #expect(chmod(dir, 0o700) == 0)
        let env = ["XDG_RUNTIME_DIR": runtime.path]
        #expect(FileManager.default.createFile(atPath: runtime.file("a.db"), contents: nil))
        let one = try AgentSocket.path(forVault: runtime.file("a.db"), environment: env)
        #expect(one != (try AgentSocket.path(forVault: runtime.file("b.db"), environment: env)))
        #expect(one == (try AgentSocket.path(forVault: runtime.path + "/./a.db", environment: env)))
    }

    @Test func servesStatusCommandsPromptsAndEndsOnLock() throws {
        let agent = try RunningAgent()
        #expect(permissions(agent.path) == 0o600)
        // status
        let s = try RawClient(agent.path)
        try s.hello(.status)
        let status = try s.channel.receive().decode(AgentStatus.self)
        s.close()
        #expect(status.user == "admin" && status.vault == agent.fixture.path && status.pid == getpid())
        #expect(status.maxDeadline == status.started + Lease.defaultMax)
        // a command with standard input, its output and exit code
        let c = try RawClient(agent.path)
        try c.hello(.command)
        try c.channel.send(
            try Frame.json(
                .command,
                AgentCommand(
                    argv: ["secret", "show"], cwd: "/", environment: [:],
                    stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false)))
        try c.channel.send(Frame(.stdin, Array("hello ".utf8)))
        try c.channel.send(Frame(.stdin, Array("agent".utf8)))
        try c.channel.send(Frame(.stdinEnd))
        var out: [UInt8] = [], err: [UInt8] = [], code: Int32?
        while code == nil {
            let f = try c.channel.receive()
            switch f.kind {
            case .stdout: out += f.payload
            case .stderr: err += f.payload
            case .exit: code = Int32(f.payload[3])
            default: Issue.record("unexpected \(f.kind)")
            }
        }
        c.close()
        #expect(String(decoding: out, as: UTF8.self) == "HELLO AGENT" && code == 7)
        #expect(String(decoding: err, as: UTF8.self) == "argv secret show\n")
        // a prompt answered
        let p = try RawClient(agent.path)
        try p.hello(.command)
        try p.channel.send(
            try Frame.json(
                .command,
                AgentCommand(
                    argv: ["ask"], cwd: "/", environment: [:], stdinIsTTY: true,
                    stdoutIsTTY: false, stderrIsTTY: false)))
        #expect(try p.channel.receive().kind == .prompt)
        try p.channel.send(Frame(.reply, Array("four".utf8)))
        #expect(try p.channel.receive() == Frame(.stdout, Array("you said 4 bytes\n".utf8)))
        #expect(try p.channel.receive().kind == .exit)
        p.close()
        // lock
        let l = try RawClient(agent.path)
        try l.hello(.lock)
        #expect(try l.channel.receive().decode(AgentStatus.self).commands == 2)
        l.close()
        #expect(agent.waitForEnd() == .lock)
        #expect(!FileManager.default.fileExists(atPath: agent.path), "the socket is gone")
        let lockEvent = try #require(try agent.fixture.admin.auditEvents(AuditQuery(action: "session.lock")).last)
        #expect(lockEvent.details == #"{"commands":2,"reason":"lock"}"# && lockEvent.signed)
    }

    @Test func idleAndAbsoluteLimitsEndTheAgent() throws {
        let idle = try RunningAgent(idle: 2_000, max: 60_000)
        idle.fixture.clock.advance(2_000)
        #expect(idle.waitForEnd() == .idle)
        let max = try RunningAgent(idle: 60_000, max: 3_000)
        max.fixture.clock.advance(3_000)
        #expect(max.waitForEnd() == .max)
        #expect(try max.fixture.admin.auditEvents(AuditQuery(action: "session.lock")).last?.details.contains(#""reason":"max""#) == true)
    }

    /// A disabled user's agent ends after its next command, and writes nothing more as them.
    @Test func aSessionThatEndsEndsTheAgent() throws {
        let agent = try RunningAgent()
        let other = try agent.fixture.user("admin2", roles: ["admin"])
        try other.disableUser("admin")
        let c = try RawClient(agent.path)
        try c.hello(.console)
        try c.channel.send(Frame(.request, [1, 2, 3]))
        #expect(try c.channel.receive() == Frame(.response, [3, 2, 1]))
        c.close()
        #expect(agent.waitForEnd() == .sessionEnded)
    }

    /// The vault's file replaced under the agent (docs/SECURITY.md, "A vault replaced while in
    /// use"): after its next request the agent ends for that reason, records nothing (it writes
    /// to neither file), and removes its socket.
    @Test func aVaultFileReplacedEndsTheAgent() throws {
        let agent = try RunningAgent()
        try agent.fixture.admin.createSecret("live/secret", .value(pw("the-live-value-1")))
        let liveEvents = try agent.fixture.admin.auditEvents().count
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        let moved = agent.fixture.dir.file("vault.old")
        #expect(rename(agent.fixture.path, moved) == 0 && rename(other.path, agent.fixture.path) == 0)
        let c = try RawClient(agent.path)
        try c.hello(.console)
        try c.channel.send(Frame(.request, [1, 2, 3]))
        #expect(try c.channel.receive() == Frame(.response, [3, 2, 1]))
        c.close()
        #expect(agent.waitForEnd() == .vaultReplaced)
        #expect(!FileManager.default.fileExists(atPath: agent.path), "the socket is left")
        #expect(try OtherVault.expectWhole(agent.fixture.path, OtherVault.secret, OtherVault.value) == other.events)
        #expect(try OtherVault.expectWhole(moved, "live/secret", "the-live-value-1") == liveEvents, "an event was added")
    }

    /// The socket gets its mode without the process's umask: the umask is the whole process's, and a
    /// thread making a directory or a program while an agent starts would get the socket's 0177.
    @Test func listeningLeavesTheUmaskAlone() throws {
        @Sendable func umaskNow() -> String? {
            (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?
                .split(separator: "\n").first { $0.hasPrefix("Umask:") }.map {
                    String($0.dropFirst(6)).trimmingCharacters(in: .whitespaces)
                }
        }
        let before = try #require(umaskNow())
        let runtime = TempDir(prefix: "keyhold-runtime")
        let done = Atomic<Bool>(false)
        let seen = Mutex<Set<String>>([])
        Thread.detachNewThread {
            while !done.load(ordering: .acquiring) { if let m = umaskNow() { seen.withLock { _ = $0.insert(m) } } }
        }
        for i in 0..<300 {
            let path = runtime.file("s\(i % 3).sock")
            unlink(path)
            let fd = try AgentSocket.listen(at: path, mode: i % 2 == 0 ? 0o600 : 0o666)
            #expect(permissions(path) == (i % 2 == 0 ? 0o600 : 0o666))
            close(fd)
        }
        done.store(true, ordering: .releasing)
        #expect(seen.withLock { $0 }.subtracting([before]).isEmpty, "the umask changed while sockets were bound")
        #expect(umaskNow() == before)
    }

    @Test func aLiveAgentIsNotReplacedAndADeadOnesSocketIs() throws {
        let agent = try RunningAgent()
        #expect(throws: AgentError.self) { try AgentSocket.listen(at: agent.path) }
        let l = try RawClient(agent.path)
        try l.hello(.lock)
        _ = try l.channel.receive()
        l.close()
        _ = agent.waitForEnd()
        // A socket file nobody answers on (an agent that was killed) is replaced.
        let stale = try AgentSocket.listen(at: agent.path)
        close(stale)
        #expect(FileManager.default.fileExists(atPath: agent.path))
        let again = try AgentSocket.listen(at: agent.path)
        close(again)
    }

    /// Only processes of the agent's own uid are served (SO_PEERCRED), even if the socket were reachable.
    @Test(.enabled(if: geteuid() == 0, "needs root to act as another user"))
    func anotherUserIsRefused() throws {
        let agent = try RunningAgent()
        // The test (not the product) opens the way, so the peer check is what refuses.
        #expect(chmod(agent.runtime.path, 0o711) == 0 && chmod((agent.path as NSString).deletingLastPathComponent, 0o711) == 0)
        #expect(chmod(agent.path, 0o666) == 0)
        let script = """
            import socket, struct, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
            body = b'{"v":1,"op":"status"}'
            try:
                s.sendall(b'H' + struct.pack('>I', len(body)) + body)
                print("answered" if s.recv(5) else "closed")
            except ConnectionError:
                print("closed")
            """
        let r = try Subprocess.run(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                "-c", script, agent.path
            ], env: [:])
        #expect(r.text.trimmingCharacters(in: .whitespacesAndNewlines) == "closed", "out: \(r.text) err: \(r.stderr)")
        let l = try RawClient(agent.path)
        try l.hello(.status)
        #expect(try l.channel.receive().kind == .status, "its own user is still served")
        l.close()
    }
}

func permissions(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
}
