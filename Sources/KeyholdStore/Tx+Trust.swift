import Foundation
import GRDB

// Queries of format 2's trust rows: the vault's identity and anchor, key pins and
// endorsements, secret name tags (docs/FORMAT.md; root key generations: Tx+Keys.swift).
extension Tx {
    /// Sets the vault's identity and the audit event trust starts from.
    public func setVaultIdentity(vaultID: [UInt8], anchorSeq: Int64) throws {
        try db.cachedStatement(sql: "UPDATE vault SET vault_id = ?, anchor_seq = ?, format = ? WHERE id = 1")
            .execute(arguments: [Data(vaultID), anchorSeq, VaultFile.currentFormat])
    }

    // MARK: Pins and endorsements

    public func setUserKeyPin(id: Int64, pin: [UInt8]) throws {
        try db.cachedStatement(sql: "UPDATE user_keys SET pin = ? WHERE id = ?").execute(arguments: [Data(pin), id])
    }

    public func setUserKeyEndorsement(id: Int64, endorsement: [UInt8]?, rootVersion: Int?) throws {
        try db.cachedStatement(sql: "UPDATE user_keys SET endorsement = ?, endorsed_root = ? WHERE id = ?")
            .execute(arguments: [endorsement.map { Data($0) }, rootVersion, id])
    }

    // MARK: Secret name tags

    public func secretNameTag(id: Int64) throws -> [UInt8]? {
        try mapRow(db.cachedStatement(sql: "SELECT id, name_tag FROM secrets WHERE id = ?"), [id]) {
            try Columns($0, "secrets").optional(1) as [UInt8]?
        } ?? nil
    }

    public func setSecretNameTag(id: Int64, tag: [UInt8]) throws {
        try db.cachedStatement(sql: "UPDATE secrets SET name_tag = ? WHERE id = ?").execute(arguments: [Data(tag), id])
    }

    /// Every secret's id, name and tag, in id order, each handed to `body` as SQLite steps to it.
    public func forEachSecretName(_ body: (_ id: Int64, _ name: String, _ tag: [UInt8]?) throws -> Void) throws {
        try forEachRow(db.cachedStatement(sql: "SELECT id, name, name_tag FROM secrets ORDER BY id")) { row in
            let c = Columns(row, "secrets")
            try body(try c.value(0), try c.value(1), try c.optional(2))
        }
    }
}

extension Tx {
    /// Sets every secret's name tag to `tag(id, name)` (a root rotation re-makes them all).
    public func forEachSecretNameAndRetag(_ tag: (_ id: Int64, _ name: String) -> [UInt8]) throws {
        var all: [(Int64, String)] = []
        try forEachSecretName { id, name, _ in all.append((id, name)) }
        let update = try db.cachedStatement(sql: "UPDATE secrets SET name_tag = ? WHERE id = ?")
        for (id, name) in all { try update.execute(arguments: [Data(tag(id, name)), id]) }
    }
}
