import KeyholdCore

/// Where things go on the screen; shared by the view and by `update` (page sizes).
enum Layout {
    /// Between the title bar (row 0) and the key hint bar (last row).
    static func body(width: Int, height: Int) -> Rect { Rect(x: 0, y: 1, width: width, height: height - 2) }

    /// The list and details panes of the users and secrets screens.
    static func split(width: Int, height: Int, percent: Int = 45) -> (list: Rect, detail: Rect) {
        let b = body(width: width, height: height)
        let lw = max(30, b.width * percent / 100)
        return (
            Rect(x: b.x, y: b.y, width: lw, height: b.height),
            Rect(x: b.x + lw, y: b.y, width: b.width - lw, height: b.height)
        )
    }

    static let auditDetailHeight = 6

    /// The audit log's list box and the selected event's box below it.
    static func audit(width: Int, height: Int) -> (list: Rect, detail: Rect) {
        let b = body(width: width, height: height)
        return (
            Rect(x: b.x, y: b.y, width: b.width, height: b.height - auditDetailHeight),
            Rect(x: b.x, y: b.maxY - auditDetailHeight, width: b.width, height: auditDetailHeight)
        )
    }

    /// Visible rows of a screen's list (inside its box, under the column header).
    static func listRows(_ route: Route, width: Int, height: Int) -> Int {
        switch route {
        case .users, .secrets, .roles: max(1, body(width: width, height: height).height - 3)
        case .audit: max(1, audit(width: width, height: height).list.height - 3)
        default: 1
        }
    }

    /// Lines inside the details pane.
    static func detailRows(width: Int, height: Int) -> Int { max(1, split(width: width, height: height).detail.height - 2) }

    static let dashboardTopHeight = 8

    /// Lines inside the dashboard's warnings box.
    static func warningRows(width: Int, height: Int) -> Int {
        max(1, body(width: width, height: height).height - dashboardTopHeight - 2)
    }
}

extension Console {
    /// Draws the model. A pure function: same model, same frame.
    public static func view(_ m: Model) -> Screen {
        var s = Screen(width: m.width, height: m.height)
        guard !m.isTooSmall else {
            drawTooSmall(m, &s)
            return s
        }
        if let why = m.stopped {
            drawStopped(why, m, &s)
            return s
        }
        drawTitleBar(m, &s)
        switch m.route {
        case .setup: drawSetup(m, &s)
        case .recovery: drawRecovery(m, &s)
        case .login: drawLogin(m, &s)
        case .changePassword: drawChangePassword(m, &s)
        case .dashboard: drawDashboard(m, &s)
        case .users: drawUsers(m, &s)
        case .secrets: drawSecrets(m, &s)
        case .audit: drawAudit(m, &s)
        case .keys: drawKeys(m, &s)
        case .roles: drawRoles(m, &s)
        }
        drawHintBar(m, &s)
        drawToasts(m, &s)
        if let overlay = m.overlay { drawOverlay(overlay, m, &s) }
        return s
    }

    // MARK: Chrome

    static func drawTooSmall(_ m: Model, _ s: inout Screen) {
        let text = [
            "Keyhold needs a terminal of at least \(m.settings.minWidth)x\(m.settings.minHeight).",
            "This one is \(m.width)x\(m.height).",
            "Enlarge the window, or press q to quit."
        ]
        let lines = text.flatMap { TextWidth.wrap($0, width: max(1, m.width - 2)) }
        let top = max(0, (m.height - lines.count) / 2)
        for (i, line) in lines.enumerated() {
            let x = max(0, (m.width - TextWidth.of(line)) / 2)
            s.put(line, x: x, y: top + i, style: i == 0 ? Theme.heading : .plain)
        }
    }

    /// The vault's file was replaced while the console had it open: why, and the way out.
    static func drawStopped(_ why: String, _ m: Model, _ s: inout Screen) {
        s.fill(Rect(x: 0, y: 0, width: m.width, height: 1), style: Theme.barDim)
        s.put(" Keyhold ", x: 0, y: 0, style: Theme.bar)
        let width = max(1, min(m.width - 4, 72))
        let sentence = why.prefix(1).uppercased() + why.dropFirst()  // an error message, shown as a sentence
        let lines = ["The vault file was replaced", ""] + TextWidth.wrap(Validate.visible(sentence), width: width)
        let top = max(1, (m.height - lines.count) / 2)
        for (i, line) in lines.enumerated() where top + i < m.height - 1 {
            s.put(line, x: max(0, (m.width - width) / 2), y: top + i, style: i == 0 ? Theme.heading : .plain)
        }
        let y = m.height - 1
        let x = 1 + s.put("q", x: 1, y: y, style: Theme.key)
        s.put(" quit", x: x, y: y, style: Theme.hint)
    }

    static func fileName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func drawTitleBar(_ m: Model, _ s: inout Screen) {
        s.fill(Rect(x: 0, y: 0, width: m.width, height: 1), style: Theme.barDim)
        var x = s.put(" Keyhold ", x: 0, y: 0, style: Theme.bar)
        if m.account != nil && Route.tabs.contains(m.route) {
            for (i, tab) in Route.tabs.enumerated() {
                let label = " \(i + 1) \(tab.title) "
                x += s.put(label, x: x, y: 0, style: tab == m.route ? Style(bold: true) : Theme.barDim)
            }
        } else {
            x += s.put("· \(m.route.title)", x: x, y: 0, style: Theme.barDim)
        }
        // Who and which vault, or only who when both do not fit.
        let room = m.width - x - 1
        let full =
            Validate.visible(
                [m.account?.username, fileName(m.settings.vaultPath)].compactMap { $0 }
                    .joined(separator: " · ")) + " "
        let short = Validate.visible(m.account?.username ?? fileName(m.settings.vaultPath)) + " "
        let right = TextWidth.of(full) <= room ? full : short
        if room > 4 {
            let shown = TextWidth.truncate(right, to: room)
            s.put(shown, x: m.width - TextWidth.of(shown), y: 0, style: Theme.barDim)
        }
    }

    /// The hints of the current situation: an overlay, a filter being typed, or the screen.
    static func hints(_ m: Model) -> [(String, String)] {
        switch m.overlay {
        case .help: return [("Esc", "close"), ("j/k", "scroll")]
        case .palette: return [("Enter", "run"), ("↑/↓", "choose"), ("Esc", "close")]
        case .confirm: return [("Enter", "confirm"), ("Esc", "cancel")]
        case .notice: return [("Enter", "done")]
        case .newUser: return [("Enter", "create"), ("Tab", "next field"), ("Space", "toggle role"), ("Esc", "cancel")]
        case .userRoles: return [("Space", "toggle"), ("Enter", "apply"), ("Esc", "cancel")]
        case .secretForm(let f): return secretFormHints(f)
        case .editUser: return [("Enter", "save"), ("Tab", "next field"), ("Esc", "cancel")]
        case .expiry: return [("Enter", "save"), ("Esc", "cancel")]
        case .roleForm: return [("Enter", "save"), ("Tab", "next field"), ("Space", "toggle permission"), ("Esc", "cancel")]
        case nil: break
        }
        let filtering =
            (m.route == .users && m.users.rows.filtering) || (m.route == .secrets && m.secrets.rows.filtering)
            || (m.route == .audit && m.audit.rows.filtering) || (m.route == .roles && m.roles.rows.filtering)
        if filtering { return [("Enter", "keep filter"), ("Esc", "clear"), ("↑/↓", "move")] }
        var out = Bindings.of(m.route).compactMap { b in b.hint.map { (b.label, $0) } }
        if Route.tabs.contains(m.route) {
            out += Bindings.global.compactMap { b in b.hint.map { (b.label, $0) } }
        }
        return out
    }

    static func drawHintBar(_ m: Model, _ s: inout Screen) {
        let y = m.height - 1
        var x = 1
        let busy = busyText(m).map { $0 + " " }
        let right = busy.map { TextWidth.of($0) + 1 } ?? 0
        // The way to every other key always shows: hints that do not fit give way to it.
        let all = hints(m)
        var reserved = all.first { $0.1 == "help" }.map { TextWidth.of($0.0) + 1 + TextWidth.of($0.1) + 2 } ?? 0
        var full = false
        for (key, label) in all {
            let need = TextWidth.of(key) + 1 + TextWidth.of(label)
            if label == "help" {
                reserved = 0
                if x + need > m.width - right { break }
            } else if full || x + need > m.width - right - reserved {
                full = true
                continue
            }
            x += s.put(key, x: x, y: y, style: Theme.key)
            x += s.put(" " + label + "  ", x: x, y: y, style: Theme.hint)
        }
        if let busy {
            s.put(busy, x: m.width - TextWidth.of(busy), y: y, style: Theme.muted)
        }
    }

    static func busyText(_ m: Model) -> String? {
        if m.setup.busy { return "creating…" }
        if m.login.busy { return "checking…" }
        if m.changePassword.busy { return "saving…" }
        if m.keys.rotation != nil { return "rotating…" }
        if m.keys.rotatingRoot { return "rotating the root key…" }
        if m.dashboard.loading || m.users.rows.loading || m.secrets.rows.loading || m.audit.rows.loading
            || m.keys.loading || m.roles.rows.loading
        {
            return "loading…"
        }
        if m.secrets.revealing != nil { return "opening…" }
        if m.audit.check == .running { return "verifying…" }
        return nil
    }

    static func drawToasts(_ m: Model, _ s: inout Screen) {
        var y = m.height - 2
        for t in m.toasts.reversed() {
            let text = TextWidth.truncate(" " + (t.isError ? "✗ " : "✓ ") + Validate.visible(t.text) + " ", to: m.width - 2)
            let w = TextWidth.of(text)
            s.put(text, x: m.width - w - 1, y: y, style: t.isError ? Theme.toastError : Theme.toastOK)
            y -= 1
            if y < 1 { break }
        }
    }

    // MARK: Overlays

    static func drawOverlay(_ overlay: Overlay, _ m: Model, _ s: inout Screen) {
        switch overlay {
        case .help(let h): drawHelp(h, m, &s)
        case .palette(let p): drawPalette(p, m, &s)
        case .confirm(let c): drawConfirm(c, m, &s)
        case .notice(let n): drawNotice(n, m, &s)
        case .newUser(let f): drawNewUser(f, m, &s)
        case .userRoles(let r): drawUserRoles(r, m, &s)
        case .secretForm(let f): drawSecretForm(f, m, &s)
        case .editUser(let f): drawEditUser(f, m, &s)
        case .expiry(let f): drawExpiry(f, m, &s)
        case .roleForm(let f): drawRoleForm(f, m, &s)
        }
    }

    static func drawHelp(_ h: HelpState, _ m: Model, _ s: inout Screen) {
        let lines = helpLines(m)
        let body = Layout.body(width: m.width, height: m.height)
        let box = body.centered(width: min(body.width - 4, 72), height: min(body.height, lines.count + 2))
        s.fill(box)
        let scrollable = lines.count > box.height - 2
        s.box(box, title: "Help", footer: scrollable ? "j/k scroll · Esc close" : "Esc close", style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        let keyWidth = min(14, max(6, lines.map { TextWidth.of($0.key) }.max() ?? 6))
        let offset = min(h.offset, max(0, lines.count - inner.height))
        for (row, line) in lines.dropFirst(offset).prefix(inner.height).enumerated() {
            if line.heading {
                s.text(line.help, in: inner, row: row, style: Theme.heading)
            } else {
                s.text(line.key, in: inner, row: row, style: Theme.key)
                s.text(line.help, in: inner, row: row, column: keyWidth + 2)
            }
        }
    }

    static func drawPalette(_ p: PaletteState, _ m: Model, _ s: inout Screen) {
        let matches = p.matches
        let width = min(m.width - 4, 56)
        let box = Rect(x: (m.width - width) / 2, y: 2, width: width, height: min(m.height - 4, matches.count + 4))
        s.fill(box)
        s.box(box, title: "Command", style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        let (text, cursor) = p.input.window(width: inner.width - 2)
        s.text(": " + text, in: inner, row: 0, style: Theme.fieldFocused)
        s.cursor = Point(x: inner.x + 2 + cursor, y: inner.y)
        if matches.isEmpty {
            s.text("no command matches", in: inner, row: 1, style: Theme.muted)
        }
        // More commands than rows: the list scrolls so the chosen one shows.
        let rows = max(1, inner.height - 1)
        let first = max(0, min(p.selected - rows + 1, matches.count - rows))
        for (row, i) in (first..<min(matches.count, first + rows)).enumerated() {
            let c = matches[i]
            let line = TextWidth.pad(c.rawValue, to: 12) + c.summary
            s.text((i == p.selected ? "› " : "  ") + line, in: inner, row: row + 1, style: i == p.selected ? Theme.selected : .plain)
        }
    }

    static func drawConfirm(_ c: ConfirmState, _ m: Model, _ s: inout Screen) {
        let width = min(m.width - 4, 64)
        let message = TextWidth.wrap(Validate.visible(c.message), width: width - 4)
        let height = message.count + 7 + (c.error == nil ? 0 : 1)
        let box = Layout.body(width: m.width, height: m.height).centered(width: width, height: height)
        s.fill(box)
        s.box(box, title: c.title, footer: "Enter confirm · Esc cancel", style: Theme.error, titleStyle: Theme.error)
        let inner = box.inner.inset(dx: 1, dy: 0)
        for (i, line) in message.enumerated() { s.text(line, in: inner, row: i) }
        var row = message.count + 1
        s.text(c.prompt ?? "Type \"\(c.expected)\" to confirm:", in: inner, row: row, style: Theme.heading)
        row += 1
        let fieldWidth = inner.width - 2
        let (text, cursor) = c.input.window(width: fieldWidth)
        s.text("[" + TextWidth.pad(text, to: fieldWidth) + "]", in: inner, row: row, style: Theme.fieldFocused)
        s.cursor = Point(x: inner.x + 1 + cursor, y: inner.y + row)
        if let e = c.error {
            row += 1
            s.text(e, in: inner, row: row, style: Theme.error)
        }
        row += 1
        s.text("An empty Enter cancels.", in: inner, row: row, style: Theme.muted)
    }

    static func drawNotice(_ n: NoticeState, _ m: Model, _ s: inout Screen) {
        let secretWidth = n.secret.map { SecretSpan($0).width } ?? 0
        // Wide enough for the secret on one line when the terminal is: a recovery key is 77
        // columns, so at 80 the box takes the whole width (borders, a space where it fits).
        let width = max(min(m.width - 4, 64), min(m.width, secretWidth + 4))
        let message = TextWidth.wrap(Validate.visible(n.message), width: width - 4)
        // Only a secret wider than the whole terminal goes on several lines, in its groups.
        let secretLines =
            n.secret.map { secret -> [SecretSpan] in
                secretWidth <= width - 2 ? [SecretSpan(secret)] : recoveryLines(secret)
            } ?? []
        let box = Layout.body(width: m.width, height: m.height)
            .centered(width: width, height: message.count + 4 + max(1, secretLines.count))
        s.fill(box)
        s.box(box, title: n.title, footer: "Enter done", style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        for (i, line) in message.enumerated() { s.text(line, in: inner, row: i) }
        for (i, line) in secretLines.enumerated() where message.count + 1 + i < box.inner.height {
            // Indented where there is room; else in line with the message; at worst against the border.
            let lineWidth = line.width
            let column = lineWidth + 6 <= box.inner.width ? 3 : lineWidth + 1 <= box.inner.width ? 1 : 0
            _ = s.putSecret(
                line, x: box.inner.x + column, y: box.inner.y + message.count + 1 + i, style: Theme.secret,
                maxWidth: box.inner.width - column, clip: box.inner)
        }
    }

    // MARK: Shared pieces

    /// A labelled one-line field; returns where its cursor goes.
    @discardableResult
    static func drawField(
        _ label: String, _ field: TextField, focused: Bool, x: Int, y: Int, labelWidth: Int,
        width: Int, _ s: inout Screen
    ) -> Point {
        s.put(TextWidth.pad(label, to: labelWidth), x: x, y: y, style: focused ? Theme.heading : Theme.label)
        let inside = max(2, width - labelWidth - 2)
        let (text, cursor) = field.window(width: inside)
        s.put("[", x: x + labelWidth, y: y, style: focused ? Theme.borderFocused : Theme.border)
        s.put(TextWidth.pad(text, to: inside), x: x + labelWidth + 1, y: y, style: focused ? Theme.fieldFocused : Theme.field)
        s.put("]", x: x + labelWidth + 1 + inside, y: y, style: focused ? Theme.borderFocused : Theme.border)
        return Point(x: x + labelWidth + 1 + cursor, y: y)
    }

    /// An unlabelled field showing a secret as typed (the recovery key typed back), drawn from
    /// guarded memory (`putSecret`); when it is wider than the field, its end shows. Returns
    /// where the cursor goes (after the last character).
    @discardableResult
    static func drawSecretField(_ field: SecretValueField, x: Int, y: Int, width: Int, _ s: inout Screen) -> Point {
        let inside = max(2, width - 2)
        s.put("[", x: x, y: y, style: Theme.borderFocused)
        s.put(String(repeating: " ", count: inside), x: x + 1, y: y, style: Theme.fieldFocused)
        s.put("]", x: x + 1 + inside, y: y, style: Theme.borderFocused)
        guard let value = field.value else { return Point(x: x + 1, y: y) }
        let whole = SecretSpan(value)
        var start = 0
        if whole.isText {
            // Keep one cell for the cursor: drop graphemes from the front until the rest fits.
            var widths: [(Int, Int)] = []
            value.bytes.withBytes { SecretText.graphemes($0) { r, shown in widths.append((r.lowerBound, SecretText.width(shown))) } }
            var total = widths.reduce(0) { $0 + $1.1 }
            var k = 0
            while total > inside - 1 && k < widths.count { total -= widths[k].1; k += 1 }
            start = k < widths.count ? widths[k].0 : value.bytes.count
        }
        let used = s.putSecret(
            SecretSpan(value, start..<value.bytes.count), x: x + 1, y: y, style: Theme.fieldFocused,
            maxWidth: inside)
        return Point(x: x + 1 + min(used, inside - 1), y: y)
    }

    /// Wrapped lines of a paragraph inside a rectangle; returns the lines used.
    @discardableResult
    static func paragraph(_ text: String, in rect: Rect, row: Int, style: Style = .plain, _ s: inout Screen) -> Int {
        let lines = TextWidth.wrap(Validate.visible(text), width: rect.width)
        for (i, line) in lines.enumerated() { s.text(line, in: rect, row: row + i, style: style) }
        return lines.count
    }

    static func mark(_ state: RuleState) -> (String, Style) {
        switch state {
        case .pending: ("·", Theme.muted)
        case .ok: ("✓", Theme.ok)
        case .failed: ("✗", Theme.error)
        }
    }
}
