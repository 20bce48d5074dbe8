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

    // MARK: Dashboard

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

    // MARK: Lists

    /// Movement and filter keys of a list; nil when the key is not one of them.
    static func listKey<T>(_ key: Key, _ rows: inout FilteredList<T>, page: Int) -> Bool? {
        let count = rows.count
        if rows.filtering {
            switch key {
            case .enter: rows.filtering = false
            case .escape:
                let keep = rows.selectedID
                rows.filter.clear()
                rows.filtering = false
                rows.applyFilter(keepSelection: keep, page: page)
            case .down: rows.list.move(by: 1, count: count, page: page)
            case .up: rows.list.move(by: -1, count: count, page: page)
            case .pageDown: rows.list.move(by: page, count: count, page: page)
            case .pageUp: rows.list.move(by: -page, count: count, page: page)
            default:
                let before = rows.filter.text
                rows.filter.handle(key)
                if rows.filter.text != before { rows.applyFilter(page: page) }
            }
            return true
        }
        switch key {
        case .char("j"), .down: rows.list.move(by: 1, count: count, page: page)
        case .char("k"), .up: rows.list.move(by: -1, count: count, page: page)
        case .pageDown: rows.list.move(by: page, count: count, page: page)
        case .pageUp: rows.list.move(by: -page, count: count, page: page)
        case .char("g"), .home: rows.list.select(0, count: count, page: page)
        case .char("G"), .end: rows.list.select(count - 1, count: count, page: page)
        case .char("/"): rows.filtering = true
        default: return nil
        }
        return true
    }

    /// Esc on a list screen: details -> list, then clear the filter; true
    /// when there is nothing left to undo (go back to the dashboard).
    static func back<T>(_ rows: inout FilteredList<T>, focus: inout Pane, page: Int) -> Bool {
        if focus == .detail {
            focus = .list
        } else if !rows.filter.isEmpty {
            let keep = rows.selectedID
            rows.filter.clear()
            rows.applyFilter(keepSelection: keep, page: page)
        } else {
            return true
        }
        return false
    }

    // MARK: Users

    mutating func usersKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        if users.focus == .detail && !users.rows.filtering {
            let detailWidth = Layout.split(width: width, height: height).detail.width - 4
            let lines = users.rows.selectedItem.map { UserDetail.lines($0, now: now, width: detailWidth).count } ?? 0
            let room = Layout.detailRows(width: width, height: height)
            let maxOffset = max(0, lines - room)
            switch key {
            case .char("j"), .down: users.detailOffset = min(users.detailOffset + 1, maxOffset); return true
            case .char("k"), .up: users.detailOffset = max(0, users.detailOffset - 1); return true
            case .pageDown: users.detailOffset = min(users.detailOffset + room, maxOffset); return true
            case .pageUp: users.detailOffset = max(0, users.detailOffset - room); return true
            case .char("g"), .home: users.detailOffset = 0; return true
            case .char("G"), .end: users.detailOffset = maxOffset; return true
            default: break
            }
        }
        let before = users.rows.selectedItem?.id
        if let handled = Self.listKey(key, &users.rows, page: listPage) {
            if users.rows.selectedItem?.id != before { users.detailOffset = 0 }
            return handled
        }
        let selected = users.rows.selectedItem
        switch key {
        case .tab: users.focus = users.focus == .list ? .detail : .list
        case .enter: users.focus = .detail
        case .escape:
            if Self.back(&users.rows, focus: &users.focus, page: listPage) { go(.dashboard, &fx) }
        case .char("r"): reload(.users, &fx)
        case .char("l"), .char("u"), .char("x"), .char("e"):
            guard let u = selected else { return true }
            let change: UserChange = key == .char("l") ? .lock : key == .char("u") ? .unlock : key == .char("x") ? .disable : .enable
            fx.append(.changeUser(change, u.username))
        case .char("n"): openNewUser(&fx)
        case .char("a"):
            guard let u = selected else { return true }
            openUserRoles(u, &fx)
        case .char("A"):
            guard let u = selected else { return true }
            guard u.keyAccess == .pending else { toast("\(u.username) has no key request waiting", error: true); return true }
            overlay = .confirm(
                ConfirmState(
                    title: "Approve key access of \(u.username)?",
                    message:
                        "The root key is sealed to \(u.username)'s key. Ask them to read you the fingerprint their login shows, on a channel you trust, and type it here: approve only the key they hold.",
                    expected: "", pending: .approveKey(u.username), prompt: "Fingerprint \(u.username) reads to you:"))
        case .char("R"):
            guard let u = selected else { return true }
            confirm(
                .resetPassword(u.username), title: "Reset the password of \(u.username)?",
                message:
                    "Their password stops working and their key pair is replaced. A temporary password is shown once, to be changed at their next login.",
                expected: u.username)
        case .char("D"):
            guard let u = selected else { return true }
            confirm(
                .deleteUser(u.username), title: "Delete user \(u.username)?",
                message: "The account, its roles and its key grant are deleted for good. Events they signed stay verifiable.",
                expected: u.username)
        case .char("E"):
            guard let u = selected else { return true }
            openEditUser(u)
        case .char("t"):
            guard let u = selected else { return true }
            openExpiry(u)
        default: return false
        }
        return true
    }

    // MARK: Secrets

    mutating func secretsKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        let before = secrets.rows.selectedItem?.name
        if secrets.focus == .detail && !secrets.rows.filtering, let s = secrets.rows.selectedItem,
            secretDetailKey(key, s)
        {
            return true
        }
        if let handled = Self.listKey(key, &secrets.rows, page: listPage) {
            if secrets.rows.selectedItem?.name != before { secretSelectionChanged(&fx) }
            return handled
        }
        let selected = secrets.rows.selectedItem
        switch key {
        case .tab: secrets.focus = secrets.focus == .list ? .detail : .list
        case .char("v"), .enter:
            guard let s = selected, secrets.revealing == nil else { return true }
            guard let account, account.can(.secretsRead) else {
                toast("Revealing a value needs secrets.read", error: true)
                return true
            }
            secrets.revealing = s.name
            fx.append(.reveal(s.name, version: s.currentVersion))
        case .char("h"): secrets.revealed = nil
        case .escape:
            if secrets.revealed != nil {
                secrets.revealed = nil
            } else if Self.back(&secrets.rows, focus: &secrets.focus, page: listPage) {
                go(.dashboard, &fx)
            }
        case .char("r"): reload(.secrets, &fx)
        case .char("n"): openNewSecret()
        case .char("N"):
            guard let s = selected else { return true }
            openNewVersion(s)
        case .char("e"):
            guard let s = selected else { return true }
            openEditSecret(s)
        case .char("X"):
            guard let s = selected else { return true }
            askDeleteVersion(s)
        case .char("D"):
            guard let s = selected else { return true }
            confirm(
                .deleteSecret(s.name), title: "Delete secret \(s.name)?",
                message: "All \(Fmt.plural(s.versionCount, "version")) are deleted for good and scrubbed from the vault's files.",
                expected: s.name)
        default: return false
        }
        return true
    }

    /// A new secret is selected: hide any value, load its versions once.
    mutating func secretSelectionChanged(_ fx: inout [Effect]) {
        secrets.detailOffset = 0
        secrets.versionCursor = 0
        let name = secrets.rows.selectedItem?.name
        if secrets.revealed != nil && secrets.revealed?.name != name { secrets.revealed = nil }
        if let name, secrets.versions[name] == nil { fx.append(.loadVersions(name)) }
    }

    // MARK: Audit

    mutating func auditKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        if let handled = Self.listKey(key, &audit.rows, page: listPage) { return handled }
        switch key {
        case .char("v"), .char("V"): verifyAudit(&fx)
        case .char("n"):
            if case .done(let v) = audit.check, let f = v.failure { selectAuditEvent(f.seq) }
        case .escape:
            var focus = Pane.list
            if Self.back(&audit.rows, focus: &focus, page: listPage) { go(.dashboard, &fx) }
        case .char("r"): reload(.audit, &fx)
        default: return false
        }
        return true
    }

    /// Selects an event by sequence number, clearing the filter if it hides it.
    mutating func selectAuditEvent(_ seq: Int64) {
        func index() -> Int? { audit.rows.visible.firstIndex { audit.rows.items[$0].seq == seq } }
        if index() == nil, !audit.rows.filter.isEmpty {
            audit.rows.filter.clear()
            audit.rows.applyFilter(page: Layout.listRows(.audit, width: width, height: height))
        }
        if let i = index() {
            audit.rows.list.select(i, count: audit.rows.count, page: Layout.listRows(.audit, width: width, height: height))
        }
    }
}
