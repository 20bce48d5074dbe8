import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// What every screen shares: size limits, help, the palette, idle lock,
/// toasts, quitting, colour settings, and every listed key doing something.
@Suite struct GlobalTests {
    @Test func belowTheMinimumSizeAClearMessage() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.resize(59, 16)
        #expect(h.model.isTooSmall)
        expectScreen(
            h.screen, named: "too-small-59x16",
            #"""






                    Keyhold needs a terminal of at least 60x16.
                                This one is 59x16.
                      Enlarge the window, or press q to quit.







            """#)
        h.resize(60, 15)
        #expect(h.screen.text.contains("This one is 60x15."))
        // Keys other than q do nothing meanwhile.
        h.keys(.char("2"), .char(":"), .char("?"), .enter)
        #expect(h.model.route == .dashboard && h.model.overlay == nil)
        h.resize(60, 16)
        #expect(!h.model.isTooSmall)
        expectScreen(
            h.screen, named: "dashboard-60x16",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys
            ┌─ Vault ────────────────────┐┌─ You ──────────────────────┐
            │ Users         4            ││ User         admin         │
            │ Secrets       3            ││ Roles        admin         │
            │ Audit events  10           ││ Key access   yes: can ope… │
            │ Data key      v1 active (… ││ Permissions  all 8         │
            │ Password KDF  Argon2id t=… ││                            │
            │ Created       2027-01-15 … ││                            │
            └────────────────────────────┘└────────────────────────────┘
            ┌─ Warnings (3) ───────────────────────────────────────────┐
            │ ✗ Rotate the root key: key access removed from erin at … │
            │ ✗ app/prod/stripe is past its rotate-by date (2027-01-1… │
            │ ! app/prod/aws is due for rotation in 5 d (2027-01-20)   │
            │ ✓ Audit chain verified: 10 events, hashes and signatures │
            └──────────────────────────────────────────────────────────┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help
            """#)
        h.resize(20, 5)
        #expect(h.screen.lines.allSatisfy { TextWidth.of($0) <= 20 })
        h.key(.char("q"))
        #expect(h.model.quit)
    }

    @Test func tinyTerminalsDoNotCrash() throws {
        var h = try Harness.loggedIn(setUp: populate)
        for (w, hh) in [(0, 0), (1, 1), (3, 2), (10, 3)] {
            h.resize(w, hh)
            #expect(h.screen.lines.count == hh)
        }
    }

    @Test func everyScreenFitsTheMinimumSize() throws {
        var h = try Harness.loggedIn(width: 60, height: 16, setUp: populate)
        for k in ["2", "3", "4", "5", "6", "1"] {
            h.key(.char(Character(k)))
            let s = h.screen
            #expect(s.lines.allSatisfy { TextWidth.of($0) <= 60 })
            #expect(s.lines[15].hasPrefix(" "))  // the hint bar is there
            // However narrow, the bar keeps the way to every other key.
            #expect(s.lines[15].contains("?/F1 help"), "screen \(k): \(s.lines[15])")
        }
        h.key(.char("2"))
        expectScreen(
            h.screen, named: "users-60x16",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys
            ┌─ Users (4) ────────────────┐┌─ User admin ───────────────┐
            │  USERNAME   STATUS     ROL…││ Username      admin        │
            │› admin      active     adm…││ Display name  —            │
            │  bob        active     ope…││ Email         —            │
            │  carol      active     aud…││ Status        active       │
            │  erin       active         ││ Roles         admin        │
            │                            ││ Permissions   users.read   │
            │                            ││               users.write  │
            │                            ││               roles.manage │
            │                            ││               secrets.list │
            │                            ││               secrets.read │
            │                            ││               secrets.writ │
            │                            ││               e            │
            └────────────────────────────┘└────────────────────────────┘
             j/↓ move  / filter  Esc back  n new  a roles  ?/F1 help
            """#)
    }

    @Test func helpListsEveryKeyOfTheScreen() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.key(.char("2"))
        h.key(.char("?"))
        expectScreen(
            h.screen, named: "help-users-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ U┌─ Help ───────────────────────────────────────────────────────────────┐───┐
            │  U│ Keys of the users screen                                             │   │
            │› a│ j/↓          next row                                                │   │
            │  b│ k/↑          previous row                                            │   │
            │  c│ PgDn/PgUp    a page down / up                                        │   │
            │  e│ g/Home       first row                                               │   │
            │   │ G/End        last row                                                │   │
            │   │ /            filter as you type                                      │t  │
            │   │ Enter        (while filtering) keep the filter, back to the list     │te │
            │   │ Esc          (while filtering) clear the filter                      │   │
            │   │ Tab          switch between list and details                         │   │
            │   │ Enter        show the details pane                                   │   │
            │   │ Esc          back: details -> list, clear the filter, dashboard      │   │
            │   │ r            reload                                                  │   │
            │   │ n            new user (a temporary password is shown once)           │   │
            │   │ a            roles of the user (only roles you may assign)           │   │
            │   │ l            lock the account                                        │   │
            │   │ u            unlock (also clears a lockout after failed logins)      │   │
            │   │ x            disable the account                                     │   │
            │   │ e            enable the account                                      │   │
            │   │ A            approve a key request: type the fingerprint they read … │   │
            └───└─ j/k scroll · Esc close ─────────────────────────────────────────────┘───┘
             Esc close  j/k scroll
            """#)
        let lines = Console.helpLines(h.model)
        for b in Bindings.of(.users) + Bindings.global + Bindings.terminal {
            #expect(lines.contains { $0.key == b.label && $0.help == b.help }, "\(b.label) missing from help")
        }
        // It scrolls, and any of its close keys closes it.
        h.keys(.char("j"), .down, .pageDown)
        guard case .help(let state) = h.model.overlay else { Issue.record("closed"); return }
        #expect(state.offset > 0)
        h.keys(.char("k"), .up, .pageUp, .char("g"), .home)
        #expect(h.model.overlay == .help(HelpState()))
        for k in Bindings.overlayKeys {
            h.key(.char("?"))
            h.key(k)
            #expect(h.model.overlay == nil, "\(k) does not close help")
        }
        h.key(.f(1))
        #expect(h.model.overlay == .help(HelpState()))
    }

    @Test func helpScrollStopsAtTheEnd() throws {
        var h = try Harness.loggedIn(height: 16)
        h.key(.char("?"))
        for _ in 0..<100 { h.key(.char("j")) }
        guard case .help(let state) = h.model.overlay else { Issue.record("closed"); return }
        let lines = Console.helpLines(h.model).count
        #expect(state.offset == lines - (Layout.body(width: 80, height: 16).height - 2))
        h.key(.char("k"))
        guard case .help(let after) = h.model.overlay else { Issue.record("closed"); return }
        #expect(after.offset == state.offset - 1)
    }

    @Test func commandPalette() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.key(.char(":"))
        expectScreen(
            h.screen, named: "palette",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Vault ──────────────────────────────┐┌─ You ────────────────────────────────┐
            │ Users     ┌─ Command ────────────────────────────────────────────┐           │
            │ Secrets   │ :                                                    │           │
            │ Audit even│ › dashboard   go to the dashboard                    │ secrets   │
            │ Data key  │   users       go to users                            │           │
            │ Password K│   secrets     go to secrets                          │           │
            │ Created   │   audit       go to the audit log                    │           │
            └───────────│   keys        go to keys (status and rotation)       │───────────┘
            ┌─ Warnings │   roles       go to roles and their permissions      │───────────┐
            │ ✗ Rotate t│   new-user    add a user (users, n)                  │08:00:00Z  │
            │ ✗ app/prod│   new-secret  add a secret (secrets, n)              │           │
            │ ! app/prod│   new-version new version of the selected secret (N) │           │
            │ ✓ Audit ch│   new-role    add a custom role (roles, n)           │           │
            │           │   rotate      rotate the data key (keys, r)          │           │
            │           │   resume      resume a data-key rotation (keys, R)   │           │
            │           │   rotate-root rotate the root key (keys, K)          │           │
            │           │   refresh     reload this screen                     │           │
            │           │   verify      verify the audit chain                 │           │
            │           │   lock        lock the console now                   │           │
            │           │   help        keys of this screen                    │           │
            │           └──────────────────────────────────────────────────────┘           │
            └──────────────────────────────────────────────────────────────────────────────┘
             Enter run  ↑/↓ choose  Esc close
            """#)
        h.type("sec")
        guard case .palette(let p) = h.model.overlay else { Issue.record("no palette"); return }
        // The screen first, then the action named after it.
        #expect(p.matches == [.secrets, .newSecret, .newVersion])
        h.key(.enter)
        #expect(h.model.route == .secrets && h.model.overlay == nil)
        h.key(.char(":"))
        h.keys(.down, .down, .tab, .up, .backTab)  // 1, 2, 3, 2, 1: users
        guard case .palette(let p2) = h.model.overlay else { Issue.record("no palette"); return }
        #expect(p2.selected == 1)
        h.key(.enter)
        #expect(h.model.route == .users)
        h.key(.char(":"))
        h.type("nothing like it")
        #expect(h.screen.text.contains("no command matches"))
        h.key(.enter)
        #expect(h.model.overlay == nil && h.model.route == .users)
        h.key(.char(":"))
        h.key(.escape)
        #expect(h.model.overlay == nil)
        for (name, check): (String, (Model) -> Bool) in [
            ("verify", { $0.audit.check != .notRun }), ("refresh", { _ in true }), ("help", { $0.overlay == .help(HelpState()) })
        ] {
            h.model.overlay = nil
            h.key(.char(":"))
            h.type(name)
            h.key(.enter)
            #expect(check(h.model), "\(name)")
        }
        h.model.overlay = nil
        h.key(.char(":"))
        h.type("lock")
        h.key(.enter)
        #expect(h.model.route == .login && h.model.account == nil)
        #expect(h.model.login.notice == "Locked.")
    }

    /// Every action of the palette does what its key does on its screen: the same overlay
    /// (form or confirmation), effects, toasts and frame; for an administrator and for a
    /// session without the permissions (the key's own refusal).
    @Test func paletteActionsDoWhatTheirKeysDo() throws {
        let actions = Command.allCases.filter { $0.binding != nil }
        #expect(actions.count == 7)
        for restricted in [false, true] {
            for command in actions {
                let binding = try #require(command.binding)
                let number = try #require(Route.tabs.firstIndex(of: binding.route)).advanced(by: 1)
                func onItsScreen() throws -> Harness {
                    var h = try Harness.loggedIn(setUp: populate)
                    if restricted { h.model.account?.permissions = [.usersRead, .auditRead] }
                    h.key(.char(Character(String(number))))
                    #expect(h.model.route == binding.route)
                    h.runEffects = false
                    h.effects = []
                    h.model.toasts = []
                    return h
                }
                var byKey = try onItsScreen()
                byKey.key(binding.key)
                var byPalette = try onItsScreen()
                byPalette.key(.char(":"))
                byPalette.type(command.rawValue)
                byPalette.key(.enter)
                let what = "\(command.rawValue)\(restricted ? " (restricted)" : "")"
                #expect(byPalette.model.route == byKey.model.route, "\(what)")
                #expect(byPalette.model.overlay == byKey.model.overlay, "\(what)")
                #expect(byPalette.effects == byKey.effects, "\(what)")
                #expect(byPalette.model.toasts == byKey.model.toasts, "\(what)")
                #expect(byPalette.model.keys == byKey.model.keys, "\(what)")
                #expect(byPalette.screen.text == byKey.screen.text, "\(what)")
                // And it did something: a form, a confirmation, an effect or a toast (except N
                // without secrets.list: no list, no selected secret, and N does nothing either).
                if restricted && command == .newVersion { continue }
                #expect(
                    byPalette.model.overlay != nil || !byPalette.effects.isEmpty || !byPalette.model.toasts.isEmpty,
                    "\(what) did nothing")
            }
        }
    }

    /// From another screen an action goes to its screen first; words of its summary find it.
    @Test func paletteActionFromAnotherScreen() throws {
        var h = try Harness.loggedIn(setUp: populate)
        #expect(h.model.route == .dashboard)
        h.key(.char(":"))
        h.type("add user")
        guard case .palette(let p) = h.model.overlay else { Issue.record("no palette"); return }
        #expect(p.matches == [.newUser])
        h.key(.enter)
        #expect(h.model.route == .users)
        guard case .newUser = h.model.overlay else { Issue.record("no new-user form: \(String(describing: h.model.overlay))"); return }
        h.key(.escape)
        h.key(.char(":"))
        h.type("rotate data key")
        guard case .palette(let q) = h.model.overlay else { Issue.record("no palette"); return }
        #expect(q.matches == [.rotate])
        h.key(.escape)
        h.key(.char(":"))
        h.type("rotate-root")
        h.key(.enter)
        #expect(h.model.route == .keys)
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.pending == .rotateRootKey)
    }

    @Test func paletteQuit() throws {
        var h = try Harness.loggedIn()
        h.key(.char(":"))
        h.type("quit")
        h.key(.enter)
        #expect(h.model.quit)
    }

    @Test func idleLockForgetsEverything() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.keys(.char("3"), .char("v"))
        #expect(h.model.secrets.revealed != nil)
        h.wait(4 * Clock.minute)
        #expect(h.model.route == .secrets)  // not yet: the reveal timed out, the session did not
        h.key(.char("j"))  // a key resets the idle timer
        h.wait(4 * Clock.minute + 59 * Clock.second)
        #expect(h.model.route == .secrets)
        h.wait(Clock.second)
        #expect(h.model.route == .login)
        #expect(h.model.account == nil)
        #expect(h.model.login.username.text == "admin")
        #expect(h.model.secrets == SecretsState() && h.model.users == UsersState() && h.model.audit == AuditState())
        #expect(h.model.dashboard == DashboardState())
        #expect(h.effects.last == .session(.logout))
        #expect(h.session == nil)
        expectScreen(
            h.screen, named: "idle-locked",
            #"""
             Keyhold · log in                                                      vault.db

              Log in
              Vault /srv/keyhold/vault.db

              Username  [admin                                           ]
              Password  [                                                ]

              Locked after 5 min without a key press. Log in again.














             Enter log in  Tab/↓ next field  Esc quit  F1 help
            """#)
        h.logIn("admin", adminPassword)
        #expect(h.model.route == .dashboard)
    }

    @Test func idleLockDuringTheRecoveryKeySaysTheKeyWasHidden() {
        var h = Harness.firstRun()
        h.key(.tab); h.type(adminPassword); h.key(.tab); h.type(adminPassword); h.key(.enter)
        #expect(h.model.route == .recovery)
        h.wait(5 * Clock.minute)
        #expect(h.model.route == .login)
        #expect(h.model.recovery.key == nil)
        #expect(h.model.login.notice?.contains("The recovery key was hidden unconfirmed") == true)
    }

    @Test func idleLockCanBeOff() throws {
        var h = try Harness.loggedIn()
        h.model.settings.idleLock = 0
        h.wait(Clock.day)
        #expect(h.model.route == .dashboard)
        // And never applies before a login.
        var g = try Harness.withVault()
        g.wait(Clock.day)
        #expect(g.model.route == .login && g.model.login.notice == nil)
    }

    @Test func toastsGoAwayByThemselves() throws {
        var h = try Harness.loggedIn()
        h.model.toast("one")
        h.model.toast("two", error: true)
        h.model.toast("three")
        h.model.toast("four")
        #expect(h.model.toasts.map(\.text) == ["two", "three", "four"])
        expectScreen(
            h.screen, named: "toasts",
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
            │                                                                        ✗ two │
            │                                                                      ✓ three │
            └────────────────────────────────────────────────────────────────────── ✓ four ┘
             r reload  v verify audit  Enter open  : commands  ?/F1 help  q quit
            """#)
        h.wait(4 * Clock.second)
        #expect(h.model.toasts.map(\.text) == ["two"])
        h.wait(4 * Clock.second)
        #expect(h.model.toasts.isEmpty)
    }

    @Test func quitKeys() throws {
        for k: Key in [.char("q"), .ctrl("c")] {
            var h = try Harness.loggedIn()
            h.key(k)
            #expect(h.model.quit)
            // q is a plain quit (exit 0); Ctrl-C an interrupt (exit 130).
            #expect(h.model.interrupted == (k == .ctrl("c")))
        }
        // Ctrl-C also quits from a form and from an overlay.
        var h = try Harness.loggedIn()
        h.key(.char(":"))
        h.key(.ctrl("c"))
        #expect(h.model.quit && h.model.interrupted)
    }

    @Test func aSessionEndedElsewhereGoesBackToTheLogin() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.send(.sessionEnded("admin was disabled"))
        #expect(h.model.route == .login)
        #expect(h.model.login.notice == "Your session ended: admin was disabled.")
    }

    /// Keys typed for the screen that is gone (before the notice is drawn) neither quit, nor type
    /// a password, nor submit the form: the notice stays until a key is pressed after it was shown.
    @Test func keysTypedBeforeTheSessionEndedNoticeIsShownAreDropped() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.key(.char("2"))
        h.send(.sessionEnded("admin was locked"))
        #expect(h.model.route == .login)
        h.effects = []
        for k: Key in [.char("j"), .char("d"), .enter, .char("y"), .enter, .escape, .char("q")] { h.typedAhead(k) }
        #expect(!h.model.quit, "a key typed for the old screen quit the console")
        #expect(h.model.route == .login)
        #expect(h.model.login.notice == "Your session ended: admin was locked.")
        #expect(h.model.login.password.isEmpty && h.model.login.failure == nil)
        #expect(h.effects.isEmpty, "a key typed for the old screen started \(h.effects)")
        #expect(h.screen.text.contains("Your session ended: admin was locked."))

        // Drawn: the next key acts, and the notice is still there while the password is typed.
        h.key(.char("x"))
        #expect(h.model.login.password.bytes?.utf8String() == "x")
        #expect(h.model.login.notice == "Your session ended: admin was locked.")
        #expect(h.screen.text.contains("Your session ended: admin was locked."))
    }

    /// The same after the idle lock: a key typed as the lock comes is not taken by the login form.
    @Test func theIdleLockDropsTheKeysTypedBeforeItsNoticeIsShown() throws {
        var h = try Harness.loggedIn(setUp: populate)
        h.clock.advance(h.model.settings.idleLock)
        h.typedAhead(.escape)
        #expect(h.model.route == .login)
        #expect(!h.model.quit)
        #expect(h.model.login.notice?.hasPrefix("Locked after") == true)
    }

    @Test func settingsFromTheEnvironment() {
        let s = Console.settingsFromEnvironment(vaultPath: "/v", environment: ["KEYHOLD_IDLE_LOCK": "60", "KEYHOLD_REVEAL_SECONDS": "5"])
        #expect(s.idleLock == Clock.minute && s.revealFor == 5 * Clock.second)
        let d = Console.settingsFromEnvironment(vaultPath: "/v", environment: ["KEYHOLD_IDLE_LOCK": "soon"])
        #expect(d.idleLock == 5 * Clock.minute && d.revealFor == 30 * Clock.second)
        #expect(Console.settingsFromEnvironment(vaultPath: "/v", environment: ["KEYHOLD_IDLE_LOCK": "0"]).idleLock == 0)
    }

    /// Numbers past the range are ignored like any other bad value. Before, a value whose
    /// milliseconds overflow an Int64 trapped the console before it started.
    @Test func settingsOutOfRangeAreIgnoredNotATrap() {
        for huge in ["9223372036854775807", "9223372036854775", "99999999999999999999999", "31536001", "-1", "+60", "1e3"] {
            let s = Console.settingsFromEnvironment(
                vaultPath: "/v", environment: ["KEYHOLD_IDLE_LOCK": huge, "KEYHOLD_REVEAL_SECONDS": huge])
            #expect(s.idleLock == 5 * Clock.minute && s.revealFor == 30 * Clock.second, "\(huge)")
        }
        let top = Console.settingsFromEnvironment(
            vaultPath: "/v", environment: ["KEYHOLD_IDLE_LOCK": "31536000", "KEYHOLD_REVEAL_SECONDS": "86400"])
        #expect(top.idleLock == 31_536_000 * Clock.second && top.revealFor == Clock.day)
    }

    @Test func noColorTurnsColoursOff() {
        #expect(Console.wantsColor([:]))
        #expect(Console.wantsColor(["NO_COLOR": ""]))
        #expect(!Console.wantsColor(["NO_COLOR": "1"]))
    }

    /// On a monochrome terminal colours are dropped: what matters must still show.
    @Test func stylesThatMatterShowWithoutColour() {
        for (name, style) in [
            ("error", Theme.error), ("warning", Theme.warning), ("selected", Theme.selected),
            ("focused border", Theme.borderFocused), ("toast", Theme.toastOK),
            ("error toast", Theme.toastError), ("failing row", Theme.failingRow),
            ("secret", Theme.secret), ("key", Theme.key), ("title bar", Theme.bar)
        ] {
            #expect(style.bold || style.reverse || style.underline, "\(name) shows only by colour")
        }
    }

    /// Every key the hint bar and help list does something on its screen.
    @Test func everyListedKeyActs() throws {
        let setUp: (Session, TestClock) throws -> Void = { admin, clock in
            try populate(admin, clock)
            for i in 1...3 { try admin.createSecret("old/\(i)", .value(pw("x")), rotateBy: clock.now - Int64(i) * Clock.day) }
        }
        for route in Route.tabs {
            let digit = Key.char(Character(String(Route.tabs.firstIndex(of: route)! + 1)))
            // One vault per screen; each key is tried on a copy of the same state (effects off, so copies never diverge in the core).
            var base = try Harness.loggedIn(height: 16, setUp: setUp)
            if route == .dashboard {
                base.key(.char("j"))  // scrolled one line, so k/↑ can act too
            } else {
                base.key(digit)
                base.key(.char("j"))  // a second row selected: every movement can act
            }
            for binding in Bindings.of(route) + Bindings.global {
                for key in binding.keys where key != digit {
                    var h = base
                    if binding.help.hasPrefix("(while filtering)") { h.key(.char("/")); h.type("a") }
                    if route == .secrets && key == .char("h") { h.key(.char("v")) }
                    if route == .audit && key == .char("n"), case .done(var v) = h.model.audit.check {
                        v.failure = (seq: 1, reason: "test")
                        h.send(.audit(.verified(v)))
                        h.key(.char("g"))
                    }
                    h.runEffects = false
                    h.effects = []
                    let before = h.model
                    h.send(.key(key))
                    let acted = h.model != before || !h.effects.isEmpty
                    #expect(acted, "\(route): \(key.label) (\(binding.help)) does nothing")
                }
            }
        }
    }
}

@Suite struct ConsoleLayeringTests {
    static let sources = Repository.root.appendingPathComponent("Sources/KeyholdConsole")

    /// Nothing but the backend knows ncurses: one file imports the shim.
    @Test func onlyTheBackendImportsTheShim() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path).filter { $0.hasSuffix(".swift") }
        var importers: [String] = []
        for f in files {
            let text = try String(contentsOf: Self.sources.appendingPathComponent(f), encoding: .utf8)
            if text.split(separator: "\n").contains(where: { $0.hasPrefix("import CNcurses") }) { importers.append(f) }
        }
        #expect(importers == ["Backend.swift"])
    }

    /// Results of calls queued before a lock are dropped, not kept.
    @Test func lateResultsAfterALockAreDropped() throws {
        var h = try Harness.loggedIn(setUp: populate)
        let users = try #require(h.session).userPage(limit: 50)
        let asked = try #require(
            h.effects.compactMap { e -> PageQuery<String>? in if case .users(.page(let q)) = e { q } else { nil } }.last
                ?? PageQuery(id: h.model.pageReads, filter: "", anchor: .first, side: 25, count: true))
        h.key(.char(":")); h.type("lock"); h.key(.enter)
        h.send(.users(.page(PageRead(query: asked, rows: users.items, hasBefore: false, hasAfter: false, total: users.items.count))))
        h.send(.secrets(.revealed("app/prod/aws", version: 1, try pw("AKIA-secret"))))
        #expect(h.model.users == UsersState() && h.model.secrets == SecretsState())
    }
}
