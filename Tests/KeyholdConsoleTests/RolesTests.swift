import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

@Suite struct RolesTests {
    @Test func roles80x24() throws {
        var h = try Harness.loggedIn { admin, _ in
            _ = try admin.createUser(username: "bob", roles: ["operator"])
        }
        h.key(.char("6"))
        #expect(h.model.route == .roles)
        #expect(h.effects.contains(.roles(.load)))
        expectScreen(
            h.screen, named: "roles-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (6) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› admin             8     1       ││ Kind        built in                     │
            │  security-officer  4     0       ││ Members     1                            │
            │  operator          4     1       ││ About       Everything                   │
            │  helpdesk          2     0       ││                                          │
            │  auditor           3     0       ││ Permissions                              │
            │  user              0     0       ││ [x] users.read                           │
            │                                  ││ [x] users.write                          │
            │                                  ││ [x] roles.manage                         │
            │                                  ││ [x] secrets.list                         │
            │                                  ││ [x] secrets.read   key access            │
            │                                  ││ [x] secrets.write  key access            │
            │                                  ││ [x] keys.manage    key access            │
            │                                  ││ [x] audit.read                           │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             j/↓ move  / filter  Esc back  n new  e edit  D delete  : commands  ?/F1 help
            """#)
    }

    @Test func movingShowsThePermissionsOfTheSelectedRole() throws {
        var h = try Harness.loggedIn()
        h.key(.char("6"))
        let names = h.model.roles.rows.items.map(\.name)
        #expect(names.count >= 3)
        h.key(.char("j"))
        #expect(h.model.roles.rows.selectedItem?.name == names[1])
        h.key(.down)
        #expect(h.model.roles.rows.selectedItem?.name == names[2])
        h.key(.char("k"))
        #expect(h.model.roles.rows.selectedItem?.name == names[1])
        h.key(.char("G"))
        #expect(h.model.roles.rows.selectedItem?.name == names.last)
        h.key(.char("g"))
        #expect(h.model.roles.rows.selectedItem?.name == names[0])
        let role = try #require(h.model.roles.rows.items.first { $0.name == "auditor" })
        h.key(.char("/"))
        h.type("auditor")
        #expect(h.model.roles.rows.count == 1)
        let text = h.screen.text
        for p in Permission.allCases {
            #expect(text.contains((role.permissions.contains(p) ? "[x] " : "[ ] ") + p.rawValue))
        }
        expectScreen(
            h.screen, named: "roles-filtered",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (1 of 6) ─────────────────┐┌─ Role auditor ───────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        auditor                      │
            │› auditor           3     0       ││ Kind        built in                     │
            │                                  ││ Members     0                            │
            │                                  ││ About       Read the audit log           │
            │                                  ││                                          │
            │                                  ││ Permissions                              │
            │                                  ││ [x] users.read                           │
            │                                  ││ [ ] users.write                          │
            │                                  ││ [ ] roles.manage                         │
            │                                  ││ [x] secrets.list                         │
            │                                  ││ [ ] secrets.read   key access            │
            │                                  ││ [ ] secrets.write  key access            │
            │                                  ││ [ ] keys.manage    key access            │
            │                                  ││ [x] audit.read                           │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            │                                  ││                                          │
            └─ /auditor ───────────────────────┘└──────────────────────────────────────────┘
             Enter keep filter  Esc clear  ↑/↓ move
            """#)
        h.key(.enter)
        #expect(!h.model.roles.rows.filtering)
        h.key(.escape)  // clears the filter
        #expect(h.model.roles.rows.count == names.count)
        h.effects = []
        h.key(.char("r"))
        #expect(h.effects == [.roles(.load)])
        h.key(.escape)
        #expect(h.model.route == .dashboard)
    }

    @Test func paletteOpensRoles() throws {
        var h = try Harness.loggedIn()
        h.key(.char(":"))
        h.type("roles")
        h.key(.enter)
        #expect(h.model.route == .roles)
        #expect(h.model.roles.rows.loaded)
    }

    @Test func withoutUsersRead() throws {
        var h = try Harness.loggedIn()
        h.model.account?.permissions = [.auditRead]
        h.effects = []
        h.key(.char("6"))
        #expect(!h.effects.contains(.roles(.load)))
        #expect(h.screen.text.contains("Listing roles needs users.read."))
    }

    @Test func lockForgetsTheRolesAndKeys() throws {
        var h = try Harness.loggedIn()
        h.key(.char("6"))
        h.key(.char("5"))
        #expect(h.model.keys.status != nil)
        h.key(.char(":"))
        h.type("lock")
        h.key(.enter)
        #expect(h.model.route == .login)
        #expect(h.model.keys == KeysState())
        #expect(h.model.roles == RolesState())
    }
}
