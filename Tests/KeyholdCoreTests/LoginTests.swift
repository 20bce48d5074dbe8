import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// Login, lockout, account states, temporary passwords, rehash on login and
// password change. Every vault here uses the cheap KDF through Fixture (an
// explicit test choice); nothing prints a password.

// MARK: - Helpers

/// The session of a login that must yield one; records an issue otherwise.
private func session(_ result: LoginResult, sourceLocation: SourceLocation = #_sourceLocation) -> Session? {
    guard case .session(let s) = result else {
        Issue.record("expected a session, got a forced password change", sourceLocation: sourceLocation)
        return nil
    }
    return s
}

/// The forced change of a login that must yield one; records an issue otherwise.
private func forcedChange(_ result: LoginResult, sourceLocation: SourceLocation = #_sourceLocation) -> PasswordChange? {
    guard case .mustChangePassword(let c) = result else {
        Issue.record("expected a forced password change, got a session", sourceLocation: sourceLocation)
        return nil
    }
    return c
}

/// The field named by the `.invalid` error `body` throws (nil, and an issue, for anything else).
private func invalidField(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> String? {
    do {
        try body()
        Issue.record("expected KeyholdError.invalid, nothing was thrown", sourceLocation: sourceLocation)
    } catch KeyholdError.invalid(let e) {
        return e.field
    } catch {
        Issue.record("expected KeyholdError.invalid, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// Whether `needle` occurs in any column of any audit row (text as UTF-8, blobs as bytes).
/// Only says yes or no: the rows themselves are never printed.
private func auditContains(_ f: Fixture, _ needle: String) throws -> Bool {
    let bytes = Array(needle.utf8)
    precondition(!bytes.isEmpty)
    func holds(_ haystack: [UInt8]) -> Bool {
        guard haystack.count >= bytes.count else { return false }
        for i in 0...(haystack.count - bytes.count) where haystack[i] == bytes[0] {
            if Array(haystack[i..<(i + bytes.count)]) == bytes { return true }
        }
        return false
    }
    for row in try f.vault.store.unsafeQuery("SELECT * FROM audit_events") {
        for (_, value) in row {
            switch value {
            case let s as String: if holds(Array(s.utf8)) { return true }
            case let b as [UInt8]: if holds(b) { return true }
            case let i as Int64: if holds(Array(String(i).utf8)) { return true }
            default: continue
            }
        }
    }
    return false
}

/// Expects none of `typed` in the audit log. Failures name the index, never the value.
private func expectNotInAudit(_ f: Fixture, _ typed: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
    for (i, value) in typed.enumerated() {
        let found = try auditContains(f, value)
        #expect(!found, "typed value #\(i) appears in the audit log", sourceLocation: sourceLocation)
    }
}

/// One text column of the single row `sql` returns.
private func text(_ f: Fixture, _ sql: String, _ arguments: [(any Sendable)?] = [], column: String) throws -> String? {
    try f.vault.store.unsafeQuery(sql, arguments: arguments).first?[column] as? String
}

/// One integer column of the single row `sql` returns.
private func int(_ f: Fixture, _ sql: String, _ arguments: [(any Sendable)?] = [], column: String) throws -> Int64? {
    try f.vault.store.unsafeQuery(sql, arguments: arguments).first?[column] as? Int64
}

private func failedLogins(_ f: Fixture, _ name: String) throws -> Int64? {
    try int(f, "SELECT failed_logins FROM users WHERE username = ?", [name], column: "failed_logins")
}

private func lockedUntil(_ f: Fixture, _ name: String) throws -> Int64? {
    try int(f, "SELECT locked_until FROM users WHERE username = ?", [name], column: "locked_until")
}

private let wrongPassword = "not the right one at all 42"

@Suite struct LoginTests {

    // MARK: Success and failure

    @Test func rightPasswordYieldsSessionAndIsAuditedSigned() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["operator"])
        let result = try f.vault.login(username: "bob", password: pw(userPassword))
        let s = try #require(session(result))
        #expect(s.username == "bob")
        #expect(s.hasKeyAccess)
        let logins = try f.admin.auditEvents(AuditQuery(action: "login", target: "user:bob"))
        #expect(logins.count == 2)  // the forced change's login and this one
        #expect(logins.allSatisfy { $0.signed })
        // Username lookup ignores case; the session carries the stored name.
        let upper = try #require(session(try f.vault.login(username: "BOB", password: pw(userPassword))))
        #expect(upper.username == "bob")
    }

    @Test func wrongPasswordAndUnknownUserFailAlikeAndAreAuditedUnsigned() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["operator"])
        let typedForBob = "bob typed this wrong 7731"
        let typedForGhost = "ghost typed this 9921 too"

        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(typedForBob))
        }
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "ghost", password: pw(typedForGhost))
        }
        // The same message, so a caller cannot tell which was wrong.
        #expect(KeyholdError.authenticationFailed.description.contains("unknown username, wrong password, or an account locked"))

        let failed = try f.admin.auditEvents(AuditQuery(action: "login.failed"))
        #expect(failed.count == 2)
        #expect(failed.allSatisfy { !$0.signed })
        let bob = try #require(failed.first { $0.target == "user:bob" })
        #expect(bob.actor == "bob")
        #expect(bob.details == #"{"reason":"wrong password"}"#)
        let ghost = try #require(failed.first { $0.target == "user:ghost" })
        #expect(ghost.actor == "ghost")
        #expect(ghost.details == #"{"reason":"unknown user"}"#)

        // Unsigned rows carry neither key nor signature, and no actor id for the unknown user.
        let rows = try f.vault.store.unsafeQuery(
            "SELECT actor_id, actor_key_id, signature FROM audit_events WHERE action = 'login.failed' ORDER BY seq")
        #expect(rows.count == 2)
        for r in rows {
            #expect(r["actor_key_id", default: nil] == nil)
            #expect(r["signature", default: nil] == nil)
        }
        #expect(rows[0]["actor_id", default: nil] != nil)  // bob exists
        #expect(rows[1]["actor_id", default: nil] == nil)  // ghost does not

        // No typed password anywhere in the log, in any column.
        try expectNotInAudit(f, [typedForBob, typedForGhost, userPassword, adminPassword])
        // The scan itself finds what is there (so the checks above can fail).
        #expect(try auditContains(f, "wrong password"))
        #expect(try f.admin.verifyAudit().ok)
    }

    // MARK: Lockout

    @Test func lockoutDelaysGrowFromOneMinuteToAnHour() {
        for n in 0..<Vault.freeLoginFailures { #expect(Vault.lockoutDelay(afterFailures: n) == nil) }
        let minutes: [Int64] = [1, 2, 4, 8, 16, 32, 60, 60, 60]
        for (i, m) in minutes.enumerated() {
            #expect(Vault.lockoutDelay(afterFailures: Vault.freeLoginFailures + i) == m * Clock.minute)
        }
        #expect(Vault.lockoutDelay(afterFailures: 1_000_000) == Vault.maxLockout)
        #expect(Vault.maxLockout == Clock.hour)
    }

    @Test func fiveFailuresThenLockedWithGrowingDelays() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        #expect(Vault.freeLoginFailures == 5)

        // Five wrong passwords are each checked and refused as wrong.
        for i in 1...5 {
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
            #expect(try failedLogins(f, "bob") == Int64(i))
        }
        // Now locked: even the right password is refused, and that is audited.
        var until = f.clock.now + Clock.minute
        #expect(try lockedUntil(f, "bob") == until)
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(userPassword))
        }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:bob"))
        #expect(refused.count == 1)
        #expect(refused.first?.details == #"{"reason":"locked"}"#)
        #expect(refused.first?.signed == false)
        // A refused attempt does not count as another failure.
        #expect(try failedLogins(f, "bob") == 5)

        // Each further failure after a lock expires doubles the delay, up to an hour.
        for minutes in [2, 4, 8, 16, 32, 60, 60] as [Int64] {
            f.clock.advance(until - f.clock.now - 1)  // one millisecond short
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(userPassword))
            }
            f.clock.advance(1)
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
            until = f.clock.now + minutes * Clock.minute
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(userPassword))
            }
        }
        #expect(try failedLogins(f, "bob") == 12)

        // Once the delay has passed the right password works and clears the count.
        f.clock.advance(until - f.clock.now)
        let s = try #require(session(try f.vault.login(username: "bob", password: pw(userPassword))))
        #expect(s.username == "bob")
        #expect(try failedLogins(f, "bob") == 0)
        #expect(try lockedUntil(f, "bob") == nil)
        #expect(try f.admin.user(named: "bob").failedLogins == 0)
        #expect(try f.admin.verifyAudit().ok)
    }

    @Test func lockoutStateSurvivesReopeningTheVault() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        for _ in 1...5 {
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
        }
        let reopened = try Vault.open(at: f.vault.path, options: f.vault.options)
        #expect(throws: KeyholdError.authenticationFailed) {
            try reopened.login(username: "bob", password: pw(userPassword))
        }
        f.clock.advance(Clock.minute)
        let s = try #require(session(try reopened.login(username: "bob", password: pw(userPassword))))
        #expect(s.username == "bob")
        #expect(try failedLogins(f, "bob") == 0)
    }

    @Test func failuresAreConsecutiveOnly() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        for _ in 1...4 {
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
        }
        _ = try f.login("bob", userPassword)
        #expect(try failedLogins(f, "bob") == 0)
        for _ in 1...4 {
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
        }
        // Eight failures in all, but never five in a row: not locked.
        _ = try f.login("bob", userPassword)
    }

    /// A wrong current password given to change one's own password counts as a failed login:
    /// counted, audited as `login.failed`, and after the free failures the account is locked out,
    /// so that a session left open cannot be used to guess the password faster than a login.
    @Test func aWrongCurrentPasswordCountsTowardTheLockout() throws {
        let f = try Fixture()
        let bob = try f.user("bob", roles: ["operator"])
        for n in 1...Vault.freeLoginFailures {
            #expect(throws: KeyholdError.authenticationFailed) {
                try bob.changePassword(current: pw(wrongPassword), new: pw("mauve otters juggle quietly"))
            }
            #expect(try failedLogins(f, "bob") == Int64(n))
        }
        let failed = try f.admin.auditEvents(AuditQuery(action: "login.failed", target: "user:bob"))
        #expect(failed.count == Vault.freeLoginFailures)
        #expect(failed.allSatisfy { $0.details == #"{"reason":"wrong password"}"# })
        // Locked out now: even the right password is refused, at login and for a change (audited as refused).
        #expect(throws: KeyholdError.authenticationFailed) {
            try bob.changePassword(current: pw(userPassword), new: pw("mauve otters juggle quietly"))
        }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:bob"))
        #expect(refused.map(\.details) == [#"{"reason":"locked"}"#])
        #expect(throws: KeyholdError.authenticationFailed) { _ = try f.vault.login(username: "bob", password: pw(userPassword)) }
        // A weak new password is refused before the current one is checked: nothing written.
        let events = try f.admin.auditEvents(AuditQuery()).count
        #expect(throws: KeyholdError.self) { try bob.changePassword(current: pw(wrongPassword), new: pw("short")) }
        #expect(try f.admin.auditEvents(AuditQuery()).count == events)
    }

    @Test func guessingIsBoundedToAHundredChecksPerHour() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        let start = f.clock.now
        let interval = 10 * Clock.second
        let attempts = Int(3 * Clock.hour / interval)  // 1,080
        var refusedByLock = 0, checked = 0
        for _ in 0..<attempts {
            // Checked or refused by the lockout, the answer is the same; the log tells them apart.
            let failedBefore = try failedLogins(f, "bob") ?? 0
            #expect(throws: KeyholdError.authenticationFailed) {
                _ = try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
            if try failedLogins(f, "bob") ?? 0 > failedBefore { checked += 1 } else { refusedByLock += 1 }
            f.clock.advance(interval)
        }
        #expect(checked + refusedByLock == attempts)

        // What the log says got through: the wrong-password failures, by time.
        let through = try f.admin.auditEvents(AuditQuery(action: "login.failed", target: "user:bob"))
            .filter { $0.details == #"{"reason":"wrong password"}"# }.map(\.at)
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:bob"))
        #expect(through.count == checked)
        #expect(refused.count == refusedByLock)
        #expect(refused.allSatisfy { $0.details == #"{"reason":"locked"}"# })
        #expect(through.allSatisfy { $0 >= start && $0 < start + 3 * Clock.hour })

        // Every sliding one-hour window (starting at any attempt) holds at most 100 checks.
        var worst = 0
        var t = start
        while t < start + 3 * Clock.hour {
            let n = through.filter { $0 >= t && $0 < t + Clock.hour }.count
            worst = max(worst, n)
            t += interval
        }
        #expect(worst <= 100, "at most 100 password checks in any hour (worst window: \(worst))")
        // The schedule itself: 5 free, then 1, 2, 4, 8, 16, 32 and 60 minutes apart.
        #expect(worst >= Vault.freeLoginFailures)
        #expect(checked < 20)
        #expect(refusedByLock > 1000)
        #expect(try f.admin.verifyAudit().ok)
    }

    // MARK: Account states

    @Test func adminLockRefusesEvenTheRightPassword() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        try f.admin.lockUser("bob")
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(userPassword))
        }
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(wrongPassword))
        }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:bob"))
        #expect(refused.count == 2)
        #expect(refused.allSatisfy { !$0.signed })
        try f.admin.unlockUser("bob")
        _ = try f.login("bob", userPassword)
    }

    @Test func unlockUserClearsAFailureLockout() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        for _ in 1...5 {
            #expect(throws: KeyholdError.authenticationFailed) {
                try f.vault.login(username: "bob", password: pw(wrongPassword))
            }
        }
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(userPassword))
        }
        let info = try f.admin.user(named: "bob")
        #expect(info.status(at: f.clock.now) == "locked-out")
        #expect(info.failedLogins == 5)
        try f.admin.unlockUser("bob")
        #expect(try failedLogins(f, "bob") == 0)
        #expect(try lockedUntil(f, "bob") == nil)
        _ = try f.login("bob", userPassword)  // no time has passed
    }

    @Test func disabledIsRevealedOnlyToTheRightPassword() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        try f.admin.disableUser("bob")
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(wrongPassword))
        }
        #expect(throws: KeyholdError.disabled(username: "bob")) {
            try f.vault.login(username: "bob", password: pw(userPassword))
        }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:bob"))
        #expect(refused.map(\.details) == [#"{"reason":"disabled"}"#])
        try f.admin.enableUser("bob")
        _ = try f.login("bob", userPassword)
    }

    @Test func expiredAccountsAreRefused() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["helpdesk"])
        _ = try f.user("carol", roles: ["helpdesk"], password: "lilac giraffes hum softly")

        // Expiry set in the past.
        try f.admin.setExpiry("bob", at: f.clock.now - 1)
        #expect(throws: KeyholdError.expired(username: "bob")) {
            try f.vault.login(username: "bob", password: pw(userPassword))
        }
        #expect(throws: KeyholdError.authenticationFailed) {
            try f.vault.login(username: "bob", password: pw(wrongPassword))
        }
        // Expiry in the future, then the clock passes it.
        try f.admin.setExpiry("carol", at: f.clock.now + Clock.hour)
        let early = try f.login("carol", "lilac giraffes hum softly")
        f.clock.advance(Clock.hour)
        #expect(throws: KeyholdError.expired(username: "carol")) {
            try f.vault.login(username: "carol", password: pw("lilac giraffes hum softly"))
        }
        // A session opened before the expiry ends with it.
        #expect(throws: KeyholdError.sessionEnded("carol has expired")) { try early.users() }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused"))
        #expect(refused.map(\.details) == [#"{"reason":"expired"}"#, #"{"reason":"expired"}"#])
        // Clearing the expiry lets them in again.
        try f.admin.setExpiry("carol", at: nil)
        _ = try f.login("carol", "lilac giraffes hum softly")
    }

    // MARK: Temporary passwords

    @Test func temporaryPasswordMustBeChangedToAGoodNewOne() throws {
        let f = try Fixture()
        let (info, temp) = try f.admin.createUser(username: "tina", roles: ["operator"])
        #expect(info.mustChangePassword)
        #expect(temp.count == Session.temporaryPasswordLength)
        let tempText = try #require(temp.utf8String())
        try expectNotInAudit(f, [tempText])

        let change = try #require(forcedChange(try f.vault.login(username: "tina", password: temp)))
        #expect(change.username == "tina")
        for weak in ["short1", "qwerty123456", "tina-likes-long-walks", String(repeating: "x", count: 1025)] {
            #expect(invalidField { _ = try change.complete(newPassword: pw(weak)) } == "password")
        }
        // The temporary password itself is not a new password.
        #expect(invalidField { _ = try change.complete(newPassword: temp) } == "new password")
        // Still forced: the temporary password still works and still demands a change.
        #expect(forcedChange(try f.vault.login(username: "tina", password: temp)) != nil)

        let s = try change.complete(newPassword: pw(userPassword))
        #expect(s.hasKeyAccess)
        let after = try f.admin.user(named: "tina")
        #expect(!after.mustChangePassword)
        #expect(try int(f, "SELECT password_expires_at FROM users WHERE username = 'tina'", column: "password_expires_at") == nil)
        #expect(throws: KeyholdError.authenticationFailed) { try f.vault.login(username: "tina", password: temp) }
        _ = try f.login("tina", userPassword)
        try expectNotInAudit(f, [tempText, userPassword])
    }

    @Test func temporaryPasswordExpiresAfterADay() throws {
        let f = try Fixture()
        let (_, temp) = try f.admin.createUser(username: "tina", roles: ["helpdesk"])
        f.clock.advance(Clock.day - 1)
        #expect(forcedChange(try f.vault.login(username: "tina", password: temp)) != nil)
        f.clock.advance(1)
        #expect(throws: KeyholdError.temporaryPasswordExpired(username: "tina")) {
            try f.vault.login(username: "tina", password: temp)
        }
        let refused = try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:tina"))
        #expect(refused.map(\.details) == [#"{"reason":"temporary password expired"}"#])
        // A reset issues a fresh one that works.
        let fresh = try f.admin.resetPassword("tina")
        #expect(forcedChange(try f.vault.login(username: "tina", password: fresh)) != nil)
    }

    // MARK: KDF cost

    @Test func raisedKDFCostRehashesAtNextLogin() throws {
        let f = try Fixture()
        _ = try f.user("bob", roles: ["operator"])
        try f.admin.createSecret("app/db", .value(pw("value-for-rehash-test")))
        let hashSQL = "SELECT password_hash FROM users WHERE username = 'bob'"
        let keySQL =
            "SELECT k.kdf_opslimit, k.kdf_memlimit, k.kdf_salt FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.username = 'bob'"
        let minimum = KDFCost.insecureMinimumForTests
        // The PHC string's algorithm and parameter fields (never the salt or hash, which are not shown).
        func phcParameters() throws -> String? {
            try text(f, hashSQL, column: "password_hash").map { $0.split(separator: "$").prefix(3).joined(separator: "$") }
        }
        let hashBefore = try text(f, hashSQL, column: "password_hash")
        #expect(try phcParameters() == "argon2id$v=19$m=\(minimum.memlimit / 1024),t=\(minimum.opslimit),p=1")

        let raised = KDFCost(opslimit: 2, memlimit: 8 * 1024 * 1024)
        #expect(raised.isAtLeast(minimum) && raised != minimum)
        try f.admin.updateSettings(kdf: raised)
        #expect(try f.vault.facts().kdf == raised)
        // Nothing changes until the user logs in.
        let unchanged = try text(f, hashSQL, column: "password_hash") == hashBefore
        #expect(unchanged)

        let s = try f.login("bob", userPassword)
        let hashAfter = try text(f, hashSQL, column: "password_hash")
        #expect(try phcParameters() == "argon2id$v=19$m=8192,t=2,p=1")
        let key = try #require(try f.vault.store.unsafeQuery(keySQL).first)
        #expect(key["kdf_opslimit", default: nil] as? Int64 == Int64(raised.opslimit))
        #expect(key["kdf_memlimit", default: nil] as? Int64 == Int64(raised.memlimit))
        let login = try f.admin.auditEvents(AuditQuery(action: "login", target: "user:bob", newestFirst: true)).first
        #expect(login?.details.contains(#""rehashed":true"#) == true)
        // The re-sealed key still opens and still holds the grant.
        #expect(s.hasKeyAccess)
        #expect(try s.reveal("app/db").utf8String() == "value-for-rehash-test")
        let again = try f.login("bob", userPassword)
        #expect(try again.reveal("app/db").utf8String() == "value-for-rehash-test")
        let rehashedOnce = try text(f, hashSQL, column: "password_hash") == hashAfter
        #expect(rehashedOnce)  // no second rehash

        // Lowering the cost, in either dimension, is refused.
        for lower in [minimum, KDFCost(opslimit: 1, memlimit: raised.memlimit), KDFCost(opslimit: 3, memlimit: 1024 * 1024)] {
            #expect(invalidField { try f.admin.updateSettings(kdf: lower) } == "kdf")
        }
        #expect(try f.vault.facts().kdf == raised)
    }

    // MARK: Own password

    @Test func changingOwnPasswordNeedsTheCurrentOneAndKeepsKeyAccess() throws {
        let f = try Fixture()
        let bob = try f.user("bob", roles: ["operator"])
        try f.admin.createSecret("app/token", .value(pw("value-for-change-test")))
        let keyBefore = try #require(
            try f.vault.store.unsafeQuery(
                "SELECT k.id, k.public_key, k.sealed_secret_key, k.kdf_salt FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.username = 'bob'"
            ).first)

        let newPassword = "mauve otters juggle quietly"
        #expect(throws: KeyholdError.authenticationFailed) {
            try bob.changePassword(current: pw(wrongPassword), new: pw(newPassword))
        }
        #expect(invalidField { try bob.changePassword(current: pw(userPassword), new: pw(userPassword)) } == "new password")
        #expect(invalidField { try bob.changePassword(current: pw(userPassword), new: pw("qwerty123456")) } == "password")
        _ = try f.login("bob", userPassword)  // nothing changed so far

        try bob.changePassword(current: pw(userPassword), new: pw(newPassword))
        #expect(throws: KeyholdError.authenticationFailed) { try f.vault.login(username: "bob", password: pw(userPassword)) }
        let s = try f.login("bob", newPassword)
        #expect(s.hasKeyAccess)
        #expect(try s.reveal("app/token").utf8String() == "value-for-change-test")
        #expect(try bob.reveal("app/token").utf8String() == "value-for-change-test")  // the old session goes on

        // Same key pair, sealed afresh under the new password.
        let keyAfter = try #require(
            try f.vault.store.unsafeQuery(
                "SELECT k.id, k.public_key, k.sealed_secret_key, k.kdf_salt FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.username = 'bob'"
            ).first)
        #expect(keyAfter["id", default: nil] as? Int64 == keyBefore["id", default: nil] as? Int64)
        #expect(keyAfter["public_key", default: nil] as? [UInt8] == keyBefore["public_key", default: nil] as? [UInt8])
        #expect(keyAfter["sealed_secret_key", default: nil] as? [UInt8] != keyBefore["sealed_secret_key", default: nil] as? [UInt8])
        #expect(keyAfter["kdf_salt", default: nil] as? [UInt8] != keyBefore["kdf_salt", default: nil] as? [UInt8])
        try expectNotInAudit(f, [newPassword, userPassword, wrongPassword])
        #expect(try f.admin.verifyAudit().ok)
    }
}
