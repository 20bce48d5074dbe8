import KeyholdCore

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
}
