import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The forms of the secrets screen: a new secret (typed or generated), a new
/// version, an edit of the metadata, and deleting one version.
@Suite struct SecretFormsTests {
    static let typed = "s3cr3t-Value!"

    func secrets(
        width: Int = 80, height: Int = 24,
        setUp: @escaping (Session, TestClock) throws -> Void = populate
    ) throws -> Harness {
        var h = try Harness.loggedIn(width: width, height: height, setUp: setUp)
        h.key(.char("3"))
        h.effects = []
        return h
    }

    func form(_ h: Harness) -> SecretFormState? {
        if case .secretForm(let f) = h.model.overlay { return f }
        return nil
    }

    /// A user whose roles do not include secrets.write (auditor: secrets.list, audit.read, users.read).
    func asCarol() throws -> Harness {
        var h = try Harness.withVault { admin, clock in
            try populate(admin, clock)
            let temp = try admin.resetPassword("carol")
            guard case .mustChangePassword(let change) = try admin.vault.login(username: "carol", password: temp) else { return }
            _ = try change.complete(newPassword: pw(userPassword))
        }
        h.logIn("carol", userPassword)
        h.key(.char("3"))
        h.effects = []
        h.model.toasts = []
        return h
    }

    struct Created: Equatable {
        var name: String, description: String, rotateBy: Int64?, historyLimit: Int?
    }

    /// A typed `.secrets(.create)` effect without its value (kept in this frame only, so it is released on return).
    static func created(_ effect: Effect?) -> Created? {
        guard case .secrets(.create(let name, .typed, let description, let rotateBy, let limit))? = effect else { return nil }
        return Created(name: name, description: description, rotateBy: rotateBy, historyLimit: limit)
    }

    // MARK: New secret

    @Test func newSecretFormEmpty() throws {
        var h = try secrets()
        h.key(.char("n"))
        let f = try #require(form(h))
        #expect(f.kind == .create && f.focus == .name && f.fields == [.name, .source, .value, .description, .rotateBy, .historyLimit])
        expectScreen(
            h.screen, named: "secret-new-empty",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │   ┌─ New secret ─────────────────────────────────────────────────────────┐   │
            │   │ Name           [                                                   ] │   │
            │   │ Value          (•) typed  ( ) generated                              │   │
            │   │ Typed          [                                                   ] │   │
            │   │ Description    [                                                   ] │   │
            │   │ Rotate by      [           ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [      ] versions kept; empty: vault default          │   │
            │   └─ Enter create · Tab next · Esc cancel ───────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter create  Tab next field  Space typed/generated  Esc cancel
            """#)
        #expect(h.screen.cursor == Point(x: 22, y: 9))
    }

    @Test func newSecretTypedIsCreatedAndNeverShown() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app/prod/new")
        h.keys(.tab, .tab)
        #expect(form(h)?.focus == .value)
        h.type(Self.typed)
        #expect(form(h)?.value.value?.bytes.utf8String() == Self.typed)
        #expect(form(h)?.value.length == Self.typed.count)
        h.key(.tab)
        h.type("Payments, new account")
        h.key(.tab)
        h.type("2027-03-01")
        h.key(.tab)
        h.type("5")
        expectScreen(
            h.screen, named: "secret-new-filled",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │   ┌─ New secret ─────────────────────────────────────────────────────────┐   │
            │   │ Name           [app/prod/new                                       ] │   │
            │   │ Value          (•) typed  ( ) generated                              │   │
            │   │ Typed          [•••••••••••••                                      ] │   │
            │   │ Description    [Payments, new account                              ] │   │
            │   │ Rotate by      [2027-03-01 ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [5     ] versions kept; empty: vault default          │   │
            │   └─ Enter create · Tab next · Esc cancel ───────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter create  Tab next field  Space typed/generated  Esc cancel
            """#)
        #expect(!h.screen.text.contains(Self.typed))
        #expect(h.screen.text.contains(String(repeating: "•", count: Self.typed.count) + " "))

        weak let typedBytes = form(h)?.value.value?.bytes
        h.key(.enter)
        #expect(
            Self.created(h.effects.first)
                == Created(
                    name: "app/prod/new", description: "Payments, new account",
                    rotateBy: 1_803_859_200_000, historyLimit: 5))
        h.effects = []
        #expect(typedBytes == nil, "the typed value outlived the submit")

        // Saved in the core, the form gone, the new secret selected.
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Created secret app/prod/new")
        #expect(h.model.secrets.rows.selectedItem?.name == "app/prod/new")
        let session = try #require(h.session)
        #expect(try session.reveal("app/prod/new").utf8String() == Self.typed)
        let info = try session.secret(named: "app/prod/new")
        #expect(info.description == "Payments, new account" && info.rotateBy == 1_803_859_200_000 && info.historyLimit == 5)
        #expect(!h.screen.text.contains(Self.typed))
        #expect(!h.model.toasts.contains { $0.text.contains(Self.typed) })
        #expect(try !session.auditEvents(AuditQuery()).contains { $0.details.contains(Self.typed) })
    }

    @Test func newSecretWithErrorsWritesNothing() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app//x")
        h.keys(.tab, .tab, .tab)  // an empty value
        h.type("bad\u{7}")
        h.key(.tab)
        h.type("2027-02-30")
        h.key(.tab)
        h.type("0")
        h.key(.enter)
        #expect(h.effects.isEmpty)
        let f = try #require(form(h))
        #expect(f.focus == .name && f.submitted)
        #expect(f.problems().map(\.field) == [.name, .value, .description, .rotateBy, .historyLimit])
        expectScreen(
            h.screen, named: "secret-new-errors",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  a┌─ New secret ─────────────────────────────────────────────────────────┐   │
            │  a│ Name           [app//x                                             ] │   │
            │   │ Value          (•) typed  ( ) generated                              │   │
            │   │ Typed          [                                                   ] │   │
            │   │ Description    [bad␇                                               ] │   │
            │   │ Rotate by      [2027-02-30 ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [0     ] versions kept; empty: vault default          │   │
            │   │                                                                      │   │
            │   │ ✗ secret name: segment 2 is empty (no leading, trailing or double    │   │
            │   │   "/")                                                               │   │
            │   │ ✗ secret value: must not be empty                                    │   │
            │   │ ✗ description: must not contain a control character (U+0007)         │   │
            │   │ ✗ rotate by: must be a date as YYYY-MM-DD (UTC), or empty for none   │   │
            │   │ ✗ history limit: must be a whole number from 1 to 1000, or empty for │   │
            │   │   the vault's default                                                │   │
            │   └─ Enter create · Tab next · Esc cancel ───────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter create  Tab next field  Space typed/generated  Esc cancel
            """#)
        #expect(try h.session?.secrets().count == 3)

        // A name already listed is refused as you type.
        h.key(.ctrl("u"))
        h.type("app/prod/aws")
        #expect(
            form(h)?.problems(exists: h.model.secretListed).first?.message
                == "secret name: app/prod/aws exists already (N on the list adds a version)")
    }

    @Test func newSecretGenerated() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app/gen")
        h.key(.tab)
        h.key(.char(" "))
        #expect(form(h)?.generated == true)
        #expect(form(h)?.fields == [.name, .source, .length, .alphabet, .description, .rotateBy, .historyLimit])
        h.key(.tab)
        h.keys(.backspace, .backspace)
        h.type("40")
        h.key(.tab)
        h.key(.right)
        #expect(form(h)?.alphabet == .hex)
        h.keys(.right, .left)
        #expect(form(h)?.alphabet == .hex)
        expectScreen(
            h.screen, named: "secret-new-generated",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │   ┌─ New secret ─────────────────────────────────────────────────────────┐   │
            │   │ Name           [app/gen                                            ] │   │
            │   │ Value          ( ) typed  (•) generated                              │   │
            │   │ Length         [40    ] characters, 1 to 4096                        │   │
            │   │ Alphabet       ‹ hex ›  0-9 a-f · ←/→ change                         │   │
            │   │ Description    [                                                   ] │   │
            │   │ Rotate by      [           ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [      ] versions kept; empty: vault default          │   │
            │   └─ Enter create · Tab next · Esc cancel ───────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter create  Tab next field  Space typed/generated  Esc cancel
            """#)
        h.key(.enter)
        #expect(
            h.effects.first
                == .secrets(
                    .create(
                        name: "app/gen", value: .generated(length: 40, alphabet: .hex), description: "",
                        rotateBy: nil, historyLimit: nil)))
        let value = try #require(h.session?.reveal("app/gen").utf8String())
        #expect(value.count == 40 && value.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(!h.screen.text.contains(value))
    }

    @Test func newSecretBusy() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app/slow")
        h.keys(.tab, .tab)
        h.type(Self.typed)
        h.runEffects = false
        h.key(.enter)
        let f = try #require(form(h))
        #expect(f.busy && f.value.isEmpty)
        expectScreen(
            h.screen, named: "secret-new-busy",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │   ┌─ New secret ─────────────────────────────────────────────────────────┐   │
            │   │ Name           [app/slow                                           ] │   │
            │   │ Value          (•) typed  ( ) generated                              │   │
            │   │ Typed          [                                                   ] │   │
            │   │ Description    [                                                   ] │   │
            │   │ Rotate by      [           ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [      ] versions kept; empty: vault default          │   │
            │   └─ saving… ────────────────────────────────────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter create  Tab next field  Space typed/generated  Esc cancel
            """#)
        #expect(h.screen.cursor == nil)
        // Keys wait while it saves.
        let before = h.model
        h.keys(.escape, .char("x"), .enter)
        #expect(h.model.overlay == before.overlay)
    }

    @Test func aCoreRefusalLandsInTheForm() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app/race")
        h.keys(.tab, .tab)
        h.type(Self.typed)
        // Made elsewhere after the list was loaded.
        try h.session?.createSecret("app/race", .value(pw("first")))
        h.key(.enter)
        let f = try #require(form(h))
        #expect(!f.busy && f.value.isEmpty)
        #expect(f.error == "conflict: a secret named app/race already exists")
        #expect(h.screen.text.contains("✗ conflict: a secret named app/race already exists"))
        #expect(h.model.toasts.isEmpty)
        #expect(try h.session?.reveal("app/race").utf8String() == "first")
    }

    @Test func escapeCancelsAndWipesTheValue() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.keys(.tab, .tab)
        h.type("abc")
        weak let typedBytes = form(h)?.value.value?.bytes
        #expect(typedBytes != nil)
        h.key(.escape)
        #expect(h.model.overlay == nil && h.model.toasts.last?.text == "Cancelled")
        #expect(typedBytes == nil)
        #expect(h.effects.isEmpty)
    }

    @Test func typingOnTheSourceLineTypesTheValue() throws {
        var h = try secrets()
        h.key(.char("n"))
        h.type("app/new")
        h.key(.tab)
        #expect(form(h)?.focus == .source)
        // A newcomer tabs once and types the value: it goes into the value, not nowhere.
        h.type("sk_live")
        #expect(form(h)?.focus == .value && form(h)?.value.count == 7 && form(h)?.generated == false)
        #expect(!h.screen.text.contains("sk_live"))
        h.key(.tab)
        h.type("the description")
        #expect(form(h)?.description.text == "the description" && form(h)?.value.count == 7)
        // Generated: digits typed there set the length.
        h.keys(.backTab, .backTab, .char(" "))
        #expect(form(h)?.generated == true && form(h)?.focus == .source)
        h.key(.char("4"))
        #expect(form(h)?.focus == .length && form(h)?.length.text.hasSuffix("4") == true)
        h.key(.escape)
    }

    @Test func formNavigation() throws {
        var h = try secrets()
        h.key(.char("n"))
        var order: [SecretFormState.Field] = []
        for _ in 0..<6 { order.append(form(h)!.focus); h.key(.tab) }
        #expect(order == [.name, .source, .value, .description, .rotateBy, .historyLimit])
        #expect(form(h)?.focus == .name)
        h.key(.backTab)
        #expect(form(h)?.focus == .historyLimit)
        h.key(.up)
        #expect(form(h)?.focus == .rotateBy)
        h.key(.down)
        #expect(form(h)?.focus == .historyLimit)
        // ← and → on the source switch it; on a text field they move the cursor.
        h.keys(.tab, .tab)
        h.key(.left)
        #expect(form(h)?.generated == true)
        h.key(.right)
        #expect(form(h)?.generated == false)
        h.key(.backTab)
        h.type("ab")
        h.keys(.left, .char("x"))
        #expect(form(h)?.name.text == "axb")
        // `q` and `?` are typed, not commands.
        h.type("q?")
        #expect(form(h)?.name.text == "axq?b" && !h.model.quit)
        #expect(Console.hints(h.model).map(\.0) == ["Enter", "Tab", "Space", "Esc"])
    }

    // MARK: The masked value field

    @Test func valueFieldKeepsBytesAndCountsCharacters() {
        var v = SecretValueField()
        for c in "aé€😀" { v.handle(.char(c)) }
        #expect(v.length == 4 && v.count == 1 + 2 + 3 + 4)
        #expect(v.value?.bytes.utf8String() == "aé€😀")
        #expect(v.value?.description == "(hidden)")
        v.handle(.backspace)
        #expect(v.value?.bytes.utf8String() == "aé€" && v.length == 3)
        v.handle(.backspace)
        v.handle(.backspace)
        #expect(v.value?.bytes.utf8String() == "a" && v.length == 1)
        v.handle(.backspace)
        #expect(v.isEmpty && v.length == 0)
        v.handle(.backspace)
        #expect(v.isEmpty)
        for c in "xyz" { v.handle(.char(c)) }
        let cleared = v.handle(.ctrl("u"))
        #expect(cleared && v.isEmpty)
        let moved = v.handle(.left)
        #expect(!moved, "the cursor stays at the end")
    }

    @Test func valueFieldRefusesMoreThanTheLimit() {
        var v = SecretValueField()
        v.limit = 4
        for c in "abcdef" { v.handle(.char(c)) }
        #expect(v.value?.bytes.utf8String() == "abcd" && v.overflowed)
        var f = SecretFormState(.create)
        f.value = v
        #expect(f.problems().first { $0.field == .value }?.message.hasPrefix("secret value: must be at most 4 bytes") == true)
        v.handle(.ctrl("u"))
        #expect(!v.overflowed)
    }

    @Test func rotateByDatesAreUTCDays() {
        func day(_ t: String) -> Int64? { try? Fmt.day(t, field: "rotate by") }
        #expect(day("2027-03-01") == 1_803_859_200_000)
        #expect(day("1970-01-01") == 0)
        #expect(day("2000-02-29") == 951_782_400_000)
        for bad in [
            "", "2027-02-30", "2027-3-1", "27-03-01", "2027-13-01", "2027-00-10", "1969-12-31", "2027-03-01T00:00",
            "２０２７-03-01", "+027-03-01"
        ] {
            #expect(day(bad) == nil, "\(bad) accepted")
        }
        for ms: Int64 in [0, 951_782_400_000, 1_803_859_200_000, 4_102_444_800_000] { #expect(day(Fmt.date(ms)) == ms) }
        #expect(Clock.format(1_803_859_200_000 + 3_723_000) == "2027-03-01T01:02:03Z")
        #expect(Clock.format(-1000) == "1969-12-31T23:59:59Z")
    }

    // MARK: New version

    @Test func newVersionTypedThenGenerated() throws {
        var h = try secrets()
        h.key(.char("N"))
        let f = try #require(form(h))
        #expect(f.kind == .newVersion(h.model.secrets.rows.selectedItem!) && f.focus == .value)
        expectScreen(
            h.screen, named: "secret-version-empty",
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
            │   ┌─ New version of app/dev/token ───────────────────────────────────────┐   │
            │   │ The new value becomes the current version (now v2).                  │   │
            │   │                                                                      │   │
            │   │ Value          (•) typed  ( ) generated                              │   │
            │   │ Typed          [                                                   ] │   │
            │   └─ Enter add · Tab next · Esc cancel ──────────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter add  Tab next field  Space typed/generated  Esc cancel
            """#)
        h.type(Self.typed)
        h.key(.enter)
        #expect(h.model.toasts.last?.text == "Added v3 of app/dev/token")
        #expect(try h.session?.reveal("app/dev/token").utf8String() == Self.typed)

        h.key(.char("N"))
        h.key(.backTab)
        #expect(form(h)?.focus == .source)
        h.effects = []
        h.key(.char(" "))
        h.key(.enter)
        #expect(h.effects.first == .secrets(.addVersion("app/dev/token", .generated(length: 32, alphabet: .urlsafe))))
        #expect(h.model.toasts.last?.text == "Added v4 of app/dev/token")
        #expect(try h.session?.secret(named: "app/dev/token").currentVersion == 4)
        #expect(try h.session?.reveal("app/dev/token").count == 32)
    }

    @Test func newVersionEmptyIsRefused() throws {
        var h = try secrets()
        h.key(.char("N"))
        h.key(.enter)
        #expect(h.effects.isEmpty)
        #expect(form(h)?.problems().map(\.message) == ["secret value: must not be empty"])
        #expect(h.screen.text.contains("✗ secret value: must not be empty"))
    }

    // MARK: Edit

    @Test func editSavesTheChangedFields() throws {
        var h = try secrets()
        h.key(.char("j"))  // app/prod/aws: rotate by 2027-01-20
        h.key(.char("e"))
        let f = try #require(form(h))
        #expect(f.fields == [.description, .rotateBy, .historyLimit] && f.rotateBy.text == "2027-01-20")
        expectScreen(
            h.screen, named: "secret-edit",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/prod/aws ────────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v1 (1 version kept)       │
            │  app/dev/token       v2              ││ Rotate by  2027-01-20 (due in 5 d)   │
            │› app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │                                      ││            v reveals it (audited)    │
            │                                      ││ Versions   newest first; * current   │
            │   ┌─ Edit app/prod/aws ──────────────────────────────────────────────────┐   │
            │   │ Description    [                                                   ] │   │
            │   │ Rotate by      [2027-01-20 ] YYYY-MM-DD (UTC); empty: none           │   │
            │   │ History limit  [      ] versions kept; empty: vault default          │   │
            │   └─ Enter save · Tab next · Esc cancel ─────────────────────────────────┘   │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            │                                      ││                                      │
            └──────────────────────────────────────┘└──────────────────────────────────────┘
             Enter save  Tab next field  Esc cancel
            """#)
        h.type("AWS key")
        h.key(.tab)
        h.key(.ctrl("u"))
        h.key(.tab)
        h.type("3")
        h.effects = []
        h.key(.enter)
        #expect(
            h.effects.first
                == .secrets(
                    .edit(
                        "app/prod/aws",
                        SecretEdit(
                            description: "AWS key", rotateBy: .clear,
                            historyLimit: .set(3)))))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Saved description, rotate-by date, history limit of app/prod/aws")
        let session = try #require(h.session)
        let info = try session.secret(named: "app/prod/aws")
        #expect(info.description == "AWS key" && info.rotateBy == nil && info.historyLimit == 3)
        let actions = try session.auditEvents(AuditQuery(target: "secret:app/prod/aws")).map(\.action)
        // One change, one event: the whole edit in one transaction.
        #expect(actions.last == "secret.edit" && !actions.dropLast().contains("secret.edit"))
        #expect(!actions.contains("secret.describe") && !actions.contains("secret.history-limit"))
    }

    @Test func editWithoutChangesSavesNothing() throws {
        var h = try secrets()
        h.key(.char("e"))
        h.key(.enter)
        #expect(h.effects.isEmpty && h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Nothing changed")
        // Only what changed is sent: a rotate-by time that is not midnight (08:00 here) stays as it is.
        let aws = try #require(h.session).secret(named: "app/prod/aws")
        var f = SecretFormState(.edit(aws))
        #expect(f.edit(of: aws).isEmpty)
        f.description = TextField("x")
        #expect(f.edit(of: aws) == SecretEdit(description: "x"))
    }

    @Test func loweringTheHistoryLimitAsksFirst() throws {
        var h = try secrets { admin, clock in
            try populate(admin, clock)
            for i in 2...4 { try admin.addVersion("app/prod/aws", .value(pw("value \(i)"))) }
        }
        h.key(.char("j"))
        h.key(.char("e"))
        h.keys(.tab, .tab)
        h.type("2")
        h.effects = []
        h.key(.enter)
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "app/prod/aws")
        #expect(c.message == "Keeping at most 2 versions deletes the 2 oldest versions (v1, v2) now, for good.")
        #expect(h.effects.isEmpty)
        h.type("app/prod/aws")
        h.key(.enter)
        #expect(try h.session?.versions(of: "app/prod/aws").map(\.version) == [3, 4])
        #expect(h.model.toasts.last?.text == "Saved history limit of app/prod/aws")

        // Falling back to the vault's limit may delete too; a single version never goes.
        let session = try #require(h.session)
        let clear = SecretEdit(historyLimit: .clear)
        #expect(h.model.pruneWarning(try session.secret(named: "app/prod/aws"), clear)?.hasPrefix("With no limit of its own") == true)
        #expect(h.model.pruneWarning(try session.secret(named: "app/prod/stripe"), clear) == nil)
        #expect(
            h.model.pruneWarning(try session.secret(named: "app/prod/aws"), SecretEdit(historyLimit: .set(1)))
                == "Keeping at most 1 version deletes the oldest version (v3) now, for good.")
        #expect(h.model.pruneWarning(try session.secret(named: "app/prod/aws"), SecretEdit(historyLimit: .set(2))) == nil)
    }

    // MARK: Delete a version

    @Test func deleteOneVersion() throws {
        var h = try secrets()
        h.key(.char("X"))  // from the list: to the details pane first
        #expect(h.model.secrets.focus == .detail && h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Choose a version with j/k, then X")
        h.key(.char("j"))  // v1
        expectScreen(
            h.screen, named: "secret-version-cursor",
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
            │                                      ││ › v1       2027-01-15 08:00 admin    │
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
            └──────────────────────────────────────┘└─ ✓ Choose a version with j/k, then X ┘
             j/↓ move  / filter  Tab pane  v/Enter reveal  Esc back  n new  ?/F1 help
            """#)
        #expect(h.screen.style(of: "2027-01-15 08:00 admin") == Theme.heading, "v2, the current one")
        h.key(.char("X"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.pending == .deleteVersion("app/dev/token", 1) && c.expected == "v1")
        expectScreen(
            h.screen, named: "secret-version-delete",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Secrets (3) ────────────────────────┐┌─ Secret app/dev/token ───────────────┐
            │  NAME                VER  ROTATE BY  ││ Version    v2 (2 versions kept)      │
            │› app/dev/token       v2              ││ Rotate by  not set                   │
            │  app/prod/aws        v1   due in 5 d ││ Updated    2027-01-15 08:00 UTC      │
            │  app/prod/stripe     v1   overdue 2 d││ Created    2027-01-15 08:00 UTC      │
            │                                      ││ Value      ••••••••                  │
            │       ┌─ Delete version v1 of app/dev/token? ────────────────────────┐ed)    │
            │       │ This version's value is deleted for good and scrubbed from   │rent   │
            │       │ the vault's files.                                           │min    │
            │       │                                                              │min    │
            │       │ Type "v1" to confirm:                                        │       │
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
            └──────────────────────────────────────┘└─ ✓ Choose a version with j/k, then X ┘
             Enter confirm  Esc cancel
            """#)
        h.effects = []
        h.type("X")
        h.key(.enter)
        #expect(h.effects.isEmpty, "only v1 confirms")
        h.key(.ctrl("u"))
        h.type("v1")
        h.key(.enter)
        #expect(h.effects.contains(.secrets(.deleteVersion("app/dev/token", version: 1))))
        #expect(h.model.toasts.last?.text == "Deleted v1 of app/dev/token")
        #expect(try h.session?.versions(of: "app/dev/token").map(\.version) == [2])
        #expect(h.model.secrets.versions["app/dev/token"]?.map(\.version) == [2])

        // The last version goes only with the secret.
        h.effects = []
        h.key(.char("X"))
        #expect(h.model.overlay == nil && h.effects.isEmpty)
        #expect(h.model.toasts.last?.text == "v2 is the only version of app/dev/token: D deletes the secret")
    }

    @Test func deletingTheCurrentVersionSaysWhatBecomesCurrent() throws {
        var h = try secrets()
        h.keys(.tab, .char("X"))
        guard case .confirm(let c) = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "v2" && c.message.hasSuffix("It is the current version: v1 becomes current."))
        h.type("v2")
        h.key(.enter)
        #expect(try h.session?.secret(named: "app/dev/token").currentVersion == 1)
    }

    // MARK: Permissions and bindings

    @Test func withoutSecretsWriteTheFormsDoNotOpen() throws {
        var h = try asCarol()
        for (key, text) in [
            (Key.char("n"), "Adding a secret needs secrets.write"),
            (.char("N"), "Adding a version needs secrets.write"),
            (.char("e"), "Editing a secret needs secrets.write"),
            (.char("X"), "Deleting a version needs secrets.write")
        ] {
            h.key(key)
            #expect(h.model.overlay == nil && h.effects.isEmpty)
            #expect(h.model.toasts.last?.text == text && h.model.toasts.last?.isError == true)
        }
    }

    @Test func withoutAKeyGrantNoValueIsStored() throws {
        var h = try secrets()
        h.model.account?.hasKeyAccess = false
        h.key(.char("n"))
        #expect(h.model.overlay == nil)
        #expect(h.model.toasts.last?.text == "Adding a secret needs key access: you hold no key grant yet")
        h.key(.char("e"))  // metadata needs no key
        #expect(form(h) != nil)
    }

    @Test func everyNewKeyIsListedAndActs() throws {
        let h = try secrets()
        let labels = Bindings.of(.secrets).map(\.label)
        for k in ["n", "N", "e", "X"] { #expect(labels.contains(k), "\(k) missing from the bindings") }
        let help = Console.helpLines(h.model)
        for b in Bindings.of(.secrets) {
            #expect(help.contains { $0.key == b.label && $0.help == b.help }, "\(b.label) missing from help")
        }
        #expect(Console.hints(h.model).contains { $0 == ("n", "new") })
        for k in [Key.char("n"), .char("N"), .char("e")] {
            var c = h
            c.key(k)
            #expect(form(c) != nil, "\(k.label) opens no form")
        }
    }
}
