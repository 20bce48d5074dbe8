import KeyholdCore

// The users screen's forms (edit, expiry) and dialogs (new user, roles of a user).
extension Console {
    /// Up to `limit` lines of problems (each `✗ ...`): wrapped when there is room, else one line each.
    @discardableResult
    static func drawFormProblems(_ problems: [String], in area: Rect, row: Int, limit: Int, _ s: inout Screen) -> Int {
        let lines =
            problems.count >= limit
            ? problems.map { "✗ " + $0 }
            : problems.flatMap {
                TextWidth.wrap(Validate.visible($0), width: max(1, area.width - 2)).enumerated()
                    .map { ($0.offset == 0 ? "✗ " : "  ") + $0.element }
            }
        for (i, line) in lines.prefix(limit).enumerated() { s.text(line, in: area, row: row + i, style: Theme.error) }
        return min(lines.count, limit)
    }

    static func drawEditUser(_ f: EditUserState, _ m: Model, _ s: inout Screen) {
        let problems = f.problems().map(\.message) + [f.error].compactMap { $0 }
        let box = Layout.body(width: m.width, height: m.height).centered(width: min(m.width - 4, 68), height: 8)
        s.fill(box)
        s.box(
            box, title: "Edit user \(f.username)", footer: f.busy ? "saving…" : "Enter save · Tab next · Esc cancel",
            style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        var cursor: Point?
        let fields: [(EditUserState.Field, String, TextField)] = [(.email, "Email", f.email), (.displayName, "Display name", f.displayName)]
        for (row, (field, label, text)) in fields.enumerated() {
            let p = drawField(
                label, text, focused: f.focus == field, x: inner.x, y: inner.y + row, labelWidth: 14,
                width: inner.width, &s)
            if f.focus == field { cursor = p }
        }
        s.text("An empty email removes it. The username does not change.", in: inner, row: 3, style: Theme.muted)
        if f.busy {
            s.text("Saving…", in: inner, row: 4, style: Theme.muted)
        } else {
            drawFormProblems(problems, in: inner, row: 4, limit: 2, &s)
            if let cursor { s.cursor = cursor }
        }
    }

    /// What saving the expiry form would do, and how to show it; `isError` for a problem.
    static func expiryOutcome(_ f: ExpiryState, now: Int64) -> (text: String, style: Style, isError: Bool) {
        if let p = f.problem() { return (p, Theme.error, true) }
        if let e = f.error { return (e, Theme.error, true) }
        let time: Int64?
        do { time = try f.parsed() } catch { return ("", .plain, false) }  // half-typed: nothing to say yet
        guard let time else {
            return (f.current == nil ? "Never expires." : "Clears the expiry: the account never expires.", .plain, false)
        }
        if time <= now {
            return ("\(Fmt.time(time)) UTC is past: the account expires on save.", Theme.warning, false)
        }
        return ("Expires \(Fmt.time(time)) UTC, \(Fmt.relative(time, now: now)).", .plain, false)
    }

    static func drawExpiry(_ f: ExpiryState, _ m: Model, _ s: inout Screen) {
        let width = min(m.width - 4, 64)
        let help = TextWidth.wrap(
            "YYYY-MM-DD, in UTC like every time shown: the account stops working at 00:00 UTC that day. Empty: never expires.",
            width: width - 4)
        // Now, the field, a gap, the help, a gap, two lines for the outcome.
        let box = Layout.body(width: m.width, height: m.height).centered(width: width, height: 2 + 3 + help.count + 3)
        s.fill(box)
        s.box(
            box, title: "Expiry of \(f.username)", footer: f.busy ? "saving…" : "Enter save · Esc cancel",
            style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        s.text("Now", in: inner, row: 0, style: Theme.label)
        let current = f.current.map { "\(Fmt.time($0)) UTC (\($0 <= m.now ? "expired" : Fmt.relative($0, now: m.now)))" } ?? "never"
        s.text(current, in: inner, row: 0, column: 14)
        let cursor = drawField(
            "Expires on", f.date, focused: true, x: inner.x, y: inner.y + 1, labelWidth: 14,
            width: min(inner.width, 14 + 24), &s)
        for (i, line) in help.enumerated() { s.text(line, in: inner, row: 3 + i, style: Theme.muted) }
        let row = 4 + help.count
        if f.busy {
            s.text("Saving…", in: inner, row: row, style: Theme.muted)
            return
        }
        let outcome = expiryOutcome(f, now: m.now)
        if outcome.isError {
            drawFormProblems([outcome.text], in: inner, row: row, limit: 2, &s)
        } else {
            paragraph(
                outcome.text, in: Rect(x: inner.x, y: inner.y, width: inner.width, height: row + 2), row: row,
                style: outcome.style, &s)
        }
        s.cursor = cursor
    }

    /// A checklist of roles with a cursor, scrolled to keep the cursor in view.
    static func drawRoleChecklist(
        _ roles: [RoleInfo], chosen: Set<String>, cursor: Int, focused: Bool, in area: Rect,
        _ s: inout Screen
    ) {
        guard area.height > 0 else { return }
        let start = max(0, min(cursor - area.height + 1, roles.count - area.height))
        let nameWidth = min(18, (roles.map { TextWidth.of($0.name) }.max() ?? 8) + 1)
        for (row, i) in (start..<min(roles.count, start + area.height)).enumerated() {
            let r = roles[i]
            let here = focused && i == cursor
            let line =
                (here ? "› " : "  ") + (chosen.contains(r.name) ? "[x] " : "[ ] ") + TextWidth.pad(r.name, to: nameWidth)
                + " " + r.description
            s.text(line, in: area, row: row, style: here ? Theme.selected : .plain)
        }
    }

    static func drawNewUser(_ f: NewUserState, _ m: Model, _ s: inout Screen) {
        let problems = f.problems().map(\.message) + [f.error].compactMap { $0 }
        let roles = f.roles ?? []
        let body = Layout.body(width: m.width, height: m.height)
        let width = min(m.width - 4, 68)
        let listRows = max(1, min(max(roles.count, 1), body.height - 2 - 5 - min(problems.count, 3)))
        let box = body.centered(width: width, height: 2 + 5 + listRows + min(problems.count, 3))
        s.fill(box)
        s.box(
            box, title: "New user", footer: f.busy ? "creating…" : "Enter create · Tab next · Esc cancel",
            style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        var cursor: Point?
        let fields: [(NewUserState.Field, String, TextField)] = [
            (.username, "Username", f.username), (.email, "Email", f.email), (.displayName, "Display name", f.displayName)
        ]
        for (row, (field, label, text)) in fields.enumerated() {
            let p = drawField(
                label, text, focused: f.focus == field, x: inner.x, y: inner.y + row, labelWidth: 14,
                width: inner.width, &s)
            if f.focus == field { cursor = p }
        }
        let heading =
            m.account?.can(.rolesManage) == true
            ? "Roles (Space toggles; only roles you may assign)"
            : "Roles: assigning them needs roles.manage"
        s.text(heading, in: inner, row: 4, style: f.focus == .roles ? Theme.heading : Theme.label)
        let list = Rect(x: inner.x, y: inner.y + 5, width: inner.width, height: listRows)
        if f.roles == nil {
            s.text("loading…", in: list, row: 0, column: 2, style: Theme.muted)
        } else if roles.isEmpty {
            s.text("none you may assign", in: list, row: 0, column: 2, style: Theme.muted)
        } else {
            drawRoleChecklist(roles, chosen: f.chosen, cursor: f.roleCursor, focused: f.focus == .roles, in: list, &s)
        }
        for (i, p) in problems.prefix(3).enumerated() {
            s.text("✗ " + p, in: inner, row: 5 + listRows + i, style: Theme.error)
        }
        if !f.busy, let cursor { s.cursor = cursor }
    }

    static func drawUserRoles(_ r: UserRolesState, _ m: Model, _ s: inout Screen) {
        let roles = r.roles ?? []
        let others = r.current.subtracting(roles.map(\.name)).sorted()
        let body = Layout.body(width: m.width, height: m.height)
        let width = min(m.width - 4, 68)
        let extra = (others.isEmpty ? 0 : 1) + (r.error == nil ? 0 : 1)
        let listRows = max(1, min(max(roles.count, 1), body.height - 4 - extra))
        let box = body.centered(width: width, height: 4 + listRows + extra)
        s.fill(box)
        s.box(
            box, title: "Roles of \(r.username)", footer: r.busy ? "saving…" : "Space toggle · Enter apply · Esc cancel",
            style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        s.text("Checked roles are held; only roles you may assign are listed.", in: inner, row: 0, style: Theme.muted)
        let list = Rect(x: inner.x, y: inner.y + 2, width: inner.width, height: listRows)
        if r.roles == nil {
            s.text("loading…", in: list, row: 0, column: 2, style: Theme.muted)
        } else if roles.isEmpty {
            s.text("none you may assign", in: list, row: 0, column: 2, style: Theme.muted)
        } else {
            drawRoleChecklist(roles, chosen: r.chosen, cursor: r.cursor, focused: true, in: list, &s)
        }
        var row = 2 + listRows
        if !others.isEmpty {
            s.text("Also holds \(others.joined(separator: ", ")) (not yours to change)", in: inner, row: row, style: Theme.muted)
            row += 1
        }
        if let e = r.error { s.text("✗ " + e, in: inner, row: row, style: Theme.error) }
    }

    /// The lines of the help overlay for the current screen.
    static func helpLines(_ m: Model) -> [(key: String, help: String, heading: Bool)] {
        var out: [(String, String, Bool)] = [
            ("", "Keys of \(m.route.isForm ? "this form" : "the \(m.route.title.lowercased()) screen")", true)
        ]
        out += Bindings.of(m.route).map { ($0.label, $0.help, false) }
        if Route.tabs.contains(m.route) {
            out.append(("", "", false))
            out.append(("", "Everywhere", true))
            out += (Bindings.global + Bindings.terminal).map { ($0.label, $0.help, false) }
            out.append(("", "", false))
            out.append(("", "Commands (type : then the name)", true))
            out += Command.allCases.map { ($0.rawValue, $0.summary, false) }
        } else {
            out.append(("", "", false))
            out.append(("", "Terminal", true))
            out += Bindings.terminal.map { ($0.label, $0.help, false) }
        }
        return out
    }
}
