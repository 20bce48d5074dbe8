import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The audit log: newest first, filter, verify with the failing event shown.
@Suite struct AuditTests {
    func audit(width: Int = 80, height: Int = 24) throws -> Harness {
        var h = try Harness.loggedIn(width: width, height: height, setUp: populate)
        h.key(.char("4"))
        h.effects = []
        return h
    }

    @Test func log80x24() throws {
        let h = try audit()
        #expect(h.model.audit.rows.items.first?.action == "login")
        expectScreen(
            h.screen, named: "audit-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Audit log (10) · ✓ chain verified ──────────────────────────────────────────┐
            │  #    TIME (UTC)       ACTOR       ACTION            TARGET                  │
            │›   10 2027-01-15 08:00 admin       login             user:admin              │
            │     9 2027-01-15 08:00 admin       secret.update     secret:app/dev/token    │
            │     8 2027-01-15 08:00 admin       secret.create     secret:app/dev/token    │
            │     7 2027-01-15 08:00 admin       secret.create     secret:app/prod/aws     │
            │     6 2027-01-15 08:00 admin       secret.create     secret:app/prod/stripe  │
            │     5 2027-01-15 08:00 admin       user.revoke-role  user:erin               │
            │     4 2027-01-15 08:00 admin       user.create       user:erin               │
            │     3 2027-01-15 08:00 admin       user.create       user:carol              │
            │     2 2027-01-15 08:00 admin       user.create       user:bob                │
            │     1 2027-01-15 08:00 admin       vault.create      vault                   │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Event #10 ──────────────────────────────────────────────────────────────────┐
            │ 2027-01-15 08:00 UTC · admin · login · user:admin                            │
            │ signed by admin's key                                                        │
            │ {"key_access":true}                                                          │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             j/↓ move  / filter  v/V verify  Esc back  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func log120x40() throws {
        var h = try audit(width: 120, height: 40)
        h.keys(.char("j"), .char("j"))
        expectScreen(
            h.screen, named: "audit-120x40",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles                                    admin · vault.db
            ┌─ Audit log (10) · ✓ chain verified ──────────────────────────────────────────────────────────────────────────────────┐
            │  #    TIME (UTC)       ACTOR                ACTION                         TARGET                                    │
            │    10 2027-01-15 08:00 admin                login                          user:admin                                │
            │     9 2027-01-15 08:00 admin                secret.update                  secret:app/dev/token                      │
            │›    8 2027-01-15 08:00 admin                secret.create                  secret:app/dev/token                      │
            │     7 2027-01-15 08:00 admin                secret.create                  secret:app/prod/aws                       │
            │     6 2027-01-15 08:00 admin                secret.create                  secret:app/prod/stripe                    │
            │     5 2027-01-15 08:00 admin                user.revoke-role               user:erin                                 │
            │     4 2027-01-15 08:00 admin                user.create                    user:erin                                 │
            │     3 2027-01-15 08:00 admin                user.create                    user:carol                                │
            │     2 2027-01-15 08:00 admin                user.create                    user:bob                                  │
            │     1 2027-01-15 08:00 admin                vault.create                   vault                                     │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            └──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
            ┌─ Event #8 ───────────────────────────────────────────────────────────────────────────────────────────────────────────┐
            │ 2027-01-15 08:00 UTC · admin · secret.create · secret:app/dev/token                                                  │
            │ signed by admin's key                                                                                                │
            │ {"generated":true, "version":1}                                                                                      │
            │                                                                                                                      │
            └──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
             j/↓ move  / filter  v/V verify  Esc back  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func failedLoginsAreUnsignedAndSaySo() throws {
        var h = try Harness.withVault(setUp: populate)
        h.logIn("admin", "a wrong password")
        h.logIn("admin", adminPassword)
        h.key(.char("4"))
        h.key(.char("j"))  // the failed attempt, just before the login
        #expect(h.model.audit.rows.selectedItem?.action == "login.failed")
        #expect(h.screen.text.contains("unsigned: a failed login has no key to sign with"))
    }

    @Test func filterAsYouType() throws {
        var h = try audit()
        h.key(.char("/"))
        h.type("secret.")
        #expect(h.model.audit.rows.items.filter { $0.action.hasPrefix("secret.") }.count == h.model.audit.rows.count)
        expectScreen(
            h.screen, named: "audit-filtered",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Audit log (4 of 10) · ✓ chain verified ─────────────────────────────────────┐
            │  #    TIME (UTC)       ACTOR       ACTION            TARGET                  │
            │›    9 2027-01-15 08:00 admin       secret.update     secret:app/dev/token    │
            │     8 2027-01-15 08:00 admin       secret.create     secret:app/dev/token    │
            │     7 2027-01-15 08:00 admin       secret.create     secret:app/prod/aws     │
            │     6 2027-01-15 08:00 admin       secret.create     secret:app/prod/stripe  │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └─ /secret. ───────────────────────────────────────────────────────────────────┘
            ┌─ Event #9 ───────────────────────────────────────────────────────────────────┐
            │ 2027-01-15 08:00 UTC · admin · secret.update · secret:app/dev/token          │
            │ signed by admin's key                                                        │
            │ {"generated":false, "version":2}                                             │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             Enter keep filter  Esc clear  ↑/↓ move
            """#)
        h.key(.enter)
        h.key(.escape)
        #expect(h.model.audit.rows.filter.isEmpty)
        h.key(.escape)
        #expect(h.model.route == .dashboard)
    }

    @Test func verifyReportsTheChain() throws {
        var h = try audit()
        h.key(.char("V"))
        #expect(h.effects == [.audit(.verify)])
        #expect(h.model.toasts.last?.text == "Audit chain verified: 10 events")
        #expect(h.screen.text.contains("chain verified"))
        h.key(.char("v"))
        #expect(h.effects == [.audit(.verify), .audit(.verify)])
    }

    @Test func aFailingEventIsHighlightedAndSelected() throws {
        var h = try audit()
        guard case .done(var v) = h.model.audit.check else { Issue.record("not verified"); return }
        v.failure = (seq: 5, reason: "event 5: hash does not match (the event was altered)")
        h.send(.audit(.verified(v)))
        #expect(h.model.audit.rows.selectedItem?.seq == 5)
        #expect(h.model.toasts.last == Toast(text: "Audit chain fails at event 5", isError: true, until: h.clock.now + 8 * Clock.second))
        expectScreen(
            h.screen, named: "audit-failing",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Audit log (10) · ✗ chain fails at #5 ───────────────────────────────────────┐
            │  #    TIME (UTC)       ACTOR       ACTION            TARGET                  │
            │    10 2027-01-15 08:00 admin       login             user:admin              │
            │     9 2027-01-15 08:00 admin       secret.update     secret:app/dev/token    │
            │     8 2027-01-15 08:00 admin       secret.create     secret:app/dev/token    │
            │     7 2027-01-15 08:00 admin       secret.create     secret:app/prod/aws     │
            │     6 2027-01-15 08:00 admin       secret.create     secret:app/prod/stripe  │
            │›    5 2027-01-15 08:00 admin       user.revoke-role  user:erin               │
            │     4 2027-01-15 08:00 admin       user.create       user:erin               │
            │     3 2027-01-15 08:00 admin       user.create       user:carol              │
            │     2 2027-01-15 08:00 admin       user.create       user:bob                │
            │     1 2027-01-15 08:00 admin       vault.create      vault                   │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Event #5 ───────────────────────────────────────────────────────────────────┐
            │ 2027-01-15 08:00 UTC · admin · user.revoke-role · user:erin                  │
            │ ✗ event 5: hash does not match (the event was altered)                       │
            │ {"key_access":"revoked", "role":"operator", "user_id":4}                     │
            │                                                                              │
            └────────────────────────────────────────────── ✗ Audit chain fails at event 5 ┘
             j/↓ move  / filter  v/V verify  Esc back  : commands  ?/F1 help  q quit
            """#)
        h.key(.char("g"))
        #expect(h.model.audit.rows.list.selected == 0)
        // n jumps back to it, clearing a filter that hides it.
        h.key(.char("/"))
        h.type("login")
        h.key(.enter)
        h.key(.char("n"))
        #expect(h.model.audit.rows.selectedItem?.seq == 5)
        #expect(h.model.audit.rows.filter.isEmpty)
        let row = try #require(h.screen.row(containing: "›    5 "))
        #expect(h.screen[3, row].style == Theme.selected)
        h.key(.char("j"))
        let failing = try #require(h.screen.row(containing: "    5 2027"))
        #expect(h.screen[3, failing].style == Theme.failingRow)
    }

    @Test func movementAndReload() throws {
        var h = try audit(height: 16)
        let count = h.model.audit.rows.count
        func selected() -> Int { h.model.audit.rows.list.selected }
        h.key(.char("G")); #expect(selected() == count - 1)
        h.key(.char("g")); #expect(selected() == 0)
        h.key(.end); #expect(selected() == count - 1)
        h.key(.home); #expect(selected() == 0)
        h.key(.pageDown); #expect(selected() == Layout.listRows(.audit, width: 80, height: 16))
        h.key(.pageUp); #expect(selected() == 0)
        h.keys(.char("j"), .down); #expect(selected() == 2)
        h.keys(.char("k"), .up); #expect(selected() == 0)
        h.key(.char("r"))
        // The page read, then the count of the whole log.
        #expect(h.effects.map(\.pageList) == [.audit, nil] && h.effects.map(\.countList) == [nil, .audit])
        expectScreen(
            h.screen, named: "audit-80x16",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Audit log (10) · ✓ chain verified ──────────────────────────────────────────┐
            │  #    TIME (UTC)       ACTOR       ACTION            TARGET                  │
            │›   10 2027-01-15 08:00 admin       login             user:admin              ┃
            │     9 2027-01-15 08:00 admin       secret.update     secret:app/dev/token    │
            │     8 2027-01-15 08:00 admin       secret.create     secret:app/dev/token    │
            │     7 2027-01-15 08:00 admin       secret.create     secret:app/prod/aws     │
            │     6 2027-01-15 08:00 admin       secret.create     secret:app/prod/stripe  │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Event #10 ──────────────────────────────────────────────────────────────────┐
            │ 2027-01-15 08:00 UTC · admin · login · user:admin                            │
            │ signed by admin's key                                                        │
            │ {"key_access":true}                                                          │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             j/↓ move  / filter  v/V verify  Esc back  : commands  ?/F1 help  q quit
            """#)
    }
}
