import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// Key requests in the console: the requesting user sees their key's fingerprint on the dashboard;
/// an administrator approves it on the Users screen with `A`, typing the fingerprint the user reads out.
@Suite struct KeyRequestTests {
    /// argon2-cffi: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("imported-operator-pass")
    static let hash = "$argon2id$v=19$m=8,t=1,p=1$eyN2Rz7ul3aGqm5Izj6CAw$/yUOxWc4wp0vSQ9zS9rG5e6SStExYlPu4IfUVWF2uVk"
    static let password = "imported-operator-pass"

    /// A vault with `imogen`, imported as an operator, whose first login made her key.
    static func withRequest() throws -> Harness {
        try Harness.withVault { admin, _ in
            _ = try admin.importAppUsers([AppUserEntry(username: "imogen", passwordHash: hash, origin: "line 2")], roles: ["operator"])
            guard case .session(let imogen) = try admin.vault.login(username: "imogen", password: pw(password)) else {
                throw TestFailure("imogen did not log in")
            }
            #expect(imogen.pendingKeyFingerprint != nil)
        }
    }

    @Test func theRequestingUserSeesTheirFingerprint() throws {
        var h = try Self.withRequest()
        h.logIn("imogen", Self.password)
        #expect(h.model.route == .dashboard)
        let fingerprint = try #require(h.model.account?.pendingKeyFingerprint)
        #expect(h.model.warnings.contains { $0.text.contains(fingerprint) })
        #expect(h.screen.text.contains("awaits an administrator's approval"))
    }

    @Test func anAdministratorApprovesWithTheFingerprint() throws {
        var h = try Self.withRequest()
        guard
            case .session(let imogen) = try Vault.open(at: h.path, options: .insecureFastForTests(clock: h.clock.clock))
                .login(username: "imogen", password: pw(Self.password))
        else {
            Issue.record("imogen did not log in")
            return
        }
        let fingerprint = try #require(imogen.pendingKeyFingerprint)
        h.logIn("admin", adminPassword)
        h.key(.char("2"))
        let row = try #require(h.model.users.rows.visible.firstIndex { h.model.users.rows.items[$0].username == "imogen" })
        for _ in 0..<row { h.key(.char("j")) }
        #expect(h.model.users.rows.selectedItem?.username == "imogen")
        #expect(h.model.users.rows.selectedItem?.keyAccess == .pending)

        // A fingerprint that is not hers: refused by the core, shown, nothing granted.
        h.key(.char("A"))
        #expect(h.screen.text.contains("Fingerprint imogen reads to you:"))
        #expect(!h.screen.text.contains(fingerprint), "the dialog must not show the fingerprint to copy")
        h.type("0000-0000-0000-0000-0000-0000-0000-0000")
        h.key(.enter)
        #expect(h.model.toasts.last?.isError == true)
        #expect(h.model.toasts.last?.text.contains("does not match") == true)

        // Hers, as read out: approved.
        h.key(.char("A"))
        h.type(fingerprint.lowercased())
        h.key(.enter)
        #expect(h.model.toasts.last?.text == "imogen: key access approved")
        #expect(h.model.users.rows.items.first { $0.username == "imogen" }?.keyAccess == .granted)

        // A user with nothing pending: A says so.
        h.key(.char("g"))
        h.key(.char("A"))
        #expect(h.model.toasts.last?.text == "admin has no key request waiting")
    }
}
