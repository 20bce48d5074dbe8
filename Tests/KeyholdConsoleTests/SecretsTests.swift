import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The secrets screen: metadata, versions, values revealed on a key (audited)
/// that hide again by themselves.
@Suite struct SecretsTests {
    func secrets(
        width: Int = 80, height: Int = 24,
        setUp: @escaping (Session, TestClock) throws -> Void = populate
    ) throws -> Harness {
        var h = try Harness.loggedIn(width: width, height: height, setUp: setUp)
        h.key(.char("3"))
        h.effects = []
        return h
    }

    @Test func list80x24() throws {
        let h = try secrets()
        #expect(h.model.secrets.rows.items.map(\.name) == ["app/dev/token", "app/prod/aws", "app/prod/stripe"])
        expectScreen(
            h.screen, named: "secrets-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │                                      ││ Versions   newest first; * current   │
            │                                      ││  *v2       2027-01-15 08:00 admin    │
            │                                      ││   v1       2027-01-15 08:00 admin    │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             j/↓ move  / filter  Tab pane  v/Enter reveal  Esc back  n new  ?/F1 help
            """#)
        #expect(h.screen.style(of: "overdue 2 d") == Theme.error)
    }

    @Test func list120x40() throws {
        var h = try secrets(width: 120, height: 40)
        h.key(.char("G"))
        expectScreen(
            h.screen, named: "secrets-120x40",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles                                    admin · vault.db
            ┌─ Secrets (3) ────────────────────────────────────────────┐┌─ Secret app/prod/stripe ─────────────────────────────────┐
            │  NAME                                    VER  ROTATE BY  ││ About      Payments                                      │
            │  app/dev/token                           v2              ││ Version    v1 (1 version kept)                           │
            │  app/prod/aws                            v1   due in 5 d ││ Rotate by  2027-01-13 (overdue 2 d)                      │
            │› app/prod/stripe                         v1   overdue 2 d││ Updated    2027-01-15 08:00 UTC                          │
            │                                                          ││ Created    2027-01-15 08:00 UTC                          │
            │                                                          ││ Value      ••••••••                                      │
            │                                                          ││            v reveals it (audited)                        │
            │                                                          ││ Versions   newest first; * current                       │
            │                                                          ││  *v1       2027-01-15 08:00 admin · data key v1          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            │                                                          ││                                                          │
            └──────────────────────────────────────────────────────────┘└──────────────────────────────────────────────────────────┘
             j/↓ move  / filter  Tab pane  v/Enter reveal  Esc back  n new  D delete  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func versionsLoadOncePerSecret() throws {
        var h = try secrets()
        h.key(.char("j"))
        h.key(.char("k"))
        #expect(h.effects == [.secrets(.loadVersions("app/prod/aws"))])
        #expect(h.model.secrets.versions.keys.sorted() == ["app/dev/token", "app/prod/aws"])
        #expect(h.model.secrets.versions["app/dev/token"]?.map(\.version) == [1, 2])
    }

    @Test func revealIsAuditedAndHidesAfterATimeout() throws {
        var h = try secrets()
        h.keys(.char("j"), .char("j"))  // app/prod/stripe
        h.effects = []
        h.key(.char("v"))
        #expect(h.effects == [.secrets(.reveal("app/prod/stripe", version: 1))])
        let r = try #require(h.model.secrets.revealed)
        #expect(r.value.bytes.utf8String() == "sk_live_abc123")
        expectScreen(
            h.screen, named: "secrets-revealed",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/prod/stripe ─────────────┐
            │  NAME                VER  ROTATE BY  ││ About      Payments                  │
            │  app/dev/token       v2              ││ Version    v1 (1 version kept)       │
            │  app/prod/aws        v1   due in 5 d ││ Rotate by  2027-01-13 (overdue 2 d)  │
            │› app/prod/stripe     v1   overdue 2 d││ Updated    2027-01-15 08:00 UTC      │
            │                                      ││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value v1   sk_live_abc123            │
            │                                      ││            hides in 30 s (h: now)    │
            │                                      ││ Versions   newest first; * current   │
            │                                      ││  *v1       2027-01-15 08:00 admin    │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             j/↓ move  / filter  Tab pane  v/Enter reveal  Esc back  n new  ?/F1 help
            """#)
        #expect(h.screen.style(of: "sk_live_abc123") == Theme.secret)
        // The reveal is in the audit log, the value is not.
        let events = try #require(h.session).auditEvents(AuditQuery(action: "secret.reveal"))
        #expect(events.map(\.target) == ["secret:app/prod/stripe"])
        #expect(!events.contains { $0.details.contains("sk_live") })
        h.wait(20 * Clock.second)
        #expect(h.screen.text.contains("hides in 10 s"))
        h.wait(10 * Clock.second)
        #expect(h.model.secrets.revealed == nil)
        #expect(!h.screen.text.contains("sk_live_abc123"))
    }

    @Test func enterAlsoRevealsAndHHides() throws {
        var h = try secrets()
        h.key(.enter)
        #expect(h.model.secrets.revealed?.name == "app/dev/token")
        #expect(h.model.secrets.revealed?.version == 2)
        h.key(.char("h"))
        #expect(h.model.secrets.revealed == nil)
    }

    @Test func movingOrLeavingHidesTheValue() throws {
        var h = try secrets()
        h.key(.char("v"))
        h.key(.char("j"))
        #expect(h.model.secrets.revealed == nil)
        h.key(.char("v"))
        #expect(h.model.secrets.revealed != nil)
        h.key(.escape)  // Esc hides first
        #expect(h.model.secrets.revealed == nil && h.model.route == .secrets)
        h.key(.char("v"))
        h.key(.char("1"))
        #expect(h.model.secrets.revealed == nil)
        h.key(.char("3"))
        #expect(!h.screen.text.contains("AKIA"))
    }

    @Test func aValueWithEscapeSequencesIsShownVisibly() throws {
        var h = try secrets { admin, _ in
            try admin.createSecret("evil", .value(pw("a\u{1B}]0;owned\u{07}b\u{202E}c")))
        }
        h.key(.char("v"))
        #expect(h.screen.text.contains(#"a␛]0;owned␇b\u{202E}c"#))
        #expect(!h.screen.allScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E })
    }

    /// C1 controls (a CSI as U+009B, NEL as U+0085), a clipboard write (OSC 52) and bidi
    /// controls in a revealed value are drawn as text, never sent to the terminal.
    @Test func aRevealedValueWithC1AndClipboardSequencesIsShownVisibly() throws {
        var h = try secrets { admin, _ in
            try admin.createSecret("evil", .value(pw("p\u{9B}2J\u{85}\u{1B}]52;c;b3duZWQ=\u{07}\u{2066}x")))
        }
        h.key(.char("v"))
        #expect(h.model.secrets.revealed?.name == "evil")
        // Wrapped on two lines of the details pane.
        #expect(
            h.screen.text.contains(#"p\u{009B}2J\u{0085}␛]52;"#) && h.screen.text.contains(#"c;b3duZWQ=␇\u{2066}x"#),
            "\(h.screen.text)")
        #expect(!h.screen.allScalars.contains { Validate.isHidden($0) })
    }

    @Test func withoutSecretsReadThereIsNoReveal() throws {
        var h = try Harness.withVault { admin, clock in
            try populate(admin, clock)
            let temp = try admin.resetPassword("carol")
            guard case .mustChangePassword(let change) = try admin.vault.login(username: "carol", password: temp) else { return }
            _ = try change.complete(newPassword: pw(userPassword))
        }
        h.logIn("carol", userPassword)
        h.key(.char("3"))
        h.effects = []
        #expect(h.model.secrets.rows.count == 3)
        h.key(.char("v"))
        #expect(h.effects.isEmpty)
        #expect(
            h.model.toasts.last
                == Toast(
                    text: "Revealing a value needs secrets.read", isError: true,
                    until: h.clock.now + 8 * Clock.second))
    }

    @Test func filterTabAndMovement() throws {
        var h = try secrets(height: 16) { admin, clock in
            try populate(admin, clock)
            for i in 2...9 { try admin.addVersion("app/prod/aws", .value(pw("value \(i)"))) }
        }
        h.key(.char("/"))
        h.type("prod")
        #expect(h.model.secrets.rows.count == 2)
        expectScreen(
            h.screen, named: "secrets-filter-80x16",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (2 of 3) ───────────────────┐┌─ Secret app/prod/aws ────────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v9 (9 versions kept)      │
            │› app/prod/aws        v9   due in 5 d ││ Rotate by  2027-01-20 (due in 5 d)   │
            │  app/prod/stripe     v1   overdue 2 d││ Updated    2027-01-15 08:00 UTC      │
            │                                      ││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │                                      ││ Versions   newest first; * current   │
            │                                      ││  *v9       2027-01-15 08:00 admin    │
            │                                      ││   v8       2027-01-15 08:00 admin    │
            │                                      ││   v7       2027-01-15 08:00 admin    │
            │                                      ││   v6       2027-01-15 08:00 admin    │
            │                                      ││   v5       2027-01-15 08:00 admin    │
            └─ /prod ──────────────────────────────┘└──────────────────────────────────────┘
             Enter keep filter  Esc clear  ↑/↓ move
            """#)
        h.key(.enter)
        h.keys(.char("G"), .char("g"), .end, .home, .pageDown, .pageUp, .down, .up)
        #expect(h.model.secrets.rows.selectedItem?.name == "app/prod/aws")
        h.key(.tab)
        #expect(h.model.secrets.focus == .detail)
        // j/k choose a version; the pane scrolls when the choice leaves it, and on past the last one.
        h.keys(.char("j"), .down)
        #expect(h.model.secrets.versionCursor == 2 && h.model.secrets.detailOffset == 0)
        #expect(h.model.secrets.rows.list.selected == 0)
        #expect(h.screen.text.contains("│ › v7 "))
        for _ in 0..<20 { h.key(.char("j")) }
        #expect(h.model.secrets.versionCursor == 8)
        let lines = Console.secretDetail(h.model, h.model.secrets.rows.selectedItem!, width: 36).count
        #expect(h.model.secrets.detailOffset == lines - 12)
        h.keys(.char("k"), .up, .char("g"), .home)
        #expect(h.model.secrets.detailOffset == 0 && h.model.secrets.versionCursor == 0)
        h.key(.char("G"))
        #expect(h.model.secrets.detailOffset == lines - 12 && h.model.secrets.versionCursor == 8)
        h.key(.end)
        #expect(h.model.secrets.rows.list.selected == 0, "G/End in the details pane stay there")
        h.key(.tab)
        #expect(h.model.secrets.focus == .list)
        h.key(.escape)  // clears the filter
        #expect(h.model.secrets.rows.filter.isEmpty && h.model.secrets.rows.selectedItem?.name == "app/prod/aws")
        h.key(.char("r"))
        #expect(h.effects.contains { $0.pageList == .secrets })
        h.key(.escape)
        #expect(h.model.route == .dashboard)
    }

    @Test func deleteNeedsTheNameTyped() throws {
        var h = try secrets()
        h.key(.char("D"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "app/dev/token")
        expectScreen(
            h.screen, named: "secrets-delete-confirm",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │       ┌─ Delete secret app/dev/token? ───────────────────────────────┐ed)    │
            │       │ All 2 versions are deleted for good and scrubbed from the    │rent   │
            │       │ vault's files.                                               │min    │
            │       │                                                              │min    │
            │       │ Type "app/dev/token" to confirm:                             │       │
            │       │ [                                                          ] │       │
            │       │ An empty Enter cancels.                                      │       │
            │       │                                                              │       │
            │       └─ Enter confirm · Esc cancel ─────────────────────────────────┘       │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter confirm  Esc cancel
            """#)
        h.key(.char("D"))  // the starting key is just text here
        h.key(.enter)
        #expect(h.model.secrets.rows.items.count == 3)
        h.key(.ctrl("u"))
        h.key(.enter)  // empty: cancel
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
        h.key(.char("D"))
        h.type("app/dev/token")
        h.key(.enter)
        #expect(h.effects.contains(.secrets(.delete("app/dev/token"))))
        #expect(h.model.secrets.rows.items.map(\.name) == ["app/prod/aws", "app/prod/stripe"])
        #expect(h.model.toasts.last?.text == "Deleted secret app/dev/token")
    }

    @Test func noSecretsYet() throws {
        let h = try secrets { _, _ in }
        #expect(h.screen.text.contains("No secrets yet."))
    }
}
