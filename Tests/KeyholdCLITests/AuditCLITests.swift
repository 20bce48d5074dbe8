import Foundation
import KeyholdTestSupport
import Testing

/// Whether `keyhold secret set` exists in this build (it is written alongside these tests).
private let secretSetAvailable: Bool = (try? CLI.run(["secret", "set", "--help"]).status) == 0

// MARK: - audit

@Suite struct AuditCLITests {
    /// A vault with a little history: a user added, locked, unlocked; a failed login.
    func eventful() throws -> AdminVault {
        let v = try AdminVault()
        _ = try v.addUser("alice", roles: ["helpdesk"])
        #expect(try v.run(["user", "lock", "alice"]).status == 0)
        #expect(try v.run(["user", "unlock", "alice"]).status == 0)
        #expect(try v.run(["status"], as: AdminVault.login("admin", "definitely not it")).status == 65)
        return v
    }

    func events(_ v: AdminVault, _ filters: [String] = []) throws -> [[String: Any]] {
        let r = try v.run(["audit", "list", "--json"] + filters)
        #expect(r.status == 0, "\(r.stderr)")
        return try JSONObject.parse(r.stdout)["events"] as? [[String: Any]] ?? []
    }

    @Test func listWithFiltersAndItsJSONShape() throws {
        let v = try eventful()
        let all = try events(v)
        #expect(all.count >= 8)
        for e in all { #expect(Set(e.keys) == ["seq", "at", "actor", "action", "target", "details", "signed"]) }
        let seqs = all.compactMap { $0["seq"] as? Int }
        #expect(seqs == Array(1...seqs.count), "oldest first, no gaps")
        #expect(all.first?["action"] as? String == "vault.create")
        #expect(all.first?["details"] is [String: Any], "details are a JSON object, not a string")
        let failed = try #require(all.first { $0["action"] as? String == "login.failed" })
        #expect(failed["signed"] as? Bool == false)
        #expect((failed["details"] as? [String: Any])?["reason"] as? String == "wrong password")
        #expect(all.filter { $0["action"] as? String != "login.failed" }.allSatisfy { $0["signed"] as? Bool == true })
        #expect(all.allSatisfy { ($0["at"] as? String)?.hasSuffix("Z") == true })

        let created = try events(v, ["--action", "user.create"])
        #expect(created.count == 1)
        #expect(created.first?["target"] as? String == "user:alice")
        #expect((created.first?["details"] as? [String: Any])?["roles"] as? [String] == ["helpdesk"])
        let userEvents = try events(v, ["--action", "user."])
        #expect(userEvents.compactMap { $0["action"] as? String } == ["user.create", "user.lock", "user.unlock"])
        #expect(try events(v, ["--actor", "admin"]).allSatisfy { $0["actor"] as? String == "admin" })
        #expect(try events(v, ["--actor", "alice"]).isEmpty)
        let targeted = try events(v, ["--target", "alice"])
        #expect(targeted.count == 3)
        #expect(targeted.allSatisfy { ($0["target"] as? String)?.contains("alice") == true })

        // --limit: the newest N, oldest first. (Each command's own login is an event: the last one is ours.)
        let last3 = try events(v, ["--limit", "3"])
        let last3Seqs = last3.compactMap { $0["seq"] as? Int }
        #expect(last3Seqs.count == 3 && last3Seqs == Array((last3Seqs.first ?? 0)...(last3Seqs.first ?? 0) + 2))
        #expect(last3.last?["action"] as? String == "login" && last3.last?["actor"] as? String == "admin")
        #expect(try events(v, ["--action", "user.", "--limit", "2"]).compactMap { $0["action"] as? String } == ["user.lock", "user.unlock"])
        #expect(try events(v, ["--limit", "0"]).isEmpty)
        #expect(try events(v, ["--since", "2000-01-01"]).count >= all.count)
        #expect(try events(v, ["--since", "2999-01-01"]).isEmpty)
        #expect(try events(v, ["--until", "2000-01-01"]).isEmpty)
        #expect(try events(v, ["--action", "user.", "--limit", "1"]).compactMap { $0["action"] as? String } == ["user.unlock"])

        let table = try v.run(["audit", "list", "--action", "login.failed"])
        #expect(table.status == 0)
        #expect(table.stdout.hasPrefix("SEQ"))
        #expect(table.stdout.contains("(unsigned)"))
        #expect(try v.run(["audit", "list", "--since", "yesterday-ish"]).status == 64)
        #expect(try v.run(["audit", "list", "--limit", "-1"]).status == 64)

        // Reading the log needs audit.read.
        let pw = "helpdesk reads no ledgers"
        try v.addActiveUser("hank", password: pw, roles: ["helpdesk"])
        #expect(try v.run(["audit", "list"], as: AdminVault.login("hank", pw)).status == 66)
        #expect(try v.run(["audit", "verify"], as: AdminVault.login("hank", pw)).status == 66)
    }

    @Test func verifyHeadAndCheckHead() throws {
        let v = try eventful()
        let verify = try v.run(["audit", "verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.hasPrefix("audit chain verified:"))
        let json = try JSONObject.parse(try v.run(["audit", "verify", "--json"]).stdout)
        #expect(json["ok"] as? Bool == true)
        #expect(Set(json.keys) == ["ok", "events", "head"])
        let events = try #require(json["events"] as? Int)
        #expect(((json["head"] as? String)?.hasPrefix("\(events):")) == true)

        let head = try v.run(["audit", "head"])
        #expect(head.status == 0)
        let h = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = h.split(separator: ":")
        #expect(parts.count == 2 && Int(parts[0]) != nil && parts[1].count == 64 && parts[1].allSatisfy(\.isHexDigit))
        #expect(try JSONObject.parse(try v.run(["audit", "head", "--json"]).stdout)["head"] is String)

        // More events later: the old head is still in the log.
        _ = try v.addUser("bert")
        let check = try v.run(["audit", "check-head", h])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("verified"))
        let checkJSON = try JSONObject.parse(try v.run(["audit", "check-head", h, "--json"]).stdout)
        #expect(checkJSON["ok"] as? Bool == true)
        #expect(try v.run(["audit", "check-head", "not-a-head"]).status == 64)
        #expect(try v.run(["audit", "check-head", "3:" + String(repeating: "z", count: 64)]).status == 64)
        // A head this log never had: the event exists with another hash.
        #expect(try v.run(["audit", "check-head", "3:" + String(repeating: "0", count: 64)]).status == 70)
    }

    @Test func anEditedEventIsNamed() throws {
        let v = try eventful()
        let copy = try v.copy(to: "edited.db")
        try Python.sql(
            copy,
            """
            DROP TRIGGER audit_no_update;
            UPDATE audit_events SET details = '{"roles":["admin"]}' WHERE action = 'user.create';
            """)
        let seq = try #require(try events(v, ["--action", "user.create"]).first?["seq"] as? Int)
        let verify = try v.raw(["audit", "verify", "--db", copy], env: v.admin)
        #expect(verify.status == 70, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("BROKEN at event \(seq)"))
        let json = try v.raw(["audit", "verify", "--json", "--db", copy], env: v.admin)
        #expect(json.status == 70)
        let failure = try JSONObject.parse(json.stdout)["failure"] as? [String: Any]
        #expect(failure?["seq"] as? Int == seq)
        #expect((failure?["reason"] as? String)?.contains("edited") == true)
        // check and status report it too; the original is untouched.
        let check = try v.raw(["check", "--db", copy], env: v.admin)
        #expect(check.status == 70)
        #expect(check.stdout.contains("audit_events seq=\(seq)"))
        #expect(try v.raw(["status", "--db", copy], env: v.admin).stdout.contains("BROKEN at event \(seq)"))
        #expect(try v.run(["audit", "verify"]).status == 0)
    }

    @Test func aForgedEventCannotDriveTheTerminal() throws {
        // The last event rewritten by someone who knows the format: an action holding terminal escapes,
        // no signature, and the hash recomputed so that only the missing signature gives it away.
        let v = try eventful()
        let copy = try v.copy(to: "forged.db")
        let r = try Python.run(
            #"""
            import sqlite3, sys, hashlib
            c = sqlite3.connect(sys.argv[1])
            c.execute("DROP TRIGGER audit_no_update")
            seq, at, aid, aname, akid, target, details, prev = c.execute(
                "SELECT seq, at, actor_id, actor_name, actor_key_id, target, details, prev_hash FROM audit_events ORDER BY seq DESC LIMIT 1").fetchone()
            action = "user.create\x1b]0;owned\x07\x1b[2J"
            out = b"keyhold/audit/v1\x00"
            for f in [str(seq), str(at), "" if aid is None else str(aid), aname, "" if akid is None else str(akid), action, target, details]:
                b = f.encode()
                out += len(b).to_bytes(4, "big") + b
            h = hashlib.blake2b(prev + out, digest_size=32).digest()
            c.execute("UPDATE audit_events SET action = ?, hash = ?, signature = NULL WHERE seq = ?", (action, h, seq))
            c.commit()
            print(seq)
            """#, [copy])
        #expect(r.status == 0, "\(r.stderr)")
        let seq = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for args in [["audit", "verify"], ["status"], ["check"]] {
            let out = try v.raw(args + ["--db", copy], env: v.admin)
            #expect(out.stdout.contains("event \(seq)") || out.stdout.contains("seq=\(seq)"), "\(args): \(out.stdout)")
            #expect(!out.all.contains("\u{1B}"), "\(args) printed a raw escape character")
            #expect(!out.all.contains("\u{07}"))
        }
        #expect(try v.raw(["audit", "verify", "--db", copy], env: v.admin).status == 70)
        // In a table the forged action is shown with its control characters made visible.
        let table = try v.raw(["audit", "list", "--db", copy], env: v.admin)
        #expect(table.stdout.contains("\u{241B}"))
        #expect(!table.stdout.contains("\u{1B}"))
    }

    @Test func aCutTailIsCaughtByAnEarlierHead() throws {
        let v = try eventful()
        _ = try v.addUser("bert")
        _ = try v.addUser("cleo")
        let head = try v.run(["audit", "head"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let copy = try v.copy(to: "cut.db")
        try Python.sql(
            copy,
            """
            DROP TRIGGER audit_no_delete;
            DELETE FROM audit_events WHERE seq > (SELECT max(seq) - 3 FROM audit_events);
            """)
        // What is left is a valid chain: verify alone cannot tell.
        #expect(try v.raw(["audit", "verify", "--db", copy], env: v.admin).status == 0)
        let cut = try v.raw(["audit", "check-head", head, "--db", copy], env: v.admin)
        #expect(cut.status == 70, "\(cut.stdout)\(cut.stderr)")
        #expect(cut.stdout.contains("BROKEN at event \(head.split(separator: ":")[0])"))
        #expect(try v.run(["audit", "check-head", head]).status == 0)
    }
}

// MARK: - key status, backup, check, status

extension AuditCLITests {
    @Suite struct Maintenance {
        @Test func keyStatus() throws {
            let v = try AdminVault()
            let table = try v.run(["key", "status"])
            #expect(table.status == 0)
            #expect(table.stdout.contains("active data key") && table.stdout.contains("version 1"))
            var k = try JSONObject.parse(try v.run(["key", "status", "--json"]).stdout)
            #expect(
                Set(k.keys) == [
                    "data_keys", "active_data_key", "granted", "pending", "revocation_warning", "kdf", "interrupted_rotation",
                    "problems"
                ])
            #expect(k["interrupted_rotation"] is NSNull)
            #expect((k["problems"] as? [Any])?.isEmpty == true)
            #expect(k["data_keys"] as? [Int] == [1])
            #expect(k["active_data_key"] as? Int == 1)
            #expect(k["granted"] as? [String] == ["admin"])
            #expect(k["pending"] as? [String] == [])
            #expect(k["revocation_warning"] is NSNull)
            let kdf = try #require(k["kdf"] as? [String: Any])
            #expect(kdf["opslimit"] is Int && kdf["memlimit"] is Int)

            // Key access granted, then taken away: a standing warning to rotate.
            _ = try v.addUser("olga", roles: ["operator"])
            k = try JSONObject.parse(try v.run(["key", "status", "--json"]).stdout)
            #expect(k["granted"] as? [String] == ["admin", "olga"])
            #expect(try v.run(["user", "revoke-role", "olga", "operator"]).status == 0)
            k = try JSONObject.parse(try v.run(["key", "status", "--json"]).stdout)
            #expect((k["revocation_warning"] as? String)?.contains("olga") == true)
            #expect(try v.run(["key", "status"]).stdout.contains("WARNING"))
            #expect(try v.run(["status"]).stdout.contains("WARNING"))

            let pw = "helpdesk holds no keys here"
            try v.addActiveUser("hugo", password: pw, roles: ["helpdesk"])
            #expect(try v.run(["key", "status"], as: AdminVault.login("hugo", pw)).status == 66)
        }

        @Test func backupWritesAPrivateWorkingCopy() throws {
            let v = try AdminVault()
            _ = try v.addUser("alice")
            let path = v.scratch.file("backups/keyhold-backup.db")
            try FileManager.default.createDirectory(
                atPath: v.scratch.file("backups"), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let r = try v.run(["backup", path])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o600)
            let header = try #require(FileHandle(forReadingAtPath: path)).readData(ofLength: 16)
            #expect(header == Data("SQLite format 3\0".utf8))

            // The copy is a vault: the same credentials open it, with the same users.
            let status = try v.raw(["status", "--db", path], env: v.admin)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(status.stdout.contains("vault:        \(path)"))
            #expect(status.stdout.contains("users:        2"))
            #expect(status.stdout.contains("audit chain:  verified"))
            #expect(try v.raw(["user", "show", "alice", "--db", path], env: v.admin).status == 0)
            let backups = try JSONObject.parse(try v.run(["audit", "list", "--json", "--action", "vault.backup"]).stdout)
            #expect((backups["events"] as? [Any])?.count == 1)

            // Never over an existing file.
            let again = try v.run(["backup", path])
            #expect(again.status == 68)
            let other = v.scratch.file("backups/other.db")
            _ = FileManager.default.createFile(atPath: other, contents: Data("keep me".utf8))
            #expect(try v.run(["backup", other]).status == 68)
            #expect(FileManager.default.contents(atPath: other) == Data("keep me".utf8))

            // Backups need keys.manage.
            let pw = "operator keeps no backups"
            try v.addActiveUser("otto", password: pw, roles: ["operator"])
            let denied = v.scratch.file("backups/denied.db")
            #expect(try v.run(["backup", denied], as: AdminVault.login("otto", pw)).status == 66)
            #expect(!FileManager.default.fileExists(atPath: denied))
        }

        @Test func checkPassesOnAHealthyVault() throws {
            let v = try AdminVault()
            _ = try v.addUser("alice", roles: ["operator"])
            let check = try v.run(["check"])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.hasSuffix("OK\n"))
            let json = try JSONObject.parse(try v.run(["check", "--json"]).stdout)
            #expect(Set(json.keys) == ["ok", "versions_opened", "audit_events", "skipped", "problems", "warnings"])
            #expect((json["warnings"] as? [Any])?.isEmpty == true)
            #expect(json["ok"] as? Bool == true)
            #expect(json["problems"] as? [Any] != nil && (json["problems"] as? [Any])?.isEmpty == true)
            #expect(json["skipped"] as? [String] == [])
            #expect((json["audit_events"] as? Int ?? 0) > 0)

            // Someone without key access or audit.read: the parts skipped are named.
            let pw = "helpdesk checks what it can"
            try v.addActiveUser("hana", password: pw, roles: ["helpdesk"])
            let partial = try JSONObject.parse(try v.run(["check", "--json"], as: AdminVault.login("hana", pw)).stdout)
            #expect(partial["ok"] as? Bool == true)
            #expect((partial["skipped"] as? [String])?.count == 2)
        }

        @Test(.enabled(if: secretSetAvailable, "needs `keyhold secret set`"))
        func checkNamesACorruptedCiphertext() throws {
            let v = try AdminVault()
            let set = try v.run(["secret", "set", "app/api-token", "--stdin"], stdin: "tok_live_0123456789abcdef\n")
            #expect(set.status == 0, "\(set.stderr)")
            #expect(try v.run(["check"]).status == 0)
            let copy = try v.copy(to: "corrupt.db")
            let ids = try Python.run(
                """
                import sqlite3, sys
                c = sqlite3.connect(sys.argv[1])
                sid, ver, ct = c.execute("SELECT secret_id, version, ciphertext FROM secret_versions").fetchone()
                ct = bytearray(ct)
                ct[30] ^= 0x01
                c.execute("UPDATE secret_versions SET ciphertext = ? WHERE secret_id = ? AND version = ?", (bytes(ct), sid, ver))
                c.commit()
                print(sid, ver)
                """, [copy])
            #expect(ids.status == 0, "\(ids.stderr)")
            let sid = ids.stdout.split(separator: " ").first.map(String.init) ?? "?"
            let check = try v.raw(["check", "--db", copy], env: v.admin)
            #expect(check.status == 70, "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.contains("secret_versions secret_id=\(sid)"))
            #expect(!check.all.contains("tok_live_0123456789abcdef"))
            let json = try JSONObject.parse(try v.raw(["check", "--json", "--db", copy], env: v.admin).stdout)
            #expect(json["ok"] as? Bool == false)
            let problems = json["problems"] as? [[String: Any]] ?? []
            #expect(problems.count == 1)
            #expect(problems.first?["area"] as? String == "secrets")
            #expect((problems.first?["location"] as? String)?.hasPrefix("secret_versions secret_id=\(sid)") == true)
            #expect(try v.run(["check"]).status == 0, "the original is untouched")
        }

        @Test func statusShowsWhatTheCallerMaySee() throws {
            let v = try AdminVault()
            let s = try v.run(["status"])
            #expect(s.status == 0)
            #expect(s.stdout.contains("vault:        \(v.db)"))
            #expect(s.stdout.contains("logged in as: admin (users.read, users.write"))
            #expect(s.stdout.contains("audit chain:  verified, head "))
            let pw = "helpdesk sees the counts"
            try v.addActiveUser("hal", password: pw, roles: ["helpdesk"])
            let h = try v.run(["status"], as: AdminVault.login("hal", pw))
            #expect(h.status == 0)
            #expect(h.stdout.contains("logged in as: hal (users.read, users.write)"))
            #expect(!h.stdout.contains("audit chain:  "), "the chain's state was shown without audit.read")
            #expect(h.stdout.contains("skipped:") && h.stdout.contains("audit chain (needs audit.read)"), "\(h.stdout)")
            #expect(try v.raw(["status", "--db", v.scratch.file("absent.db")], env: v.admin).status == 67)
        }
    }
}

// MARK: - vault path, root command, completions

extension AuditCLITests {
    @Suite struct Shape {
        @Test func vaultPathResolutionOrder() throws {
            let s = TempDir(prefix: "keyhold-cli")
            let home = s.file("home"), xdg = s.file("xdg"), envDB = s.file("env/k.db"), flagDB = s.file("flag/k.db")
            let homeDB = home + "/.local/share/keyhold/keyhold.db", xdgDB = xdg + "/keyhold/keyhold.db"
            let login = ["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": AdminVault.adminPassword]
            let levels: [(env: [String: String], flag: [String], expect: String)] = [
                (["HOME": home, "XDG_DATA_HOME": "", "KEYHOLD_DB": ""], [], homeDB),
                (["HOME": home, "XDG_DATA_HOME": xdg, "KEYHOLD_DB": ""], [], xdgDB),
                (["HOME": home, "XDG_DATA_HOME": xdg, "KEYHOLD_DB": envDB], [], envDB),
                (["HOME": home, "XDG_DATA_HOME": xdg, "KEYHOLD_DB": envDB], ["--db", flagDB], flagDB)
            ]
            var made: [String] = []
            for level in levels {
                // init creates the vault where the rules say, and nowhere else.
                let created = try CLI.run(["init"] + level.flag, env: level.env.merging(login) { $1 })
                #expect(created.status == 0, "\(created.stderr)")
                #expect(created.stderr.contains("Creating a new vault at \(level.expect)"))
                made.append(level.expect)
                for p in [homeDB, xdgDB, envDB, flagDB] { #expect(FileManager.default.fileExists(atPath: p) == made.contains(p), "\(p)") }
                let status = try CLI.run(["status"] + level.flag, env: level.env.merging(login) { $1 })
                #expect(status.status == 0)
                #expect(status.stdout.contains("vault:        \(level.expect)\n"))
            }
            let mode = try FileManager.default.attributesOfItem(atPath: home + "/.local/share/keyhold")[.posixPermissions] as? Int
            #expect(mode == 0o700)
        }

        @Test func noSubcommandPrintsTheShortHelp() throws {
            let r = try CLI.run([])
            #expect(r.status == 0)
            #expect(r.stdout.hasPrefix("USAGE: keyhold"))
            #expect(r.stdout.contains("SUBCOMMANDS:"))
            for name in ["init", "status", "user", "role", "secret", "key", "audit", "backup", "check", "run", "import", "export"] {
                #expect(r.stdout.contains("\n  \(name) "), "\(name)")
            }
            #expect(!r.stdout.contains("EXIT CODES"), "the short help, not the full one")
            #expect(r.stderr.isEmpty || !r.stderr.contains("Error"))
            let full = try CLI.run(["--help"])
            #expect(full.stdout.contains("EXIT CODES"))
        }

        @Test(arguments: ["bash", "zsh", "fish"])
        func completionScripts(shell: String) throws {
            let r = try CLI.run(["--generate-completion-script", shell])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("keyhold"))
            #expect(r.stdout.contains("grant-role"))
            #expect(r.stdout.contains("check-head"))
        }
    }
}
