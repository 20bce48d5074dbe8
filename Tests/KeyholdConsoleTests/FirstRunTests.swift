import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// First run: the set-up form, its live password rules, the vault's
/// creation and the recovery key shown once and typed back.
@Suite struct FirstRunTests {
    /// Replaces the (random) recovery key on screen with a fixed placeholder.
    func masked(_ h: Harness) -> [String: String] {
        guard let key = h.model.recovery.key?.bytes.utf8String() else { return [:] }
        var out: [String: String] = [:]
        for line in recoveryLines(key) {
            out[line] = String(line.map { $0 == "-" ? "-" : "#" })
        }
        return out
    }

    @Test func emptyForm80x24() {
        let h = Harness.firstRun()
        expectScreen(
            h.screen, named: "setup-empty-80x24",
            #"""
             Keyhold · first run                                                   vault.db

              Create the vault and its first administrator
              No vault exists at /srv/keyhold/vault.db yet. Choose the administrator's
              name and password; the password also protects the keys.

              Username  [admin                                           ]
              Password  [                                                ]
              Repeat    [                                                ]

              Password rules  length is what counts; no composition rules
                · at least 12 characters
                · not a common password, repeat, sequence or keyboard row
                · does not contain the username
                Strength  ░░░░░░░░░░








             Enter create  Tab/↓ next field  Esc quit  F1 help
            """#)
        #expect(h.screen.cursor == Point(x: 18, y: 6))
    }

    @Test func emptyForm120x40() {
        let h = Harness.firstRun(width: 120, height: 40)
        expectScreen(
            h.screen, named: "setup-empty-120x40",
            #"""
             Keyhold · first run                                                                                           vault.db

              Create the vault and its first administrator
              No vault exists at /srv/keyhold/vault.db yet. Choose the administrator's
              name and password; the password also protects the keys.

              Username  [admin                                           ]
              Password  [                                                ]
              Repeat    [                                                ]

              Password rules  length is what counts; no composition rules
                · at least 12 characters
                · not a common password, repeat, sequence or keyboard row
                · does not contain the username
                Strength  ░░░░░░░░░░
























             Enter create  Tab/↓ next field  Esc quit  F1 help
            """#)
    }

    @Test func rulesAreCheckedAsYouType() {
        var h = Harness.firstRun()
        h.key(.tab)
        h.type("admin-pass")
        expectScreen(
            h.screen, named: "setup-short-password",
            #"""
             Keyhold · first run                                                   vault.db

              Create the vault and its first administrator
              No vault exists at /srv/keyhold/vault.db yet. Choose the administrator's
              name and password; the password also protects the keys.

              Username  [admin                                           ]
              Password  [••••••••••                                      ]
              Repeat    [                                                ]

              Password rules  length is what counts; no composition rules
                ✗ at least 12 characters
                ✓ not a common password, repeat, sequence or keyboard row
                ✗ does not contain the username
                Strength  ████░░░░░░ not accepted

              ✗ password: must be at least 12 characters






             Enter create  Tab/↓ next field  Esc quit  F1 help
            """#)
        #expect(h.screen.style(of: "at least 12 characters") == Theme.error)
        h.type("word")  // "admin-password": long enough, contains the username
        let rules = PasswordRules.check(h.model.setup.password.bytes, username: "admin", minimumLength: 12)
        #expect(rules.map(\.state) == [.ok, .ok, .failed])
        #expect(h.screen.text.contains("password: must not contain the username"))
    }

    @Test func commonPasswordsAreFlagged() throws {
        var h = Harness.firstRun()
        h.key(.tab)
        h.type("password1234")
        let rules = PasswordRules.check(try pw("password1234"), username: "admin", minimumLength: 12)
        #expect(rules.map(\.state) == [.ok, .failed, .ok])
        #expect(h.screen.text.contains("✗ password: is too common"))
    }

    @Test func goodPasswordAndMismatchedRepeat() {
        var h = Harness.firstRun()
        h.key(.tab)
        h.type(adminPassword)
        h.key(.tab)
        h.type("correct horse")
        expectScreen(
            h.screen, named: "setup-mismatch",
            #"""
             Keyhold · first run                                                   vault.db

              Create the vault and its first administrator
              No vault exists at /srv/keyhold/vault.db yet. Choose the administrator's
              name and password; the password also protects the keys.

              Username  [admin                                           ]
              Password  [••••••••••••••••••••••••••••                    ]
              Repeat    [•••••••••••••                                   ]

              Password rules  length is what counts; no composition rules
                ✓ at least 12 characters
                ✓ not a common password, repeat, sequence or keyboard row
                ✓ does not contain the username
                Strength  ██████████ strong

              ✗ repeat: does not match the password






             Enter create  Tab/↓ next field  Esc quit  F1 help
            """#)
        #expect(h.screen.style(of: "strong") == .plain)
    }

    @Test func strengthGrowsWithLength() throws {
        #expect(PasswordRules.strength(nil, valid: false).label == "")
        #expect(try PasswordRules.strength(pw(""), valid: false).label == "")
        #expect(try PasswordRules.strength(pw("abcdefghijkl"), valid: true).label == "fair: longer is stronger")
        #expect(try PasswordRules.strength(pw(String(repeating: "x", count: 16)), valid: true).label == "good")
        #expect(try PasswordRules.strength(pw(String(repeating: "x", count: 30)), valid: true) == ("strong", 10))
        #expect(try PasswordRules.strength(pw("short"), valid: false).label == "not accepted")
        // Characters, not bytes: twelve emoji are twelve characters.
        #expect(try PasswordRules.strength(pw(String(repeating: "🙂", count: 12)), valid: true).label == "fair: longer is stronger")
    }

    @Test func submittingWithProblemsShowsThemAndFocusesTheFirst() {
        var h = Harness.firstRun()
        h.model.setup.username = TextField("a b", limit: 64)
        h.keys(.tab, .tab)  // to the repeat field
        h.key(.enter)
        #expect(h.effects.isEmpty)
        #expect(h.model.setup.focus == .username)
        let text = h.screen.text
        #expect(text.contains("username: must be 3 to 32 characters (got 3)") == false)
        #expect(text.contains("username: may contain only ASCII letters"))
        #expect(text.contains("password: must be at least 12 characters"))
        #expect(!FileManager.default.fileExists(atPath: h.path))
    }

    @Test func enterMovesToTheNextEmptyField() {
        var h = Harness.firstRun()
        h.key(.enter)
        #expect(h.model.setup.focus == .password)
        h.type(adminPassword)
        h.key(.enter)
        #expect(h.model.setup.focus == .repeated)
        #expect(h.effects.isEmpty)
    }

    @Test func fieldNavigationKeys() {
        var h = Harness.firstRun()
        h.key(.tab); #expect(h.model.setup.focus == .password)
        h.key(.down); #expect(h.model.setup.focus == .repeated)
        h.key(.tab); #expect(h.model.setup.focus == .username)
        h.key(.backTab); #expect(h.model.setup.focus == .repeated)
        h.key(.up); #expect(h.model.setup.focus == .password)
        h.key(.up); #expect(h.model.setup.focus == .username)
        // Editing keys go to the focused field; q and ? are text here.
        h.keys(.ctrl("u"), .char("q"), .char("?"))
        #expect(h.model.setup.username.text == "q?")
        #expect(!h.model.quit && h.model.overlay == nil)
        h.keys(.left, .backspace, .end, .ctrl("w"))
        #expect(h.model.setup.username.text == "")
    }

    @Test func escapeAndCtrlCQuitWithoutCreating() {
        var h = Harness.firstRun()
        h.key(.escape)
        #expect(h.model.quit && !h.model.interrupted)
        var g = Harness.firstRun()
        g.key(.ctrl("c"))
        #expect(g.model.quit && g.model.interrupted)
        #expect(!FileManager.default.fileExists(atPath: g.path))
    }

    @Test func f1ShowsTheKeysOfTheForm() {
        var h = Harness.firstRun()
        h.key(.f(1))
        #expect(h.model.overlay == .help(HelpState()))
        expectScreen(
            h.screen, named: "setup-help",
            #"""
             Keyhold · first run                                                   vault.db

              Create the vault and its first administrator
              No vault exists at /srv/keyhold/vault.db yet. Choose the administrator's
              na┌─ Help ───────────────────────────────────────────────────────────────┐
                │ Keys of this form                                                    │
              Us│ Enter         next empty field, then create the vault                │
              Pa│ Tab/↓         next field                                             │
              Re│ Shift-Tab/↑   previous field                                         │
                │ Esc           quit without creating anything                         │
              Pa│ F1            this help                                              │
                │ Ctrl-C        quit                                                   │
                │ ←/→ Home/End  move in the field                                      │
                │ Ctrl-U        clear to the start of the field                        │
                │ Ctrl-W        delete the word before the cursor                      │
                │                                                                      │
                │ Terminal                                                             │
                │ Ctrl-Z        suspend (the screen is cleared; fg comes back)         │
                │ Ctrl-L        redraw the screen                                      │
                └─ Esc close ──────────────────────────────────────────────────────────┘



             Esc close  j/k scroll
            """#)
        h.key(.escape)
        #expect(h.model.overlay == nil && !h.model.quit)
    }

    /// Fills in the form and creates the vault.
    func created() -> Harness {
        var h = Harness.firstRun()
        h.key(.tab)
        h.type(adminPassword)
        h.key(.tab)
        h.type(adminPassword)
        h.key(.enter)
        return h
    }

    @Test func creatingTheVaultShowsTheRecoveryKeyOnce() throws {
        let h = created()
        guard case .session(.createVault(let name, _)) = h.effects.first else {
            Issue.record("expected createVault, got \(h.effects)")
            return
        }
        #expect(name == "admin")
        #expect(FileManager.default.fileExists(atPath: h.path))
        #expect(h.model.route == .recovery)
        #expect(h.model.account?.username == "admin")
        // The typed passwords are gone from the model.
        #expect(h.model.setup.password.isEmpty && h.model.setup.repeated.isEmpty)
        expectScreen(
            h.screen, named: "recovery-80x24",
            #"""
             Keyhold · recovery key                                        admin · vault.db

              Vault created. This is its recovery key, shown this once:

                  #####-#####-#####-#####-#####
                  #####-#####-#####-#####
                  #####-#####-#####-#####

              It opens the vault if every administrator password is lost. Write it down
              and keep it offline: Keyhold cannot show it again.

              Type it back to continue (case, spaces and dashes do not matter):
              [                                                                      ]










             Enter check  F2 skip  F1 help
            """#, replacing: masked(h))
        let key = try #require(h.model.recovery.key?.bytes.utf8String())
        #expect(h.screen.text.contains(recoveryLines(key)[0]))
        #expect(h.screen.style(of: recoveryLines(key)[0]) == Theme.secret)
    }

    @Test func recoveryKeyAt120x40() {
        var h = created()
        h.resize(120, 40)
        expectScreen(
            h.screen, named: "recovery-120x40",
            #"""
             Keyhold · recovery key                                                                                admin · vault.db

              Vault created. This is its recovery key, shown this once:

                  #####-#####-#####-#####-#####
                  #####-#####-#####-#####
                  #####-#####-#####-#####

              It opens the vault if every administrator password is lost. Write it down
              and keep it offline: Keyhold cannot show it again.

              Type it back to continue (case, spaces and dashes do not matter):
              [                                                                      ]


























             Enter check  F2 skip  F1 help
            """#, replacing: masked(h))
    }

    @Test func aTypoIsNamedByItsGroup() throws {
        var h = created()
        let key = try #require(h.model.recovery.key?.bytes.utf8String())
        var chars = Array(key)
        // Change one symbol of group 4 (index 3*6 = 18 is its first symbol).
        chars[18] = chars[18] == "A" ? "B" : "A"
        h.type(String(chars))
        h.key(.enter)
        #expect(h.model.route == .recovery)
        let error = try #require(h.model.recovery.error)
        #expect(error.contains("group 4"))
        h.key(.ctrl("u"))
        #expect(h.model.recovery.error == nil)
        h.type("not a key")
        h.key(.enter)
        #expect(h.model.recovery.error?.hasPrefix("recovery key:") == true)
    }

    @Test func anEmptyEnterAsksForTheKey() {
        var h = created()
        h.key(.enter)
        #expect(h.model.route == .recovery)
        #expect(h.screen.text.contains("Type the recovery key shown above"))
    }

    @Test func typingTheKeyBackOpensTheDashboard() throws {
        var h = created()
        let key = try #require(h.model.recovery.key?.bytes.utf8String())
        // Lower case, spaces instead of dashes: still the same key.
        h.type(key.lowercased().replacingOccurrences(of: "-", with: " "))
        h.key(.enter)
        #expect(h.model.route == .dashboard)
        #expect(h.model.recovery.key == nil)
        #expect(h.model.toasts.map(\.text) == ["Recovery key confirmed"])
        #expect(h.effects.contains(.dashboard(.load(dueWithin: h.model.settings.dueSoon))))
        #expect(h.model.dashboard.summary?.users == 1)
    }

    @Test func f2SkipsOnlyAfterTypingTheConfirmation() {
        var h = created()
        h.key(.f(2))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "written down")
        expectScreen(
            h.screen, named: "recovery-skip-confirm",
            #"""
             Keyhold · recovery key                                        admin · vault.db

              Vault created. This is its recovery key, shown this once:

                  #####-#####-#####-#####-#####
                  #####-#####-#####-#####
                  #####-#####-#####-#####
                    ┌─ Continue without typing the key back? ──────────────────────┐
              It ope│ Keyhold will not show this recovery key again. Continue only │own
              and ke│ if you have stored it safely.                                │
                    │                                                              │
              Type i│ Type "written down" to confirm:                              │
              [     │ [                                                          ] │ ]
                    │ An empty Enter cancels.                                      │
                    │                                                              │
                    └─ Enter confirm · Esc cancel ─────────────────────────────────┘







             Enter confirm  Esc cancel
            """#, replacing: masked(h))
        h.key(.enter)  // an empty Enter cancels
        #expect(h.model.overlay == nil && h.model.route == .recovery)
        h.key(.f(2))
        h.type("written")
        h.key(.enter)
        #expect(h.model.route == .recovery)
        guard case .confirm(let c2) = h.model.overlay else { Issue.record("dialog closed"); return }
        #expect(c2.error != nil)
        h.type(" down")
        h.key(.enter)
        #expect(h.model.route == .dashboard)
        #expect(h.model.recovery.key == nil)
    }

    @Test func escapeOnTheRecoveryScreenDoesNotLoseTheKey() {
        var h = created()
        h.key(.escape)
        #expect(h.model.route == .recovery && h.model.recovery.key != nil)
        #expect(h.model.toasts.first?.text.contains("F2") == true)
        h.key(.f(1))
        #expect(h.model.overlay == .help(HelpState()))
    }

    @Test func aFailedCreationKeepsTheFormAndSaysWhy() throws {
        var h = Harness.firstRun()
        // A directory others can read: the core refuses to create the vault in it.
        let dir = h.dir.file("open")
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o755])
        let runner = CoreRunner(path: dir + "/vault.db", options: .insecureFastForTests(clock: h.clock.clock))
        h = Harness(dir: h.dir, clock: h.clock, runner: runner, model: h.model)
        h.key(.tab)
        h.type(adminPassword)
        h.key(.tab)
        h.type(adminPassword)
        h.key(.enter)
        #expect(h.model.route == .setup)
        #expect(!h.model.setup.busy)
        let error = try #require(h.model.setup.error)
        #expect(h.screen.text.contains(String(error.prefix(30))))
    }

    /// A failure to create the vault (here its directory is writable by others) keeps the
    /// form as typed: the username and both passwords (masked, never shown), so Enter tries
    /// again once the cause is fixed.
    @Test func aFailedCreationKeepsWhatWasTyped() throws {
        var h = Harness.firstRun()
        #expect(chmod(h.dir.path, 0o777) == 0)
        defer { _ = chmod(h.dir.path, 0o700) }
        h.key(.ctrl("u"))
        h.type("dora")
        h.key(.tab)
        h.type(adminPassword)
        h.key(.tab)
        h.type(adminPassword)
        h.key(.enter)
        #expect(h.model.route == .setup)
        let error = try #require(h.model.setup.error)
        #expect(!FileManager.default.fileExists(atPath: h.path))
        #expect(h.model.setup.username.text == "dora")
        #expect(h.model.setup.password.bytes?.utf8String() == adminPassword && h.model.setup.repeated.bytes?.utf8String() == adminPassword)
        #expect(h.model.setup.focus == .repeated && !h.model.setup.busy)
        let text = h.screen.text
        #expect(text.contains("[dora"))
        #expect(!text.contains(adminPassword))
        #expect(text.contains(String(repeating: "•", count: adminPassword.count)))
        #expect(text.contains(String(error.prefix(40))), "the error is not shown:\n\(text)")

        // The cause fixed, Enter again creates the vault with what was typed.
        #expect(chmod(h.dir.path, 0o700) == 0)
        h.key(.enter)
        #expect(h.model.route == .recovery)
        #expect(h.model.account?.username == "dora")
        #expect(h.model.setup.password.isEmpty && h.model.setup.repeated.isEmpty)
    }
}
