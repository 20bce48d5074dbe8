import KeyholdCore

extension Console {
    /// The text area of a form screen: a margin on the left, at most 76 wide.
    static func formArea(_ m: Model) -> Rect {
        let b = Layout.body(width: m.width, height: m.height)
        return Rect(x: 2, y: b.y + 1, width: min(b.width - 4, 76), height: b.height - 1)
    }

    /// Spacing lines only when there is room for them.
    static func gap(_ m: Model) -> Int { m.height >= 22 ? 1 : 0 }

    /// The rules checklist and strength bar under a new-password field.
    static func drawPasswordRules(
        _ password: SecureBytes?, username: String, minimumLength: Int, valid: Bool,
        in area: Rect, row: inout Int, _ s: inout Screen
    ) {
        s.text("Password rules", in: area, row: row, style: Theme.heading)
        s.text("length is what counts; no composition rules", in: area, row: row, column: 16, style: Theme.muted)
        row += 1
        for rule in PasswordRules.check(password, username: username, minimumLength: minimumLength) {
            let (mark, style) = mark(rule.state)
            s.text(mark, in: area, row: row, column: 2, style: style)
            s.text(rule.text, in: area, row: row, column: 4, style: rule.state == .failed ? Theme.error : .plain)
            row += 1
        }
        let strength = PasswordRules.strength(password, valid: valid)
        s.text("Strength", in: area, row: row, column: 2, style: Theme.label)
        let bar = String(repeating: "█", count: strength.bars) + String(repeating: "░", count: 10 - strength.bars)
        s.text(bar, in: area, row: row, column: 12, style: valid ? Theme.ok : Theme.muted)
        s.text(strength.label, in: area, row: row, column: 23, style: valid ? .plain : Theme.error)
        row += 1
    }

    static func drawProblems(_ problems: [String], in area: Rect, row: inout Int, _ s: inout Screen) {
        for p in problems {
            s.text("✗", in: area, row: row, style: Theme.error)
            row += paragraph(
                p, in: Rect(x: area.x + 2, y: area.y, width: area.width - 2, height: area.height), row: row,
                style: Theme.error, &s)
        }
    }

    // MARK: First run

    static func drawSetup(_ m: Model, _ s: inout Screen) {
        let f = m.setup
        drawPasswordForm(
            m, title: "Create the vault and its first administrator",
            intro:
                "No vault exists at \(m.settings.vaultPath) yet. Choose the administrator's name and password; the password also protects the keys.",
            fields: [
                (.username, "Username", f.username), (.password, "Password", f.password.masked), (.repeated, "Repeat", f.repeated.masked)
            ],
            focus: f.focus, password: f.password, passwordField: .password, username: f.username.text,
            problems: f.problems(minimumLength: m.settings.passwordMinLength), error: f.error,
            busy: f.busy ? "Creating the vault (hashing the password takes a moment)…" : nil, &s)
    }

    /// A page that chooses a password (the first run, a forced change): its heading and intro,
    /// its fields (a password as bullets only, one per character typed), the password rules and
    /// the problems; then what it is busy with, or the cursor in the focused field.
    static func drawPasswordForm<Field: Equatable>(
        _ m: Model, title: String, intro: String, fields: [(Field, String, TextField)], focus: Field,
        password: SecretValueField, passwordField: Field, username: String, problems: [(field: Field, message: String)],
        error: String?, busy: String?, _ s: inout Screen
    ) {
        let a = formArea(m)
        var row = 0
        s.text(title, in: a, row: row, style: Theme.heading)
        row += 1
        row += paragraph(intro, in: a, row: row, style: Theme.muted, &s)
        row += gap(m)
        let fieldWidth = min(a.width, 60)
        var cursor: Point?
        for (field, label, text) in fields where row < a.height {
            let p = drawField(label, text, focused: focus == field, x: a.x, y: a.y + row, labelWidth: 10, width: fieldWidth, &s)
            if focus == field { cursor = p }
            row += 1
        }
        row += gap(m)
        let valid = !password.isEmpty && !problems.contains { $0.field == passwordField }
        drawPasswordRules(
            password.bytes, username: username, minimumLength: m.settings.passwordMinLength, valid: valid, in: a, row: &row, &s)
        row += gap(m)
        drawProblems(problems.map(\.message) + [error].compactMap { $0 }, in: a, row: &row, &s)
        if let busy {
            s.text(busy, in: a, row: row, style: Theme.muted)
        } else if let cursor, cursor.y < a.maxY {
            s.cursor = cursor
        }
    }

    // MARK: Recovery key

    /// The key in three lines of groups (5, 4, 4), so it fits 60 columns, drawn from guarded memory.
    static func recoveryLines(_ key: Sensitive) -> [SecretSpan] {
        key.bytes.withBytes { SecretText.recoveryLines($0) }.map { SecretSpan(key, $0) }
    }

    static func drawRecovery(_ m: Model, _ s: inout Screen) {
        let a = formArea(m)
        var row = 0
        s.text("Vault created. This is its recovery key, shown this once:", in: a, row: row, style: Theme.heading)
        row += 1 + gap(m)
        if let key = m.recovery.key {
            for line in recoveryLines(key) {
                if row < a.height { s.putSecret(line, x: a.x + 4, y: a.y + row, style: Theme.secret, maxWidth: a.width - 4, clip: a) }
                row += 1
            }
        }
        row += gap(m)
        row += paragraph(
            "It opens the vault if every administrator password is lost. Write it down and keep it offline: Keyhold cannot show it again.",
            in: a, row: row, &s)
        row += gap(m)
        s.text("Type it back to continue (case, spaces and dashes do not matter):", in: a, row: row)
        row += 1
        let cursor = drawSecretField(m.recovery.typed, x: a.x, y: a.y + row, width: min(a.width, 72), &s)
        row += 1
        if let e = m.recovery.error { drawProblems([e], in: a, row: &row, &s) }
        if cursor.y < a.maxY { s.cursor = cursor }
    }

    // MARK: Login

    static func loginMessage(_ failure: LoginFailure, now: Int64) -> String {
        switch failure {
        case .wrongCredentials:
            return KeyholdError.authenticationFailed.description.prefix(1).uppercased()
                + KeyholdError.authenticationFailed.description.dropFirst() + "."
        case .other(let text):
            return text.prefix(1).uppercased() + text.dropFirst()
        }
    }

    static func drawLogin(_ m: Model, _ s: inout Screen) {
        let a = formArea(m)
        let f = m.login
        var row = 0
        s.text("Log in", in: a, row: row, style: Theme.heading)
        row += 1
        row += paragraph("Vault \(m.settings.vaultPath)", in: a, row: row, style: Theme.muted, &s)
        row += gap(m)
        let fieldWidth = min(a.width, 60)
        let u = drawField(
            "Username", f.username, focused: f.focus == .username, x: a.x, y: a.y + row, labelWidth: 10,
            width: fieldWidth, &s)
        row += 1
        let p = drawField(
            "Password", f.password.masked, focused: f.focus == .password, x: a.x, y: a.y + row, labelWidth: 10,
            width: fieldWidth, &s)
        row += 1 + gap(m)
        if let failure = f.failure {
            drawProblems([loginMessage(failure, now: m.now)], in: a, row: &row, &s)
        }
        if let notice = f.notice {
            row += paragraph(notice, in: a, row: row, style: Theme.warning, &s)
        }
        if f.busy {
            s.text("Checking the password…", in: a, row: row, style: Theme.muted)
        } else {
            s.cursor = f.focus == .username ? u : p
        }
    }

    // MARK: Forced password change

    static func drawChangePassword(_ m: Model, _ s: inout Screen) {
        let f = m.changePassword
        drawPasswordForm(
            m, title: "Choose a new password for \(f.username)",
            intro: "Your password was set by an administrator. Choose your own before going on; it also protects your keys.",
            fields: [(.password, "New", f.password.masked), (.repeated, "Repeat", f.repeated.masked)],
            focus: f.focus, password: f.password, passwordField: .password, username: f.username,
            problems: f.problems(minimumLength: m.settings.passwordMinLength), error: f.error,
            busy: f.busy ? "Saving the new password…" : nil, &s)
    }
}
