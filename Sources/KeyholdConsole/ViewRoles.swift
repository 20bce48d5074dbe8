import KeyholdCore

/// The roles screen: the list and the selected role's permissions.
extension Console {
    static func roleLines(_ r: RoleInfo, width: Int) -> [DetailLine] {
        var out = [
            DetailLine(label: "Role", value: r.name, style: Theme.heading),
            DetailLine(label: "Kind", value: r.builtin ? "built in" : "custom"),
            DetailLine(label: "Members", value: String(r.members))
        ]
        let desc = TextWidth.wrap(Validate.visible(r.description.isEmpty ? "—" : r.description), width: max(10, width - 12))
        for (i, line) in desc.enumerated() { out.append(DetailLine(label: i == 0 ? "About" : "", value: line)) }
        out.append(DetailLine(label: "", value: ""))
        out.append(DetailLine(label: "Permissions", value: "", style: Theme.heading))
        for p in Permission.allCases {
            let has = r.permissions.contains(p)
            // The matrix row fills the label column too: `[x] secrets.read   key access`.
            let row =
                (has ? "[x] " : "[ ] ") + TextWidth.pad(p.rawValue, to: 15)
                + (Permission.keyAccess.contains(p) ? "key access" : "")
            out.append(DetailLine(label: row, value: "", style: has ? Theme.ok : Theme.muted))
        }
        return out
    }

    static func drawRoles(_ m: Model, _ s: inout Screen) {
        let (listBox, detailBox) = Layout.split(width: m.width, height: m.height)
        let rows = m.roles.rows
        s.box(listBox, title: listTitle("Roles", rows), footer: filterFooter(rows), style: Theme.borderFocused)
        let inner = listBox.inner
        if let account = m.account, !account.can(.usersRead) {
            emptyPane("Listing roles needs users.read.", in: inner, &s)
        } else if let e = rows.error {
            emptyPane(e, in: inner, style: Theme.error, &s)
        } else if !rows.loaded {
            emptyPane("Loading…", in: inner, &s)
        } else if rows.count == 0 {
            emptyPane(rows.filter.isEmpty ? "No roles." : "No role matches \"\(rows.filter.text)\".", in: inner, &s)
        } else {
            let nameWidth = max(8, (inner.width - 2) * 55 / 100)
            let header = TextWidth.pad("ROLE", to: nameWidth) + " " + TextWidth.pad("PERMS", to: 5) + " USERS"
            drawRows(
                rows, focused: true, in: inner, header: header,
                line: { r in
                    TextWidth.pad(Validate.visible(r.name), to: nameWidth) + " " + TextWidth.pad(String(r.permissions.count), to: 5)
                        + " " + String(r.members)
                }, &s)
        }
        filterCursor(rows, box: listBox, &s)
        let role = rows.selectedItem
        s.box(detailBox, title: role.map { "Role \($0.name)" } ?? "Details", style: Theme.border)
        let di = detailBox.inner.inset(dx: 1, dy: 0)
        if let role {
            for (row, line) in roleLines(role, width: di.width).prefix(di.height).enumerated() {
                let isMatrix = line.value.isEmpty && line.label.hasPrefix("[")
                s.text(line.label, in: di, row: row, style: isMatrix ? line.style : Theme.label)
                s.text(line.value, in: di, row: row, column: 12, style: line.style)
            }
        }
    }
}
