import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// The guards (docs/SECURITY.md), proven over every combination of acting role,
// action and target role.
//
// Every test keeps its own model of the vault (users, their roles and states,
// role permissions) built from what the test itself did, and an independent
// oracle that says from first principles what each action must do:
//
//   allowed iff the actor holds the permission the action needs
//           AND the target's permissions are a subset of the actor's
//           AND (grant) the role's permissions are a subset of the actor's
//           AND it is not lock/disable/expire-now/reset/delete of oneself
//           AND afterwards some active user with no expiry date still holds roles.manage
//               and keys.manage (an account with an expiry date is one that will go away).
//
// Each (actor, action, target) triple is then run against the core; the
// outcome must match the oracle, an allowed action must have its effect (the
// stored users, roles and grants equal the updated model; one audit event by
// the actor on the target), and a refused one must change nothing at all
// (every table and the audit log are byte-for-byte as before).

// MARK: - The rules, stated independently of the core

private enum Spec {
    /// The six built-in roles, written out here rather than read from the core.
    static let builtinRoles = ["admin", "security-officer", "operator", "helpdesk", "auditor", "user"]
    static let builtinPermissions: [String: Set<Permission>] = [
        "admin": [.usersRead, .usersWrite, .rolesManage, .secretsList, .secretsRead, .secretsWrite, .keysManage, .auditRead],
        "security-officer": [.keysManage, .auditRead, .secretsList, .usersRead],
        "operator": [.secretsList, .secretsRead, .secretsWrite, .usersRead],
        "helpdesk": [.usersRead, .usersWrite],
        "auditor": [.auditRead, .usersRead, .secretsList],
        "user": []
    ]
    /// A custom role that may manage roles and accounts but holds no keys: the
    /// only kind of actor for whom "permissions beyond one's own" can arise on
    /// role management (admin holds everything).
    static let roleManager = "role-manager"
    static let roleManagerPermissions: Set<Permission> = [.rolesManage, .usersRead, .usersWrite]
    /// Built-in roles plus the custom role manager.
    static let actingRoles = builtinRoles + [roleManager]

    /// Some active user must hold both.
    static let stewardship: Set<Permission> = [.rolesManage, .keysManage]
    /// Holders of any of these are entitled to the root key.
    static let keyAccess: Set<Permission> = [.secretsRead, .secretsWrite, .keysManage]

    static let day: Int64 = 86_400_000

    /// Short tags keep generated usernames within 32 characters.
    static func tag(_ role: String) -> String {
        switch role {
        case "admin": "adm"
        case "security-officer": "sec"
        case "operator": "opr"
        case "helpdesk": "hlp"
        case "auditor": "aud"
        case "user": "usr"
        case roleManager: "rmg"
        default: String(role.prefix(6))
        }
    }
}

// MARK: - Model

private struct ModelUser: Equatable, CustomStringConvertible {
    var roles: Set<String>
    var locked = false
    var disabled = false
    var expiresAt: Int64? = nil
    var displayName = ""
    var mustChange = true

    var description: String {
        "roles=\(roles.sorted()) locked=\(locked) disabled=\(disabled) expires=\(expiresAt.map(String.init) ?? "-") "
            + "name=\(displayName) mustChange=\(mustChange)"
    }
}

private struct Model {
    var rolePerms: [String: Set<Permission>]
    var users: [String: ModelUser]

    func perms(of name: String) -> Set<Permission> {
        (users[name]?.roles ?? []).reduce(into: Set<Permission>()) { $0.formUnion(rolePerms[$1] ?? []) }
    }

    func members(of role: String) -> Int { users.values.filter { $0.roles.contains(role) }.count }

    func isActive(_ name: String, now: Int64) -> Bool {
        guard let u = users[name] else { return false }
        return !u.locked && !u.disabled && !(u.expiresAt.map { $0 <= now } ?? false)
    }

    /// The stewardship rule: "no action may leave the vault without an active user who holds roles.manage
    /// and keys.manage". An account with an expiry date, even a future one, will go away and so does
    /// not count: the vault would be left without one later, with nobody acting.
    /// 2: an active steward without an expiry date; 1: only ones whose accounts expire; 0: none.
    func stewardLevel(now: Int64) -> Int {
        let active = users.keys.filter { isActive($0, now: now) && Spec.stewardship.isSubset(of: perms(of: $0)) }
        return active.contains { users[$0]?.expiresAt == nil } ? 2 : active.isEmpty ? 0 : 1
    }

    /// After `change`: still an active steward, and not fewer kept for good than before.
    func staysStewarded(after change: Model, now: Int64) -> Bool {
        let level = change.stewardLevel(now: now)
        return level >= 1 && level >= stewardLevel(now: now)
    }

    /// Users who must hold a key grant (sealed or pending): a role giving key access, and an
    /// active account (disabled, locked and expired users receive nothing and lose their grant).
    func entitled(now: Int64) -> Set<String> {
        Set(users.keys.filter { isActive($0, now: now) && !perms(of: $0).isDisjoint(with: Spec.keyAccess) })
    }

    mutating func apply(_ a: UserAction, to name: String, now: Int64) {
        switch a {
        case .edit: users[name]?.displayName = UserAction.editedName
        case .lock: users[name]?.locked = true
        case .unlock: users[name]?.locked = false
        case .disable: users[name]?.disabled = true
        case .enable: users[name]?.disabled = false
        case .expireNow: users[name]?.expiresAt = now
        case .expireLater: users[name]?.expiresAt = now + Spec.day
        case .clearExpiry: users[name]?.expiresAt = nil
        case .resetPassword: users[name]?.mustChange = true
        case .delete: users[name] = nil
        case .grant(let r): users[name]?.roles.insert(r)
        case .revoke(let r): users[name]?.roles.remove(r)
        }
    }

    mutating func apply(_ a: RoleAction) {
        switch a {
        case .create(let name, let p): rolePerms[name] = p
        case .describe: break
        case .setPerms(let name, let p): rolePerms[name] = p
        case .delete(let name): rolePerms[name] = nil
        }
    }
}

// MARK: - Actions

private enum UserAction: Hashable, CustomStringConvertible {
    case edit, lock, unlock, disable, enable, expireNow, expireLater, clearExpiry, resetPassword, delete
    case grant(String), revoke(String)

    static let editedName = "Edited by a guard test"
    /// The account actions (users.write).
    static let account: [UserAction] = [
        .edit, .lock, .unlock, .disable, .enable, .expireNow, .expireLater,
        .clearExpiry, .resetPassword, .delete
    ]

    var needs: Permission {
        switch self {
        case .grant, .revoke: .rolesManage
        default: .usersWrite
        }
    }

    /// Nobody changes their own roles, lock state, expiry, password (by reset) or existence:
    /// only their e-mail and display name (their password through `changePassword`).
    var refusedOnSelf: Bool { self != .edit }

    /// Whether the target must be strictly below the actor (a peer may not), not only no higher.
    var needsStrictlyBelow: Bool { self != .edit }

    var auditAction: String {
        switch self {
        case .edit: "user.edit"
        case .lock: "user.lock"
        case .unlock: "user.unlock"
        case .disable: "user.disable"
        case .enable: "user.enable"
        case .expireNow, .expireLater, .clearExpiry: "user.expire"
        case .resetPassword: "user.reset-password"
        case .delete: "user.delete"
        case .grant: "user.grant-role"
        case .revoke: "user.revoke-role"
        }
    }

    var description: String {
        switch self {
        case .grant(let r): "grant(\(r))"
        case .revoke(let r): "revoke(\(r))"
        default:
            "\(auditAction.dropFirst(5))"
                + (self == .expireLater ? "(+1d)" : self == .clearExpiry ? "(never)" : self == .expireNow ? "(now)" : "")
        }
    }

    /// Runs the action as `s`.
    func run(_ s: Session, on target: String, now: Int64) throws {
        switch self {
        case .edit: try s.editUser(target, displayName: UserAction.editedName)
        case .lock: try s.lockUser(target)
        case .unlock: try s.unlockUser(target)
        case .disable: try s.disableUser(target)
        case .enable: try s.enableUser(target)
        case .expireNow: try s.setExpiry(target, at: now)
        case .expireLater: try s.setExpiry(target, at: now + Spec.day)
        case .clearExpiry: try s.setExpiry(target, at: nil)
        case .resetPassword: _ = try s.resetPassword(target)  // the temporary password is dropped unseen
        case .delete: _ = try s.deleteUser(target)
        case .grant(let r): try s.grantRole(target, role: r)
        case .revoke(let r): try s.revokeRole(target, role: r)
        }
    }
}

private enum RoleAction: CustomStringConvertible {
    case create(String, Set<Permission>)
    case describe(String)
    case setPerms(String, Set<Permission>)
    case delete(String)

    static let newDescription = "Described by a guard test"

    var roleName: String {
        switch self {
        case .create(let n, _), .describe(let n), .setPerms(let n, _), .delete(let n): n
        }
    }

    var auditAction: String {
        switch self {
        case .create: "role.create"
        case .describe, .setPerms: "role.edit"
        case .delete: "role.delete"
        }
    }

    var description: String {
        switch self {
        case .create(let n, let p): "createRole(\(n), \(p.sorted().map(\.rawValue)))"
        case .describe(let n): "editRole(\(n), description)"
        case .setPerms(let n, let p): "editRole(\(n), \(p.sorted().map(\.rawValue)))"
        case .delete(let n): "deleteRole(\(n))"
        }
    }

    func run(_ s: Session) throws {
        switch self {
        case .create(let n, let p): try s.createRole(n, permissions: p)
        case .describe(let n): try s.editRole(n, description: RoleAction.newDescription)
        case .setPerms(let n, let p): try s.editRole(n, permissions: p)
        case .delete(let n): try s.deleteRole(n)
        }
    }
}

// MARK: - Outcomes and the oracle

private enum Outcome: Hashable, CustomStringConvertible {
    case allowed
    case denied(Permission)
    case refused
    case conflict
    case notFound
    case sessionEnded
    case other(String)

    var description: String {
        switch self {
        case .allowed: "allowed"
        case .denied(let p): "permissionDenied(\(p.rawValue))"
        case .refused: "refused"
        case .conflict: "conflict"
        case .notFound: "notFound"
        case .sessionEnded: "sessionEnded"
        case .other(let s): "other(\(s))"
        }
    }
}

/// Classifies what `body` did. Error descriptions never carry passwords or secret values.
private func outcome(_ body: () throws -> Void) -> Outcome {
    do {
        try body()
        return .allowed
    } catch let e as KeyholdError {
        switch e {
        case .permissionDenied(_, let p): return .denied(p)
        case .refused: return .refused
        case .conflict: return .conflict
        case .notFound: return .notFound
        case .sessionEnded: return .sessionEnded
        default: return .other(e.description)
        }
    } catch {
        return .other(String(describing: type(of: error)))
    }
}

/// What an account or role-assignment action must do, from first principles.
private func expected(_ m: Model, actor: String, _ a: UserAction, target: String, now: Int64) -> Outcome {
    guard m.isActive(actor, now: now) else { return .sessionEnded }
    let mine = m.perms(of: actor)
    guard mine.contains(a.needs) else { return .denied(a.needs) }
    guard let t = m.users[target] else { return .notFound }
    if actor == target && a.refusedOnSelf { return .refused }
    let theirs = m.perms(of: target)
    guard theirs.isSubset(of: mine) else { return .refused }  // no escalation: manage only "smaller" users
    // Changing someone's state needs more than they hold: a peer may not, unless one holds everything.
    if a.needsStrictlyBelow, theirs == mine, mine != Set(Permission.allCases) { return .refused }
    switch a {
    case .grant(let r):
        guard let rp = m.rolePerms[r] else { return .notFound }
        guard rp.isSubset(of: mine) else { return .refused }  // no escalation: assign only what one holds
        if t.roles.contains(r) { return .conflict }
    case .revoke(let r):
        if !t.roles.contains(r) { return .notFound }
    default:
        break
    }
    var after = m
    after.apply(a, to: target, now: now)
    return m.staysStewarded(after: after, now: now) ? .allowed : .refused  // never orphaned
}

/// What a role-management action must do, from first principles.
private func expected(_ m: Model, actor: String, _ a: RoleAction, now: Int64) -> Outcome {
    guard m.isActive(actor, now: now) else { return .sessionEnded }
    let mine = m.perms(of: actor)
    guard mine.contains(.rolesManage) else { return .denied(.rolesManage) }
    switch a {
    case .create(let name, let p):
        if m.rolePerms[name] != nil { return .conflict }
        return p.isSubset(of: mine) ? .allowed : .refused
    case .describe(let name):
        guard let current = m.rolePerms[name] else { return .notFound }
        return current.isSubset(of: mine) ? .allowed : .refused
    case .setPerms(let name, let p):
        guard let current = m.rolePerms[name] else { return .notFound }
        guard current.isSubset(of: mine), p.isSubset(of: mine) else { return .refused }
        // Every member the change touches holds nothing the actor does not.
        let members = m.users.keys.filter { m.users[$0]?.roles.contains(name) == true }
        guard members.allSatisfy({ m.perms(of: $0).isSubset(of: mine) }) else { return .refused }
        var after = m
        after.apply(a)
        return m.staysStewarded(after: after, now: now) ? .allowed : .refused
    case .delete(let name):
        guard let current = m.rolePerms[name] else { return .notFound }
        guard current.isSubset(of: mine) else { return .refused }
        return m.members(of: name) == 0 ? .allowed : .refused  // built-in or custom: not while in use
    }
}

// MARK: - Harness

/// A fixture, its model, the sessions of the actors, and the comparison of
/// each action's outcome and effect with the oracle.
private final class Harness {
    let f: Fixture
    var model: Model
    var sessions: [String: Session] = [:]
    /// (actor, action, target) combinations checked by this harness.
    private(set) var checked = 0

    init() throws {
        f = try Fixture()
        model = Model(rolePerms: Spec.builtinPermissions, users: ["admin": ModelUser(roles: ["admin"], mustChange: false)])
        sessions["admin"] = f.admin
    }

    var root: Session { f.admin }
    var now: Int64 { f.clock.now }
    var store: Store { f.vault.store }

    // Set-up, by the root administrator, mirrored in the model.

    func addRole(_ name: String, _ perms: Set<Permission>) throws {
        try root.createRole(name, permissions: perms)
        model.rolePerms[name] = perms
    }

    /// A user created by the root administrator, never logged in.
    func addUser(_ name: String, roles: [String]) throws {
        _ = try root.createUser(username: name, roles: roles)
        model.users[name] = ModelUser(roles: Set(roles))
    }

    /// A user created by the root administrator and logged in; returns the session.
    @discardableResult
    func addActor(_ name: String, roles: [String]) throws -> Session {
        let s = try f.user(name, roles: roles)
        model.users[name] = ModelUser(roles: Set(roles), mustChange: false)
        sessions[name] = s
        return s
    }

    func setUp(_ a: UserAction, on target: String, by actor: String = "admin") throws {
        try a.run(sessions[actor]!, on: target, now: now)
        model.apply(a, to: target, now: now)
    }

    // Comparing with the oracle.

    @discardableResult
    func check(
        _ actor: String, _ a: UserAction, _ target: String, context: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Outcome {
        let now = self.now
        let want = expected(model, actor: actor, a, target: target, now: now)
        let label = "\(context)\(actor) \(a) \(target)"
        let before = try snapshot()
        let keyBefore = try keyID(of: target)
        let got = outcome { try a.run(sessions[actor]!, on: target, now: now) }
        checked += 1
        #expect(got == want, "\(label): core says \(got), oracle says \(want)", sourceLocation: sourceLocation)
        if got == .allowed {
            model.apply(a, to: target, now: now)
            try expectOneEvent(after: before, actor: actor, action: a.auditAction, target: "user:\(target)", label, sourceLocation)
            if a == .resetPassword {
                let keyAfter = try keyID(of: target)
                #expect(
                    keyAfter != nil && keyAfter != keyBefore, "\(label): reset must give the user a new key pair",
                    sourceLocation: sourceLocation)
            }
            if model.isActive("admin", now: now), model.perms(of: "admin").contains(.usersRead), let m = model.users[target] {
                // What the console shows of the target agrees with the model.
                let info = try root.user(named: target)
                #expect(
                    info.permissions == model.perms(of: target) && Set(info.roles) == m.roles && info.locked == m.locked
                        && info.disabled == m.disabled && info.expiresAt == m.expiresAt,
                    "\(label): user(named:) disagrees with the model", sourceLocation: sourceLocation)
            }
            if a == .delete {
                let left = try store.unsafeQuery("SELECT count(*) AS n FROM users WHERE username = ?", arguments: [target])
                #expect((left[0]["n"] ?? nil) as? Int64 == 0, "\(label): user still stored", sourceLocation: sourceLocation)
            }
        } else {
            try expectUnchanged(before, label, sourceLocation)
        }
        try expectModel(label, sourceLocation)
        return got
    }

    @discardableResult
    func check(
        _ actor: String, _ a: RoleAction, context: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Outcome {
        let now = self.now
        let want = expected(model, actor: actor, a, now: now)
        let label = "\(context)\(actor) \(a)"
        let before = try snapshot()
        let got = outcome { try a.run(sessions[actor]!) }
        checked += 1
        #expect(got == want, "\(label): core says \(got), oracle says \(want)", sourceLocation: sourceLocation)
        if got == .allowed {
            model.apply(a)
            try expectOneEvent(after: before, actor: actor, action: a.auditAction, target: "role:\(a.roleName)", label, sourceLocation)
            if case .describe(let name) = a {
                let d =
                    try store.unsafeQuery("SELECT description FROM roles WHERE name = ?", arguments: [name]).first?["description"] ?? nil
                #expect(d as? String == RoleAction.newDescription, "\(label): description not changed", sourceLocation: sourceLocation)
            }
        } else {
            try expectUnchanged(before, label, sourceLocation)
        }
        try expectModel(label, sourceLocation)
        return got
    }

    // What is stored.

    struct Snapshot: Equatable {
        var tables: [String]
        var auditCount: Int64
        var auditLast: Int64
    }

    static let snapshotTables = [
        "vault", "data_keys", "roles", "role_permissions", "users", "user_roles", "user_keys",
        "grants", "secrets", "secret_versions"
    ]

    /// One query per table that renders every row (every column quoted by SQLite, blobs as hex), sorted.
    private lazy var snapshotQueries: [String] = Harness.snapshotTables.map { table in
        let columns = ((try? store.unsafeQuery("PRAGMA table_info(\(table))")) ?? []).compactMap { ($0["name"] ?? nil) as? String }
        let row = columns.map { "quote(\"\($0)\")" }.joined(separator: " || ',' || ")
        return "SELECT coalesce(group_concat(r, char(10)), '') AS s FROM (SELECT \(row) AS r FROM \(table) ORDER BY 1)"
    }

    /// Every row of every table and the audit log's length and last sequence number.
    func snapshot() throws -> Snapshot {
        let tables = try snapshotQueries.map { try (store.unsafeQuery($0)[0]["s"] ?? nil) as? String ?? "?" }
        let audit = try store.unsafeQuery("SELECT count(*) AS n, coalesce(max(seq), 0) AS last FROM audit_events")[0]
        return Snapshot(
            tables: tables, auditCount: (audit["n"] ?? nil) as? Int64 ?? -1,
            auditLast: (audit["last"] ?? nil) as? Int64 ?? -1)
    }

    func keyID(of user: String) throws -> Int64? {
        try store.unsafeQuery("SELECT key_id FROM users WHERE username = ?", arguments: [user]).first.flatMap {
            ($0["key_id"] ?? nil) as? Int64
        }
    }

    func storedUsers() throws -> [String: ModelUser] {
        var out: [String: ModelUser] = [:]
        for r in try store.unsafeQuery("SELECT username, locked, disabled, expires_at, display_name, must_change FROM users") {
            out[(r["username"] ?? nil) as! String] = ModelUser(
                roles: [], locked: ((r["locked"] ?? nil) as? Int64) == 1, disabled: ((r["disabled"] ?? nil) as? Int64) == 1,
                expiresAt: (r["expires_at"] ?? nil) as? Int64, displayName: (r["display_name"] ?? nil) as? String ?? "",
                mustChange: ((r["must_change"] ?? nil) as? Int64) == 1)
        }
        for r in try store.unsafeQuery(
            """
            SELECT u.username AS u, r.name AS r FROM user_roles ur JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id
            """)
        {
            out[(r["u"] ?? nil) as! String]?.roles.insert((r["r"] ?? nil) as! String)
        }
        return out
    }

    func storedRolePerms() throws -> [String: Set<Permission>] {
        var out: [String: Set<Permission>] = [:]
        for r in try store.unsafeQuery(
            "SELECT r.name AS r, rp.permission AS p FROM roles r LEFT JOIN role_permissions rp ON rp.role_id = r.id")
        {
            let name = (r["r"] ?? nil) as! String
            out[name, default: []].formUnion([((r["p"] ?? nil) as? String).flatMap(Permission.init(rawValue:))].compactMap { $0 })
        }
        return out
    }

    func storedGrantHolders() throws -> Set<String> {
        Set(
            try store.unsafeQuery("SELECT u.username AS u FROM grants g JOIN users u ON u.id = g.user_id").map {
                ($0["u"] ?? nil) as! String
            })
    }

    // Expectations.

    func expectModel(_ label: String, _ loc: SourceLocation) throws {
        let users = try storedUsers()
        if users != model.users {
            for name in Set(users.keys).union(model.users.keys).sorted() where users[name] != model.users[name] {
                let stored = users[name].map { String(describing: $0) } ?? "absent"
                let modelled = model.users[name].map { String(describing: $0) } ?? "absent"
                Issue.record("\(label): user \(name) is stored as \(stored), model says \(modelled)", sourceLocation: loc)
            }
        }
        let roles = try storedRolePerms()
        #expect(roles == model.rolePerms, "\(label): stored role permissions differ from the model", sourceLocation: loc)
        let grants = try storedGrantHolders()
        #expect(grants == model.entitled(now: now), "\(label): key grants do not follow permissions and state", sourceLocation: loc)
    }

    func expectUnchanged(_ before: Snapshot, _ label: String, _ loc: SourceLocation) throws {
        let after = try snapshot()
        #expect(after.auditCount == before.auditCount, "\(label): a refused action was audited", sourceLocation: loc)
        let same = after == before  // compared, never printed: rows hold password hashes
        #expect(same, "\(label): a refused action changed the vault", sourceLocation: loc)
    }

    func expectOneEvent(
        after before: Snapshot, actor: String, action: String, target: String,
        _ label: String, _ loc: SourceLocation
    ) throws {
        let rows = try store.unsafeQuery("SELECT count(*) AS n FROM audit_events")
        #expect(
            (rows[0]["n"] ?? nil) as? Int64 == before.auditCount + 1, "\(label): expected exactly one audit event",
            sourceLocation: loc)
        let last = try store.unsafeQuery("SELECT actor_name, action, target FROM audit_events ORDER BY seq DESC LIMIT 1")[0]
        #expect((last["actor_name"] ?? nil) as? String == actor, "\(label): event actor", sourceLocation: loc)
        #expect((last["action"] ?? nil) as? String == action, "\(label): event action", sourceLocation: loc)
        #expect((last["target"] ?? nil) as? String == target, "\(label): event target", sourceLocation: loc)
    }
}

private func rowCount(_ f: Fixture, _ table: String) throws -> Int64 {
    (try f.vault.store.unsafeQuery("SELECT count(*) AS n FROM \(table)")[0]["n"] ?? nil) as? Int64 ?? -1
}

// MARK: - Tests

@Suite struct GuardTests {
    /// The oracle's statement of the built-in roles is the one a new vault has.
    @Test func builtinRolesMatchTheDesign() throws {
        let h = try Harness()
        let roles = try h.root.roles()
        #expect(Set(roles.map(\.name)) == Set(Spec.builtinRoles))
        for r in roles {
            #expect(r.builtin, "\(r.name) should be built in")
            #expect(r.permissions == Spec.builtinPermissions[r.name], "\(r.name) permissions")
        }
        #expect(Set(BuiltinRole.all.map(\.name)) == Set(Spec.builtinRoles))
        try h.expectModel("new vault", #_sourceLocation)
    }

    /// No escalation and never orphaned, over every acting role x action x target role: the ten account
    /// actions and revoking the target's role, each on a fresh target of the role, and granting each role
    /// to a fresh target of the role. One vault per (acting role, target role); the role manager is a
    /// custom extra besides the six built-in roles.
    @Test(arguments: Spec.actingRoles, Spec.actingRoles)
    func noEscalationMatrix(actorRole: String, targetRole t: String) throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        let actor: String
        if actorRole == "admin" {
            actor = "admin"  // the vault's first admin; admin targets are further admins, so stewardship survives
        } else {
            actor = "actor-\(Spec.tag(actorRole))"
            try h.addActor(actor, roles: [actorRole])
        }
        var plan: [(UserAction, String)] = []
        for (i, a) in UserAction.account.enumerated() { plan.append((a, "t\(i)-\(Spec.tag(t))")) }
        plan.append((.revoke(t), "rv-\(Spec.tag(t))"))
        for g in Spec.actingRoles { plan.append((.grant(g), "g-\(Spec.tag(g))-\(Spec.tag(t))")) }
        for (_, target) in plan { try h.addUser(target, roles: [t]) }
        // Unlock, enable and clearing an expiry need something to undo.
        try h.setUp(.lock, on: "t\(UserAction.account.firstIndex(of: .unlock)!)-\(Spec.tag(t))")
        try h.setUp(.disable, on: "t\(UserAction.account.firstIndex(of: .enable)!)-\(Spec.tag(t))")
        try h.setUp(.expireLater, on: "t\(UserAction.account.firstIndex(of: .clearExpiry)!)-\(Spec.tag(t))")
        for (a, target) in plan { try h.check(actor, a, target, context: "[\(actorRole) on \(t)] ") }
        #expect(h.checked == UserAction.account.count + 1 + Spec.actingRoles.count)
    }

    /// The oracle itself is neither all-permissive nor all-refusing (hand-written cases).
    @Test func oracleSanity() {
        let now: Int64 = 1000
        var m = Model(
            rolePerms: Spec.builtinPermissions,
            users: [
                "admin": ModelUser(roles: ["admin"]), "admin2": ModelUser(roles: ["admin"]),
                "hal": ModelUser(roles: ["helpdesk"]), "uma": ModelUser(roles: ["user"]), "ann": ModelUser(roles: ["auditor"])
            ])
        #expect(expected(m, actor: "hal", .lock, target: "uma", now: now) == .allowed)
        #expect(expected(m, actor: "hal", .lock, target: "ann", now: now) == .refused)
        #expect(expected(m, actor: "hal", .lock, target: "hal", now: now) == .refused)
        #expect(expected(m, actor: "hal", .edit, target: "hal", now: now) == .allowed)
        #expect(expected(m, actor: "hal", .grant("user"), target: "uma", now: now) == .denied(.rolesManage))
        #expect(expected(m, actor: "ann", .lock, target: "uma", now: now) == .denied(.usersWrite))
        #expect(expected(m, actor: "admin", .disable, target: "admin2", now: now) == .allowed)
        #expect(expected(m, actor: "admin", .grant("admin"), target: "admin2", now: now) == .conflict)
        #expect(expected(m, actor: "admin", .revoke("admin"), target: "admin", now: now) == .refused, "one's own roles")
        #expect(expected(m, actor: "admin", .expireLater, target: "admin", now: now) == .refused, "one's own expiry")
        #expect(expected(m, actor: "admin2", .revoke("admin"), target: "admin", now: now) == .allowed, "a peer administrator")
        #expect(expected(m, actor: "hal", .lock, target: "hal2", now: now) == .notFound)
        m.users["hal2"] = ModelUser(roles: ["helpdesk"])
        #expect(expected(m, actor: "hal", .lock, target: "hal2", now: now) == .refused, "a peer who is not an administrator")
        #expect(expected(m, actor: "hal", .edit, target: "hal2", now: now) == .allowed, "a peer's e-mail and name")
        m.users["admin2"]?.locked = true
        #expect(expected(m, actor: "admin", .delete, target: "admin2", now: now) == .allowed)
        m.users["admin2"]?.locked = false
        #expect(expected(m, actor: "admin2", .expireLater, target: "admin", now: now) == .allowed, "admin2 stays")
        m.users["admin2"]?.expiresAt = now + 5
        #expect(expected(m, actor: "admin2", .expireLater, target: "admin", now: now) == .refused, "admin2 will expire too")
        m.users["admin2"]?.locked = true
        #expect(expected(m, actor: "admin2", .edit, target: "hal", now: now) == .sessionEnded)
        #expect(expected(m, actor: "admin", .setPerms("admin", []), now: now) == .refused)
        #expect(expected(m, actor: "admin", .delete("auditor"), now: now) == .refused)
        #expect(expected(m, actor: "admin", .delete("operator"), now: now) == .allowed)
    }

    /// Acting on oneself, for every acting role: only one's e-mail and display name (the oracle
    /// refuses the rest). The admin here is the vault's only admin.
    @Test(arguments: Spec.actingRoles)
    func selfActions(actorRole: String) throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        let actor = actorRole == "admin" ? "admin" : "actor-\(Spec.tag(actorRole))"
        if actorRole != "admin" { try h.addActor(actor, roles: [actorRole]) }
        var plan: [UserAction] = [
            .edit, .unlock, .enable, .lock, .disable, .expireNow, .resetPassword, .delete,
            .expireLater, .clearExpiry
        ]
        plan += Spec.actingRoles.map { .grant($0) }
        plan.append(.revoke(actorRole))
        for a in plan {
            let got = try h.check(actor, a, actor, context: "[self] ")
            if a != .edit { #expect(got != .allowed, "\(actorRole) \(a) on itself") }
        }
        #expect(h.checked == plan.count)
        #expect(h.model.users[actor]?.roles == [actorRole], "nothing changed the actor's own roles")
    }

    /// The only admin cannot be disabled, locked, expired, deleted or demoted by anyone (itself included).
    @Test func soleAdminCannotBeRemovedByAnyone() throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        var actors = ["admin"]
        for r in Spec.actingRoles where r != "admin" {
            let name = "actor-\(Spec.tag(r))"
            try h.addActor(name, roles: [r])
            actors.insert(name, at: actors.count - 1)  // the admin itself goes last
        }
        // Demotion is tried before the admin grants itself other roles (which could make it a steward without admin).
        // A future expiry (expireLater) of the only admin is refused too: the vault would have no steward later.
        let plan = UserAction.account + [.revoke("admin")] + Spec.actingRoles.map { UserAction.grant($0) }
        for actor in actors {
            for a in plan {
                let got = try h.check(actor, a, "admin", context: "[sole admin] ")
                if [.lock, .disable, .expireNow, .expireLater, .delete, .resetPassword, .revoke("admin")].contains(a) {
                    #expect(got != .allowed, "\(actor) \(a) on the only admin")
                }
            }
        }
        #expect(h.model.isActive("admin", now: h.now))
        #expect(try h.root.permissions() == Set(Permission.allCases))
        #expect(h.checked == actors.count * plan.count)
    }

    /// Two admins: each may take the other out while the remaining one is active, never both.
    @Test func twoAdminsStewardship() throws {
        let h = try Harness()
        try h.addActor("admin2", roles: ["admin"])
        // The other admin may be disabled; its session then ends.
        #expect(try h.check("admin", .disable, "admin2") == .allowed)
        #expect(outcome { _ = try h.sessions["admin2"]!.users() } == .sessionEnded)
        // With the second admin disabled, the first may not demote itself.
        #expect(try h.check("admin", .revoke("admin"), "admin") == .refused)
        try h.setUp(.enable, on: "admin2")
        // Now admin2 may act again and disable the first admin (the one session remaining is enough).
        #expect(try h.check("admin2", .disable, "admin") == .allowed)
        #expect(try h.check("admin2", .revoke("admin"), "admin2") == .refused)
        #expect(try h.check("admin2", .lock, "admin") == .allowed)
        #expect(try h.check("admin2", .expireNow, "admin") == .allowed)
        #expect(try h.check("admin2", .enable, "admin") == .allowed)
        #expect(try h.check("admin2", .revoke("admin"), "admin2") == .refused, "admin is still locked and expired")
        #expect(try h.check("admin2", .unlock, "admin") == .allowed)
        #expect(try h.check("admin2", .revoke("admin"), "admin2") == .refused, "admin is still expired")
        #expect(try h.check("admin2", .clearExpiry, "admin") == .allowed)
        // Both active: admin may take admin2's role (nobody changes their own); then give it back.
        #expect(try h.check("admin", .revoke("admin"), "admin2") == .allowed)
        #expect(outcome { _ = try h.sessions["admin2"]!.roles() } == .denied(.usersRead))
        #expect(try h.check("admin", .grant("admin"), "admin2") == .allowed)
        // Deleting the other admin is fine; then the survivor is alone again.
        #expect(try h.check("admin2", .delete, "admin") == .allowed)
        #expect(outcome { _ = try h.root.users() } == .sessionEnded)
        #expect(try h.check("admin2", .revoke("admin"), "admin2") == .refused)
        #expect(try h.check("admin2", .delete, "admin2") == .refused)
    }

    /// An account with an expiry date will go away: the last steward without one may not be given
    /// one, nor leave stewardship only to accounts that expire; the refusal names the rule.
    @Test func theLastStewardMayNotBeGivenAnExpiry() throws {
        let h = try Harness()
        // A second steward who expires does not help: the first may not be given an expiry by it.
        try h.addActor("admin2", roles: ["admin"])
        try h.setUp(.expireLater, on: "admin2")
        guard case .refused(let message)? = TamperKit.error({ try h.sessions["admin2"]!.setExpiry("admin", at: h.now + Spec.day) }) else {
            Issue.record("a future expiry of the only steward without one must be refused"); return
        }
        #expect(message.contains("roles.manage and keys.manage only with accounts that expire"), "\(message)")
        #expect(message.contains(" on ") && message.contains("must have no expiry date"), "\(message)")
        try h.expectModel("after the refusal", #_sourceLocation)
        #expect(try h.check("admin2", .expireLater, "admin") == .refused)
        #expect(try h.check("admin2", .revoke("admin"), "admin") == .refused, "admin2 will expire")
        // One without an expiry date does.
        #expect(try h.check("admin", .clearExpiry, "admin2") == .allowed)
        #expect(try h.check("admin2", .expireLater, "admin") == .allowed)
        // Now admin2 is the one without an expiry date.
        #expect(try h.check("admin", .expireLater, "admin2") == .refused)
        #expect(try h.check("admin", .revoke("admin"), "admin2") == .refused)
        #expect(try h.check("admin2", .clearExpiry, "admin") == .allowed)
        #expect(try h.check("admin", .revoke("admin"), "admin2") == .allowed)
        // The message for nobody at all is unchanged (a role edit is how one would get there).
        guard
            case .refused(let none)? = TamperKit.error({
                try h.root.editRole("admin", permissions: Set(Permission.allCases).subtracting([.keysManage]))
            })
        else {
            Issue.record("the last steward role may not lose keys.manage"); return
        }
        #expect(none == "this would leave no active user holding roles.manage and keys.manage")
    }

    /// A vault whose only steward already expires (reachable only from outside the guards: an
    /// older vault, a recovery) still takes changes that do not make that worse; it refuses
    /// those that would leave nobody, or only other accounts that expire sooner or later.
    @Test func aVaultLeftToExpiringStewardsTakesChangesThatDoNotMakeItWorse() throws {
        let h = try Harness()
        try h.addUser("bob", roles: ["user"])
        try h.addActor("helen", roles: ["helpdesk"])
        let at = h.now + 30 * Spec.day
        try h.store.unsafeExecute("UPDATE users SET expires_at = ? WHERE username = 'admin'", arguments: [at])
        h.model.users["admin"]?.expiresAt = at
        #expect(h.model.stewardLevel(now: h.now) == 1)
        for a: UserAction in [.edit, .lock, .unlock, .expireLater, .clearExpiry, .grant("operator"), .revoke("operator"), .resetPassword] {
            #expect(try h.check("admin", a, "bob") == .allowed, "\(a) bob")
        }
        #expect(try h.check("helen", .edit, "bob") == .allowed)
        #expect(try h.check("admin", .revoke("admin"), "admin") == .refused, "nobody changes their own roles")
        // Another steward who expires may come and go; the first without an expiry date may not then go.
        try h.addActor("admin2", roles: ["admin"])
        #expect(try h.check("admin", .expireLater, "admin2") == .refused, "admin2 is now the one without an expiry date")
        try h.store.unsafeExecute("UPDATE users SET expires_at = ? WHERE username = 'admin2'", arguments: [at + Spec.day])
        h.model.users["admin2"]?.expiresAt = at + Spec.day
        #expect(try h.check("admin", .delete, "admin2") == .allowed)
        try h.addActor("admin3", roles: ["admin"])
        #expect(h.model.stewardLevel(now: h.now) == 2)
        #expect(try h.check("admin", .expireLater, "admin3") == .refused, "admin3 is the one without an expiry date")
        #expect(try h.check("admin", .delete, "admin3") == .refused)
        #expect(try h.check("admin3", .clearExpiry, "admin") == .allowed)
        #expect(try h.check("admin", .expireLater, "admin3") == .allowed, "admin no longer expires")
    }

    // MARK: Sessions held elsewhere

    enum HeldChange: String, CaseIterable, Sendable {
        case revokeRole, disable, lock, expire, resetPassword, delete
    }

    /// An operator logged in elsewhere can do nothing more once an admin takes their role or account away.
    @Test(arguments: HeldChange.allCases)
    func heldOperatorSessionStops(change: HeldChange) throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("first-value-of-db")))
        let held = try f.user("olivia", roles: ["operator"])
        #expect(try held.secrets().count == 1)
        #expect(try held.reveal("app/db").utf8String() == "first-value-of-db")
        var temporary: SecureBytes?
        switch change {
        case .revokeRole: try f.admin.revokeRole("olivia", role: "operator")
        case .disable: try f.admin.disableUser("olivia")
        case .lock: try f.admin.lockUser("olivia")
        case .expire: try f.admin.setExpiry("olivia", at: f.clock.now)
        case .resetPassword: temporary = try f.admin.resetPassword("olivia")
        case .delete: _ = try f.admin.deleteUser("olivia")
        }
        let eventsBefore = try rowCount(f, "audit_events")
        let versionsBefore = try rowCount(f, "secret_versions")
        let ended = change != .revokeRole
        #expect(outcome { _ = try held.secrets() } == (ended ? .sessionEnded : .denied(.secretsList)))
        #expect(
            outcome { try held.createSecret("app/new", .value(pw("second-value-x"))) }
                == (ended ? .sessionEnded : .denied(.secretsWrite)))
        #expect(
            outcome { _ = try held.addVersion("app/db", .value(pw("third-value-x"))) }
                == (ended ? .sessionEnded : .denied(.secretsWrite)))
        #expect(outcome { _ = try held.reveal("app/db") } == (ended ? .sessionEnded : .denied(.secretsRead)))
        #expect(outcome { _ = try held.users() } == (ended ? .sessionEnded : .denied(.usersRead)))
        #expect(try rowCount(f, "audit_events") == eventsBefore, "refused calls were audited")
        #expect(try rowCount(f, "secret_versions") == versionsBefore, "a refused call stored a value")
        #expect(try f.admin.secrets().map(\.name) == ["app/db"])
        switch change {
        case .revokeRole:
            // Key access went with the role.
            #expect(try f.admin.keyStatus().grantedUsers == ["admin"])
            #expect(try f.admin.keyStatus().revocationWarning != nil)
        case .resetPassword:
            // The user can come back only through the new temporary password, as a new session.
            guard case .mustChangePassword(let change) = try f.vault.login(username: "olivia", password: temporary!) else {
                Issue.record("expected a forced password change")
                return
            }
            let fresh = try change.complete(newPassword: pw("a brand new passphrase"))
            #expect(try fresh.secrets().count == 1)
            #expect(outcome { _ = try held.secrets() } == .sessionEnded, "the old session stays ended")
        default:
            break
        }
    }

    /// A helpdesk session demoted while held can no longer manage accounts; an admin demoted can no longer manage roles.
    @Test func heldStaffSessionsStopWhenDemoted() throws {
        let h = try Harness()
        let hal = try h.addActor("hal", roles: ["helpdesk"])
        try h.addUser("tina", roles: ["user"])
        #expect(try h.check("hal", .lock, "tina") == .allowed)
        try h.setUp(.revoke("helpdesk"), on: "hal")
        #expect(try h.check("hal", .unlock, "tina") == .denied(.usersWrite))
        #expect(outcome { _ = try hal.users() } == .denied(.usersRead))

        let ada = try h.addActor("ada", roles: ["admin"])
        #expect(try h.check("ada", .create("mid-role", [.usersRead]), context: "") == .allowed)
        try h.setUp(.revoke("admin"), on: "ada")
        #expect(try h.check("ada", .create("late-role", [.usersRead])) == .denied(.rolesManage))
        #expect(try h.check("ada", .grant("admin"), "ada") == .denied(.rolesManage))
        #expect(outcome { _ = try ada.keyStatus() } == .denied(.keysManage))
        #expect(outcome { try ada.createSecret("app/x", .value(pw("some-value-here"))) } == .denied(.secretsWrite))
    }

    // MARK: Role management

    /// Acting role x role action x target role: create (a copy of the target's permissions), describe,
    /// add users.read, add keys.manage, remove keys.manage, delete, delete the copy.
    @Test(arguments: Spec.actingRoles)
    func roleManagementMatrix(actorRole: String) throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        try h.addRole("custom-used", [.usersRead, .secretsList])
        try h.addRole("custom-unused", [.usersRead])
        // Every role but custom-unused is in use.
        for r in Spec.builtinRoles + [Spec.roleManager, "custom-used"] where r != "admin" {
            try h.addUser("m-\(Spec.tag(r))", roles: [r])
        }
        let actor = actorRole == "admin" ? "admin" : "actor-\(Spec.tag(actorRole))"
        if actorRole != "admin" { try h.addActor(actor, roles: [actorRole]) }
        let targets = Spec.builtinRoles + [Spec.roleManager, "custom-used", "custom-unused"]
        var perTarget = 0
        for t in targets {
            let copy = "copy-\(t)"
            let steps: [() -> RoleAction] = [
                { .create(copy, h.model.rolePerms[t] ?? []) },
                { .describe(t) },
                { .setPerms(t, (h.model.rolePerms[t] ?? []).union([.usersRead])) },
                { .setPerms(t, (h.model.rolePerms[t] ?? []).union([.keysManage])) },
                { .setPerms(t, (h.model.rolePerms[t] ?? []).subtracting([.keysManage])) },
                { .delete(t) },
                { .delete(copy) }
            ]
            perTarget = steps.count
            for step in steps { try h.check(actor, step(), context: "[\(actorRole)] ") }
        }
        #expect(h.checked == targets.count * perTarget)
        // Built-in roles in use were never deleted.
        for r in Spec.builtinRoles { #expect(h.model.rolePerms[r] != nil, "\(r) deleted while in use") }
    }

    /// An unused built-in role can be deleted (by whoever holds roles.manage and its permissions); one in use cannot.
    @Test(arguments: Spec.actingRoles)
    func unusedBuiltinRoles(actorRole: String) throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        let actor = actorRole == "admin" ? "admin" : "actor-\(Spec.tag(actorRole))"
        if actorRole != "admin" { try h.addActor(actor, roles: [actorRole]) }
        for r in Spec.builtinRoles {
            let got = try h.check(actor, .delete(r), context: "[unused] ")
            if r == "admin" || r == actorRole { #expect(got != .allowed, "\(r) is in use") }
        }
        if actorRole == "admin" {
            // Everything but admin was unused and is gone; admin, in use, stays.
            #expect(Set(try h.root.roles().map(\.name)) == ["admin", Spec.roleManager])
        }
    }

    /// A custom role in use cannot be deleted, by anyone; once unused it can.
    @Test func customRoleInUse() throws {
        let h = try Harness()
        try h.addRole("viewer", [.usersRead])
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        try h.addActor("rmgr", roles: [Spec.roleManager])
        try h.addUser("vic", roles: ["viewer"])
        #expect(try h.check("admin", .delete("viewer")) == .refused)
        #expect(try h.check("rmgr", .delete("viewer")) == .refused)
        #expect(try h.check("rmgr", .revoke("viewer"), "vic") == .allowed)
        #expect(try h.check("rmgr", .delete("viewer")) == .allowed)
        #expect(try h.check("rmgr", .delete("viewer")) == .notFound)
    }

    /// No escalation through roles: a role manager without keys may not create, widen, edit or hand out
    /// a role carrying permissions it lacks.
    @Test func roleManagerStaysWithinItsPermissions() throws {
        let h = try Harness()
        try h.addRole(Spec.roleManager, Spec.roleManagerPermissions)
        try h.addActor("rmgr", roles: [Spec.roleManager])
        try h.addUser("uma", roles: ["user"])
        #expect(try h.check("rmgr", .create("keys-too", [.usersRead, .keysManage])) == .refused)
        #expect(try h.check("rmgr", .create("steward-x", Spec.stewardship)) == .refused)
        #expect(try h.check("rmgr", .create("readers", [.usersRead])) == .allowed)
        #expect(try h.check("rmgr", .setPerms("readers", [.usersRead, .secretsRead])) == .refused)
        #expect(try h.check("rmgr", .setPerms("readers", [.usersRead, .usersWrite])) == .allowed)
        #expect(try h.check("rmgr", .setPerms("helpdesk", [.usersRead, .usersWrite, .rolesManage])) == .allowed)
        #expect(try h.check("rmgr", .describe("operator")) == .refused)
        #expect(try h.check("rmgr", .setPerms("auditor", [])) == .refused)
        #expect(try h.check("rmgr", .grant("operator"), "uma") == .refused)
        #expect(try h.check("rmgr", .grant("admin"), "uma") == .refused)
        #expect(try h.check("rmgr", .grant("readers"), "uma") == .allowed)
        #expect(try h.check("rmgr", .grant(Spec.roleManager), "uma") == .allowed)
        // uma now holds exactly what rmgr holds: a peer, whose state rmgr may not change (her e-mail, yes).
        #expect(try h.check("rmgr", .lock, "uma") == .refused)
        #expect(try h.check("rmgr", .edit, "uma") == .allowed)
        // Widening uma's role behind rm's back puts her out of rm's reach.
        try h.root.editRole("readers", permissions: [.usersRead, .usersWrite, .auditRead])
        h.model.rolePerms["readers"] = [.usersRead, .usersWrite, .auditRead]
        #expect(try h.check("rmgr", .unlock, "uma") == .refused)
        #expect(try h.check("rmgr", .revoke("readers"), "uma") == .refused)
        #expect(try h.check("rmgr", .delete("readers")) == .refused)
    }

    /// Never orphaned through role edits: the only steward role keeps roles.manage and keys.manage.
    @Test func editRoleKeepsASteward() throws {
        let h = try Harness()
        let allButRoles = Set(Permission.allCases).subtracting([.rolesManage])
        let allButKeys = Set(Permission.allCases).subtracting([.keysManage])
        #expect(try h.check("admin", .setPerms("admin", allButRoles)) == .refused)
        #expect(try h.check("admin", .setPerms("admin", allButKeys)) == .refused)
        #expect(try h.check("admin", .setPerms("admin", [])) == .refused)
        #expect(try h.check("admin", .describe("admin")) == .allowed)
        #expect(try h.check("admin", .delete("admin")) == .refused)
        // A second steward role, held by an active user, makes the edit possible ...
        try h.addRole("keyward", Spec.stewardship.union([.usersRead]))
        try h.addActor("kim", roles: ["keyward"])
        try h.setUp(.disable, on: "kim")
        #expect(try h.check("admin", .setPerms("admin", allButKeys)) == .refused, "kim is disabled")
        try h.setUp(.enable, on: "kim")
        try h.setUp(.lock, on: "kim")
        #expect(try h.check("admin", .setPerms("admin", allButKeys)) == .refused, "kim is locked")
        try h.setUp(.unlock, on: "kim")
        try h.setUp(.expireNow, on: "kim")
        #expect(try h.check("admin", .setPerms("admin", allButKeys)) == .refused, "kim has expired")
        try h.setUp(.clearExpiry, on: "kim")
        #expect(try h.check("admin", .setPerms("admin", allButKeys)) == .allowed)
        // ... and then kim's role is the only steward role left.
        #expect(try h.check("kim", .setPerms("keyward", [.usersRead, .rolesManage])) == .refused)
        #expect(try h.check("admin", .revoke("keyward"), "kim") == .refused, "kim holds keys.manage, which admin no longer does")
        #expect(try h.check("kim", .revoke("keyward"), "kim") == .refused, "kim is the last steward")
        #expect(try h.check("kim", .grant("helpdesk"), "admin") == .refused, "admin holds permissions kim lacks")
        #expect(try h.check("kim", .create("keyward2", Spec.stewardship)) == .allowed)
    }
}
