import Foundation
import Testing

/// A whole scripted session; afterwards no password may be found anywhere it
/// should not be: stdout, stderr, argv, the audit log, the vault file.
@Suite struct LeakTests {
    let adminPassword = AdminVault.adminPassword
    let adminNew = "granite moss beneath the arch"
    let wrong = "a wrong guess at the admin password"
    let wrongInUsernameField = "pasted into the username field"
    // (A password may not contain the username.)
    let alice1 = "she picks her own phrase", alice2 = "she picks a second phrase"
    let alice3 = "she picks a third phrase"

    struct Step { var label: String; var argv: [String]; var result: CLI.Result }

    @Test func noPasswordEscapes() throws {
        let v = try AdminVault()
        var steps: [Step] = []
        func step(
            _ label: String, _ args: [String], as env: [String: String]? = nil, stdin: String = "",
            expect status: Int32 = 0
        ) throws -> CLI.Result {
            let r = try v.run(args, as: env, stdin: stdin)
            #expect(r.status == status, "\(label): \(r.stderr)")
            steps.append(Step(label: label, argv: args, result: r))
            return r
        }
        let admin = AdminVault.login("admin", adminPassword)

        let added = try step("user add", ["user", "add", "alice", "--role", "operator", "--email", "alice@example.com"])
        let temp1 = added.stdout.trimmingCharacters(in: .newlines)
        _ = try step("first login", ["status"], as: AdminVault.login("alice", temp1, new: alice1))
        let reset = try step("user reset", ["user", "reset", "alice"])
        let temp2 = reset.stdout.trimmingCharacters(in: .newlines)
        _ = try step("login after reset", ["status"], as: AdminVault.login("alice", temp2, new: alice2))
        _ = try step("passwd (stdin)", ["user", "passwd"], as: ["KEYHOLD_USER": "alice"], stdin: "\(alice2)\n\(alice3)\n")
        _ = try step("status", ["status"], as: AdminVault.login("alice", alice3))
        _ = try step("admin passwd", ["user", "passwd"], as: admin, stdin: "\(adminNew)\n")
        let adminNow = AdminVault.login("admin", adminNew)
        _ = try step("status", ["status"], as: adminNow)
        _ = try step("user list", ["user", "list", "--json"], as: adminNow)
        _ = try step("user show", ["user", "show", "alice", "--json"], as: adminNow)
        _ = try step("audit list", ["audit", "list"], as: adminNow)
        _ = try step("audit list json", ["audit", "list", "--json"], as: adminNow)
        _ = try step("audit verify", ["audit", "verify"], as: adminNow)
        _ = try step("key status", ["key", "status", "--json"], as: adminNow)
        _ = try step("check", ["check", "--json"], as: adminNow)
        _ = try step("wrong password", ["status"], as: AdminVault.login("admin", wrong), expect: 65)
        _ = try step("old password", ["status"], as: admin, expect: 65)
        _ = try step("password as username", ["status"], as: AdminVault.login(wrongInUsernameField, adminNew), expect: 65)
        _ = try step("old temp", ["status"], as: AdminVault.login("alice", temp1, new: "whatever passphrase here"), expect: 65)
        _ = try step("wrong current in passwd", ["user", "passwd"], as: AdminVault.login("alice", wrong, new: alice1), expect: 65)
        _ = try step("audit after failures", ["audit", "list", "--json", "--action", "login."], as: adminNow)

        #expect(temp1.count == 20 && temp2.count == 20 && temp1 != temp2)
        let passwords = [adminPassword, adminNew, wrong, wrongInUsernameField, alice1, alice2, alice3]

        // The audit log, every column of every row, as an outsider reads it.
        let dump = try Python.run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            for row in c.execute("SELECT * FROM audit_events ORDER BY seq"):
                print("|".join(v.hex() if isinstance(v, bytes) else str(v) for v in row))
            """, [v.db])
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("login.failed") && dump.stdout.contains("user.reset-password"))
        #expect(dump.stdout.contains("(not a valid username)"), "a password typed as a username is not logged")

        // The vault file and its WAL, byte for byte.
        var fileBytes = Data()
        for suffix in ["", "-wal"] { fileBytes += FileManager.default.contents(atPath: v.db + suffix) ?? Data() }
        let fileText = String(decoding: fileBytes, as: UTF8.self)

        for p in passwords + [temp1, temp2] {
            for s in steps {
                let isCreator = (p == temp1 && s.label == "user add") || (p == temp2 && s.label == "user reset")
                #expect(!s.result.stderr.contains(p), "\(s.label): stderr holds a password")
                if !isCreator { #expect(!s.result.stdout.contains(p), "\(s.label): stdout holds a password") }
            }
            #expect(!dump.stdout.contains(p), "the audit log holds a password")
            #expect(!fileText.contains(p), "the vault file holds a password in clear")
            for argv in v.recordedArgv { #expect(!argv.contains { $0.contains(p) }, "a password was put on argv: \(argv)") }
        }
        // The creators did show them, on stdout alone.
        #expect(added.stdout == temp1 + "\n")
        #expect(reset.stdout == temp2 + "\n")
    }
}
