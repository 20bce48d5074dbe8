import KeyholdCrypto
import KeyholdStore

/// Who may sign, replayed from the audit log itself (docs/SECURITY.md, "Forged events").
///
/// From the anchor event on, a signature counts only from a key that belongs to
/// the event's actor, was introduced by an earlier event of someone entitled to
/// introduce it (or, for `vault.recover`, by the root signing key), and was not
/// retired. Entitlement is replayed too: the roles and permissions each event
/// gives or takes, from the anchor's snapshot on. The rows of the tables are not
/// consulted: whoever can write the file can change them, but cannot sign.
struct Authority {
    struct Key {
        var userID: Int64
        var publicKey: [UInt8]
        /// The event that retired the key.
        var retiredAt: Int64?
    }

    private(set) var vaultID: [UInt8] = []
    private(set) var rootVersion = 0
    private(set) var rootPublicKey: [UInt8] = []
    /// Role name (lower-cased) to its permissions.
    private var roles: [String: Set<Permission>] = [:]
    /// User id to the names of their roles (lower-cased).
    private var userRoles = RangedIDs<Set<String>>()
    /// Users the log introduced (created, imported, or present at the upgrade).
    private var introducedUsers = RangedIDs<Void>()
    private var usersThrough: Int64 = 0
    private(set) var keys: [Int64: Key] = [:]

    /// `name=perm,perm` for a role's line in an anchor event.
    static func roleEntry(_ name: String, _ permissions: Set<Permission>) -> String {
        "\(name)=\(permissions.sorted().map(\.rawValue).joined(separator: ","))"
    }

    /// Starts from an anchor event (already checked to be `vault.create` or `vault.upgrade`
    /// and to hash to itself). Returns why it cannot serve, or nil.
    mutating func start(_ e: AuditRow) -> String? {
        let d = AuditDetails(e.details)
        guard let vaultID = d.hex("vault_id"), vaultID.count == 16, let version = d.int("root_version"),
            let rootPK = d.hex("root_public_key"), rootPK.count == 32
        else {
            return "the anchor event lacks the vault id or the root key"
        }
        self.vaultID = vaultID
        rootVersion = Int(version)
        rootPublicKey = rootPK
        for entry in d.strings("roles") ?? [] {
            guard let eq = entry.firstIndex(of: "=") else { return "the anchor event names a role badly: \(entry)" }
            let perms = entry[entry.index(after: eq)...].split(separator: ",").compactMap { Permission(rawValue: String($0)) }
            roles[entry[..<eq].lowercased()] = Set(perms)
        }
        if e.action == AuditAction.vaultCreate.rawValue {
            guard e.seq == 1 else { return "a vault.create anchor that is not the first event" }
            guard let userID = d.int("user_id"), let keyID = d.int("key_id"), let pk = d.hex("public_key"), pk.count == 32 else {
                return "the genesis event lacks the first administrator's key"
            }
            introducedUsers[userID] = ()
            userRoles[userID] = ["admin"]
            keys[keyID] = Key(userID: userID, publicKey: pk)
        } else {
            usersThrough = d.int("users_through") ?? 0
            for entry in d.strings("users") ?? [] {
                let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let id = Int64(parts[0]) else { return "the upgrade event names a user badly: \(entry)" }
                userRoles[id] = Set(parts[1].split(separator: ",").map { $0.lowercased() })
            }
            for entry in d.strings("keys") ?? [] {
                guard let k = Trust.SnapshotKey(entry) else { return "the upgrade event names a key badly: \(entry)" }
                keys[k.keyID] = Key(userID: k.userID, publicKey: k.publicKey)
            }
        }
        return signatureProblem(e)
    }

    /// Checks one event after the anchor and applies what it changes. Returns why it fails, or nil.
    mutating func apply(_ e: AuditRow) -> String? {
        let d = AuditDetails(e.details)
        guard e.signature != nil else {
            let unsigned = AuditAction(rawValue: e.action)?.mayBeUnsigned ?? false
            return unsigned && e.actorKeyID == nil ? nil : "unsigned, but \(e.action) events must be signed"
        }
        switch AuditAction(rawValue: e.action) {
        case .vaultRecover:
            // The recovered administrator's new key signs the event; the root signing key (which the
            // recovery key opens) vouches for that key.
            guard let userID = d.int("user_id"), let keyID = d.int("key_id"), let pk = d.hex("public_key"),
                let proof = d.hex("recovery_signature"),
                SigningKeyPair.verify(
                    signature: proof,
                    message: Trust.recoverMessage(
                        vaultID: vaultID, userID: userID,
                        keyID: keyID, publicKey: pk),
                    publicKey: rootPublicKey)
            else {
                return "vault.recover without a valid proof from the root key"
            }
            guard e.actorKeyID == keyID else { return "vault.recover signed by key \(e.actorKeyID ?? 0), not the key it introduces" }
            if let problem = verifySignature(e, publicKey: pk) { return problem }
            retireKeys(of: userID, at: e.seq)
            keys[keyID] = Key(userID: userID, publicKey: pk)
            introducedUsers[userID] = ()
            return nil
        case .login where d.string("key_pair") == "created":
            // An imported account's first login makes its key; the account must have been introduced and keyless.
            guard let userID = d.int("user_id"), let keyID = d.int("key_id"), let pk = d.hex("public_key"),
                e.actorID == userID, e.actorKeyID == keyID
            else {
                return "a first login that does not name its new key"
            }
            guard isIntroduced(userID) else { return "first login of user \(userID), whom no entitled event introduced" }
            guard !keys.values.contains(where: { $0.userID == userID && $0.retiredAt == nil }) else {
                return "first login of user \(userID), who already has a key"
            }
            if let problem = verifySignature(e, publicKey: pk) { return problem }
            keys[keyID] = Key(userID: userID, publicKey: pk)
            return nil
        default:
            break
        }
        if let problem = signatureProblem(e) { return problem }
        return effects(e, d)
    }

    /// What events change in who holds which key and permission, each checked against the actor's permissions.
    private mutating func effects(_ e: AuditRow, _ d: AuditDetails) -> String? {
        guard let action = AuditAction(rawValue: e.action), let actor = e.actorID else { return nil }
        let held = permissions(of: actor)
        func need(_ p: Permission) -> String? {
            held.contains(p) ? nil : "\(e.action) by \(e.actorName), who did not hold \(p.rawValue) at the time"
        }
        func newKey(for userID: Int64) -> String? {
            guard let keyID = d.int("key_id"), let pk = d.hex("public_key"), pk.count == 32 else {
                return "\(e.action) does not name the key it introduces"
            }
            keys[keyID] = Key(userID: userID, publicKey: pk)
            return nil
        }
        switch action {
        case .userCreate:
            guard let userID = d.int("user_id") else { return "user.create does not name the user" }
            let roleNames = Set((d.strings("roles") ?? []).map { $0.lowercased() })
            if let p = need(.usersWrite) ?? (roleNames.isEmpty ? nil : need(.rolesManage)) { return p }
            introducedUsers[userID] = ()
            userRoles[userID] = roleNames
            return newKey(for: userID)
        case .userImport:
            if let p = need(.usersWrite) { return p }
            let roleNames = Set((d.strings("roles") ?? []).map { $0.lowercased() })
            if !roleNames.isEmpty, let p = need(.rolesManage) { return p }
            for range in d.strings("user_ids") ?? [] {
                let ends = range.split(separator: "-").compactMap { Int64($0) }
                guard let first = ends.first, let last = ends.last, first <= last,
                    case (let span, false) = last.subtractingReportingOverflow(first), span < 10_000_000
                else {
                    return "user.import names its users badly: \(range)"
                }
                // Held as a range: a million imported accounts are one entry per import event.
                introducedUsers.set(first...last, to: ())
                userRoles.set(first...last, to: roleNames)
            }
            for entry in d.strings("user_roles") ?? [] {
                let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, let id = Int64(parts[0]), introducedUsers[id] != nil else {
                    return "user.import names an account's roles badly: \(entry)"
                }
                let own = Set(parts[1].split(separator: ",").map { $0.lowercased() })
                if !own.isEmpty, let p = need(.rolesManage) { return p }
                userRoles[id] = (userRoles[id] ?? []).union(own)
            }
        case .userResetPassword:
            if let p = need(.usersWrite) { return p }
            guard let userID = d.int("user_id") else { return "user.reset-password does not name the user" }
            retireKeys(of: userID, at: e.seq)
            return newKey(for: userID)
        case .userDelete:
            if let p = need(.usersWrite) { return p }
            guard let userID = d.int("user_id") else { return "user.delete does not name the user" }
            retireKeys(of: userID, at: e.seq)
            userRoles[userID] = nil
            introducedUsers[userID] = nil
        case .userGrantRole, .userRevokeRole:
            if let p = need(.rolesManage) { return p }
            guard let userID = d.int("user_id"), let role = d.string("role") else { return "\(e.action) does not name the user and role" }
            if action == .userGrantRole {
                userRoles[userID] = (userRoles[userID] ?? []).union([role.lowercased()])
            } else if var held = userRoles[userID] {
                held.remove(role.lowercased())
                userRoles[userID] = held
            }
        case .roleCreate, .roleEdit:
            if let p = need(.rolesManage) { return p }
            let name = e.target.hasPrefix("role:") ? String(e.target.dropFirst(5)).lowercased() : ""
            if let perms = d.strings("permissions") {
                let set = Set(perms.compactMap(Permission.init(rawValue:)))
                guard set.isSubset(of: held) else { return "\(e.action) gave permissions \(e.actorName) did not hold" }
                roles[name] = set
            } else if action == .roleCreate {
                roles[name] = []
            }
        case .roleDelete:
            if let p = need(.rolesManage) { return p }
            roles[e.target.hasPrefix("role:") ? String(e.target.dropFirst(5)).lowercased() : ""] = nil
        case .keyApprove, .vaultRestore:
            return need(.keysManage)
        case .keyRotateRoot:
            if let p = need(.keysManage) { return p }
            guard let version = d.int("root_version"), let pk = d.hex("root_public_key"), let link = d.hex("root_link"),
                Int(version) == rootVersion + 1,
                SigningKeyPair.verify(
                    signature: link,
                    message: Trust.rootLinkMessage(
                        vaultID: vaultID, version: Int(version),
                        publicKey: pk),
                    publicKey: rootPublicKey)
            else {
                return "key.rotate-root whose new root key the previous one did not sign"
            }
            rootVersion = Int(version)
            rootPublicKey = pk
        case .vaultCreate, .vaultUpgrade:
            return "a second anchor event"
        default:
            break
        }
        return nil
    }

    func isIntroduced(_ userID: Int64) -> Bool { introducedUsers[userID] != nil || userID <= usersThrough }

    private func permissions(of userID: Int64) -> Set<Permission> {
        (userRoles[userID] ?? []).reduce(into: Set<Permission>()) { $0.formUnion(roles[$1] ?? []) }
    }

    private mutating func retireKeys(of userID: Int64, at seq: Int64) {
        for (id, k) in keys where k.userID == userID && k.retiredAt == nil { keys[id]?.retiredAt = seq }
    }

    /// A key signs only for its own user, only once introduced, never once retired.
    private func signatureProblem(_ e: AuditRow) -> String? {
        guard let keyID = e.actorKeyID, let key = keys[keyID] else {
            return "signed by key \(e.actorKeyID.map(String.init) ?? "none"), which no entitled event introduced"
        }
        if let retired = key.retiredAt { return "signed by key \(keyID) after it was retired (event \(retired))" }
        if key.userID != e.actorID {
            return "signed by key \(keyID) of user \(key.userID) for \(e.actorName) (a key signs only for its own user)"
        }
        return verifySignature(e, publicKey: key.publicKey)
    }

    private func verifySignature(_ e: AuditRow, publicKey: [UInt8]) -> String? {
        guard let signature = e.signature, SigningKeyPair.verify(signature: signature, message: e.hash, publicKey: publicKey) else {
            return "signature does not verify under key \(e.actorKeyID.map(String.init) ?? "none")"
        }
        return nil
    }
}

/// Values by user id where a bulk import gives a whole range of ids one value: each such range is
/// held as one run (a million imported accounts take a few entries, not a million), a change to
/// one id kept for that id alone, in front of its run. Replaying the log of a vault with a million
/// imported users took 70 MiB and half a second in a Set and a Dictionary of every id.
struct RangedIDs<Value> {
    /// Disjoint, in ascending order.
    private var runs: [(ids: ClosedRange<Int64>, value: Value)] = []
    /// Changes to single ids since their run was set: a value, or nil for none.
    private var single: [Int64: Value?] = [:]

    /// The value of `id`; setting one (or nil) changes that id alone.
    subscript(id: Int64) -> Value? {
        get {
            if let own = single[id] { return own }
            let i = firstRun(endingAtOrAfter: id)
            return i < runs.count && runs[i].ids.contains(id) ? runs[i].value : nil
        }
        set { single.updateValue(newValue, forKey: id) }
    }

    /// Gives every id in `ids` the value, whatever each had.
    mutating func set(_ ids: ClosedRange<Int64>, to value: Value) {
        if !single.isEmpty { single = single.filter { !ids.contains($0.key) } }
        let start = firstRun(endingAtOrAfter: ids.lowerBound)
        var end = start
        var before: (ids: ClosedRange<Int64>, value: Value)?
        var after: (ids: ClosedRange<Int64>, value: Value)?
        // The runs it overlaps keep only their parts outside it (no arithmetic past Int64's ends:
        // a part exists only where a bound lies strictly beyond).
        while end < runs.count, runs[end].ids.lowerBound <= ids.upperBound {
            let r = runs[end]
            if r.ids.lowerBound < ids.lowerBound { before = (r.ids.lowerBound...(ids.lowerBound - 1), r.value) }
            if r.ids.upperBound > ids.upperBound { after = ((ids.upperBound + 1)...r.ids.upperBound, r.value) }
            end += 1
        }
        runs.replaceSubrange(start..<end, with: [before, (ids, value), after].compactMap { $0 })
    }

    /// The index of the first run that ends at or after `id` (`runs.count` when none does).
    private func firstRun(endingAtOrAfter id: Int64) -> Int {
        var low = 0, high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].ids.upperBound < id { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
