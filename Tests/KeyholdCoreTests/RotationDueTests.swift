import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore

/// `Session.rotationDue`: what the console's dashboard warns about, read without
/// loading every secret's metadata.
@Suite struct RotationDueTests {
    static let window = 14 * Clock.day

    /// Secrets around the boundaries: past, exactly now, exactly at the window's end, just after it, none.
    func populated() throws -> Fixture {
        let f = try Fixture()
        let now = f.clock.now
        let dates: [(String, Int64?)] = [
            ("b/old", now - 3 * Clock.day), ("a/old", now - 3 * Clock.day), ("c/older", now - 9 * Clock.day),
            ("d/now", now), ("e/soon", now + 1), ("f/edge", now + Self.window), ("g/later", now + Self.window + 1),
            ("h/never", nil)
        ]
        for (name, date) in dates { try f.admin.createSecret(name, .value(pw("v")), rotateBy: date) }
        return f
    }

    /// A new version (the console's `N`, `addVersion`) is the rotation that was due: a date
    /// at or before now is cleared, and the event says which; a date still ahead stays.
    @Test func aNewVersionClearsADateThatHasPassed() throws {
        let f = try populated()
        let now = f.clock.now
        for name in ["c/older", "d/now", "e/soon", "h/never"] { try f.admin.addVersion(name, .value(pw("rotated"))) }
        #expect(try f.admin.secret(named: "c/older").rotateBy == nil)
        #expect(try f.admin.secret(named: "d/now").rotateBy == nil)
        #expect(try f.admin.secret(named: "e/soon").rotateBy == now + 1)
        #expect(try f.admin.secret(named: "h/never").rotateBy == nil)
        let events = try f.admin.auditEvents(AuditQuery(action: "secret.update"))
        let cleared = events.filter { $0.details.contains("rotate_by_cleared") }.map(\.target)
        #expect(cleared == ["secret:c/older", "secret:d/now"])
        #expect(try f.admin.rotationDue(within: Self.window).overdue.map(\.name) == ["a/old", "b/old"])
    }

    @Test func countsAndNamesOverdueAndDueSoonSecretsEarliestFirst() throws {
        let f = try populated()
        let due = try f.admin.rotationDue(within: Self.window)
        let now = f.clock.now
        #expect(due.at == now)
        // Same date: by name. Exactly now counts as past.
        #expect(
            due.overdue == [
                DueSecret(name: "c/older", rotateBy: now - 9 * Clock.day),
                DueSecret(name: "a/old", rotateBy: now - 3 * Clock.day),
                DueSecret(name: "b/old", rotateBy: now - 3 * Clock.day),
                DueSecret(name: "d/now", rotateBy: now)
            ])
        #expect(due.overdueCount == 4)
        // The window's last millisecond is in; the next one, and secrets without a date, are not.
        #expect(
            due.dueSoon == [
                DueSecret(name: "e/soon", rotateBy: now + 1),
                DueSecret(name: "f/edge", rotateBy: now + Self.window)
            ])
        #expect(due.dueSoonCount == 2)
    }

    @Test func theListsStopAtTheLimitAndTheCountsDoNot() throws {
        let f = try populated()
        let due = try f.admin.rotationDue(within: Self.window, first: 1)
        #expect(due.overdue.map(\.name) == ["c/older"])
        #expect(due.overdueCount == 4)
        #expect(due.dueSoon.map(\.name) == ["e/soon"])
        #expect(due.dueSoonCount == 2)
        let counts = try f.admin.rotationDue(within: Self.window, first: 0)
        #expect(counts.overdue.isEmpty && counts.dueSoon.isEmpty)
        #expect((counts.overdueCount, counts.dueSoonCount) == (4, 2))
    }

    @Test func followsTheVaultClockAndTheWindow() throws {
        let f = try populated()
        f.clock.advance(Self.window)
        let due = try f.admin.rotationDue(within: 0, first: 10)
        #expect(due.overdue.map(\.name).suffix(2) == ["e/soon", "f/edge"])
        #expect(due.overdueCount == 6)
        #expect(due.dueSoon.isEmpty && due.dueSoonCount == 0)
        let wide = try f.admin.rotationDue(within: .max)
        #expect(wide.dueSoon.map(\.name) == ["g/later"])
    }

    @Test func anEmptyVaultHasNothingDue() throws {
        let f = try Fixture()
        let due = try f.admin.rotationDue(within: Self.window)
        #expect(due == RotationDue(at: f.clock.now, overdue: [], overdueCount: 0, dueSoon: [], dueSoonCount: 0))
    }

    @Test func badInputNamesTheFieldAndTheRule() throws {
        let f = try Fixture()
        for (window, limit, field) in [(-1, 5, "window"), (Self.window, -1, "limit"), (Self.window, 1001, "limit")] {
            do {
                _ = try f.admin.rotationDue(within: Int64(window), first: limit)
                Issue.record("window \(window), limit \(limit) was accepted")
            } catch KeyholdError.invalid(let e) {
                #expect(e.field == field && e.rule.rawValue == "range", "\(e)")
                #expect(e.message.hasPrefix(field + ": "))
            }
        }
    }

    @Test func needsSecretsList() throws {
        let f = try populated()
        let listed = try f.user("olga", roles: ["auditor"])
        #expect(try listed.rotationDue(within: Self.window).overdueCount == 4)
        let none = try f.user("nina", roles: ["user"])  // the built-in role without permissions
        #expect(throws: KeyholdError.permissionDenied(action: "secret.list", missing: .secretsList)) {
            try none.rotationDue(within: Self.window)
        }
    }

    @Test func readsWriteNothing() throws {
        let f = try populated()
        let before = try f.admin.vault.summary().auditEvents
        _ = try f.admin.rotationDue(within: Self.window)
        #expect(try f.admin.vault.summary().auditEvents == before)
    }
}
