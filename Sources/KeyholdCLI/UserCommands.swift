import ArgumentParser
import Foundation
import KeyholdCore

/// `keyhold user ...`
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage user accounts.",
        subcommands: [
            Add.self, Edit.self, List.self, Show.self, Lock.self, Unlock.self, Disable.self, Enable.self,
            Expire.self, Passwd.self, Reset.self, Delete.self, GrantRole.self, RevokeRole.self, UserImport.self
        ]
    )

    /// JSON shape of a user (docs/CLI.md).
    static func json(_ u: UserInfo, now: Int64) -> [String: Any] {
        [
            "username": u.username, "email": u.email ?? NSNull(), "display_name": u.displayName,
            "roles": u.roles, "permissions": u.permissions.sorted().map(\.rawValue),
            "status": u.status(at: now), "locked": u.locked, "disabled": u.disabled,
            "locked_until": Output.jsonTime(u.lockedUntil), "expires_at": Output.jsonTime(u.expiresAt),
            "must_change_password": u.mustChangePassword, "failed_logins": u.failedLogins,
            "key_access": u.keyAccess.rawValue, "created_at": Output.jsonTime(u.createdAt),
            "last_login_at": Output.jsonTime(u.lastLoginAt),
            "password_scheme": u.passwordScheme, "legacy_hash": u.legacyHash, "has_key_pair": u.hasKeyPair
        ]
    }

    /// Prints a temporary password once, to stdout alone so it can be captured. Called by the
    /// core before its transaction commits: when the write fails, the `OutputFailure` says
    /// `unchanged` (what was therefore not done) and the transaction is rolled back.
    /// Runs `body`, which shows a temporary password inside its transaction (`show`, called
    /// once it is shown); when the commit then fails, says that the password shown is void.
    static func temporaryPasswordVoidIfFailed<T>(_ unchanged: String, _ body: (_ shown: @escaping () -> Void) throws -> T) throws -> T {
        try OneTimeSecret.voidIfFailed("the temporary password shown was not saved, so \(unchanged): disregard it", body)
    }

    static func showTemporaryPassword(_ temp: SecureBytes, for name: String, json: Bool, unchanged: String) throws {
        do {
            if json {
                try Output.printJSON(["username": name, "temporary_password": JSONSecret(temp), "expires_in_hours": 24])
            } else {
                Terminal.err(
                    "Temporary password for \(Validate.visible(name)) (shown once; it expires and must be changed at first login):")
                try Terminal.outSecret("", temp, "\n")
            }
        } catch var o as OutputFailure {
            o.consequence = "the temporary password could not be shown, so \(unchanged)"
            throw o
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user with a generated temporary password (shown once).")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(help: "Username: 3-32 of letters, digits, '.', '_', '-'.") var username: String
        @Option(help: "E-mail address.") var email: String?
        @Option(name: .customLong("display-name"), help: "Display name.") var displayName: String = ""
        @Option(name: .customLong("role"), help: "A role to give (repeatable).", completion: .custom(Completions.roles))
        var roles: [String] = []

        func run() throws {
            try runReporting {
                let s = try session.session()
                _ = try UserCommand.temporaryPasswordVoidIfFailed("the user was not created") { shown in
                    try s.createUser(username: username, email: email, displayName: displayName, roles: roles) { temp in
                        try UserCommand.showTemporaryPassword(
                            temp, for: username, json: output.json,
                            unchanged: "the user was not created")
                        shown()
                    }
                }
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a user's e-mail or display name.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        @Option(help: "New e-mail address (empty to clear).") var email: String?
        @Option(name: .customLong("display-name")) var displayName: String?

        func run() throws {
            try runReporting {
                guard email != nil || displayName != nil else {
                    throw ArgumentParser.ValidationError("nothing to change: give --email or --display-name")
                }
                let e: String?? = email.map { (v: String) -> String? in v.isEmpty ? nil : v }
                try session.session().editUser(username, email: e, displayName: displayName)
                Terminal.err("Updated \(Validate.visible(username)).")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users, optionally filtered.",
            discussion: "Printed page by page as read (docs/CLI.md, \"Listings\"), by username without regard to case.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "Only users whose name, e-mail or display name contains this text.") var filter: String?
        @Option(help: "Only users with this role.") var role: String?

        func run() throws {
            try runReporting {
                let s = try session.session()
                let query = UserFilter(name: filter.map { .contains($0) }, role: role)
                let now = Clock.system.now()
                let pages = { (at: PagePosition<String>) in try s.userPage(query, at: at, limit: Listing.pageSize) }
                if output.json {
                    var list = JSONListStream(key: "users")
                    try Listing.each(pages) { try list.write($0.map { UserCommand.json($0, now: now) }) }
                    try list.finish()
                    return
                }
                var table = TableStream(["USERNAME", "STATUS", "ROLES", "KEY ACCESS", "LAST LOGIN"])
                try Listing.each(pages) { users in
                    try table.write(
                        users.map {
                            [
                                $0.username,
                                $0.status(at: now) + ($0.mustChangePassword ? ", must change" : "")
                                    + ($0.legacyHash ? ", legacy hash" : ""),
                                $0.roles.joined(separator: ","), $0.keyAccess.rawValue, Output.time($0.lastLoginAt)
                            ]
                        })
                }
                try table.finish()
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(completion: .custom(Completions.usernames)) var username: String

        func run() throws {
            try runReporting {
                let u = try session.session().user(named: username)
                let now = Clock.system.now()
                if output.json { try Output.printJSON(UserCommand.json(u, now: now)); return }
                try Terminal.out(
                    Output.table(
                        ["FIELD", "VALUE"],
                        [
                            ["username", u.username], ["email", u.email ?? "-"], ["display name", u.displayName],
                            ["status", u.status(at: now)], ["roles", u.roles.joined(separator: ", ")],
                            ["permissions", u.permissions.sorted().map(\.rawValue).joined(separator: ", ")],
                            ["key access", u.keyAccess.rawValue], ["must change password", u.mustChangePassword ? "yes" : "no"],
                            ["password hash", u.passwordScheme + (u.legacyHash ? " (legacy: not Argon2id at the vault's cost)" : "")],
                            ["key pair", u.hasKeyPair ? "yes" : "no (made at the first Keyhold login)"],
                            ["failed logins", String(u.failedLogins)], ["locked until", Output.time(u.lockedUntil)],
                            ["expires", Output.time(u.expiresAt)], ["created", Output.time(u.createdAt)],
                            ["last login", Output.time(u.lastLoginAt)]
                        ]))
            }
        }
    }

    /// The shape of the one-argument account actions.
    struct Action {
        static func run(
            _ options: SessionOptions, _ username: String, done: String,
            _ body: (Session) throws -> Void
        ) throws {
            try runReporting {
                try body(try options.session())
                Terminal.err("\(Validate.visible(username)): \(done).")
            }
        }
    }

    struct Lock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lock an account (no login until unlocked).")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        func run() throws { try Action.run(session, username, done: "locked") { try $0.lockUser(username) } }
    }

    struct Unlock: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unlock an account and clear failed-login lockout.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        func run() throws { try Action.run(session, username, done: "unlocked") { try $0.unlockUser(username) } }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an account.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        func run() throws { try Action.run(session, username, done: "disabled") { try $0.disableUser(username) } }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled account.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        func run() throws { try Action.run(session, username, done: "enabled") { try $0.enableUser(username) } }
    }

    struct Expire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set when an account expires.",
            discussion: """
                Refused (exit 66) when it would take away the last active user without an expiry date \
                who holds roles.manage and keys.manage: an account that expires will go away, and the \
                vault needs someone to manage it.
                """)
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        @Option(help: "Expiry as YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (UTC), 'now', or 'never'.") var at: String

        func validate() throws { _ = try DateArgument.parse(at, field: "--at") }

        func run() throws {
            let time = try DateArgument.parse(at, field: "--at")
            try Action.run(session, username, done: time.map { "expires \(Clock.format($0))" } ?? "never expires") {
                try $0.setExpiry(username, at: time)
            }
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change your own password (the current one is required).",
            discussion: """
                Inputs, in this order: the username (KEYHOLD_USER, else a prompt), the current password \
                (KEYHOLD_PASSWORD, else a no-echo prompt), the new password (KEYHOLD_NEW_PASSWORD, else a \
                no-echo prompt, asked twice on a terminal). Without a terminal each prompt reads one line of \
                standard input, so a script may pipe those not set in the environment, one per line, in that order.
                """)
        @OptionGroup var session: SessionOptions

        func run() throws {
            try runReporting {
                // One login with the current password (counted against lockout like any login), then the change.
                let vault = try Vault.open(at: session.vault.path, options: session.vault.options)
                let user = try Credentials.username()
                let current = try Credentials.password(prompt: "Current password: ")
                switch try vault.login(username: user, password: current) {
                case .session(let s):
                    // The change is this command's input, not its login: none given is a usage error (64).
                    try s.changePassword(current: current, new: try Credentials.newPassword(missingCode: Exit.usage))
                case .mustChangePassword(let change):
                    // A temporary password: the forced change is this change.
                    _ = try change.complete(newPassword: try Credentials.newPassword(missingCode: Exit.usage))
                }
                Terminal.err("Password changed.")
            }
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reset a user's password to a generated temporary one (shown once).")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(completion: .custom(Completions.usernames)) var username: String

        func run() throws {
            try runReporting {
                let s = try session.session()
                // The stored spelling (names match without regard to case), for --json consumers.
                let name = (try? s.user(named: username).username) ?? username
                _ = try UserCommand.temporaryPasswordVoidIfFailed("the password was not reset") { shown in
                    try s.resetPassword(username) { temp in
                        try UserCommand.showTemporaryPassword(
                            temp, for: name, json: output.json,
                            unchanged: "the password was not reset")
                        shown()
                    }
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user (their public keys stay for the audit log).")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        @Flag(help: "Do not ask to type the name back (needed without a terminal).") var yes = false

        func run() throws {
            try runReporting {
                try Confirm.typed(username, action: "delete user", skip: yes)
                let outcome = try session.session().deleteUser(username)
                Terminal.err("\(Validate.visible(username)): deleted.")
                if !outcome.checkpointed { Terminal.err(Confirm.checkpointWarning) }
            }
        }
    }

    struct GrantRole: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "grant-role", abstract: "Give a user a role.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        @Argument(completion: .custom(Completions.roles)) var role: String
        func run() throws {
            try Action.run(session, username, done: "now has role \(Validate.visible(role))") { try $0.grantRole(username, role: role) }
        }
    }

    struct RevokeRole: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-role", abstract: "Take a role from a user.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.usernames)) var username: String
        @Argument(completion: .custom(Completions.roles)) var role: String
        func run() throws {
            try Action.run(session, username, done: "no longer has role \(Validate.visible(role))") {
                try $0.revokeRole(username, role: role)
            }
        }
    }
}

/// Dates on the command line: the words `now` and `never` (or `none`), else a date as
/// `Validate.date` reads it (`YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`, docs/CLI.md "Dates and numbers").
enum DateArgument {
    /// Unix ms, or nil for `never`; a usage error (exit 64) naming the option and the rule otherwise.
    static func parse(_ text: String, field: String) throws -> Int64? {
        switch text.lowercased() {
        case "never", "none": return nil
        case "now": return Clock.system.now()
        default: break
        }
        do {
            return try Validate.date(text, field: field)
        } catch {
            throw ArgumentParser.ValidationError(error.rule == .format ? error.message + "; or 'now' or 'never'" : error.message)
        }
    }
}

/// Confirmation of destructive actions: on a terminal, type the name to go on.
enum Confirm {
    static let checkpointWarning = """
        warning: another process holds the vault open, so the write-ahead log could not be truncated yet; \
        deleted bytes may remain in the -wal file until it is. Run `keyhold check` when others have closed it.
        """

    /// Without a terminal nobody can type the name back: the command needs `--yes` (`skip`),
    /// else it is a usage error (exit 64) and nothing is changed. Called before logging in,
    /// so a script that forgot `--yes` costs no login.
    static func requireYes(_ skip: Bool, action: String, name: String) throws {
        guard !skip, !Terminal.stdinIsTTY else { return }
        throw ArgumentParser.ValidationError(
            "\(action) \(Validate.visible(name)): there is no terminal to confirm on, so give --yes to say that is intended; nothing was changed"
        )
    }

    /// On a terminal, asks for `name` to be typed back (exit 1 on anything else); without one,
    /// needs `skip` (`--yes`). `what` names what is typed, for the prompt.
    static func typed(_ name: String, action: String, skip: Bool, what: String = "its name") throws {
        guard !skip else { return }
        try requireYes(skip, action: action, name: name)
        let typed = try Terminal.ask("To \(action) \(Validate.visible(name)), type \(what) (anything else cancels): ")
        guard typed == name else {
            Terminal.err("Cancelled; nothing was changed.")
            throw ExitCode(Exit.failure)
        }
    }
}
