import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The users screen: list, filter as you type, details pane, account actions.
@Suite struct UsersTests {
    func users(width: Int = 80, height: Int = 24) throws -> Harness {
        var h = try Harness.loggedIn(width: width, height: height, setUp: populate)
        h.key(.char("2"))
        h.effects = []
        return h
    }

    @Test func list80x24() throws {
        let h = try users()
        #expect(h.model.users.rows.items.map(\.username) == ["admin", "bob", "carol", "erin"])
        expectScreen(
            h.screen, named: "users-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User admin ─────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      admin                      │
            │› admin        active     admin   ││ Display name  —                          │
            │  bob          active     operator││ Email         —                          │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         admin                      │
            │                                  ││ Permissions   users.read users.write     │
            │                                  ││               roles.manage secrets.list  │
            │                                  ││               secrets.read secrets.write │
            │                                  ││               keys.manage audit.read     │
            │                                  ││ Key access    granted                    │
            │                                  ││ Key pair      yes                        │
            │                                  ││ Must change   no                         │
            │                                  ││ Failed logins 0                          │
            │                                  ││ Expires       never                      │
            │                                  ││ Created       2027-01-15 08:00 UTC       │
            │                                  ││ Last login    2027-01-15 08:00 UTC       │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             j/↓ move  / filter  Esc back  n new  a roles  D delete  E edit  ?/F1 help
            """#)
        #expect(h.screen.style(of: "› admin") == Theme.selected)
    }

    @Test func list120x40() throws {
        var h = try users(width: 120, height: 40)
        h.key(.char("j"))
        expectScreen(
            h.screen, named: "users-120x40",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles                                    admin · vault.db
            ┌─ Users (4) ────────────────────────────────────────┐┌─ User bob ─────────────────────────────────────────────────────┐
            │  USERNAME             STATUS     ROLES             ││ Username      bob                                              │
            │  admin                active     admin             ││ Display name  Bob Builder                                      │
            │› bob                  active     operator          ││ Email         bob@example.com                                  │
            │  carol                active     auditor           ││ Status        active                                           │
            │  erin                 active                       ││ Roles         operator                                         │
            │                                                    ││ Permissions   users.read secrets.list secrets.read             │
            │                                                    ││               secrets.write                                    │
            │                                                    ││ Key access    granted                                          │
            │                                                    ││ Key pair      yes                                              │
            │                                                    ││ Must change   yes, at next login                               │
            │                                                    ││ Failed logins 0                                                │
            │                                                    ││ Expires       never                                            │
            │                                                    ││ Created       2027-01-15 08:00 UTC                             │
            │                                                    ││ Last login    never                                            │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            │                                                    ││                                                                │
            └────────────────────────────────────────────────────┘└────────────────────────────────────────────────────────────────┘
             j/↓ move  / filter  Esc back  n new  a roles  D delete  E edit  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func wideCharactersInADisplayNameAreLaidOutByWidth() throws {
        var h = try users()
        h.keys(.char("j"), .char("j"))
        #expect(h.model.users.rows.selectedItem?.username == "carol")
        let row = try #require(h.screen.row(containing: "Carol 山田 🔑"))
        // The right border stays in the last column: the wide characters took two cells each.
        #expect(h.screen[79, row].text == "│")
        let line = h.screen.lines[row]
        #expect(TextWidth.of(line) == 80)
    }

    @Test func filterAsYouType() throws {
        var h = try users()
        h.key(.char("/"))
        #expect(h.model.users.rows.filtering)
        h.type("er")  // erin, and bob (Bob Builder)
        #expect(h.model.users.rows.items.map(\.username) == ["bob", "erin"])
        h.key(.backspace)
        h.key(.backspace)
        #expect(h.model.users.rows.count == 4)
        h.type("erin")
        expectScreen(
            h.screen, named: "users-filtering",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (1 of 4) ─────────────────┐┌─ User erin ──────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      erin                       │
            │› erin         active             ││ Display name  —                          │
            │                                  ││ Email         —                          │
            │                                  ││ Status        active                     │
            │                                  ││ Roles         none                       │
            │                                  ││ Permissions   none                       │
            │                                  ││ Key access    none                       │
            │                                  ││ Key pair      yes                        │
            │                                  ││ Must change   yes, at next login         │
            │                                  ││ Failed logins 0                          │
            │                                  ││ Expires       never                      │
            │                                  ││ Created       2027-01-15 08:00 UTC       │
            │                                  ││ Last login    never                      │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └─ /erin ──────────────────────────┘└──────────────────────────────────────────┘
             Enter keep filter  Esc clear  ↑/↓ move
            """#)
        #expect(h.screen.cursor == Point(x: 8, y: 22))
        h.key(.enter)  // keep the filter
        #expect(!h.model.users.rows.filtering && h.model.users.rows.filter.text == "erin")
        // Filtering is a query: each text typed was one page read (with its count), and nothing else.
        #expect(h.effects.map(\.pageList) == Array(repeating: .users, count: 8))
        #expect(
            h.effects.compactMap { if case .users(.page(let q)) = $0 { q.filter } else { nil } } == [
                "e", "er", "e", "", "e", "er", "eri", "erin"
            ])
        h.key(.escape)  // clears the filter
        #expect(h.model.users.rows.filter.isEmpty && h.model.users.rows.count == 4)
        #expect(h.model.users.rows.selectedItem?.username == "erin")
        h.key(.escape)  // back to the dashboard
        #expect(h.model.route == .dashboard)
    }

    @Test func filterMatchingNothing() throws {
        var h = try users()
        h.key(.char("/"))
        h.type("zzz")
        #expect(h.screen.text.contains("No user matches \"zzz\"."))
        h.key(.escape)
        #expect(h.model.users.rows.count == 4 && !h.model.users.rows.filtering)
    }

    @Test func movementKeys() throws {
        var h = try users(height: 16)
        #expect(Layout.listRows(.users, width: 80, height: 16) == 11)
        func selected() -> Int { h.model.users.rows.list.selected }
        h.key(.char("j")); #expect(selected() == 1)
        h.key(.down); #expect(selected() == 2)
        h.key(.char("k")); #expect(selected() == 1)
        h.key(.up); #expect(selected() == 0)
        h.key(.up); #expect(selected() == 0)
        h.key(.char("G")); #expect(selected() == 3)
        h.key(.char("g")); #expect(selected() == 0)
        h.key(.end); #expect(selected() == 3)
        h.key(.home); #expect(selected() == 0)
        h.key(.pageDown); #expect(selected() == 3)
        h.key(.pageUp); #expect(selected() == 0)
        // While filtering, arrows and pages still move.
        h.key(.char("/"))
        h.keys(.down, .pageDown, .up, .pageUp)
        #expect(selected() == 0)
        #expect(h.model.users.rows.filter.isEmpty)
    }

    @Test func tabAndEnterFocusTheDetails() throws {
        var h = try users(height: 16)
        h.key(.tab)
        #expect(h.model.users.focus == .detail)
        h.keys(.char("j"), .char("j"))  // scrolls the details, not the list
        #expect(h.model.users.detailOffset == 2 && h.model.users.rows.list.selected == 0)
        h.keys(.pageDown, .end)
        let maxOffset =
            UserDetail.lines(
                h.model.users.rows.selectedItem!, now: h.clock.now, width: Layout.split(width: 80, height: 16).detail.width - 4
            ).count
            - Layout.detailRows(width: 80, height: 16)
        #expect(h.model.users.detailOffset == maxOffset)
        h.keys(.pageUp, .char("k"), .up, .home, .char("g"), .char("G"))
        #expect(h.model.users.detailOffset == maxOffset)
        expectScreen(
            h.screen, named: "users-detail-scrolled",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User admin ─────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Roles         admin                      │
            │› admin        active     admin   ││ Permissions   users.read users.write     │
            │  bob          active     operator││               roles.manage secrets.list  │
            │  carol        active     auditor ││               secrets.read secrets.write │
            │  erin         active             ││               keys.manage audit.read     │
            │                                  ││ Key access    granted                    │
            │                                  ││ Key pair      yes                        │
            │                                  ││ Must change   no                         │
            │                                  ││ Failed logins 0                          │
            │                                  ││ Expires       never                      │
            │                                  ││ Created       2027-01-15 08:00 UTC       │
            │                                  ││ Last login    2027-01-15 08:00 UTC       │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             j/↓ move  / filter  Esc back  n new  a roles  D delete  E edit  ?/F1 help
            """#)
        h.key(.tab)
        #expect(h.model.users.focus == .list)
        h.key(.enter)
        #expect(h.model.users.focus == .detail)
        h.key(.escape)
        #expect(h.model.users.focus == .list && h.model.route == .users)
    }

    @Test func rReloads() throws {
        var h = try users()
        h.key(.char("r"))
        // The page read, then the count of the whole list.
        #expect(h.effects.map(\.pageList) == [.users, nil] && h.effects.map(\.countList) == [nil, .users])
    }

    @Test func lockUnlockDisableEnable() throws {
        var h = try users()
        h.key(.char("j"))  // bob
        h.key(.char("l"))
        #expect(h.effects.first == .users(.change(.lock, "bob")))
        #expect(h.model.toasts.last?.text == "bob locked")
        #expect(h.model.users.rows.selectedItem?.locked == true)
        expectScreen(
            h.screen, named: "users-locked",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          locked     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        locked                     │
            │  erin         active             ││ Roles         operator                   │
            │                                  ││ Permissions   users.read secrets.list    │
            │                                  ││               secrets.read secrets.write │
            │                                  ││ Key access    none                       │
            │                                  ││ Key pair      yes                        │
            │                                  ││ Must change   yes, at next login         │
            │                                  ││ Failed logins 0                          │
            │                                  ││ Expires       never                      │
            │                                  ││ Created       2027-01-15 08:00 UTC       │
            │                                  ││ Last login    never                      │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────── ✓ bob locked ┘
             j/↓ move  / filter  Esc back  n new  a roles  D delete  E edit  ?/F1 help
            """#)
        // Locking took bob's grant (a locked user receives nothing); unlocking gives it back.
        h.key(.char("u"))
        #expect(h.model.users.rows.selectedItem?.locked == false)
        #expect(h.model.users.rows.selectedItem?.keyAccess == .granted)
        h.key(.char("x"))
        #expect(h.model.users.rows.selectedItem?.disabled == true)
        h.key(.char("e"))
        #expect(h.model.users.rows.selectedItem?.disabled == false)
        #expect(h.effects.filter { $0.pageList == .users }.count == 4)
    }

    @Test func guardsOfTheCoreAreShownAsToasts() throws {
        var h = try users()
        h.key(.char("l"))  // admin locking themselves
        #expect(h.model.toasts.last?.isError == true)
        #expect(h.model.toasts.last?.text == "refused: you cannot lock your own account; ask another administrator")
        #expect(h.model.users.rows.selectedItem?.locked == false)
    }

    @Test func resetShowsTheTemporaryPasswordOnce() throws {
        var h = try users()
        h.keys(.char("j"), .char("R"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "bob" && c.pending == .resetPassword("bob"))
        // The key that started it does not confirm it.
        h.key(.char("R"))
        h.key(.enter)
        #expect(h.effects.isEmpty)
        guard case .confirm(let c2) = h.model.overlay else { Issue.record("closed"); return }
        #expect(c2.error == "That is not \"bob\". Type it exactly, or Esc to cancel.")
        h.key(.ctrl("u"))
        h.type("bob")
        h.key(.enter)
        #expect(h.effects.first == .users(.resetPassword("bob")))
        guard case .notice(let n) = h.model.overlay, let temp = n.secret else { Issue.record("no notice"); return }
        let shown = try #require(temp.bytes.utf8String())
        #expect(shown.count == Session.temporaryPasswordLength)
        expectScreen(
            h.screen, named: "users-temporary-password",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │                                  ││ Permissions   users.read secrets.list    │
            │       ┌─ Temporary password for bob ─────────────────────────────────┐.write │
            │       │ Shown this once. Give it to bob over a safe channel; it must │       │
            │       │ be changed at the first login and expires in 24 hours.       │       │
            │       │                                                              │       │
            │       │   ####################                                       │       │
            │       │                                                              │       │
            │       └─ Enter done ─────────────────────────────────────────────────┘       │
            │                                  ││ Last login    never                      │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter done
            """#, replacing: [shown: String(repeating: "#", count: shown.count)])
        h.key(.enter)
        #expect(h.model.overlay == nil)
        #expect(h.model.users.rows.selectedItem?.mustChangePassword == true)
    }

    @Test func deleteNeedsTheNameTyped() throws {
        var h = try users()
        h.keys(.char("G"), .char("D"))  // erin
        expectScreen(
            h.screen, named: "users-delete-confirm",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User erin ──────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      erin                       │
            │  admin        active     admin   ││ Display name  —                          │
            │  bob          active     operator││ Email         —                          │
            │  carol        active     auditor ││ Status        active                     │
            │› erin         active             ││ Roles         none                       │
            │       ┌─ Delete user erin? ──────────────────────────────────────────┐       │
            │       │ The account, its roles and its key grant are deleted for     │       │
            │       │ good. Events they signed stay verifiable.                    │       │
            │       │                                                              │       │
            │       │ Type "erin" to confirm:                                      │       │
            │       │ [                                                          ] │       │
            │       │ An empty Enter cancels.                                      │       │
            │       │                                                              │       │
            │       └─ Enter confirm · Esc cancel ─────────────────────────────────┘       │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter confirm  Esc cancel
            """#)
        h.key(.escape)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
        #expect(h.effects.isEmpty)
        h.key(.char("D"))
        h.type("erin")
        h.key(.enter)
        #expect(h.effects.first == .users(.delete("erin")))
        #expect(h.model.users.rows.items.map(\.username) == ["admin", "bob", "carol"])
        #expect(h.model.toasts.last?.text == "Deleted user erin")
    }

    @Test func withoutUsersReadTheScreenSaysSo() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.model.account?.permissions = [.secretsList]
        h.model.users = UsersState()
        h.key(.char("2"))
        #expect(!h.effects.contains { $0.pageList == .users })
        #expect(h.screen.text.contains("Listing users needs users.read."))
    }

    // MARK: New user

    @Test func newUserWithRoles() throws {
        var h = try users()
        h.key(.char("n"))
        #expect(h.effects == [.users(.loadRoles)])
        guard case .newUser(let f) = h.model.overlay else { Issue.record("no form"); return }
        // admin holds every permission: every role is assignable.
        #expect(f.roles?.map(\.name) == ["admin", "security-officer", "operator", "helpdesk", "auditor", "user"])
        expectScreen(
            h.screen, named: "users-new-empty",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User admin ─────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      admin                      │
            │› admin        active     admin   ││ Display name  —                          │
            │  bob          active     operator││ Email         —                          │
            │  car┌─ New user ───────────────────────────────────────────────────────┐     │
            │  eri│ Username      [                                                ] │     │
            │     │ Email         [                                                ] │     │
            │     │ Display name  [                                                ] │ist  │
            │     │                                                                  │rite │
            │     │ Roles (Space toggles; only roles you may assign)                 │     │
            │     │   [ ] admin             Everything                               │     │
            │     │   [ ] security-officer  Keys and audit                           │     │
            │     │   [ ] operator          Secrets of the application               │     │
            │     │   [ ] helpdesk          User accounts                            │     │
            │     │   [ ] auditor           Read the audit log                       │     │
            │     │   [ ] user              An account of the application, not of t… │     │
            │     └─ Enter create · Tab next · Esc cancel ───────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter create  Tab next field  Space toggle role  Esc cancel
            """#)
        h.type("frank")
        h.key(.tab)
        h.type("frank@")
        h.key(.down)
        h.type("Frank 山田")
        expectScreen(
            h.screen, named: "users-new-invalid",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User admin ─────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      admin                      │
            │› admin        active     admin   ││ Display name  —                          │
            │  bob          active     operator││ Email         —                          │
            │  car┌─ New user ───────────────────────────────────────────────────────┐     │
            │  eri│ Username      [frank                                           ] │     │
            │     │ Email         [frank@                                          ] │     │
            │     │ Display name  [Frank 山田                                      ] │ist  │
            │     │                                                                  │rite │
            │     │ Roles (Space toggles; only roles you may assign)                 │     │
            │     │   [ ] admin             Everything                               │     │
            │     │   [ ] security-officer  Keys and audit                           │     │
            │     │   [ ] operator          Secrets of the application               │     │
            │     │   [ ] helpdesk          User accounts                            │     │
            │     │   [ ] auditor           Read the audit log                       │     │
            │     │   [ ] user              An account of the application, not of t… │     │
            │     │ ✗ email: needs a domain such as example.com after the "@" ("fra… │     │
            │     └─ Enter create · Tab next · Esc cancel ───────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter create  Tab next field  Space toggle role  Esc cancel
            """#)
        h.key(.enter)  // the email is wrong: focus goes there, nothing is created
        guard case .newUser(let g) = h.model.overlay else { Issue.record("closed"); return }
        #expect(g.focus == .email && !h.effects.contains { if case .users(.create) = $0 { true } else { false } })
        h.type("example.com")
        h.keys(.tab, .tab)  // to the roles
        h.keys(.down, .down, .char(" "), .down, .char(" "), .char(" "), .down, .char(" "))  // operator, auditor
        h.key(.up)
        h.key(.enter)
        #expect(
            h.effects.contains(
                .users(
                    .create(
                        username: "frank", email: "frank@example.com", displayName: "Frank 山田",
                        roles: ["operator", "auditor"]))))
        guard case .notice(let n) = h.model.overlay, let temp = n.secret?.bytes.utf8String() else {
            Issue.record("no temporary password"); return
        }
        #expect(temp.count == Session.temporaryPasswordLength)
        h.key(.enter)
        let frank = try #require(h.model.users.rows.items.first { $0.username == "frank" })
        #expect(frank.roles.sorted() == ["auditor", "operator"] && frank.email == "frank@example.com")
        #expect(frank.mustChangePassword)
    }

    @Test func newUserFormMovement() throws {
        var h = try users()
        h.key(.char("n"))
        func focus() -> NewUserState.Field? {
            if case .newUser(let f) = h.model.overlay { return f.focus }
            return nil
        }
        h.key(.up); #expect(focus() == .username, "↑ stops at the first field")
        h.key(.backTab); #expect(focus() == .roles, "Shift-Tab goes round to the roles")
        h.key(.tab); #expect(focus() == .username, "Tab goes round to the first field")
        h.keys(.down, .down); #expect(focus() == .displayName)
        h.key(.down); #expect(focus() == .roles, "↓ leads from the last text field into the roles")
        h.key(.down)  // in the roles ↓ moves the cursor
        guard case .newUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.focus == .roles && f.roleCursor == 1)
        h.keys(.up, .up); #expect(focus() == .displayName, "↑ above the first role: the last text field")
    }

    @Test func newUserRefusedByTheCoreKeepsTheForm() throws {
        var h = try users()
        h.key(.char("n"))
        h.type("BOB")  // names are unique without regard to case
        h.key(.enter)
        guard case .newUser(let f) = h.model.overlay else { Issue.record("closed"); return }
        #expect(f.error?.hasPrefix("conflict: a user named BOB already exists") == true)
        #expect(!f.busy && f.username.text == "BOB")
        h.key(.escape)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
    }

    @Test func aHelpdeskSeesNoRolesToAssign() throws {
        var h = try Harness.withVault { admin, clock in
            try populate(admin, clock)
            let temp = try admin.createUser(username: "hank", roles: ["helpdesk"]).temporaryPassword
            guard case .mustChangePassword(let c) = try admin.vault.login(username: "hank", password: temp) else { return }
            _ = try c.complete(newPassword: pw(userPassword))
        }
        h.logIn("hank", userPassword)
        h.key(.char("2"))
        h.effects = []
        h.key(.char("n"))
        #expect(h.effects.isEmpty)  // no roles.manage: nothing to load
        #expect(h.screen.text.contains("Roles: assigning them needs roles.manage"))
        h.key(.escape)
        h.key(.char("a"))
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Changing roles needs roles.manage")
    }

    @Test func changingTheRolesOfAUser() throws {
        var h = try users()
        h.key(.char("j"))  // bob: operator
        h.key(.char("a"))
        guard case .userRoles(let r) = h.model.overlay else { Issue.record("no dialog"); return }
        #expect(r.chosen == ["operator"] && r.roles?.count == 6)
        h.keys(.down, .down, .char(" "), .char("j"), .char("j"), .char(" "))  // operator off, auditor on
        expectScreen(
            h.screen, named: "users-roles",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Users (4) ──────────────────────┐┌─ User bob ───────────────────────────────┐
            │  USERNAME     STATUS     ROLES   ││ Username      bob                        │
            │  admin        active     admin   ││ Display name  Bob Builder                │
            │› bob          active     operator││ Email         bob@example.com            │
            │  carol        active     auditor ││ Status        active                     │
            │  erin         active             ││ Roles         operator                   │
            │     ┌─ Roles of bob ───────────────────────────────────────────────────┐t    │
            │     │ Checked roles are held; only roles you may assign are listed.    │rite │
            │     │                                                                  │     │
            │     │   [ ] admin             Everything                               │     │
            │     │   [ ] security-officer  Keys and audit                           │     │
            │     │   [ ] operator          Secrets of the application               │     │
            │     │   [ ] helpdesk          User accounts                            │     │
            │     │ › [x] auditor           Read the audit log                       │     │
            │     │   [ ] user              An account of the application, not of t… │     │
            │     └─ Space toggle · Enter apply · Esc cancel ────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Space toggle  Enter apply  Esc cancel
            """#)
        h.key(.enter)
        #expect(h.effects.contains(.users(.setRoles("bob", add: ["auditor"], remove: ["operator"]))))
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Roles of bob changed")
        #expect(h.model.users.rows.selectedItem?.roles == ["auditor"])
        // Nothing changed: nothing to do.
        h.key(.char("a"))
        h.key(.enter)
        #expect(h.model.toasts.last?.text == "Roles unchanged")
        h.keys(.char("a"), .char("k"), .up, .escape)
        #expect(h.model.overlay == nil)
    }

    /// Each grant and revoke is its own transaction: a refusal part-way keeps what went before,
    /// and the console says both.
    @Test func aRoleChangeStoppedPartWaySaysHowFarItGot() throws {
        var h = try users()
        h.key(.char("j"))  // bob: operator
        h.key(.char("a"))
        let action = h.runner.run(.users(.setRoles("bob", add: ["auditor", "no-such-role"], remove: [])))
        guard case .users(.rolesSet("bob", changed: 1, let refusal?)) = action else {
            Issue.record("expected a partial change, got \(action)")
            return
        }
        #expect(refusal.contains("no-such-role"))
        h.send(action)
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.suffix(2).map(\.text) == ["Roles of bob changed", refusal])
        #expect(h.model.toasts.suffix(2).map(\.isError) == [false, true])
        #expect(try h.acting().user(named: "bob").roles.contains("auditor"))
    }

    @Test func aRefusedRoleChangeIsShownInTheDialog() throws {
        var h = try users()
        h.key(.char("a"))  // admin, on themselves: nobody changes their own roles
        h.key(.char(" "))
        h.key(.enter)
        guard case .userRoles(let r) = h.model.overlay else { Issue.record("closed"); return }
        #expect(r.error == "refused: you cannot change the roles of your own account; ask another administrator")
        #expect(!r.busy)
        #expect(h.screen.text.contains("✗ refused: you cannot change the roles of your own"))
    }
}
