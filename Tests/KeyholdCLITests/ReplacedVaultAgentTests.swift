import Foundation
import KeyholdAgent
import KeyholdTestSupport
import Testing

/// The long-running processes other than the console, with the real binary, when the vault file
/// is replaced under them (docs/SECURITY.md, "A vault replaced while in use"): the agent
/// (`keyhold unlock`) and the application service (`keyhold app-serve`). The next request is
/// refused with the replaced-vault error (exit 1), the process ends (its socket gone), and
/// neither file changes: every row and every audit event of each is as it was.
@Suite(.serialized) struct ReplacedVaultAgentTests {
    static let liveValue = "the-live-vaults-value"
    static let stopped = "Keyhold stopped using it and wrote nothing more to either file."

    /// An agent serving a vault with one secret, that has served a command; the agent's pid.
    static func unlocked(backup: String? = nil) throws -> (AgentVault, pid_t) {
        let a = try AgentVault()
        let set = try a.vault.run(["secret", "set", "app/one", "--stdin"], stdin: liveValue)
        guard set.status == 0 else { throw TestFailure("secret set: \(set.stderr)") }
        if let backup {
            let b = try a.vault.run(["backup", backup])
            guard b.status == 0 else { throw TestFailure("backup: \(b.stderr)") }
            _ = try a.vault.run(["secret", "set", "app/later", "--stdin"], stdin: "made-after-the-backup")
        }
        let unlocked = try a.unlock()
        guard unlocked.status == 0 else { throw TestFailure("unlock: \(unlocked.stderr)") }
        let show = try a.run(["secret", "show", "app/one"])
        guard show.status == 0, show.stdout == liveValue else { throw TestFailure("the agent did not serve: \(show.stderr)") }
        let details = try a.events("session.unlock", throughAgent: true).last?["details"] as? [String: Any]
        guard let pid = details?["pid"] as? Int else { throw TestFailure("no pid in session.unlock") }
        return (a, pid_t(pid))
    }

    /// The command the agent was asked to run failed with the replaced-vault error, and the agent
    /// ended: its process gone, its socket removed, `lock` finds none.
    static func expectAgentEnded(
        _ a: AgentVault, _ pid: pid_t, _ r: CLI.Result, saying: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
        #expect(r.stderr.contains("keyhold: the vault file \(a.vault.db) was \(saying)"), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(stopped), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains(liveValue), sourceLocation: sourceLocation)
        #expect(a.eventually { a.socketCount == 0 }, "the agent still listens", sourceLocation: sourceLocation)
        #expect(a.eventually { kill(pid, 0) != 0 }, "the agent process still runs", sourceLocation: sourceLocation)
        let lock = try a.run(["lock"])
        #expect(
            lock.status == 0 && lock.stdout.contains("No agent serves"), "\(lock.stdout)\(lock.stderr)",
            sourceLocation: sourceLocation)
    }

    static func contents(_ path: String) throws -> RestoreSafetyCLITests.Contents {
        try RestoreSafetyCLITests.contents(path)
    }

    // MARK: - The agent

    @Test func anotherVaultMovedOntoThePathEndsTheAgentAndNeitherFileChanges() throws {
        let (a, pid) = try Self.unlocked()
        let live = try Self.contents(a.vault.db)
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        let otherBefore = try Self.contents(other.path)
        // mv keyhold.db keyhold.old; mv other.db keyhold.db
        let moved = a.vault.scratch.file("vault/keyhold.old")
        #expect(rename(a.vault.db, moved) == 0 && rename(other.path, a.vault.db) == 0)

        let r = try a.run(["secret", "show", "app/one"])
        try Self.expectAgentEnded(a, pid, r, saying: "replaced by another file")
        #expect(try Self.contents(moved) == live, "the vault the agent had open changed")
        #expect(try Self.contents(a.vault.db) == otherBefore, "the vault moved onto the path changed")
        // The vault now at the path: no agent serves it.
        let status = try a.run(["status", "--json"], as: a.env.merging(AdminVault.login("admin", adminPassword)) { $1 })
        #expect(status.status == 0, "\(status.stderr)")
        #expect(try JSONObject.parse(status.stdout)["agent"] is NSNull, "\(status.stdout)")
    }

    @Test func theVaultRemovedEndsTheAgentAndNothingIsWritten() throws {
        let (a, pid) = try Self.unlocked()
        let live = try Self.contents(a.vault.db)
        // rm keyhold.db, with a second name kept to read the file afterwards.
        let kept = a.vault.scratch.file("vault/keyhold.kept")
        #expect(link(a.vault.db, kept) == 0 && unlink(a.vault.db) == 0)

        let r = try a.run(["secret", "set", "app/one", "--stdin"], stdin: "a value that must go nowhere")
        try Self.expectAgentEnded(a, pid, r, saying: "removed")
        #expect(!FileManager.default.fileExists(atPath: a.vault.db), "a file was made at the vault's path")
        #expect(try Self.contents(kept) == live, "the removed vault changed")
    }

    @Test func anotherVaultCopiedOntoTheFileEndsTheAgentAndTheCopyStaysWhole() throws {
        let (a, pid) = try Self.unlocked()
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        let otherBefore = try Self.contents(other.path)
        // cp other.db keyhold.db: the same inode, other contents.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: other.path))
        let handle = try #require(FileHandle(forWritingAtPath: a.vault.db))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()

        let r = try a.run(["secret", "list"])
        try Self.expectAgentEnded(a, pid, r, saying: "written over in place")
        #expect(r.stderr.contains("another vault"), "\(r.stderr)")
        #expect(try Self.contents(a.vault.db) == otherBefore, "the copy at the path changed")
        #expect(try Self.contents(other.path) == otherBefore)
    }

    /// `keyhold restore` is the safe way to put a backup in place: it does not run while an
    /// agent has the vault open, and writes nothing; the agent goes on serving the same file.
    @Test func restoreIsRefusedWhileAnAgentHasTheVaultOpen() throws {
        let backup = TempDir()
        let backupPath = backup.file("backup.db")
        let (a, pid) = try Self.unlocked(backup: backupPath)
        let live = try Self.contents(a.vault.db)
        let backupBytes = try Data(contentsOf: URL(fileURLWithPath: backupPath))

        let r = try a.run(["restore", "--yes", backupPath], as: a.admin)
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
        #expect(
            r.stderr.contains("is open in another process (the console, an agent, a running command): close it, then restore"),
            "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: backupPath)) == backupBytes, "the backup changed")
        // The restore's own login is all it wrote (every command logs in before anything else).
        try RestoreSafetyCLITests.expectUnchanged(live, a.vault.db, actor: "admin", "a restore refused while an agent serves")
        #expect(kill(pid, 0) == 0 && a.socketCount == 1, "the agent ended")
        let show = try a.run(["secret", "show", "app/later"])
        #expect(show.status == 0 && show.stdout == "made-after-the-backup", "\(show.stderr)")
    }

    // MARK: - The application service

    /// `keyhold app-serve` on the vault, and a client speaking its frames.
    final class Service: @unchecked Sendable {
        let vault: AdminVault
        let socket: String
        let process: SpawnedKeyhold

        init() throws {
            vault = try AdminVault()
            socket = vault.scratch.file("app.sock")
            process = try SpawnedKeyhold(
                ["app-serve", "--db", vault.db, "--allow", String(geteuid()), "--socket", socket],
                env: KeyholdBinary.environment(), in: vault.scratch.path)
            let end = Date().addingTimeInterval(20)
            while !process.stdout.contains("Serving applications on") {
                guard process.isRunning, Date() < end else {
                    process.kill()
                    process.wait()
                    throw TestFailure("app-serve did not start: \(process.stderr)")
                }
                usleep(50_000)
            }
        }

        /// One `login` request; the answer's JSON.
        func login(_ user: String, _ password: String) throws -> [String: Any] {
            let fd = try AgentSocket.connect(to: socket)
            defer { close(fd) }
            let channel = FrameChannel(fd: fd)
            try channel.send(Frame(.request, Array(#"{"v": 1, "verb": "login", "username": "\#(user)"}"#.utf8)))
            try channel.send(Frame(.reply, Array(password.utf8)))
            let answer = try channel.receive()
            guard answer.kind == .response else { throw TestFailure("answered with a frame of kind \(answer.kind)") }
            return try JSONObject.parse(String(decoding: answer.payload, as: UTF8.self))
        }

        /// Waits up to `seconds` for the service to end; whether it did.
        func ended(within seconds: Double = 15) -> Bool {
            let end = Date().addingTimeInterval(seconds)
            while process.isRunning, Date() < end { usleep(50_000) }
            if process.isRunning { return false }
            process.wait()
            return true
        }

        deinit {
            process.send(SIGTERM)
            process.wait()
        }
    }

    @Test func aLoginAfterTheFileWasReplacedIsRefusedAndTheServiceStops() throws {
        let s = try Service()
        let first = try s.login("admin", AdminVault.adminPassword)
        #expect(first["ok"] as? Bool == true, "\(first)")
        let live = try Self.contents(s.vault.db)
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        let otherBefore = try Self.contents(other.path)
        let moved = s.vault.scratch.file("vault/keyhold.old")
        #expect(rename(s.vault.db, moved) == 0 && rename(other.path, s.vault.db) == 0)

        // The password of the vault now at the path: a login there would succeed, and is not made.
        let answer = try s.login("admin", adminPassword)
        #expect(answer["ok"] as? Bool == false && answer["error"] as? String == "vault_replaced", "\(answer)")
        let message = answer["message"] as? String ?? ""
        #expect(message.contains("the vault file was replaced") && message.contains("stopped"), "\(message)")
        #expect(s.ended(), "the service went on serving a replaced vault")
        #expect(s.process.exitCode == 1, "exit \(s.process.exitStatus): \(s.process.stderr)")
        #expect(s.process.stderr.contains("keyhold: the vault file \(s.vault.db) was replaced by another file"), "\(s.process.stderr)")
        #expect(s.process.stderr.contains(Self.stopped), "\(s.process.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.socket), "the service left its socket")
        #expect(try Self.contents(moved) == live, "the vault the service had open changed")
        #expect(try Self.contents(s.vault.db) == otherBefore, "the vault moved onto the path changed")
    }

    @Test func aLoginAfterTheFileWasRemovedIsRefusedAndTheServiceStops() throws {
        let s = try Service()
        let live = try Self.contents(s.vault.db)
        let kept = s.vault.scratch.file("vault/keyhold.kept")
        #expect(link(s.vault.db, kept) == 0 && unlink(s.vault.db) == 0)

        let answer = try s.login("admin", AdminVault.adminPassword)
        #expect(answer["ok"] as? Bool == false && answer["error"] as? String == "vault_replaced", "\(answer)")
        #expect(s.ended(), "the service went on serving a removed vault")
        #expect(s.process.exitCode == 1, "exit \(s.process.exitStatus): \(s.process.stderr)")
        #expect(s.process.stderr.contains("keyhold: the vault file \(s.vault.db) was removed"), "\(s.process.stderr)")
        #expect(!FileManager.default.fileExists(atPath: s.socket), "the service left its socket")
        #expect(!FileManager.default.fileExists(atPath: s.vault.db), "a file was made at the vault's path")
        #expect(try Self.contents(kept) == live, "the removed vault changed")
    }
}
