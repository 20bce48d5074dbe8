import Foundation
import KeyholdTestSupport
import Testing

/// Trust in the file, through the real binary against a real vault file: the attacks of
/// docs/SECURITY.md performed with raw SQL by another program, the key requests an
/// administrator approves, and the upgrade of a vault an earlier release made.
@Suite struct TrustCLITests {
    /// The attacker plants a user, a key and a pending grant; the administrator's everyday
    /// commands never seal the root key to it, and `check` names what was planted (exit 70).
    @Test func plantedUserGetsNothingAndCheckNamesIt() throws {
        let v = try AdminVault()
        #expect(try v.run(["secret", "set", "app/db", "--stdin"], stdin: "planted-user-must-not-read").status == 0)
        let attacker = try Attacker(path: v.db)
        let planted = try attacker.plantUser("mallory", roles: ["operator"])

        try v.addActiveUser("olga", password: "a long passphrase of her own")
        for args in [
            ["status"], ["user", "grant-role", "olga", "operator"], ["role", "edit", "operator", "--description", "Ops"],
            ["key", "rotate-root", "--yes"], ["status"]
        ] {
            let r = try v.run(args)
            #expect(r.status == 0, "\(args): \(r.stderr)")
        }
        #expect(try attacker.opensAnyGrant() == false, "a grant was sealed to the planted key")

        let mallory = AdminVault.login("mallory", attacker.password)
        let shown = try v.run(["secret", "show", "app/db"], as: mallory)
        #expect(shown.status == 66 && !shown.stdout.contains("planted-user-must-not-read"))
        #expect(shown.stderr.contains("awaits an administrator's approval"))

        let check = try v.run(["check"])
        #expect(check.status == 70, "\(check.stdout)\(check.stderr)")
        #expect(check.all.contains("user_keys id=\(planted.keyID) (user mallory)"))
        #expect(check.all.contains("no signed audit event introduced"))
    }

    /// A key request: the user is shown the fingerprint at login; a wrong one is refused; theirs approves it.
    @Test func keyRequestIsApprovedWithTheFingerprintTheUserReads() throws {
        let v = try AdminVault()
        #expect(try v.run(["secret", "set", "app/db", "--stdin"], stdin: "approved-value").status == 0)
        let dir = TempDir(prefix: "keyhold-import")
        // argon2-cffi: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("imported-operator-pass")
        let hash = "$argon2id$v=19$m=8,t=1,p=1$eyN2Rz7ul3aGqm5Izj6CAw$/yUOxWc4wp0vSQ9zS9rG5e6SStExYlPu4IfUVWF2uVk"
        let csv = dir.file("users.csv")
        try "username,email,password_hash\nimogen,,\(hash)\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let imported = try v.run(["user", "import", "--format", "csv", "--role", "operator", csv])
        #expect(imported.status == 0, "\(imported.stderr)")
        let requests = try v.run(["key", "requests"])
        #expect(requests.stdout.contains("imogen") && requests.stdout.contains("no key yet"))

        let imogen = AdminVault.login("imogen", "imported-operator-pass")
        let first = try v.run(["status"], as: imogen)
        #expect(first.status == 0, "\(first.stderr)")
        let fingerprint = try #require(first.stderr.firstMatch(of: /fingerprint is ([0-9A-Z]{4}(?:-[0-9A-Z]{4}){7})/)?.1)
        #expect(try v.run(["key", "requests"]).stdout.contains(String(fingerprint)))

        let wrong = try v.run(["key", "approve", "imogen", "--fingerprint", "0000-0000-0000-0000-0000-0000-0000-0000"])
        #expect(wrong.status == 66 && wrong.stderr.contains("does not match"))
        #expect(try v.run(["secret", "show", "app/db"], as: imogen).status == 66)
        let approved = try v.run(["key", "approve", "imogen", "--fingerprint", String(fingerprint).lowercased()])
        #expect(approved.status == 0, "\(approved.stderr)")
        let shown = try v.run(["secret", "show", "app/db"], as: imogen)
        #expect(shown.status == 0 && shown.stdout.hasPrefix("approved-value"))
        #expect(try v.run(["key", "requests"]).stdout.contains("No key requests"))
    }

    /// A vault of format 1 is refused with the fix named; `keyhold upgrade` brings it to the current format (3).
    @Test func formatOneVaultIsUpgradedThroughTheBinary() throws {
        let dir = TempDir(prefix: "keyhold-upgrade")
        let db = dir.file("vault.db")
        try FileManager.default.copyItem(atPath: Repository.fixture("format1-vault.db"), toPath: db)
        #expect(chmod(db, 0o600) == 0)
        let root = AdminVault.login("root", "format-one-boss-pass")
        let before = try CLI.run(["status", "--db", db], env: root)
        #expect(before.status != 0 && before.stderr.contains("keyhold upgrade"), "\(before.stderr)")

        let upgraded = try CLI.run(["upgrade", "--db", db, "--backup", dir.file("old.bak")], env: root)
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        #expect(upgraded.stdout.contains("from format 1 to format 3") && upgraded.stdout.contains("waity"))
        #expect(FileManager.default.fileExists(atPath: dir.file("old.bak")))

        let shown = try CLI.run(["secret", "show", "app/prod/stripe", "--db", db], env: root)
        #expect(shown.status == 0 && shown.stdout.hasPrefix("sk_live_two"))
        let check = try CLI.run(["check", "--db", db], env: root)
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let again = try CLI.run(["upgrade", "--db", db, "--backup", dir.file("again.bak")], env: root)
        #expect(again.status != 0 && again.stderr.contains("already"))
    }
}
