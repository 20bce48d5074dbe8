import Foundation
import KeyholdCore

// The console's messages to and from the agent (docs/ARCHITECTURE.md, "The console through the
// agent"): an effect goes as JSON, its actions come back as JSON, and every secret value in them
// (a typed value, a revealed one, a temporary password, a recovery key) travels beside the JSON
// as raw bytes (`SecureValues`), never inside it.

/// What the console asks of the agent.
public enum ConsoleRequest: Equatable, Sendable, Codable {
    /// Who the agent's session is: the console starts logged in as them.
    case account
    /// One effect to run with the agent's session.
    case run(Effect)
}

/// What the agent answers.
public enum ConsoleReply: Sendable, Codable {
    case account(Account)
    /// What the effect did (or a progress report while it runs: the frame kind tells which).
    case action(RunnerAction)
}

/// The actions a runner hands back (`CoreRunner.run`): each feature's result, a failure, or
/// the end of the session or of the vault's file. Keys, ticks and resizes never cross.
public enum RunnerAction: Sendable, Codable {
    case dashboard(DashboardResult)
    case users(UsersResult)
    case roles(RolesResult)
    case secrets(SecretsResult)
    case keys(KeysResult)
    case audit(AuditResult)
    case failed(Effect, String)
    case sessionEnded(String)
    case vaultReplaced(String)

    /// Nil for an action that is not a runner's (a key, a session result: those never cross).
    public init?(_ action: Action) {
        switch action {
        case .dashboard(let r): self = .dashboard(r)
        case .users(let r): self = .users(r)
        case .roles(let r): self = .roles(r)
        case .secrets(let r): self = .secrets(r)
        case .keys(let r): self = .keys(r)
        case .audit(let r): self = .audit(r)
        case .failed(let e, let m): self = .failed(e, m)
        case .sessionEnded(let m): self = .sessionEnded(m)
        case .vaultReplaced(let m): self = .vaultReplaced(m)
        case .key, .resize, .tick, .noticeShown, .session: return nil
        }
    }

    /// The console's action for it.
    public var action: Action {
        switch self {
        case .dashboard(let r): .dashboard(r)
        case .users(let r): .users(r)
        case .roles(let r): .roles(r)
        case .secrets(let r): .secrets(r)
        case .keys(let r): .keys(r)
        case .audit(let r): .audit(r)
        case .failed(let e, let m): .failed(e, m)
        case .sessionEnded(let m): .sessionEnded(m)
        case .vaultReplaced(let m): .vaultReplaced(m)
        }
    }
}
