import KeyholdCore

/// The secrets screen: the list, and the selected secret's details, versions and revealed value.
extension Console {
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
}
