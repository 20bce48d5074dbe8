import KeyholdCore

/// The keys screen: key status, rotations and their progress.
extension Console {
    static let keysLabelWidth = 17

    /// The facts of the key status, one line each (long lists wrapped).
    static func keyLines(_ k: KeyStatus, width: Int) -> [DetailLine] {
        func wrapped(_ label: String, _ value: String, style: Style = .plain) -> [DetailLine] {
            TextWidth.wrap(Validate.visible(value), width: max(10, width - keysLabelWidth)).enumerated().map {
                DetailLine(label: $0.offset == 0 ? label : "", value: $0.element, style: style)
            }
        }
        let versions = k.dataKeyVersions.sorted().map { "v\($0)" }.joined(separator: ", ")
        var out = wrapped("Data keys", "\(versions) · v\(k.activeDataKey) active")
        out += wrapped("Min. decryption", "v\(k.minDecryptVersion) (versions sealed under older keys are refused)")
        out += wrapped("Root key", "generation \(k.rootVersion)")
        out += wrapped("Key holders", k.grantedUsers.isEmpty ? "none" : k.grantedUsers.joined(separator: ", "))
        if k.requests.isEmpty {
            out += wrapped("Key requests", "none")
        } else {
            for (i, r) in k.requests.enumerated() {
                out += wrapped(
                    i == 0 ? "Key requests" : "", "\(r.username): " + (r.fingerprint.map { "fingerprint \($0)" } ?? "no key yet"),
                    style: Theme.warning)
            }
            out += wrapped("", "approve on the Users screen (A), with the fingerprint the user reads you", style: Theme.muted)
        }
        if let w = k.revocationWarning {
            for (i, line) in w.split(separator: "\n").enumerated() {
                out += wrapped(i == 0 ? "Revocation" : "", "✗ " + line, style: Theme.error)
            }
            out += wrapped("", "K rotates the root key and clears this warning", style: Theme.muted)
        } else {
            out += wrapped("Revocation", "none")
        }
        return out
    }

    /// `[██████░░░░] 600 / 1000 (60%)`
    static func progressBar(done: Int, total: Int, width: Int) -> String {
        let filled = total <= 0 ? 0 : min(width, done * width / total)
        let percent = total <= 0 ? 0 : min(100, done * 100 / total)
        return "[" + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + "] "
            + "\(done) / \(total) (\(percent)%)"
    }

    static func drawKeys(_ m: Model, _ s: inout Screen) {
        let body = Layout.body(width: m.width, height: m.height)
        let statusHeight = max(3, body.height - 7)
        let top = Rect(x: body.x, y: body.y, width: body.width, height: statusHeight)
        let bottom = Rect(x: body.x, y: body.y + statusHeight, width: body.width, height: body.height - statusHeight)
        s.box(top, title: "Key status", style: Theme.border)
        let inner = top.inner.inset(dx: 1, dy: 0)
        let k = m.keys
        if let account = m.account, !account.can(.keysManage) {
            emptyPane("The keys screen needs keys.manage.", in: inner, &s)
        } else if let e = k.error {
            emptyPane(e, in: inner, style: Theme.error, &s)
        } else if let status = k.status {
            drawDetail(keyLines(status, width: inner.width), offset: 0, in: inner, labelWidth: keysLabelWidth, &s)
        } else {
            emptyPane("Loading…", in: inner, &s)
        }

        s.box(bottom, title: "Data-key rotation", style: k.rotation != nil ? Theme.borderFocused : Theme.border)
        let b = bottom.inner.inset(dx: 1, dy: 0)
        var row = 0
        if let p = k.rotation {
            let target = k.status.map { "v\(($0.dataKeyVersions.max() ?? 0) + (p.resuming ? 0 : 1))" } ?? "the new key"
            s.text(
                (p.resuming ? "Resuming: re-sealing every secret version under " : "Re-sealing every secret version under ")
                    + target + "…", in: b, row: row, style: Theme.heading)
            row += 1
            s.text(
                progressBar(done: p.done, total: p.total, width: max(10, min(40, b.width - 24))), in: b, row: row,
                style: Theme.ok)
            row += 1
            row += paragraph(
                "Each batch is its own transaction: if Keyhold is stopped, the rotation is kept and R resumes it.",
                in: b, row: row, style: Theme.muted, &s)
        } else if let pending = k.pending {
            let state = pending.running ? "is running in another process" : "was interrupted"
            s.text(
                "! A rotation to v\(pending.targetVersion) \(state): \(pending.remaining) of \(Fmt.plural(pending.total, "version")) left.",
                in: b, row: row, style: Theme.warning)
            row += 1
            s.text(
                progressBar(done: pending.total - pending.remaining, total: pending.total, width: max(10, min(40, b.width - 24))),
                in: b, row: row, style: Theme.warning)
            row += 1
            paragraph(
                pending.running
                    ? "It finishes there. Secrets stay readable meanwhile."
                    : "Press R to resume it. Secrets stay readable meanwhile.", in: b, row: row, &s)
        } else if k.status != nil {
            row += paragraph(
                "No rotation pending. r makes a new data key and re-seals every secret version under it, in batches; older keys are destroyed at the end.",
                in: b, row: row, &s)
            paragraph(
                "K rotates the root key (after a key holder leaves) and shows a new recovery key once.",
                in: b, row: row, style: Theme.muted, &s)
        }
    }
}
