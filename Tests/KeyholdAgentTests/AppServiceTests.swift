import Foundation
import KeyholdCore
import KeyholdCrypto
import KeyholdTestSupport
import Synchronization
import Testing
@testable import KeyholdAgent

/// What the service logged.
final class LoggedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// The application service in this process, on a socket in a private directory.
final class RunningAppService: @unchecked Sendable {
    let fixture: Fixture
    let dir = TempDir(prefix: "keyhold-app")
    let server: AppServer
    let path: String
    let lines = LoggedLines()
    private let done = DispatchSemaphore(value: 0)

    init(allowed: Set<uid_t> = [geteuid()]) throws {
        fixture = try Fixture()
        path = dir.file("app.sock")
        let listener = try AppServer.listen(at: path, allowed: allowed)
        let log = lines
        server = AppServer(vault: fixture.vault, socketPath: path, allowed: allowed, log: { log.append($0) })
        Thread.detachNewThread { [self] in
            server.serve(listener: listener)
            done.signal()
        }
    }

    func stop() {
        server.stop()
        done.wait()
    }

    /// Sends `frames` (and half-closes), returns the one answer.
    func exchange(_ frames: [Frame]) throws -> Frame {
        let fd = try AgentSocket.connect(to: path)
        defer { close(fd) }
        let channel = FrameChannel(fd: fd)
        for f in frames { try? channel.send(f) }
        shutdown(fd, Int32(SHUT_WR))
        return try channel.receive()
    }

    func request(_ json: String, _ passwords: [String]) throws -> [String: Any] {
        let answer = try exchange([Frame(.request, Array(json.utf8))] + passwords.map { Frame(.reply, Array($0.utf8)) })
        #expect(answer.kind == .response)
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.payload)) as? [String: Any])
    }

    func login(_ user: String, _ password: String) throws -> [String: Any] {
        try request(#"{"v": 1, "verb": "login", "username": "\#(user)"}"#, [password])
    }
}

@Suite(.serialized) struct AppServiceTests {
    @Test func loginAndPasswordChangeOverTheSocket() throws {
        let s = try RunningAppService()
        defer { s.stop() }
        let temp = try s.fixture.admin.createUser(username: "newt", roles: ["user"]).1
        let tempText = try #require(temp.utf8String())
        let first = try s.login("newt", tempText)
        #expect(first["ok"] as? Bool == true)
        let user = try #require(first["user"] as? [String: Any])
        #expect(user["username"] as? String == "newt" && user["must_change"] as? Bool == true)
        let changed = try s.request(#"{"v": 1, "verb": "change_password", "username": "newt"}"#, [tempText, "salt marsh at low tide"])
        #expect(changed["ok"] as? Bool == true)
        #expect((changed["user"] as? [String: Any])?["must_change"] as? Bool == false)
        let again = try s.login("newt", "salt marsh at low tide")
        #expect((again["user"] as? [String: Any])?["must_change"] as? Bool == false)
        let wrong = try s.login("newt", tempText)
        #expect(wrong["ok"] as? Bool == false && wrong["error"] as? String == "login_failed")
        // The refusals' answers say which rule, never the password.
        let weak = try s.request(#"{"v": 1, "verb": "change_password", "username": "newt"}"#, ["salt marsh at low tide", "short"])
        #expect(weak["error"] as? String == "invalid" && weak["field"] as? String == "new password" && weak["rule"] as? String == "length")
        let log = s.lines.all.joined(separator: "\n")
        for p in [tempText, "salt marsh at low tide", "short"] { #expect(!log.contains(p)) }
    }

    /// A uid not on the allow-list gets one refusal frame; nothing is read, checked or written.
    @Test func uidNotOnTheAllowListIsRefused() throws {
        let s = try RunningAppService(allowed: [geteuid() &+ 4242])
        defer { s.stop() }
        _ = try s.fixture.user("carol", roles: ["user"])
        let before = try s.fixture.admin.auditEvents().count
        let answer = try s.exchange([
            Frame(.request, Array(#"{"v": 1, "verb": "login", "username": "carol"}"#.utf8)),
            Frame(.reply, Array(userPassword.utf8))
        ])
        #expect(answer.kind == .refused)
        #expect(String(decoding: answer.payload, as: UTF8.self).contains("uid \(geteuid()) is not allowed"))
        #expect(try s.fixture.admin.auditEvents().count == before)
        #expect(try s.fixture.admin.user(named: "carol").failedLogins == 0)
        #expect(s.lines.all.contains { $0.contains("refused a connection from uid \(geteuid())") })
    }

    /// Every malformed request is answered `bad_request` and writes nothing: no event, no count.
    @Test func malformedRequestsGetAnErrorAndWriteNothing() throws {
        let s = try RunningAppService()
        defer { s.stop() }
        _ = try s.fixture.user("carol", roles: ["user"])
        let before = try s.fixture.admin.auditEvents().count
        let request = { (json: String) in Frame(.request, Array(json.utf8)) }
        let password = Frame(.reply, Array(userPassword.utf8))
        let cases: [(String, [Frame], String)] = [
            ("not JSON", [request("login carol"), password], "JSON object"),
            ("an array", [request("[1]"), password], "JSON object"),
            (
                "a password in the request", [request(#"{"v":1,"verb":"login","username":"carol","password":"x"}"#), password],
                "unknown field"
            ),
            (
                "a password as a field's name", [request(#"{"v":1,"verb":"login","username":"carol","\#(userPassword)":1}"#), password],
                "unknown field"
            ),
            ("version 2", [request(#"{"v":2,"verb":"login","username":"carol"}"#), password], "v: must be 1"),
            ("version true", [request(#"{"v":true,"verb":"login","username":"carol"}"#), password], "v: must be 1"),
            ("version as text", [request(#"{"v":"1","verb":"login","username":"carol"}"#), password], "v: must be 1"),
            ("unknown verb", [request(#"{"v":1,"verb":"reset","username":"carol"}"#), password], "verb: must be one of"),
            ("username a number", [request(#"{"v":1,"verb":"login","username":7}"#), password], "username: must be a string"),
            ("no password frame", [request(#"{"v":1,"verb":"login","username":"carol"}"#)], "incomplete"),
            ("one password of two", [request(#"{"v":1,"verb":"change_password","username":"carol"}"#), password], "incomplete"),
            (
                "the password in the wrong kind",
                [
                    request(#"{"v":1,"verb":"login","username":"carol"}"#),
                    Frame(.stdin, Array(userPassword.utf8))
                ], "R frames"
            ),
            ("a password frame first", [password, password], "first frame"),
            (
                "a request too large", [request(#"{"v":1,"verb":"login","username":""# + String(repeating: "c", count: 5000) + #""}"#)],
                "larger than allowed"
            ),
            (
                "a password too large",
                [
                    request(#"{"v":1,"verb":"login","username":"carol"}"#),
                    Frame(.reply, [UInt8](repeating: 0x61, count: 2000))
                ], "larger than allowed"
            )
        ]
        for (label, frames, says) in cases {
            let answer = try s.exchange(frames)
            #expect(answer.kind == .response, "\(label)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.payload)) as? [String: Any])
            #expect(json["ok"] as? Bool == false && json["error"] as? String == "bad_request", "\(label): \(json)")
            #expect((json["message"] as? String)?.contains(says) == true, "\(label): \(json["message"] ?? "")")
            #expect(!String(decoding: answer.payload, as: UTF8.self).contains(userPassword), "\(label)")
        }
        // Frames that are not frames at all: a kind byte nobody knows.
        let fd = try AgentSocket.connect(to: s.path)
        _ = [UInt8]([0x7A, 0, 0, 0, 1, 0x41]).withUnsafeBytes { send(fd, $0.baseAddress!, 6, 0) }
        shutdown(fd, Int32(SHUT_WR))
        let answer = try FrameChannel(fd: fd).receive()
        close(fd)
        #expect(String(decoding: answer.payload, as: UTF8.self).contains("bad_request"))
        // Well formed but invalid: a username that is no username, an empty password.
        for (user, pass) in [("x", userPassword), ("carol", "")] {
            let r = try s.login(user, pass)
            #expect(r["error"] as? String == "invalid", "\(r)")
        }
        #expect(try s.fixture.admin.auditEvents().count == before)
        #expect(try s.fixture.admin.user(named: "carol").failedLogins == 0)
        let log = s.lines.all.joined(separator: "\n")
        #expect(!log.contains(userPassword))
    }

    @Test func answersForEachRefusal() throws {
        let s = try RunningAppService()
        defer { s.stop() }
        _ = try s.fixture.user("dora", roles: ["user"])
        try s.fixture.admin.disableUser("dora")
        try s.fixture.admin.importAppUsers([
            AppUserEntry(
                username: "bert",
                passwordHash: "$2b$04$XqLdtUGKbnYI69AYLABjcONwLA/6mAMxKcUXnCPLASafEuojIaqD6",
                origin: "line 2")
        ])
        #expect(try s.login("dora", userPassword)["error"] as? String == "disabled")
        #expect(try s.login("dora", "not dora's password")["error"] as? String == "login_failed", "told only after a right password")
        #expect(try s.login("nobody", userPassword)["error"] as? String == "login_failed")
        #expect(try s.login("bert", "imported password 42")["error"] as? String == "unsupported_hash")
    }
}
