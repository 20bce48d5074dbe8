import KeyholdCore

/// The dashboard: the vault, one's account, and the warnings.
extension Console {
    static func drawDashboard(_ m: Model, _ s: inout Screen) {
        guard let account = m.account else { return }
        let b = Layout.body(width: m.width, height: m.height)
        let half = b.width / 2
        let vaultBox = Rect(x: b.x, y: b.y, width: half, height: Layout.dashboardTopHeight)
        let youBox = Rect(x: b.x + half, y: b.y, width: b.width - half, height: Layout.dashboardTopHeight)
        s.box(vaultBox, title: "Vault")
        s.box(youBox, title: "You")
        let vi = vaultBox.inner.inset(dx: 1, dy: 0)
        if let d = m.dashboard.data {
            let k = d.keyStatus
            let versions = k.map { " (\(Fmt.plural($0.dataKeyVersions.count, "version")))" } ?? ""
            let counts = m.dashboard.summary
            let counted = { (n: KeyPath<VaultSummary, Int>) in counts.map { String($0[keyPath: n]) } ?? "counting…" }
            let lines: [DetailLine] = [
                DetailLine(label: "Users", value: counted(\.users)),
                DetailLine(label: "Secrets", value: counted(\.secrets)),
                DetailLine(label: "Audit events", value: counted(\.auditEvents)),
                DetailLine(label: "Data key", value: "v\(d.facts.activeDataKey) active" + versions),
                DetailLine(label: "Password KDF", value: "Argon2id t=\(d.facts.kdf.opslimit), \(Fmt.bytes(d.facts.kdf.memlimit))"),
                DetailLine(label: "Created", value: Fmt.time(d.facts.createdAt) + " UTC")
            ]
            drawDetail(lines, offset: 0, in: vi, labelWidth: 14, &s)
        } else if m.dashboard.loading {
            s.text("Loading…", in: vi, row: 0, style: Theme.muted)
        }
        let yi = youBox.inner.inset(dx: 1, dy: 0)
        var you: [DetailLine] = [DetailLine(label: "User", value: account.username, style: Theme.heading)]
        if let roles = m.dashboard.data?.roles {
            you.append(DetailLine(label: "Roles", value: roles.isEmpty ? "none" : roles.joined(separator: ", ")))
        }
        you.append(
            DetailLine(
                label: "Key access", value: account.hasKeyAccess ? "yes: can open secrets" : "no",
                style: account.hasKeyAccess ? Theme.ok : .plain))
        let perms = account.permissions.sorted().map(\.rawValue)
        let permText =
            perms.count == Permission.allCases.count ? "all \(perms.count)" : (perms.isEmpty ? "none" : perms.joined(separator: " "))
        for (i, line) in TextWidth.wrap(permText, width: max(10, yi.width - 13)).enumerated() {
            you.append(DetailLine(label: i == 0 ? "Permissions" : "", value: line))
        }
        drawDetail(you, offset: 0, in: yi, labelWidth: 13, &s)

        let warnBox = Rect(
            x: b.x, y: b.y + Layout.dashboardTopHeight, width: b.width,
            height: b.height - Layout.dashboardTopHeight)
        let warnings = m.warnings
        let bad = warnings.filter { $0.level == .error || $0.level == .warning }.count
        s.box(
            warnBox, title: bad == 0 ? "Status" : "Warnings (\(bad))",
            style: bad == 0 ? Theme.border : Theme.warning, titleStyle: bad == 0 ? Theme.heading : Theme.warning)
        let wi = warnBox.inner.inset(dx: 1, dy: 0)
        let offset = min(m.dashboard.offset, max(0, warnings.count - wi.height))
        for (row, w) in warnings.dropFirst(offset).prefix(wi.height).enumerated() {
            let (mark, style): (String, Style) =
                switch w.level {
                case .error: ("✗", Theme.error)
                case .warning: ("!", Theme.warning)
                case .info: ("·", Theme.muted)
                case .ok: ("✓", Theme.ok)
                }
            s.text(mark, in: wi, row: row, style: style)
            s.text(w.text, in: wi, row: row, column: 2, style: w.level == .info ? Theme.muted : .plain)
        }
        if warnings.count > offset + wi.height {
            s.put(" ↓ \(warnings.count - offset - wi.height) more ", x: warnBox.maxX - 14, y: warnBox.maxY - 1, style: Theme.muted)
        }
    }
}
