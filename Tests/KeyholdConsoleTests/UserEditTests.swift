import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// A user `name` with `roles` and their own password (`userPassword`), made by the administrator.
func addLoginUser(_ admin: Session, _ name: String, roles: [String]) throws {
    let temp = try admin.createUser(username: name, roles: roles).temporaryPassword
    guard case .mustChangePassword(let c) = try admin.vault.login(username: name, password: temp) else {
        Issue.record("\(name) was not asked for a new password")
        return
    }
    _ = try c.complete(newPassword: pw(userPassword))
}

extension Harness {
    /// The session the runner holds, to read what the core recorded.
    func acting() throws -> Session { try #require(session) }
}

/// The users screen's edit (E) and expiry (t) dialogs.
@Suite struct UserEditTests {
    func users(width: Int = 80, height: Int = 24) throws -> Harness {
        var h = try Harness.loggedIn(width: width, height: height, setUp: populate)
        h.key(.char("2"))
        h.effects = []
        return h
    }

    /// Selects a user of the list by name.
    func select(_ name: String, _ h: inout Harness) {
        h.key(.char("g"))
        while h.model.users.rows.selectedItem?.username != name && h.model.users.rows.list.selected < h.model.users.rows.count - 1 {
            h.key(.char("j"))
        }
        #expect(h.model.users.rows.selectedItem?.username == name)
    }

    /// Every audit event, to show that a refused change wrote nothing.
    func eventCount(_ h: Harness) throws -> Int { try h.acting().auditEvents().count }

    // MARK: Edit user

    @Test func editFormOfAUserWithNothingSet() throws {
        var h = try users()
        select("erin", &h)
        h.key(.char("E"))
        guard case .editUser(let f) = h.model.overlay else { Issue.record("no form"); return }
        #expect(f.username == "erin" && f.email.isEmpty && f.displayName.isEmpty && f.focus == .email)
        #expect(h.effects.isEmpty)  // the form is filled from the list: nothing to load
        expectScreen(
            h.screen, named: "user-edit-empty",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User erin ──────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      erin                       │
            │  admin        active     admin   ││ Display name  —                          │
            │  bob          active     operator││ Email         —                          │
            │  carol        active     auditor ││ Status        active                     │
            │› erin         active             ││ Roles         none                       │
            │                                  ││ Permissions   none                       │
            │     ┌─ Edit user erin ─────────────────────────────────────────────────┐     │
            │     │ Email         [                                                ] │     │
            │     │ Display name  [                                                ] │     │
            │     │                                                                  │     │
            │     │ An empty email removes it. The username does not change.         │     │
            │     │                                                                  │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Esc cancel
            """#)
        #expect(h.screen.cursor == Point(x: 23, y: 9))
    }

    @Test func editFormShowsProblemsAndSendsNothing() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("E"))
        expectScreen(
            h.screen, named: "user-edit-filled",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │                                  ││ Permissions   users.read secrets.list    │
            │     ┌─ Edit user bob ──────────────────────────────────────────────────┐rite │
            │     │ Email         [bob@example.com                                 ] │     │
            │     │ Display name  [Bob Builder                                     ] │     │
            │     │                                                                  │     │
            │     │ An empty email removes it. The username does not change.         │     │
            │     │                                                                  │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Esc cancel
            """#)
        h.key(.ctrl("u"))
        h.type("bob@")
        h.key(.tab)
        h.key(.end)
        h.type("\u{202E}")  // a bidi override: the display name rule refuses it
        expectScreen(
            h.screen, named: "user-edit-invalid",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │                                  ││ Permissions   users.read secrets.list    │
            │     ┌─ Edit user bob ──────────────────────────────────────────────────┐rite │
            │     │ Email         [bob@                                            ] │     │
            │     │ Display name  [Bob Builder?                                    ] │     │
            │     │                                                                  │     │
            │     │ An empty email removes it. The username does not change.         │     │
            │     │ ✗ email: needs a domain such as example.com after the "@" ("bob… │     │
            │     │ ✗ display name: must not contain a bidirectional text control (… │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Esc cancel
            """#)
        let before = try eventCount(h)
        h.key(.enter)
        guard case .editUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.focus == .email, "Enter goes to the first field with a problem")
        #expect(!f.busy && h.effects.isEmpty)
        #expect(try eventCount(h) == before)
        #expect(try h.acting().user(named: "bob").email == "bob@example.com")
    }

    @Test func editSavesOnlyWhatChanged() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("E"))
        h.key(.ctrl("u"))
        h.type("bob@builder.example")
        h.runEffects = false
        h.key(.enter)
        #expect(h.effects == [.users(.edit("bob", email: .set("bob@builder.example"), displayName: nil))])
        guard case .editUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.busy)
        expectScreen(
            h.screen, named: "user-edit-busy",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │                                  ││ Permissions   users.read secrets.list    │
            │     ┌─ Edit user bob ──────────────────────────────────────────────────┐rite │
            │     │ Email         [bob@builder.example                             ] │     │
            │     │ Display name  [Bob Builder                                     ] │     │
            │     │                                                                  │     │
            │     │ An empty email removes it. The username does not change.         │     │
            │     │ Saving…                                                          │     │
            │     │                                                                  │     │
            │     └─ saving… ────────────────────────────────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Esc cancel
            """#)
        // Keys wait while it saves.
        h.key(.escape)
        #expect(h.model.overlay == .editUser(f))
    }

    @Test func editLandsInTheVault() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("E"))
        h.key(.ctrl("u"))
        h.type("bob@builder.example")
        h.key(.down)
        h.key(.ctrl("u"))
        h.type("Robert 山田")
        h.key(.enter)
        #expect(h.effects.first == .users(.edit("bob", email: .set("bob@builder.example"), displayName: "Robert 山田")))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "bob updated")
        let bob = try h.acting().user(named: "bob")
        #expect(bob.email == "bob@builder.example" && bob.displayName == "Robert 山田")
        #expect(h.model.users.rows.selectedItem?.displayName == "Robert 山田")
        #expect(h.screen.text.contains("Robert 山田"))
        let event = try #require(try h.acting().auditEvents(AuditQuery(action: "user.edit")).last)
        #expect(event.actor == "admin" && event.target == "user:bob")
        #expect(event.details.contains("display_name") && event.details.contains("email"))
    }

    @Test func anEmptyEmailClearsIt() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("E"))
        h.key(.ctrl("u"))
        h.key(.enter)
        #expect(h.effects.first == .users(.edit("bob", email: .clear, displayName: nil)))
        #expect(try h.acting().user(named: "bob").email == nil)
        #expect(try h.acting().user(named: "bob").displayName == "Bob Builder")
    }

    @Test func unchangedOrCancelledWritesNothing() throws {
        var h = try users()
        select("bob", &h)
        let before = try eventCount(h)
        h.key(.char("E"))
        h.key(.enter)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "bob unchanged")
        h.key(.char("E"))
        h.type("x")
        h.keys(.backTab, .up)  // both move between the two fields
        guard case .editUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.focus == .email)
        h.key(.escape)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
        #expect(h.effects.isEmpty)
        #expect(try eventCount(h) == before)
    }

    @Test func editNeedsUsersWrite() throws {
        var h = try users()
        h.model.account?.permissions = [.usersRead]
        h.key(.char("E"))
        #expect(h.model.overlay == nil)
        #expect(
            h.model.toasts.last
                == Toast(
                    text: "Editing users needs users.write", isError: true,
                    until: h.clock.now + 2 * h.model.settings.toastFor))
        h.key(.char("t"))
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Setting an expiry needs users.write")
    }

    /// A helpdesk may change accounts, but not one holding permissions it lacks.
    @Test func aHelpdeskCannotEditAnAdministrator() throws {
        var h = try Harness.withVault { admin, clock in
            try populate(admin, clock)
            try addLoginUser(admin, "hank", roles: ["helpdesk"])
        }
        h.logIn("hank", userPassword)
        h.key(.char("2"))
        select("admin", &h)
        h.key(.char("E"))
        #expect(h.model.overlay == nil)
        #expect(
            h.model.toasts.last?.text
                == "You cannot change admin: they hold roles.manage, secrets.list, secrets.read, secrets.write, keys.manage, audit.read, which you do not"
        )
        // With a stale view of its own permissions the console would offer it; the core still refuses.
        h.model.account?.permissions = Set(Permission.allCases)
        // hank may not read the log: count events as the administrator.
        guard case .session(let admin) = try h.acting().vault.login(username: "admin", password: pw(adminPassword)) else {
            Issue.record("admin login"); return
        }
        let before = try admin.auditEvents().count
        h.key(.char("E"))
        h.key(.tab)
        h.type("The Boss")
        h.key(.enter)
        guard case .editUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.error?.hasPrefix("refused: ") == true, "\(f.error ?? "no error")")
        #expect(!f.busy)
        #expect(h.screen.text.contains("✗ refused: "))
        #expect(try h.acting().user(named: "admin").displayName == "")
        #expect(try admin.auditEvents().count == before)
        // erin holds no permissions: the helpdesk may edit her.
        h.key(.escape)
        select("erin", &h)
        h.key(.char("E"))
        h.type("erin@example.com")
        h.key(.enter)
        #expect(try h.acting().user(named: "erin").email == "erin@example.com")
    }

    // MARK: Expiry

    @Test func expiryFormEmpty() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("t"))
        guard case .expiry(let f) = h.model.overlay else { Issue.record("no form"); return }
        #expect(f.username == "bob" && f.current == nil && f.date.isEmpty)
        expectScreen(
            h.screen, named: "user-expiry-empty",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │       ┌─ Expiry of bob ──────────────────────────────────────────────┐ist    │
            │       │ Now           never                                          │.write │
            │       │ Expires on    [                      ]                       │       │
            │       │                                                              │       │
            │       │ YYYY-MM-DD, in UTC like every time shown: the account stops  │       │
            │       │ working at 00:00 UTC that day. Empty: never expires.         │       │
            │       │                                                              │       │
            │       │ Never expires.                                               │       │
            │       │                                                              │       │
            │       └─ Enter save · Esc cancel ────────────────────────────────────┘       │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Esc cancel
            """#)
    }

    @Test func expiryFormErrorsNameTheField() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("t"))
        h.type("2027-02")
        #expect(!h.screen.text.contains("✗"), "a half-typed date is not an error yet")
        h.type("-30")
        expectScreen(
            h.screen, named: "user-expiry-invalid",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │       ┌─ Expiry of bob ──────────────────────────────────────────────┐ist    │
            │       │ Now           never                                          │.write │
            │       │ Expires on    [2027-02-30            ]                       │       │
            │       │                                                              │       │
            │       │ YYYY-MM-DD, in UTC like every time shown: the account stops  │       │
            │       │ working at 00:00 UTC that day. Empty: never expires.         │       │
            │       │                                                              │       │
            │       │ ✗ expires: "2027-02-30" is not a real date (February 2027    │       │
            │       │   has 28 days)                                               │       │
            │       └─ Enter save · Esc cancel ────────────────────────────────────┘       │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Esc cancel
            """#)
        let before = try eventCount(h)
        h.key(.enter)
        #expect(h.effects.isEmpty)
        h.key(.ctrl("u"))
        h.type("1/2/27")
        h.key(.enter)
        guard case .expiry(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.problem() == "expires: expected a date as YYYY-MM-DD, such as 2027-03-01 (got \"1/2/27\")")
        #expect(h.screen.text.contains("✗ expires: expected a date as YYYY-MM-DD"))
        // Typing again hides the message until the date is long enough to judge.
        h.key(.backspace)
        guard case .expiry(let g) = h.model.overlay else { Issue.record("closed"); return }
        #expect(g.problem() == nil)
        #expect(h.effects.isEmpty)
        #expect(try eventCount(h) == before)
        #expect(try h.acting().user(named: "bob").expiresAt == nil)
    }

    @Test func expirySetsAndClears() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("t"))
        h.type("2027-02-01")
        #expect(h.screen.text.contains("Expires 2027-02-01 00:00 UTC, in 16 d."))
        h.runEffects = false
        h.key(.enter)
        let feb1: Int64 = 1_801_440_000_000
        #expect(h.effects == [.users(.setExpiry("bob", at: feb1))])
        expectScreen(
            h.screen, named: "user-expiry-busy",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │       ┌─ Expiry of bob ──────────────────────────────────────────────┐ist    │
            │       │ Now           never                                          │.write │
            │       │ Expires on    [2027-02-01            ]                       │       │
            │       │                                                              │       │
            │       │ YYYY-MM-DD, in UTC like every time shown: the account stops  │       │
            │       │ working at 00:00 UTC that day. Empty: never expires.         │       │
            │       │                                                              │       │
            │       │ Saving…                                                      │       │
            │       │                                                              │       │
            │       └─ saving… ────────────────────────────────────────────────────┘       │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Esc cancel
            """#)
        // The result, as the runner would give it.
        h.send(h.runner.run(h.effects[0]))
        let read = try #require(h.effects.last { $0.pageList == .users })
        let count = try #require(h.effects.last { $0.countList == .users })
        h.runEffects = true
        h.effects = []
        h.send(h.runner.run(read))
        h.send(h.runner.run(count))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "bob expires 2027-02-01 00:00 UTC")
        #expect(try h.acting().user(named: "bob").expiresAt == feb1)
        #expect(h.model.users.rows.selectedItem?.expiresAt == feb1)
        let row = try #require(h.screen.row(containing: "Expires"))
        #expect(h.screen.lines[row].contains("Expires       2027-02-01 00:00 UTC"))
        #expect(h.screen.style(of: "2027-02-01 00:00 UTC") == .plain)

        // The form opens on the current date; untouched, it changes nothing.
        h.key(.char("t"))
        guard case .expiry(let f) = h.model.overlay else { Issue.record("no form"); return }
        #expect(f.date.text == "2027-02-01" && f.current == feb1)
        #expect(h.screen.text.contains("2027-02-01 00:00 UTC (in 16 d)"))
        h.key(.enter)
        #expect(h.model.toasts.last?.text == "Expiry of bob unchanged" && h.effects.isEmpty)

        // Empty: never.
        h.key(.char("t"))
        h.key(.ctrl("u"))
        #expect(h.screen.text.contains("Clears the expiry: the account never expires."))
        h.key(.enter)
        #expect(h.effects.first == .users(.setExpiry("bob", at: nil)) && h.effects.dropFirst().map(\.pageList) == [.users, nil])
        #expect(h.effects.last?.countList == .users)
        #expect(h.model.toasts.last?.text == "bob never expires")
        #expect(try h.acting().user(named: "bob").expiresAt == nil)
        let event = try #require(try h.acting().auditEvents(AuditQuery(action: "user.expire")).last)
        #expect(event.details.contains("never"))
    }

    @Test func aPastDateExpiresAnotherAccountAtOnce() throws {
        var h = try users()
        select("bob", &h)
        h.key(.char("t"))
        h.type("2027-01-01")
        #expect(h.screen.text.contains("2027-01-01 00:00 UTC is past: the account expires on save."))
        h.key(.enter)
        #expect(try h.acting().user(named: "bob").status(at: h.clock.now) == "expired")
        #expect(h.model.users.rows.selectedItem?.status(at: h.clock.now) == "expired")
        #expect(h.screen.style(of: "2027-01-01 00:00 UTC") == Theme.error)
        // Within a week: a warning in the details.
        h.key(.char("t"))
        h.key(.ctrl("u"))
        h.type("2027-01-20")
        h.key(.enter)
        #expect(h.screen.style(of: "2027-01-20 00:00 UTC") == Theme.warning)
        #expect(h.model.users.rows.selectedItem?.status(at: h.clock.now) == "active")
    }

    @Test func expiringYourselfNowIsRefusedByTheCore() throws {
        var h = try users()
        select("admin", &h)
        let before = try eventCount(h)
        h.key(.char("t"))
        h.type("2027-01-01")
        h.key(.enter)
        guard case .expiry(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.error == "refused: you cannot expire your own account; ask another administrator")
        #expect(!f.busy)
        #expect(h.screen.text.contains("✗ refused: you cannot expire your own account"))
        #expect(try h.acting().user(named: "admin").expiresAt == nil)
        #expect(try eventCount(h) == before)
        // A future date is refused too: nobody sets their own expiry. The form says so.
        h.key(.ctrl("u"))
        h.type("2028-02-29")
        h.key(.enter)
        guard case .expiry(let g) = h.model.overlay else { Issue.record("closed"); return }
        #expect(g.error == "refused: you cannot expire your own account; ask another administrator", "\(g.error ?? "no error")")
        #expect(try h.acting().user(named: "admin").expiresAt == nil)
        #expect(try eventCount(h) == before)
    }

    @Test func daysParseAsUTCMidnight() throws {
        #expect(try Fmt.day("1970-01-01", field: "d") == 0)
        #expect(try Fmt.day("2027-02-01", field: "d") == 1_801_440_000_000)
        // Every day for ten years, leap days included, comes back through Fmt.date.
        var t: Int64 = 1_800_000_000_000 / Clock.day * Clock.day
        for _ in 0..<3700 {
            #expect(try Fmt.day(Fmt.date(t), field: "d") == t)
            t += Clock.day
        }
        for (text, rule) in [
            ("2027-02-29", "date"), ("2027-13-01", "date"), ("2027-00-10", "date"), ("1969-12-31", "range"),
            ("2027-2-1", "format"), ("27-02-01", "format"), ("2027/02/01", "format"), ("", "format"),
            ("２０２７-02-01", "format"), ("2027-02-01T00:00", "format")
        ] {
            do {
                _ = try Fmt.day(text, field: "expires")
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.rule.rawValue == rule, "\(text)")
                #expect(error.field == "expires" && error.message.hasPrefix("expires: "))
            }
        }
    }

    // MARK: Keys, hints and help

    @Test func newKeysAreListedInHelpAndHints() throws {
        var h = try users()
        let keys = Bindings.of(.users)
        #expect(keys.contains { $0.keys == [.char("E")] && $0.hint == "edit" })
        #expect(keys.contains { $0.keys == [.char("t")] })
        #expect(h.screen.lines[23].contains("E edit"))
        h.key(.char("?"))
        let lines = Console.helpLines(h.model)
        #expect(lines.contains { $0.key == "E" && $0.help == "edit the email and display name" })
        #expect(lines.contains { $0.key == "t" && $0.help == "set or clear the expiry date (a day, UTC)" })
        h.key(.escape)
        h.key(.char("E"))
        #expect(h.screen.lines[23] == " Enter save  Tab next field  Esc cancel")
        h.key(.escape)
        h.key(.char("t"))
        #expect(h.screen.lines[23] == " Enter save  Esc cancel")
    }

    @Test func noUserSelectedNoForm() throws {
        var h = try users()
        h.key(.char("/"))
        h.type("zzz")
        h.key(.enter)
        h.effects = []  // the filter's page reads
        h.keys(.char("E"), .char("t"))
        #expect(h.model.overlay == nil && h.effects.isEmpty)
    }

    @Test func lockingClosesTheForm() throws {
        var h = try users()
        h.key(.char("E"))
        h.wait(h.model.settings.idleLock)
        #expect(h.model.route == .login && h.model.overlay == nil)
        // A result that arrives after the lock is dropped.
        h.send(.users(.edited("bob")))
        h.send(.users(.expirySet("bob", at: nil)))
        #expect(h.model.toasts.allSatisfy { !$0.text.contains("bob") })
    }
}
