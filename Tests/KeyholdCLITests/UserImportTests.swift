import Foundation
import Testing

// `keyhold user import` end to end: CSV and JSON, legacy flags in user list /
// show / check, bad lines named, --skip-bad, --role, and the login of an
// imported account (bcrypt refused with its message; Argon2 makes a key pair).

/// Hashes of `password` made by Python's bcrypt 5.0.0 and argon2-cffi 25.1.0.
private enum Hashes {
    static let password = "imported password 42"
    static let bcrypt = "$2b$04$XqLdtUGKbnYI69AYLABjcONwLA/6mAMxKcUXnCPLASafEuojIaqD6"
    static let argon2i = "$argon2i$v=19$m=8,t=1,p=1$5bSvlItH0zlrr++HShfqkA$v9oXDlMwlirPeNj7Ii/1jh2LqUugFX21RYI3CPq2hfI"
    static let argon2idCurrent = "$argon2id$v=19$m=8,t=1,p=1$QodfiifSNgpwSPaUf36ljw$1zqFCghJZZyrtSvdNFuY/L8tRXfv6KL/e7vjw7PKmuM"
}

private func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite struct UserImportCLITests {
    @Test func csvImportFlagsLegacyEverywhere() throws {
        let v = try AdminVault()
        let csv = v.scratch.file("users.csv")
        try """
        username,email,display_name,password_hash,roles
        bob,bob@example.com,"Bob, the builder",\(Hashes.bcrypt),user
        carol,,Carol,"\(Hashes.argon2i)","auditor;user"
        dave,dave@example.com,,\(Hashes.argon2idCurrent),

        """.write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try v.run(["user", "import", "--format", "csv", csv])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Imported 3 users; 2 with a legacy hash (1 argon2i, 1 bcrypt)."))

        let list = try v.run(["user", "list"])
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first { $0.hasPrefix("bob ") }?.contains("legacy hash") == true)
        #expect(lines.first { $0.hasPrefix("carol ") }?.contains("legacy hash") == true)
        #expect(lines.first { $0.hasPrefix("dave ") }?.contains("legacy hash") == false)

        let listed = try json(try v.run(["user", "list", "--json"]).stdout)
        let users = try #require(listed["users"] as? [[String: Any]])
        let bob = try #require(users.first { $0["username"] as? String == "bob" })
        #expect(bob["legacy_hash"] as? Bool == true)
        #expect(bob["password_scheme"] as? String == "bcrypt")
        #expect(bob["has_key_pair"] as? Bool == false)
        #expect(bob["display_name"] as? String == "Bob, the builder")
        #expect(bob["roles"] as? [String] == ["user"])
        let dave = try #require(users.first { $0["username"] as? String == "dave" })
        #expect(dave["legacy_hash"] as? Bool == false)
        #expect(dave["roles"] as? [String] == [])

        let show = try v.run(["user", "show", "carol"])
        #expect(show.stdout.contains("argon2i (legacy"))
        #expect(try json(try v.run(["user", "show", "carol", "--json"]).stdout)["roles"] as? [String] == ["auditor", "user"])

        let check = try v.run(["check"])
        #expect(check.status == 0, "legacy hashes are a warning, not a problem")
        #expect(check.stdout.contains("WARNING [users] 2 users have legacy password hashes (1 argon2i, 1 bcrypt): bob, carol."))
        #expect(check.stdout.hasSuffix("OK\n"))
        let checkJSON = try json(try v.run(["check", "--json"]).stdout)
        #expect(checkJSON["ok"] as? Bool == true)
        #expect((checkJSON["warnings"] as? [[String: Any]])?.first?["area"] as? String == "users")

        let audit = try v.run(["audit", "list", "--action", "user.import", "--json"])
        let events = try #require(try json(audit.stdout)["events"] as? [[String: Any]])
        #expect(events.count == 1)
        #expect((events.first?["details"] as? [String: Any])?["count"] as? Int == 3)
        #expect(!audit.stdout.contains("$2b$"), "no hash in the log")
    }

    @Test func jsonImportWithRoleForAll() throws {
        let v = try AdminVault()
        let file = v.scratch.file("users.json")
        let doc: [String: Any] = [
            "users": [
                ["username": "erin", "email": "erin@example.com", "display_name": "Erin", "password_hash": Hashes.argon2idCurrent],
                ["username": "frank", "password_hash": Hashes.bcrypt, "roles": ["auditor"], "email": NSNull()]
            ]
        ]
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: file))
        let r = try v.run(["user", "import", "--format", "json", "--role", "user", "--json", file])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try json(r.stdout)
        #expect(out["imported"] as? Int == 2)
        #expect(out["legacy"] as? Int == 1)
        #expect((out["bad"] as? [Any])?.isEmpty == true)
        let frank = try json(try v.run(["user", "show", "frank", "--json"]).stdout)
        #expect(frank["roles"] as? [String] == ["auditor", "user"])
        #expect(frank["email"] is NSNull)
        #expect(try json(try v.run(["user", "show", "erin", "--json"]).stdout)["roles"] as? [String] == ["user"])
    }

    @Test func badLinesAreNamedAndNothingIsImportedUnlessSkipped() throws {
        let v = try AdminVault()
        let csv = v.scratch.file("bad.csv")
        try """
        username,password_hash
        good,\(Hashes.argon2idCurrent)
        bad name,\(Hashes.bcrypt)
        short,$2b$04$tooShort
        md5,$1$abc$def
        good,\(Hashes.argon2i)
        admin,\(Hashes.argon2i)
        """.write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try v.run(["user", "import", "--format", "csv", csv])
        #expect(r.status == 64)
        #expect(r.stderr.contains("bad entry: line 3: username:"))
        #expect(r.stderr.contains("bad entry: line 4: password hash: not a valid bcrypt hash"))
        #expect(r.stderr.contains("bad entry: line 5: password hash: not a supported hash"))
        #expect(r.stderr.contains("bad entry: line 6: username: good is given twice (first at line 2)"))
        #expect(r.stderr.contains("bad entry: line 7: username: a user named admin already exists"))
        #expect(r.stderr.contains("5 bad entries; nothing was imported"))
        #expect(!r.stderr.contains("tooShort"), "a hash is never quoted")
        #expect(try v.run(["user", "show", "good"]).status == 67)

        let skipped = try v.run(["user", "import", "--format", "csv", "--skip-bad", csv])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("skipped: line 3:"))
        #expect(skipped.stdout.contains("Imported 1 user; 5 bad entries skipped."))
        #expect(try v.run(["user", "show", "good"]).status == 0)

        let header = v.scratch.file("header.csv")
        try "name,password_hash\nx,y\n".write(toFile: header, atomically: true, encoding: .utf8)
        let h = try v.run(["user", "import", "--format", "csv", header])
        #expect(h.status == 64)
        #expect(h.stderr.contains("unknown column \"name\""))
    }

    @Test func unknownRoleOrMissingPermissionFailsTheWholeImport() throws {
        let v = try AdminVault()
        let csv = v.scratch.file("u.csv")
        try "username,password_hash\nzed,\(Hashes.bcrypt)\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let r = try v.run(["user", "import", "--format", "csv", "--role", "ghost", csv])
        #expect(r.status == 67)
        #expect(r.stderr.contains("no role named ghost"))
        try v.addActiveUser("desk", password: "answers the phone all day", roles: ["helpdesk"])
        let denied = try v.run(
            ["user", "import", "--format", "csv", "--role", "user", csv],
            as: AdminVault.login("desk", "answers the phone all day"))
        #expect(denied.status == 66)
        #expect(denied.stderr.contains("roles.manage"))
        #expect(try v.run(["user", "show", "zed"]).status == 67)
    }

    @Test func importedAccountsLogIn() throws {
        let v = try AdminVault()
        let csv = v.scratch.file("u.csv")
        try "username,password_hash\nlegacy,\(Hashes.bcrypt)\nmodern,\(Hashes.argon2i)\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(try v.run(["user", "import", "--format", "csv", csv]).status == 0)

        let refused = try v.run(["status"], as: AdminVault.login("legacy", Hashes.password))
        #expect(refused.status == 66)
        #expect(refused.stderr.contains("legacy bcrypt hash: the application can still verify it; an administrator can reset the password"))

        let ok = try v.run(["status"], as: AdminVault.login("modern", Hashes.password))
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("logged in as: modern"))
        let after = try json(try v.run(["user", "show", "modern", "--json"]).stdout)
        #expect(after["has_key_pair"] as? Bool == true)
        #expect(after["legacy_hash"] as? Bool == false)
        #expect(after["password_scheme"] as? String == "argon2id")
        let wrong = try v.run(["status"], as: AdminVault.login("modern", "not the password at all"))
        #expect(wrong.status == 65)
    }
}
