import KeyholdCore

/// The audit screen: the log, newest first, and the selected event.
extension Console {
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
