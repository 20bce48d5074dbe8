import KeyholdCrypto
import KeyholdStore

extension Session {
    /// Length of generated temporary passwords.
    public static let temporaryPasswordLength = 20

    // MARK: Reading

    /// Users matching a filter (substring of username, email or display name; role).
    public func users(_ query: UserQuery = UserQuery()) throws -> [UserInfo] {
        try read(requires: .usersRead, action: "user.list") { tx, _ in
            let rows = try tx.users(query)
            return try userInfos(tx, rows)
        }
    }

    /// Accounts that are not disabled and whose expiry date falls after now and within `window`
    /// ms, by the vault's clock: how many, and the first `limit` (earliest first, then by name).
    /// Needs users.read. Already expired accounts are not counted: they cannot log in anyway.
    public func usersExpiring(within window: Int64, first limit: Int = 5) throws -> UsersExpiring {
        try Self.checkWindow(window, first: limit)
        return try read(requires: .usersRead, action: "user.list") { tx, _ in
            let now = vault.clock.now()
            guard let range = Self.after(now, within: window) else { return UsersExpiring(at: now, first: [], count: 0) }
            let found = try tx.usersExpiring(in: range, limit: limit)
            return UsersExpiring(
                at: now, first: found.first.map { ExpiringUser(username: $0.username, expiresAt: $0.expiresAt) },
                count: found.count)
        }
    }

    /// One user by name (without regard to case).
    public func user(named name: String) throws -> UserInfo {
        try read(requires: .usersRead, action: "user.show") { tx, _ in
            try userInfos(tx, [try existingUser(tx, name)])[0]
        }
    }

    /// `rows` as `UserInfo`s. `page`: the rows are one page of a listing, so their roles and grants
    /// are read for them alone (a whole listing reads everyone's at once).
    func userInfos(_ tx: Tx, _ rows: [UserRow], page: Bool = false) throws -> [UserInfo] {
        // One user (`show`, the dashboard): their roles alone, not every user's.
        let roleNames =
            page
            ? try tx.roleNames(ofUsers: rows.map(\.id))
            : rows.count == 1 ? [rows[0].id: try tx.roleNames(ofUser: rows[0].id)] : try tx.roleNamesByUser()
        var permsByRole: [String: Set<Permission>] = [:]
        for r in try tx.roles() { permsByRole[r.name.lowercased()] = Set(names: r.permissions) }
        var grants: [Int64: GrantRow] = [:]
        if page {
            grants = try tx.grants(ofUsers: rows.map(\.id))
        } else {
            for g in try tx.grants() { grants[g.userID] = g }
        }
        let cost = try tx.vault().map { KDFCost(opslimit: $0.kdfOpslimit, memlimit: $0.kdfMemlimit) } ?? .interactive
        return rows.map { u in
            let roles = roleNames[u.id] ?? []
            let perms = roles.reduce(into: Set<Permission>()) { $0.formUnion(permsByRole[$1.lowercased()] ?? []) }
            let access: KeyAccess = grants[u.id].map { $0.sealedRoot == nil ? .pending : .granted } ?? .none
            return UserInfo(
                id: u.id, username: u.username, email: u.email, displayName: u.displayName, roles: roles,
                permissions: perms, locked: u.locked, lockedUntil: u.lockedUntil, disabled: u.disabled,
                expiresAt: u.expiresAt, mustChangePassword: u.mustChange, failedLogins: u.failedLogins,
                hasKeyPair: u.keyID != nil, keyAccess: access, createdAt: u.createdAt, lastLoginAt: u.lastLoginAt,
                passwordScheme: PasswordHash.scheme(of: u.passwordHash)?.rawValue ?? "unknown",
                legacyHash: PasswordHash.isLegacy(u.passwordHash, cost: cost))
        }
    }

    func existingUser(_ tx: Tx, _ name: String) throws -> UserRow {
        guard let u = try tx.user(named: name) else { throw KeyholdError.notFound(kind: "user", name: name) }
        return u
    }

    // MARK: Guards

    /// No escalation: the target's permissions must be a subset of the actor's. With `strictly`
    /// (changes of someone's roles, lock state, expiry, password or existence), a strict subset:
    /// a holder of users.write manages only users below them, never a peer, unless the actor
    /// holds every permission (administrators manage one another; the stewardship guard keeps one).
    func requireManageable(_ op: Op, _ target: UserRow, action: String, strictly: Bool = false) throws {
        let theirs = Set(names: try op.tx.permissions(ofUser: target.id))
        let beyond = theirs.subtracting(op.permissions)
        if !beyond.isEmpty {
            throw KeyholdError.refused(
                "\(action) \(target.username): they hold \(beyond.sorted().map(\.rawValue).joined(separator: ", ")), which you do not")
        }
        if strictly, theirs == op.permissions, op.permissions != Set(Permission.allCases) {
            throw KeyholdError.refused(
                "\(action) \(target.username): they hold the same permissions as you; only someone "
                    + "holding more (or an administrator) may")
        }
    }

    /// Actions one may not take on oneself (ask another administrator).
    func requireNotSelf(_ target: UserRow, action: String) throws {
        if target.id == userID { throw KeyholdError.refused("you cannot \(action) your own account; ask another administrator") }
    }

    /// No escalation: a role may be assigned only by someone holding all its permissions.
    func requireAssignable(_ op: Op, _ role: RoleRow) throws {
        let beyond = Set(names: role.permissions).subtracting(op.permissions)
        if !beyond.isEmpty {
            throw KeyholdError.refused(
                "role \(role.name) carries \(beyond.sorted().map(\.rawValue).joined(separator: ", ")), which you do not hold")
        }
    }

    /// The active users holding roles.manage and keys.manage: whether one has no
    /// expiry date, and those whose accounts expire (an account with an expiry date
    /// counts as one that will go away).
    struct Stewards {
        var lasting = false
        var expiring: [(username: String, at: Int64)] = []
        /// 2: someone without an expiry date; 1: only accounts that expire; 0: nobody.
        var level: Int { lasting ? 2 : expiring.isEmpty ? 0 : 1 }
    }

    func stewards(_ op: Op) throws -> Stewards {
        var found = Stewards()
        for id in try op.tx.userIDs(holdingAll: Permission.stewardship.names) {
            guard let u = try op.tx.user(id: id), !u.disabled, !u.locked else { continue }
            guard let expires = u.expiresAt else { found.lasting = true; continue }
            if expires > op.now { found.expiring.append((u.username, expires)) }
        }
        return found
    }

    /// Never orphaned: no change may leave the vault without an active user
    /// holding roles.manage and keys.manage, nor worse stewarded than it found it
    /// (`before`, taken in the same transaction). So the last such user without an
    /// expiry date cannot be given one (the vault would later have nobody to manage it;
    /// only the recovery key could then help); a vault already left to accounts that
    /// expire still takes changes that do not make that worse.
    func requireSteward(_ op: Op, before: Stewards) throws {
        let after = try stewards(op)
        guard after.level == 0 || after.level < before.level else { return }
        guard let first = after.expiring.min(by: { $0.at < $1.at }) else {
            throw KeyholdError.refused("this would leave no active user holding roles.manage and keys.manage")
        }
        let others = after.expiring.count > 1 ? " (and \(after.expiring.count - 1) more, all with expiry dates)" : ""
        throw KeyholdError.refused(
            "this would leave roles.manage and keys.manage only with accounts that expire: \(first.username) on "
                + "\(Clock.format(first.at))\(others); at least one active holder must have no expiry date")
    }

    /// Brings one user's grant in line with their permissions and state. A user entitled
    /// to key access (a role with secrets.read, secrets.write or keys.manage) and active
    /// (not disabled, locked or expired) gets R sealed to their key when this session holds
    /// R and the key is endorsed; otherwise a pending grant, which an administrator approves
    /// (`approveKeyRequest`). Losing the entitlement or becoming inactive deletes the grant
    /// and raises the standing warning to rotate. Returns what changed, for the audit details.
    @discardableResult
    func syncKeyAccess(_ op: inout Op, userID target: Int64) throws -> String? {
        guard let user = try op.tx.user(id: target) else { return nil }
        let inactive = user.disabled || user.locked || (user.expiresAt.map { $0 <= op.now } ?? false)
        let permitted = Set(names: try op.tx.permissions(ofUser: target)).grantsKeyAccess
        let entitled = !inactive && permitted
        let grant = try op.tx.grant(userID: target)
        if entitled {
            if let root {
                switch try Trust.sealable(op.tx, root: root, user: user, now: op.now) {
                case .success(let key):
                    if let grant, grant.sealedRoot != nil, grant.keyID == key.row.id { return nil }
                    try op.tx.putGrant(try Keyring.sealGrant(root: root, to: key, now: op.now))
                    return "granted"
                case .failure:
                    break
                }
            } else if let grant, grant.sealedRoot != nil, grant.keyID == user.keyID {
                return nil
            }
            if let grant, grant.sealedRoot == nil, grant.keyID == user.keyID { return nil }
            if grant?.sealedRoot != nil { op.securelyDeletes = true }
            try op.tx.putGrant(Keyring.pendingGrant(userID: target, keyID: user.keyID, now: op.now))
            return "pending"
        }
        guard let grant else { return nil }
        try op.tx.deleteGrant(userID: target)
        op.securelyDeletes = true
        if grant.sealedRoot != nil { try noteRevocation(op, username: user.username) }
        return "revoked"
    }

    /// Adds a line to the vault's standing warning: someone who held R no longer should.
    func noteRevocation(_ op: Op, username: String) throws {
        let previous = try op.tx.vault()?.revocationWarning
        let line = "key access removed from \(username) at \(Clock.format(op.now))"
        try op.tx.setRevocationWarning([previous, line].compactMap { $0 }.joined(separator: "\n"))
    }

    func temporaryPassword(_ op: Op) throws -> (SecureBytes, hash: String, expires: Int64, cost: KDFCost) {
        let v = try op.tx.requiredVault()
        let cost = KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit)
        let temp = try Token.generate(length: Session.temporaryPasswordLength, alphabet: .alnum)
        return (temp, try PasswordHash.hash(temp, cost: cost), op.now + v.tempPasswordTTL, cost)
    }

    // MARK: Changes

    /// Creates a user with a generated temporary password (shown once, expiring, to be changed at first login).
    /// `deliver` gets the temporary password before anything is committed (a failure there creates nobody).
    public func createUser(
        username: String, email: String? = nil, displayName: String = "", roles: [String] = [],
        deliver: (SecureBytes) throws -> Void = { _ in }
    ) throws -> (user: UserInfo, temporaryPassword: SecureBytes) {
        let username = try Vault.valid { try Validate.username(username) }
        let email = try Vault.valid { try Validate.email(email) }
        let displayName = try Vault.valid { try Validate.displayName(displayName) }
        var temp: SecureBytes?
        let id = try perform(.userCreate, target: "user:\(username)", requires: .usersWrite) { op -> Int64 in
            if try op.tx.user(named: username) != nil {
                throw KeyholdError.conflict("a user named \(username) already exists (names are compared without regard to case)")
            }
            let t = try temporaryPassword(op)
            temp = t.0
            var row = UserRow(
                username: username, email: email, displayName: displayName, passwordHash: t.hash,
                mustChange: true, passwordExpiresAt: t.expires, createdAt: op.now, updatedAt: op.now)
            row.id = try op.tx.insertUser(row)
            let key = try Keyring.makeUserKey(
                op.tx, user: &row, password: t.0, cost: t.cost, now: op.now,
                anchor: try Trust.anchor(op.tx))
            // Made here, by a holder of R: vouched for at once (a session without R leaves it to an approval).
            if let root { _ = try Trust.endorseNew(op.tx, root: root, keyID: key.id) }
            try op.tx.updateUser(row)
            var assigned: [String] = []
            for name in roles {
                if !op.permissions.contains(.rolesManage) {
                    throw KeyholdError.permissionDenied(action: "assigning roles", missing: .rolesManage)
                }
                guard let role = try op.tx.role(named: name) else { throw KeyholdError.notFound(kind: "role", name: name) }
                try requireAssignable(op, role)
                try op.tx.addUserRole(userID: row.id, roleID: role.id)
                assigned.append(role.name)
            }
            op.details = [
                "roles": .strings(assigned), "temporary_password_expires": .int(t.expires), "user_id": .int(row.id),
                "key_id": .int(key.id), "public_key": .string(Store.hex(key.pair.publicKey))
            ]
            if let access = try syncKeyAccess(&op, userID: row.id) { op.details["key_access"] = .string(access) }
            try deliver(t.0)
            return row.id
        }
        let info = try read(requires: nil, action: "user.show") { tx, _ -> UserInfo? in
            try tx.user(id: id).map { try userInfos(tx, [$0])[0] }
        }
        guard let info, let temp else { throw KeyholdError.conflict("user \(username) was deleted right after it was made") }
        return (info, temp)
    }

    /// Changes email and/or display name. `email: .some(nil)` clears it.
    public func editUser(_ name: String, email: String?? = nil, displayName: String? = nil) throws {
        let email = try email.map { e in try Vault.valid { try Validate.email(e) } }
        let displayName = try displayName.map { d in try Vault.valid { try Validate.displayName(d) } }
        try changeUser(name, action: .userEdit, guardSelf: false) { op, u in
            var changed: [String] = []
            if let email { u.email = email; changed.append("email") }
            if let displayName { u.displayName = displayName; changed.append("display_name") }
            op.details["changed"] = .strings(changed)
        }
    }

    /// Locks an account (no login until unlocked).
    public func lockUser(_ name: String) throws {
        try changeUser(name, action: .userLock, guardSelf: true) { _, u in u.locked = true }
    }

    /// Unlocks an account: clears an administrator's lock and any lockout after failed logins.
    public func unlockUser(_ name: String) throws {
        try changeUser(name, action: .userUnlock, guardSelf: true) { _, u in
            u.locked = false; u.lockedUntil = nil; u.failedLogins = 0
        }
    }

    public func disableUser(_ name: String) throws {
        try changeUser(name, action: .userDisable, guardSelf: true) { _, u in u.disabled = true }
    }

    public func enableUser(_ name: String) throws {
        try changeUser(name, action: .userEnable, guardSelf: true) { _, u in u.disabled = false }
    }

    /// Sets (or with nil clears) the time the account expires.
    public func setExpiry(_ name: String, at time: Int64?) throws {
        try changeUser(name, action: .userExpire, guardSelf: true) { op, u in
            u.expiresAt = time
            op.details["expires_at"] = time.map(AuditValue.int) ?? .string("never")
        }
    }

    /// Replaces the user's password with a generated temporary one (shown
    /// once, expiring) and their key pair with a new one; the administrator
    /// never chooses the password.
    /// `deliver` gets the temporary password before anything is committed.
    public func resetPassword(_ name: String, deliver: (SecureBytes) throws -> Void = { _ in }) throws -> SecureBytes {
        var temp: SecureBytes?
        try changeUser(name, action: .userResetPassword, guardSelf: true) { op, u in
            let t = try temporaryPassword(op)
            temp = t.0
            let retired = u.keyID
            if let old = u.keyID { try op.tx.retireUserKey(id: old, at: op.now) }
            u.passwordHash = t.hash
            u.mustChange = true
            u.passwordExpiresAt = t.expires
            u.failedLogins = 0
            u.lockedUntil = nil
            let key = try Keyring.makeUserKey(
                op.tx, user: &u, password: t.0, cost: t.cost, now: op.now,
                anchor: try Trust.anchor(op.tx))
            if let root { _ = try Trust.endorseNew(op.tx, root: root, keyID: key.id) }
            op.securelyDeletes = true
            op.details["temporary_password_expires"] = .int(t.expires)
            op.details["user_id"] = .int(u.id)
            op.details["key_id"] = .int(key.id)
            op.details["public_key"] = .string(Store.hex(key.pair.publicKey))
            if let retired { op.details["retired_key_id"] = .int(retired) }
            // The grant was sealed to the retired key: seal it to the new one (or leave it pending).
            try op.tx.updateUser(u)
            if try op.tx.grant(userID: u.id) != nil {
                try op.tx.deleteGrant(userID: u.id)
                if let access = try syncKeyAccess(&op, userID: u.id) { op.details["key_access"] = .string(access) }
            }
            try deliver(t.0)
        }
        guard let temp else { throw KeyholdError.integrity("user.reset-password made no password") }
        return temp
    }

    /// Deletes a user. Their public keys stay so the events they signed still verify.
    public func deleteUser(_ name: String) throws -> DeletionOutcome {
        try perform(.userDelete, target: "user:\(name)", requires: .usersWrite) { op in
            let u = try existingUser(op.tx, name)
            op.target = "user:\(u.username)"
            try requireNotSelf(u, action: "delete")
            try requireManageable(op, u, action: "delete", strictly: true)
            let before = try stewards(op)
            op.details["user_id"] = .int(u.id)
            for k in try op.tx.userKeys() where k.userID == u.id { try op.tx.retireUserKey(id: k.id, at: op.now) }
            if try op.tx.grant(userID: u.id)?.sealedRoot != nil {
                try noteRevocation(op, username: u.username)
                op.details["key_access"] = .string("revoked")
            }
            try op.tx.deleteUser(id: u.id)
            op.securelyDeletes = true
            try requireSteward(op, before: before)
        }
        return lastCheckpoint
    }

    /// The user and the role of a grant or revocation, once the session may change that user's
    /// roles (not its own, and only a user it may manage).
    private func roleChange(_ op: inout Op, _ name: String, _ roleName: String) throws -> (UserRow, RoleRow) {
        let u = try existingUser(op.tx, name)
        op.target = "user:\(u.username)"
        guard let role = try op.tx.role(named: roleName) else { throw KeyholdError.notFound(kind: "role", name: roleName) }
        try requireNotSelf(u, action: "change the roles of")
        try requireManageable(op, u, action: "change the roles of", strictly: true)
        return (u, role)
    }

    /// Gives a user a role. Needs roles.manage and every permission of the role.
    public func grantRole(_ name: String, role roleName: String) throws {
        try perform(.userGrantRole, target: "user:\(name)", requires: .rolesManage) { op in
            var (u, role) = try roleChange(&op, name, roleName)
            try requireAssignable(op, role)
            guard !(try op.tx.roleIDs(ofUser: u.id).contains(role.id)) else {
                throw KeyholdError.conflict("\(u.username) already has the role \(role.name)")
            }
            try op.tx.addUserRole(userID: u.id, roleID: role.id)
            u.updatedAt = op.now
            try op.tx.updateUser(u)
            op.details = ["role": .string(role.name), "user_id": .int(u.id)]
            if let access = try syncKeyAccess(&op, userID: u.id) { op.details["key_access"] = .string(access) }
        }
    }

    /// Takes a role away. Removing key access deletes the grant and raises a standing warning to rotate.
    public func revokeRole(_ name: String, role roleName: String) throws {
        try perform(.userRevokeRole, target: "user:\(name)", requires: .rolesManage) { op in
            var (u, role) = try roleChange(&op, name, roleName)
            guard try op.tx.roleIDs(ofUser: u.id).contains(role.id) else {
                throw KeyholdError.notFound(kind: "role of \(u.username)", name: role.name)
            }
            let before = try stewards(op)
            try op.tx.removeUserRole(userID: u.id, roleID: role.id)
            u.updatedAt = op.now
            try op.tx.updateUser(u)
            op.details = ["role": .string(role.name), "user_id": .int(u.id)]
            if let access = try syncKeyAccess(&op, userID: u.id) { op.details["key_access"] = .string(access) }
            try requireSteward(op, before: before)
        }
    }

    /// The common shape of account changes: find, guard, change, check stewardship.
    private func changeUser(_ name: String, action: AuditAction, guardSelf: Bool, _ change: (inout Op, inout UserRow) throws -> Void) throws
    {
        let verb = String(action.rawValue.dropFirst("user.".count))
        try perform(action, target: "user:\(name)", requires: .usersWrite) { op in
            var u = try existingUser(op.tx, name)
            op.target = "user:\(u.username)"
            if guardSelf { try requireNotSelf(u, action: verb) }
            // Editing an e-mail or display name needs the target's permissions; changing state needs more.
            try requireManageable(op, u, action: verb, strictly: action != .userEdit)
            let before = try stewards(op)
            let wasActive = !u.disabled && !u.locked && !(u.expiresAt.map { $0 <= op.now } ?? false)
            try change(&op, &u)
            u.updatedAt = op.now
            try op.tx.updateUser(u)
            // A change of state moves key access with it: gone while inactive, back (or awaiting approval) after.
            let isActive = !u.disabled && !u.locked && !(u.expiresAt.map { $0 <= op.now } ?? false)
            if wasActive != isActive, let access = try syncKeyAccess(&op, userID: u.id) { op.details["key_access"] = .string(access) }
            try requireSteward(op, before: before)
        }
    }
}
