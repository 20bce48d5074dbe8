import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// The audit log (docs/FORMAT.md section 6): every change is one
// event, chained and signed; verification names the first event that fails;
// a head printed earlier notices a cut tail. Tampering is done with raw SQL,
// triggers dropped first, as someone who can write the file could.

@Suite struct AuditTests {
    // MARK: Every change is an event

    @Test func everyOperationAppendsOneEvent() throws {
        let f = try Fixture()
        let first = try #require(try f.admin.auditEvents().first)
        #expect(first.seq == 1 && first.action == "vault.create" && first.target == "vault" && first.actor == "admin" && first.signed)

        var seq: Int64 = try TamperKit.count(f, "SELECT max(seq) AS n FROM audit_events")
        func step<T>(
            _ action: String, _ target: String, actor: String = "admin", signed: Bool = true,
            sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
        ) throws -> T {
            f.clock.advance(1000)
            let result = try body()
            let events = try f.admin.auditEvents(AuditQuery(afterSeq: seq))
            #expect(events.map(\.action) == [action], "exactly one event", sourceLocation: sourceLocation)
            if let e = events.first {
                #expect(e.seq == seq + 1, sourceLocation: sourceLocation)
                #expect(e.at == f.clock.now, "\(action): time", sourceLocation: sourceLocation)
                #expect(e.actor == actor, "\(action): actor", sourceLocation: sourceLocation)
                #expect(e.target == target, "\(action): target", sourceLocation: sourceLocation)
                #expect(e.signed == signed, "\(action): signed", sourceLocation: sourceLocation)
                let isObject = e.details.hasPrefix("{") && e.details.hasSuffix("}")
                #expect(isObject, "\(action): details are a JSON object", sourceLocation: sourceLocation)
            }
            seq = try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first?.seq ?? seq
            return result
        }
        func expectFailure(_ body: () throws -> some Any) {
            #expect(throws: KeyholdError.self) { _ = try body() }
        }

        let (_, temp) = try step("user.create", "user:alice") { try f.admin.createUser(username: "alice", roles: ["operator"]) }
        let change = try step("login", "user:alice", actor: "alice") { () -> PasswordChange? in
            guard case .mustChangePassword(let c) = try f.vault.login(username: "alice", password: temp) else { return nil }
            return c
        }
        let alice = try step("password.change", "user:alice", actor: "alice") {
            try #require(change).complete(newPassword: pw(userPassword))
        }
        try step("login.failed", "user:alice", actor: "alice", signed: false) {
            expectFailure { try f.vault.login(username: "alice", password: pw("wrong password entirely")) }
        }
        try step("login.failed", "user:nobody", actor: "nobody", signed: false) {
            expectFailure { try f.vault.login(username: "nobody", password: pw(userPassword)) }
        }
        _ = try step("login", "user:alice", actor: "alice") { try f.login("alice", userPassword) }

        try step("secret.create", "secret:app/key") { try f.admin.createSecret("app/key", .value(pw("audit-secret-value-1"))) }
        _ = try step("secret.update", "secret:app/key") { try f.admin.addVersion("app/key", .generated(length: 24, alphabet: .hex)) }
        _ = try step("secret.reveal", "secret:app/key", actor: "alice") { try alice.reveal("app/key") }
        try step("secret.rotate-by", "secret:app/key") { try f.admin.setRotateBy("app/key", at: f.clock.now + Clock.day) }
        try step("secret.history-limit", "secret:app/key") { try f.admin.setHistoryLimit("app/key", 5) }
        try step("secret.describe", "secret:app/key") { try f.admin.setDescription(ofSecret: "app/key", "payment key") }
        _ = try step("secret.delete-version", "secret:app/key") { try f.admin.deleteVersion("app/key", version: 1) }
        _ = try step("secret.delete", "secret:app/key") { try f.admin.deleteSecret("app/key") }

        try step("role.create", "role:ops-lite") { try f.admin.createRole("ops-lite", permissions: [.secretsList]) }
        try step("role.edit", "role:ops-lite") { try f.admin.editRole("ops-lite", permissions: [.secretsList, .usersRead]) }
        try step("user.grant-role", "user:alice") { try f.admin.grantRole("alice", role: "ops-lite") }
        try step("user.revoke-role", "user:alice") { try f.admin.revokeRole("alice", role: "ops-lite") }
        try step("role.delete", "role:ops-lite") { try f.admin.deleteRole("ops-lite") }

        try step("user.edit", "user:alice") { try f.admin.editUser("alice", email: .some("alice@example.com")) }
        try step("user.lock", "user:alice") { try f.admin.lockUser("alice") }
        try step("login.refused", "user:alice", actor: "alice", signed: false) {
            expectFailure { try f.vault.login(username: "alice", password: pw(userPassword)) }
        }
        try step("user.unlock", "user:alice") { try f.admin.unlockUser("alice") }
        try step("user.disable", "user:alice") { try f.admin.disableUser("alice") }
        try step("user.enable", "user:alice") { try f.admin.enableUser("alice") }
        try step("user.expire", "user:alice") { try f.admin.setExpiry("alice", at: f.clock.now + Clock.day) }
        _ = try step("user.reset-password", "user:alice") { try f.admin.resetPassword("alice") }
        _ = try step("user.delete", "user:alice") { try f.admin.deleteUser("alice") }
        try step("vault.settings", "vault") { try f.admin.updateSettings(historyLimit: 5) }

        // Signed exactly when the action is not a failed or refused login; the key column agrees.
        let all = try f.admin.auditEvents()
        #expect(all.count >= 30)
        for e in all {
            #expect(e.signed == !["login.failed", "login.refused"].contains(e.action), "event \(e.seq) \(e.action)")
        }
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM audit_events WHERE (signature IS NULL) != (actor_key_id IS NULL)") == 0)
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM audit_events WHERE signature IS NULL") == 3)
        // Reads are not events: listing and verifying added nothing.
        let count = try TamperKit.count(f, "SELECT count(*) AS n FROM audit_events")
        _ = try f.admin.verifyAudit(); _ = try f.admin.auditHead(); _ = try f.admin.secrets(); _ = try f.admin.users()
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM audit_events") == count)

        // The whole log verifies, including events by a deleted user (their public key is kept).
        let result = try f.admin.verifyAudit()
        #expect(result.ok, "\(result.failure.map { "\($0.seq): \($0.reason)" } ?? "")")
        #expect(result.events == Int(count))
        #expect(try result.head == f.admin.auditHead())
    }

    @Test func headHasTheDocumentedFormatAndChecks() throws {
        let f = try AuditTests.busyVault()
        let head = try f.admin.auditHead()
        let parts = head.split(separator: ":", omittingEmptySubsequences: false)
        #expect(parts.count == 2)
        let last = try TamperKit.auditRows(f).last!
        #expect(parts.first.map(String.init) == String(last.seq))
        #expect(parts.last?.count == 64)
        #expect(parts.last?.allSatisfy { "0123456789abcdef".contains($0) } == true)
        #expect(parts.last.map(String.init) == last.hash.map { String(format: "%02x", $0) }.joined())

        let checked = try f.admin.checkAuditHead(head)
        #expect(checked.ok && checked.head == head)
        // Still fine after the log grows; upper-case hex is the same head.
        try f.admin.createSecret("later/one", .value(pw("later-value-abcdefgh")))
        #expect(try f.admin.checkAuditHead(head).ok)
        #expect(try f.admin.checkAuditHead(head.uppercased()).ok)
        #expect(try f.admin.auditHead() != head)

        // A head whose hash is not the stored one fails, naming its event.
        var wrong = Array(head)
        wrong[wrong.count - 1] = wrong.last == "0" ? "1" : "0"
        let mismatch = try f.admin.checkAuditHead(String(wrong))
        #expect(!mismatch.ok && mismatch.failure?.seq == last.seq)
        // A head beyond the log fails too.
        let beyond = try f.admin.checkAuditHead("\(last.seq + 100):" + String(parts[1]))
        #expect(beyond.failure?.seq == last.seq + 100)
        // Malformed heads are invalid input.
        for bad in ["", "12", "x:" + String(repeating: "a", count: 64), "3:abc", "-1:" + String(repeating: "a", count: 64)] {
            guard case .invalid(let v)? = TamperKit.error({ try f.admin.checkAuditHead(bad) }) else {
                Issue.record("head \"\(bad)\" must be invalid"); continue
            }
            #expect(v.field == "head")
        }
        // Reading the audit needs audit.read.
        let op = try f.user("oscar", roles: ["operator"])
        #expect(throws: KeyholdError.self) { try op.auditHead() }
        #expect(throws: KeyholdError.self) { try op.verifyAudit() }
        #expect(throws: KeyholdError.self) { try op.auditEvents() }
    }

    @Test func theLogIsAppendOnlyThroughTheTriggers() throws {
        let f = try AuditTests.busyVault()
        #expect(throws: (any Error).self) { try f.vault.store.unsafeExecute("UPDATE audit_events SET details = '{}' WHERE seq = 2") }
        #expect(throws: (any Error).self) { try f.vault.store.unsafeExecute("DELETE FROM audit_events WHERE seq = 2") }
        #expect(try f.admin.verifyAudit().ok)
    }

    // MARK: Tampering, each named at the first bad event

    @Test func editedDetailsAreNamed() throws {
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET details = '{\"edited\":true}' WHERE seq = ?", arguments: [k])
        try AuditTests.expectFailure(f, at: k, mentioning: "hash")
    }

    @Test func editedTargetOrTimeAreNamed() throws {
        for (column, value) in [("target", "secret:elsewhere"), ("at", "0"), ("actor_name", "mallory"), ("action", "secret.list")] {
            let f = try AuditTests.busyVault()
            let k = try AuditTests.middleSigned(f)
            try TamperKit.dropAuditTriggers(f)
            try f.vault.store.unsafeExecute(
                "UPDATE audit_events SET \(column) = ? WHERE seq = ?",
                arguments: [column == "at" ? Int64(0) as any Sendable : value, k])
            try AuditTests.expectFailure(f, at: k, mentioning: "hash", column)
        }
    }

    @Test func deletedMiddleEventIsNamed() throws {
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("DELETE FROM audit_events WHERE seq = ?", arguments: [k])
        // The first event present that fails is the one after the gap; the reason names the missing one.
        try AuditTests.expectFailure(f, at: k + 1, mentioning: "expected event \(k)", eventsBefore: Int(k - 1))
    }

    @Test func deletedMiddleEventWithRenumberingIsNamed() throws {
        // A cleverer attacker closes the gap by renumbering the rest.
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("DELETE FROM audit_events WHERE seq = ?", arguments: [k])
        for seq in try TamperKit.auditRows(f).map(\.seq) where seq > k {
            try f.vault.store.unsafeExecute("UPDATE audit_events SET seq = ? WHERE seq = ?", arguments: [seq - 1, seq])
        }
        try AuditTests.expectFailure(f, at: k, mentioning: "link")
    }

    @Test func cutTailVerifiesButTheOldHeadDoesNot() throws {
        let f = try AuditTests.busyVault()
        let head = try f.admin.auditHead()
        let last = try TamperKit.count(f, "SELECT max(seq) AS n FROM audit_events")
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("DELETE FROM audit_events WHERE seq > ?", arguments: [last - 3])

        let verified = try f.admin.verifyAudit()
        #expect(verified.ok, "the shortened chain is itself consistent")
        #expect(verified.events == Int(last - 3))
        let checked = try f.admin.checkAuditHead(head)
        #expect(!checked.ok)
        #expect(checked.failure?.seq == last, "names the event the head recorded")
        #expect(checked.failure?.reason.contains("cut") == true)

        // Appending new events afterwards does not hide the cut either.
        for n in 0..<4 { try f.admin.createSecret("after/\(n)", .value(pw("after-cut-value-\(n)-abc"))) }
        #expect(try f.admin.verifyAudit().ok)
        let rechecked = try f.admin.checkAuditHead(head)
        #expect(!rechecked.ok && rechecked.failure?.seq == last)
    }

    @Test func swappedEventsAreNamed() throws {
        let f = try AuditTests.busyVault()
        let rows = try TamperKit.auditRows(f)
        let signed = rows.filter { $0.signature != nil && $0.seq > 3 }
        let a = signed[signed.count / 3], b = signed[2 * signed.count / 3]
        #expect(a.seq + 1 < b.seq)
        try TamperKit.dropAuditTriggers(f)
        for (row, other) in [(a, b), (b, a)] {
            try f.vault.store.unsafeExecute(
                """
                UPDATE audit_events SET at = ?, actor_id = ?, actor_name = ?, actor_key_id = ?, action = ?, target = ?,
                    details = ?, prev_hash = ?, hash = ?, signature = ? WHERE seq = ?
                """,
                arguments: [
                    other.at, other.actorID, other.actorName, other.actorKeyID, other.action, other.target,
                    other.details, other.prevHash, other.hash, other.signature, row.seq
                ])
        }
        try AuditTests.expectFailure(f, at: a.seq, mentioning: "link")
    }

    @Test func forgedSignatureIsNamed() throws {
        let f = try AuditTests.busyVault()
        let rows = try TamperKit.auditRows(f)
        let k = try AuditTests.middleSigned(f)
        // Another event's signature, by the same actor's key, so only the signature itself is wrong.
        let target = try #require(rows.first { $0.seq == k })
        let donor = try #require(rows.first { $0.seq != k && $0.signature != nil && $0.actorKeyID == target.actorKeyID })
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET signature = ? WHERE seq = ?", arguments: [donor.signature, k])
        try AuditTests.expectFailure(f, at: k, mentioning: "signature")
    }

    @Test func signatureByAnotherKeyIsNamed() throws {
        // Claim another user's key for an event (and make the chain consistent): the signature does not verify under it.
        let f = try AuditTests.busyVault()
        let rows = try TamperKit.auditRows(f)
        let k = try AuditTests.middleSigned(f)
        let target = try #require(rows.first { $0.seq == k })
        let otherKey = try #require(rows.first { $0.actorKeyID != nil && $0.actorKeyID != target.actorKeyID }?.actorKeyID)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET actor_key_id = ? WHERE seq = ?", arguments: [otherKey, k])
        try TamperKit.rechain(f, from: k)
        try AuditTests.expectFailure(f, at: k, mentioning: "sign")
    }

    @Test func strippedSignatureIsNamed() throws {
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET signature = NULL, actor_key_id = NULL WHERE seq = ?", arguments: [k])
        try AuditTests.expectFailure(f, at: k)
    }

    @Test func strippedSignatureWithRecomputedChainIsNamed() throws {
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET signature = NULL, actor_key_id = NULL WHERE seq = ?", arguments: [k])
        try TamperKit.rechain(f, from: k)
        try AuditTests.expectFailure(f, at: k, mentioning: "unsigned")
    }

    @Test func recomputedHashAfterEditIsCaughtBySignatures() throws {
        let f = try AuditTests.busyVault()
        let k = try AuditTests.middleSigned(f)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute(
            "UPDATE audit_events SET details = '{\"version\":99}', target = 'secret:decoy' WHERE seq = ?",
            arguments: [k])
        try TamperKit.rechain(f, from: k)
        // The chain is consistent again; only the signatures tell.
        let rows = try TamperKit.auditRows(f)
        for (prev, row) in zip(rows, rows.dropFirst()) { #expect(row.prevHash == prev.hash && AuditChain.hash(row) == row.hash) }
        try AuditTests.expectFailure(f, at: k, mentioning: "signature")
    }

    @Test func editedUnsignedEventIsCaughtAtTheNextSignedEvent() throws {
        // Failed logins carry no signature (there is no unlocked key). Editing one and
        // recomputing the chain leaves that event self-consistent; the next signed
        // event, whose hash changed under its signature, is the first to fail.
        let f = try AuditTests.busyVault()
        let rows = try TamperKit.auditRows(f)
        let k = try #require(rows.first { $0.action == "login.failed" && $0.seq < rows.count - 2 }?.seq)
        let next = try #require(rows.first { $0.seq > k && $0.signature != nil }?.seq)
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("UPDATE audit_events SET details = '{\"reason\":\"edited\"}' WHERE seq = ?", arguments: [k])
        try TamperKit.rechain(f, from: k)
        try AuditTests.expectFailure(f, at: next, mentioning: "signature")
    }

    // MARK: Filters

    @Test func filtersReturnTheRightRows() throws {
        let f = try Fixture()
        let start = f.clock.now
        let alice = try f.user("alice", roles: ["operator"])
        f.clock.advance(Clock.hour)
        let t1 = f.clock.now
        try f.admin.createSecret("app/db", .value(pw("filter-value-db-123")))
        try alice.createSecret("app/api", .value(pw("filter-value-api-123")))
        f.clock.advance(Clock.hour)
        let t2 = f.clock.now
        _ = try alice.reveal("app/db")
        _ = try alice.reveal("app/api")
        _ = try f.admin.reveal("app/db")
        f.clock.advance(Clock.hour)
        let t3 = f.clock.now
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "alice", password: pw("not her password at all")) }
        try f.admin.setDescription(ofSecret: "app/db", "the database")

        let all = try f.admin.auditEvents()
        #expect(all.map(\.seq) == Array(1...Int64(all.count)), "all events, oldest first")
        func seqs(_ q: AuditQuery) throws -> [Int64] { try f.admin.auditEvents(q).map(\.seq) }
        func expected(_ keep: (AuditEvent) -> Bool) -> [Int64] { all.filter(keep).map(\.seq) }

        // Actor, without regard to case.
        #expect(try seqs(AuditQuery(actor: "ALICE")) == expected { $0.actor == "alice" })
        #expect(try seqs(AuditQuery(actor: "alice")).count >= 5)
        // Action: exact, or a prefix ending in ".".
        #expect(try seqs(AuditQuery(action: "secret.reveal")) == expected { $0.action == "secret.reveal" })
        #expect(try seqs(AuditQuery(action: "secret.reveal")).count == 3)
        #expect(try seqs(AuditQuery(action: "secret.")) == expected { $0.action.hasPrefix("secret.") })
        #expect(try seqs(AuditQuery(action: "secret.")).count == 6)
        #expect(try seqs(AuditQuery(action: "secret")).isEmpty, "no prefix match without the dot")
        #expect(try seqs(AuditQuery(action: "login.failed")).count == 1)
        // Target: a substring.
        #expect(try seqs(AuditQuery(target: "app/db")) == expected { $0.target.contains("app/db") })
        #expect(try seqs(AuditQuery(target: "app/db")).count == 4)
        #expect(try seqs(AuditQuery(target: "user:alice")) == expected { $0.target == "user:alice" })
        // Time: since inclusive, until exclusive.
        #expect(try seqs(AuditQuery(since: t2)) == expected { $0.at >= t2 })
        #expect(try seqs(AuditQuery(until: t1)) == expected { $0.at < t1 })
        #expect(try seqs(AuditQuery(since: t1, until: t3)) == expected { $0.at >= t1 && $0.at < t3 })
        #expect(try seqs(AuditQuery(since: t2, until: t3)).count == 3)
        #expect(try seqs(AuditQuery(until: start)).isEmpty)
        // Order and limit.
        #expect(try seqs(AuditQuery(newestFirst: true)) == all.map(\.seq).reversed())
        #expect(try seqs(AuditQuery(limit: 3)) == [1, 2, 3])
        #expect(try seqs(AuditQuery(limit: 3, newestFirst: true)) == Array(all.map(\.seq).reversed().prefix(3)))
        #expect(try seqs(AuditQuery(limit: 0)).isEmpty)
        // Combined, all with AND.
        #expect(
            try seqs(AuditQuery(actor: "alice", action: "secret.reveal", target: "app/api"))
                == expected { $0.actor == "alice" && $0.action == "secret.reveal" && $0.target.contains("app/api") })
        #expect(
            try seqs(AuditQuery(actor: "alice", action: "secret.", limit: 1, newestFirst: true)) == [
                expected { $0.actor == "alice" && $0.action.hasPrefix("secret.") }.last!
            ])
        // Wildcards in a filter are characters.
        #expect(try seqs(AuditQuery(target: "app_db")).isEmpty)
        #expect(try seqs(AuditQuery(target: "%")).isEmpty)
    }

    // MARK: Helpers

    /// A vault with many kinds of events, failed logins among them.
    static func busyVault() throws -> Fixture {
        let f = try Fixture()
        let op = try f.user("olivia", roles: ["operator"])
        _ = try f.user("audrey", roles: ["auditor"])
        for n in 1...4 {
            f.clock.advance(1000)
            try f.admin.createSecret("app/s\(n)", .value(pw("busy-value-\(n)-abcdefgh")))
            try op.addVersion("app/s\(n)", .generated(length: 32, alphabet: .alnum))
            _ = try op.reveal("app/s\(n)")
        }
        _ = try? f.vault.login(username: "olivia", password: pw("definitely not it"))
        _ = try? f.vault.login(username: "ghost", password: pw("definitely not it"))
        try f.admin.createRole("readers", permissions: [.secretsList, .usersRead])
        try f.admin.grantRole("audrey", role: "readers")
        try f.admin.lockUser("audrey")
        try f.admin.unlockUser("audrey")
        _ = try f.admin.deleteVersion("app/s1", version: 1)
        for n in 5...7 { try op.createSecret("app/s\(n)", .value(pw("busy-value-\(n)-abcdefgh"))) }
        try f.admin.setRotateBy("app/s2", at: f.clock.now + Clock.day)
        let result = try f.admin.verifyAudit()
        #expect(result.ok)
        #expect(result.events >= 30)
        return f
    }

    /// A signed, non-login event in the middle of the log.
    static func middleSigned(_ f: Fixture) throws -> Int64 {
        let rows = try TamperKit.auditRows(f)
        let candidates = rows.filter {
            $0.signature != nil && !$0.action.hasPrefix("login") && $0.seq > 5 && $0.seq < Int64(rows.count) - 5
        }
        return try #require(candidates.dropFirst(candidates.count / 2).first?.seq)
    }

    /// verifyAudit must fail, naming `seq` as the first bad event.
    @discardableResult
    static func expectFailure(
        _ f: Fixture, at seq: Int64, mentioning words: String? = nil, _ context: String = "",
        eventsBefore: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> AuditVerification {
        let r = try f.admin.verifyAudit()
        #expect(!r.ok, "\(context): tampering not detected", sourceLocation: sourceLocation)
        #expect(r.failure?.seq == seq, "\(context): \(r.failure?.reason ?? "")", sourceLocation: sourceLocation)
        if let words {
            #expect(r.failure?.reason.contains(words) == true, "\(context): \(r.failure?.reason ?? "")", sourceLocation: sourceLocation)
        }
        #expect(r.events == (eventsBefore ?? Int(seq - 1)), "\(context): events before the first bad one", sourceLocation: sourceLocation)
        // checkAuditHead reports the same failure.
        let head = try f.admin.checkAuditHead("1:" + String(repeating: "0", count: 64))
        #expect(head.failure?.seq == seq, sourceLocation: sourceLocation)
        return r
    }
}

/// The replay's map of user ids (`RangedIDs`: imported ranges as runs, single changes in front)
/// against a plain dictionary of every id, under random imports of ranges, single sets and
/// removals, including ranges that overlap, nest and touch Int64's ends.
@Suite struct RangedIDsTests {
    @Test func agreesWithADictionaryOfEveryID() {
        var rng = SeededGenerator(seed: 0x5241_4E47)
        for _ in 0..<200 {
            var ranged = RangedIDs<Int>()
            var plain: [Int64: Int] = [:]
            for step in 0..<60 {
                let a = Int64(rng.next() % 120), b = Int64(rng.next() % 120)
                switch rng.next() % 4 {
                case 0, 1:
                    let ids = min(a, b)...max(a, b)
                    ranged.set(ids, to: step)
                    for id in ids { plain[id] = step }
                case 2:
                    ranged[a] = step
                    plain[a] = step
                default:
                    ranged[a] = nil
                    plain[a] = nil
                }
            }
            let differ = (-2...122).map(Int64.init).filter { ranged[$0] != plain[$0] }
            #expect(differ.isEmpty, "ids that differ: \(differ)")
            if !differ.isEmpty { return }
        }
    }

    @Test func rangesAtInt64sEndsAndASingleChangeInsideARun() {
        var ids = RangedIDs<String>()
        ids.set(Int64.min...(Int64.min + 5), to: "low")
        ids.set((Int64.max - 5)...Int64.max, to: "high")
        ids.set((Int64.max - 2)...Int64.max, to: "top")
        ids.set(Int64.min...(Int64.min + 1), to: "bottom")
        #expect(ids[Int64.min] == "bottom" && ids[Int64.min + 2] == "low" && ids[Int64.min + 6] == nil)
        #expect(ids[Int64.max] == "top" && ids[Int64.max - 3] == "high" && ids[0] == nil)
        ids.set(10...1_000_009, to: "imported")
        ids[500] = nil
        ids[600] = "granted"
        #expect(ids[499] == "imported" && ids[500] == nil && ids[600] == "granted" && ids[1_000_009] == "imported")
        // A later import over the same ids sets them all again, single changes included.
        ids.set(400...700, to: "again")
        #expect(ids[500] == "again" && ids[600] == "again" && ids[399] == "imported" && ids[701] == "imported")
    }
}
