import GRDB

/// One row of the `app_users` view (schema.sql, migration 3): what a web
/// application reads to verify a login and check a permission.
public struct AppUserRow: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var email: String?
    public var displayName: String
    public var passwordHash: String
    /// Role names, sorted.
    public var roles: [String]
    /// Permission names, sorted.
    public var permissions: [String]
    public var active: Bool
    public var locked: Bool
    public var disabled: Bool
    public var expired: Bool
    public var mustChange: Bool
    public var legacyHash: Bool
}

extension Tx {
    /// One row of the `app_users` view by username, without regard to case.
    public func appUser(named name: String) throws -> AppUserRow? {
        try mapRow(db.cachedStatement(sql: "SELECT * FROM app_users WHERE username = ? COLLATE NOCASE"), [name], AppUserRow.init(row:))
    }

    /// Users whose `app_users.legacy_hash` is 1, by username: id, name and stored hash.
    public func legacyHashUsers() throws -> [(id: Int64, username: String, passwordHash: String)] {
        try mapRows(
            db.cachedStatement(
                sql: """
                    SELECT id, username, password_hash FROM app_users WHERE legacy_hash = 1 ORDER BY username COLLATE NOCASE
                    """)
        ) { row in
            let c = Columns(row, "app_users")
            return (try c.value(0), try c.value(1), try c.value(2))
        }
    }
}

extension AppUserRow {
    /// From `SELECT *` of the view, by name (its columns are only ever added: docs/APPLICATIONS.md).
    init(row: Row) throws {
        let c = Columns(row, "app_users")
        func list(_ s: String?) -> [String] { (s ?? "").split(separator: ",").map(String.init) }
        self.init(
            id: try c.value("id"), username: try c.value("username"), email: try c.optional("email"),
            displayName: try c.value("display_name"), passwordHash: try c.value("password_hash"),
            roles: list(try c.optional("roles")), permissions: list(try c.optional("permissions")),
            active: try c.value("active"), locked: try c.value("locked"), disabled: try c.value("disabled"),
            expired: try c.value("expired"), mustChange: try c.value("must_change"), legacyHash: try c.value("legacy_hash"))
    }
}
