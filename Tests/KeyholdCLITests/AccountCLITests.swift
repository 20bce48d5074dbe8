import Foundation
import KeyholdTestSupport
import Testing

// MARK: - Shared helpers of the account, audit and leak tests

/// A fresh vault made through `keyhold init` in its own scratch directory,
/// with an administrator `admin`. Every command goes through the built binary;
/// every argv passed is recorded so a test can prove no password was on it.
final class AdminVault: @unchecked Sendable {
    static let adminPassword = "mossy granite under the bridge"

    let scratch = TempDir(prefix: "keyhold-cli")
    let db: String
    private let lock = NSLock()
    private var argvs: [[String]] = []

    /// Every argv given to keyhold so far.
    var recordedArgv: [[String]] { lock.withLock { argvs } }

    var admin: [String: String] { Self.login("admin", Self.adminPassword) }

    static func login(_ user: String, _ password: String, new: String? = nil) -> [String: String] {
        var env = ["KEYHOLD_USER": user, "KEYHOLD_PASSWORD": password]
        if let new { env["KEYHOLD_NEW_PASSWORD"] = new }
        return env
    }

    init() throws {
        db = scratch.file("vault/keyhold.db")
        let created = try raw(["init", "--db", db], stdin: "admin\n\(Self.adminPassword)\n")
        guard created.status == 0 else { throw TestFailure("init failed: \(created.stderr)") }
    }

    /// Runs keyhold exactly as given (no --db added), recording the argv.
    func raw(_ args: [String], stdin: String = "", env: [String: String] = [:]) throws -> CLI.Result {
        lock.withLock { argvs.append(args) }
        return try CLI.run(args, stdin: stdin, env: env)
    }

    /// Runs keyhold against this vault (`--db` appended) as `env` (the administrator by default).
    func run(_ args: [String], as env: [String: String]? = nil, stdin: String = "") throws -> CLI.Result {
        try raw(args + ["--db", db], stdin: stdin, env: env ?? admin)
    }

    /// `user add`: the temporary password, printed alone on stdout.
    func addUser(_ name: String, roles: [String] = [], extra: [String] = []) throws -> String {
        let r = try run(["user", "add", name] + roles.flatMap { ["--role", $0] } + extra)
        guard r.status == 0 else { throw TestFailure("user add \(name) exited \(r.status): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .newlines)
    }

    /// Adds a user and completes their forced password change; returns nothing (the password is `password`).
    func addActiveUser(_ name: String, password: String, roles: [String] = []) throws {
        let temp = try addUser(name, roles: roles)
        let first = try run(["status"], as: Self.login(name, temp, new: password))
        guard first.status == 0 else { throw TestFailure("first login of \(name) exited \(first.status): \(first.stderr)") }
    }

    /// `user show NAME --json`, parsed.
    func user(_ name: String) throws -> [String: Any] {
        let r = try run(["user", "show", name, "--json"])
        guard r.status == 0 else { throw TestFailure("user show \(name) exited \(r.status): \(r.stderr)") }
        return try JSONObject.parse(r.stdout)
    }

    /// `user list --json` usernames.
    func usernames(_ extra: [String] = []) throws -> [String] {
        let r = try run(["user", "list", "--json"] + extra)
        guard r.status == 0 else { throw TestFailure("user list exited \(r.status): \(r.stderr)") }
        return (try JSONObject.parse(r.stdout)["users"] as? [[String: Any]] ?? []).compactMap { $0["username"] as? String }
    }

    /// A copy of the vault file, taken after every keyhold process has exited (so no -wal is left behind).
    func copy(to name: String) throws -> String {
        let wal = db + "-wal"
        if FileManager.default.fileExists(atPath: wal),
            ((try FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0) > 0
        {
            throw TestFailure("a non-empty -wal is left after keyhold exited")
        }
        let target = scratch.file(name)
        try FileManager.default.copyItem(atPath: db, toPath: target)
        return target
    }
}

/// Parsing `--json` output.
enum JSONObject {
    static func parse(_ text: String) throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(text)")
        }
        return o
    }
}

/// Runs a small python3 program (its sqlite3 module) against a vault file: the outside attacker or auditor.
enum Python {
    static var interpreter: String { ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"] ?? "python3" }

    static func run(_ script: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let r = try Subprocess.run("/usr/bin/env", [interpreter, "-c", script] + args, env: ProcessInfo.processInfo.environment)
        return (r.status, r.text, r.stderr)
    }

    /// Executes SQL statements (`;`-separated) on a vault file; fails the test if python fails.
    static func sql(_ path: String, _ statements: String) throws {
        let r = try run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            c.executescript(sys.argv[2])
            c.commit()
            c.close()
            """, [path, statements])
        guard r.status == 0 else { throw TestFailure("python sqlite3 failed: \(r.stderr)") }
    }
}

// MARK: - user

@Suite struct AccountCLITests {
    let password = "amber lantern over the quay"

    @Test func addPrintsTheTemporaryPasswordAloneAndForcesAChange() throws {
        let v = try AdminVault()
        let added = try v.run(["user", "add", "alice", "--email", "alice@example.com"])
        #expect(added.status == 0, "\(added.stderr)")
        let lines = added.stdout.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1, "stdout must hold the temporary password alone: \(added.stdout)")
        let temp = String(lines.first ?? "")
        #expect(temp.count == 20 && temp.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
        #expect(!added.stderr.contains(temp))
        #expect(added.stderr.contains("alice"))

        // --json: {"username", "temporary_password", "expires_in_hours"}.
        let json = try v.run(["user", "add", "bob", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let o = try JSONObject.parse(json.stdout)
        #expect(Set(o.keys) == ["username", "temporary_password", "expires_in_hours"])
        #expect(o["username"] as? String == "bob")
        #expect((o["temporary_password"] as? String)?.count == 20)
        #expect(o["expires_in_hours"] as? Int == 24)
        #expect(!json.stderr.contains(o["temporary_password"] as? String ?? "-"))

        var shown = try v.user("alice")
        #expect(shown["must_change_password"] as? Bool == true)
        #expect(shown["email"] as? String == "alice@example.com")
        #expect(shown["last_login_at"] is NSNull)

        // The temporary password alone does not open a session: the change is forced.
        let noNew = try v.run(["status"], as: AdminVault.login("alice", temp))
        #expect(noNew.status == 65, "\(noNew.stderr)")
        #expect(noNew.stderr.contains("must be changed"))
        // A new password that breaks a rule is a usage error; nothing changes.
        let weak = try v.run(["status"], as: AdminVault.login("alice", temp, new: "short"))
        #expect(weak.status == 64)
        let first = try v.run(["status"], as: AdminVault.login("alice", temp, new: password))
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("logged in as: alice"))
        #expect(!first.all.contains(password) && !first.all.contains(temp))

        // Afterwards: the chosen password works, the temporary one does not.
        #expect(try v.run(["status"], as: AdminVault.login("alice", password)).status == 0)
        #expect(try v.run(["status"], as: AdminVault.login("alice", temp, new: "another fine passphrase")).status == 65)
        shown = try v.user("alice")
        #expect(shown["must_change_password"] as? Bool == false)
        #expect(shown["last_login_at"] is String)
        #expect(shown["status"] as? String == "active")
    }

    @Test func listShowAndEdit() throws {
        let v = try AdminVault()
        _ = try v.addUser("alice", roles: ["helpdesk"], extra: ["--email", "alice@example.com", "--display-name", "Alice Liddell"])
        _ = try v.addUser("bob", roles: ["operator"])

        let table = try v.run(["user", "list"])
        #expect(table.status == 0)
        let rows = table.stdout.split(separator: "\n")
        #expect(rows.first?.hasPrefix("USERNAME") == true)
        #expect(rows.count == 4)
        #expect(rows.contains { $0.hasPrefix("alice ") && $0.contains("helpdesk") && $0.contains("must change") })

        let list = try JSONObject.parse(try v.run(["user", "list", "--json"]).stdout)
        let users = try #require(list["users"] as? [[String: Any]])
        #expect(users.compactMap { $0["username"] as? String } == ["admin", "alice", "bob"])
        let expectedKeys: Set<String> = [
            "username", "email", "display_name", "roles", "permissions", "status", "locked",
            "disabled", "locked_until", "expires_at", "must_change_password", "failed_logins",
            "key_access", "created_at", "last_login_at",
            "password_scheme", "legacy_hash", "has_key_pair"
        ]
        for u in users { #expect(Set(u.keys) == expectedKeys) }
        let bob = try #require(users.first { $0["username"] as? String == "bob" })
        #expect(bob["roles"] as? [String] == ["operator"])
        #expect(bob["permissions"] as? [String] == ["users.read", "secrets.list", "secrets.read", "secrets.write"])
        #expect(bob["key_access"] as? String == "granted")

        #expect(try v.usernames(["--filter", "liddell"]) == ["alice"])
        #expect(try v.usernames(["--filter", "EXAMPLE.COM"]) == ["alice"])
        #expect(try v.usernames(["--role", "operator"]) == ["bob"])
        #expect(try v.usernames(["--role", "auditor"]) == [])

        let show = try v.run(["user", "show", "alice"])
        #expect(show.status == 0)
        #expect(show.stdout.contains("alice@example.com") && show.stdout.contains("Alice Liddell"))

        let edit = try v.run(["user", "edit", "alice", "--email", "liddell@example.org", "--display-name", "A. Liddell"])
        #expect(edit.status == 0, "\(edit.stderr)")
        var alice = try v.user("alice")
        #expect(alice["email"] as? String == "liddell@example.org")
        #expect(alice["display_name"] as? String == "A. Liddell")
        #expect(try v.run(["user", "edit", "alice", "--email", ""]).status == 0)
        alice = try v.user("alice")
        #expect(alice["email"] is NSNull)
        #expect(alice["display_name"] as? String == "A. Liddell")

        let nothing = try v.run(["user", "edit", "alice"])
        #expect(nothing.status == 64)
        #expect(nothing.stderr.contains("nothing to change"))
        #expect(try v.run(["user", "edit", "alice", "--email", "not an address"]).status == 64)
        #expect(try v.run(["user", "show", "nobody"]).status == 67)
        #expect(try v.run(["user", "edit", "nobody", "--display-name", "x"]).status == 67)
    }

    @Test func lockUnlockDisableEnableExpire() throws {
        let v = try AdminVault()
        try v.addActiveUser("carol", password: password)
        let carol = AdminVault.login("carol", password)

        #expect(try v.run(["user", "lock", "carol"]).status == 0)
        // A locked account gets the answer a wrong password gets (exit 65, the same message).
        let locked = try v.run(["status"], as: carol)
        let wrong = try v.run(["status"], as: AdminVault.login("carol", "not-carols-password-at-all"))
        #expect(locked.status == 65, "\(locked.stderr)")
        #expect(locked.stderr == wrong.stderr && wrong.status == 65)
        #expect(try v.user("carol")["locked"] as? Bool == true)
        #expect(try v.user("carol")["status"] as? String == "locked")
        #expect(try v.run(["user", "unlock", "carol"]).status == 0)
        #expect(try v.run(["status"], as: carol).status == 0)

        #expect(try v.run(["user", "disable", "carol"]).status == 0)
        let disabled = try v.run(["status"], as: carol)
        #expect(disabled.status == 65)
        #expect(disabled.stderr.contains("disabled"))
        #expect(try v.user("carol")["disabled"] as? Bool == true)
        #expect(try v.run(["user", "enable", "carol"]).status == 0)
        #expect(try v.run(["status"], as: carol).status == 0)

        #expect(try v.run(["user", "expire", "carol", "--at", "2000-01-01"]).status == 0)
        let expired = try v.run(["status"], as: carol)
        #expect(expired.status == 65)
        #expect(expired.stderr.contains("expired"))
        var shown = try v.user("carol")
        #expect(shown["expires_at"] as? String == "2000-01-01T00:00:00Z")
        #expect(shown["status"] as? String == "expired")
        #expect(try v.run(["user", "expire", "carol", "--at", "never"]).status == 0)
        #expect(try v.run(["status"], as: carol).status == 0)
        #expect(try v.user("carol")["expires_at"] is NSNull)
        #expect(try v.run(["user", "expire", "carol", "--at", "2999-06-30T12:00:00Z"]).status == 0)
        shown = try v.user("carol")
        #expect(shown["expires_at"] as? String == "2999-06-30T12:00:00Z")
        #expect(shown["status"] as? String == "active")
        #expect(try v.run(["user", "expire", "carol", "--at", "next tuesday"]).status == 64)

        // An administrator may not lock, disable or expire their own account (66).
        #expect(try v.run(["user", "lock", "admin"]).status == 66)
        #expect(try v.run(["user", "disable", "admin"]).status == 66)
        #expect(try v.run(["user", "expire", "admin", "--at", "now"]).status == 66)
        #expect(try v.run(["user", "lock", "ghost"]).status == 67)
    }

    @Test func passwdTakesTheCurrentPasswordFromEnvironmentOrStdin() throws {
        let v = try AdminVault()
        let p1 = "first quiet harbour lights", p2 = "second quiet harbour lights"
        let p3 = "third quiet harbour lights", p4 = "fourth quiet harbour lights"
        try v.addActiveUser("dave", password: p1)

        // Everything from the environment.
        let env = try v.run(["user", "passwd"], as: AdminVault.login("dave", p1, new: p2))
        #expect(env.status == 0, "\(env.stderr)")
        #expect(try v.run(["status"], as: AdminVault.login("dave", p1)).status == 65)
        #expect(try v.run(["status"], as: AdminVault.login("dave", p2)).status == 0)

        // Everything on stdin, one per line: username, current password, new password.
        let piped = try v.run(["user", "passwd"], as: [:], stdin: "dave\n\(p2)\n\(p3)\n")
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try v.run(["status"], as: AdminVault.login("dave", p3)).status == 0)

        // Username and current password from the environment, the new one on stdin.
        let mixed = try v.run(["user", "passwd"], as: AdminVault.login("dave", p3), stdin: "\(p4)\n")
        #expect(mixed.status == 0, "\(mixed.stderr)")
        #expect(try v.run(["status"], as: AdminVault.login("dave", p4)).status == 0)

        // Wrong current password: 65, nothing changes. No new password: 64. A weak one: 64. The same one: 64.
        #expect(try v.run(["user", "passwd"], as: AdminVault.login("dave", p1, new: "fifth quiet harbour lights")).status == 65)
        #expect(try v.run(["user", "passwd"], as: AdminVault.login("dave", p4)).status == 64)
        #expect(try v.run(["user", "passwd"], as: AdminVault.login("dave", p4, new: "password1234")).status == 64)
        #expect(try v.run(["user", "passwd"], as: AdminVault.login("dave", p4, new: p4)).status == 64)
        #expect(try v.run(["status"], as: AdminVault.login("dave", p4)).status == 0)

        for r in [env, piped, mixed] {
            for p in [p1, p2, p3, p4] { #expect(!r.all.contains(p)) }
        }
    }

    @Test func resetIssuesANewTemporaryPassword() throws {
        let v = try AdminVault()
        try v.addActiveUser("erin", password: password)
        let reset = try v.run(["user", "reset", "erin"])
        #expect(reset.status == 0, "\(reset.stderr)")
        let temp = reset.stdout.trimmingCharacters(in: .newlines)
        #expect(temp.count == 20 && !temp.contains("\n"))
        #expect(!reset.stderr.contains(temp))
        #expect(try v.user("erin")["must_change_password"] as? Bool == true)

        #expect(try v.run(["status"], as: AdminVault.login("erin", password)).status == 65, "the old password must fail")
        let next = "a completely new passphrase"
        #expect(try v.run(["status"], as: AdminVault.login("erin", temp, new: next)).status == 0)
        #expect(try v.run(["status"], as: AdminVault.login("erin", next)).status == 0)

        let json = try v.run(["user", "reset", "ERIN", "--json"])
        #expect(json.status == 0)
        let o = try JSONObject.parse(json.stdout)
        #expect(Set(o.keys) == ["username", "temporary_password", "expires_in_hours"])
        #expect(o["username"] as? String == "erin", "the stored spelling")
        #expect((o["temporary_password"] as? String)?.count == 20)

        // Not one's own account, not a stranger.
        #expect(try v.run(["user", "reset", "admin"]).status == 66)
        #expect(try v.run(["user", "reset", "ghost"]).status == 67)
    }

    @Test func deleteRemovesTheUserAndTheLogStillVerifies() throws {
        let v = try AdminVault()
        try v.addActiveUser("frank", password: password, roles: ["operator"])
        let deleted = try v.run(["user", "delete", "frank", "--yes"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try v.run(["user", "show", "frank"]).status == 67)
        #expect(try v.usernames() == ["admin"])
        #expect(try v.run(["status"], as: AdminVault.login("frank", password)).status == 65)
        let verify = try v.run(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("verified"))
        #expect(try v.run(["user", "delete", "frank", "--yes"]).status == 67)
        #expect(try v.run(["user", "delete", "admin", "--yes"]).status == 66)
        // The operator held a key grant: its removal leaves a standing warning.
        let keys = try JSONObject.parse(try v.run(["key", "status", "--json"]).stdout)
        #expect(keys["granted"] as? [String] == ["admin"])
    }

    @Test func grantAndRevokeRoles() throws {
        let v = try AdminVault()
        _ = try v.addUser("gina")
        #expect(try v.user("gina")["key_access"] as? String == "none")
        let grant = try v.run(["user", "grant-role", "gina", "operator"])
        #expect(grant.status == 0, "\(grant.stderr)")
        var gina = try v.user("gina")
        #expect(gina["roles"] as? [String] == ["operator"])
        #expect(gina["key_access"] as? String == "granted")
        #expect(try v.run(["user", "grant-role", "gina", "auditor"]).status == 0)
        #expect(Set(try v.user("gina")["roles"] as? [String] ?? []) == ["operator", "auditor"])

        #expect(try v.run(["user", "grant-role", "gina", "operator"]).status == 68)
        #expect(try v.run(["user", "grant-role", "gina", "no-such-role"]).status == 67)
        #expect(try v.run(["user", "grant-role", "ghost", "operator"]).status == 67)

        #expect(try v.run(["user", "revoke-role", "gina", "operator"]).status == 0)
        gina = try v.user("gina")
        #expect(gina["roles"] as? [String] == ["auditor"])
        #expect(gina["key_access"] as? String == "none")
        #expect(try v.run(["user", "revoke-role", "gina", "operator"]).status == 67)
        // Revoking the only steward's admin role would orphan the vault.
        #expect(try v.run(["user", "revoke-role", "admin", "admin"]).status == 66)
        let audit = try JSONObject.parse(try v.run(["audit", "list", "--json", "--target", "gina"]).stdout)
        let actions = (audit["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(actions.filter { $0 == "user.grant-role" }.count == 2)
        #expect(actions.filter { $0 == "user.revoke-role" }.count == 1)
    }

    @Test func eachFailureKindHasItsExitCode() throws {
        let v = try AdminVault()
        // 64 usage: bad username, unknown flag, a password on argv (refused, saying why, never echoing it).
        let bad = try v.run(["user", "add", "x"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("username"))
        #expect(try v.run(["user", "add", "no spaces"]).status == 64)
        #expect(try v.run(["user", "add", "harry", "--bogus"]).status == 64)
        let argv = try v.run(["user", "add", "harry", "--password", "sesame-sesame-sesame"])
        #expect(argv.status == 64)
        #expect(argv.stderr.contains("never taken from the command line"))
        #expect(argv.stderr.contains("KEYHOLD_PASSWORD"))
        #expect(!argv.all.contains("sesame-sesame-sesame"))
        let argvLogin = try v.run(["status", "--password=sesame-sesame-sesame"])
        #expect(argvLogin.status == 64)
        #expect(argvLogin.stderr.contains("never taken from the command line"))
        #expect(!argvLogin.all.contains("sesame-sesame-sesame"))
        #expect(try v.usernames() == ["admin"], "a refused command writes nothing")

        // 65 authentication.
        let wrong = try v.run(["user", "list"], as: AdminVault.login("admin", "not the right password"))
        #expect(wrong.status == 65)
        #expect(try v.run(["user", "list"], as: AdminVault.login("nobody", "not the right password")).status == 65)
        #expect(try v.run(["user", "list"], as: [:]).status == 65, "no credentials at all")

        // 66 denied: helpdesk may not hand out roles; an operator may not add users.
        let help = "helpdesk harbour passphrase", op = "operator harbour passphrase"
        try v.addActiveUser("helen", password: help, roles: ["helpdesk"])
        try v.addActiveUser("oscar", password: op, roles: ["operator"])
        let grant = try v.run(["user", "grant-role", "oscar", "auditor"], as: AdminVault.login("helen", help))
        #expect(grant.status == 66)
        #expect(grant.stderr.contains("permission denied"))
        #expect(grant.stderr.contains("roles.manage"))
        let add = try v.run(["user", "add", "ivan"], as: AdminVault.login("oscar", op))
        #expect(add.status == 66)
        #expect(add.stderr.contains("users.write"))
        // Helpdesk may add users but not give them roles, nor manage an operator (who holds more than helpdesk).
        #expect(try v.run(["user", "add", "ivan", "--role", "operator"], as: AdminVault.login("helen", help)).status == 66)
        #expect(try v.run(["user", "lock", "oscar"], as: AdminVault.login("helen", help)).status == 66)

        // 67 not found, 68 conflict (names compared without regard to case); a locked account answers 65.
        #expect(try v.run(["user", "show", "ghost"]).status == 67)
        _ = try v.addUser("julia")
        let dup = try v.run(["user", "add", "JULIA"])
        #expect(dup.status == 68)
        #expect(dup.stderr.contains("already exists"))
        #expect(try v.run(["user", "lock", "oscar"]).status == 0)
        #expect(try v.run(["status"], as: AdminVault.login("oscar", op)).status == 65)

        // The vault afterwards holds exactly what succeeded.
        #expect(try v.usernames() == ["admin", "helen", "julia", "oscar"])
        #expect(try v.user("helen")["roles"] as? [String] == ["helpdesk"])
        #expect(try v.user("oscar")["roles"] as? [String] == ["operator"])
        #expect(try v.user("oscar")["locked"] as? Bool == true)
    }
}

// MARK: - role

extension AccountCLITests {
    @Suite struct Roles {
        @Test func listAndShowBuiltinRoles() throws {
            let v = try AdminVault()
            let table = try v.run(["role", "list"])
            #expect(table.status == 0)
            #expect(table.stdout.hasPrefix("ROLE"))
            for name in ["admin", "security-officer", "operator", "helpdesk", "auditor", "user"] {
                #expect(table.stdout.contains(name))
            }
            let list = try JSONObject.parse(try v.run(["role", "list", "--json"]).stdout)
            let roles = try #require(list["roles"] as? [[String: Any]])
            #expect(
                Set(roles.compactMap { $0["name"] as? String }) == ["admin", "security-officer", "operator", "helpdesk", "auditor", "user"])
            for r in roles {
                #expect(Set(r.keys) == ["name", "description", "builtin", "permissions", "members"])
                #expect(r["builtin"] as? Bool == true)
            }
            #expect(roles.first { $0["name"] as? String == "admin" }?["members"] as? Int == 1)

            let show = try JSONObject.parse(try v.run(["role", "show", "operator", "--json"]).stdout)
            #expect(show["permissions"] as? [String] == ["users.read", "secrets.list", "secrets.read", "secrets.write"])
            #expect(show["members"] as? Int == 0)
            let matrix = try v.run(["role", "show", "helpdesk"])
            #expect(matrix.status == 0)
            #expect(matrix.stdout.contains("built-in"))
            #expect(matrix.stdout.split(separator: "\n").contains { $0.hasPrefix("users.write") && $0.hasSuffix("yes") })
            #expect(matrix.stdout.split(separator: "\n").contains { $0.hasPrefix("keys.manage") && $0.hasSuffix("-") })
            #expect(try v.run(["role", "show", "nothing"]).status == 67)
        }

        @Test func addEditDelete() throws {
            let v = try AdminVault()
            let add = try v.run([
                "role", "add", "deployer", "--permission", "secrets.list", "--permission", "secrets.read",
                "--description", "Deploys the app"
            ])
            #expect(add.status == 0, "\(add.stderr)")
            var role = try JSONObject.parse(try v.run(["role", "show", "deployer", "--json"]).stdout)
            #expect(role["builtin"] as? Bool == false)
            #expect(role["description"] as? String == "Deploys the app")
            #expect(role["permissions"] as? [String] == ["secrets.list", "secrets.read"])
            #expect(try v.run(["role", "add", "viewer", "--permission", "users.read,audit.read"]).status == 0)
            #expect(
                try JSONObject.parse(try v.run(["role", "show", "viewer", "--json"]).stdout)["permissions"] as? [String]
                    == ["users.read", "audit.read"])
            #expect(try v.run(["role", "add", "Deployer"]).status == 68)

            #expect(try v.run(["role", "edit", "deployer", "--permission", "secrets.list"]).status == 0)
            role = try JSONObject.parse(try v.run(["role", "show", "deployer", "--json"]).stdout)
            #expect(role["permissions"] as? [String] == ["secrets.list"])
            #expect(role["description"] as? String == "Deploys the app")
            #expect(try v.run(["role", "edit", "deployer", "--description", "Reads names"]).status == 0)
            #expect(
                try JSONObject.parse(try v.run(["role", "show", "deployer", "--json"]).stdout)["description"] as? String == "Reads names")
            #expect(try v.run(["role", "edit", "deployer", "--no-permissions"]).status == 0)
            #expect(try JSONObject.parse(try v.run(["role", "show", "deployer", "--json"]).stdout)["permissions"] as? [String] == [])
            #expect(try v.run(["role", "edit", "deployer"]).status == 64)
            #expect(try v.run(["role", "edit", "nothing", "--description", "x"]).status == 67)

            // A role in use cannot be deleted (66); once nobody holds it, it can.
            _ = try v.addUser("kim", roles: ["deployer"])
            let inUse = try v.run(["role", "delete", "deployer", "--yes"])
            #expect(inUse.status == 66)
            #expect(inUse.stderr.contains("held by 1 user"))
            #expect(try v.run(["user", "revoke-role", "kim", "deployer"]).status == 0)
            #expect(try v.run(["role", "delete", "deployer", "--yes"]).status == 0)
            #expect(try v.run(["role", "show", "deployer"]).status == 67)
            #expect(try v.run(["role", "delete", "deployer", "--yes"]).status == 67)
        }

        @Test func unknownPermissionNamesTheValidOnes() throws {
            let v = try AdminVault()
            let r = try v.run(["role", "add", "thief", "--permission", "secrets.steal"])
            #expect(r.status == 64)
            #expect(r.stderr.contains("secrets.steal"))
            for p in [
                "users.read", "users.write", "roles.manage", "secrets.list", "secrets.read", "secrets.write", "keys.manage", "audit.read"
            ] {
                #expect(r.stderr.contains(p))
            }
            #expect(try v.run(["role", "show", "thief"]).status == 67)
            #expect(try v.run(["role", "edit", "operator", "--permission", "everything"]).status == 64)
        }

        @Test func rolesAreManagedOnlyWithRolesManage() throws {
            let v = try AdminVault()
            let pw = "auditor reads the ledger"
            try v.addActiveUser("lena", password: pw, roles: ["auditor"])
            let lena = AdminVault.login("lena", pw)
            #expect(try v.run(["role", "list"], as: lena).status == 0)
            #expect(try v.run(["role", "add", "mine", "--permission", "audit.read"], as: lena).status == 66)
            #expect(try v.run(["role", "delete", "user", "--yes"], as: lena).status == 66)
            #expect(try v.run(["role", "show", "mine"]).status == 67)
        }
    }
}
