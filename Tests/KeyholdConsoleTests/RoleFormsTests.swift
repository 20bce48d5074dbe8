import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The roles screen's new (n), edit (e) and delete (D) actions.
@Suite struct RoleFormsTests {
    func roles(
        as user: String = "admin", password: String = adminPassword,
        setUp: (Session, TestClock) throws -> Void = populate
    ) throws -> Harness {
        var h = try Harness.withVault(setUp: setUp)
        h.logIn(user, password)
        #expect(h.model.route == .dashboard)
        h.key(.char("6"))
        h.model.toasts = []
        h.effects = []
        return h
    }

    func select(_ name: String, _ h: inout Harness) {
        h.key(.char("g"))
        while h.model.roles.rows.selectedItem?.name != name && h.model.roles.rows.list.selected < h.model.roles.rows.count - 1 {
            h.key(.char("j"))
        }
        #expect(h.model.roles.rows.selectedItem?.name == name)
    }

    func form(_ h: Harness) -> RoleFormState? {
        if case .roleForm(let f) = h.model.overlay { return f }
        return nil
    }

    func eventCount(_ h: Harness) throws -> Int { try h.acting().auditEvents().count }

    /// A custom role `deployer` (secrets.list, secrets.read) nobody holds.
    static func withDeployer(_ admin: Session, _ clock: TestClock) throws {
        try populate(admin, clock)
        try admin.createRole("deployer", description: "Deploys the application", permissions: [.secretsList, .secretsRead])
    }

    // MARK: New role

    @Test func newRoleForm() throws {
        var h = try roles()
        h.key(.char("n"))
        let f = try #require(form(h))
        #expect(f.original == nil && f.focus == .name && f.chosen.isEmpty)
        #expect(h.effects.isEmpty)
        expectScreen(
            h.screen, named: "role-new-empty",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (6) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› adm┌─ New role ───────────────────────────────────────────────────────┐     │
            │  sec│ Name          [                                                ] │     │
            │  ope│ Description   [                                                ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [ ] users.read     list accounts and roles                     │     │
            │     │   [ ] users.write    create, edit, lock and delete accounts      │     │
            │     │   [ ] roles.manage   create and edit roles; assign them          │     │
            │     │   [ ] secrets.list   list secret names and metadata              │     │
            │     │   [ ] secrets.read   reveal secret values (key access)           │     │
            │     │   [ ] secrets.write  set and delete secrets (key access)         │     │
            │     │   [ ] keys.manage    rotate keys, see key status (key access)    │     │
            │     │   [ ] audit.read     read and verify the audit log               │     │
            │     │                                                                  │     │
            │     │ Give it to users from the users screen (a).                      │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
        #expect(h.screen.cursor == Point(x: 23, y: 4))
    }

    @Test func newRoleProblemsAreShownAndNothingIsSent() throws {
        var h = try roles()
        let before = try eventCount(h)
        h.key(.char("n"))
        h.key(.enter)  // an empty name: refused before the core
        #expect(form(h)?.focus == .name && h.effects.isEmpty)
        h.type("-ops team")
        h.key(.tab)
        h.type("Deploys\u{200B}")  // a zero-width space
        h.key(.tab)
        h.keys(.down, .down, .down, .char(" "))  // secrets.list
        expectScreen(
            h.screen, named: "role-new-invalid",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (6) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› adm┌─ New role ───────────────────────────────────────────────────────┐     │
            │  sec│ Name          [-ops team                                       ] │     │
            │  ope│ Description   [Deploys?                                        ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [ ] users.read     list accounts and roles                     │     │
            │     │   [ ] users.write    create, edit, lock and delete accounts      │     │
            │     │   [ ] roles.manage   create and edit roles; assign them          │     │
            │     │ › [x] secrets.list   list secret names and metadata              │     │
            │     │   [ ] secrets.read   reveal secret values (key access)           │     │
            │     │   [ ] secrets.write  set and delete secrets (key access)         │     │
            │     │   [ ] keys.manage    rotate keys, see key status (key access)    │     │
            │     │   [ ] audit.read     read and verify the audit log               │     │
            │     │                                                                  │     │
            │     │ ✗ role name: may contain only ASCII letters, digits, ".", "_" a… │     │
            │     │ ✗ role description: must not contain an invisible character (U+… │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
        h.key(.enter)
        let f = try #require(form(h))
        #expect(f.focus == .name && !f.busy)
        #expect(h.effects.isEmpty)
        #expect(try eventCount(h) == before)
        #expect(try h.acting().roles().count == 6)
    }

    @Test func newRoleLandsAndIsSelected() throws {
        var h = try roles()
        h.key(.char("n"))
        h.type("deployer")
        h.key(.down)
        h.type("Deploys the application")
        h.key(.down)
        h.keys(.char("j"), .char("j"), .char("j"), .char(" "), .down, .char(" "))  // secrets.list, secrets.read
        h.runEffects = false
        h.key(.enter)
        let create = Effect.roles(
            .create(
                "deployer", description: "Deploys the application",
                permissions: [.secretsList, .secretsRead]))
        #expect(h.effects == [create])
        #expect(form(h)?.busy == true)
        expectScreen(
            h.screen, named: "role-new-busy",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (6) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› adm┌─ New role ───────────────────────────────────────────────────────┐     │
            │  sec│ Name          [deployer                                        ] │     │
            │  ope│ Description   [Deploys the application                         ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [ ] users.read     list accounts and roles                     │     │
            │     │   [ ] users.write    create, edit, lock and delete accounts      │     │
            │     │   [ ] roles.manage   create and edit roles; assign them          │     │
            │     │   [x] secrets.list   list secret names and metadata              │     │
            │     │ › [x] secrets.read   reveal secret values (key access)           │     │
            │     │   [ ] secrets.write  set and delete secrets (key access)         │     │
            │     │   [ ] keys.manage    rotate keys, see key status (key access)    │     │
            │     │   [ ] audit.read     read and verify the audit log               │     │
            │     │                                                                  │     │
            │     │ Saving…                                                          │     │
            │     │                                                                  │     │
            │     └─ saving… ────────────────────────────────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
        h.key(.escape)  // keys wait while it saves
        #expect(form(h)?.busy == true)
        h.runEffects = true
        h.effects = []
        h.send(h.runner.run(create))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Created role deployer")
        #expect(h.effects == [.roles(.load)])
        let role = try h.acting().role(named: "deployer")
        #expect(role.permissions == [.secretsList, .secretsRead] && !role.builtin && role.description == "Deploys the application")
        #expect(h.model.roles.rows.selectedItem?.name == "deployer")
        #expect(h.screen.text.contains("Role deployer"))
        let event = try #require(try h.acting().auditEvents(AuditQuery(action: "role.create")).last)
        #expect(event.target == "role:deployer" && event.actor == "admin")
    }

    @Test func aTakenNameIsRefusedByTheCoreInTheForm() throws {
        var h = try roles()
        let before = try eventCount(h)
        h.key(.char("n"))
        h.type("Operator")  // names are unique without regard to case
        h.key(.enter)
        let f = try #require(form(h))
        #expect(f.error == "conflict: a role named Operator already exists")
        #expect(!f.busy)
        #expect(h.screen.text.contains("✗ conflict: "))
        #expect(try eventCount(h) == before)
        h.key(.escape)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
    }

    @Test func formMovement() throws {
        var h = try roles()
        h.key(.char("n"))
        h.key(.tab); #expect(form(h)?.focus == .description)
        h.key(.tab); #expect(form(h)?.focus == .permissions)
        h.key(.tab); #expect(form(h)?.focus == .name)
        h.key(.backTab); #expect(form(h)?.focus == .permissions)
        h.key(.backTab); #expect(form(h)?.focus == .description)
        h.key(.up); #expect(form(h)?.focus == .name)
        h.keys(.down, .down); #expect(form(h)?.focus == .permissions && form(h)?.cursor == 0)
        for _ in 0..<10 { h.key(.char("j")) }
        #expect(form(h)?.cursor == Permission.allCases.count - 1)
        h.key(.char(" "))
        #expect(form(h)?.chosen == [.auditRead])
        h.key(.char(" "))
        #expect(form(h)?.chosen == [])
        for _ in 0..<7 { h.key(.char("k")) }
        #expect(form(h)?.cursor == 0 && form(h)?.focus == .permissions)
        h.key(.up)  // above the first permission: the description
        #expect(form(h)?.focus == .description)
        h.type("jk")  // letters in a text field are typed, not moves
        #expect(form(h)?.description.text == "jk")
    }

    // MARK: Edit

    @Test func editFormMovesOnlyThroughItsFields() throws {
        var h = try roles(setUp: Self.withDeployer)
        select("deployer", &h)
        h.key(.char("e"))
        // The name stays as it is: no key moves the focus there.
        h.key(.tab); #expect(form(h)?.focus == .permissions)
        h.key(.tab); #expect(form(h)?.focus == .description)
        h.key(.backTab); #expect(form(h)?.focus == .permissions)
        h.key(.backTab); #expect(form(h)?.focus == .description)
        h.key(.up); #expect(form(h)?.focus == .description)
        h.key(.down); #expect(form(h)?.focus == .permissions)
    }

    @Test func editFormOfACustomRole() throws {
        var h = try roles(setUp: Self.withDeployer)
        select("deployer", &h)
        h.key(.char("e"))
        let f = try #require(form(h))
        #expect(f.original?.name == "deployer" && f.focus == .description && f.chosen == [.secretsList, .secretsRead])
        #expect(f.description.text == "Deploys the application")
        expectScreen(
            h.screen, named: "role-edit",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (7) ──────────────────────┐┌─ Role deployer ──────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        deployer                     │
            │  adm┌─ Edit role deployer ─────────────────────────────────────────────┐     │
            │  sec│ Name          deployer  (the name stays)                         │     │
            │  ope│ Description   [Deploys the application                         ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [ ] users.read     list accounts and roles                     │     │
            │› dep│   [ ] users.write    create, edit, lock and delete accounts      │     │
            │     │   [ ] roles.manage   create and edit roles; assign them          │     │
            │     │   [x] secrets.list   list secret names and metadata              │     │
            │     │   [x] secrets.read   reveal secret values (key access)           │     │
            │     │   [ ] secrets.write  set and delete secrets (key access)         │     │
            │     │   [ ] keys.manage    rotate keys, see key status (key access)    │     │
            │     │   [ ] audit.read     read and verify the audit log               │     │
            │     │                                                                  │     │
            │     │                                                                  │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
    }

    @Test func editSendsOnlyWhatChangedAndLands() throws {
        var h = try roles(setUp: Self.withDeployer)
        select("deployer", &h)
        h.key(.char("e"))
        h.key(.enter)  // nothing changed
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Role deployer unchanged" && h.effects.isEmpty)
        h.key(.char("e"))
        h.key(.tab)
        h.keys(.down, .down, .down, .down, .down, .char(" "))  // secrets.write on
        h.key(.enter)
        #expect(
            h.effects.first
                == .roles(
                    .edit(
                        "deployer", description: nil,
                        permissions: [.secretsList, .secretsRead, .secretsWrite])))
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Role deployer updated")
        #expect(try h.acting().role(named: "deployer").permissions == [.secretsList, .secretsRead, .secretsWrite])
        #expect(h.model.roles.rows.selectedItem?.permissions.contains(.secretsWrite) == true)
        #expect(h.screen.text.contains("[x] secrets.write"))
        // The description alone.
        h.effects = []
        h.key(.char("e"))
        h.key(.ctrl("u"))
        h.type("Ships releases")
        h.key(.enter)
        #expect(h.effects.first == .roles(.edit("deployer", description: "Ships releases", permissions: nil)))
        #expect(try h.acting().role(named: "deployer").description == "Ships releases")
    }

    /// Built-in roles are editable (the core's guards still hold).
    @Test func builtInRolesAreEditable() throws {
        var h = try roles()
        select("helpdesk", &h)
        h.key(.char("e"))
        let f = try #require(form(h))
        #expect(f.original?.builtin == true)
        #expect(h.screen.text.contains("(built in; the name stays)"))
        h.key(.end)
        h.type(" and their roles")
        h.key(.enter)
        #expect(try h.acting().role(named: "helpdesk").description == "User accounts and their roles")
        #expect(h.model.toasts.last?.text == "Role helpdesk updated")
    }

    @Test func aBuiltInChangeTheCoreRefusesWritesNothing() throws {
        var h = try roles()
        select("admin", &h)
        let before = try eventCount(h)
        h.key(.char("e"))
        h.key(.tab)
        for _ in 0..<6 { h.key(.down) }
        h.key(.char(" "))  // keys.manage off: nobody would hold it
        #expect(form(h)?.chosen.contains(.keysManage) == false)
        expectScreen(
            h.screen, named: "role-edit-admin",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (6) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› adm┌─ Edit role admin ────────────────────────────────────────────────┐     │
            │  sec│ Name          admin  (built in; the name stays)                  │     │
            │  ope│ Description   [Everything                                      ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [x] users.read     list accounts and roles                     │     │
            │     │   [x] users.write    create, edit, lock and delete accounts      │     │
            │     │   [x] roles.manage   create and edit roles; assign them          │     │
            │     │   [x] secrets.list   list secret names and metadata              │     │
            │     │   [x] secrets.read   reveal secret values (key access)           │     │
            │     │   [x] secrets.write  set and delete secrets (key access)         │     │
            │     │ › [ ] keys.manage    rotate keys, see key status (key access)    │     │
            │     │   [x] audit.read     read and verify the audit log               │     │
            │     │                                                                  │     │
            │     │ Held by 1 user: their permissions and key access follow at once. │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
        h.key(.enter)
        let f = try #require(form(h))
        #expect(f.error == "refused: this would leave no active user holding roles.manage and keys.manage")
        #expect(!f.busy)
        #expect(h.screen.text.contains("✗ refused: this would leave no active user"))
        #expect(try h.acting().role(named: "admin").permissions == Set(Permission.allCases))
        #expect(try eventCount(h) == before)
        #expect(h.model.account?.permissions == Set(Permission.allCases))
    }

    // MARK: Delete

    @Test func deleteNeedsTheNameTyped() throws {
        var h = try roles(setUp: Self.withDeployer)
        select("deployer", &h)
        h.key(.char("D"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "deployer" && c.pending == .delete(.role, "deployer"))
        expectScreen(
            h.screen, named: "role-delete-confirm",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (7) ──────────────────────┐┌─ Role deployer ──────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        deployer                     │
            │  admin             8     1       ││ Kind        custom                       │
            │  security-officer  4     0       ││ Members     0                            │
            │  operator          4     1       ││ About       Deploys the application      │
            │  helpdesk          2     0       ││                                          │
            │  audit┌─ Delete role deployer? ──────────────────────────────────────┐       │
            │  user │ Nobody holds it. The role and its permissions are deleted;   │       │
            │› deplo│ past events that name it stay as they are.                   │       │
            │       │                                                              │       │
            │       │ Type "deployer" to confirm:                                  │       │
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
        h.key(.char("D"))
        h.key(.enter)  // not the name
        #expect(h.effects.isEmpty)
        h.key(.ctrl("u"))
        h.type("deployer")
        h.key(.enter)
        #expect(h.effects.first == .roles(.delete("deployer")))
        #expect(h.model.toasts.last?.text == "Deleted role deployer")
        #expect(try h.acting().roles().contains { $0.name == "deployer" } == false)
        #expect(!h.model.roles.rows.items.contains { $0.name == "deployer" })
    }

    @Test func aRoleSomebodyHoldsIsNotOfferedForDeletion() throws {
        var h = try roles()
        select("operator", &h)
        h.key(.char("D"))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Role operator is held by 1 user: revoke it from them first")
        #expect(h.model.toasts.last?.isError == true)
    }

    /// The list said nobody held it; somebody was given it meanwhile: the core refuses.
    @Test func aDeleteTheCoreRefusesWritesNothing() throws {
        var h = try roles()
        select("helpdesk", &h)  // built in, nobody holds it
        #expect(h.model.roles.rows.selectedItem?.members == 0)
        try h.acting().grantRole("erin", role: "helpdesk")
        let before = try eventCount(h)
        h.key(.char("D"))
        h.type("helpdesk")
        h.key(.enter)
        #expect(h.effects.first == .roles(.delete("helpdesk")))
        #expect(h.model.toasts.last?.isError == true)
        #expect(h.model.toasts.last?.text == "refused: role helpdesk is held by 1 user(s); revoke it from them first")
        #expect(try h.acting().role(named: "helpdesk").members == 1)
        #expect(try eventCount(h) == before)
    }

    @Test func aBuiltInRoleNobodyHoldsCanBeDeleted() throws {
        var h = try roles()
        select("user", &h)
        h.key(.char("D"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.message.hasPrefix("It is a built-in role; nobody holds it."))
        h.type("user")
        h.key(.enter)
        #expect(try h.acting().roles().contains { $0.name == "user" } == false)
    }

    // MARK: Who may

    @Test func withoutRolesManageNothingIsOffered() throws {
        var h = try roles(as: "hank", password: userPassword) { admin, clock in
            try populate(admin, clock)
            try addLoginUser(admin, "hank", roles: ["helpdesk"])
        }
        for k in [Key.char("n"), .char("e"), .char("D")] {
            h.model.toasts = []
            h.key(k)
            #expect(h.model.overlay == nil)
            #expect(h.model.toasts.last?.text == "Managing roles needs roles.manage")
        }
        #expect(h.effects.isEmpty)
    }

    /// A role manager without secrets or keys permissions: only what it holds can be given.
    @Test func onlyPermissionsYouHoldCanBeGiven() throws {
        var h = try roles(as: "rita", password: userPassword) { admin, clock in
            try populate(admin, clock)
            try admin.createRole(
                "people", description: "Accounts and roles",
                permissions: [.usersRead, .usersWrite, .rolesManage])
            try addLoginUser(admin, "rita", roles: ["people"])
        }
        select("admin", &h)
        h.key(.char("e"))
        #expect(h.model.overlay == nil)
        #expect(
            h.model.toasts.last?.text
                == "You cannot edit role admin: it carries secrets.list, secrets.read, secrets.write, keys.manage, audit.read, which you do not hold"
        )
        h.key(.char("D"))
        #expect(h.model.toasts.last?.text.hasPrefix("You cannot delete role admin: it carries secrets.list") == true)
        h.key(.char("n"))
        h.type("viewers")
        h.keys(.tab, .tab)
        h.key(.char(" "))  // users.read: held
        h.keys(.down, .down, .down, .char(" "))  // secrets.list: not held
        let f = try #require(form(h))
        #expect(f.chosen == [.usersRead])
        #expect(f.error == "secrets.list: you do not hold it, so you cannot give it")
        h.model.toasts = []
        expectScreen(
            h.screen, named: "role-new-limited",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles        rita
            ┌─ Roles (7) ──────────────────────┐┌─ Role admin ─────────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        admin                        │
            │› adm┌─ New role ───────────────────────────────────────────────────────┐     │
            │  sec│ Name          [viewers                                         ] │     │
            │  ope│ Description   [                                                ] │     │
            │  hel│                                                                  │     │
            │  aud│ Permissions (Space toggles; only those you hold)                 │     │
            │  use│   [x] users.read     list accounts and roles                     │     │
            │  peo│   [ ] users.write    create, edit, lock and delete accounts      │     │
            │     │   [ ] roles.manage   create and edit roles; assign them          │     │
            │     │ › [ ] secrets.list   not yours to give                           │     │
            │     │   [ ] secrets.read   not yours to give                           │     │
            │     │   [ ] secrets.write  not yours to give                           │     │
            │     │   [ ] keys.manage    not yours to give                           │     │
            │     │   [ ] audit.read     not yours to give                           │     │
            │     │                                                                  │     │
            │     │ ✗ secrets.list: you do not hold it, so you cannot give it        │     │
            │     │                                                                  │     │
            │     └─ Enter save · Tab next · Esc cancel ─────────────────────────────┘     │
            │                                  ││                                          │
            │                                  ││                                          │
            └──────────────────────────────────┘└──────────────────────────────────────────┘
             Enter save  Tab next field  Space toggle permission  Esc cancel
            """#)
        h.key(.enter)
        #expect(try h.acting().role(named: "viewers").permissions == [.usersRead])
    }

    /// Editing a role one holds changes one's own permissions: the console follows.
    @Test func editingYourOwnRoleUpdatesWhatYouMayDo() throws {
        var h = try roles(as: "rita", password: userPassword) { admin, clock in
            try populate(admin, clock)
            try admin.createRole(
                "people", description: "Accounts and roles",
                permissions: [.usersRead, .usersWrite, .rolesManage])
            try addLoginUser(admin, "rita", roles: ["people"])
        }
        #expect(h.model.account?.can(.usersWrite) == true)
        select("people", &h)
        h.key(.char("e"))
        h.key(.tab)
        h.keys(.down, .char(" "))  // users.write off
        h.key(.enter)
        #expect(h.model.toasts.last?.text == "Role people updated")
        #expect(h.model.account?.permissions == [.usersRead, .rolesManage])
        h.key(.char("2"))
        h.key(.char("E"))
        #expect(h.model.toasts.last?.text == "Editing users needs users.write")
    }

    // MARK: Keys, hints and help

    @Test func newKeysAreListedInHelpAndHints() throws {
        var h = try roles()
        let keys = Bindings.of(.roles)
        for (key, hint) in [("n", "new"), ("e", "edit"), ("D", "delete")] {
            #expect(keys.contains { $0.label == key && $0.hint == hint })
            #expect(h.screen.lines[23].contains("\(key) \(hint)"))
        }
        // The hint bar keeps the help key at 80 columns.
        #expect(h.screen.lines[23].contains("?/F1 help"))
        h.key(.char("?"))
        let lines = Console.helpLines(h.model)
        for b in Bindings.of(.roles) {
            #expect(lines.contains { $0.key == b.label && $0.help == b.help }, "\(b.label) missing from help")
        }
        h.key(.escape)
        h.key(.char("n"))
        #expect(h.screen.lines[23] == " Enter save  Tab next field  Space toggle permission  Esc cancel")
    }

    @Test func theMatrixStaysReadableAt80x24() throws {
        var h = try roles(setUp: Self.withDeployer)
        select("deployer", &h)
        expectScreen(
            h.screen, named: "roles-with-custom-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Roles (7) ──────────────────────┐┌─ Role deployer ──────────────────────────┐
            │  ROLE              PERMS USERS   ││ Role        deployer                     │
            │  admin             8     1       ││ Kind        custom                       │
            │  security-officer  4     0       ││ Members     0                            │
            │  operator          4     1       ││ About       Deploys the application      │
            │  helpdesk          2     0       ││                                          │
            │  auditor           3     1       ││ Permissions                              │
            │  user              0     0       ││ [ ] users.read                           │
            │› deployer          2     0       ││ [ ] users.write                          │
            │                                  ││ [ ] roles.manage                         │
            │                                  ││ [x] secrets.list                         │
            │                                  ││ [x] secrets.read   key access            │
            │                                  ││ [ ] secrets.write  key access            │
            │                                  ││ [ ] keys.manage    key access            │
            │                                  ││ [ ] audit.read                           │
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

    @Test func aRoleSavedAfterALockIsDropped() throws {
        var h = try roles()
        h.key(.char("n"))
        let account = try #require(h.model.account)
        h.key(.char(":"))  // typed into the name field, not the palette
        h.wait(h.model.settings.idleLock)
        #expect(h.model.route == .login && h.model.account == nil && h.model.overlay == nil)
        h.send(.roles(.saved("x", created: true, account)))
        h.send(.roles(.deleted("x")))
        #expect(h.model.account == nil && h.model.route == .login)
    }
}

@Suite struct FormsAtTheMinimumSizeTests {
    /// At 60x16 every form fits; the permission checklist scrolls to keep its cursor in view.
    @Test func formsFit60x16() throws {
        var h = try Harness.loggedIn(width: 60, height: 16, setUp: populate)
        h.key(.char("2"))
        for k in [Key.char("E"), .char("t")] {
            h.key(k)
            #expect(h.model.overlay != nil)
            #expect(h.screen.lines.allSatisfy { TextWidth.of($0) <= 60 })
            #expect(h.screen.text.contains("Enter save · "))
            h.key(.escape)
        }
        h.key(.char("6"))
        h.key(.char("n"))
        h.keys(.tab, .tab)
        for _ in 0..<7 { h.key(.down) }
        let s = h.screen
        #expect(s.lines.allSatisfy { TextWidth.of($0) <= 60 })
        #expect(s.text.contains("› [ ] audit.read"))
        #expect(!s.text.contains("users.read"), "scrolled past the first rows")
        #expect(s.text.contains("└─ Enter save · Tab next · Esc cancel"))
    }
}
