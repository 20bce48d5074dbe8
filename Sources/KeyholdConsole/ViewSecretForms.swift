import KeyholdCore

extension Console {
    /// What Enter does in a secret form.
    static func secretFormVerb(_ f: SecretFormState) -> String {
        switch f.kind {
        case .create: "create"
        case .newVersion: "add"
        case .edit: "save"
        }
    }

    static func secretFormHints(_ f: SecretFormState) -> [(String, String)] {
        var out = [("Enter", secretFormVerb(f)), ("Tab", "next field")]
        if f.fields.contains(.source) { out.append(("Space", "typed/generated")) }
        out.append(("Esc", "cancel"))
        return out
    }

    /// A line above the fields, if the form has something to say first.
    static func secretFormNote(_ f: SecretFormState) -> String? {
        guard case .newVersion(let s) = f.kind else { return nil }
        var note = "The new value becomes the current version (now v\(s.currentVersion))."
        if let limit = s.historyLimit, s.versionCount >= limit {
            note += " Keeping \(Fmt.plural(limit, "version")) deletes the oldest."
        }
        return note
    }

    static func drawSecretForm(_ f: SecretFormState, _ m: Model, _ s: inout Screen) {
        let body = Layout.body(width: m.width, height: m.height)
        let width = min(m.width - 4, 72)
        let fields = f.fields
        let note = secretFormNote(f).map { TextWidth.wrap($0, width: width - 4) } ?? []
        let noteRows = note.isEmpty ? 0 : note.count + 1
        // While it saves, the typed value is already out of the form: no "must not be empty".
        let messages = f.busy ? [] : f.problems(exists: m.secretListed).map(\.message) + [f.error].compactMap { $0 }
        let room = max(0, body.height - 2 - noteRows - fields.count - 1)
        let problemLines = Array(
            messages.flatMap { TextWidth.wrap($0, width: width - 6).enumerated().map { ($0 == 0, $1) } }
                .prefix(room))
        let height = 2 + noteRows + fields.count + (problemLines.isEmpty ? 0 : 1 + problemLines.count)
        let box = body.centered(width: width, height: min(height, body.height))
        let title: String =
            switch f.kind {
            case .create: "New secret"
            case .newVersion(let sec): "New version of \(sec.name)"
            case .edit(let sec): "Edit \(sec.name)"
            }
        s.fill(box)
        s.box(
            box, title: title, footer: f.busy ? "saving…" : "Enter \(secretFormVerb(f)) · Tab next · Esc cancel",
            style: Theme.borderFocused)
        let inner = box.inner.inset(dx: 1, dy: 0)
        for (i, line) in note.enumerated() { s.text(line, in: inner, row: i, style: Theme.muted) }
        let labelWidth = 15
        var cursor: Point?
        for (i, field) in fields.enumerated() {
            let y = inner.y + noteRows + i
            let focused = f.focus == field
            func textField(_ label: String, _ t: TextField, width: Int, hint: String? = nil) {
                let p = drawField(label, t, focused: focused, x: inner.x, y: y, labelWidth: labelWidth, width: width, &s)
                if focused { cursor = p }
                if let hint { s.put(hint, x: inner.x + width + 1, y: y, style: Theme.muted, maxWidth: inner.maxX - inner.x - width - 1) }
            }
            func choice(_ label: String, _ text: String, hint: String) {
                s.put(TextWidth.pad(label, to: labelWidth), x: inner.x, y: y, style: focused ? Theme.heading : Theme.label)
                let w = s.put(text, x: inner.x + labelWidth, y: y, style: focused ? Theme.fieldFocused : .plain)
                s.put(
                    hint, x: inner.x + labelWidth + w + 2, y: y, style: Theme.muted,
                    maxWidth: max(0, inner.width - labelWidth - w - 2))
            }
            switch field {
            case .name: textField("Name", f.name, width: inner.width)
            case .source:
                choice(
                    "Value", f.generated ? "( ) typed  (•) generated" : "(•) typed  ( ) generated",
                    hint: focused ? "Space switches" : "")
            case .value:
                // Bullets only: the value itself never reaches the screen.
                textField("Typed", TextField(String(repeating: "•", count: f.value.length), masked: true), width: inner.width)
            case .length:
                textField("Length", f.length, width: labelWidth + 8, hint: "characters, 1 to \(Session.maxGeneratedLength)")
            case .alphabet:
                choice("Alphabet", "‹ \(f.alphabet.rawValue) ›", hint: f.alphabet.summary + (focused ? " · ←/→ change" : ""))
            case .description: textField("Description", f.description, width: inner.width)
            case .rotateBy: textField("Rotate by", f.rotateBy, width: labelWidth + 13, hint: "YYYY-MM-DD (UTC); empty: none")
            case .historyLimit:
                textField("History limit", f.historyLimit, width: labelWidth + 8, hint: "versions kept; empty: vault default")
            }
        }
        for (i, (first, line)) in problemLines.enumerated() {
            let row = noteRows + fields.count + 1 + i
            if first { s.text("✗", in: inner, row: row, style: Theme.error) }
            s.text(line, in: inner, row: row, column: 2, style: Theme.error)
        }
        if !f.busy, let cursor { s.cursor = cursor }
    }
}
