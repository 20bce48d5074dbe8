/// Plain rows of the vault's tables, as the core reads and writes them.
/// Column meanings are in schema.sql and docs/FORMAT.md.

public struct VaultRow: Sendable, Equatable {
    public var format: Int
    public var createdAt: Int64
    public var kdfOpslimit: Int
    public var kdfMemlimit: Int
    public var passwordMinLength: Int
    public var historyLimit: Int
    public var tempPasswordTTL: Int64
    public var recoverySealed: [UInt8]
    public var revocationWarning: String?
    /// Generation of the root key; raised by each root rotation.
    public var rootVersion: Int = 1
    /// Data keys below this version are refused.
    public var minDecryptVersion: Int = 1
    /// 16 random bytes naming this vault (format 2; nil in a format-1 vault before its upgrade).
    public var vaultID: [UInt8]?
    /// Sequence number of the audit event trust starts from (vault.create or vault.upgrade).
    public var anchorSeq: Int64?
    public init(
        format: Int, createdAt: Int64, kdfOpslimit: Int, kdfMemlimit: Int, passwordMinLength: Int,
        historyLimit: Int, tempPasswordTTL: Int64, recoverySealed: [UInt8], revocationWarning: String?
    ) {
        self.format = format; self.createdAt = createdAt; self.kdfOpslimit = kdfOpslimit; self.kdfMemlimit = kdfMemlimit
        self.passwordMinLength = passwordMinLength; self.historyLimit = historyLimit; self.tempPasswordTTL = tempPasswordTTL
        self.recoverySealed = recoverySealed; self.revocationWarning = revocationWarning
    }
}

public struct DataKeyRow: Sendable, Equatable {
    public var version: Int
    public var sealed: [UInt8]
    public var active: Bool
    public var createdAt: Int64
    public init(version: Int, sealed: [UInt8], active: Bool, createdAt: Int64) {
        self.version = version; self.sealed = sealed; self.active = active; self.createdAt = createdAt
    }
}

public struct RoleRow: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var description: String
    public var builtin: Bool
    public var createdAt: Int64
    public var permissions: Set<String>
    public init(id: Int64, name: String, description: String, builtin: Bool, createdAt: Int64, permissions: Set<String>) {
        self.id = id; self.name = name; self.description = description; self.builtin = builtin
        self.createdAt = createdAt; self.permissions = permissions
    }
}

public struct UserRow: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var email: String?
    public var displayName: String
    public var passwordHash: String
    public var mustChange: Bool
    public var passwordExpiresAt: Int64?
    public var locked: Bool
    public var disabled: Bool
    public var expiresAt: Int64?
    public var failedLogins: Int
    public var lockedUntil: Int64?
    public var keyID: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var lastLoginAt: Int64?
    public init(
        id: Int64 = 0, username: String, email: String?, displayName: String, passwordHash: String,
        mustChange: Bool, passwordExpiresAt: Int64?, locked: Bool = false, disabled: Bool = false,
        expiresAt: Int64? = nil, failedLogins: Int = 0, lockedUntil: Int64? = nil, keyID: Int64? = nil,
        createdAt: Int64, updatedAt: Int64, lastLoginAt: Int64? = nil
    ) {
        self.id = id; self.username = username; self.email = email; self.displayName = displayName
        self.passwordHash = passwordHash; self.mustChange = mustChange; self.passwordExpiresAt = passwordExpiresAt
        self.locked = locked; self.disabled = disabled; self.expiresAt = expiresAt; self.failedLogins = failedLogins
        self.lockedUntil = lockedUntil; self.keyID = keyID; self.createdAt = createdAt; self.updatedAt = updatedAt
        self.lastLoginAt = lastLoginAt
    }
}

public struct UserKeyRow: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    public var username: String
    public var publicKey: [UInt8]
    public var sealedSecretKey: [UInt8]?
    public var kdfSalt: [UInt8]?
    public var kdfOpslimit: Int?
    public var kdfMemlimit: Int?
    public var createdAt: Int64
    public var retiredAt: Int64?
    /// The owner's signature binding the key to this vault (docs/FORMAT.md, "Pins").
    public var pin: [UInt8]?
    /// A root signing key's signature vouching for the key, and that key's generation.
    public var endorsement: [UInt8]?
    public var endorsedRoot: Int?
    public init(
        id: Int64 = 0, userID: Int64, username: String, publicKey: [UInt8], sealedSecretKey: [UInt8]?,
        kdfSalt: [UInt8]?, kdfOpslimit: Int?, kdfMemlimit: Int?, createdAt: Int64, retiredAt: Int64? = nil
    ) {
        self.id = id; self.userID = userID; self.username = username; self.publicKey = publicKey
        self.sealedSecretKey = sealedSecretKey; self.kdfSalt = kdfSalt; self.kdfOpslimit = kdfOpslimit
        self.kdfMemlimit = kdfMemlimit; self.createdAt = createdAt; self.retiredAt = retiredAt
    }
}

public struct GrantRow: Sendable, Equatable {
    public var userID: Int64
    public var keyID: Int64?
    /// nil: pending.
    public var sealedRoot: [UInt8]?
    public var createdAt: Int64
    /// The root signing key's signature of the sealed grant (docs/FORMAT.md, "Grants").
    public var signature: [UInt8]?
    public init(userID: Int64, keyID: Int64?, sealedRoot: [UInt8]?, createdAt: Int64, signature: [UInt8]? = nil) {
        self.userID = userID; self.keyID = keyID; self.sealedRoot = sealedRoot; self.createdAt = createdAt
        self.signature = signature
    }
}

public struct SecretRow: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var description: String
    public var currentVersion: Int
    /// The highest version number ever made; the next one is this plus one.
    public var lastVersion: Int
    public var historyLimit: Int?
    public var rotateBy: Int64?
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Number of stored versions (filled by listing queries).
    public var versionCount: Int
    public init(
        id: Int64 = 0, name: String, description: String, currentVersion: Int, lastVersion: Int? = nil,
        historyLimit: Int?, rotateBy: Int64?, createdAt: Int64, updatedAt: Int64, versionCount: Int = 0
    ) {
        self.id = id; self.name = name; self.description = description; self.currentVersion = currentVersion
        self.lastVersion = lastVersion ?? currentVersion
        self.historyLimit = historyLimit; self.rotateBy = rotateBy; self.createdAt = createdAt
        self.updatedAt = updatedAt; self.versionCount = versionCount
    }
}

public struct SecretVersionRow: Sendable, Equatable {
    public var secretID: Int64
    public var version: Int
    public var keyVersion: Int
    public var ciphertext: [UInt8]
    public var createdAt: Int64
    public var createdBy: Int64?
    public init(secretID: Int64, version: Int, keyVersion: Int, ciphertext: [UInt8], createdAt: Int64, createdBy: Int64?) {
        self.secretID = secretID; self.version = version; self.keyVersion = keyVersion
        self.ciphertext = ciphertext; self.createdAt = createdAt; self.createdBy = createdBy
    }
}

/// Secret versions read for re-sealing (`Tx.versionsBelow`): which rows, and their
/// ciphertexts back to back in one buffer, so a batch of rotation allocates no array per row.
public struct VersionBatch: Sendable, Equatable {
    public struct Key: Sendable, Equatable {
        public var secretID: Int64
        public var version: Int
        public var keyVersion: Int
        public init(secretID: Int64, version: Int, keyVersion: Int) {
            self.secretID = secretID; self.version = version; self.keyVersion = keyVersion
        }
        /// This row's place in the table's order.
        public var position: Position { Position(secretID: secretID, version: version) }
    }
    /// A place in secret_versions' primary-key order, (secret, version): where a read starts.
    public struct Position: Sendable, Equatable {
        public var secretID: Int64
        public var version: Int
        public init(secretID: Int64, version: Int) { self.secretID = secretID; self.version = version }
    }
    public private(set) var keys: [Key] = []
    /// Every ciphertext, in row order; row `i`'s ends at `ends[i]`.
    public private(set) var bytes: [UInt8] = []
    public private(set) var ends: [Int] = []

    public init() {}

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Where row `index`'s ciphertext lies in `bytes`.
    public func range(of index: Int) -> Range<Int> { (index == 0 ? 0 : ends[index - 1])..<ends[index] }

    /// The last row's place (nil when the batch is empty): the next read goes on after it.
    public var last: Position? { keys.last?.position }

    mutating func reserve(_ rows: Int) {
        keys.reserveCapacity(rows)
        ends.reserveCapacity(rows)
        bytes.reserveCapacity(rows * 128)
    }

    mutating func append(_ key: Key, ciphertext: UnsafeRawBufferPointer) {
        keys.append(key)
        bytes.append(contentsOf: ciphertext)
        ends.append(bytes.count)
    }
}

public struct AuditRow: Sendable, Equatable {
    public var seq: Int64
    public var at: Int64
    public var actorID: Int64?
    public var actorName: String
    public var actorKeyID: Int64?
    public var action: String
    public var target: String
    public var details: String
    public var prevHash: [UInt8]
    public var hash: [UInt8]
    public var signature: [UInt8]?
    public init(
        seq: Int64, at: Int64, actorID: Int64?, actorName: String, actorKeyID: Int64?, action: String,
        target: String, details: String, prevHash: [UInt8], hash: [UInt8], signature: [UInt8]?
    ) {
        self.seq = seq; self.at = at; self.actorID = actorID; self.actorName = actorName; self.actorKeyID = actorKeyID
        self.action = action; self.target = target; self.details = details; self.prevHash = prevHash
        self.hash = hash; self.signature = signature
    }
}

/// Filter for listing users; every field is optional and combined with AND.
public struct UserQuery: Sendable, Equatable {
    /// Case-insensitive substring of username, email or display name.
    public var text: String?
    public var role: String?
    public var limit: Int?
    public var offset: Int
    public init(text: String? = nil, role: String? = nil, limit: Int? = nil, offset: Int = 0) {
        self.text = text; self.role = role; self.limit = limit; self.offset = offset
    }
}

/// Filter for reading the audit log.
public struct AuditQuery: Sendable, Equatable {
    public var actor: String?
    public var action: String?
    public var target: String?
    public var since: Int64?
    public var until: Int64?
    public var afterSeq: Int64?
    public var limit: Int?
    public var newestFirst: Bool
    public init(
        actor: String? = nil, action: String? = nil, target: String? = nil, since: Int64? = nil,
        until: Int64? = nil, afterSeq: Int64? = nil, limit: Int? = nil, newestFirst: Bool = false
    ) {
        self.actor = actor; self.action = action; self.target = target; self.since = since; self.until = until
        self.afterSeq = afterSeq; self.limit = limit; self.newestFirst = newestFirst
    }
}

public struct RotationJobRow: Sendable, Equatable {
    public var id: Int64
    public var targetVersion: Int
    public var running: Bool
    public var total: Int
    public var raiseMinimum: Bool
    public var startedAt: Int64
    public var startedBy: Int64?
    public var finishedAt: Int64?
    public init(
        id: Int64 = 0, targetVersion: Int, running: Bool, total: Int, raiseMinimum: Bool, startedAt: Int64,
        startedBy: Int64?, finishedAt: Int64? = nil
    ) {
        self.id = id; self.targetVersion = targetVersion; self.running = running; self.total = total
        self.raiseMinimum = raiseMinimum; self.startedAt = startedAt; self.startedBy = startedBy; self.finishedAt = finishedAt
    }
}

/// One generation of the root signing key (docs/FORMAT.md, "Root keys").
public struct RootKeyRow: Sendable, Equatable {
    public var version: Int
    public var publicKey: [UInt8]
    /// The previous generation's signature of this one; nil for the generation the anchor names.
    public var link: [UInt8]?
    public var createdAt: Int64
    public init(version: Int, publicKey: [UInt8], link: [UInt8]?, createdAt: Int64) {
        self.version = version; self.publicKey = publicKey; self.link = link; self.createdAt = createdAt
    }
}
