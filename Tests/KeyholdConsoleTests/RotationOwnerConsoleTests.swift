import Foundation
import KeyholdCore
import Synchronization
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// A data-key rotation another process owns is reported, not a failure.
@Suite struct RotationOwnerConsoleTests {
    @Test func aRotationOwnedElsewhereIsANoteNotAFailure() throws {
        let owner = Mutex<Session?>(nil)
        var h = try Harness.loggedIn(setUp: { admin, clock in
            try KeysTests.withSecrets(admin, clock)
            owner.withLock { $0 = admin }
        })
        let admin = try #require(owner.withLock { $0 })
        h.key(.char("5"))
        // Another session of the vault rotates; while it is between two batches the console asks to rotate,
        // to resume, and (as after login) to finish an interrupted job.
        let runner = h.runner
        let answers = Mutex<[Action]>([])
        let once = Mutex(false)
        let status = Mutex<KeyStatus?>(nil)
        _ = try admin.rotateDataKey(batchSize: 2) { _, _ in
            guard
                once.withLock({ done in
                    defer { done = true }; return !done
                })
            else { return }
            for effect in [KeysEffect.rotateDataKey, .resumeRotation, .finishInterruptedRotation] {
                let got = runner.run(.keys(effect))
                answers.withLock { $0.append(got) }
            }
            if case .keys(.loaded(let s)) = runner.run(.keys(.load)) { status.withLock { $0 = s } }
        }
        let got = answers.withLock { $0 }
        #expect(got.count == 3)
        for action in got {
            guard case .keys(.rotationElsewhere(let message)) = action else {
                Issue.record("expected rotationElsewhere, got \(action)")
                continue
            }
            #expect(message.hasPrefix("rotation in progress: another process is running the data-key rotation to key 2"))
        }
        // The Keys screen shows the job as running there; R does not try to resume it.
        let loaded = try #require(status.withLock { $0 })
        h.send(.keys(.loaded(loaded)))
        #expect(h.model.keys.pending == PendingRotation(targetVersion: 2, total: 5, remaining: 5, running: true))
        #expect(h.screen.text.contains("is running in another process"))
        h.runEffects = false
        h.effects = []
        h.key(.char("R"))
        #expect(h.effects.isEmpty)
        #expect(h.model.toasts.last?.text.contains("is running in another process") == true)
        // The answer of a rotation the console started: a toast that is not an error, the screen reloaded.
        h.model.keys.rotation = RotationProgress(done: 0, total: 0, resuming: false)
        h.send(got[0])
        #expect(h.model.keys.rotation == nil)
        #expect(h.model.toasts.last?.isError == false && h.model.toasts.last?.text.hasPrefix("rotation in progress") == true)
        #expect(h.effects.contains(.keys(.load)))
        // At login: said in a sentence, not as an error.
        h.model.keys.finishingInterrupted = true
        h.send(got[2])
        #expect(!h.model.keys.finishingInterrupted)
        #expect(
            h.model.toasts.last
                == Toast(
                    text: "A data-key rotation is running in another process; it finishes there",
                    isError: false, until: h.model.toasts.last?.until ?? 0))
    }
}
