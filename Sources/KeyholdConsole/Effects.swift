import KeyholdCore

/// A call into the core, described as a value: what a key asks of the vault. `update`
/// returns effects; `CoreRunner.run` performs each off the input path and hands back one
/// `Action` with its outcome, which `update` applies like a key (Elm's `Cmd` and `Msg`,
/// Bubble Tea's `tea.Cmd` and `tea.Msg`).
///
/// One case per feature, each a feature's own enum: the calls are made in `Run<Feature>.swift`
/// and their results applied in `Update<Feature>.swift`.
public enum Effect: Equatable, Sendable, Codable {
    /// First run, login, forced password change, logout (`RunSession.swift`).
    case session(SessionEffect)
    case dashboard(DashboardEffect)
    case users(UsersEffect)
    case roles(RolesEffect)
    case secrets(SecretsEffect)
    case keys(KeysEffect)
    case audit(AuditEffect)
}

/// Everything `update` reacts to: keys, resizes, ticks, and the outcome of each effect.
public enum Action: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    /// The clock, ms. Sent before keys and every quarter second.
    case tick(Int64)
    /// The login screen with the notice of an ended session has been drawn (and the keys
    /// typed before it dropped): keys act again.
    case noticeShown

    // What an effect did, in its feature's words.
    case session(SessionResult)
    case dashboard(DashboardResult)
    case users(UsersResult)
    case roles(RolesResult)
    case secrets(SecretsResult)
    case keys(KeysResult)
    case audit(AuditResult)

    /// The core refused the effect, or it failed: the message says why, and the effect's
    /// feature decides where it shows (in its form, its screen or a toast).
    case failed(Effect, String)
    /// The session's user was disabled, locked, deleted or reset elsewhere.
    case sessionEnded(String)
    /// The vault's file was replaced while the console had it open: the console stops (the message says why).
    case vaultReplaced(String)
}

/// One field of an edit: left as it is, set, or cleared (where `T??` would say the same with a
/// `.some(nil)` that coding cannot tell from nil).
public enum FieldEdit<Value: Equatable & Sendable & Codable>: Equatable, Sendable, Codable {
    case keep
    case set(Value)
    case clear

    /// As the core takes it: nil leaves the field, `.some(nil)` clears it.
    var change: Value?? {
        switch self {
        case .keep: nil
        case .set(let v): .some(v)
        case .clear: .some(nil)
        }
    }

    /// `.set` of a value, `.clear` for nil.
    init(_ value: Value?) { self = value.map { .set($0) } ?? .clear }
}
