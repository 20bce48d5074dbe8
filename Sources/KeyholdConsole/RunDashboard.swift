import KeyholdCore

/// What the dashboard asks of the core.
public enum DashboardEffect: Equatable, Sendable, Codable {
    /// Counts, key status, rotate-by warnings and one's roles; secrets whose rotate-by date is
    /// within `dueWithin` ms are "due soon".
    case load(dueWithin: Int64)
}

/// What came of a `DashboardEffect` (`UpdateDashboard.swift` applies it).
public enum DashboardResult: Sendable, Codable {
    case loaded(DashboardData)
}

extension CoreRunner {
    /// The dashboard reads what the session may see, each part only with its permission.
    func runDashboard(_ effect: DashboardEffect, _ s: Session) throws -> DashboardResult {
        switch effect {
        case .load(let dueWithin):
            let perms = try s.permissions()
            let summary = try s.vault.summary()
            let keys = perms.contains(.keysManage) ? try s.keyStatus() : nil
            let rotation = perms.contains(.secretsList) ? try s.rotationDue(within: dueWithin, first: Console.dueShown) : nil
            let roles = perms.contains(.usersRead) ? try s.user(named: s.username).roles : nil
            return .loaded(DashboardData(summary: summary, keyStatus: keys, rotation: rotation, roles: roles))
        }
    }
}
