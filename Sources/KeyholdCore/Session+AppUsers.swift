import KeyholdCrypto
import KeyholdStore

// Accounts of a web application (docs/APPLICATIONS.md): users imported with the
// password hashes the application already has, and the legacy-hash report.
// How an application reads them back: docs/APPLICATIONS.md.

/// One account to import, with the hash the application already stores.
public struct AppUserEntry: Sendable, Equatable {
    public var username: String
    public var email: String?
    public var displayName: String
    /// Argon2id or Argon2i PHC string, a bcrypt hash or a Werkzeug hash; stored exactly as given.
    public var passwordHash: String
    /// Roles for this account alone (on top of those given for the whole import).
    public var roles: [String]
    /// Where it came from, for messages (e.g. `line 12`, `users[3]`).
    public var origin: String

    public init(
        username: String, email: String? = nil, displayName: String = "", passwordHash: String,
        roles: [String] = [], origin: String
    ) {
        self.username = username; self.email = email; self.displayName = displayName
        self.passwordHash = passwordHash; self.roles = roles; self.origin = origin
    }
}

/// An entry an import refuses: where, which field, and why (never the hash itself).
public struct AppUserRejection: Sendable, Equatable, CustomStringConvertible {
    public var origin: String
    public var field: String
    public var message: String
    public var description: String { "\(origin): \(message)" }
}

/// The outcome of checking an import before anything is written.
public struct AppUserReview: Sendable {
    public var accepted: [AppUserEntry]
    public var rejected: [AppUserRejection]
}

/// The outcome of an import.
public struct AppUserImportResult: Sendable, Equatable {
    public var imported = 0
    /// Imported hashes flagged legacy (not Argon2id at the vault's cost), by scheme.
    public var legacy: [String: Int] = [:]
    /// Entries left out (only with `skipBad`).
    public var rejected: [AppUserRejection] = []
    public var legacyCount: Int { legacy.values.reduce(0, +) }
}

/// A finding of `check` that is not an integrity problem.
public struct CheckWarning: Sendable, Equatable {
    public var area: String
    public var message: String
}

extension Session {
    /// The message of a refused bcrypt login (console and command line).
    public static let bcryptLoginRefusal =
        "legacy bcrypt hash: the application can still verify it; "
        + "an administrator can reset the password (keyhold user reset NAME) to move the account to Argon2id"

    /// Checks every entry as the import will: username, e-mail, display name,
    /// hash form, names given twice (without regard to case), names already
    /// in the vault, unknown roles. Roles need roles.manage and, for each role,
    /// every permission it carries (no escalation); those failures are thrown,
    /// not listed. Writes nothing.
    public func reviewAppUsers(_ entries: [AppUserEntry], roles: [String] = []) throws -> AppUserReview {
        try read(requires: .usersWrite, action: "user.import") { tx, perms in
            try reviewAppUsers(tx, perms, entries, roles: roles)
        }
    }

    private func reviewAppUsers(
        _ tx: Tx, _ perms: Set<Permission>, _ entries: [AppUserEntry],
        roles: [String]
    ) throws -> AppUserReview {
        var roleCache: [String: RoleRow?] = [:]
        func role(_ name: String) throws -> RoleRow? {
            if let cached = roleCache[name.lowercased()] { return cached }
            let r = try tx.role(named: name)
            roleCache[name.lowercased()] = r
            return r
        }
        func requireAssignable(_ r: RoleRow) throws {
            let beyond = Set(names: r.permissions).subtracting(perms)
            if !beyond.isEmpty {
                throw KeyholdError.refused(
                    "role \(r.name) carries \(beyond.sorted().map(\.rawValue).joined(separator: ", ")), which you do not hold")
            }
        }
        if !roles.isEmpty || entries.contains(where: { !$0.roles.isEmpty }), !perms.contains(.rolesManage) {
            throw KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)
        }
        for name in roles {
            guard let r = try role(name) else { throw KeyholdError.notFound(kind: "role", name: name) }
            try requireAssignable(r)
        }
        var accepted: [AppUserEntry] = []
        var rejected: [AppUserRejection] = []
        var seen: [String: String] = [:]
        for e in entries {
            func reject(_ field: String, _ message: String) {
                rejected.append(AppUserRejection(origin: e.origin, field: field, message: message))
            }
            do {
                _ = try Validate.username(e.username)
                _ = try Validate.email(e.email)
                _ = try Validate.displayName(e.displayName)
            } catch {
                reject(error.field, error.message)
                continue
            }
            do { _ = try PasswordHash.checkImported(e.passwordHash) } catch {
                let why = if case CryptoError.malformed(let m) = error { m } else { "not readable" }
                reject("password hash", "password hash: \(why)")
                continue
            }
            if let first = seen[e.username.lowercased()] {
                reject("username", "username: \(Validate.visible(e.username)) is given twice (first at \(first))")
                continue
            }
            seen[e.username.lowercased()] = e.origin
            if try tx.user(named: e.username) != nil {
                reject(
                    "username",
                    "username: a user named \(Validate.visible(e.username)) already exists (names are compared without regard to case)")
                continue
            }
            var unknown: String?
            for name in e.roles {
                guard let r = try role(name) else { unknown = name; break }
                try requireAssignable(r)
            }
            if let unknown {
                reject("roles", "roles: no role named \(Validate.visible(unknown))")
                continue
            }
            accepted.append(e)
        }
        return AppUserReview(accepted: accepted, rejected: rejected)
    }

    /// Imports application accounts with their existing password hashes, kept
    /// exactly as given. Every entry is checked first (`reviewAppUsers`); a bad
    /// one fails the whole import, naming its origin, unless `skipBad`. Then
    /// one transaction and one audit event (`user.import`: count, digest of the
    /// new user ids, legacy counts, roles) per `batchSize` entries.
    ///
    /// Imported accounts have no key pair (Keyhold never saw their password):
    /// one is made at their first Keyhold login. A role that confers key
    /// access leaves a pending grant, completed by a key holder's session.
    /// No password must be changed: the password is the user's own.
    @discardableResult
    public func importAppUsers(
        _ entries: [AppUserEntry], roles: [String] = [], skipBad: Bool = false,
        batchSize: Int = defaultBatchSize,
        progress: ProgressHandler? = nil
    ) throws -> AppUserImportResult {
        let review = try reviewAppUsers(entries, roles: roles)
        if let first = review.rejected.first, !skipBad {
            let more = review.rejected.count - 1
            throw KeyholdError.invalid(
                ValidationError(
                    field: first.field, rule: .importEntry,
                    message: "\(first.origin): \(first.message)"
                        + (more > 0 ? " (and \(more) more bad entr\(more == 1 ? "y" : "ies"))" : "")
                        + "; nothing was imported"))
        }
        var result = AppUserImportResult(rejected: review.rejected)
        let accepted = review.accepted
        let size = max(1, batchSize)
        for start in stride(from: 0, to: accepted.count, by: size) {
            let batch = accepted[start..<min(start + size, accepted.count)]
            let legacy = try perform(.userImport, target: "users", requires: .usersWrite) { op -> [String: Int] in
                let v = try op.tx.requiredVault()
                let cost = KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit)
                var ids: [Int64] = []
                var ownRoles: [String] = []
                var legacy: [String: Int] = [:]
                var pending = 0
                for e in batch {
                    // Re-checked here: someone may have added the name since the review.
                    if try op.tx.user(named: e.username) != nil {
                        throw KeyholdError.conflict(
                            "\(e.origin): a user named \(e.username) already exists (names are compared without regard to case)")
                    }
                    let scheme = try Vault.wrap { try PasswordHash.checkImported(e.passwordHash) }
                    var row = UserRow(
                        username: e.username, email: try Vault.valid { try Validate.email(e.email) },
                        displayName: e.displayName, passwordHash: e.passwordHash, mustChange: false,
                        passwordExpiresAt: nil, createdAt: op.now, updatedAt: op.now)
                    row.id = try op.tx.insertUser(row)
                    for name in roles + e.roles {
                        guard op.permissions.contains(.rolesManage) else {
                            throw KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)
                        }
                        guard let role = try op.tx.role(named: name) else { throw KeyholdError.notFound(kind: "role", name: name) }
                        try requireAssignable(op, role)
                        try op.tx.addUserRole(userID: row.id, roleID: role.id)
                    }
                    // Roles of this entry alone: the log's replay must know every role an account was given.
                    if !e.roles.isEmpty { ownRoles.append("\(row.id):\(e.roles.joined(separator: ","))") }
                    if try syncKeyAccess(&op, userID: row.id) == "pending" { pending += 1 }
                    if PasswordHash.isLegacy(e.passwordHash, cost: cost) { legacy[scheme.rawValue, default: 0] += 1 }
                    ids.append(row.id)
                }
                op.details = [
                    "count": .int(Int64(ids.count)), "digest": .string(AuditChain.digest(ids)),
                    "user_ids": .strings(AuditChain.ranges(ids)), "legacy": .int(Int64(legacy.values.reduce(0, +)))
                ]
                if !roles.isEmpty { op.details["roles"] = .strings(roles) }
                if !ownRoles.isEmpty { op.details["user_roles"] = .strings(ownRoles) }
                if pending > 0 { op.details["pending_grants"] = .int(Int64(pending)) }
                return legacy
            }
            result.imported += batch.count
            result.legacy.merge(legacy, uniquingKeysWith: +)
            progress?(min(start + size, accepted.count), accepted.count)
        }
        return result
    }

    /// Legacy password hashes, as `check` reports them: one warning naming how
    /// many of each scheme and the first few users. Needs users.read (else nil).
    func legacyHashWarning() throws -> CheckWarning? {
        guard try permissions().contains(.usersRead) else { return nil }
        let rows = try read(requires: .usersRead, action: "check") { tx, _ in try tx.legacyHashUsers() }
        guard !rows.isEmpty else { return nil }
        var counts: [String: Int] = [:]
        for r in rows { counts[PasswordHash.scheme(of: r.passwordHash).map(describe) ?? "unknown", default: 0] += 1 }
        let kinds = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let shown = rows.prefix(10).map { Validate.visible($0.username) }.joined(separator: ", ")
        let more = rows.count > 10 ? " and \(rows.count - 10) more" : ""
        var message =
            "\(rows.count) user\(rows.count == 1 ? " has a legacy password hash" : "s have legacy password hashes") "
            + "(\(kinds)): \(shown)\(more). Argon2 and Werkzeug hashes are replaced by Argon2id at the vault's cost at each user's next "
            + "successful login"
        if counts["bcrypt"] != nil {
            message +=
                "; bcrypt accounts cannot log in to Keyhold (the application still verifies them): reset their passwords to move them"
        }
        return CheckWarning(area: "users", message: message)
    }

    private func describe(_ scheme: PasswordHashScheme) -> String {
        scheme == .argon2id ? "argon2id below the vault's cost" : scheme.rawValue
    }
}
