import Foundation
@testable import KeyholdCLI
import KeyholdCore
import KeyholdTestSupport
import Testing

/// A vault whose schema someone rewrote (PRAGMA writable_schema) so that a column Keyhold's
/// schema declares NOT NULL takes NULL (or, the table's STRICT dropped, a value of another
/// type): every command that reads the row ends with the integrity exit code and a message
/// naming the table, the row and the column, never a crash (run through the built binary,
/// since a crash would take the test process with it).
@Suite(.serialized) struct LooseSchemaTests {
    static var env: [String: String] { ["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": adminPassword] }

    static func run(_ f: Fixture, _ args: [String]) throws -> Subprocess.Result {
        try KeyholdBinary.run(args + ["--db", f.path], env: env)
    }

    /// `args` exits with the integrity code and says, on standard error (or, for `check`, in its
    /// report), each of `says`; no crash.
    static func expectIntegrity(_ f: Fixture, _ args: [String], says: [String], _ label: String) throws {
        let r = try run(f, args)
        let all = r.text + r.stderr
        #expect(r.status == Exit.integrity, "\(label): keyhold \(args.joined(separator: " ")) exited \(r.status): \(all.suffix(600))")
        #expect(!all.contains("Fatal error") && !all.contains("Could not decode"), "\(label): crashed: \(all.suffix(600))")
        for phrase in says {
            #expect(all.contains(phrase), "\(label): keyhold \(args.joined(separator: " ")): no \"\(phrase)\" in: \(all.suffix(600))")
        }
    }

    @Test func aUserRowWithoutItsDisplayName() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "bob", roles: ["user"])
        let bob = try f.id("SELECT id FROM users WHERE username = 'bob'")
        try f.attacker().plant(nil, in: "users", "display_name", where: "id = ?", [bob])
        try Self.expectIntegrity(f, ["user", "list"], says: ["users id=\(bob)", "display_name", "NULL"], "user list")
        try Self.expectIntegrity(f, ["user", "show", "bob"], says: ["users id=\(bob)", "display_name"], "user show")
    }

    @Test func theLoggingInUsersRowWithBytesForItsPasswordHash() throws {
        let f = try Fixture()
        try f.attacker().plant([UInt8](repeating: 0xFF, count: 8), in: "users", "password_hash", where: "username = 'admin'")
        let admin = try f.id("SELECT id FROM users WHERE username = 'admin'")
        try Self.expectIntegrity(f, ["secret", "list"], says: ["users id=\(admin)", "password_hash", "a blob"], "login")
    }

    @Test func aSecretRowWithoutItsName() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        try f.admin.createSecret("app/b", .value(pw("value-b")))
        let b = try f.id("SELECT id FROM secrets WHERE name = 'app/b'")
        try f.attacker().plant(nil, in: "secrets", "name", where: "id = ?", [b])
        try Self.expectIntegrity(f, ["secret", "list"], says: ["secrets id=\(b)", "name", "NULL"], "secret list")
        try Self.expectIntegrity(f, ["check"], says: ["secrets id=\(b)", "name"], "check")
    }

    @Test func aSecretRowWithTextForItsVersion() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        let a = try f.id("SELECT id FROM secrets WHERE name = 'app/a'")
        try f.attacker().plant("one", in: "secrets", "current_version", where: "id = ?", [a])
        try Self.expectIntegrity(f, ["secret", "list"], says: ["secrets id=\(a)", "current_version", "text"], "secret list")
    }

    @Test func anAuditEventWithoutItsAction() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        let seq = try f.id("SELECT min(seq) FROM audit_events WHERE action = 'secret.create'")
        let attacker = try f.attacker()
        try attacker.loosen("audit_events", "action")
        try attacker.rewriteAuditEvent(seq: seq, "action", to: nil)
        try Self.expectIntegrity(f, ["audit", "list"], says: ["audit_events seq=\(seq)", "action", "NULL"], "audit list")
        try Self.expectIntegrity(f, ["check"], says: ["audit_events seq=\(seq)", "action"], "check")
    }

    @Test func aGrantWithoutItsTime() throws {
        let f = try Fixture()
        let admin = try f.id("SELECT id FROM users WHERE username = 'admin'")
        try f.attacker().plant(nil, in: "grants", "created_at", where: "user_id = ?", [admin])
        try Self.expectIntegrity(f, ["secret", "list"], says: ["grants user_id=\(admin)", "created_at"], "login")
    }

    @Test func aRoleWithoutItsDescription() throws {
        let f = try Fixture()
        let role = try f.id("SELECT id FROM roles WHERE name = 'auditor'")
        try f.attacker().plant(nil, in: "roles", "description", where: "id = ?", [role])
        try Self.expectIntegrity(f, ["role", "list"], says: ["roles id=\(role)", "description"], "role list")
    }

    @Test func theVaultRowWithoutItsCreationTime() throws {
        let f = try Fixture()
        try f.attacker().plant(nil, in: "vault", "created_at")
        try Self.expectIntegrity(f, ["user", "list"], says: ["vault id=1", "created_at"], "open")
    }
}
