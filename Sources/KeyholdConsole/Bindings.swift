/// One key binding as the hint bar and the help overlay show it. `update` is
/// the one place keys act; tests check that every binding listed here does
/// what it says.
public struct Binding: Equatable, Sendable {
    /// The keys that trigger it.
    public let keys: [Key]
    /// How they are written, e.g. `j/↓`.
    public let label: String
    public let help: String
    /// A word or two for the hint bar, if it belongs there.
    public let hint: String?

    init(_ keys: [Key], _ label: String? = nil, _ help: String, hint: String? = nil) {
        self.keys = keys
        self.label = label ?? keys.map(\.label).joined(separator: "/")
        self.help = help
        self.hint = hint
    }
}

/// The bindings of each screen.
public enum Bindings {
    static let fieldEditing: [Binding] = [
        Binding([.left, .right, .home, .end], "←/→ Home/End", "move in the field"),
        Binding([.ctrl("u")], "Ctrl-U", "clear to the start of the field"),
        Binding([.ctrl("w")], "Ctrl-W", "delete the word before the cursor")
    ]

    static let formNavigation: [Binding] = [
        Binding([.tab, .down], "Tab/↓", "next field", hint: "next field"),
        Binding([.backTab, .up], "Shift-Tab/↑", "previous field")
    ]

    static let listMovement: [Binding] = [
        Binding([.char("j"), .down], "j/↓", "next row", hint: "move"),
        Binding([.char("k"), .up], "k/↑", "previous row"),
        Binding([.pageDown, .pageUp], "PgDn/PgUp", "a page down / up"),
        Binding([.char("g"), .home], "g/Home", "first row"),
        Binding([.char("G"), .end], "G/End", "last row")
    ]

    static let filtering: [Binding] = [
        Binding([.char("/")], "/", "filter as you type", hint: "filter"),
        Binding([.enter], "Enter", "(while filtering) keep the filter, back to the list"),
        Binding([.escape], "Esc", "(while filtering) clear the filter")
    ]

    /// Keys of every screen after login.
    public static let global: [Binding] = [
        Binding(
            [.char("1"), .char("2"), .char("3"), .char("4"), .char("5"), .char("6")], "1-6",
            "dashboard, users, secrets, audit, keys, roles"),
        Binding([.char(":")], ":", "command palette", hint: "commands"),
        Binding([.char("?"), .f(1)], "?/F1", "this help", hint: "help"),
        Binding([.char("q")], "q", "quit", hint: "quit"),
        Binding([.ctrl("c")], "Ctrl-C", "quit from anywhere")
    ]

    /// Keys the terminal loop handles itself, on every screen.
    public static let terminal: [Binding] = [
        Binding([.ctrl("z")], "Ctrl-Z", "suspend (the screen is cleared; fg comes back)"),
        Binding([.ctrl("l")], "Ctrl-L", "redraw the screen")
    ]

    /// Keys of the screen itself (without `global`).
    public static func of(_ route: Route) -> [Binding] {
        switch route {
        case .setup:
            return [Binding([.enter], "Enter", "next empty field, then create the vault", hint: "create")]
                + formNavigation
                + [
                    Binding([.escape], "Esc", "quit without creating anything", hint: "quit"),
                    Binding([.f(1)], "F1", "this help", hint: "help"),
                    Binding([.ctrl("c")], "Ctrl-C", "quit")
                ]
                + fieldEditing
        case .recovery:
            return [
                Binding([.enter], "Enter", "check the typed recovery key and continue", hint: "check"),
                Binding([.f(2)], "F2", "continue without typing it back (asks you to confirm)", hint: "skip"),
                Binding([.f(1)], "F1", "this help", hint: "help"),
                Binding([.ctrl("c")], "Ctrl-C", "quit")
            ]
                + fieldEditing
        case .login:
            return [Binding([.enter], "Enter", "log in (from the username: the password field)", hint: "log in")]
                + formNavigation
                + [
                    Binding([.escape], "Esc", "quit", hint: "quit"),
                    Binding([.f(1)], "F1", "this help", hint: "help"),
                    Binding([.ctrl("c")], "Ctrl-C", "quit")
                ]
                + fieldEditing
        case .changePassword:
            return [Binding([.enter], "Enter", "set the new password", hint: "set password")]
                + formNavigation
                + [
                    Binding([.escape], "Esc", "cancel, back to the login", hint: "cancel"),
                    Binding([.f(1)], "F1", "this help", hint: "help"),
                    Binding([.ctrl("c")], "Ctrl-C", "quit")
                ]
                + fieldEditing
        case .dashboard:
            return [
                Binding([.char("r")], "r", "reload", hint: "reload"),
                Binding([.char("v")], "v", "verify the audit chain again", hint: "verify audit"),
                Binding([.char("j"), .down], "j/↓", "scroll the warnings down"),
                Binding([.char("k"), .up], "k/↑", "scroll the warnings up"),
                Binding([.enter], "Enter", "open the screen of the first warning", hint: "open")
            ]
        case .users:
            return listMovement + filtering
                + [
                    Binding([.tab], "Tab", "switch between list and details"),
                    Binding([.enter], "Enter", "show the details pane"),
                    Binding([.escape], "Esc", "back: details -> list, clear the filter, dashboard", hint: "back"),
                    Binding([.char("r")], "r", "reload"),
                    Binding([.char("n")], "n", "new user (a temporary password is shown once)", hint: "new"),
                    Binding([.char("a")], "a", "roles of the user (only roles you may assign)", hint: "roles"),
                    Binding([.char("l")], "l", "lock the account"),
                    Binding([.char("u")], "u", "unlock (also clears a lockout after failed logins)"),
                    Binding([.char("x")], "x", "disable the account"),
                    Binding([.char("e")], "e", "enable the account"),
                    Binding([.char("A")], "A", "approve a key request: type the fingerprint they read you"),
                    Binding([.char("R")], "R", "reset the password (type the name to confirm)"),
                    Binding([.char("D")], "D", "delete the user (type the name to confirm)", hint: "delete"),
                    Binding([.char("E")], "E", "edit the email and display name", hint: "edit"),
                    Binding([.char("t")], "t", "set or clear the expiry date (a day, UTC)")
                ]
        case .secrets:
            return listMovement + filtering
                + [
                    Binding([.tab], "Tab", "switch between list and details (there j/k choose a version)", hint: "pane"),
                    Binding([.char("v"), .enter], "v/Enter", "reveal the value (audited; hides again by itself)", hint: "reveal"),
                    Binding([.char("h")], "h", "hide the value now"),
                    Binding([.escape], "Esc", "back: hide, details -> list, clear the filter, dashboard", hint: "back"),
                    Binding([.char("r")], "r", "reload"),
                    Binding([.char("n")], "n", "new secret: a typed (masked) or generated value", hint: "new"),
                    Binding([.char("N")], "N", "new version of the secret: typed or generated"),
                    Binding([.char("e")], "e", "edit the description, rotate-by date and history limit"),
                    Binding([.char("X")], "X", "delete the version chosen in the details pane (type vN)"),
                    Binding([.char("D")], "D", "delete the secret and all its versions (type the name)", hint: "delete")
                ]
        case .audit:
            return listMovement + filtering
                + [
                    Binding([.char("V"), .char("v")], "v/V", "verify the chain and its signatures", hint: "verify"),
                    Binding([.char("n")], "n", "jump to the event that failed verification"),
                    Binding([.escape], "Esc", "back: clear the filter, dashboard", hint: "back"),
                    Binding([.char("r")], "r", "reload")
                ]
        case .keys:
            return [
                Binding([.char("r")], "r", "rotate the data key: a new key, every secret version re-sealed in batches", hint: "rotate"),
                Binding([.char("R")], "R", "resume a rotation that was interrupted (the job is kept in the vault)", hint: "resume"),
                Binding([.char("K")], "K", "rotate the root key (type \"rotate\"; a new recovery key is shown once)", hint: "root key"),
                Binding([.escape], "Esc", "back to the dashboard", hint: "back")
            ]
        case .roles:
            return listMovement + filtering
                + [
                    Binding([.escape], "Esc", "back: clear the filter, dashboard", hint: "back"),
                    Binding([.char("r")], "r", "reload"),
                    Binding([.char("n")], "n", "new role: name, description, permissions you hold", hint: "new"),
                    Binding([.char("e")], "e", "edit the role's description and permissions", hint: "edit"),
                    Binding([.char("D")], "D", "delete the role, when nobody holds it (type the name)", hint: "delete")
                ]
        }
    }

    /// Keys of the help overlay itself.
    public static let overlayKeys: [Key] = [.escape, .char("?"), .f(1), .char("q"), .enter]
}
