import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

/// A vault whose schema someone rewrote (PRAGMA writable_schema) so that a NOT NULL column
/// takes NULL, or, its table's STRICT dropped, a value of another type: logins, listings and
/// `check` through `Session` end in the store's integrity error (`StoreError.corrupt`) naming
/// the table, the row and the column. (GRDB's row subscripts stopped the program there; the
/// same attacks through the built binary: KeyholdCLITests/LooseSchemaTests.)
@Suite struct LooseSchemaTests {
    /// The integrity message `body` throws, or a recorded issue when it throws another error or none.
    static func corruption(_ label: String, _ body: () throws -> Void) -> String {
        do {
            try body()
            Issue.record("\(label): no error")
        } catch KeyholdError.store(.corrupt(let what)) {
            return what
        } catch {
            Issue.record("\(label): \(error)")
        }
        return ""
    }

    /// Whether `check` names `expected`: as a problem of its report (it goes on past a part it
    /// cannot read), or as the integrity error it ends with.
    static func checkNames(_ session: Session, _ expected: String) -> Bool {
        do {
            let report = try session.check()
            return report.problems.contains { $0.message.contains(expected) }
        } catch KeyholdError.store(.corrupt(let what)) {
            return what == expected
        } catch {
            Issue.record("check: \(error)")
            return false
        }
    }

    @Test func aUserWithoutADisplayNameStopsTheListingsThatReadTheRow() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "bob", roles: ["user"])
        let bob = try f.id("SELECT id FROM users WHERE username = 'bob'")
        try f.attacker().plant(nil, in: "users", "display_name", where: "id = ?", [bob])
        let admin = try f.login("admin", adminPassword)
        let expected = "users id=\(bob): column display_name is NULL, where the schema requires text"
        #expect(Self.corruption("users") { _ = try admin.users() } == expected)
        #expect(Self.corruption("user page") { _ = try admin.userPage(UserFilter(), at: .first, limit: 50) } == expected)
        #expect(Self.corruption("bob's login") { _ = try f.vault.login(username: "bob", password: pw(userPassword)) } == expected)
    }

    @Test func aLoggingInUserWithBytesForAPasswordHash() throws {
        let f = try Fixture()
        try f.attacker().plant([UInt8](repeating: 0xFF, count: 8), in: "users", "password_hash", where: "username = 'admin'")
        let admin = try f.id("SELECT id FROM users WHERE username = 'admin'")
        #expect(
            Self.corruption("login") { _ = try f.vault.login(username: "admin", password: pw(adminPassword)) }
                == "users id=\(admin): column password_hash holds a blob, where the schema requires text")
    }

    @Test func aSecretWithoutANameOrWithTextForAVersion() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        try f.admin.createSecret("app/b", .value(pw("value-b")))
        let a = try f.id("SELECT id FROM secrets WHERE name = 'app/a'")
        let b = try f.id("SELECT id FROM secrets WHERE name = 'app/b'")
        let attacker = try f.attacker()
        try attacker.plant("one", in: "secrets", "current_version", where: "id = ?", [a])
        let admin = try f.login("admin", adminPassword)
        #expect(
            Self.corruption("secrets") { _ = try admin.secrets() }
                == "secrets id=\(a): column current_version holds text, where the schema requires an integer")
        try f.vault.store.unsafeExecute("UPDATE secrets SET current_version = 1 WHERE id = ?", arguments: [a])
        try attacker.plant(nil, in: "secrets", "name", where: "id = ?", [b])
        let expected = "secrets id=\(b): column name is NULL, where the schema requires text"
        #expect(Self.corruption("secrets") { _ = try admin.secrets() } == expected)
        #expect(Self.corruption("secret page") { _ = try admin.secretPage(nil, at: .first, limit: 50) } == expected)
        // check goes on past the part it cannot read, and names the row.
        #expect(Self.checkNames(admin, expected))
    }

    /// The minimum decryption version is read alone before every data key is used: planted as
    /// text, revealing a value stops with the vault row and the column named.
    @Test func aMinimumDecryptionVersionThatIsNotANumberStopsEveryReveal() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        let admin = try f.login("admin", adminPassword)
        try f.attacker().plant("one", in: "vault", "min_decrypt_version")
        #expect(
            Self.corruption("reveal") { _ = try admin.reveal("app/a") }
                == "vault id=1: column min_decrypt_version holds text, where the schema requires an integer")
    }

    @Test func anAuditEventWithoutAnAction() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        let seq = try f.id("SELECT min(seq) FROM audit_events WHERE action = 'secret.create'")
        let attacker = try f.attacker()
        try attacker.loosen("audit_events", "action")
        try attacker.rewriteAuditEvent(seq: seq, "action", to: nil)
        let expected = "audit_events seq=\(seq): column action is NULL, where the schema requires text"
        // A session opened before: its listings and checks.
        #expect(Self.corruption("audit page") { _ = try f.admin.auditPage(AuditFilter(), at: .first, limit: 50) } == expected)
        #expect(Self.corruption("audit verify") { _ = try f.admin.verifyAudit() } == expected)
        #expect(Self.checkNames(f.admin, expected))
        // A login replays the log to learn who may sign.
        #expect(Self.corruption("login") { _ = try f.vault.login(username: "admin", password: pw(adminPassword)) } == expected)
    }

    @Test func aGrantWithoutATimeStopsItsHoldersLogin() throws {
        let f = try Fixture()
        let admin = try f.id("SELECT id FROM users WHERE username = 'admin'")
        try f.attacker().plant(nil, in: "grants", "created_at", where: "user_id = ?", [admin])
        #expect(
            Self.corruption("login") { _ = try f.vault.login(username: "admin", password: pw(adminPassword)) }
                == "grants user_id=\(admin): column created_at is NULL, where the schema requires an integer")
    }

    @Test func aRoleWithoutADescription() throws {
        let f = try Fixture()
        let role = try f.id("SELECT id FROM roles WHERE name = 'auditor'")
        try f.attacker().plant(nil, in: "roles", "description", where: "id = ?", [role])
        let admin = try f.login("admin", adminPassword)
        #expect(
            Self.corruption("roles") { _ = try admin.roles() }
                == "roles id=\(role): column description is NULL, where the schema requires text")
    }

    @Test func theVaultRowWithoutACreationTime() throws {
        let f = try Fixture()
        try f.attacker().plant(nil, in: "vault", "created_at")
        #expect(
            Self.corruption("login") { _ = try f.vault.login(username: "admin", password: pw(adminPassword)) }
                == "vault id=1: column created_at is NULL, where the schema requires an integer")
    }

    /// A role held with text for its id (foreign keys off in the attacker's connection): a grant
    /// to its holder reads their roles and stops there, naming the row.
    @Test func aHeldRoleWithTextForItsID() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "bob", roles: ["user"])
        let bob = try f.id("SELECT id FROM users WHERE username = 'bob'")
        try f.attacker().loosen("user_roles", "role_id")
        try f.vault.store.unsafeExecute(
            "PRAGMA foreign_keys = OFF; UPDATE user_roles SET role_id = 'x' WHERE user_id = ?; PRAGMA foreign_keys = ON", arguments: [bob])
        #expect(
            Self.corruption("grant") { try f.admin.grantRole("bob", role: "auditor") }
                == "user_roles user_id=\(bob): column role_id holds text, where the schema requires an integer")
    }

    @Test func aRolePermissionWithBytesForItsName() throws {
        let f = try Fixture()
        let role = try f.id("SELECT id FROM roles WHERE name = 'admin'")
        try f.attacker().loosen("role_permissions", "permission")
        try f.vault.store.unsafeExecute(
            """
            PRAGMA ignore_check_constraints = ON;
            UPDATE role_permissions SET permission = x'00' WHERE role_id = ? AND permission = 'audit.read';
            PRAGMA ignore_check_constraints = OFF
            """, arguments: [role])
        #expect(
            Self.corruption("users") { _ = try f.admin.users() }
                == "role_permissions role_id=\(role): column permission holds a blob, where the schema requires text")
    }

    /// SQLite's own counter of secret ids, with text in it: an import stops before writing.
    @Test func theSecretCounterWithText() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-a")))
        try f.vault.store.unsafeExecute("UPDATE sqlite_sequence SET seq = 'many' WHERE name = 'secrets'")
        #expect(
            Self.corruption("import") {
                _ = try f.admin.importSecrets([ImportEntry(name: "app/b", value: try pw("value-b"), origin: "entry 1")])
            }
                == "sqlite_sequence: column seq holds text, where the schema requires an integer")
        #expect(try f.vault.store.unsafeQuery("SELECT count(*) AS n FROM secrets").first?["n"] as? Int64 == 1)
    }
}
