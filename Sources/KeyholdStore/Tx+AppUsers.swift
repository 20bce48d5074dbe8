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
    private func appUserRow(_ r: Row) -> AppUserRow {
        func list(_ s: String?) -> [String] { (s ?? "").split(separator: ",").map(String.init) }
        return AppUserRow(id: r["id"], username: r["username"], email: r["email"], displayName: r["display_name"],
                          passwordHash: r["password_hash"], roles: list(r["roles"]), permissions: list(r["permissions"]),
                          active: r["active"], locked: r["locked"], disabled: r["disabled"], expired: r["expired"],
                          mustChange: r["must_change"], legacyHash: r["legacy_hash"])
    }

    /// One row of the `app_users` view by username, without regard to case.
    public func appUser(named name: String) throws -> AppUserRow? {
        try Row.fetchOne(db, sql: "SELECT * FROM app_users WHERE username = ? COLLATE NOCASE", arguments: [name]).map(appUserRow)
    }

    /// Users whose `app_users.legacy_hash` is 1, by username: id, name and stored hash.
    public func legacyHashUsers() throws -> [(id: Int64, username: String, passwordHash: String)] {
        try Row.fetchAll(db, sql: """
            SELECT id, username, password_hash FROM app_users WHERE legacy_hash = 1 ORDER BY username COLLATE NOCASE
            """).map { ($0["id"], $0["username"], $0["password_hash"]) }
    }
}
