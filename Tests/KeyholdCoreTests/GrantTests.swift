import Foundation
import KeyholdCrypto
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// Key grants (docs/FORMAT.md, "Keys"): a role change that confers key access seals R
// to the user at once; one that removes it deletes the grant and raises a
// standing warning; a user without a key pair gets a pending grant that the
// next session holding R completes.

@Suite struct GrantTests {
    @Test func grantingOperatorSealsRootAtOnceAndRevokingWarns() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("grant-test-value-abcdef")))
        let before = try f.user("gina", roles: [])
        #expect(try f.admin.user(named: "gina").keyAccess == KeyAccess.none)
        #expect(try GrantTests.grantRow(f, "gina") == nil)

        try f.admin.grantRole("gina", role: "operator")
        let info = try f.admin.user(named: "gina")
        #expect(info.keyAccess == .granted)
        let grant = try #require(try GrantTests.grantRow(f, "gina"))
        let ginaKey = try TamperKit.int(f.vault.store.unsafeQuery("SELECT key_id FROM users WHERE username = 'gina'")[0]["key_id"])
        #expect(grant.sealed != nil && grant.keyID == ginaKey, "sealed to gina's current key")
        #expect(try f.admin.keyStatus().grantedUsers.contains("gina"))
        #expect(try f.admin.keyStatus().revocationWarning == nil)
        let granted = try f.admin.auditEvents(AuditQuery(action: "user.grant-role", target: "user:gina"))
        #expect(granted.last?.details.contains("\"key_access\":\"granted\"") == true)

        // The session from before the grant holds no R; a new login opens the grant.
        #expect(!before.hasKeyAccess)
        let gina = try f.login("gina", userPassword)
        #expect(gina.hasKeyAccess)
        #expect(try TamperKit.same(try gina.reveal("app/db"), "grant-test-value-abcdef"))
        let sameRoot = try #require(gina.root).key.constantTimeEquals(try #require(f.admin.root).key)
        #expect(sameRoot)

        // Revoking deletes the grant and raises the standing warning naming gina.
        f.clock.advance(1000)
        try f.admin.revokeRole("gina", role: "operator")
        #expect(try f.admin.user(named: "gina").keyAccess == KeyAccess.none)
        #expect(try GrantTests.grantRow(f, "gina") == nil)
        let status = try f.admin.keyStatus()
        #expect(!status.grantedUsers.contains("gina"))
        let warning = try #require(status.revocationWarning)
        #expect(warning.contains("gina"))
        let revoked = try f.admin.auditEvents(AuditQuery(action: "user.revoke-role", target: "user:gina"))
        #expect(revoked.last?.details.contains("\"key_access\":\"revoked\"") == true)
        // A new login has no key and no permission.
        let after = try f.login("gina", userPassword)
        #expect(!after.hasKeyAccess)
        #expect(throws: KeyholdError.permissionDenied(action: "secret.reveal", missing: .secretsRead)) { try after.reveal("app/db") }

        // The warning stands (it is not cleared by other changes) and accumulates.
        _ = try f.user("gabe", roles: ["operator"])
        try f.admin.revokeRole("gabe", role: "operator")
        let both = try #require(try f.admin.keyStatus().revocationWarning)
        #expect(both.contains("gina") && both.contains("gabe"))
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func roleChangesThatKeepKeyAccessDoNotWarn() throws {
        let f = try Fixture()
        _ = try f.user("hank", roles: ["operator", "security-officer"])
        let original = try #require(try GrantTests.grantRow(f, "hank"))
        #expect(original.sealed != nil)

        // Dropping operator keeps keys.manage (security-officer): access stays, no warning, grant untouched.
        try f.admin.revokeRole("hank", role: "operator")
        #expect(try f.admin.user(named: "hank").keyAccess == .granted)
        #expect(try GrantTests.grantRow(f, "hank") == original)
        // Adding a role without key permissions, or one with them, changes nothing either.
        try f.admin.grantRole("hank", role: "auditor")
        try f.admin.grantRole("hank", role: "operator")
        try f.admin.revokeRole("hank", role: "security-officer")
        try f.admin.revokeRole("hank", role: "auditor")
        #expect(try f.admin.user(named: "hank").keyAccess == .granted)
        #expect(try GrantTests.grantRow(f, "hank") == original)
        #expect(try f.admin.keyStatus().revocationWarning == nil)
        #expect(try f.login("hank", userPassword).hasKeyAccess)

        // Roles without key access never create a grant, and removing them never warns.
        _ = try f.user("ursula", roles: ["helpdesk", "auditor"])
        #expect(try GrantTests.grantRow(f, "ursula") == nil)
        try f.admin.revokeRole("ursula", role: "auditor")
        #expect(try f.admin.user(named: "ursula").keyAccess == KeyAccess.none)
        #expect(try f.admin.keyStatus().revocationWarning == nil)
    }

    /// A pending grant is never completed by a login or any other automatic step: an
    /// administrator approves the key, naming its fingerprint (docs/SECURITY.md, "Key requests").
    @Test func pendingGrantWaitsForAnApprovalNamingTheFingerprint() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("pending-grant-value-abc")))
        let (_, temp) = try f.admin.createUser(username: "ivy", roles: [])
        let ivy = try TamperKit.userID(f, "ivy")
        let keyID = try TamperKit.int(f.vault.store.unsafeQuery("SELECT key_id FROM users WHERE id = ?", arguments: [ivy])[0]["key_id"])
        // Simulate an account without a key pair (an imported one whose password was never seen).
        try f.vault.store.unsafeExecute("UPDATE users SET key_id = NULL WHERE id = ?", arguments: [ivy])
        try f.vault.store.unsafeExecute("DELETE FROM grants WHERE user_id = ?", arguments: [ivy])
        #expect(try f.admin.user(named: "ivy").hasKeyPair == false)

        try f.admin.grantRole("ivy", role: "operator")
        #expect(try f.admin.user(named: "ivy").keyAccess == .pending)
        let pending = try #require(try GrantTests.grantRow(f, "ivy"))
        #expect(pending.sealed == nil && pending.keyID == nil)
        #expect(try f.admin.keyStatus().pendingGrants == ["ivy"])
        let granted = try f.admin.auditEvents(AuditQuery(action: "user.grant-role", target: "user:ivy"))
        #expect(granted.last?.details.contains("\"key_access\":\"pending\"") == true)
        #expect(try f.admin.keyRequests() == [KeyRequest(username: "ivy", fingerprint: nil, requestedAt: f.clock.now)])
        #expect(throws: KeyholdError.self) { try f.admin.approveKeyRequest("ivy", fingerprint: "0000") }

        // She has a key pair again; key holders' logins still seal nothing.
        try f.vault.store.unsafeExecute("UPDATE users SET key_id = ? WHERE id = ?", arguments: [keyID, ivy])
        f.clock.advance(1000)
        _ = try f.login("admin", adminPassword)
        _ = try f.login("admin", adminPassword)
        #expect(try f.admin.user(named: "ivy").keyAccess == .pending)
        let publicKey = try TamperKit.blob(
            f.vault.store.unsafeQuery(
                "SELECT public_key FROM user_keys WHERE id = ?",
                arguments: [keyID])[0]["public_key"])
        let fingerprint = Fingerprint.of(publicKey: publicKey)
        #expect(try f.admin.keyRequests().map(\.fingerprint) == [fingerprint])

        // A fingerprint that is not her key's is refused and writes nothing.
        let events = try f.admin.auditEvents(AuditQuery()).count
        #expect(throws: KeyholdError.self) {
            try f.admin.approveKeyRequest("ivy", fingerprint: Fingerprint.of(publicKey: SigningKeyPair.generate().publicKey))
        }
        #expect(try f.admin.auditEvents(AuditQuery()).count == events)
        #expect(try f.admin.user(named: "ivy").keyAccess == .pending)

        // Her fingerprint, typed loosely (lower case, spaces): approved, endorsed, sealed, audited.
        try f.admin.approveKeyRequest("ivy", fingerprint: fingerprint.lowercased().replacingOccurrences(of: "-", with: " "))
        #expect(try f.admin.user(named: "ivy").keyAccess == .granted)
        let done = try #require(try GrantTests.grantRow(f, "ivy"))
        #expect(done.sealed != nil && done.keyID == keyID)
        #expect(try f.admin.keyStatus().pendingGrants.isEmpty)
        let approvals = try f.admin.auditEvents(AuditQuery(action: "key.approve"))
        #expect(approvals.count == 1)
        #expect(approvals.first?.actor == "admin" && approvals.first?.signed == true && approvals.first?.target == "user:ivy")
        #expect(approvals.first?.details.contains(fingerprint) == true)
        #expect(throws: KeyholdError.self) { try f.admin.approveKeyRequest("ivy", fingerprint: fingerprint) }

        // The sealed grant really opens for her.
        guard case .mustChangePassword(let change) = try f.vault.login(username: "ivy", password: temp) else {
            Issue.record("ivy must change her temporary password"); return
        }
        let session = try change.complete(newPassword: pw(userPassword))
        #expect(session.hasKeyAccess)
        #expect(try TamperKit.same(try session.reveal("app/db"), "pending-grant-value-abc"))
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func editingARoleResyncsItsMembers() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("edit-role-value-abcdef")))
        _ = try f.user("hal", roles: ["helpdesk"])
        _ = try f.user("hope", roles: ["helpdesk"])
        _ = try f.user("omar", roles: ["operator"])
        for name in ["hal", "hope"] { #expect(try f.admin.user(named: name).keyAccess == KeyAccess.none) }

        try f.admin.editRole("helpdesk", permissions: [.usersRead, .usersWrite, .secretsRead])
        for name in ["hal", "hope"] {
            #expect(try f.admin.user(named: name).keyAccess == .granted, "\(name)")
            #expect(try GrantTests.grantRow(f, name)?.sealed != nil, "\(name)")
        }
        let edit = try #require(try f.admin.auditEvents(AuditQuery(action: "role.edit")).last)
        #expect(edit.target == "role:helpdesk")
        #expect(edit.details.contains("\"hal:granted\"") && edit.details.contains("\"hope:granted\""), "\(edit.details)")
        let hal = try f.login("hal", userPassword)
        #expect(hal.hasKeyAccess)
        #expect(try TamperKit.same(try hal.reveal("app/db"), "edit-role-value-abcdef"))
        #expect(try f.admin.keyStatus().revocationWarning == nil)

        // A description-only edit leaves grants alone.
        let halGrant = try GrantTests.grantRow(f, "hal")
        try f.admin.editRole("helpdesk", description: "Accounts, and now one secret")
        #expect(try GrantTests.grantRow(f, "hal") == halGrant)

        // Removing secrets.read revokes both and warns, naming them; other roles' members keep theirs.
        f.clock.advance(1000)
        try f.admin.editRole("helpdesk", permissions: [.usersRead, .usersWrite])
        for name in ["hal", "hope"] {
            #expect(try f.admin.user(named: name).keyAccess == KeyAccess.none, "\(name)")
            #expect(try GrantTests.grantRow(f, name) == nil, "\(name)")
        }
        #expect(try f.admin.user(named: "omar").keyAccess == .granted)
        let warning = try #require(try f.admin.keyStatus().revocationWarning)
        #expect(warning.contains("hal") && warning.contains("hope"))
        #expect(!warning.contains("omar"))
        let revoke = try #require(try f.admin.auditEvents(AuditQuery(action: "role.edit")).last)
        #expect(revoke.details.contains("\"hal:revoked\"") && revoke.details.contains("\"hope:revoked\""), "\(revoke.details)")
        #expect(!(try f.login("hal", userPassword).hasKeyAccess))

        // Giving a role keys.manage confers key access too.
        try f.admin.editRole("helpdesk", permissions: [.usersRead, .usersWrite, .keysManage])
        #expect(try f.admin.user(named: "hope").keyAccess == .granted)
        #expect(try f.admin.verifyAudit().ok)
    }

    // MARK: Helpers

    struct Grant: Equatable { var keyID: Int64?; var sealed: [UInt8]?; var createdAt: Int64 }

    static func grantRow(_ f: Fixture, _ username: String) throws -> Grant? {
        let rows = try f.vault.store.unsafeQuery(
            """
            SELECT g.key_id, g.sealed_root, g.created_at FROM grants g JOIN users u ON u.id = g.user_id WHERE u.username = ?
            """, arguments: [username])
        guard let r = rows.first else { return nil }
        return Grant(
            keyID: (r["key_id"] ?? nil) as? Int64, sealed: (r["sealed_root"] ?? nil) as? [UInt8],
            createdAt: try TamperKit.int(r["created_at"]))
    }
}
