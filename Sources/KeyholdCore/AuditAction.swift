import Foundation

/// Every action an audit event can record: the one vocabulary of the log.
/// The raw value is what is stored and printed; docs/FORMAT.md lists each
/// with its details (a test holds the two lists equal).
public enum AuditAction: String, CaseIterable, Sendable {
    // The vault
    case vaultCreate = "vault.create"
    case vaultUpgrade = "vault.upgrade"
    case vaultRecover = "vault.recover"
    case vaultBackup = "vault.backup"
    case vaultRestore = "vault.restore"
    case vaultSettings = "vault.settings"
    // Logins and one's own password
    case login = "login"
    case loginFailed = "login.failed"
    case loginRefused = "login.refused"
    case passwordChange = "password.change"
    // An agent holding a session for many commands
    case sessionUnlock = "session.unlock"
    case sessionLock = "session.lock"
    // Users and roles
    case userCreate = "user.create"
    case userImport = "user.import"
    case userEdit = "user.edit"
    case userLock = "user.lock"
    case userUnlock = "user.unlock"
    case userDisable = "user.disable"
    case userEnable = "user.enable"
    case userExpire = "user.expire"
    case userResetPassword = "user.reset-password"
    case userDelete = "user.delete"
    case userGrantRole = "user.grant-role"
    case userRevokeRole = "user.revoke-role"
    case roleCreate = "role.create"
    case roleEdit = "role.edit"
    case roleDelete = "role.delete"
    // Secrets
    case secretCreate = "secret.create"
    case secretUpdate = "secret.update"
    case secretReveal = "secret.reveal"
    case secretDescribe = "secret.describe"
    case secretRotateBy = "secret.rotate-by"
    case secretHistoryLimit = "secret.history-limit"
    case secretEdit = "secret.edit"
    case secretDelete = "secret.delete"
    case secretDeleteVersion = "secret.delete-version"
    case secretImport = "secret.import"
    case secretExport = "secret.export"
    case secretHandout = "secret.handout"
    // Keys
    case keyApprove = "key.approve"
    case keyRotateData = "key.rotate-data"
    case keyRotateDataBatch = "key.rotate-data.batch"
    case keyRotateDataFinish = "key.rotate-data.finish"
    case keyRotateRoot = "key.rotate-root"

    /// Actions that may be unsigned: the actor has no unlocked key.
    public var mayBeUnsigned: Bool { self == .loginFailed || self == .loginRefused }
}

/// The details of a stored event, read back (the JSON object of docs/FORMAT.md section 6).
struct AuditDetails {
    private let object: [String: Any]

    init(_ json: String) {
        object = (try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]) ?? [:]
    }

    func string(_ key: String) -> String? { object[key] as? String }
    func int(_ key: String) -> Int64? { (object[key] as? NSNumber)?.int64Value }
    func strings(_ key: String) -> [String]? { object[key] as? [String] }
    /// A lower-case hex string's bytes.
    func hex(_ key: String) -> [UInt8]? { string(key).flatMap(Self.bytes(hex:)) }

    static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }
}
