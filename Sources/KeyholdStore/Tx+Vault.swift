import Foundation
import GRDB

// The vault row (one, id 1): the vault's settings, its recovery envelope and the versions
// of its keys (docs/FORMAT.md).
extension Tx {
    // MARK: Vault

    public func vault() throws -> VaultRow? {
        try mapRow(db.cachedStatement(sql: "SELECT * FROM vault WHERE id = 1"), [], VaultRow.init(row:))
    }

    /// The vault's `min_decrypt_version` alone (nil without a vault row): read before every data
    /// key is used, where reading the whole row by column name would cost more than the check.
    public func minDecryptVersion() throws -> Int? {
        try mapRow(db.cachedStatement(sql: "SELECT id, min_decrypt_version FROM vault WHERE id = 1"), []) { row in
            try Columns(row, "vault").value(1)
        }
    }

    public func insertVault(_ v: VaultRow) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO vault (id, format, created_at, kdf_opslimit, kdf_memlimit, password_min_length,
                                   history_limit, temp_password_ttl, recovery_sealed, revocation_warning)
                VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            v.format, v.createdAt, v.kdfOpslimit, v.kdfMemlimit, v.passwordMinLength,
            v.historyLimit, v.tempPasswordTTL, Data(v.recoverySealed), v.revocationWarning
        ])
    }

    public func updateVaultSettings(
        kdfOpslimit: Int, kdfMemlimit: Int, passwordMinLength: Int, historyLimit: Int,
        tempPasswordTTL: Int64
    ) throws {
        try db.cachedStatement(
            sql: """
                UPDATE vault SET kdf_opslimit = ?, kdf_memlimit = ?, password_min_length = ?, history_limit = ?,
                                 temp_password_ttl = ? WHERE id = 1
                """
        ).execute(arguments: [kdfOpslimit, kdfMemlimit, passwordMinLength, historyLimit, tempPasswordTTL])
    }

    public func setRevocationWarning(_ text: String?) throws {
        try db.cachedStatement(sql: "UPDATE vault SET revocation_warning = ? WHERE id = 1").execute(arguments: [text])
    }

    public func setRecoverySealed(_ sealed: [UInt8]) throws {
        try db.cachedStatement(sql: "UPDATE vault SET recovery_sealed = ? WHERE id = 1").execute(arguments: [Data(sealed)])
    }

    public func setRootVersion(_ v: Int) throws {
        try db.cachedStatement(sql: "UPDATE vault SET root_version = ? WHERE id = 1").execute(arguments: [v])
    }

    /// Raises the minimum decryption version to `v`: never lowers it, and never sets it
    /// above the active data key (decided in this statement); true when it changed.
    @discardableResult
    public func raiseMinDecryptVersion(to v: Int) throws -> Bool {
        try db.cachedStatement(
            sql: """
                UPDATE vault SET min_decrypt_version = ?1
                WHERE id = 1 AND min_decrypt_version < ?1 AND ?1 <= (SELECT version FROM data_keys WHERE state = 'active')
                """
        ).execute(arguments: [v])
        return db.changesCount == 1
    }
}

extension VaultRow {
    /// From `SELECT *` (by name: a format-1 vault, read before its upgrade, has no `vault_id` or `anchor_seq`).
    init(row: Row) throws {
        let c = Columns(row, "vault")
        self.init(
            format: try c.value("format"), createdAt: try c.value("created_at"), kdfOpslimit: try c.value("kdf_opslimit"),
            kdfMemlimit: try c.value("kdf_memlimit"), passwordMinLength: try c.value("password_min_length"),
            historyLimit: try c.value("history_limit"), tempPasswordTTL: try c.value("temp_password_ttl"),
            recoverySealed: try c.value("recovery_sealed"), revocationWarning: try c.optional("revocation_warning"))
        vaultID = try c.optional("vault_id")
        anchorSeq = try c.optional("anchor_seq")
        rootVersion = try c.value("root_version")
        minDecryptVersion = try c.value("min_decrypt_version")
    }
}
