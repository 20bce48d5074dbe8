import KeyholdCore

/// What the keys screen (and the login, for an interrupted rotation) asks of the core.
public enum KeysEffect: Equatable, Sendable, Codable {
    case load
    /// Progress comes back as `rotationProgress` results while it runs.
    case rotateDataKey
    case resumeRotation
    /// At login: finish an interrupted rotation, if there is one and the session may.
    case finishInterruptedRotation
    case rotateRootKey
}

/// What came of a `KeysEffect` (`UpdateKeys.swift` applies it).
public enum KeysResult: Sendable, Codable {
    case loaded(KeyStatus)
    /// Re-sealed versions of the running rotation so far.
    case rotationProgress(done: Int, total: Int)
    /// Nil: there was no rotation to resume.
    case rotationFinished(RotationResult?)
    /// Another process owns the data-key rotation (or finished the job meanwhile):
    /// a note, not a failure. The message says which.
    case rotationElsewhere(String)
    case rootRotated(recoveryKey: SecureBytes, rootVersion: Int?)
}

extension CoreRunner {
    /// `progress` hears of a data-key rotation's re-sealed versions as they go.
    func runKeys(_ effect: KeysEffect, _ s: Session, progress: @escaping @Sendable (KeysResult) -> Void) throws -> KeysResult {
        let report: ProgressHandler = { done, total in progress(.rotationProgress(done: done, total: total)) }
        do {
            switch effect {
            case .load: return .loaded(try s.keyStatus())
            case .rotateDataKey: return .rotationFinished(try s.rotateDataKey(progress: report))
            case .resumeRotation: return .rotationFinished(try s.resumeRotation(progress: report))
            case .finishInterruptedRotation: return .rotationFinished(try s.resumeInterruptedRotation(progress: report))
            case .rotateRootKey:
                let key = try s.rotateRootKey()
                return .rootRotated(recoveryKey: key, rootVersion: try? s.keyStatus().rootVersion)
            }
        } catch let e as KeyholdError where e.isRotationElsewhere && effect.isDataKeyRotation {
            return .rotationElsewhere(e.description)
        }
    }
}

extension KeysEffect {
    /// Starts, resumes or finishes a data-key rotation.
    var isDataKeyRotation: Bool { [.rotateDataKey, .resumeRotation, .finishInterruptedRotation].contains(self) }
}

extension KeyholdError {
    /// Another process holds the data-key rotation, or finished the job this one was running.
    var isRotationElsewhere: Bool {
        switch self {
        case .rotationInProgress, .rotationSuperseded: true
        default: false
        }
    }
}
