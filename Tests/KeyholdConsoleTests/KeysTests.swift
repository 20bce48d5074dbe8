import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

@Suite struct KeysTests {
    static func withSecrets(_ admin: Session, _ clock: TestClock) throws {
        _ = try admin.createUser(username: "bob", roles: ["operator"])
        for i in 0..<5 { try admin.createSecret("app/s\(i)", .value(pw("value \(i)"))) }
    }

    @Test func keysScreen80x24() throws {
        var h = try Harness.loggedIn(setUp: Self.withSecrets)
        h.key(.char("5"))
        #expect(h.model.route == .keys)
        #expect(h.effects.contains(.keys(.load)))
        expectScreen(
            h.screen, named: "keys-80x24",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Key status ─────────────────────────────────────────────────────────────────┐
            │ Data keys        v1 · v1 active                                              │
            │ Min. decryption  v1 (versions sealed under older keys are refused)           │
            │ Root key         generation 1                                                │
            │ Key holders      admin, bob                                                  │
            │ Key requests     none                                                        │
            │ Revocation       none                                                        │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Data-key rotation ──────────────────────────────────────────────────────────┐
            │ No rotation pending. r makes a new data key and re-seals every secret        │
            │ version under it, in batches; older keys are destroyed at the end.           │
            │ K rotates the root key (after a key holder leaves) and shows a new recovery  │
            │ key once.                                                                    │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r rotate  R resume  K root key  Esc back  : commands  ?/F1 help  q quit
            """#)
    }

    @Test func paletteOpensKeys() throws {
        var h = try Harness.loggedIn()
        h.key(.char(":"))
        h.type("keys")
        h.key(.enter)
        #expect(h.model.route == .keys)
        #expect(h.model.keys.status != nil)
    }

    @Test func rotateShowsProgressThenResult() throws {
        var h = try Harness.loggedIn(setUp: Self.withSecrets)
        h.key(.char("5"))
        h.runEffects = false
        h.effects = []
        h.key(.char("r"))
        #expect(h.effects == [.keys(.rotateDataKey)])
        #expect(h.model.keys.rotation == RotationProgress(done: 0, total: 0, resuming: false))
        h.send(.keys(.rotationProgress(done: 2, total: 5)))
        expectScreen(
            h.screen, named: "keys-rotating",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Key status ─────────────────────────────────────────────────────────────────┐
            │ Data keys        v1 · v1 active                                              │
            │ Min. decryption  v1 (versions sealed under older keys are refused)           │
            │ Root key         generation 1                                                │
            │ Key holders      admin, bob                                                  │
            │ Key requests     none                                                        │
            │ Revocation       none                                                        │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Data-key rotation ──────────────────────────────────────────────────────────┐
            │ Re-sealing every secret version under v2…                                    │
            │ [████████████████░░░░░░░░░░░░░░░░░░░░░░░░] 2 / 5 (40%)                       │
            │ Each batch is its own transaction: if Keyhold is stopped, the rotation is    │
            │ kept and R resumes it.                                                       │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r rotate  R resume  K root key  Esc back  : commands  ?/F1 help      rotating…
            """#)
        // A second r while it runs does nothing but say so.
        h.effects = []
        h.key(.char("r"))
        #expect(h.effects.isEmpty)
        #expect(h.model.toasts.last?.text == "A rotation is already running")
        // The real rotation, with its progress coming back as actions.
        h.runEffects = true
        h.model.keys.rotation = nil
        h.model.toasts = []
        h.key(.char("r"))
        #expect(h.model.keys.rotation == nil)
        #expect(h.model.keys.status?.activeDataKey == 2)
        #expect(h.model.keys.status?.dataKeyVersions == [2])
        #expect(h.model.toasts.contains { $0.text.hasPrefix("Data key v2 active: 5 versions re-sealed, v1 destroyed") })
    }

    @Test func progressActionsArriveWhileRunning() throws {
        let h = try Harness.loggedIn(setUp: Self.withSecrets)
        let sink = ActionSink()
        let result = h.runner.run(.keys(.rotateDataKey)) { sink.add($0) }
        let progress = sink.actions.compactMap { a -> Int? in
            if case .keys(.rotationProgress(let done, let total)) = a, total == 5 { return done }
            return nil
        }
        #expect(progress.last == 5)
        guard case .keys(.rotationFinished(let r)) = result else { Issue.record("\(result)"); return }
        #expect(r?.resealed == 5)
    }

    @Test func interruptedRotationIsShownAndResumed() throws {
        var h = try Harness.loggedIn(setUp: Self.withSecrets)
        h.key(.char("5"))
        // A rotation whose job is pending (as after a kill): status says so.
        h.model.keys.pending = PendingRotation(targetVersion: 2, total: 5, remaining: 3)
        expectScreen(
            h.screen, named: "keys-interrupted",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Key status ─────────────────────────────────────────────────────────────────┐
            │ Data keys        v1 · v1 active                                              │
            │ Min. decryption  v1 (versions sealed under older keys are refused)           │
            │ Root key         generation 1                                                │
            │ Key holders      admin, bob                                                  │
            │ Key requests     none                                                        │
            │ Revocation       none                                                        │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
            ┌─ Data-key rotation ──────────────────────────────────────────────────────────┐
            │ ! A rotation to v2 was interrupted: 3 of 5 versions left.                    │
            │ [████████████████░░░░░░░░░░░░░░░░░░░░░░░░] 2 / 5 (40%)                       │
            │ Press R to resume it. Secrets stay readable meanwhile.                       │
            │                                                                              │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             r rotate  R resume  K root key  Esc back  : commands  ?/F1 help  q quit
            """#)
        h.runEffects = false
        h.effects = []
        h.key(.char("r"))
        #expect(h.effects.isEmpty)
        #expect(h.model.toasts.last?.isError == true)
        h.key(.char("R"))
        #expect(h.effects == [.keys(.resumeRotation)])
        #expect(h.model.keys.rotation == RotationProgress(done: 2, total: 5, resuming: true))
        // Nothing was really pending in the core: the resume says so.
        h.runEffects = true
        h.send(.keys(.rotationFinished(nil)))
        #expect(h.model.keys.rotation == nil)
        #expect(h.model.toasts.last?.text == "No interrupted rotation to resume")
    }

    @Test func loginFinishesAnInterruptedRotation() throws {
        var h = try Harness.withVault(setUp: Self.withSecrets)
        h.runEffects = false
        h.logIn("admin", adminPassword)
        // The login result comes back from the core; then the console asks it to finish any interrupted job.
        h.runEffects = true
        h.effects = []
        h.send(.session(.loggedIn(Account(username: "admin", permissions: Set(Permission.allCases), hasKeyAccess: true))))
        #expect(h.effects.contains(.keys(.finishInterruptedRotation)))
        // Nothing was interrupted: nothing is said.
        #expect(h.model.keys.rotation == nil && !h.model.keys.finishingInterrupted)
        #expect(!h.model.toasts.contains { $0.text.contains("rotation") })

        // One was: its progress shows as a running rotation, and the result as usual.
        h.runEffects = false
        h.send(.session(.loggedIn(Account(username: "admin", permissions: Set(Permission.allCases), hasKeyAccess: true))))
        h.send(.keys(.rotationProgress(done: 2, total: 5)))
        #expect(h.model.keys.rotation == RotationProgress(done: 2, total: 5, resuming: true))
        #expect(h.model.toasts.last?.text.hasPrefix("Finishing the data-key rotation that was interrupted") == true)
        h.key(.char("5"))
        h.key(.char("r"))
        #expect(h.model.toasts.last?.text == "A rotation is already running")
        h.send(.keys(.rotationFinished(RotationResult(targetVersion: 2, resealed: 3, destroyed: [1], checkpointed: true))))
        #expect(h.model.keys.rotation == nil && !h.model.keys.finishingInterrupted)
        #expect(h.model.toasts.last?.text == "Data key v2 active: 3 versions re-sealed, v1 destroyed")
    }

    @Test func loginWithoutKeyManagementLeavesAnInterruptedRotationAlone() throws {
        var h = try Harness.withVault(setUp: Self.withSecrets)
        h.runEffects = false
        h.send(.session(.loggedIn(Account(username: "bob", permissions: [.secretsList, .secretsRead], hasKeyAccess: true))))
        #expect(!h.effects.contains(.keys(.finishInterruptedRotation)))
        #expect(!h.model.keys.finishingInterrupted)
        h.send(.session(.loggedIn(Account(username: "carol", permissions: [.keysManage], hasKeyAccess: false))))
        #expect(!h.effects.contains(.keys(.finishInterruptedRotation)), "no key access: the core could not re-seal")
    }

    @Test func resumeWithNothingPending() throws {
        var h = try Harness.loggedIn()
        h.key(.char("5"))
        h.effects = []
        h.key(.char("R"))
        #expect(h.effects.isEmpty)
        #expect(h.model.toasts.last?.text == "No interrupted rotation to resume")
    }

    @Test func rootRotationConfirmsAndShowsTheKeyOnce() throws {
        var h = try Harness.loggedIn(setUp: Self.withSecrets)
        h.key(.char("5"))
        h.effects = []
        h.key(.char("K"))
        guard case .confirm(let c)? = h.model.overlay else { Issue.record("no confirmation"); return }
        #expect(c.expected == "rotate")
        #expect(c.pending == .rotateRootKey)
        // K again is typed into the field, not a confirmation; Enter on a wrong word does not rotate.
        h.key(.char("K"))
        h.key(.enter)
        #expect(h.effects.isEmpty)
        h.key(.ctrl("u"))
        h.type("rotate")
        h.key(.enter)
        #expect(h.effects.contains(.keys(.rotateRootKey)))
        guard case .notice(let n)? = h.model.overlay else { Issue.record("no notice"); return }
        #expect(n.title == "New recovery key")
        #expect(h.model.keys.status?.rootVersion == 2)
        let key = try #require(n.secret?.bytes.utf8String())
        expectScreen(
            h.screen, named: "keys-root-rotated",
            #"""
             Keyhold  1 Dashboard  2 Users  3 Secrets  4 Audit  5 Keys  6 Roles       admin
            ┌─ Key status ─────────────────────────────────────────────────────────────────┐
            │ Data keys        v1 · v1 active                                              │
            │ Min. decryption  v1 (versions sealed under older keys are refused)           │
            │ Root key         generation 2                                                │
            │ Key holders      admin, bob                                                  │
            │ Key requests     none                                                        │
            │ Revocation       none                                                        │
            ┌─ New recovery key ───────────────────────────────────────────────────────────┐
            │ The root key was rotated (generation 2). This is the new recovery key, shown │
            │ this once; the old one no longer opens the vault. Write it down and keep it  │
            │ offline.                                                                     │
            │                                                                              │
            │ #####-#####-#####-#####-#####-#####-#####-#####-#####-#####-#####-#####-#####│
            │                                                                              │
            └─ Enter done ─────────────────────────────────────────────────────────────────┘
            ┌─ Data-key rotation ──────────────────────────────────────────────────────────┐
            │ No rotation pending. r makes a new data key and re-seals every secret        │
            │ version under it, in batches; older keys are destroyed at the end.           │
            │ K rotates the root key (after a key holder leaves) and shows a new recovery  │
            │ key once.                                                                    │
            │                                                                              │
            └──────────────────────────────────────────────────────────────────────────────┘
             Enter done
            """#, replacing: [key: String(key.map { $0 == "-" ? "-" : "#" })])
        // At 80 columns the 77-column key is on one line, whole, inside the box's borders.
        let row = try #require(h.screen.text.split(separator: "\n").first { $0.contains(key) })
        #expect(row.hasPrefix("│") && row.hasSuffix("│") && TextWidth.of(String(row)) == 80)
        h.key(.enter)
        #expect(h.model.overlay == nil)
        #expect(!h.screen.text.contains(recoveryLines(key)[0]))
    }

    @Test func rootRotationCancelled() throws {
        var h = try Harness.loggedIn()
        h.key(.char("5"))
        h.effects = []
        h.key(.char("K"))
        h.key(.escape)
        #expect(h.model.overlay == nil)
        #expect(h.effects.isEmpty)
        #expect(h.model.keys.status?.rootVersion == 1)
    }

    @Test func withoutKeysManage() throws {
        var h = try Harness.loggedIn()
        h.model.account?.permissions = [.auditRead, .usersRead]
        h.effects = []
        h.key(.char("5"))
        #expect(h.model.route == .keys)
        #expect(!h.effects.contains(.keys(.load)))
        #expect(h.screen.text.contains("The keys screen needs keys.manage."))
        h.key(.char("r"))
        #expect(h.model.toasts.last?.text == "Rotating the data key needs keys.manage")
        h.key(.char("K"))
        #expect(h.model.overlay == nil)
        h.key(.escape)
        #expect(h.model.route == .dashboard)
    }

    @Test func rotationFailureIsReported() throws {
        var h = try Harness.loggedIn()
        h.key(.char("5"))
        h.runEffects = false
        h.key(.char("r"))
        h.send(.failed(.keys(.rotateDataKey), "disk full"))
        #expect(h.model.keys.rotation == nil)
        #expect(h.model.toasts.last == Toast(text: "disk full", isError: true, until: h.model.now + 2 * h.model.settings.toastFor))
        #expect(h.effects.last == .keys(.load))
    }
}
