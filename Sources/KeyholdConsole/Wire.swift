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
    init?(_ action: Action) {
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

    var action: Action {
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

// A `T??` loses `.some(nil)` in synthesized coding (a null reads back as absent): the fields that
// can be cleared travel with an explicit flag.

extension SecretEdit: Codable {
    private enum CodingKeys: String, CodingKey { case description, rotateBy, clearRotateBy, historyLimit, clearHistoryLimit }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(description: try c.decodeIfPresent(String.self, forKey: .description))
        if try c.decodeIfPresent(Bool.self, forKey: .clearRotateBy) == true { rotateBy = .some(nil) }
        if let v = try c.decodeIfPresent(Int64.self, forKey: .rotateBy) { rotateBy = v }
        if try c.decodeIfPresent(Bool.self, forKey: .clearHistoryLimit) == true { historyLimit = .some(nil) }
        if let v = try c.decodeIfPresent(Int.self, forKey: .historyLimit) { historyLimit = v }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(description, forKey: .description)
        if let r = rotateBy { try r.map { try c.encode($0, forKey: .rotateBy) } ?? c.encode(true, forKey: .clearRotateBy) }
        if let h = historyLimit { try h.map { try c.encode($0, forKey: .historyLimit) } ?? c.encode(true, forKey: .clearHistoryLimit) }
    }
}

extension UsersEffect: Codable {
    /// The same cases, `edit`'s email as a value and a flag.
    private enum Coded: Codable {
        case page(PageQuery<String>)
        case count(ListCount)
        case change(UserChange, String)
        case loadRoles
        case create(username: String, email: String?, displayName: String, roles: [String])
        case setRoles(String, add: [String], remove: [String])
        case resetPassword(String)
        case approveKey(String, fingerprint: String)
        case delete(String)
        case edit(String, email: String?, clearEmail: Bool, displayName: String?)
        case setExpiry(String, at: Int64?)
    }

    public init(from decoder: Decoder) throws {
        switch try Coded(from: decoder) {
        case .page(let q): self = .page(q)
        case .count(let c): self = .count(c)
        case .change(let c, let n): self = .change(c, n)
        case .loadRoles: self = .loadRoles
        case .create(let u, let e, let d, let r): self = .create(username: u, email: e, displayName: d, roles: r)
        case .setRoles(let n, let a, let r): self = .setRoles(n, add: a, remove: r)
        case .resetPassword(let n): self = .resetPassword(n)
        case .approveKey(let n, let f): self = .approveKey(n, fingerprint: f)
        case .delete(let n): self = .delete(n)
        case .edit(let n, let e, let clear, let d): self = .edit(n, email: clear ? .some(nil) : e.map { .some($0) }, displayName: d)
        case .setExpiry(let n, let t): self = .setExpiry(n, at: t)
        }
    }

    public func encode(to encoder: Encoder) throws {
        let coded: Coded =
            switch self {
            case .page(let q): .page(q)
            case .count(let c): .count(c)
            case .change(let c, let n): .change(c, n)
            case .loadRoles: .loadRoles
            case .create(let u, let e, let d, let r): .create(username: u, email: e, displayName: d, roles: r)
            case .setRoles(let n, let a, let r): .setRoles(n, add: a, remove: r)
            case .resetPassword(let n): .resetPassword(n)
            case .approveKey(let n, let f): .approveKey(n, fingerprint: f)
            case .delete(let n): .delete(n)
            case .edit(let n, let e, let d): .edit(n, email: e ?? nil, clearEmail: e == .some(nil), displayName: d)
            case .setExpiry(let n, let t): .setExpiry(n, at: t)
            }
        try coded.encode(to: encoder)
    }
}
