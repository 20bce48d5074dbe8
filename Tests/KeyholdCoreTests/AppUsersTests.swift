import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore
import KeyholdCrypto

// Accounts for an application (docs/APPLICATIONS.md): the app_users view, import
// of existing password hashes, legacy flags, first login of an imported
// account, and the bcrypt refusal.

/// Hashes of `importedPassword` made elsewhere (Python: bcrypt 5.0.0, argon2-cffi 25.1.0, Werkzeug 3.1.9).
enum Imported {
    static let password = "imported password 42"
    static let bcrypt2b = "$2b$04$XqLdtUGKbnYI69AYLABjcONwLA/6mAMxKcUXnCPLASafEuojIaqD6"
    static let bcrypt2y = "$2y$04$OfaFvMqG7H8emwtvp8KRz.FcAs.ywtQeMIa/2NmTAptHYL0pAxJQm"
    static let argon2i = "$argon2i$v=19$m=8,t=1,p=1$5bSvlItH0zlrr++HShfqkA$v9oXDlMwlirPeNj7Ii/1jh2LqUugFX21RYI3CPq2hfI"
    /// Argon2id, four lanes, a higher cost than the test vault's.
    static let argon2idP4 = "$argon2id$v=19$m=64,t=2,p=4$jK5l8DNvFwUlsrScmLZIDw$v6gXRmihUxAJDs5LTogXZ0soHW0+qE004g/hnrm7x4A"
    /// Argon2id exactly at the test vault's cost (t=1, m=8 KiB, p=1): not legacy.
    static let argon2idCurrent = "$argon2id$v=19$m=8,t=1,p=1$QodfiifSNgpwSPaUf36ljw$1zqFCghJZZyrtSvdNFuY/L8tRXfv6KL/e7vjw7PKmuM"
    /// `generate_password_hash(password, "scrypt:1024:8:1")` and `(password, "pbkdf2:sha256:1000")`.
    static let werkzeugScrypt =
        "scrypt:1024:8:1$75n8vhm5OqU5Euk5$350335278de1f397c1922610db61e74b4a8e3d147188c63d73a0e30dfe99536589432d5587b23cac2b107b4a645dbe41dc87064433b85468e9ee35144c67f1bb"
    static let werkzeugPBKDF2 = "pbkdf2:sha256:1000$2QWygMIUrnQu1Jj7$d8113e83d867adf9302c8be6aa9b2bb1ee3b6644f5ca4d8df8bc6ca89e767d2f"
}

/// A fixture whose clock is the real one, since the view reads SQLite's own clock.
private func realTimeFixture() throws -> Fixture { try Fixture(clock: TestClock(Clock.system.now())) }

private func appUser(_ f: Fixture, _ name: String) throws -> AppUserRow {
    try #require(try f.vault.store.read { try $0.appUser(named: name) })
}

private func entry(_ name: String, _ hash: String, roles: [String] = [], line: Int) -> AppUserEntry {
    AppUserEntry(
        username: name, email: "\(name)@example.com", displayName: name.capitalized, passwordHash: hash,
        roles: roles, origin: "line \(line)")
}

private func login(_ f: Fixture, _ name: String, _ password: String) throws -> Session {
    guard case .session(let s) = try f.vault.login(username: name, password: pw(password)) else {
        throw KeyholdError.refused("expected a session")
    }
    return s
}

@Suite struct AppUsersViewTests {
    @Test func viewHasTheDocumentedColumnsInOrder() throws {
        let f = try realTimeFixture()
        let columns = try f.vault.store.unsafeQuery("PRAGMA table_info(app_users)").compactMap { $0["name"] as? String }
        #expect(
            columns == [
                "id", "username", "email", "display_name", "password_hash", "roles", "permissions",
                "active", "locked", "disabled", "expired", "must_change", "legacy_hash"
            ])
    }

    @Test func viewReadsThroughTheStoreWithTrustedSchemaOff() throws {
        let f = try realTimeFixture()
        #expect(try f.vault.store.pragmaValues()["trusted_schema"] == "0")
        let admin = try appUser(f, "ADMIN")  // any case
        #expect(admin.username == "admin")
        #expect(admin.roles == ["admin"])
        #expect(admin.permissions == Permission.allCases.map(\.rawValue).sorted())
        #expect(admin.active && !admin.locked && !admin.disabled && !admin.expired && !admin.mustChange && !admin.legacyHash)
        #expect(admin.passwordHash.hasPrefix("$argon2id$v=19$m=8,t=1,p=1$"))
    }

    @Test func rolesAndPermissionsAreSortedAndDistinct() throws {
        let f = try realTimeFixture()
        _ = try f.admin.createUser(username: "mixed", roles: ["operator", "auditor", "helpdesk"])
        let raw = try #require(try f.vault.store.unsafeQuery("SELECT roles, permissions FROM app_users WHERE username = 'mixed'").first)
        #expect(raw["roles"] as? String == "auditor,helpdesk,operator")
        #expect(
            raw["permissions"] as? String
                == "audit.read,secrets.list,secrets.read,secrets.write,users.read,users.write")
        _ = try f.admin.createUser(username: "nobody")
        let none = try #require(try f.vault.store.unsafeQuery("SELECT roles, permissions FROM app_users WHERE username = 'nobody'").first)
        #expect(none["roles"] as? String == "")
        #expect(none["permissions"] as? String == "")
    }

    @Test func flagsFollowTheAccountState() throws {
        let f = try realTimeFixture()
        _ = try f.admin.createUser(username: "temp")
        #expect(try appUser(f, "temp").mustChange)
        #expect(try appUser(f, "temp").active)  // must_change is separate: the application refuses it itself

        _ = try f.user("lockme", roles: [])
        try f.admin.lockUser("lockme")
        var row = try appUser(f, "lockme")
        #expect(row.locked && !row.active && !row.disabled && !row.expired)
        try f.admin.unlockUser("lockme")
        #expect(try appUser(f, "lockme").active)

        try f.admin.disableUser("lockme")
        row = try appUser(f, "lockme")
        #expect(row.disabled && !row.active && !row.locked)
        try f.admin.enableUser("lockme")

        try f.admin.setExpiry("lockme", at: Clock.system.now() - Clock.minute)
        row = try appUser(f, "lockme")
        #expect(row.expired && !row.active)
        try f.admin.setExpiry("lockme", at: Clock.system.now() + Clock.day)
        row = try appUser(f, "lockme")
        #expect(!row.expired && row.active)
        try f.admin.setExpiry("lockme", at: nil)

        // Locked out after failed logins: locked while the delay runs.
        for _ in 0..<Vault.freeLoginFailures {
            #expect(throws: KeyholdError.authenticationFailed) {
                _ = try f.vault.login(username: "lockme", password: pw("wrong wrong wrong"))
            }
        }
        row = try appUser(f, "lockme")
        #expect(row.locked && !row.active && !row.disabled)
        // A lockout that has run out no longer counts.
        try f.vault.store.unsafeExecute(
            "UPDATE users SET locked_until = ? WHERE username = 'lockme'",
            arguments: [Clock.system.now() - 1000])
        #expect(try appUser(f, "lockme").active)
    }

    @Test func legacyFollowsTheVaultCost() throws {
        let f = try realTimeFixture()
        #expect(!(try appUser(f, "admin").legacyHash))
        #expect(!(try f.admin.user(named: "admin").legacyHash))
        let raised = KDFCost(opslimit: KDFCost.insecureMinimumForTests.opslimit + 1, memlimit: KDFCost.insecureMinimumForTests.memlimit)
        try f.admin.updateSettings(kdf: raised)
        #expect(try appUser(f, "admin").legacyHash)
        #expect(try f.admin.user(named: "admin").legacyHash)
        // The next login re-makes the hash at the new cost and the flag clears.
        _ = try login(f, "admin", adminPassword)
        #expect(!(try appUser(f, "admin").legacyHash))
        #expect(try appUser(f, "admin").passwordHash.hasPrefix(PasswordHash.currentPrefix(cost: raised)))
    }
}

/// The view's `legacy_hash` (SQL, migration 6) and `PasswordHash.isLegacy` (Swift) are one rule:
/// Argon2id version 19 with m and t at or above the vault's cost, any lanes, is current.
@Suite struct LegacyRuleTests {
    @Test func viewAndSwiftAgreeOnEveryForm() throws {
        let f = try realTimeFixture()
        let cost = KDFCost(opslimit: 2, memlimit: 16 * 1024)  // m=16 KiB, t=2
        try f.admin.updateSettings(kdf: cost)
        try f.admin.importAppUsers([entry("probe", Imported.argon2idP4, line: 2)])
        let tail = "$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
        let cases: [(String, Bool)] = [
            ("$argon2id$v=19$m=16,t=2,p=1" + tail, false),  // exactly the cost
            ("$argon2id$v=19$m=17,t=3,p=8" + tail, false),  // above it, more lanes
            ("$argon2id$v=19$m=016,t=2,p=1" + tail, false),  // a leading zero reads as the same number
            ("$argon2id$v=19$m=15,t=2,p=1" + tail, true),  // less memory
            ("$argon2id$v=19$m=65536,t=1,p=1" + tail, true),  // fewer passes
            ("$argon2id$v=18$m=16,t=2,p=1" + tail, true),  // another version
            ("$argon2i$v=19$m=16,t=2,p=1" + tail, true),  // Argon2i
            ("$argon2id$v=19$m=16,t=2" + tail, true),  // no lanes
            ("$argon2id$v=19$m=,t=2,p=1" + tail, true),  // no memory
            ("$argon2id$v=19$m=16,t=+2,p=1" + tail, true),  // a sign
            ("$argon2id$v=19$m=16,t=2,t=9,p=1" + tail, true),  // passes given twice
            ("$argon2id$v=19$m=12345678901,t=2,p=1" + tail, true),  // eleven digits
            ("$argon2id$v=19$m=1\u{0666},t=2,p=1" + tail, true),  // a digit outside ASCII
            (Imported.werkzeugScrypt, true), (Imported.werkzeugPBKDF2, true), (Imported.bcrypt2b, true), ("", true)
        ]
        for (hash, legacy) in cases {
            try f.vault.store.unsafeExecute("UPDATE users SET password_hash = ? WHERE username = 'probe'", arguments: [hash])
            #expect(try appUser(f, "probe").legacyHash == legacy, "view: \(hash)")
            #expect(PasswordHash.isLegacy(hash, cost: cost) == legacy, "Swift: \(hash)")
        }
    }
}

@Suite struct AppUserImportTests {
    @Test func hashFormsAreCheckedAndClassified() throws {
        #expect(try PasswordHash.checkImported(Imported.bcrypt2b) == .bcrypt)
        #expect(try PasswordHash.checkImported(Imported.bcrypt2y) == .bcrypt)
        #expect(try PasswordHash.checkImported(Imported.argon2i) == .argon2i)
        #expect(try PasswordHash.checkImported(Imported.argon2idP4) == .argon2id)
        let bad = [
            "", "plain", "$1$abc$def", "$argon2d$v=19$m=8,t=1,p=1$QodfiifSNgpwSPaUf36ljw$1zqFCghJZZyrtSvdNFuY/L8tRXfv6KL/e7vjw7PKmuM",
            "$argon2id$v=19$garbage", "$argon2i$v=19$m=8,t=1,p=1$!!!$???",
            String(Imported.bcrypt2b.dropLast()),  // 59 characters
            Imported.bcrypt2b.replacingOccurrences(of: "$04$", with: "$03$"),  // cost below 4
            Imported.bcrypt2b.replacingOccurrences(of: "Xq", with: "X!"),  // outside bcrypt's alphabet
            Imported.bcrypt2b + " ", Imported.argon2idCurrent + "\u{0}x"
        ]
        for (i, h) in bad.enumerated() {
            #expect(throws: CryptoError.self, "bad hash #\(i) accepted") { _ = try PasswordHash.checkImported(h) }
        }
        #expect(!PasswordHash.isLegacy(Imported.argon2idCurrent, cost: .insecureMinimumForTests))
        // At or above the vault's cost (m=64 KiB, t=2, four lanes) is current: re-making it would weaken it.
        #expect(!PasswordHash.isLegacy(Imported.argon2idP4, cost: .insecureMinimumForTests))
        #expect(!PasswordHash.isLegacy(Imported.argon2idP4, cost: KDFCost(opslimit: 2, memlimit: 64 * 1024)))
        // Below it in either dimension is legacy.
        #expect(PasswordHash.isLegacy(Imported.argon2idP4, cost: KDFCost(opslimit: 3, memlimit: 64 * 1024)))
        #expect(PasswordHash.isLegacy(Imported.argon2idP4, cost: KDFCost(opslimit: 2, memlimit: 128 * 1024)))
        #expect(PasswordHash.isLegacy(Imported.argon2i, cost: .insecureMinimumForTests))
        #expect(PasswordHash.isLegacy(Imported.bcrypt2b, cost: .insecureMinimumForTests))
    }

    @Test func importKeepsHashesAsTheyAreAndFlagsLegacy() throws {
        let f = try realTimeFixture()
        let before = try f.admin.auditEvents().count
        let r = try f.admin.importAppUsers(
            [
                entry("bcrypt-b", Imported.bcrypt2b, line: 2), entry("bcrypt-y", Imported.bcrypt2y, line: 3),
                entry("argon-i", Imported.argon2i, line: 4), entry("argon-p4", Imported.argon2idP4, line: 5),
                entry("argon-cur", Imported.argon2idCurrent, roles: ["auditor"], line: 6)
            ], roles: ["user"])
        #expect(r.imported == 5)
        #expect(r.legacy == ["bcrypt": 2, "argon2i": 1])
        for (name, hash, legacy) in [
            ("bcrypt-b", Imported.bcrypt2b, true), ("argon-i", Imported.argon2i, true),
            ("argon-p4", Imported.argon2idP4, false), ("argon-cur", Imported.argon2idCurrent, false)
        ] {
            let row = try appUser(f, name)
            #expect(row.passwordHash == hash, "\(name): the hash must be stored exactly as given")
            #expect(row.legacyHash == legacy, "\(name)")
            #expect(row.active && !row.mustChange)
            let info = try f.admin.user(named: name)
            #expect(info.legacyHash == legacy)
            #expect(!info.hasKeyPair, "\(name): imported accounts get no key pair")
            #expect(info.email == "\(name)@example.com")
        }
        #expect(try f.admin.user(named: "bcrypt-b").passwordScheme == "bcrypt")
        #expect(try f.admin.user(named: "argon-i").passwordScheme == "argon2i")
        #expect(try appUser(f, "argon-cur").roles == ["auditor", "user"])
        #expect(try appUser(f, "bcrypt-y").roles == ["user"])
        // One event for the batch: count and digest, never a hash.
        let events = try f.admin.auditEvents().dropFirst(before).filter { $0.action == "user.import" }
        #expect(events.count == 1)
        #expect(events.first?.details.contains(#""count":5"#) == true)
        #expect(events.first?.details.contains(#""digest":""#) == true)
        #expect(events.first?.details.contains(#""legacy":3"#) == true)
        #expect(events.first?.details.contains("$2b$") == false)
        #expect(events.first?.details.contains("argon2") == false)
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func badEntriesAreNamedAndNothingIsWritten() throws {
        let f = try realTimeFixture()
        _ = try f.admin.createUser(username: "taken")
        let entries = [
            entry("good-one", Imported.bcrypt2b, line: 2),
            entry("x", Imported.bcrypt2b, line: 3),  // username too short
            AppUserEntry(username: "mail", email: "no-at-sign", passwordHash: Imported.bcrypt2b, origin: "line 4"),
            entry("badhash", "$argon2id$v=19$m=8,t=1,p=1$short", line: 5),
            entry("md5", "$1$saltsalt$hash", line: 6),
            entry("GOOD-ONE", Imported.argon2i, line: 7),  // twice, other case
            entry("Taken", Imported.argon2i, line: 8),  // already in the vault
            entry("norole", Imported.argon2i, roles: ["no-such-role"], line: 9),
            entry("good-two", Imported.argon2i, line: 10)
        ]
        let review = try f.admin.reviewAppUsers(entries)
        #expect(review.accepted.map(\.username) == ["good-one", "good-two"])
        #expect(review.rejected.map(\.origin) == (3...9).map { "line \($0)" })
        #expect(review.rejected.map(\.field) == ["username", "email", "password hash", "password hash", "username", "username", "roles"])
        #expect(review.rejected[2].message.contains("argon2id"))
        #expect(!review.rejected[2].message.contains("short"), "a message never quotes the hash")
        #expect(review.rejected[4].message.contains("given twice (first at line 2)"))
        #expect(review.rejected[5].message.contains("already exists"))

        let count = try f.vault.summary().users
        do {
            try f.admin.importAppUsers(entries)
            Issue.record("a bad entry must fail the import")
        } catch KeyholdError.invalid(let e) {
            #expect(e.message.hasPrefix("line 3: username:"))
            #expect(e.message.contains("and 6 more"))
        }
        #expect(try f.vault.summary().users == count, "nothing is written")

        let r = try f.admin.importAppUsers(entries, skipBad: true)
        #expect(r.imported == 2)
        #expect(r.rejected.count == 7)
        #expect(try f.vault.summary().users == count + 2)
    }

    @Test func rolesNeedRolesManageAndNoEscalation() throws {
        let f = try realTimeFixture()
        let helpdesk = try f.user("desk", roles: ["helpdesk"])
        // users.write alone: accounts without roles, yes; with roles, no.
        #expect(try helpdesk.importAppUsers([entry("plain", Imported.argon2i, line: 2)]).imported == 1)
        #expect(throws: KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)) {
            try helpdesk.importAppUsers([entry("withrole", Imported.argon2i, line: 2)], roles: ["user"])
        }
        #expect(throws: KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)) {
            try helpdesk.importAppUsers([entry("withrole", Imported.argon2i, roles: ["user"], line: 2)])
        }
        try f.admin.createRole("usermanager", permissions: [.usersRead, .usersWrite, .rolesManage])
        let manager = try f.user("manager", roles: ["usermanager"])
        #expect(throws: KeyholdError.self) {  // operator carries secrets.*, which the manager lacks
            try manager.importAppUsers([entry("escalate", Imported.argon2i, line: 2)], roles: ["operator"])
        }
        #expect(throws: KeyholdError.notFound(kind: "role", name: "ghost")) {
            try manager.importAppUsers([entry("ghosted", Imported.argon2i, line: 2)], roles: ["ghost"])
        }
        #expect(try manager.importAppUsers([entry("app-user", Imported.argon2i, line: 2)], roles: ["user"]).imported == 1)
        let auditor = try f.user("watcher", roles: ["auditor"])
        #expect(throws: KeyholdError.permissionDenied(action: "user.import", missing: .usersWrite)) {
            try auditor.importAppUsers([entry("nope", Imported.argon2i, line: 2)])
        }
    }

    @Test func oneTransactionAndEventPerBatch() throws {
        let f = try realTimeFixture()
        let entries = (1...5).map { entry("batch\($0)", Imported.bcrypt2b, line: $0 + 1) }
        let progress = ProgressLog()
        let r = try f.admin.importAppUsers(entries, batchSize: 2, progress: { done, total in progress.add(done, total) })
        #expect(r.imported == 5)
        #expect(progress.steps == ["2/5", "4/5", "5/5"])
        let events = try f.admin.auditEvents(AuditQuery(action: "user.import"))
        #expect(events.map { $0.details.contains(#""count":2"#) } == [true, true, false])
        #expect(events.last?.details.contains(#""count":1"#) == true)
    }

    @Test func checkWarnsAboutLegacyHashesWithoutAProblem() throws {
        let f = try realTimeFixture()
        #expect(try f.admin.check().warnings.isEmpty)
        try f.admin.importAppUsers([
            entry("old-b", Imported.bcrypt2b, line: 2), entry("old-i", Imported.argon2i, line: 3),
            entry("fresh", Imported.argon2idCurrent, line: 4)
        ])
        let report = try f.admin.check()
        #expect(report.ok)
        #expect(report.problems.isEmpty)
        #expect(report.warnings.count == 1)
        let w = try #require(report.warnings.first)
        #expect(w.area == "users")
        #expect(w.message.hasPrefix("2 users have legacy password hashes (1 argon2i, 1 bcrypt): old-b, old-i."))
        #expect(!w.message.contains("fresh"))
        // Without users.read, no names are shown.
        let auditorless = try f.user("lister", roles: ["user"])
        #expect(try auditorless.check().warnings.isEmpty)
    }
}

@Suite struct ImportedLoginTests {
    @Test func firstLoginCreatesAKeyPairAndKeepsACurrentHash() throws {
        let f = try realTimeFixture()
        try f.admin.importAppUsers([entry("fresh", Imported.argon2idCurrent, line: 2)])
        #expect(throws: KeyholdError.authenticationFailed) {
            _ = try f.vault.login(username: "fresh", password: pw("not the password"))
        }
        #expect(!(try f.admin.user(named: "fresh").hasKeyPair), "a wrong password makes no key pair")
        let s = try login(f, "fresh", Imported.password)
        #expect(!s.hasKeyAccess)
        let info = try f.admin.user(named: "fresh")
        #expect(info.hasKeyPair)
        #expect(info.failedLogins == 0)
        #expect(try appUser(f, "fresh").passwordHash == Imported.argon2idCurrent, "a current hash is kept")
        let event = try #require(try f.admin.auditEvents(AuditQuery(action: "login")).last)
        #expect(event.actor == "fresh" && event.signed)
        #expect(event.details.contains(#""key_pair":"created""#))
        // The second login opens the key pair made at the first.
        _ = try login(f, "fresh", Imported.password)
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func argon2AboveTheVaultsCostIsKeptAtLogin() throws {
        let f = try realTimeFixture()
        try f.admin.importAppUsers([entry("strong", Imported.argon2idP4, line: 2)])
        _ = try login(f, "strong", Imported.password)
        #expect(try appUser(f, "strong").passwordHash == Imported.argon2idP4, "a stronger hash is not re-made")
        #expect(!(try appUser(f, "strong").legacyHash))
        #expect(try f.admin.auditEvents(AuditQuery(action: "login")).last?.details.contains("rehashed") == false)
    }

    @Test func legacyArgon2IsRehashedAtFirstLogin() throws {
        let f = try realTimeFixture()
        // The vault's cost raised above the imported Argon2id's passes (t=2): it is now below the cost.
        try f.admin.updateSettings(kdf: KDFCost(opslimit: 3, memlimit: KDFCost.insecureMinimumForTests.memlimit))
        try f.admin.importAppUsers([entry("old-i", Imported.argon2i, line: 2), entry("old-p4", Imported.argon2idP4, line: 3)])
        for name in ["old-i", "old-p4"] {
            #expect(try appUser(f, name).legacyHash, "\(name)")
            _ = try login(f, name, Imported.password)
            let row = try appUser(f, name)
            #expect(!row.legacyHash, "\(name)")
            #expect(row.passwordHash.hasPrefix("$argon2id$v=19$m=8,t=3,p=1$"))
            #expect(try f.admin.user(named: name).passwordScheme == "argon2id")
            #expect(try f.admin.auditEvents(AuditQuery(action: "login")).last?.details.contains(#""rehashed":true"#) == true)
            _ = try login(f, name, Imported.password)  // the new hash verifies
        }
    }

    /// The key an imported account's first login makes is a request: the user is shown its
    /// fingerprint, the administrator approves that same fingerprint (nothing else seals it).
    @Test func importedAccountsKeyWaitsForAnApproval() throws {
        let f = try realTimeFixture()
        try f.admin.createSecret("app/token", .value(pw("value-for-imported-operator")))
        try f.admin.importAppUsers([entry("ops", Imported.argon2idCurrent, line: 2)], roles: ["operator"])
        #expect(try f.admin.user(named: "ops").keyAccess == .pending)
        let first = try login(f, "ops", Imported.password)
        #expect(!first.hasKeyAccess)
        let shown = try #require(first.pendingKeyFingerprint)
        #expect(try f.admin.auditEvents(AuditQuery(action: "login")).last?.details.contains(shown) == true)
        _ = try login(f, "admin", adminPassword)  // a key holder's login seals nothing
        #expect(try f.admin.user(named: "ops").keyAccess == .pending, "stays pending until an administrator approves it")
        let request = try #require(try f.admin.keyRequests().first { $0.username == "ops" })
        #expect(request.fingerprint == shown, "the administrator sees the fingerprint the user was shown")
        try f.admin.approveKeyRequest("ops", fingerprint: shown)
        #expect(try f.admin.user(named: "ops").keyAccess == .granted)
        let again = try login(f, "ops", Imported.password)
        #expect(again.hasKeyAccess)
        #expect(try again.reveal("app/token").utf8String() == "value-for-imported-operator")
    }

    /// Werkzeug's hashes (what Flask applications store) are imported as they are, verified by
    /// libsodium at login, and replaced by Argon2id at the vault's cost on the first success.
    @Test func werkzeugHashesVerifyAndAreReplacedAtFirstLogin() throws {
        let f = try realTimeFixture()
        let r = try f.admin.importAppUsers([
            entry("wz-scrypt", Imported.werkzeugScrypt, line: 2),
            entry("wz-pbkdf2", Imported.werkzeugPBKDF2, line: 3)
        ])
        #expect(r.legacy == ["scrypt": 1, "pbkdf2-sha256": 1])
        #expect(try f.admin.user(named: "wz-scrypt").passwordScheme == "scrypt")
        #expect(try f.admin.user(named: "wz-pbkdf2").passwordScheme == "pbkdf2-sha256")
        for (name, hash) in [("wz-scrypt", Imported.werkzeugScrypt), ("wz-pbkdf2", Imported.werkzeugPBKDF2)] {
            #expect(try appUser(f, name).legacyHash)
            // A wrong password fails, is counted, and leaves the hash as it was.
            #expect(throws: KeyholdError.authenticationFailed) {
                _ = try f.vault.login(username: name, password: pw("imported password 43"))
            }
            #expect(try f.admin.user(named: name).failedLogins == 1)
            #expect(try appUser(f, name).passwordHash == hash)
            // The right one passes and replaces it.
            _ = try login(f, name, Imported.password)
            let row = try appUser(f, name)
            #expect(row.passwordHash.hasPrefix(PasswordHash.currentPrefix(cost: .insecureMinimumForTests)))
            #expect(!row.legacyHash)
            #expect(try f.admin.user(named: name).failedLogins == 0)
            let event = try #require(try f.admin.auditEvents(AuditQuery(action: "login")).last)
            #expect(event.details.contains(#""rehashed":true"#) && event.details.contains(#""key_pair":"created""#))
            #expect(!event.details.contains("scrypt") && !event.details.contains("pbkdf2"))
            _ = try login(f, name, Imported.password)  // the new hash and key pair open
        }
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func bcryptLoginIsRefusedWithAClearMessage() throws {
        let f = try realTimeFixture()
        try f.admin.importAppUsers([entry("legacy", Imported.bcrypt2b, line: 2)])
        for password in [Imported.password, "anything else at all"] {
            #expect(throws: KeyholdError.refused(Session.bcryptLoginRefusal)) {
                _ = try f.vault.login(username: "legacy", password: pw(password))
            }
        }
        #expect("\(KeyholdError.refused(Session.bcryptLoginRefusal))".contains("legacy bcrypt hash: the application can still verify it"))
        let info = try f.admin.user(named: "legacy")
        #expect(info.failedLogins == 0, "no password was checked, so nothing is counted")
        #expect(!info.hasKeyPair)
        #expect(try appUser(f, "legacy").active, "the application may still log the user in")
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused")).last
        #expect(refused?.details == #"{"reason":"legacy bcrypt hash"}"#)
        #expect(refused?.signed == false)
        // An administrator's reset moves the account to Argon2id (with a temporary password).
        let temp = try f.admin.resetPassword("legacy")
        guard case .mustChangePassword(let change) = try f.vault.login(username: "legacy", password: temp) else {
            Issue.record("expected a forced change"); return
        }
        _ = try change.complete(newPassword: pw("a brand new passphrase"))
        #expect(!(try appUser(f, "legacy").legacyHash))
        #expect(try f.admin.user(named: "legacy").passwordScheme == "argon2id")
    }
}

/// Progress calls, in order.
private final class ProgressLog: @unchecked Sendable {
    private let lock = NSLock()
    private var log: [String] = []
    func add(_ done: Int, _ total: Int) { lock.withLock { log.append("\(done)/\(total)") } }
    var steps: [String] { lock.withLock { log } }
}

/// The log says every role an imported account was given, those of its own entry too: the replay
/// of who may sign (docs/FORMAT.md 8.6) must know them, or an honest vault fails verification.
@Suite struct ImportedRolesInTheLogTests {
    @Test func anImportedHelpdeskMayCreateUsersAndTheLogSaysSo() throws {
        let f = try realTimeFixture()
        try f.admin.importAppUsers([
            entry("helper", Imported.argon2idCurrent, roles: ["helpdesk"], line: 2),
            entry("plain", Imported.argon2idCurrent, line: 3)
        ])
        let event = try #require(try f.admin.auditEvents(AuditQuery(action: "user.import")).last)
        #expect(event.details.contains(#""user_roles":["#) && event.details.contains(":helpdesk"))
        let helper = try login(f, "helper", Imported.password)
        _ = try helper.createUser(username: "made-by-helper")
        let v = try f.admin.verifyAudit()
        #expect(v.ok, "\(v.failure.map { "event \($0.seq): \($0.reason)" } ?? "")")
        #expect(try f.admin.check().problems.isEmpty)
    }
}
