import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// A vault with some of everything the dashboard warns about.
func populate(_ admin: Session, _ clock: TestClock) throws {
    _ = try admin.createUser(username: "bob", email: "bob@example.com", displayName: "Bob Builder", roles: ["operator"])
    _ = try admin.createUser(username: "carol", displayName: "Carol 山田 🔑", roles: ["auditor"])
    _ = try admin.createUser(username: "erin", roles: ["operator"])
    try admin.revokeRole("erin", role: "operator")  // removes key access: a standing warning
    let now = clock.now
    try admin.createSecret(
        "app/prod/stripe", .value(pw("sk_live_abc123")), description: "Payments",
        rotateBy: now - 2 * Clock.day)
    try admin.createSecret("app/prod/aws", .value(pw("AKIA-secret")), rotateBy: now + 5 * Clock.day)
    try admin.createSecret("app/dev/token", .generated(length: 24, alphabet: .urlsafe))
    try admin.addVersion("app/dev/token", .value(pw("second value")))
}

@Suite struct DashboardTests {
    @Test func dashboard80x24() throws {
        let h = try Harness.loggedIn(setUp: populate)
        expectScreen(
            h.screen, named: "dashboard-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users         4                      ││ User         admin                   │
            │ Secrets       3                      ││ Roles        admin                   │
            │ Audit events  10                     ││ Key access   yes: can open secrets   │
            │ Data key      v1 active (1 version)  ││ Permissions  all 8                   │
            │ Password KDF  Argon2id t=1, 8 KiB    ││                                      │
            │ Created       2027-01-15 08:00 UTC   ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
            ┌─ Warnings (3) ───────────────────────────────────────────────────────────────┐
            │ ✗ Rotate the root key: key access removed from erin at 2027-01-15T08:00:00Z  │
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-13, 2 d ago)           │
            │ ! app/prod/aws is due for rotation in 5 d (2027-01-20)                       │
            │ ✓ Audit chain verified: 10 events, hashes and signatures                     │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func dashboard120x40() throws {
        let h = try Harness.loggedIn(width: 120, height: 40, setUp: populate)
        expectScreen(
            h.screen, named: "dashboard-120x40",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles                                    admin · vault.db
            ┌─ Vault ──────────────────────────────────────────────────┐┌─ You ────────────────────────────────────────────────────┐
            │ Users         4                                          ││ User         admin                                       │
            │ Secrets       3                                          ││ Roles        admin                                       │
            │ Audit events  10                                         ││ Key access   yes: can open secrets                       │
            │ Data key      v1 active (1 version)                      ││ Permissions  all 8                                       │
            │ Password KDF  Argon2id t=1, 8 KiB                        ││                                                          │
            │ Created       2027-01-15 08:00 UTC                       ││                                                          │
            └──────────────────────────────────────────────────────────┘└──────────────────────────────────────────────────────────┘
            ┌─ Warnings (3) ───────────────────────────────────────────────────────────────────────────────────────────────────────┐
            │ ✗ Rotate the root key: key access removed from erin at 2027-01-15T08:00:00Z                                          │
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-13, 2 d ago)                                                   │
            │ ! app/prod/aws is due for rotation in 5 d (2027-01-20)                                                               │
            │ ✓ Audit chain verified: 10 events, hashes and signatures                                                             │
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
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            │                                                                                                                      │
            └──────────────────────────────────────────────────────────────────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func aFreshVaultHasNoWarnings() throws {
        let h = try Harness.loggedIn()
        expectScreen(
            h.screen, named: "dashboard-fresh",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users         1                      ││ User         admin                   │
            │ Secrets       0                      ││ Roles        admin                   │
            │ Audit events  2                      ││ Key access   yes: can open secrets   │
            │ Data key      v1 active (1 version)  ││ Permissions  all 8                   │
            │ Password KDF  Argon2id t=1, 8 KiB    ││                                      │
            │ Created       2027-01-15 08:00 UTC   ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
            ┌─ Status ─────────────────────────────────────────────────────────────────────┐
            │ ✓ No warnings                                                                │
            │ ✓ Audit chain verified: 2 events, hashes and signatures                      │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
        #expect(h.model.warnings.first == Warning(level: .ok, text: "No warnings", route: nil))
    }

    @Test func whatAnAuditorSees() throws {
        var h = try Harness.withVault { admin, clock in
            try populate(admin, clock)
            let temp = try admin.resetPassword("carol")
            let vault = admin.vault
            guard case .mustChangePassword(let change) = try vault.login(username: "carol", password: temp) else { return }
            _ = try change.complete(newPassword: pw(userPassword))
        }
        h.logIn("carol", userPassword)
        #expect(h.model.route == .dashboard)
        h.model.toasts = []
        expectScreen(
            h.screen, named: "dashboard-auditor",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       carol
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users         4                      ││ User         carol                   │
            │ Secrets       3                      ││ Roles        auditor                 │
            │ Audit events  13                     ││ Key access   no                      │
            │ Data key      v1 active              ││ Permissions  users.read secrets.list │
            │ Password KDF  Argon2id t=1, 8 KiB    ││              audit.read              │
            │ Created       2027-01-15 08:00 UTC   ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
            ┌─ Warnings (2) ───────────────────────────────────────────────────────────────┐
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-13, 2 d ago)           │
            │ ! app/prod/aws is due for rotation in 5 d (2027-01-20)                       │
            │ ✓ Audit chain verified: 13 events, hashes and signatures                     │
            │ · Key status needs keys.manage                                               │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func pendingGrantsAndAFailingChainAreWarnings() throws {
        var h = try Harness.loggedIn(setUp: populate)
        var data = try #require(h.model.dashboard.data)
        data.keyStatus?.pendingGrants = ["bob", "dave"]
        h.send(.dashboard(.loaded(data)))
        guard case .done(var v) = h.model.audit.check else { Issue.record("not verified"); return }
        v.failure = (seq: 7, reason: "signature does not verify")
        h.send(.audit(.verified(v)))
        let w = h.model.warnings
        #expect(w.contains(Warning(level: .warning, text: "2 key requests to approve: bob, dave (Users: A)", route: .users)))
        #expect(w.contains(Warning(level: .error, text: "Audit chain fails at event 7: signature does not verify", route: .audit)))
        expectScreen(
            h.screen, named: "dashboard-failing",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users         4                      ││ User         admin                   │
            │ Secrets       3                      ││ Roles        admin                   │
            │ Audit events  10                     ││ Key access   yes: can open secrets   │
            │ Data key      v1 active (1 version)  ││ Permissions  all 8                   │
            │ Password KDF  Argon2id t=1, 8 KiB    ││                                      │
            │ Created       2027-01-15 08:00 UTC   ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
            ┌─ Warnings (5) ───────────────────────────────────────────────────────────────┐
            │ ✗ Rotate the root key: key access removed from erin at 2027-01-15T08:00:00Z  │
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-13, 2 d ago)           │
            │ ✗ Audit chain fails at event 7: signature does not verify                    │
            │ ! 2 key requests to approve: bob, dave (Users: A)                            │
            │ ! app/prod/aws is due for rotation in 5 d (2027-01-20)                       │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func overdueSecretsBeyondFiveAreCounted() throws {
        let h = try Harness.loggedIn { admin, clock in
            try populate(admin, clock)
            for i in 1...6 {
                try admin.createSecret("old/\(i)", .value(pw("x")), rotateBy: clock.now - Int64(i) * Clock.hour)
            }
        }
        let due = try #require(h.model.dashboard.data?.rotation)
        #expect(due.overdueCount == 7 && due.overdue.count == 5)
        let texts = h.model.warnings.map(\.text)
        #expect(texts.filter { $0.contains("is past its rotate-by date") }.count == 5)
        #expect(texts.contains("… and 2 more past their rotate-by date"))
        // Earliest first: the two most recent are the ones counted, not named.
        #expect(!texts.contains { $0.hasPrefix("old/1 ") || $0.hasPrefix("old/2 ") })
        #expect(texts.contains { $0.hasPrefix("old/3 is past") })
    }

    @Test func theDueSoonWindowComesFromTheSettings() throws {
        var h = try Harness.withVault(setUp: populate)
        h.model.settings.dueSoon = 3 * Clock.day
        h.logIn("admin", adminPassword)
        #expect(h.effects.contains(.dashboard(.load(dueWithin: 3 * Clock.day))))
        // app/prod/aws is due in 5 days: outside a 3-day window.
        #expect(h.model.dashboard.data?.rotation?.dueSoonCount == 0)
        #expect(!h.model.warnings.contains { $0.text.contains("app/prod/aws") })
        #expect(h.model.warnings.contains { $0.text.hasPrefix("app/prod/stripe is past") })
    }

    /// The first frame shows what a few rows say (settings, keys, warnings, roles); the counts,
    /// which walk whole tables, come in the next effect and frame.
    @Test func theCountsComeAfterTheFirstFrame() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.runEffects = false
        h.model.dashboard = DashboardState()
        h.key(.char("r"))
        #expect(h.effects == [.dashboard(.load(dueWithin: h.model.settings.dueSoon)), .dashboard(.count), .audit(.verify)])
        h.send(h.runner.run(.dashboard(.load(dueWithin: h.model.settings.dueSoon))))
        let first = h.screen.text
        #expect(first.contains("Users         counting…") && first.contains("Secrets       counting…"), "\(first)")
        #expect(first.contains("Audit events  counting…") && first.contains("Data key      v1 active (1 version)"))
        #expect(first.contains("app/prod/stripe is past its rotate-by date"))
        h.send(h.runner.run(.dashboard(.count)))
        let counted = h.screen.text
        #expect(counted.contains("Users         4") && counted.contains("Secrets       3"), "\(counted)")
        #expect(!counted.contains("counting…"))
        // A reload keeps the last counts on screen until the new ones arrive.
        h.key(.char("r"))
        h.send(h.runner.run(.dashboard(.load(dueWithin: h.model.settings.dueSoon))))
        #expect(h.screen.text.contains("Users         4"))
    }

    @Test func loadingState() throws {
        var h = try Harness.loggedIn()
        h.runEffects = false
        h.model.dashboard = DashboardState()
        h.key(.char("r"))
        #expect(h.model.dashboard.loading)
        #expect(h.screen.text.contains("Loading…"))
        #expect(h.screen.lines[23].hasSuffix("loading…"))
    }

    // MARK: Keys

    @Test func rReloadsAndVVerifies() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.key(.char("r"))
        #expect(h.effects == [.dashboard(.load(dueWithin: h.model.settings.dueSoon)), .dashboard(.count), .audit(.verify)])
        h.effects = []
        h.key(.char("v"))
        #expect(h.effects == [.audit(.verify)])
        #expect(h.model.audit.check != .running)
    }

    @Test func warningsScrollWithJAndK() throws {
        var h = try Harness.loggedIn(height: 16) { admin, clock in
            try populate(admin, clock)
            for i in 1...3 {
                try admin.createSecret("old/\(i)", .value(pw("x")), rotateBy: clock.now - Int64(i) * Clock.day)
            }
        }
        let rows = Layout.warningRows(width: 80, height: 16)
        #expect(h.model.warnings.count > rows)
        h.keys(.char("j"), .down, .char("j"), .char("j"), .char("j"), .char("j"), .char("j"))
        #expect(h.model.dashboard.offset == h.model.warnings.count - rows)
        h.keys(.char("k"), .up)
        #expect(h.model.dashboard.offset == h.model.warnings.count - rows - 2)
        expectScreen(
            h.screen, named: "dashboard-80x16-scrolled",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users         4                      ││ User         admin                   │
            │ Secrets       6                      ││ Roles        admin                   │
            │ Audit events  13                     ││ Key access   yes: can open secrets   │
            │ Data key      v1 active (1 version)  ││ Permissions  all 8                   │
            │ Password KDF  Argon2id t=1, 8 KiB    ││                                      │
            │ Created       2027-01-15 08:00 UTC   ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
            ┌─ Warnings (6) ───────────────────────────────────────────────────────────────┐
            │ ✗ old/3 is past its rotate-by date (2027-01-12, 3 d ago)                     │
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-13, 2 d ago)           │
            │ ✗ old/2 is past its rotate-by date (2027-01-13, 2 d ago)                     │
            │ ✗ old/1 is past its rotate-by date (2027-01-14, 1 d ago)                     │
            └───────────────────────────────────────────────────────────────── ↓ 2 more ───┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func enterOpensTheScreenOfTheFirstWarning() throws {
        var h = try Harness.loggedIn(setUp: populate)
        // First: the revocation warning (no screen), then the overdue secret.
        h.key(.enter)
        #expect(h.model.route == .secrets)
        #expect(h.effects.contains { $0.pageList == .secrets })
    }

    @Test func numberKeysSwitchScreens() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.key(.char("2")); #expect(h.model.route == .users)
        h.key(.char("3")); #expect(h.model.route == .secrets)
        h.key(.char("4")); #expect(h.model.route == .audit)
        h.key(.char("1")); #expect(h.model.route == .dashboard)
        #expect(h.effects.filter { $0.pageList == .users }.count == 1)
        // Coming back to the dashboard reloads it.
        #expect(h.effects.filter { $0 == .dashboard(.load(dueWithin: h.model.settings.dueSoon)) }.count == 1)
    }
}
