import Foundation
import KeyholdCore
import KeyholdCrypto
import Synchronization

/// The application service (`keyhold app-serve`, docs/APPLICATIONS.md "The application
/// service"): what a local application may write to the vault, as a fixed set of verbs on a
/// Unix socket, for the uids on an allow-list only (SO_PEERCRED). It holds no user's keys:
/// each verb is Keyhold's own login or own password change, given the user's password.
///
/// One request per connection, in frames (`Frame`):
///
///     client  Q  {"v": 1, "verb": "login" | "change_password", "username": "..."}
///     client  R  the password (UTF-8 bytes, no newline)
///     client  R  the new password (change_password only)
///     server  s  {"ok": true, "user": {"id": 3, "username": "alice", "must_change": false}}
///             or {"ok": false, "error": "<code>", "message": "...", ["field": "...", "rule": "..."]}
///
/// A peer whose uid is not allowed gets one `F` frame (a message) and nothing else.
public final class AppServer: Sendable {
    public let vault: Vault
    public let socketPath: String
    public let allowed: Set<uid_t>
    /// Where each refused connection and each failed request is noted (one line, no password).
    private let log: @Sendable (String) -> Void
    /// `replaced`: the vault's file was found replaced (`KeyholdError.isVaultReplaced`), which stops the service.
    private let state = Mutex((connections: 0, stop: false, replaced: KeyholdError?.none))
    /// Password checks running at once: each may take the vault's Argon2id memory.
    private let checks: DispatchSemaphore

    /// Connections served at once; more are answered `busy`.
    public static let maxConnections = 16
    /// How long a client may take to send its request.
    public static let requestTimeout: Int = 10
    /// The request's JSON: a verb and a username need far less.
    static let maxRequestBytes = 4096
    public static let verbs: Set<String> = ["login", "change_password"]

    public init(
        vault: Vault, socketPath: String, allowed: Set<uid_t>, concurrentChecks: Int = 2,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.vault = vault
        self.socketPath = socketPath
        self.allowed = allowed
        self.log = log
        checks = DispatchSemaphore(value: max(1, concurrentChecks))
    }

    /// `$XDG_RUNTIME_DIR/keyhold/app-<16 hex>.sock`, the hex naming the vault's real path (as the
    /// agent's): private to this user, so for applications running as this user.
    public static func defaultPath(forVault vaultPath: String, environment: [String: String]) throws -> String {
        try AgentSocket.directory(environment: environment, create: true) + "/app-" + AgentSocket.name(forVault: vaultPath) + ".sock"
    }

    /// A listening socket at `path`. The file's mode is 0600 when only this uid is allowed and
    /// 0666 otherwise (a file mode cannot name uids: the peer check decides; the directory
    /// should narrow who reaches it). The directory must not be writable by others, or someone
    /// could put their own socket in its place; anything but a socket already at `path` is refused.
    public static func listen(at path: String, allowed: Set<uid_t>) throws -> Int32 {
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var st = stat()
        guard stat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw AgentError.io("no directory \(dir) for the socket \(path)")
        }
        guard st.st_uid == geteuid() || st.st_uid == 0 else {
            throw AgentError.unsafeDirectory(path: dir, detail: "belongs to uid \(st.st_uid) (it must be yours or root's)")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw AgentError.unsafeDirectory(path: dir, detail: "is writable by others (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw AgentError.io("\(path) exists and is not a socket; give another path") }
            if let fd = try? AgentSocket.connect(to: path) {
                close(fd)
                throw AgentError.io("a service already listens on \(path)")
            }
        }
        let shared = allowed.contains { $0 != geteuid() }
        return try AgentSocket.listen(at: path, mode: shared ? 0o666 : 0o600)
    }

    /// Serves on `listener` until SIGTERM, SIGHUP or SIGINT (or `stop()`), or until the vault's
    /// file is found replaced; removes the socket. Returns the replaced-vault error in the last
    /// case (docs/SECURITY.md, "A vault replaced while in use"), nil otherwise.
    @discardableResult
    public func serve(listener: Int32) -> KeyholdError? {
        let signals = SignalPipe.install()
        defer { close(listener); unlink(socketPath) }
        while !state.withLock({ $0.stop }) {
            var fds = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            ]
            let ready = poll(&fds, 2, 500)
            if ready < 0 && errno != EINTR { return state.withLock { $0.replaced } }
            if fds[1].revents != 0 { break }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let admitted = state.withLock { s -> Bool in
                guard s.connections < Self.maxConnections else { return false }
                s.connections += 1
                return true
            }
            guard admitted else {
                answer(FrameChannel(fd: fd), .fail("busy", "the service is busy; try again"))
                close(fd)
                continue
            }
            Thread.detachNewThread { [self] in
                serve(connection: fd)
                close(fd)
                state.withLock { $0.connections -= 1 }
            }
        }
        // Requests in flight finish (each is a login or two); a stuck one is not waited for long.
        for _ in 0..<50 where state.withLock({ $0.connections }) > 0 { usleep(100_000) }
        return state.withLock { $0.replaced }
    }

    /// Asks `serve` to return.
    public func stop() { state.withLock { $0.stop = true } }

    /// One connection: the peer check, one request, one answer.
    func serve(connection fd: Int32) {
        let channel = FrameChannel(fd: fd)
        guard let uid = AgentSocket.peerUID(fd), allowed.contains(uid) else {
            let who = AgentSocket.peerUID(fd).map { "uid \($0)" } ?? "a peer of unknown uid"
            log("refused a connection from \(who): not on the allow-list")
            try? channel.send(Frame(.refused, Array("\(who) is not allowed to use this service (keyhold app-serve --allow)".utf8)))
            return
        }
        var timeout = timeval(tv_sec: Self.requestTimeout, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let outcome = handle(channel)
        if case .failure(let code, let message, _, _) = outcome, code != "login_failed" {
            log("uid \(uid): \(code): \(message)")
        }
        answer(channel, outcome)
    }

    enum Outcome: Equatable {
        case success(ApplicationAccount)
        case failure(code: String, message: String, field: String?, rule: String?)

        static func fail(_ code: String, _ message: String) -> Outcome { .failure(code: code, message: message, field: nil, rule: nil) }
    }

    /// Reads and checks the whole request (nothing is written until it is complete and well
    /// formed), then runs its verb.
    func handle(_ channel: FrameChannel) -> Outcome {
        let request: (verb: String, username: String)
        var passwords: [SecureBytes] = []
        do {
            let header = try channel.receive(limit: Self.maxRequestBytes)
            guard header.kind == .request else { return .fail("bad_request", "request: the first frame must be the request (Q)") }
            switch Self.parse(header.payload) {
            case .failure(let why): return .fail("bad_request", why.message)
            case .success(let r): request = r
            }
            for _ in 0..<(request.verb == "login" ? 1 : 2) {
                var frame = try channel.receive(limit: Validate.passwordMaxBytes)
                defer { Sodium.wipe(&frame.payload) }
                guard frame.kind == .reply else {
                    return .fail(
                        "bad_request",
                        "request: \(request.verb) needs \(request.verb == "login" ? "the password" : "the current and the new password") in R frames"
                    )
                }
                passwords.append(try SecureBytes(copying: frame.payload))
            }
        } catch FrameError.tooLarge {
            return .fail(
                "bad_request",
                "request: a frame larger than allowed (the request at most \(Self.maxRequestBytes) bytes, "
                    + "a password at most \(Validate.passwordMaxBytes))")
        } catch {
            return .fail("bad_request", "request: incomplete or not in frames (kind byte, 32-bit length, bytes)")
        }
        checks.wait()
        defer { checks.signal() }
        do {
            if request.verb == "login" {
                return .success(try vault.applicationLogin(username: request.username, password: passwords[0]))
            }
            return .success(try vault.applicationChangePassword(username: request.username, current: passwords[0], new: passwords[1]))
        } catch let e as KeyholdError where e.isVaultReplaced {
            // The path no longer names the file the service opened: the store wrote nothing and
            // will not use that file again, so the service stops rather than refuse every request.
            state.withLock { s in
                s.stop = true
                if s.replaced == nil { s.replaced = e }
            }
            return Self.outcome(e)
        } catch let e as KeyholdError {
            return Self.outcome(e)
        } catch {
            return .fail("unavailable", "the service could not complete the request")
        }
    }

    /// The request's JSON: exactly `v` (1), `verb` (a known one) and `username` (a string).
    static func parse(_ bytes: [UInt8]) -> Result<(verb: String, username: String), ParseFailure> {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let dict = object as? [String: Any] else {
            return .failure(ParseFailure("request: must be a JSON object"))
        }
        let extra = Set(dict.keys).subtracting(["v", "verb", "username"])
        guard extra.isEmpty else {
            // Not named back: whatever an application sent may hold a password.
            return .failure(
                ParseFailure(
                    "request: unknown field (only v, verb and username; passwords travel in R frames, "
                        + "never in the request)"))
        }
        // Types through the decoder, which is strict (true is not 1, "1" is not 1), one field at a time
        // so a message can name it; the keys were checked above.
        struct V: Decodable { var v: Int }
        struct Verb: Decodable { var verb: String }
        struct Name: Decodable { var username: String }
        let data = Data(bytes)
        guard (try? JSONDecoder().decode(V.self, from: data))?.v == 1 else {
            return .failure(ParseFailure("v: must be 1 (the protocol's version)"))
        }
        guard let verb = (try? JSONDecoder().decode(Verb.self, from: data))?.verb, verbs.contains(verb) else {
            return .failure(ParseFailure("verb: must be one of \(verbs.sorted().joined(separator: ", "))"))
        }
        guard let username = (try? JSONDecoder().decode(Name.self, from: data))?.username else {
            return .failure(ParseFailure("username: must be a string"))
        }
        return .success((verb, username))
    }

    struct ParseFailure: Error, Equatable {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// The answer for a refusal. Codes are stable; messages never hold a password (the core's
    /// never do) and say the same for an unknown user, a wrong password and a locked account.
    static func outcome(_ error: KeyholdError) -> Outcome {
        switch error {
        case .authenticationFailed: .fail("login_failed", "wrong username or password")
        case .disabled: .fail("disabled", "this account is disabled")
        case .expired: .fail("expired", "this account has expired")
        case .temporaryPasswordExpired:
            .fail("temporary_password_expired", "the temporary password has expired: an administrator must reset it again")
        case .invalid(let v): .failure(code: "invalid", message: v.message, field: v.field, rule: v.rule.rawValue)
        case .refused(let why) where why == Session.bcryptLoginRefusal:
            .fail("unsupported_hash", "the account has a bcrypt hash, which Keyhold cannot verify: verify it in the application")
        case .integrity: .fail("integrity", "the account's rows in the vault do not check out (an administrator runs keyhold check)")
        case .store(.busy): .fail("busy", "the vault is busy; try again")
        case let e where e.isVaultReplaced:
            .fail(
                "vault_replaced",
                "the vault file was replaced while the service had it open: nothing was written, and the "
                    + "service stopped (its operator starts it again once the vault at its path is the right one)")
        default: .fail("unavailable", "the service could not complete the request")
        }
    }

    private func answer(_ channel: FrameChannel, _ outcome: Outcome) {
        var json: [String: Any]
        switch outcome {
        case .success(let a):
            json = ["ok": true, "user": ["id": a.userID, "username": a.username, "must_change": a.mustChange]]
        case .failure(let code, let message, let field, let rule):
            json = ["ok": false, "error": code, "message": message]
            if let field { json["field"] = field }
            if let rule { json["rule"] = rule }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]) else { return }
        try? channel.send(Frame(.response, Array(data)))
    }
}
