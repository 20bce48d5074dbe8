import KeyholdCore

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

/// The users screen: the list and the selected user's details.
extension Console {
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
}
