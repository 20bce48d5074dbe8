import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// Users from creation to deletion: validation, edits, account states, password
// resets (with their key pairs and grants), deletion, listing and lookup.

/// The `.invalid` error `body` throws (nil, and an issue, for anything else).
private func invalid(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> ValidationError? {
    do {
        try body()
        Issue.record("expected KeyholdError.invalid, nothing was thrown", sourceLocation: sourceLocation)
    } catch KeyholdError.invalid(let e) {
        return e
    } catch {
        Issue.record("expected KeyholdError.invalid, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

private func rows(_ f: Fixture, _ sql: String, _ arguments: [(any Sendable)?] = []) throws -> [[String: (any Sendable)?]] {
    try f.vault.store.unsafeQuery(sql, arguments: arguments)
}

private func userID(_ f: Fixture, _ name: String) throws -> Int64? {
    try rows(f, "SELECT id FROM users WHERE username = ?", [name]).first?["id", default: nil] as? Int64
}

private func keyID(_ f: Fixture, _ name: String) throws -> Int64? {
    try rows(f, "SELECT key_id FROM users WHERE username = ?", [name]).first?["key_id", default: nil] as? Int64
}

private func names(_ users: [UserInfo]) -> [String] { users.map(\.username) }

@Suite struct UserLifecycleTests {

    // MARK: Create

    @Test func createUserValidatesEveryFieldAndWritesNothing() throws {
        let f = try Fixture()
        let before = try TableDump(f)
        let count = try f.vault.summary().users
        let cases: [(field: String, rule: String, body: () throws -> Void)] = [
            ("username", "length", { _ = try f.admin.createUser(username: "ab") }),
            ("username", "length", { _ = try f.admin.createUser(username: String(repeating: "a", count: 33)) }),
            ("username", "start", { _ = try f.admin.createUser(username: "-lead") }),
            ("username", "charset", { _ = try f.admin.createUser(username: "has space") }),
            ("username", "charset", { _ = try f.admin.createUser(username: "bob%") }),
            ("email", "at-sign", { _ = try f.admin.createUser(username: "okname", email: "nobody.example.com") }),
            ("email", "domain", { _ = try f.admin.createUser(username: "okname", email: "nobody@localhost") }),
            ("email", "spaces", { _ = try f.admin.createUser(username: "okname", email: "no body@example.com") }),
            ("display name", "control-character", { _ = try f.admin.createUser(username: "okname", displayName: "a\u{1B}[2J") }),
            ("display name", "bidi-control", { _ = try f.admin.createUser(username: "okname", displayName: "x\u{202E}y") }),
            ("display name", "invisible-character", { _ = try f.admin.createUser(username: "okname", displayName: "x\u{200B}y") })
        ]
        for c in cases {
            let e = invalid(c.body)
            #expect(e?.field == c.field)
            #expect(e?.rule.rawValue == c.rule, "\(c.field): rule \(e?.rule.rawValue ?? "-")")
        }
        #expect(try f.vault.summary().users == count)
        #expect(try TableDump(f) == before)
    }

    @Test func duplicateNamesConflictWithoutRegardToCase() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "Alice", email: "alice@example.com", displayName: "Alice")
        let before = try TableDump(f)
        for name in ["Alice", "alice", "ALICE", "aLiCe", "ADMIN"] {
            do {
                _ = try f.admin.createUser(username: name)
                Issue.record("\(name): expected a conflict")
            } catch KeyholdError.conflict(let what) {
                #expect(what.contains("already exists"))
            }
        }
        #expect(try TableDump(f) == before)
        #expect(try f.vault.summary().users == 2)
    }

    @Test func createUserStoresWhatWasGiven() throws {
        let f = try Fixture()
        let (info, temp) = try f.admin.createUser(
            username: "alice", email: "alice@example.com",
            displayName: "Alice Liddell", roles: ["operator", "auditor"])
        #expect(info.username == "alice")
        #expect(info.email == "alice@example.com")
        #expect(info.displayName == "Alice Liddell")
        #expect(Set(info.roles) == ["operator", "auditor"])
        #expect(info.permissions.contains(.secretsRead) && info.permissions.contains(.auditRead))
        #expect(info.mustChangePassword)
        #expect(info.hasKeyPair)
        #expect(info.keyAccess == .granted)  // the admin holds R and sealed it at once
        #expect(info.createdAt == f.clock.now)
        #expect(info.isActive(at: f.clock.now))
        #expect(temp.count == Session.temporaryPasswordLength)
        // Without roles.manage nobody can hand out roles while creating users.
        let helpdesk = try f.user("hank", roles: ["helpdesk"])
        #expect(throws: KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)) {
            _ = try helpdesk.createUser(username: "sneaky", roles: ["user"])
        }
        #expect(try f.admin.users(UserQuery(text: "sneaky")).isEmpty)
    }

    // MARK: Edit and account states

    @Test func editUserChangesOnlyWhatIsGiven() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "alice", email: "alice@example.com", displayName: "Alice")
        try f.admin.editUser("alice", displayName: "Alice Liddell")
        var info = try f.admin.user(named: "alice")
        #expect(info.displayName == "Alice Liddell")
        #expect(info.email == "alice@example.com")
        try f.admin.editUser("ALICE", email: .some("al@example.org"))
        info = try f.admin.user(named: "alice")
        #expect(info.email == "al@example.org")
        #expect(info.displayName == "Alice Liddell")
        try f.admin.editUser("alice", email: .some(nil))
        #expect(try f.admin.user(named: "alice").email == nil)
        #expect(invalid { try f.admin.editUser("alice", displayName: "bad\u{0007}") }?.field == "display name")
        #expect(throws: KeyholdError.notFound(kind: "user", name: "nobody")) { try f.admin.editUser("nobody", displayName: "x") }
        let edits = try f.admin.auditEvents(AuditQuery(action: "user.edit", target: "user:alice"))
        #expect(edits.map(\.details) == [#"{"changed":["display_name"]}"#, #"{"changed":["email"]}"#, #"{"changed":["email"]}"#])
    }

    @Test func lockUnlockDisableEnableAndExpiry() throws {
        let f = try Fixture()
        let bob = try f.user("bob", roles: ["helpdesk"])
        let now = { f.clock.now }

        try f.admin.lockUser("bob")
        #expect(try f.admin.user(named: "bob").locked)
        #expect(try f.admin.user(named: "bob").status(at: now()) == "locked")
        #expect(throws: KeyholdError.sessionEnded("bob was locked by an administrator")) { try bob.users() }
        try f.admin.unlockUser("bob")
        #expect(try f.admin.user(named: "bob").status(at: now()) == "active")

        try f.admin.disableUser("bob")
        #expect(try f.admin.user(named: "bob").disabled)
        #expect(try f.admin.user(named: "bob").status(at: now()) == "disabled")
        #expect(throws: KeyholdError.sessionEnded("bob was disabled")) { try bob.users() }
        try f.admin.enableUser("bob")
        #expect(try f.admin.user(named: "bob").status(at: now()) == "active")
        #expect(try !bob.users().isEmpty)  // the session resumes once enabled again

        let at = now() + Clock.day
        try f.admin.setExpiry("bob", at: at)
        #expect(try f.admin.user(named: "bob").expiresAt == at)
        #expect(try f.admin.user(named: "bob").isActive(at: now()))
        f.clock.advance(Clock.day)
        #expect(try f.admin.user(named: "bob").status(at: now()) == "expired")
        try f.admin.setExpiry("bob", at: nil)
        #expect(try f.admin.user(named: "bob").expiresAt == nil)
        _ = try f.login("bob", userPassword)

        // One cannot lock, disable, expire or reset oneself.
        let onSelf: [() throws -> Void] = [
            { try f.admin.lockUser("admin") }, { try f.admin.disableUser("admin") },
            { try f.admin.setExpiry("admin", at: now() - 1) },
            { _ = try f.admin.resetPassword("admin") }
        ]
        for body in onSelf {
            do { try body(); Issue.record("expected a refusal") } catch KeyholdError.refused(let why) {
                #expect(why.contains("your own account"))
            }
        }
        let actions = try f.admin.auditEvents(AuditQuery(action: "user.", target: "user:bob")).map(\.action)
        #expect(
            actions.contains("user.lock") && actions.contains("user.unlock") && actions.contains("user.disable")
                && actions.contains("user.enable") && actions.contains("user.expire"))
    }

    // MARK: Password reset

    @Test func resetPasswordRetiresTheKeyAndReSealsTheGrant() throws {
        let f = try Fixture()
        let bob = try f.user("bob", roles: ["operator"])
        try f.admin.createSecret("app/db", .value(pw("value-for-reset-test")))
        let oldKey = try #require(try keyID(f, "bob"))
        let oldPublic = try #require(
            try rows(f, "SELECT public_key FROM user_keys WHERE id = ?", [oldKey]).first?["public_key", default: nil] as? [UInt8])

        let temp = try f.admin.resetPassword("bob")
        #expect(temp.count == Session.temporaryPasswordLength)
        let sameAsOld = temp.constantTimeEquals(try pw(userPassword))
        #expect(!sameAsOld)

        // The old key row is retired: no sealed secret key, no KDF material, public key kept.
        let old = try #require(try rows(f, "SELECT * FROM user_keys WHERE id = ?", [oldKey]).first)
        #expect(old["sealed_secret_key", default: nil] == nil)
        #expect(old["kdf_salt", default: nil] == nil)
        #expect(old["kdf_opslimit", default: nil] == nil)
        #expect(old["kdf_memlimit", default: nil] == nil)
        #expect(old["retired_at", default: nil] as? Int64 == f.clock.now)
        #expect(old["public_key", default: nil] as? [UInt8] == oldPublic)

        // A new key, and the grant now sealed to it.
        let newKey = try #require(try keyID(f, "bob"))
        #expect(newKey != oldKey)
        let newRow = try #require(try rows(f, "SELECT * FROM user_keys WHERE id = ?", [newKey]).first)
        #expect(newRow["sealed_secret_key", default: nil] != nil)
        #expect(newRow["retired_at", default: nil] == nil)
        let grant = try #require(try rows(f, "SELECT * FROM grants WHERE user_id = ?", [try userID(f, "bob")]).first)
        #expect(grant["key_id", default: nil] as? Int64 == newKey)
        #expect(grant["sealed_root", default: nil] != nil)
        let info = try f.admin.user(named: "bob")
        #expect(info.mustChangePassword)
        #expect(info.keyAccess == .granted)

        // The old session and the old password are done.
        #expect(throws: KeyholdError.sessionEnded("the password of bob was reset")) { _ = try bob.reveal("app/db") }
        #expect(throws: KeyholdError.authenticationFailed) { try f.vault.login(username: "bob", password: pw(userPassword)) }

        // After the forced change bob still opens secrets.
        guard case .mustChangePassword(let change) = try f.vault.login(username: "bob", password: temp) else {
            Issue.record("expected a forced change"); return
        }
        let s = try change.complete(newPassword: pw("mauve otters juggle quietly"))
        #expect(s.hasKeyAccess)
        #expect(try s.reveal("app/db").utf8String() == "value-for-reset-test")
        #expect(try f.admin.verifyAudit().ok)  // events signed by the retired key still verify
    }

    @Test func resetPasswordOfAUserWithoutKeyAccessLeavesNoGrant() throws {
        let f = try Fixture()
        _ = try f.user("hank", roles: ["helpdesk"])
        _ = try f.admin.resetPassword("hank")
        #expect(try rows(f, "SELECT * FROM grants WHERE user_id = ?", [try userID(f, "hank")]).isEmpty)
        #expect(try f.admin.user(named: "hank").keyAccess == .none)
        #expect(try rows(f, "SELECT count(*) AS n FROM user_keys WHERE username = 'hank'").first?["n", default: nil] as? Int64 == 2)
    }

    // MARK: Delete

    @Test func deleteUserKeepsPublicKeysSoTheAuditStillVerifies() throws {
        let f = try Fixture()
        let bob = try f.user("bob", roles: ["operator"])
        try bob.createSecret("app/bob", .value(pw("value-made-by-bob")))  // an event bob signed
        _ = try f.admin.resetPassword("bob")  // bob now has a retired and a live key
        let id = try #require(try userID(f, "bob"))
        #expect(try rows(f, "SELECT * FROM user_keys WHERE user_id = ?", [id]).count == 2)

        let outcome = try f.admin.deleteUser("BOB")
        #expect(outcome.checkpointed)
        #expect(try rows(f, "SELECT * FROM users WHERE id = ?", [id]).isEmpty)
        #expect(try rows(f, "SELECT * FROM user_roles WHERE user_id = ?", [id]).isEmpty)
        #expect(try rows(f, "SELECT * FROM grants WHERE user_id = ?", [id]).isEmpty)
        let keys = try rows(f, "SELECT * FROM user_keys WHERE user_id = ?", [id])
        #expect(keys.count == 2)
        for k in keys {
            #expect(k["sealed_secret_key", default: nil] == nil)
            #expect(k["kdf_salt", default: nil] == nil)
            #expect((k["public_key", default: nil] as? [UInt8])?.count == 32)
            #expect(k["retired_at", default: nil] != nil)
        }
        let delete = try f.admin.auditEvents(AuditQuery(action: "user.delete")).map(\.target)
        #expect(delete == ["user:bob"])
        #expect(try f.admin.verifyAudit().ok)
        #expect(throws: KeyholdError.notFound(kind: "user", name: "bob")) { try f.admin.user(named: "bob") }
        #expect(throws: KeyholdError.authenticationFailed) { try f.vault.login(username: "bob", password: pw(userPassword)) }
        #expect(throws: KeyholdError.sessionEnded("bob was deleted")) { _ = try bob.reveal("app/bob") }
        // The secret bob made is still there.
        #expect(try f.admin.reveal("app/bob").utf8String() == "value-made-by-bob")
        // The name is free again, with fresh ids.
        let (again, _) = try f.admin.createUser(username: "bob")
        #expect(again.id != id)
    }

    // MARK: Listing and lookup

    @Test func usersFilterByTextTakesWildcardsLiterally() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "alice", email: "alice@example.com", displayName: "Alice Liddell", roles: ["operator"])
        _ = try f.admin.createUser(username: "bob_smith", email: "bob@corp.example.org", displayName: "Bob", roles: ["auditor"])
        _ = try f.admin.createUser(username: "bobxsmith", displayName: "100% real", roles: ["operator"])
        _ = try f.admin.createUser(username: "carol", email: "carol@example.com", displayName: "Carol_Danvers")
        _ = try f.admin.createUser(username: "dan", displayName: "back\\slash")

        #expect(names(try f.admin.users()) == ["admin", "alice", "bob_smith", "bobxsmith", "carol", "dan"])
        #expect(names(try f.admin.users(UserQuery(text: "ALICE"))) == ["alice"])
        #expect(names(try f.admin.users(UserQuery(text: "liddell"))) == ["alice"])  // display name
        #expect(names(try f.admin.users(UserQuery(text: "CORP.EXAMPLE"))) == ["bob_smith"])  // email
        #expect(names(try f.admin.users(UserQuery(text: "example.com"))) == ["alice", "carol"])
        // `_` and `%` are characters, not wildcards.
        #expect(names(try f.admin.users(UserQuery(text: "_"))) == ["bob_smith", "carol"])
        #expect(names(try f.admin.users(UserQuery(text: "b_b"))) == [])
        #expect(names(try f.admin.users(UserQuery(text: "%"))) == ["bobxsmith"])
        #expect(names(try f.admin.users(UserQuery(text: "100%"))) == ["bobxsmith"])
        #expect(names(try f.admin.users(UserQuery(text: "bob%smith"))) == [])
        #expect(names(try f.admin.users(UserQuery(text: "\\"))) == ["dan"])
        #expect(names(try f.admin.users(UserQuery(text: "nobody at all"))) == [])
        #expect(names(try f.admin.users(UserQuery(text: ""))).count == 6)
    }

    @Test func usersFilterByRoleAndLookupByName() throws {
        let f = try Fixture()
        _ = try f.admin.createUser(username: "alice", displayName: "Alice", roles: ["operator"])
        _ = try f.admin.createUser(username: "bob", roles: ["auditor", "operator"])
        _ = try f.admin.createUser(username: "carol", roles: ["auditor"])
        _ = try f.admin.createUser(username: "dan")

        #expect(names(try f.admin.users(UserQuery(role: "operator"))) == ["alice", "bob"])
        #expect(names(try f.admin.users(UserQuery(role: "auditor"))) == ["bob", "carol"])
        #expect(names(try f.admin.users(UserQuery(role: "admin"))) == ["admin"])
        #expect(names(try f.admin.users(UserQuery(role: "helpdesk"))) == [])
        #expect(names(try f.admin.users(UserQuery(role: "OPERATOR"))) == ["alice", "bob"])
        #expect(names(try f.admin.users(UserQuery(text: "AL", role: "operator"))) == ["alice"])
        #expect(names(try f.admin.users(UserQuery(text: "carol", role: "operator"))) == [])
        #expect(names(try f.admin.users(UserQuery(limit: 2, offset: 1))) == ["alice", "bob"])

        #expect(try f.admin.user(named: "ALICE").username == "alice")
        #expect(try f.admin.user(named: "Bob").roles.sorted() == ["auditor", "operator"])
        #expect(throws: KeyholdError.notFound(kind: "user", name: "nobody")) { try f.admin.user(named: "nobody") }
        // Listing needs users.read.
        let plain = try f.user("ursula", roles: ["user"])
        #expect(throws: KeyholdError.permissionDenied(action: "user.list", missing: .usersRead)) { try plain.users() }
        #expect(throws: KeyholdError.permissionDenied(action: "user.show", missing: .usersRead)) { try plain.user(named: "alice") }
    }
}
