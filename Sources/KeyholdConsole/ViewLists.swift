import KeyholdCore

/// A label and a value in a details pane.
struct DetailLine: Equatable {
    var label: String
    var value: String
    var style: Style = .plain
    /// The secret version this line lists, if it is one.
    var version: Int?
    /// A line of a revealed value: drawn from guarded memory instead of `value`.
    var secret: SecretSpan?
}

/// The details pane of a user: one line per fact, long values wrapped.
enum UserDetail {
    static let labelWidth = 14
    /// An expiry this close shows as a warning.
    static let expirySoon = 7 * Clock.day

    static func lines(_ u: UserInfo, now: Int64, width: Int = 40) -> [DetailLine] {
        var status = u.status(at: now)
        var statusStyle = Theme.ok
        if let until = u.lockedUntil, until > now, !u.locked, !u.disabled {
            status = "locked out until \(Fmt.clock(until)) UTC (\(Fmt.plural(u.failedLogins, "failed login")))"
        }
        if status != "active" { statusStyle = Theme.error }
        var out: [DetailLine] = [
            DetailLine(label: "Username", value: u.username, style: Theme.heading),
            DetailLine(label: "Display name", value: u.displayName.isEmpty ? "—" : u.displayName),
            DetailLine(label: "Email", value: u.email ?? "—"),
            DetailLine(label: "Status", value: status, style: statusStyle),
            DetailLine(label: "Roles", value: u.roles.isEmpty ? "none" : u.roles.joined(separator: ", "))
        ]
        let perms = u.permissions.sorted().map(\.rawValue)
        let permLines = TextWidth.wrap(perms.isEmpty ? "none" : perms.joined(separator: " "), width: max(10, width - labelWidth))
        for (i, line) in permLines.enumerated() {
            out.append(DetailLine(label: i == 0 ? "Permissions" : "", value: line))
        }
        let access: String =
            switch u.keyAccess {
            case .granted: "granted"
            case .pending: "pending"
            case .none: "none"
            }
        out += [
            DetailLine(label: "Key access", value: access, style: u.keyAccess == .pending ? Theme.warning : .plain),
            DetailLine(label: "Key pair", value: u.hasKeyPair ? "yes" : "not yet (made at first login)"),
            DetailLine(
                label: "Must change", value: u.mustChangePassword ? "yes, at next login" : "no",
                style: u.mustChangePassword ? Theme.warning : .plain),
            DetailLine(label: "Failed logins", value: String(u.failedLogins)),
            DetailLine(
                label: "Expires", value: u.expiresAt.map { Fmt.time($0) + " UTC" } ?? "never",
                style: u.expiresAt.map { $0 <= now ? Theme.error : $0 - now <= expirySoon ? Theme.warning : .plain } ?? .plain),
            DetailLine(label: "Created", value: Fmt.time(u.createdAt) + " UTC"),
            DetailLine(label: "Last login", value: u.lastLoginAt.map { Fmt.time($0) + " UTC" } ?? "never")
        ]
        return out
    }
}

extension Console {
    static func drawDetail(_ lines: [DetailLine], offset: Int, in inner: Rect, labelWidth: Int, _ s: inout Screen) {
        let offset = min(offset, max(0, lines.count - inner.height))
        for (row, line) in lines.dropFirst(offset).prefix(inner.height).enumerated() {
            s.text(line.label, in: inner, row: row, style: Theme.label)
            if let secret = line.secret {
                s.putSecret(
                    secret, x: inner.x + labelWidth, y: inner.y + row, style: line.style,
                    maxWidth: inner.width - labelWidth, clip: inner)
            } else {
                s.text(line.value, in: inner, row: row, column: labelWidth, style: line.style)
            }
        }
    }

    /// A message in the middle of an empty pane.
    static func emptyPane(_ text: String, in inner: Rect, style: Style = Theme.muted, _ s: inout Screen) {
        let lines = TextWidth.wrap(Validate.visible(text), width: max(1, inner.width - 2))
        for (i, line) in lines.enumerated() { s.text(line, in: inner, row: 1 + i, column: 1, style: style) }
    }

    /// The filter as a box footer: `/text` while typing or when set.
    static func filterFooter<T>(_ rows: FilteredList<T>) -> String? {
        if rows.filtering || !rows.filter.isEmpty { return "/" + rows.filter.text + (rows.filtering ? "" : "") }
        return nil
    }

    /// Puts the cursor at the end of the filter in a box's bottom border while typing.
    static func filterCursor<T>(_ rows: FilteredList<T>, box: Rect, _ s: inout Screen) {
        guard rows.filtering else { return }
        let (_, c) = TextField(rows.filter.text).window(width: box.width - 8)
        s.cursor = Point(x: box.x + 4 + min(c, box.width - 8), y: box.maxY - 1)
    }

    /// The title of a list box: `Users 3 of 12`.
    static func listTitle<T>(_ name: String, _ rows: FilteredList<T>) -> String {
        rows.filter.isEmpty ? "\(name) (\(rows.items.count))" : "\(name) (\(rows.count) of \(rows.items.count))"
    }

    static func filterFooter<T>(_ rows: PagedList<T>) -> String? {
        rows.filtering || !rows.filter.isEmpty ? "/" + rows.filter.text : nil
    }

    static func filterCursor<T>(_ rows: PagedList<T>, box: Rect, _ s: inout Screen) {
        guard rows.filtering else { return }
        let (_, c) = TextField(rows.filter.text).window(width: box.width - 8)
        s.cursor = Point(x: box.x + 4 + min(c, box.width - 8), y: box.maxY - 1)
    }

    /// The title of a paged list: `Users (12)`, `Users (3 of 12)`, `Users (1000+ of 50000)`,
    /// counted by SQL for the filter the rows were read with.
    static func listTitle<T>(_ name: String, _ rows: PagedList<T>) -> String {
        rows.shownFilter.isEmpty ? "\(name) (\(rows.count))" : "\(name) (\(rows.countText) of \(rows.all.map(String.init) ?? "…"))"
    }

    /// Draws the rows of a paged list on screen (from its window), as `drawRows` does.
    static func drawRows<T>(
        _ rows: PagedList<T>, focused: Bool, in inner: Rect, header: String,
        style: (T) -> Style = { _ in .plain }, line: (T) -> String, _ s: inout Screen
    ) {
        s.text("  " + header, in: inner, row: 0, style: Theme.label)
        let area = Rect(x: inner.x, y: inner.y + 1, width: inner.width, height: inner.height - 1)
        var paged = rows
        paged.clampOffset(page: area.height)
        let list = paged.list
        for row in 0..<area.height {
            let i = list.offset + row
            guard let item = rows.item(at: i) else { continue }
            drawRow(item, selected: i == list.selected, focused: focused, in: area, row: row, style: style, line: line, &s)
        }
        let count = rows.count
        if count > area.height {
            // A scroll position in the right border: the place on screen in the count from SQL.
            let pos = area.height <= 1 ? 0 : min(area.height - 1, list.offset * (area.height - 1) / max(1, count - area.height))
            s.put("┃", x: inner.maxX, y: area.y + pos, style: Theme.border)
        }
    }

    /// One row of a list: a marker and the highlight (dimmer when the list is not focused) on the
    /// selected row, the row's own style otherwise.
    static func drawRow<T>(
        _ item: T, selected: Bool, focused: Bool, in area: Rect, row: Int,
        style: (T) -> Style, line: (T) -> String, _ s: inout Screen
    ) {
        let text = (selected ? "› " : "  ") + line(item)
        if selected {
            let st = focused ? Theme.selected : Theme.selectedUnfocused
            s.fill(Rect(x: area.x, y: area.y + row, width: area.width, height: 1), style: st)
            s.text(text, in: area, row: row, style: st)
        } else {
            s.text(text, in: area, row: row, style: style(item))
        }
    }

    /// Draws the visible rows of a list with a marker and highlight on the selection.
    static func drawRows<T>(
        _ rows: FilteredList<T>, focused: Bool, in inner: Rect, header: String,
        style: (T) -> Style = { _ in .plain }, line: (T) -> String, _ s: inout Screen
    ) {
        s.text("  " + header, in: inner, row: 0, style: Theme.label)
        let area = Rect(x: inner.x, y: inner.y + 1, width: inner.width, height: inner.height - 1)
        var list = rows.list
        list.clampOffset(count: rows.count, page: area.height)
        for row in 0..<area.height {
            let i = list.offset + row
            guard i < rows.count else { break }
            let item = rows.items[rows.visible[i]]
            drawRow(item, selected: i == list.selected, focused: focused, in: area, row: row, style: style, line: line, &s)
        }
        if rows.count > area.height {
            // A scroll position in the right border.
            let pos = area.height <= 1 ? 0 : list.offset * (area.height - 1) / max(1, rows.count - area.height)
            s.put("┃", x: inner.maxX, y: area.y + pos, style: Theme.border)
        }
    }

    // MARK: Dashboard

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
            let lines: [DetailLine] = [
                DetailLine(label: "Users", value: String(d.summary.users)),
                DetailLine(label: "Secrets", value: String(d.summary.secrets)),
                DetailLine(label: "Audit events", value: String(d.summary.auditEvents)),
                DetailLine(label: "Data key", value: "v\(d.summary.activeDataKey) active" + versions),
                DetailLine(label: "Password KDF", value: "Argon2id t=\(d.summary.kdf.opslimit), \(Fmt.bytes(d.summary.kdf.memlimit))"),
                DetailLine(label: "Created", value: Fmt.time(d.summary.createdAt) + " UTC")
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

    // MARK: Users

    static func drawUsers(_ m: Model, _ s: inout Screen) {
        let (listBox, detailBox) = Layout.split(width: m.width, height: m.height)
        let rows = m.users.rows
        let listFocused = m.users.focus == .list || rows.filtering
        s.box(
            listBox, title: listTitle("Users", rows), footer: filterFooter(rows),
            style: listFocused ? Theme.borderFocused : Theme.border)
        let inner = listBox.inner
        if let account = m.account, !account.can(.usersRead) {
            emptyPane("Listing users needs users.read.", in: inner, &s)
        } else if let e = rows.error {
            emptyPane(e, in: inner, style: Theme.error, &s)
        } else if !rows.loaded {
            emptyPane("Loading…", in: inner, &s)
        } else if rows.count == 0 {
            emptyPane(rows.shownFilter.isEmpty ? "No users." : "No user matches \"\(rows.shownFilter)\".", in: inner, &s)
        } else {
            let nameWidth = max(8, (inner.width - 2) * 40 / 100)
            let header = TextWidth.pad("USERNAME", to: nameWidth) + " " + TextWidth.pad("STATUS", to: 10) + " ROLES"
            drawRows(
                rows, focused: listFocused, in: inner, header: header,
                style: { u in
                    u.status(at: m.now) == "active" ? .plain : Theme.warning
                },
                line: { u in
                    TextWidth.pad(Validate.visible(u.username), to: nameWidth) + " " + TextWidth.pad(u.status(at: m.now), to: 10)
                        + " " + u.roles.joined(separator: ",")
                }, &s)
        }
        filterCursor(rows, box: listBox, &s)

        let detailFocused = m.users.focus == .detail && !rows.filtering
        let user = rows.selectedItem
        s.box(
            detailBox, title: user.map { "User \($0.username)" } ?? "Details",
            style: detailFocused ? Theme.borderFocused : Theme.border)
        let di = detailBox.inner.inset(dx: 1, dy: 0)
        if let user {
            drawDetail(
                UserDetail.lines(user, now: m.now, width: di.width), offset: m.users.detailOffset, in: di,
                labelWidth: UserDetail.labelWidth, &s)
        }
    }

    // MARK: Secrets

    static func rotateStatus(_ s: SecretInfo, now: Int64, soon: Int64) -> (String, Style) {
        guard let r = s.rotateBy else { return ("", .plain) }
        if r <= now { return ("overdue \(Fmt.duration(now - r))", Theme.error) }
        if r - now <= soon { return ("due in \(Fmt.duration(r - now))", Theme.warning) }
        return (Fmt.date(r), .plain)
    }

    static func drawSecrets(_ m: Model, _ s: inout Screen) {
        let (listBox, detailBox) = Layout.split(width: m.width, height: m.height, percent: 50)
        let rows = m.secrets.rows
        let listFocused = m.secrets.focus == .list || rows.filtering
        s.box(
            listBox, title: listTitle("Secrets", rows), footer: filterFooter(rows),
            style: listFocused ? Theme.borderFocused : Theme.border)
        let inner = listBox.inner
        if let account = m.account, !account.can(.secretsList) {
            emptyPane("Listing secrets needs secrets.list.", in: inner, &s)
        } else if let e = rows.error {
            emptyPane(e, in: inner, style: Theme.error, &s)
        } else if !rows.loaded {
            emptyPane("Loading…", in: inner, &s)
        } else if rows.count == 0 {
            emptyPane(
                rows.shownFilter.isEmpty
                    ? "No secrets yet. n adds one (or keyhold secret set NAME)." : "No secret matches \"\(rows.shownFilter)\".",
                in: inner, &s)
        } else {
            let statusWidth = 11
            let nameWidth = max(8, inner.width - 2 - 5 - statusWidth - 1)
            let header = TextWidth.pad("NAME", to: nameWidth) + " " + TextWidth.pad("VER", to: 4) + " ROTATE BY"
            drawRows(
                rows, focused: listFocused, in: inner, header: header,
                style: { sec in
                    rotateStatus(sec, now: m.now, soon: m.settings.dueSoon).1
                },
                line: { sec in
                    TextWidth.pad(sec.name, to: nameWidth) + " " + TextWidth.pad("v\(sec.currentVersion)", to: 4) + " "
                        + rotateStatus(sec, now: m.now, soon: m.settings.dueSoon).0
                }, &s)
        }
        filterCursor(rows, box: listBox, &s)

        let detailFocused = m.secrets.focus == .detail && !rows.filtering
        let secret = rows.selectedItem
        s.box(
            detailBox, title: secret.map { "Secret \($0.name)" } ?? "Details",
            style: detailFocused ? Theme.borderFocused : Theme.border)
        let di = detailBox.inner.inset(dx: 1, dy: 0)
        guard let secret else { return }
        drawDetail(secretDetail(m, secret, width: di.width), offset: m.secrets.detailOffset, in: di, labelWidth: 11, &s)
    }

    /// The details pane of a secret: metadata, the value (masked or revealed), versions.
    static func secretDetail(_ m: Model, _ secret: SecretInfo, width: Int) -> [DetailLine] {
        var lines: [DetailLine] = []
        if !secret.description.isEmpty {
            for (i, l) in TextWidth.wrap(Validate.visible(secret.description), width: max(10, width - 12)).enumerated() {
                lines.append(DetailLine(label: i == 0 ? "About" : "", value: l))
            }
        }
        let (rot, rotStyle) = rotateStatus(secret, now: m.now, soon: m.settings.dueSoon)
        lines += [
            DetailLine(
                label: "Version",
                value: "v\(secret.currentVersion) (\(Fmt.plural(secret.versionCount, "version")) kept"
                    + (secret.historyLimit.map { ", limit \($0))" } ?? ")")),
            DetailLine(
                label: "Rotate by", value: secret.rotateBy.map { Fmt.date($0) + (rotStyle == .plain ? "" : " (\(rot))") } ?? "not set",
                style: rotStyle),
            DetailLine(label: "Updated", value: Fmt.time(secret.updatedAt) + " UTC"),
            DetailLine(label: "Created", value: Fmt.time(secret.createdAt) + " UTC")
        ]
        // The value: masked unless revealed.
        if let r = m.secrets.revealed, r.name == secret.name {
            // Drawn from the value's guarded memory, a line at a time (`SecretSpan`): never a String of it.
            let valueLines = SecretSpan.lines(r.value, width: max(10, width - 12))
            for (i, l) in valueLines.prefix(6).enumerated() {
                lines.append(DetailLine(label: i == 0 ? "Value v\(r.version)" : "", value: "", style: Theme.secret, secret: l))
            }
            if valueLines.count > 6 {
                lines.append(DetailLine(label: "", value: "… \(valueLines.count - 6) more lines", style: Theme.muted))
            }
            lines.append(DetailLine(label: "", value: "hides in \(Fmt.duration(r.until - m.now)) (h: now)", style: Theme.muted))
        } else if m.secrets.revealing == secret.name {
            lines.append(DetailLine(label: "Value", value: "opening…", style: Theme.muted))
        } else {
            lines.append(DetailLine(label: "Value", value: "••••••••", style: Theme.muted))
            lines.append(DetailLine(label: "", value: "v reveals it (audited)", style: Theme.muted))
        }
        if let versions = m.secrets.versions[secret.name] {
            lines.append(DetailLine(label: "Versions", value: "newest first; * current", style: Theme.muted))
            // In the focused pane a cursor marks the version X deletes.
            let cursor = m.secrets.focus == .detail && !m.secrets.rows.filtering ? m.secrets.versionCursor : nil
            for (i, v) in versions.reversed().enumerated() {
                let current = v.version == secret.currentVersion
                lines.append(
                    DetailLine(
                        label: (i == cursor ? "›" : " ") + (current ? "*v" : " v") + String(v.version),
                        value: "\(Fmt.time(v.createdAt)) \(v.createdBy ?? "(deleted user)")"
                            + (width >= 48 ? " · data key v\(v.keyVersion)" : ""),
                        style: i == cursor ? Theme.selected : current ? Theme.heading : .plain,
                        version: v.version))
            }
        }
        return lines
    }

    // MARK: Audit

    static func drawAudit(_ m: Model, _ s: inout Screen) {
        let (listBox, detailBox) = Layout.audit(width: m.width, height: m.height)
        let rows = m.audit.rows
        var title = listTitle("Audit log", rows)
        var titleStyle = Theme.heading
        var failing: Int64?
        switch m.audit.check {
        case .done(let v):
            if let f = v.failure {
                title += " · ✗ chain fails at #\(f.seq)"; titleStyle = Theme.error; failing = f.seq
            } else {
                title += " · ✓ chain verified"
            }
        case .running: title += " · verifying…"
        case .failed: title += " · ✗ not verified"; titleStyle = Theme.error
        case .notRun: break
        }
        s.box(listBox, title: title, footer: filterFooter(rows), style: Theme.borderFocused, titleStyle: titleStyle)
        let inner = listBox.inner
        if let account = m.account, !account.can(.auditRead) {
            emptyPane("Reading the audit log needs audit.read.", in: inner, &s)
        } else if let e = rows.error {
            emptyPane(e, in: inner, style: Theme.error, &s)
        } else if !rows.loaded {
            emptyPane("Loading…", in: inner, &s)
        } else if rows.count == 0 {
            emptyPane(rows.shownFilter.isEmpty ? "No events." : "No event matches \"\(rows.shownFilter)\".", in: inner, &s)
        } else {
            let seqWidth = max(4, String(rows.items.map(\.seq).max() ?? 0).count)
            let fixed = seqWidth + 1 + 16 + 1
            let rest = inner.width - 2 - fixed
            let actorWidth = max(6, rest * 22 / 100)
            let actionWidth = max(8, rest * 32 / 100)
            func pad(_ t: String, _ w: Int) -> String { TextWidth.pad(Validate.visible(t), to: w) }
            let header =
                pad("#", seqWidth) + " " + pad("TIME (UTC)", 16) + " " + pad("ACTOR", actorWidth) + " "
                + pad("ACTION", actionWidth) + " TARGET"
            drawRows(
                rows, focused: true, in: inner, header: header,
                style: { e in
                    e.seq == failing ? Theme.failingRow : .plain
                },
                line: { e in
                    String(repeating: " ", count: max(0, seqWidth - String(e.seq).count)) + String(e.seq) + " "
                        + Fmt.time(e.at) + " " + pad(e.actor, actorWidth) + " " + pad(e.action, actionWidth) + " "
                        + Validate.visible(e.target)
                }, &s)
        }
        filterCursor(rows, box: listBox, &s)

        let event = rows.selectedItem
        s.box(detailBox, title: event.map { "Event #\($0.seq)" } ?? "Event")
        let di = detailBox.inner.inset(dx: 1, dy: 0)
        guard let event else { return }
        var row = 0
        s.text("\(Fmt.time(event.at)) UTC · \(event.actor) · \(event.action) · \(event.target)", in: di, row: row)
        row += 1
        if case .done(let v) = m.audit.check, let f = v.failure, f.seq == event.seq {
            s.text("✗ " + f.reason, in: di, row: row, style: Theme.error)
        } else {
            s.text(
                event.signed ? "signed by \(event.actor)'s key" : "unsigned: a failed login has no key to sign with",
                in: di, row: row, style: Theme.muted)
        }
        row += 1
        // The canonical JSON, with a space after each comma so long details wrap between fields.
        paragraph(event.details.replacing(",\"", with: ", \""), in: di, row: row, &s)
    }
}
