import KeyholdStore

/// A user as the console and the CLI see it.
public struct UserInfo: Sendable, Equatable, Codable {
    public var id: Int64
    public var username: String
    public var email: String?
    public var displayName: String
    public var roles: [String]
    public var permissions: Set<Permission>
    /// Locked by an administrator.
    public var locked: Bool
    /// Locked after failed logins until this time (ms), if in the future.
    public var lockedUntil: Int64?
    public var disabled: Bool
    public var expiresAt: Int64?
    public var mustChangePassword: Bool
    public var failedLogins: Int
    public var hasKeyPair: Bool
    /// `none`, `granted` or `pending`.
    public var keyAccess: KeyAccess
    public var createdAt: Int64
    public var lastLoginAt: Int64?
    /// `argon2id`, `argon2i`, `bcrypt`, `scrypt` or `pbkdf2-sha256` (all but the first only from an
    /// import of application accounts; the last two are Werkzeug's).
    public var passwordScheme: String = "argon2id"
    /// The hash is not Argon2id at or above the vault's cost (the `legacy_hash` column of `app_users`).
    public var legacyHash: Bool = false

    /// Whether the account may log in at `now` (ignoring a wrong password).
    public func isActive(at now: Int64) -> Bool {
        !locked && !disabled && !(expiresAt.map { $0 <= now } ?? false)
    }

    /// One word for tables: active, locked, disabled, expired.
    public func status(at now: Int64) -> String {
        if disabled { return "disabled" }
        if locked { return "locked" }
        if let e = expiresAt, e <= now { return "expired" }
        if let u = lockedUntil, u > now { return "locked-out" }
        return "active"
    }
}

/// Whether a user holds the root key.
public enum KeyAccess: String, Sendable, Equatable, Codable {
    case none, granted, pending
}

/// A role and its permissions.
public struct RoleInfo: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    public var builtin: Bool
    public var permissions: Set<Permission>
    public var members: Int
}

/// A secret's metadata; never its value.
public struct SecretInfo: Sendable, Equatable, Codable {
    public var name: String
    public var description: String
    public var currentVersion: Int
    public var versionCount: Int
    public var historyLimit: Int?
    public var rotateBy: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64
}

/// A secret and its rotate-by date, Unix ms.
public struct DueSecret: Sendable, Equatable, Codable {
    public var name: String
    public var rotateBy: Int64
    public init(name: String, rotateBy: Int64) { self.name = name; self.rotateBy = rotateBy }
}

/// Secrets past or near their rotate-by date, as of `at`: how many of each, and the earliest few.
public struct RotationDue: Sendable, Equatable, Codable {
    /// When it was read (the vault's clock), Unix ms.
    public var at: Int64
    /// Rotate-by date at or before `at`, earliest first (then by name).
    public var overdue: [DueSecret]
    public var overdueCount: Int
    /// Rotate-by date after `at` and within the window asked for, earliest first.
    public var dueSoon: [DueSecret]
    public var dueSoonCount: Int
    public init(at: Int64, overdue: [DueSecret], overdueCount: Int, dueSoon: [DueSecret], dueSoonCount: Int) {
        self.at = at; self.overdue = overdue; self.overdueCount = overdueCount
        self.dueSoon = dueSoon; self.dueSoonCount = dueSoonCount
    }
}

/// What `Session.importSecrets` did: secrets created, updated (a new version), left
/// unchanged (the value was already the current one: no version added), and skipped
/// (already there, with `.skip`).
public struct ImportCounts: Sendable, Equatable {
    public var created = 0
    public var updated = 0
    public var unchanged = 0
    public var skipped = 0
    public init(created: Int = 0, updated: Int = 0, unchanged: Int = 0, skipped: Int = 0) {
        self.created = created; self.updated = updated; self.unchanged = unchanged; self.skipped = skipped
    }
}

/// A user whose account stops working soon.
public struct ExpiringUser: Sendable, Equatable {
    public var username: String
    /// When the account stops working, Unix ms.
    public var expiresAt: Int64
    public init(username: String, expiresAt: Int64) { self.username = username; self.expiresAt = expiresAt }
}

/// Accounts (not disabled) whose expiry date falls after `at` and within a window: how many, and the earliest few.
public struct UsersExpiring: Sendable, Equatable {
    /// When it was read (the vault's clock), Unix ms.
    public var at: Int64
    public var first: [ExpiringUser]
    public var count: Int
    public init(at: Int64, first: [ExpiringUser], count: Int) { self.at = at; self.first = first; self.count = count }
}

/// One stored version of a secret; never its value.
public struct SecretVersionInfo: Sendable, Equatable, Codable {
    public var version: Int
    public var keyVersion: Int
    public var createdAt: Int64
    public var createdBy: String?
}

/// Where a new secret value comes from.
public enum SecretInput: Sendable {
    /// A value the caller has (typed, piped, read from a file).
    case value(SecureBytes)
    /// A random token nobody typed.
    case generated(length: Int, alphabet: Token.Alphabet)
}

/// One audit event, as read back.
public struct AuditEvent: Sendable, Equatable, Codable {
    public var seq: Int64
    public var at: Int64
    public var actor: String
    public var action: String
    public var target: String
    public var details: String
    public var signed: Bool
}

/// The outcome of walking the audit chain.
public struct AuditVerification: Sendable, Equatable {
    public var events: Int
    /// `<seq>:<hex>` of the last event, or nil for an empty log.
    public var head: String?
    /// The first event that fails and why, or nil if all verify.
    public var failure: (seq: Int64, reason: String)?
    public var ok: Bool { failure == nil }

    public static func == (a: Self, b: Self) -> Bool {
        a.events == b.events && a.head == b.head && a.failure?.seq == b.failure?.seq && a.failure?.reason == b.failure?.reason
    }
}

// The failure is a tuple, which has no synthesized coding: it travels as two optional fields.
extension AuditVerification: Codable {
    private enum CodingKeys: String, CodingKey { case events, head, failureSeq, failureReason }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        events = try c.decode(Int.self, forKey: .events)
        head = try c.decodeIfPresent(String.self, forKey: .head)
        if let seq = try c.decodeIfPresent(Int64.self, forKey: .failureSeq) {
            failure = (seq, try c.decode(String.self, forKey: .failureReason))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(events, forKey: .events)
        try c.encodeIfPresent(head, forKey: .head)
        try c.encodeIfPresent(failure?.seq, forKey: .failureSeq)
        try c.encodeIfPresent(failure?.reason, forKey: .failureReason)
    }
}

/// Data keys and grants at a glance.
public struct KeyStatus: Sendable, Equatable, Codable {
    public var dataKeyVersions: [Int]
    public var activeDataKey: Int
    public var grantedUsers: [String]
    public var pendingGrants: [String]
    /// The pending grants as requests, with the fingerprint of each user's key (once they have one).
    public var requests: [KeyRequest] = []
    public var revocationWarning: String?
    public var kdf: KDFCost
    /// Versions sealed under data keys below this are refused.
    public var minDecryptVersion: Int = 1
    /// Root key generation.
    public var rootVersion: Int = 1
    /// A data-key rotation started and not finished.
    public var rotation: RotationState?
    /// What is wrong with the data keys (missing or below the minimum while a version
    /// uses them, none active): the structural part of `Session.check`.
    public var problems: [CheckProblem] = []
}

/// What a deletion did about the WAL (docs/SECURITY.md, "What deletion promises").
public struct DeletionOutcome: Sendable, Equatable {
    /// The WAL was checkpointed and truncated: no copy of the deleted bytes remains in -wal.
    public var checkpointed: Bool
}

/// A user whose key access awaits an administrator's approval.
public struct KeyRequest: Sendable, Equatable, Codable {
    public var username: String
    /// The fingerprint of the key the root key would be sealed to; nil until the user's first login makes one.
    public var fingerprint: String?
    public var requestedAt: Int64
}
