import KeyholdCore

/// The edit-user dialog: email and display name, filled in with the current values.
public struct EditUserState: Equatable, Sendable {
    public enum Field: FormField, Sendable { case email, displayName }

    public var username: String
    public var email: TextField
    public var displayName: TextField
    /// The values when the dialog opened: only what differs is sent.
    public var originalEmail: String
    public var originalDisplayName: String
    public var focus = Field.email
    /// The core's refusal.
    public var error: String?
    public var busy = false

    public init(_ user: UserInfo) {
        username = user.username
        originalEmail = user.email ?? ""
        originalDisplayName = user.displayName
        // Limits a little above the rules', so that too long shows the rule instead of cutting silently.
        email = TextField(originalEmail, limit: 300)
        displayName = TextField(originalDisplayName, limit: Validate.displayNameMaxLength + 20)
    }

    /// Messages for the fields, in order, from the core's validators.
    func problems() -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        do { _ = try Validate.email(email.text) } catch { out.append((.email, error.message)) }
        do { _ = try Validate.displayName(displayName.text) } catch { out.append((.displayName, error.message)) }
        return out
    }
}

/// The expiry dialog: a date (UTC), or empty for never.
public struct ExpiryState: Equatable, Sendable {
    public var username: String
    /// When the account expires now (ms), if ever.
    public var current: Int64?
    public var date: TextField
    /// What the field held when the dialog opened: an untouched field changes nothing.
    public var initial: String
    /// A half-typed date is not an error until it is long enough or Enter is pressed.
    public var submitted = false
    /// The core's refusal.
    public var error: String?
    public var busy = false

    static let field = "expires"

    public init(_ user: UserInfo) {
        username = user.username
        current = user.expiresAt
        initial = user.expiresAt.map(Fmt.date) ?? ""
        date = TextField(initial, limit: 20)
    }

    /// The typed expiry: nil for never, or 00:00 UTC of the day.
    func parsed() throws(ValidationError) -> Int64? {
        let text = date.text.trimmingSpaces
        if text.isEmpty { return nil }
        return try Fmt.day(text, field: Self.field)
    }

    /// The format problem to show, if any.
    func problem() -> String? {
        guard submitted || date.text.trimmingSpaces.count >= 10 else { return nil }
        do { _ = try parsed() } catch { return error.message }
        return nil
    }
}

extension Model {
    /// Whether the session may change this account, as the core will judge it:
    /// users.write, and every permission of the user held too. Else a toast says why.
    mutating func mayChange(_ user: UserInfo, _ what: String) -> Bool {
        guard let account else { return false }
        guard account.can(.usersWrite) else {
            toast("\(what) needs users.write", error: true)
            return false
        }
        let beyond = user.permissions.subtracting(account.permissions)
        if !beyond.isEmpty {
            toast(
                "You cannot change \(user.username): they hold \(beyond.sorted().map(\.rawValue).joined(separator: ", ")), which you do not",
                error: true)
            return false
        }
        return true
    }

    // MARK: Edit user

    mutating func openEditUser(_ user: UserInfo) {
        guard mayChange(user, "Editing users") else { return }
        overlay = .editUser(EditUserState(user))
    }

    mutating func editUserKey(_ key: Key, _ form: EditUserState, _ fx: inout [Effect]) {
        var f = form
        if f.busy { return }
        switch key {
        case .escape:
            cancelOverlay()
            return
        case .tab, .down: f.focus = f.focus.next()
        case .backTab, .up: f.focus = f.focus.previous()
        case .enter:
            if let first = f.problems().first {
                f.focus = first.field
                break
            }
            let email: FieldEdit<String> = f.email.text == f.originalEmail ? .keep : FieldEdit(f.email.text.isEmpty ? nil : f.email.text)
            let displayName = f.displayName.text == f.originalDisplayName ? nil : f.displayName.text
            if email == .keep && displayName == nil {
                overlay = nil
                toast("\(f.username) unchanged")
                return
            }
            f.busy = true
            f.error = nil
            fx.append(.users(.edit(f.username, email: email, displayName: displayName)))
        default:
            f.error = nil
            switch f.focus {
            case .email: f.email.handle(key)
            case .displayName: f.displayName.handle(key)
            }
        }
        overlay = .editUser(f)
    }

    // MARK: Expiry

    mutating func openExpiry(_ user: UserInfo) {
        guard mayChange(user, "Setting an expiry") else { return }
        overlay = .expiry(ExpiryState(user))
    }

    mutating func expiryKey(_ key: Key, _ form: ExpiryState, _ fx: inout [Effect]) {
        var f = form
        if f.busy { return }
        switch key {
        case .escape:
            cancelOverlay()
            return
        case .enter:
            f.submitted = true
            let time: Int64?
            do { time = try f.parsed() } catch { break }
            if f.date.text.trimmingSpaces == f.initial || time == f.current {
                overlay = nil
                toast("Expiry of \(f.username) unchanged")
                return
            }
            f.busy = true
            f.error = nil
            fx.append(.users(.setExpiry(f.username, at: time)))
        default:
            if f.date.handle(key) {
                f.error = nil
                f.submitted = false
            }
        }
        overlay = .expiry(f)
    }

    // MARK: Results

    /// A user form's change landed: close it, say so, reload what shows it.
    mutating func userFormSaved(_ result: UsersResult, _ fx: inout [Effect]) {
        switch result {
        case .edited(let name):
            if case .editUser = overlay { overlay = nil }
            toast("\(name) updated")
            reload(.users, &fx)
        case .expirySet(let name, let time):
            if case .expiry = overlay { overlay = nil }
            toast(time.map { "\(name) expires \(Fmt.time($0)) UTC" } ?? "\(name) never expires")
            reload(.users, &fx)
        default: break
        }
    }

    /// A user form's core call was refused: the form stays open with the reason.
    mutating func formFailed(_ message: String) {
        switch overlay {
        case .editUser(var f):
            f.busy = false
            f.error = message
            overlay = .editUser(f)
        case .expiry(var f):
            f.busy = false
            f.error = message
            overlay = .expiry(f)
        default:
            toast(message, error: true)
        }
    }
}
