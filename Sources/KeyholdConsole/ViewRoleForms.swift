import KeyholdCore

extension Console {
    static func drawRoleForm(_ f: RoleFormState, _ m: Model, _ s: inout Screen) {
        let problems = f.problems().map(\.message) + [f.error].compactMap { $0 }
        let body = Layout.body(width: m.width, height: m.height)
        let count = Permission.allCases.count
        // Name, description, a gap, the heading, the checklist, a gap, two lines for problems.
        let listRows = max(1, min(count, body.height - 2 - 7))
        let box = body.centered(width: min(m.width - 4, 68), height: 2 + 4 + listRows + 3)
        s.fill(box)
        let title = f.original.map { "Edit role \($0.name)" } ?? "New role"
        s.box(box, title: title, footer: f.busy ? "saving…" : "Enter save · Tab next · Esc cancel", style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        var cursor: Point?
        if let role = f.original {
            s.text("Name", in: inner, row: 0, style: Theme.label)
            s.text(role.name, in: inner, row: 0, column: 14, style: Theme.heading)
            s.text(
                role.builtin ? "(built in; the name stays)" : "(the name stays)", in: inner, row: 0,
                column: 16 + TextWidth.of(Validate.visible(role.name)), style: Theme.muted)
        } else {
            let p = drawField(
                "Name", f.name, focused: f.focus == .name, x: inner.x, y: inner.y, labelWidth: 14,
                width: inner.width, &s)
            if f.focus == .name { cursor = p }
        }
        let p = drawField(
            "Description", f.description, focused: f.focus == .description, x: inner.x, y: inner.y + 1, labelWidth: 14,
            width: inner.width, &s)
        if f.focus == .description { cursor = p }
        s.text(
            "Permissions (Space toggles; only those you hold)", in: inner, row: 3,
            style: f.focus == .permissions ? Theme.heading : Theme.label)
        let list = Rect(x: inner.x, y: inner.y + 4, width: inner.width, height: listRows)
        let start = max(0, min(f.cursor - listRows + 1, count - listRows))
        for (row, i) in (start..<min(count, start + listRows)).enumerated() {
            let perm = Permission.allCases[i]
            let here = f.focus == .permissions && i == f.cursor
            let held = m.account?.can(perm) == true
            let line =
                (here ? "› " : "  ") + (f.chosen.contains(perm) ? "[x] " : "[ ] ")
                + TextWidth.pad(perm.rawValue, to: 14) + " " + (held ? perm.summary : "not yours to give")
            s.text(line, in: list, row: row, style: here ? Theme.selected : held ? .plain : Theme.muted)
        }
        let notes = 5 + listRows
        if f.busy {
            s.text("Saving…", in: inner, row: notes, style: Theme.muted)
        } else if !problems.isEmpty {
            drawFormProblems(problems, in: inner, row: notes, limit: 2, &s)
        } else if let role = f.original, role.members > 0 {
            s.text(
                "Held by \(Fmt.plural(role.members, "user")): their permissions and key access follow at once.",
                in: inner, row: notes, style: Theme.muted)
        } else if f.isNew {
            s.text("Give it to users from the users screen (a).", in: inner, row: notes, style: Theme.muted)
        }
        if !f.busy, let cursor { s.cursor = cursor }
    }
}
