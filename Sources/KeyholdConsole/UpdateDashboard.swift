import KeyholdCore

/// One line of the dashboard's warnings box.
public struct Warning: Equatable, Sendable {
    public enum Level: Equatable, Sendable { case error, warning, info, ok }
    public var level: Level
    public var text: String
    /// The screen Enter opens for it.
    public var route: Route?
}

extension Console {
    /// Overdue and due-soon secrets the dashboard names; beyond these it counts them.
    static let dueShown = 5
}

/// The dashboard: its warnings, its keys, and what comes back from the core for it.
extension Model {
    /// The dashboard's warnings, most serious first.
    public var warnings: [Warning] {
        var out: [Warning] = []
        guard let account else { return out }
        if let e = dashboard.error { out.append(Warning(level: .error, text: e, route: nil)) }
        if let data = dashboard.data {
            if let k = data.keyStatus {
                for line in (k.revocationWarning ?? "").split(separator: "\n") {
                    out.append(Warning(level: .error, text: "Rotate the root key: \(line)", route: nil))
                }
                if !k.pendingGrants.isEmpty {
                    out.append(
                        Warning(
                            level: .warning,
                            text:
                                "\(Fmt.plural(k.pendingGrants.count, "key request")) to approve: \(k.pendingGrants.joined(separator: ", ")) (Users: A)",
                            route: .users))
                }
            }
            // Past / due as of the load (`r` or coming back reloads); the relative times are now's.
            if let due = data.rotation {
                for s in due.overdue.prefix(Console.dueShown) {
                    out.append(
                        Warning(
                            level: .error,
                            text: "\(s.name) is past its rotate-by date (\(Fmt.date(s.rotateBy)), \(Fmt.relative(s.rotateBy, now: now)))",
                            route: .secrets))
                }
                if due.overdueCount > Console.dueShown {
                    out.append(
                        Warning(
                            level: .error, text: "… and \(due.overdueCount - Console.dueShown) more past their rotate-by date",
                            route: .secrets))
                }
                for s in due.dueSoon.prefix(Console.dueShown) {
                    out.append(
                        Warning(
                            level: .warning,
                            text: "\(s.name) is due for rotation \(Fmt.relative(s.rotateBy, now: now)) (\(Fmt.date(s.rotateBy)))",
                            route: .secrets))
                }
                if due.dueSoonCount > Console.dueShown {
                    out.append(
                        Warning(
                            level: .warning,
                            text: "… and \(due.dueSoonCount - Console.dueShown) more due within \(Fmt.duration(settings.dueSoon))",
                            route: .secrets))
                }
            }
        }
        if !account.hasKeyAccess && account.permissions.grantsKeyAccess {
            out.append(
                Warning(
                    level: .warning,
                    text: account.pendingKeyFingerprint.map {
                        "Your key access awaits an administrator's approval: read them your key's fingerprint \($0)"
                    } ?? "You hold no key grant yet: an administrator approves your key access",
                    route: nil))
        }
        switch audit.check {
        case .done(let v):
            if let f = v.failure {
                out.append(Warning(level: .error, text: "Audit chain fails at event \(f.seq): \(f.reason)", route: .audit))
            } else {
                out.append(
                    Warning(
                        level: .ok, text: "Audit chain verified: \(Fmt.plural(v.events, "event")), hashes and signatures", route: .audit))
            }
        case .failed(let e): out.append(Warning(level: .error, text: "Audit chain not verified: \(e)", route: .audit))
        case .running: out.append(Warning(level: .info, text: "Verifying the audit chain…", route: nil))
        case .notRun:
            if !account.can(.auditRead) { out.append(Warning(level: .info, text: "Audit status needs audit.read", route: nil)) }
        }
        if dashboard.data != nil && account.can(.keysManage) == false {
            out.append(Warning(level: .info, text: "Key status needs keys.manage", route: nil))
        }
        if !out.contains(where: { $0.level == .error || $0.level == .warning }) && dashboard.data != nil {
            out.insert(Warning(level: .ok, text: "No warnings", route: nil), at: 0)
        }
        let rank: (Warning.Level) -> Int = {
            switch $0 {
            case .error: 0;
            case .warning: 1;
            case .ok: 2;
            case .info: 3
            }
        }
        return out.enumerated().sorted { (rank($0.element.level), $0.offset) < (rank($1.element.level), $1.offset) }.map(\.element)
    }

    mutating func clampDashboard() {
        let rows = Layout.warningRows(width: width, height: height)
        dashboard.offset = max(0, min(dashboard.offset, warnings.count - rows))
    }

    // MARK: Keys

    mutating func dashboardKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        switch key {
        case .char("r"): reload(.dashboard, &fx)
        case .char("v"): verifyAudit(&fx)
        case .char("j"), .down:
            dashboard.offset += 1
            clampDashboard()
        case .char("k"), .up:
            dashboard.offset = max(0, dashboard.offset - 1)
        case .enter:
            if let target = warnings.dropFirst(dashboard.offset).first(where: { $0.route != nil })?.route { go(target, &fx) }
        default: return false
        }
        return true
    }

    // MARK: Results

    mutating func dashboardResult(_ result: DashboardResult, _ fx: inout [Effect]) {
        switch result {
        case .loaded(let data):
            dashboard.data = data
            dashboard.loading = false
            dashboard.error = nil
            clampDashboard()
        case .counted(let summary):
            dashboard.summary = summary
        }
    }

    mutating func dashboardFailed(_ message: String) {
        dashboard.loading = false
        dashboard.error = message
    }
}
