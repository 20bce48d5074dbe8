import KeyholdCore

/// What the dashboard asks of the core: first what a few rows say, then the counts, which walk
/// whole tables (tens of ms each at a million rows), so that the first frame does not wait for them.
public enum DashboardEffect: Equatable, Sendable, Codable {
    /// The vault's settings, key status, rotate-by warnings and one's roles; secrets whose
    /// rotate-by date is within `dueWithin` ms are "due soon".
    case load(dueWithin: Int64)
    /// How many users, secrets and audit events the vault holds.
    case count
}

/// What came of a `DashboardEffect` (`UpdateDashboard.swift` applies it).
public enum DashboardResult: Sendable, Codable {
    case loaded(DashboardData)
    case counted(VaultSummary)
}

extension CoreRunner {
    /// The dashboard reads what the session may see, each part only with its permission.
    func runDashboard(_ effect: DashboardEffect, _ s: Session) throws -> DashboardResult {
        switch effect {
        case .load(let dueWithin):
            let perms = try s.permissions()
            let facts = try s.vault.facts()
            let keys = perms.contains(.keysManage) ? try s.keyStatus() : nil
            let rotation = perms.contains(.secretsList) ? try s.rotationDue(within: dueWithin, first: Console.dueShown) : nil
            let roles = perms.contains(.usersRead) ? try s.user(named: s.username).roles : nil
            return .loaded(DashboardData(facts: facts, keyStatus: keys, rotation: rotation, roles: roles))
        case .count:
            return .counted(try s.vault.summary())
        }
    }
}
