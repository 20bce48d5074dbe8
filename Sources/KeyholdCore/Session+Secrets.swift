import KeyholdCrypto
import KeyholdStore

extension Session {
    /// Longest generated token.
    public static let maxGeneratedLength = 4096

    // MARK: Reading (metadata only)

    /// Secrets whose name starts with `prefix`, without decrypting anything.
    public func secrets(prefix: String? = nil) throws -> [SecretInfo] {
        try read(requires: .secretsList, action: "secret.list") { tx, _ in try tx.secrets(prefix: prefix).map(info) }
    }

    /// Secrets whose name starts with `prefix`, from their own rows alone: `versionCount` is 0.
    /// What a hand-out needs (names, descriptions), even when some versions' rows are on a
    /// damaged page, which the hand-out then names.
    public func secretsWithoutCounts(prefix: String? = nil) throws -> [SecretInfo] {
        try read(requires: .secretsList, action: "secret.list") { tx, _ in
            try tx.secrets(prefix: prefix, countingVersions: false).map(info)
        }
    }

    /// One secret's metadata.
    public func secret(named name: String) throws -> SecretInfo {
        try read(requires: .secretsList, action: "secret.show") { tx, _ in info(try existingSecret(tx, name)) }
    }

    /// The stored versions of a secret, oldest first.
    public func versions(of name: String) throws -> [SecretVersionInfo] {
        try read(requires: .secretsList, action: "secret.versions") { tx, _ in
            let s = try existingSecret(tx, name)
            var names: [Int64: String] = [:]
            for k in try tx.userKeys() { names[k.userID] = k.username }
            return try tx.secretVersions(secretID: s.id).map {
                SecretVersionInfo(
                    version: $0.version, keyVersion: $0.keyVersion, createdAt: $0.createdAt,
                    createdBy: $0.createdBy.flatMap { names[$0] })
            }
        }
    }

    /// Secrets past their rotate-by date and those due within `window` ms, by the vault's clock:
    /// the counts and the first `limit` of each (a dashboard's warnings), without reading every
    /// secret's metadata.
    public func rotationDue(within window: Int64, first limit: Int = 5) throws -> RotationDue {
        try Self.checkWindow(window, first: limit)
        return try read(requires: .secretsList, action: "secret.list") { tx, _ in
            let now = vault.clock.now()
            let overdue = try tx.secretsDue(in: Int64.min...now, limit: limit)
            let soon = try Self.after(now, within: window).map { try tx.secretsDue(in: $0, limit: limit) } ?? (count: 0, first: [])
            func due(_ rows: [(name: String, rotateBy: Int64)]) -> [DueSecret] {
                rows.map { DueSecret(name: $0.name, rotateBy: $0.rotateBy) }
            }
            return RotationDue(
                at: now, overdue: due(overdue.first), overdueCount: overdue.count,
                dueSoon: due(soon.first), dueSoonCount: soon.count)
        }
    }

    /// The arguments of a "due within" query (`rotationDue`, `usersExpiring`): `window` ms not
    /// negative, `limit` 0 to 1000.
    static func checkWindow(_ window: Int64, first limit: Int) throws {
        guard window >= 0 else {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "window", rule: .range,
                    message: "window: must not be negative (got \(window) ms)"))
        }
        guard (0...1000).contains(limit) else {
            throw KeyholdError.invalid(ValidationError(field: "limit", rule: .range, message: "limit: must be 0 to 1000 (got \(limit))"))
        }
    }

    /// After `now`, through `now + window` (saturating at the end of time); nil when empty.
    static func after(_ now: Int64, within window: Int64) -> ClosedRange<Int64>? {
        let (sum, overflow) = now.addingReportingOverflow(window)
        let end = overflow ? Int64.max : sum
        return end > now ? (now + 1)...end : nil
    }

    func info(_ s: SecretRow) -> SecretInfo {
        SecretInfo(
            name: s.name, description: s.description, currentVersion: s.currentVersion, versionCount: s.versionCount,
            historyLimit: s.historyLimit, rotateBy: s.rotateBy, createdAt: s.createdAt, updatedAt: s.updatedAt)
    }

    /// The secret named `name`. A session holding R also checks the row's name tag, so a
    /// name moved to another row (whose values would then answer to it) is an integrity error.
    func existingSecret(_ tx: Tx, _ name: String, countingVersions: Bool = true) throws -> SecretRow {
        guard let s = try tx.secret(named: name, countingVersions: countingVersions) else {
            throw KeyholdError.notFound(kind: "secret", name: name)
        }
        try checkNameTag(tx, s)
        return s
    }

    /// Fails unless the row's name tag is the one R gives its id and name (only checked with R).
    func checkNameTag(_ tx: Tx, _ s: SecretRow) throws {
        guard let root else { return }
        guard let tag = try tx.secretNameTag(id: s.id), tag == Trust.nameTag(root.names, secretID: s.id, name: s.name) else {
            throw KeyholdError.integrity(
                "secrets id=\(s.id) (name \(s.name)): the name does not match its tag "
                    + "(moved from another row, or renamed outside Keyhold)")
        }
    }

    // MARK: Values

    /// Opens one version (the current one by default). Audited as `secret.reveal`.
    public func reveal(_ name: String, version: Int? = nil) throws -> SecureBytes {
        try perform(.secretReveal, target: "secret:\(name)", requires: .secretsRead) { op in
            let s = try existingSecret(op.tx, name)
            let v = version ?? s.currentVersion
            guard let row = try op.tx.secretVersion(secretID: s.id, version: v) else {
                throw KeyholdError.notFound(kind: "version of \(s.name)", name: String(v))
            }
            op.details = ["version": .int(Int64(v))]
            return try open(op.tx, row, name: s.name)
        }
    }

    func open(_ tx: Tx, _ row: SecretVersionRow, name: String) throws -> SecureBytes {
        let key = try dataKey(tx, version: row.keyVersion)
        do {
            return try Seal.open(
                row.ciphertext, key: key,
                aad: Keyring.secretAAD(secretID: row.secretID, version: row.version, keyVersion: row.keyVersion))
        } catch {
            throw notOpening(row, name: name)
        }
    }

    /// Bulk form of `open`: opens with `key` (data key `row.keyVersion`, looked up once per batch by
    /// the caller) into (guarded) memory the caller owns; returns the value's length.
    func open(_ row: SecretVersionRow, key: SecureBytes, name: String, into out: UnsafeMutableRawBufferPointer) throws -> Int {
        do {
            return try Keyring.withSecretAAD(secretID: row.secretID, version: row.version, keyVersion: row.keyVersion) { aad in
                try row.ciphertext.withUnsafeBytes { try Seal.open($0, key: key, aad: aad, into: out) }
            }
        } catch {
            throw notOpening(row, name: name)
        }
    }

    private func notOpening(_ row: SecretVersionRow, name: String) -> KeyholdError {
        .integrity(
            "secret_versions secret_id=\(row.secretID) version=\(row.version) (secret \(name)): does not open (altered, or moved from another row)"
        )
    }

    func material(_ input: SecretInput) throws -> SecureBytes {
        switch input {
        case .value(let v):
            try Vault.valid { try Validate.secretValueSize(v.count) }
            return v
        case .generated(let length, let alphabet):
            guard (1...Session.maxGeneratedLength).contains(length) else {
                throw KeyholdError.invalid(
                    ValidationError(
                        field: "length", rule: .range,
                        message: "length: must be 1 to \(Session.maxGeneratedLength) (got \(length))"))
            }
            return try Token.generate(length: length, alphabet: alphabet)
        }
    }

    /// Seals a value as `version` of secret `secretID` under the active data key.
    func sealVersion(_ op: Op, secretID: Int64, version: Int, value: SecureBytes) throws {
        guard let active = try op.tx.activeDataKey() else { throw KeyholdError.integrity("data_keys: no active key") }
        let key = try dataKey(op.tx, version: active.version)
        let sealed = try Seal.seal(
            value, key: key, aad: Keyring.secretAAD(secretID: secretID, version: version, keyVersion: active.version))
        try op.tx.insertSecretVersion(
            SecretVersionRow(
                secretID: secretID, version: version, keyVersion: active.version,
                ciphertext: sealed, createdAt: op.now, createdBy: userID))
    }

    /// Bulk form of `sealVersion`: seals a value from (guarded) raw memory under data key
    /// `keyVersion`, looked up once per batch by the caller, through a reusable sealer.
    func sealVersion(
        _ op: Op, secretID: Int64, version: Int, keyVersion: Int, key: SecureBytes,
        value: UnsafeRawBufferPointer, sealer: Sealer
    ) throws {
        try Keyring.withSecretAAD(secretID: secretID, version: version, keyVersion: keyVersion) { aad in
            try sealer.seal(value, key: key, aad: aad) { sealed in
                try op.tx.insertSecretVersion(
                    secretID: secretID, version: version, keyVersion: keyVersion, ciphertext: sealed,
                    createdAt: op.now, createdBy: userID)
            }
        }
    }

    /// Creates a secret with its first version, typed or generated.
    public func createSecret(
        _ name: String, _ input: SecretInput, description: String = "",
        rotateBy: Int64? = nil, historyLimit: Int? = nil
    ) throws {
        let name = try Vault.valid { try Validate.secretName(name) }
        let description = try Vault.valid { try Validate.description(description, field: "secret description") }
        try validHistory(historyLimit)
        let value = try material(input)
        try perform(.secretCreate, target: "secret:\(name)", requires: .secretsWrite) { op in
            if try op.tx.secret(named: name) != nil { throw KeyholdError.conflict("a secret named \(name) already exists") }
            try insertSecret(&op, name, input, value, description: description, rotateBy: rotateBy, historyLimit: historyLimit)
        }
    }

    /// Adds a new current version; versions beyond the history limit are deleted, oldest first.
    @discardableResult
    public func addVersion(_ name: String, _ input: SecretInput) throws -> Int {
        let value = try material(input)
        return try perform(.secretUpdate, target: "secret:\(name)", requires: .secretsWrite) { op in
            var s = try existingSecret(op.tx, name)
            return try appendVersion(&op, &s, input, value)
        }
    }

    /// Stores a value: creates the secret, or adds a new current version when it
    /// exists, and applies `description` and `rotateBy` (nil leaves them as they
    /// are; `.some(nil)` clears the date), all in one transaction with one event:
    /// `secret.create`, or `secret.update` whose details also carry
    /// `description_changed` and `rotate_by` when those changed or were given.
    /// Returns the version stored and whether the secret was created.
    @discardableResult
    public func setSecret(
        _ name: String, _ input: SecretInput, description: String? = nil,
        rotateBy: Int64?? = nil
    ) throws -> (version: Int, created: Bool) {
        let name = try Vault.valid { try Validate.secretName(name) }
        let description = try description.map { d in try Vault.valid { try Validate.description(d, field: "secret description") } }
        let value = try material(input)
        return try perform(.secretCreate, target: "secret:\(name)", requires: .secretsWrite) { op in
            guard var s = try op.tx.secret(named: name) else {
                try insertSecret(&op, name, input, value, description: description ?? "", rotateBy: rotateBy ?? nil, historyLimit: nil)
                return (1, true)
            }
            try checkNameTag(op.tx, s)
            op.action = .secretUpdate
            let described = description.map { $0 != s.description } ?? false
            if let description { s.description = description }
            if let rotateBy { s.rotateBy = rotateBy }
            let version = try appendVersion(&op, &s, input, value, keepRotateBy: rotateBy != nil)
            if described { op.details["description_changed"] = .bool(true) }
            if let rotateBy { op.details["rotate_by"] = rotateBy.map(AuditValue.int) ?? .string("none") }
            return (version, false)
        }
    }

    /// Inserts a new secret with `value` as version 1.
    private func insertSecret(
        _ op: inout Op, _ name: String, _ input: SecretInput, _ value: SecureBytes,
        description: String, rotateBy: Int64?, historyLimit: Int?
    ) throws {
        let id = try op.tx.insertSecret(
            SecretRow(
                name: name, description: description, currentVersion: 1,
                historyLimit: historyLimit, rotateBy: rotateBy,
                createdAt: op.now, updatedAt: op.now))
        try op.tx.setSecretNameTag(id: id, tag: Trust.nameTag(try requireRoot().names, secretID: id, name: name))
        try sealVersion(op, secretID: id, version: 1, value: value)
        op.details = ["version": .int(1), "generated": .bool(input.isGenerated)]
        if let rotateBy { op.details["rotate_by"] = .int(rotateBy) }
    }

    /// Seals `value` as the new current version of `s`, saves `s` (with any other
    /// change the caller made) and prunes versions beyond the history limit. A rotate-by
    /// date that has passed is cleared (the new version is the rotation it asked for;
    /// details `rotate_by_cleared`), unless the caller set the date itself (`keepRotateBy`).
    private func appendVersion(
        _ op: inout Op, _ s: inout SecretRow, _ input: SecretInput, _ value: SecureBytes,
        keepRotateBy: Bool = false
    ) throws -> Int {
        op.target = "secret:\(s.name)"
        let version = s.lastVersion + 1
        try sealVersion(op, secretID: s.id, version: version, value: value)
        s.currentVersion = version
        s.lastVersion = version
        s.updatedAt = op.now
        let cleared = keepRotateBy ? nil : Self.clearPastRotateBy(&s, now: op.now)
        try op.tx.updateSecret(s)
        let dropped = try prune(&op, s)
        op.details = ["version": .int(Int64(version)), "generated": .bool(input.isGenerated)]
        if !dropped.isEmpty { op.details["pruned"] = .strings(dropped.map(String.init)) }
        if let cleared { op.details["rotate_by_cleared"] = .int(cleared) }
        return version
    }

    /// Clears `s.rotateBy` when it is at or before `now`; returns the date cleared.
    static func clearPastRotateBy(_ s: inout SecretRow, now: Int64) -> Int64? {
        guard let due = s.rotateBy, due <= now else { return nil }
        s.rotateBy = nil
        return due
    }

    /// Whether `value` is the current version of `s`: opened into guarded memory, compared
    /// in constant time with `value` where it lies, wiped. A length that differs answers
    /// without opening anything.
    func isCurrentValue(_ tx: Tx, _ s: SecretRow, _ value: UnsafeRawBufferPointer) throws -> Bool {
        guard let row = try tx.secretVersion(secretID: s.id, version: s.currentVersion) else {
            throw KeyholdError.integrity("secret \(s.name): current version \(s.currentVersion) is missing")
        }
        guard row.ciphertext.count - Seal.nonceBytes - Seal.tagBytes == value.count else { return false }
        let key = try dataKey(tx, version: row.keyVersion)
        let current = try SecureBytes(count: value.count) { out in _ = try open(row, key: key, name: s.name, into: out) }
        return current.constantTimeEquals(value)
    }

    /// Deletes a secret and all its versions, then checkpoints the WAL.
    public func deleteSecret(_ name: String) throws -> DeletionOutcome {
        try perform(.secretDelete, target: "secret:\(name)", requires: .secretsWrite) { op in
            let s = try existingSecret(op.tx, name)
            op.target = "secret:\(s.name)"
            try op.tx.deleteSecret(id: s.id)
            op.securelyDeletes = true
            op.details = ["versions": .int(Int64(s.versionCount))]
        }
        return lastCheckpoint
    }

    /// Deletes one version. The last remaining version cannot be deleted (delete the secret instead).
    public func deleteVersion(_ name: String, version: Int) throws -> DeletionOutcome {
        try perform(.secretDeleteVersion, target: "secret:\(name)", requires: .secretsWrite) { op in
            var s = try existingSecret(op.tx, name)
            op.target = "secret:\(s.name)"
            let versions = try op.tx.secretVersions(secretID: s.id).map(\.version)
            guard versions.contains(version) else { throw KeyholdError.notFound(kind: "version of \(s.name)", name: String(version)) }
            guard versions.count > 1 else {
                throw KeyholdError.refused("version \(version) is the only version of \(s.name); delete the secret instead")
            }
            try op.tx.deleteSecretVersion(secretID: s.id, version: version)
            if s.currentVersion == version { s.currentVersion = versions.filter { $0 != version }.max()! }
            s.updatedAt = op.now
            try op.tx.updateSecret(s)
            op.securelyDeletes = true
            op.details = ["version": .int(Int64(version)), "current": .int(Int64(s.currentVersion))]
        }
        return lastCheckpoint
    }

    /// Sets (or with nil clears) the date by which the secret should be rotated.
    public func setRotateBy(_ name: String, at time: Int64?) throws {
        try editSecret(name, rotateBy: .some(time))
    }

    /// Sets (or with nil clears, falling back to the vault's) how many versions
    /// to keep; versions beyond it are deleted at once, oldest first.
    public func setHistoryLimit(_ name: String, _ limit: Int?) throws {
        try editSecret(name, historyLimit: .some(limit))
    }

    /// Changes what is given of a secret's description, rotate-by date (`.some(nil)`
    /// clears it) and history limit (`.some(nil)`: the vault's), in one transaction
    /// with one event: `secret.describe`, `secret.rotate-by` or `secret.history-limit`
    /// when one is given, `secret.edit` when several are. Versions beyond a lower
    /// history limit are deleted at once, oldest first.
    public func editSecret(_ name: String, description: String? = nil, rotateBy: Int64?? = nil, historyLimit: Int?? = nil) throws {
        let description = try description.map { d in try Vault.valid { try Validate.description(d, field: "secret description") } }
        if let limit = historyLimit { try validHistory(limit) }
        let given = [description != nil, rotateBy != nil, historyLimit != nil]
        guard given.contains(true) else { return }
        let action: AuditAction =
            given.filter { $0 }.count > 1
            ? .secretEdit
            : description != nil ? .secretDescribe : rotateBy != nil ? .secretRotateBy : .secretHistoryLimit
        try updateSecretMetadata(name, action: action) { op, s in
            if let description {
                s.description = description
                op.details["description_changed"] = .bool(true)
            }
            if let rotateBy {
                s.rotateBy = rotateBy
                op.details["rotate_by"] = rotateBy.map(AuditValue.int) ?? .string("none")
            }
            if let historyLimit {
                s.historyLimit = historyLimit
                op.details["history_limit"] = historyLimit.map { .int(Int64($0)) } ?? .string("vault default")
                let dropped = try prune(&op, s)
                if !dropped.isEmpty { op.details["pruned"] = .strings(dropped.map(String.init)) }
            }
        }
    }

    /// Deletes the oldest versions beyond the secret's (or the vault's) history limit, never the current one.
    private func prune(_ op: inout Op, _ s: SecretRow) throws -> [Int] {
        let limit = try s.historyLimit ?? op.tx.requiredVault().historyLimit
        let versions = try op.tx.secretVersions(secretID: s.id).map(\.version).filter { $0 != s.currentVersion }
        let dropped = Array(versions.dropLast(max(limit - 1, 0)))
        for v in dropped { try op.tx.deleteSecretVersion(secretID: s.id, version: v) }
        if !dropped.isEmpty { op.securelyDeletes = true }
        return dropped
    }

    public func setDescription(ofSecret name: String, _ description: String) throws {
        try editSecret(name, description: description)
    }

    private func updateSecretMetadata(_ name: String, action: AuditAction, _ change: (inout Op, inout SecretRow) throws -> Void) throws {
        try perform(action, target: "secret:\(name)", requires: .secretsWrite) { op in
            var s = try existingSecret(op.tx, name)
            op.target = "secret:\(s.name)"
            try change(&op, &s)
            s.updatedAt = op.now
            try op.tx.updateSecret(s)
        }
    }

    private func validHistory(_ limit: Int?) throws {
        if let limit, !(1...1000).contains(limit) {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "history limit", rule: .range,
                    message: "history limit: must be 1 to 1000 (got \(limit))"))
        }
    }
}

extension SecretInput {
    var isGenerated: Bool { if case .generated = self { true } else { false } }
}
