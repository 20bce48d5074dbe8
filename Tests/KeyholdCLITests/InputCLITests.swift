import Foundation
import KeyholdTestSupport
import Testing

/// Input that is wrong, through the built binary (docs/CLI.md, "Dates and numbers"): dates, numbers and
/// repeated JSON keys are refused with the option or entry and the rule named, exit 64,
/// and nothing is written.
@Suite struct InputCLITests {
    /// Each was accepted before: 2026-02-30 became March 2, the year 292278995 wrapped into the
    /// past (the account expired at once), `Tgarbage` and `T25:00:00Z` became midnight, and
    /// 0000-01-01 was stored as -1-12-30.
    static let badDates: [(text: String, says: String)] = [
        ("2026-02-30", "is not a real date (February 2026 has 28 days)"),
        ("292278995-01-01", "expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"),
        ("2026-01-01Tgarbage", "expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"),
        ("2026-01-01T25:00:00Z", "is not a time of day"),
        ("0000-01-01", "is outside the years 1970 to 9999")
    ]

    @Test func badDatesAreRefusedAndChangeNothing() throws {
        let v = try AdminVault()
        _ = try v.addUser("carol")
        let f = VaultReads(v)
        #expect(try v.run(["secret", "set", "app/token", "--stdin", "--rotate-by", "2030-01-01"], stdin: "token value").status == 0)
        for (text, says) in Self.badDates {
            let expire = try v.run(["user", "expire", "carol", "--at", text])
            #expect(expire.status == 64, "\(text): \(expire.stderr)")
            #expect(expire.stderr.contains("--at: ") && expire.stderr.contains(says), "\(text): \(expire.stderr)")
            let set = try v.run(["secret", "set", "app/other", "--stdin", "--rotate-by", text], stdin: "other value")
            #expect(set.status == 64 && set.stderr.contains("--rotate-by: ") && set.stderr.contains(says), "\(text): \(set.stderr)")
            let rotateBy = try v.run(["secret", "rotate-by", "app/token", text])
            #expect(rotateBy.status == 64 && rotateBy.stderr.contains(says), "\(text): \(rotateBy.stderr)")
            for option in ["--since", "--until"] {
                let list = try v.run(["audit", "list", option, text])
                #expect(list.status == 64 && list.stderr.contains("\(option): ") && list.stderr.contains(says), "\(text): \(list.stderr)")
            }
        }
        #expect(try v.user("carol")["expires_at"] is NSNull)
        #expect(try f.secretNames() == ["app/token"])
        #expect(try f.rotateBy("app/token") == "2030-01-01T00:00:00Z")
        // The accepted forms still work, offset included.
        #expect(try v.run(["user", "expire", "carol", "--at", "2031-05-06T10:00:00+02:00"]).status == 0)
        #expect(try v.user("carol")["expires_at"] as? String == "2031-05-06T08:00:00Z")
    }

    /// `--batch 9223372036854775807` trapped the import (its batch count overflowed); every
    /// numeric option now has a range, checked before anything is read or written.
    @Test func numericOptionsAreRangeChecked() throws {
        let v = try AdminVault()
        let file = v.scratch.file("in.json")
        try Data(#"{"secrets": [{"name": "app/a", "value": "one"}]}"#.utf8).write(to: URL(fileURLWithPath: file))
        let users = v.scratch.file("users.csv")
        try Data("username,password_hash\nzed,$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234\n".utf8)
            .write(to: URL(fileURLWithPath: users))
        let big = "9223372036854775807"
        let cases: [([String], String)] = [
            (["import", "--format", "json", "--batch", big, file], "--batch: must be a whole number from 1 to 1,000,000 (got \(big))"),
            (["import", "--format", "json", "--batch", "0", file], "--batch: must be a whole number from 1 to 1,000,000 (got 0)"),
            (["user", "import", "--format", "csv", "--batch", big, users], "--batch: must be a whole number from 1 to 1,000,000"),
            (["key", "rotate-data", "--batch", big], "--batch: must be a whole number from 1 to 1,000,000"),
            (["key", "resume", "--batch", "1000001"], "--batch: must be a whole number from 1 to 1,000,000"),
            (["secret", "show", "app/a", "--version", big], "--version: must be a whole number from 1 to 2,147,483,647"),
            (["secret", "show", "app/a", "--version", "0"], "--version: must be a whole number from 1 to 2,147,483,647"),
            (["secret", "delete", "app/a", "--version", big, "--yes"], "--version: must be a whole number from 1 to 2,147,483,647"),
            (["secret", "generate", "app/g", "--length", big], "--length: must be a whole number from 1 to 4,096"),
            (["audit", "list", "--limit", big], "--limit: must be a whole number from 0 to 2,147,483,647")
        ]
        for (args, says) in cases {
            let r = try v.run(args)
            #expect(r.status == 64, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(says), "\(args): \(r.stderr)")
        }
        // A number too large for the option's type is a usage error too, not a trap.
        let huge = try v.run(["import", "--format", "json", "--batch", "99999999999999999999999", file])
        #expect(huge.status == 64, "\(huge.stderr)")
        #expect(try VaultReads(v).secretNames().isEmpty)
        #expect(try v.usernames() == ["admin"])
        // In range, it imports.
        #expect(try v.run(["import", "--format", "json", "--batch", "1000000", file]).status == 0)
    }

    /// Foundation's JSON reader kept one of two repeated keys without a word, so the value
    /// imported depended on which one it kept.
    @Test func aRepeatedJSONKeyIsRefusedNamingKeyAndEntry() throws {
        let v = try AdminVault()
        let f = VaultReads(v)
        let repeated = v.scratch.file("repeated.json")
        try Data(
            """
            {"secrets": [
              {"name": "app/ok", "value": "fine"},
              {"name": "app/db", "value": "first",
               "value": "second"}
            ]}
            """.utf8
        ).write(to: URL(fileURLWithPath: repeated))
        let r = try v.run(["import", "--format", "json", repeated])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains(#"secrets[1] (app/db): the key "value" appears twice (lines 3 and 4)"#), "\(r.stderr)")
        #expect(!r.stderr.contains("first") && !r.stderr.contains("second"), "no value is quoted")
        #expect(try f.secretNames().isEmpty)

        let flat = v.scratch.file("flat.json")
        try Data(#"{"app/x": "1", "app/x": "2"}"#.utf8).write(to: URL(fileURLWithPath: flat))
        let g = try v.run(["import", "--format", "json", flat])
        #expect(g.status == 64 && g.stderr.contains(#"entry "app/x": the name is given twice"#), "\(g.stderr)")

        let top = v.scratch.file("top.json")
        try Data(#"{"secrets": [], "secrets": [{"name": "app/y", "value": "1"}]}"#.utf8).write(to: URL(fileURLWithPath: top))
        let t = try v.run(["import", "--format", "json", top])
        #expect(t.status == 64 && t.stderr.contains(#"the key "secrets" appears twice in the top-level object"#), "\(t.stderr)")
        #expect(try f.secretNames().isEmpty)

        let users = v.scratch.file("users.json")
        try Data(
            #"{"users": [{"username": "zed", "password_hash": "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", "username": "eve"}]}"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: users))
        let u = try v.run(["user", "import", "--format", "json", users])
        #expect(u.status != 0, "\(u.stderr)")
        #expect(u.stderr.contains(#"users[0] (zed): the key "username" appears twice"#), "\(u.stderr)")
        #expect(try v.usernames() == ["admin"])
    }
}

/// Reads of an `AdminVault` the tests above need.
private struct VaultReads {
    let v: AdminVault
    init(_ v: AdminVault) { self.v = v }

    func secretNames() throws -> [String] {
        let r = try v.run(["secret", "list", "--json"])
        guard r.status == 0 else { throw TestFailure("secret list exited \(r.status): \(r.stderr)") }
        return (try JSONObject.parse(r.stdout)["secrets"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func rotateBy(_ name: String) throws -> String? {
        let r = try v.run(["secret", "list", "--json"])
        let list = try JSONObject.parse(r.stdout)["secrets"] as? [[String: Any]] ?? []
        return list.first { $0["name"] as? String == name }?["rotate_by"] as? String
    }
}
