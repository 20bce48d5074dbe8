import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore
import KeyholdCrypto

// What the application service asks of the vault (docs/APPLICATIONS.md, "The application
// service"): Keyhold's own login and own password change, marked "via": "app".

private func events(_ f: Fixture, after count: Int) throws -> [AuditEvent] { Array(try f.admin.auditEvents().dropFirst(count)) }

private func failedLogins(_ f: Fixture, _ name: String) throws -> Int { try f.admin.user(named: name).failedLogins }

@Suite struct ApplicationLoginTests {
    @Test func rightPasswordIsALoginMarkedApp() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        let before = try f.admin.auditEvents().count
        let account = try f.vault.applicationLogin(username: "CAROL", password: pw(userPassword))
        #expect(account.username == "carol" && !account.mustChange)
        #expect(account.userID == (try f.admin.user(named: "carol").id))
        let new = try events(f, after: before)
        #expect(new.map(\.action) == ["login"])
        #expect(new.first?.details.contains(#""via":"app""#) == true && new.first?.signed == true)
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func keyholdsOwnLoginsSayNoOrigin() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        let before = try f.admin.auditEvents().count
        _ = try f.login("carol", userPassword)
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.login(username: "carol", password: pw("not it at all")) }
        #expect(try events(f, after: before).allSatisfy { !$0.details.contains("via") })
    }

    /// One lockout whatever the origin: failures through the application and through Keyhold
    /// count together, and a locked account is refused alike by both.
    @Test func failuresCountTowardOneLockout() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        for _ in 0..<3 {
            #expect(throws: KeyholdError.authenticationFailed) {
                _ = try f.vault.applicationLogin(username: "carol", password: pw("a wrong guess 1"))
            }
        }
        #expect(try failedLogins(f, "carol") == 3)
        for _ in 0..<2 {
            #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.login(username: "carol", password: pw("a wrong guess 2")) }
        }
        #expect(try failedLogins(f, "carol") == 5)
        #expect(try f.admin.user(named: "carol").status(at: f.clock.now) == "locked-out")
        // Locked out: the right password gets the same answer, from the application and from Keyhold.
        #expect(throws: KeyholdError.authenticationFailed) {
            _ = try f.vault.applicationLogin(username: "carol", password: pw(userPassword))
        }
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.login(username: "carol", password: pw(userPassword)) }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused"))
        #expect(refused.contains { $0.details.contains(#""reason":"locked""#) && $0.details.contains(#""via":"app""#) })
        // Once the lockout ends, the application's login succeeds and forgives the count.
        f.clock.advance(Clock.hour)
        _ = try f.vault.applicationLogin(username: "carol", password: pw(userPassword))
        #expect(try failedLogins(f, "carol") == 0)
    }

    @Test func failuresAreAuditedWithTheirOriginAndNoPassword() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        _ = try f.user("dora", roles: ["user"])
        try f.admin.disableUser("dora")
        let before = try f.admin.auditEvents().count
        let guesses = ["guessing carol once", "nobody's password 9", "dora's real one?"]
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.applicationLogin(username: "carol", password: pw(guesses[0])) }
        #expect(throws: KeyholdError.authenticationFailed) {
            _ = try f.vault.applicationLogin(username: "nobody", password: pw(guesses[1]))
        }
        #expect(throws: KeyholdError.disabled(username: "dora")) {
            _ = try f.vault.applicationLogin(username: "dora", password: pw(userPassword))
        }
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.applicationLogin(username: "dora", password: pw(guesses[2])) }
        let new = try events(f, after: before)
        #expect(new.map(\.action) == ["login.failed", "login.failed", "login.refused", "login.failed"])
        #expect(new.allSatisfy { $0.details.contains(#""via":"app""#) })
        let all = try f.admin.auditEvents().map(\.details).joined(separator: "\n")
        for p in guesses + [userPassword] { #expect(!all.contains(p), "a password reached the audit log") }
    }

    @Test func malformedInputWritesNothing() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        let before = try f.admin.auditEvents().count
        for name in ["", "no", "carol has spaces", String(repeating: "x", count: 33), "a password typed here!"] {
            do {
                _ = try f.vault.applicationLogin(username: name, password: pw(userPassword))
                Issue.record("\(name) accepted")
            } catch KeyholdError.invalid(let v) {
                #expect(v.field == "username")
                #expect(name.isEmpty || !v.message.contains(name), "the message repeats what was sent")
            }
        }
        #expect(throws: KeyholdError.self) { _ = try f.vault.applicationLogin(username: "carol", password: pw("")) }
        #expect(throws: KeyholdError.self) {
            _ = try f.vault.applicationLogin(username: "carol", password: pw(String(repeating: "p", count: Validate.passwordMaxBytes + 1)))
        }
        #expect(try f.admin.auditEvents().count == before)
        #expect(try failedLogins(f, "carol") == 0)
    }

    /// A legacy hash is replaced at a successful login through the application, as at Keyhold's own.
    @Test func legacyHashIsUpgradedOnAnApplicationLogin() throws {
        let f = try Fixture()
        try f.admin.importAppUsers([
            AppUserEntry(username: "ivy", passwordHash: Imported.argon2i, origin: "line 2"),
            AppUserEntry(username: "wes", passwordHash: Imported.werkzeugPBKDF2, origin: "line 3")
        ])
        for name in ["ivy", "wes"] {
            #expect(throws: KeyholdError.authenticationFailed) {
                _ = try f.vault.applicationLogin(username: name, password: pw("imported password 43"))
            }
            #expect(try f.admin.user(named: name).legacyHash, "a failed login upgrades nothing")
            _ = try f.vault.applicationLogin(username: name, password: pw(Imported.password))
            #expect(!(try f.admin.user(named: name).legacyHash))
            #expect(try f.admin.user(named: name).passwordScheme == "argon2id")
            let login = try #require(try f.admin.auditEvents(AuditQuery(action: "login")).last)
            #expect(login.details.contains(#""rehashed":true"#) && login.details.contains(#""via":"app""#))
        }
    }

    @Test func bcryptIsRefusedUncounted() throws {
        let f = try Fixture()
        try f.admin.importAppUsers([AppUserEntry(username: "bert", passwordHash: Imported.bcrypt2b, origin: "line 2")])
        #expect(throws: KeyholdError.refused(Session.bcryptLoginRefusal)) {
            _ = try f.vault.applicationLogin(username: "bert", password: pw(Imported.password))
        }
        #expect(try failedLogins(f, "bert") == 0)
    }
}

@Suite struct ApplicationPasswordChangeTests {
    private func temporaryAccount(_ f: Fixture, _ name: String) throws -> SecureBytes {
        try f.admin.createUser(username: name, roles: ["user"]).1
    }

    @Test func mustChangeIsAnsweredThenClearedByAChange() throws {
        let f = try Fixture()
        let temp = try temporaryAccount(f, "newt")
        let account = try f.vault.applicationLogin(username: "newt", password: temp)
        #expect(account.mustChange)
        let before = try f.admin.auditEvents().count
        let changed = try f.vault.applicationChangePassword(username: "newt", current: temp, new: pw("salt marsh at low tide"))
        #expect(!changed.mustChange)
        #expect(!(try f.admin.user(named: "newt").mustChangePassword))
        let new = try events(f, after: before)
        #expect(new.map(\.action) == ["login", "password.change"])
        #expect(new.allSatisfy { $0.details.contains(#""via":"app""#) && $0.signed })
        #expect(new.last?.details.contains(#""forced":true"#) == true)
        // The new password opens the account, and its key pair (re-sealed under it), in Keyhold too.
        _ = try f.login("newt", "salt marsh at low tide")
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.login(username: "newt", password: temp) }
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func ownPasswordChangeNeedsTheCurrentOneAndCountsAWrongOne() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        let before = try f.admin.auditEvents().count
        #expect(throws: KeyholdError.authenticationFailed) {
            _ = try f.vault.applicationChangePassword(
                username: "carol", current: pw("not the current one"), new: pw("salt marsh at low tide"))
        }
        #expect(try failedLogins(f, "carol") == 1)
        #expect(try events(f, after: before).map(\.action) == ["login.failed"])
        _ = try f.login("carol", userPassword)  // unchanged
        let account = try f.vault.applicationChangePassword(username: "carol", current: pw(userPassword), new: pw("salt marsh at low tide"))
        #expect(!account.mustChange)
        _ = try f.login("carol", "salt marsh at low tide")
        let change = try #require(try f.admin.auditEvents(AuditQuery(action: "password.change")).last)
        #expect(change.details.contains(#""forced":false"#) && change.details.contains(#""via":"app""#))
    }

    /// A new password the policy refuses (or the current one again) is refused before the current
    /// one is checked: nothing is written, nothing counted.
    @Test func refusedNewPasswordWritesNothing() throws {
        let f = try Fixture()
        _ = try f.user("carol", roles: ["user"])
        let before = try f.admin.auditEvents().count
        let cases: [(String, String)] = [
            ("short", "length"), ("password1234", "common"), ("carol's long password", "username"),
            (userPassword, "unchanged"), ("", "required")
        ]
        for (new, rule) in cases {
            do {
                _ = try f.vault.applicationChangePassword(username: "carol", current: pw(userPassword), new: pw(new))
                Issue.record("\(rule): accepted")
            } catch KeyholdError.invalid(let v) {
                #expect(v.field == "new password", "\(rule)")
                #expect(v.rule.rawValue == rule || (rule == "username" && v.rule.rawValue.contains("username")), "\(v.rule) for \(rule)")
                #expect(new.isEmpty || !v.message.contains(new))
            }
        }
        #expect(try f.admin.auditEvents().count == before)
        #expect(try failedLogins(f, "carol") == 0)
        _ = try f.login("carol", userPassword)
    }
}
