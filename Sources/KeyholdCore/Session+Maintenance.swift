import Foundation
import KeyholdCrypto
import KeyholdStore

/// One problem found by `Session.check()`, naming where it is.
public struct CheckProblem: Sendable, Equatable {
    /// What was checked: `sqlite`, `secrets`, `data keys`, `audit`, `wal`.
    public var area: String
    /// The row or object, e.g. `secret_versions secret_id=3 version=2`.
    public var location: String
    public var message: String
}

/// The outcome of `Session.check()`.
public struct CheckReport: Sendable, Equatable {
    public var problems: [CheckProblem] = []
    /// Secret versions opened successfully.
    public var versionsOpened = 0
    /// Audit events verified.
    public var auditEvents = 0
    /// Parts not checked because the session lacks the permission or key.
    public var skipped: [String] = []
    public var ok: Bool { problems.isEmpty }
}

/// What to do when an imported name already exists.
public enum ImportConflict: String, Sendable, CaseIterable {
    /// Refuse the whole import (the default).
    case fail
    /// Leave the existing secret alone.
    case skip
    /// Add the imported value as a new version.
    case update
}

/// One secret to import.
public struct ImportEntry: Sendable {
    public var name: String
    public var value: SecureBytes
    public var description: String
    /// Where it came from, for error messages (e.g. `line 12`).
    public var origin: String
    public init(name: String, value: SecureBytes, description: String = "", origin: String) {
        self.name = name; self.value = value; self.description = description; self.origin = origin
    }
}

/// Progress of a long operation: done of total.
public typealias ProgressHandler = @Sendable (_ done: Int, _ total: Int) -> Void

extension Session {
    /// Default number of rows per transaction for bulk work.
    public static let defaultBatchSize = 1000

    // MARK: Several values at once

    /// Opens the current version of several secrets for handing out (`run`,
    /// `export`): one audit event naming them all, never their values.
    public func revealMany(_ names: [String], purpose: String) throws -> [(name: String, value: SecureBytes)] {
        let action = "secret.\(purpose)"
        return try perform(action, target: "secrets", requires: .secretsRead) { op in
            var out: [(String, SecureBytes)] = []
            for name in names {
                let s = try existingSecret(op.tx, name)
                guard let row = try op.tx.secretVersion(secretID: s.id, version: s.currentVersion) else {
                    throw KeyholdError.integrity("secret \(s.name): current version \(s.currentVersion) is missing")
                }
                out.append((s.name, try open(op.tx, row, name: s.name)))
            }
            op.details = ["names": .strings(out.map(\.0)), "count": .int(Int64(out.count))]
            return out
        }
    }

    /// Imports secrets in batches of `batchSize`, one transaction and one audit
    /// event (count and digest of the secret ids) per batch. Every entry is
    /// validated before anything is written; a bad one is named by its origin.
    @discardableResult
    public func importSecrets(_ entries: [ImportEntry], onExisting: ImportConflict = .fail,
                              batchSize: Int = defaultBatchSize, progress: ProgressHandler? = nil) throws -> (created: Int, updated: Int, skipped: Int) {
        var seen = Set<String>()
        for e in entries {
            do {
                _ = try Validate.secretName(e.name)
                try Validate.secretValueSize(e.value.count)
                _ = try Validate.description(e.description, field: "secret description")
            } catch {
                let v = error
                throw KeyholdError.invalid(ValidationError(field: v.field, rule: v.rule, message: "\(e.origin): \(v.message)"))
            }
            guard seen.insert(e.name).inserted else {
                throw KeyholdError.conflict("\(e.origin): \(e.name) appears twice in the import")
            }
        }
        _ = try requireRoot(for: .secretsWrite)
        if onExisting == .fail {
            let existing = try read(requires: .secretsWrite, action: "secret.import") { tx, _ in
                try entries.first { try tx.secret(named: $0.name) != nil }
            }
            if let e = existing { throw KeyholdError.conflict("\(e.origin): a secret named \(e.name) already exists") }
        }
        var created = 0, updated = 0, skipped = 0
        let size = max(1, batchSize)
        for start in stride(from: 0, to: entries.count, by: size) {
            let batch = entries[start..<min(start + size, entries.count)]
            try perform("secret.import", target: "secrets", requires: .secretsWrite) { op in
                var ids: [Int64] = []
                var batchCreated = 0, batchUpdated = 0
                for e in batch {
                    if var s = try op.tx.secret(named: e.name) {
                        switch onExisting {
                        case .fail: throw KeyholdError.conflict("\(e.origin): a secret named \(e.name) already exists")
                        case .skip: skipped += 1; continue
                        case .update:
                            let version = s.lastVersion + 1
                            try sealVersion(op, secretID: s.id, version: version, value: e.value)
                            s.currentVersion = version
                            s.lastVersion = version
                            s.updatedAt = op.now
                            try op.tx.updateSecret(s)
                            ids.append(s.id)
                            batchUpdated += 1
                        }
                    } else {
                        let id = try op.tx.insertSecret(SecretRow(name: e.name, description: e.description, currentVersion: 1,
                                                                  historyLimit: nil, rotateBy: nil, createdAt: op.now, updatedAt: op.now))
                        try sealVersion(op, secretID: id, version: 1, value: e.value)
                        ids.append(id)
                        batchCreated += 1
                    }
                }
                created += batchCreated
                updated += batchUpdated
                op.details = ["count": .int(Int64(ids.count)), "created": .int(Int64(batchCreated)),
                              "updated": .int(Int64(batchUpdated)), "digest": .string(AuditChain.digest(ids))]
            }
            progress?(min(start + size, entries.count), entries.count)
        }
        return (created, updated, skipped)
    }

    // MARK: Backup and check

    /// Writes a consistent, still-encrypted copy of the vault (mode 0600) while others may use it.
    public func backup(to path: String) throws {
        // Permission first (reading), then the copy, then the event; a copy whose event fails is removed.
        _ = try read(requires: .keysManage, action: "vault.backup") { _, _ in true }
        try Vault.wrap { try vault.store.backup(to: path) }
        do {
            try perform("vault.backup", target: "vault", requires: .keysManage) { op in
                op.details = ["path": .string(path)]
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// SQLite's integrity check, every ciphertext this session may open, the
    /// audit chain, and whether the WAL still holds deleted bytes.
    public func check() throws -> CheckReport {
        var report = CheckReport()
        for line in try Vault.wrap({ try vault.store.integrityCheck() }) where line != "ok" {
            report.problems.append(CheckProblem(area: "sqlite", location: "database", message: line))
        }
        let perms = try permissions()
        if perms.contains(.secretsRead), root != nil {
            try read(requires: .secretsRead, action: "check") { tx, _ in
                var names: [Int64: String] = [:]
                for s in try tx.secrets() { names[s.id] = s.name }
                for k in try tx.dataKeys() {
                    do { _ = try Keyring.openDataKey(k, root: root!) } catch {
                        report.problems.append(CheckProblem(area: "data keys", location: "data_keys version=\(k.version)",
                                                            message: "does not open with the root key"))
                    }
                }
                try tx.forEachSecretVersion { row in
                    do {
                        _ = try open(tx, row, name: names[row.secretID] ?? "?")
                        report.versionsOpened += 1
                    } catch {
                        report.problems.append(CheckProblem(
                            area: "secrets", location: "secret_versions secret_id=\(row.secretID) version=\(row.version)",
                            message: "secret \(names[row.secretID] ?? "?") does not open (altered, or moved from another row)"))
                    }
                }
            }
        } else {
            report.skipped.append(root == nil ? "secrets (no key access)" : "secrets (needs secrets.read)")
        }
        if perms.contains(.auditRead) {
            let v = try verifyAudit()
            report.auditEvents = v.events
            if let f = v.failure {
                report.problems.append(CheckProblem(area: "audit", location: "audit_events seq=\(f.seq)", message: f.reason))
            }
        } else {
            report.skipped.append("audit chain (needs audit.read)")
        }
        if checkpointAfterDeletion().checkpointed == false {
            report.problems.append(CheckProblem(area: "wal", location: vault.path + "-wal",
                                                message: "checkpoint pending: a reader holds the WAL, so deleted bytes may remain in it; retry when other processes close the vault"))
        }
        return report
    }
}

extension AuditChain {
    /// Digest of the ids a bulk event covers: BLAKE2b-256 of their decimals joined by `\n`, lower-case hex.
    static func digest(_ ids: [Int64]) -> String {
        hex(Hash.blake2b256(Array(ids.map(String.init).joined(separator: "\n").utf8)))
    }
}
