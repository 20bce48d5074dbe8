import Foundation
import KeyholdCrypto
import KeyholdStore

/// One problem found by `Session.check()`, naming where it is.
public struct CheckProblem: Sendable, Equatable, Codable {
    /// What was checked: `sqlite`, `trust`, `secrets`, `data keys`, `audit`, `wal`.
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
    /// Findings that are not integrity problems (legacy password hashes).
    public var warnings: [CheckWarning] = []
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

/// One entry of a streaming import, without its value: the source writes the
/// value into the core's guarded buffer when the entry's batch is sealed.
public struct ImportItem: Sendable {
    public var name: String
    public var description: String
    /// Where it came from, for error messages (e.g. `line 12`).
    public var origin: String
    /// Size of the value in bytes.
    public var valueCount: Int
    public init(name: String, description: String = "", origin: String, valueCount: Int) {
        self.name = name; self.description = description; self.origin = origin; self.valueCount = valueCount
    }
}

/// Entries for `Session.importSecrets(from:)`, read without holding every value.
///
/// The core reads a source in passes, each in increasing index order: once to
/// validate every entry (no values), once to look names up in the vault (with
/// `ImportConflict.fail`), then batch by batch to write, asking for the values
/// of one batch at a time. A source must give the same entries on every pass.
public protocol ImportSource {
    /// Number of entries.
    var count: Int { get }
    /// Entry `index` (0..<count), without its value.
    func item(at index: Int) throws -> ImportItem
    /// Writes the value of entry `index` into `buffer`: guarded memory of exactly
    /// `item(at: index).valueCount` bytes, valid only during the call (keep no copy).
    func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

/// `[ImportEntry]` as an import source (values copied from their SecureBytes into the batch buffer).
struct EntryListSource: ImportSource {
    let entries: [ImportEntry]
    var count: Int { entries.count }
    func item(at index: Int) -> ImportItem {
        let e = entries[index]
        return ImportItem(name: e.name, description: e.description, origin: e.origin, valueCount: e.value.count)
    }
    func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        entries[index].value.withBytes { buffer.copyMemory(from: $0) }
    }
}

/// Progress of a long operation: done of total.
public typealias ProgressHandler = @Sendable (_ done: Int, _ total: Int) -> Void

extension Session {
    /// Default number of rows per transaction for bulk work.
    public static let defaultBatchSize = 1000
    /// Default number of new secrets per import transaction. Larger than other bulk work
    /// because each commit rewrites every page of the name index it touched, and new names
    /// land all over it: 10 times fewer commits write about 2.5 times fewer pages
    /// (bench/results, Notes). `batchValueBytes` still bounds the memory of a batch.
    public static let defaultImportBatchSize = 10_000

    // MARK: Several values at once

    /// Most plaintext bytes a batch of import or hand-out holds (a larger single value gets
    /// a batch of its own): what bounds their memory whatever the values' sizes.
    public static let batchValueBytes = 1 << 20

    /// Hands out the current version of several secrets (`run`, `export`) without
    /// holding them all in memory.
    ///
    /// First one transaction finds every name, pins each secret's current version
    /// and appends one event, `secret.<purpose>`, with the names and their count
    /// (never a value). It commits before any value is opened, so a hand-out that
    /// stops part-way is still on record; an unknown name, a missing permission or
    /// no key access writes nothing. `sizes` then gets each value's length in bytes
    /// (in `names` order), so a caller can prepare its buffers. Then the values are
    /// opened a batch at a time (at most `batchSize` values and about 1 MiB), each
    /// batch in a read transaction that re-checks the actor, into one guarded buffer
    /// that is wiped after the batch: `visit` gets every value in `names` order, as
    /// bytes valid only during the call. A version deleted meanwhile stops the
    /// hand-out with a conflict.
    ///
    /// A value that does not open (an altered row) or cannot be read (a damaged page of the
    /// file) is an integrity error naming its row; with `skipping`, it is reported there
    /// instead (its index in `names`, and why) and left out, and the others are handed out.
    /// A secret skipped while pinning is not in the event; one that fails to open later is
    /// (the event names what was set out to be handed out).
    public func revealEach(
        _ names: [String], purpose: HandOut, batchSize: Int = defaultBatchSize,
        skipping: ((_ index: Int, _ why: String) -> Void)? = nil,
        sizes: ([Int]) throws -> Void = { _ in },
        visit: (_ index: Int, _ value: UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let action = purpose.action
        var unreadable: [Int: String] = [:]
        let pins: [RevealPin]
        do {
            pins = try pin(names, action: action, leavingOut: [])
        } catch KeyholdError.store(.corrupt) {
            // A damaged page on the way: find the rows, name them (or leave them out), and pin the rest.
            unreadable = try unreadableRows(names)
            guard let skipping else {
                let named = unreadable.sorted { $0.key < $1.key }.map(\.value)
                throw KeyholdError.integrity(
                    named.prefix(5).joined(separator: "; ")
                        + (named.count > 5 ? "; and \(named.count - 5) more" : ""))
            }
            for (i, why) in unreadable.sorted(by: { $0.key < $1.key }) { skipping(i, why) }
            pins = try pin(names, action: action, leavingOut: Set(unreadable.keys))
        }
        try sizes(pins.map(\.size))

        // Batch bounds first, so that one buffer fits the largest batch.
        var batches = ValueBatches(maxCount: batchSize, maxBytes: Self.batchValueBytes)
        for p in pins { batches.add(valueCount: p.size) }
        let buffer = try GuardedBuffer(capacity: batches.largestBytes)
        for batch in batches.ranges {
            let used = pins[batch].reduce(0) { $0 + $1.size }
            defer { buffer.wipe(used) }
            try buffer.withUnsafeMutableBytes { raw in
                var bad = Set<Int>()
                try read(requires: .secretsRead, action: action.rawValue, damaged: skipping != nil) { tx, _ in
                    var keys: [Int: SecureBytes] = [:]
                    var offset = 0
                    for (k, p) in zip(batch, pins[batch]) {
                        defer { offset += p.size }
                        let row: SecretVersionRow?
                        do {
                            row = try tx.storeErrors { try tx.secretVersion(secretID: p.secretID, version: p.version) }
                        } catch StoreError.corrupt {
                            let why =
                                "secret_versions secret_id=\(p.secretID) version=\(p.version) (secret \(p.name)): "
                                + "cannot be read: it is on a damaged page of the vault file"
                            guard let skipping else { throw KeyholdError.integrity(why) }
                            skipping(p.index, why)
                            bad.insert(k)
                            continue
                        }
                        guard let row else {
                            throw KeyholdError.conflict(
                                "secret \(p.name) changed during the \(purpose.rawValue): version \(p.version) "
                                    + "was deleted after \(batch.lowerBound) of \(pins.count) values were handed out")
                        }
                        let out = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + p.size])
                        if keys[row.keyVersion] == nil { keys[row.keyVersion] = try dataKey(tx, version: row.keyVersion) }
                        do {
                            guard try open(row, key: keys[row.keyVersion]!, name: p.name, into: out) == p.size else {
                                throw KeyholdError.integrity("secret \(p.name): version \(p.version) changed its length")
                            }
                        } catch KeyholdError.integrity(let why) where skipping != nil {
                            skipping?(p.index, why)
                            bad.insert(k)
                        }
                    }
                }
                var offset = 0
                for k in batch {
                    if !bad.contains(k) {
                        try visit(pins[k].index, UnsafeRawBufferPointer(rebasing: raw[offset..<offset + pins[k].size]))
                    }
                    offset += pins[k].size
                }
            }
        }
    }

    /// The transaction that pins each secret's current version and records the hand-out,
    /// without the names at the indices `leavingOut`.
    private func pin(_ names: [String], action: AuditAction, leavingOut: Set<Int>) throws -> [RevealPin] {
        try perform(action, target: "secrets", requires: .secretsRead) { op -> [RevealPin] in
            var pins: [RevealPin] = []
            pins.reserveCapacity(names.count)
            var keyVersions = Set<Int>()
            for (index, name) in names.enumerated() where !leavingOut.contains(index) {
                // Its own row only: the count of its versions would read pages the hand-out does not need.
                let s = try existingSecret(op.tx, name, countingVersions: false)
                guard let row = try op.tx.secretVersionSize(secretID: s.id, version: s.currentVersion),
                    row.ciphertextBytes >= Seal.nonceBytes + Seal.tagBytes
                else {
                    throw KeyholdError.integrity("secret \(s.name): current version \(s.currentVersion) is missing")
                }
                // No key access (or no such data key): refused before the event.
                if keyVersions.insert(row.keyVersion).inserted { _ = try dataKey(op.tx, version: row.keyVersion) }
                pins.append(
                    RevealPin(
                        index: index, name: s.name, secretID: s.id, version: s.currentVersion,
                        size: row.ciphertextBytes - Seal.nonceBytes - Seal.tagBytes))
            }
            op.details = ["names": .strings(pins.map(\.name)), "count": .int(Int64(pins.count))]
            return pins
        }
    }

    /// After a hand-out met a damaged page while pinning: the names (by index) whose secret
    /// row or current version cannot be read, each with its row named. Read only.
    private func unreadableRows(_ names: [String]) throws -> [Int: String] {
        try read(requires: .secretsRead, action: "check", damaged: true) { tx, _ in
            var out: [Int: String] = [:]
            for (index, name) in names.enumerated() {
                let secret: (id: Int64, currentVersion: Int)?
                do { secret = try tx.storeErrors { try tx.secretHead(named: name) } } catch StoreError.corrupt {
                    out[index] = "secrets name=\(name): cannot be read: it is on a damaged page of the vault file"
                    continue
                }
                guard let secret else { continue }
                do {
                    _ = try tx.storeErrors { try tx.secretVersionSize(secretID: secret.id, version: secret.currentVersion) }
                } catch StoreError.corrupt {
                    out[index] =
                        "secret_versions secret_id=\(secret.id) version=\(secret.currentVersion) (secret \(name)): "
                        + "cannot be read: it is on a damaged page of the vault file"
                }

            }
            if out.isEmpty { throw KeyholdError.store(.corrupt("a page the hand-out read is damaged (run `keyhold check`)")) }
            return out
        }
    }

    /// One secret of a hand-out: the version pinned when the hand-out was audited.
    private struct RevealPin {
        var index: Int
        var name: String
        var secretID: Int64
        var version: Int
        var size: Int
    }

    /// Imports secrets in batches of at most `batchSize` entries (and 1 MiB of values),
    /// one transaction and one audit event (count and digest of the secret ids) per
    /// batch. Every entry is validated before anything is written; a bad one is named
    /// by its origin. (A thin wrapper over `importSecrets(from:)`.)
    @discardableResult
    public func importSecrets(
        _ entries: [ImportEntry], onExisting: ImportConflict = .fail,
        batchSize: Int = defaultImportBatchSize, progress: ProgressHandler? = nil
    ) throws -> ImportCounts {
        try importSecrets(from: EntryListSource(entries: entries), onExisting: onExisting, batchSize: batchSize, progress: progress)
    }

    /// Imports secrets from a source read in passes (see `ImportSource`), so that
    /// memory is bounded by the batch, not by the import: the values of one batch
    /// at a time are written into one reusable guarded buffer and sealed from it.
    /// Every entry is validated before anything is written (names, sizes,
    /// descriptions, duplicates, and with `.fail` names already in the vault);
    /// a bad one is named by its origin. Then one transaction per batch, each with
    /// one audit event (count and digest of the secret ids written). A batch holds at most
    /// `batchSize` entries and, unless it is one entry, at most 1 MiB of values. With
    /// `.update`, an entry whose value is the secret's current one adds no version
    /// (counted as `unchanged`); one that adds a version clears a rotate-by date that
    /// has passed, as `setSecret` does.
    @discardableResult
    public func importSecrets(
        from source: some ImportSource, onExisting: ImportConflict = .fail,
        batchSize: Int = defaultImportBatchSize, progress: ProgressHandler? = nil
    ) throws -> ImportCounts {
        let total = source.count
        let size = max(1, batchSize)

        // Pass 1: validate. Keeps an 8-byte hash per name for the duplicate check, never a value.
        var hashes: [UInt64] = []
        hashes.reserveCapacity(total)
        var invalid: KeyholdError?
        var batches = ValueBatches(maxCount: size, maxBytes: Self.batchValueBytes)
        for i in 0..<total {
            let e = try source.item(at: i)
            do {
                _ = try Validate.secretName(e.name)
                try Validate.secretValueSize(e.valueCount)
                _ = try Validate.description(e.description, field: "secret description")
            } catch {
                invalid = KeyholdError.invalid(
                    ValidationError(field: error.field, rule: error.rule, message: "\(e.origin): \(error.message)"))
                break
            }
            hashes.append(Self.importNameHash(e.name))
            batches.add(valueCount: e.valueCount)
        }
        // A duplicate found before the first invalid entry comes first, as it would in one ordered pass.
        if let twice = try Self.firstRepeatedName(source, hashes: &hashes) {
            throw KeyholdError.conflict("\(twice.origin): \(twice.name) appears twice in the import")
        }
        if let invalid { throw invalid }
        hashes = []

        _ = try requireRoot(for: .secretsWrite)
        // Pass 2: with `.fail`, no name may exist yet: one query per batch of names, no values.
        if onExisting == .fail {
            let existing = try read(requires: .secretsWrite, action: "secret.import") { tx, _ -> ImportItem? in
                var names: [String] = []
                names.reserveCapacity(min(size, total))
                for range in batches.ranges {
                    names.removeAll(keepingCapacity: true)
                    for i in range { names.append(try source.item(at: i).name) }
                    if let k = try tx.firstExistingSecret(among: names) { return try source.item(at: range.lowerBound + k) }
                }
                return nil
            }
            if let e = existing { throw KeyholdError.conflict("\(e.origin): a secret named \(e.name) already exists") }
        }

        // Pass 3: write, one batch per transaction, each with one audit event. A second
        // thread reads the next batch's values into a guarded buffer and seals them while
        // this one writes (see `BatchPreparer`); new secrets go in many rows per statement.
        let nameKey = try requireRoot().names
        let start = try read(requires: .secretsWrite, action: "secret.import") {
            tx, _ -> (firstID: Int64, keyVersion: Int, key: SecureBytes) in
            guard let active = try tx.activeDataKey() else { throw KeyholdError.integrity("data_keys: no active key") }
            return (try tx.nextSecretID(), active.version, try dataKey(tx, version: active.version))
        }
        let preparer = try BatchPreparer(
            source: source, batches: batches.ranges, capacity: batches.largestBytes,
            key: start.key, names: nameKey, keyVersion: start.keyVersion, firstID: start.firstID)
        preparer.start()
        defer { preparer.finish() }
        let sealer = Sealer(capacity: Validate.secretValueMaxBytes)
        var counts = ImportCounts()
        var names: [String] = []
        for _ in batches.ranges {
            let batch = try preparer.next()
            defer { preparer.release(batch) }
            let batchCounts = try perform(.secretImport, target: "secrets", requires: .secretsWrite) { op -> ImportCounts in
                guard let active = try op.tx.activeDataKey() else { throw KeyholdError.integrity("data_keys: no active key") }
                names.removeAll(keepingCapacity: true)
                if onExisting != .fail { for e in batch.items { names.append(e.name) } }
                // As prepared: every name new, the ids and key as predicted. Else sealed again here.
                let asPrepared =
                    try active.version == batch.rows.keyVersion && op.tx.nextSecretID() == batch.rows.firstID
                    && (onExisting == .fail || op.tx.firstExistingSecret(among: names) == nil)
                let result =
                    asPrepared
                    ? (
                        ids: Self.consecutive(from: batch.rows.firstID, count: batch.rows.count), updated: 0,
                        unchanged: 0, skipped: 0
                    )
                    : try importSequentially(op, batch, onExisting: onExisting, keyVersion: active.version, sealer: sealer)
                batch.rows.createdAt = op.now
                batch.rows.createdBy = userID
                if let k = try op.tx.insertNewSecrets(batch.rows) {
                    // Checked before the first batch; created since by someone else.
                    let name = batch.rows.name(at: k)
                    let origin = batch.items.first { $0.name == name }?.origin ?? "entry \(batch.start + k + 1)"
                    throw KeyholdError.conflict("\(origin): a secret named \(name) already exists")
                }
                let batchCreated = batch.rows.count
                op.details = [
                    "count": .int(Int64(result.ids.count)), "created": .int(Int64(batchCreated)),
                    "updated": .int(Int64(result.updated)), "digest": .string(AuditChain.digest(result.ids))
                ]
                if result.unchanged > 0 { op.details["unchanged"] = .int(Int64(result.unchanged)) }
                return ImportCounts(created: batchCreated, updated: result.updated, unchanged: result.unchanged, skipped: result.skipped)
            }
            counts.created += batchCounts.created
            counts.updated += batchCounts.updated
            counts.unchanged += batchCounts.unchanged
            counts.skipped += batchCounts.skipped
            progress?(batch.start + batch.items.count, total)
        }
        return counts
    }

    /// A batch that cannot go in as prepared (names that exist with skip or update, or
    /// another writer took the predicted ids or rotated the key): each entry looked up
    /// and sealed here, in order; new ones rebuild `batch.rows` with the real ids.
    /// Returns the ids written, in entry order, for the audit digest (an unchanged or
    /// skipped entry writes nothing and is only counted).
    private func importSequentially(
        _ op: Op, _ batch: PreparedBatch, onExisting: ImportConflict, keyVersion: Int,
        sealer: Sealer
    ) throws -> (ids: [Int64], updated: Int, unchanged: Int, skipped: Int) {
        let key = try dataKey(op.tx, version: keyVersion)
        var ids: [Int64] = []
        ids.reserveCapacity(batch.items.count)
        var updated = 0, unchanged = 0, skipped = 0
        batch.rows.removeAll()
        batch.rows.firstID = try op.tx.nextSecretID()
        batch.rows.keyVersion = keyVersion
        try batch.values.withUnsafeMutableBytes { raw in
            var offset = 0
            for e in batch.items {
                let value = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + e.valueCount])
                offset += e.valueCount
                // With skip or update, look first: an insert that meets the name would still use up an id.
                if onExisting != .fail, var s = try op.tx.secret(named: e.name, countingVersions: false) {
                    try checkNameTag(op.tx, s)
                    if onExisting == .skip {
                        skipped += 1
                        continue
                    }
                    // The value it already holds: a re-import adds no version.
                    if try isCurrentValue(op.tx, s, value) {
                        unchanged += 1
                        continue
                    }
                    let version = s.lastVersion + 1
                    try sealVersion(op, secretID: s.id, version: version, keyVersion: keyVersion, key: key, value: value, sealer: sealer)
                    s.currentVersion = version
                    s.lastVersion = version
                    s.updatedAt = op.now
                    _ = Self.clearPastRotateBy(&s, now: op.now)
                    try op.tx.updateSecret(s)
                    ids.append(s.id)
                    updated += 1
                    continue
                }
                ids.append(batch.rows.firstID + Int64(batch.rows.count))
                try batch.rows.appendSealed(e, value: value, key: key, names: try requireRoot().names, sealer: sealer)
            }
        }
        return (ids, updated, unchanged, skipped)
    }

    static func consecutive(from first: Int64, count: Int) -> [Int64] { (0..<Int64(count)).map { first + $0 } }

    /// A per-process 64-bit hash of a secret name (the duplicate check keeps these, not the names).
    static func importNameHash(_ name: String) -> UInt64 { UInt64(bitPattern: Int64(name.hashValue)) }

    /// The first entry (in source order, among the first `hashes.count`) whose name
    /// appeared before it. Sorts `hashes`; re-reads names only where hashes repeat.
    static func firstRepeatedName(_ source: some ImportSource, hashes: inout [UInt64]) throws -> ImportItem? {
        let n = hashes.count
        hashes.sort()
        var repeated = Set<UInt64>()
        for i in hashes.indices.dropFirst() where hashes[i] == hashes[i - 1] { repeated.insert(hashes[i]) }
        guard !repeated.isEmpty else { return nil }
        var seen = Set<String>()
        for i in 0..<n {
            let e = try source.item(at: i)
            guard repeated.contains(importNameHash(e.name)) else { continue }
            if !seen.insert(e.name).inserted { return e }
        }
        return nil  // equal hashes of different names
    }

    // MARK: Backup and check

    /// Writes a consistent, still-encrypted copy of the vault (mode 0600) while others may use it.
    public func backup(to path: String) throws {
        // Permission first (reading), then the copy, then the event; a copy whose event fails is removed.
        _ = try read(requires: .keysManage, action: "vault.backup") { _, _ in true }
        try Vault.wrap { try vault.store.backup(to: path) }
        do {
            try perform(.vaultBackup, target: "vault", requires: .keysManage) { op in
                op.details = ["path": .string(path)]
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// SQLite's integrity check, every ciphertext this session may open, the
    /// audit chain, and whether the WAL still holds deleted bytes. A damaged page is named
    /// with its table, and the check goes on: each part that cannot be read is a problem of
    /// its own, and every secret version on a damaged page is named, row by row.
    public func check() throws -> CheckReport { try check(inFull: false) }

    /// `check`; `inFull` also opens every ciphertext and replays the audit log when the
    /// session lacks secrets.read or audit.read (a restore checks its backup so: nothing of
    /// what is opened or read is shown, only the rows that fail).
    func check(inFull: Bool) throws -> CheckReport {
        var report = CheckReport()
        let damage = try Vault.wrap { try vault.store.damage() }
        for d in damage {
            let location =
                (d.page.map { "page \($0)" } ?? "database")
                + (d.tables.isEmpty ? "" : " (\(d.tables.count == 1 ? "table" : "tables") \(d.tables.joined(separator: ", ")))")
            report.problems.append(CheckProblem(area: "sqlite", location: location, message: d.message))
        }
        /// Runs one part; a damaged page it cannot read is a problem naming the part, not the end of the check.
        func part(_ area: String, _ what: String, _ body: () throws -> Void) throws {
            do { try body() } catch KeyholdError.store(.corrupt(let why)) {
                report.problems.append(CheckProblem(area: area, location: what, message: "cannot be read: \(why) (a damaged page)"))
            }
        }
        let perms = try permissions()
        try part("trust", "the rows trust rests on") {
            report.problems += try read(requires: nil, action: "check") { tx, _ in try trustProblems(tx) }
        }
        // Every version's data key exists and is at or above the minimum (no key needed to see it).
        var badKeys: Set<Int> = []
        try part("data keys", "data_keys, secret_versions") {
            let structure = try read(requires: nil, action: "check") { tx, _ in try keyProblems(tx) }
            report.problems += structure.problems
            badKeys = structure.badKeys
        }
        if inFull || perms.contains(.secretsRead), let root {
            try part("data keys", "data_keys") {
                try read(requires: inFull ? nil : .secretsRead, action: "check") { tx, _ in
                    for k in try tx.dataKeys() {
                        do { _ = try Keyring.openDataKey(k, root: root.key) } catch {
                            report.problems.append(
                                CheckProblem(
                                    area: "data keys", location: "data_keys version=\(k.version)",
                                    message: "does not open with the root key"))
                        }
                    }
                }
            }
            let opened = try openEveryVersion(skippingKeys: badKeys, rowByRow: !damage.isEmpty, inFull: inFull)
            report.versionsOpened = opened.count
            report.problems += opened.problems
        } else {
            report.skipped.append(root == nil ? "secrets (no key access)" : "secrets (needs secrets.read)")
        }
        if inFull || perms.contains(.auditRead) {
            try part("audit", "audit_events") {
                let (v, authority) = try read(requires: inFull ? nil : .auditRead, action: "audit.verify") { tx, _ in
                    try AuditChain.replay(tx)
                }
                report.auditEvents = v.events
                if let f = v.failure {
                    report.problems.append(CheckProblem(area: "audit", location: "audit_events seq=\(f.seq)", message: f.reason))
                }
                if let authority {
                    report.problems += try read(requires: inFull ? nil : .auditRead, action: "check") { tx, _ in
                        try plantedRows(tx, authority)
                    }
                }
            }
        } else {
            report.skipped.append("audit chain (needs audit.read)")
        }
        if let w = try legacyHashWarning() { report.warnings.append(w) }
        if let job = try pendingRotation() {
            report.warnings.append(
                CheckWarning(
                    area: "rotation",
                    message: job.leaseHeld
                        ? "a data-key rotation to key \(job.targetVersion) is running in another process: \(job.remaining) of \(job.total) "
                            + "secret version(s) are still under older keys"
                        : "a data-key rotation to key \(job.targetVersion) was interrupted: \(job.remaining) of \(job.total) secret version(s) "
                            + "are still under older keys; it finishes at the next login of a key manager or with `keyhold key resume`"))
        }
        if checkpointAfterDeletion().checkpointed == false {
            report.problems.append(
                CheckProblem(
                    area: "wal", location: vault.path + "-wal",
                    message:
                        "checkpoint pending: a reader holds the WAL, so deleted bytes may remain in it; retry when other processes close the vault"
                ))
        }
        return report
    }

    /// Opens every secret version (except those under `badKeys`, named already) into one guarded
    /// buffer, wiped at the end (SECURITY.md: never a guarded allocation per value; 100,000 of them
    /// took 7 s of system calls). In one scan of the table; `rowByRow` (the file has damaged pages,
    /// or the scan met one) lists the versions from an index and reads each on its own, so every
    /// version on a damaged page is named and every other one is still opened.
    private func openEveryVersion(skippingKeys badKeys: Set<Int>, rowByRow: Bool, inFull: Bool) throws -> (
        count: Int, problems: [CheckProblem]
    ) {
        try read(requires: inFull ? nil : .secretsRead, action: "check", damaged: true) { tx, _ in
            var names: [Int64: String] = [:]
            do {
                for s in try tx.storeErrors({ try tx.secrets(countingVersions: false) }) { names[s.id] = s.name }
            } catch StoreError.corrupt {
                names = (try? tx.storeErrors { try tx.secretNamesFromIndex() }) ?? [:]
            }
            let buffer = try GuardedBuffer(capacity: Validate.secretValueMaxBytes)
            defer { buffer.wipe() }
            // Each data key looked up once (nil: missing, or below the minimum version).
            var keys: [Int: SecureBytes?] = [:]
            var count = 0
            var problems: [CheckProblem] = []
            func location(_ secretID: Int64, _ version: Int) -> String { "secret_versions secret_id=\(secretID) version=\(version)" }
            func visit(_ row: SecretVersionRow, into out: UnsafeMutableRawBufferPointer) throws {
                if badKeys.contains(row.keyVersion) { return }  // named above, once
                if keys[row.keyVersion] == nil { keys[row.keyVersion] = .some(try? dataKey(tx, version: row.keyVersion)) }
                do {
                    guard let key = keys[row.keyVersion] ?? nil else { throw KeyholdError.integrity("no data key \(row.keyVersion)") }
                    _ = try open(row, key: key, name: names[row.secretID] ?? "?", into: out)
                    count += 1
                } catch {
                    problems.append(
                        CheckProblem(
                            area: "secrets", location: location(row.secretID, row.version),
                            message: "secret \(names[row.secretID] ?? "?") does not open (altered, or moved from another row)"))
                }
            }
            if !rowByRow {
                do {
                    try buffer.withUnsafeMutableBytes { out in
                        try tx.storeErrors { try tx.forEachSecretVersion { try visit($0, into: out) } }
                    }
                    return (count, problems)
                } catch StoreError.corrupt {
                    (count, problems) = (0, [])  // a damaged page the integrity check did not report: row by row instead
                }
            }
            let ids: [(secretID: Int64, version: Int)]
            do { ids = try tx.storeErrors { try tx.secretVersionIDs() } } catch StoreError.corrupt(let why) {
                return (
                    0,
                    [
                        CheckProblem(
                            area: "secrets", location: "secret_versions",
                            message: "cannot be listed: \(why) (a damaged page in the table and its index)")
                    ]
                )
            }
            try buffer.withUnsafeMutableBytes { out in
                for id in ids {
                    do {
                        guard let row = try tx.storeErrors({ try tx.secretVersion(secretID: id.secretID, version: id.version) }) else {
                            problems.append(
                                CheckProblem(
                                    area: "secrets", location: location(id.secretID, id.version),
                                    message: "secret \(names[id.secretID] ?? "?"): in the index but not in the table"))
                            continue
                        }
                        try visit(row, into: out)
                    } catch StoreError.corrupt {
                        problems.append(
                            CheckProblem(
                                area: "secrets", location: location(id.secretID, id.version),
                                message: "secret \(names[id.secretID] ?? "?") cannot be read: it is on a damaged page"))
                    }
                }
            }
            return (count, problems)
        }
    }
}

/// Why several values are handed out at once, and the event that records it.
public enum HandOut: String, Sendable {
    /// `keyhold export`: values written to a file or standard output.
    case export
    /// `keyhold run`: values put into a program's environment.
    case handout
    var action: AuditAction { self == .export ? .secretExport : .secretHandout }
}

extension Session {
    /// What `check` finds wrong with the rows trust rests on (docs/SECURITY.md, "Trust in the
    /// file"): the anchor, the chain of root keys, every key's pin, every sealed grant's key
    /// (endorsed by the current root key, the user's own, an active user's), and with the root
    /// key every secret's name tag. Each problem names its row.
    func trustProblems(_ tx: Tx) throws -> [CheckProblem] {
        var problems: [CheckProblem] = []
        func problem(_ location: String, _ message: String) {
            problems.append(CheckProblem(area: "trust", location: location, message: message))
        }
        let anchor: Trust.Anchor
        let current: RootKeyRow
        do {
            anchor = try Trust.anchor(tx)
            current = try Trust.currentRootKey(tx, anchor: anchor)
        } catch let KeyholdError.integrity(what) {
            problem("vault", what)
            return problems
        }
        var keys: [Int64: UserKeyRow] = [:]
        for k in try tx.userKeys() {
            keys[k.id] = k
            guard k.retiredAt == nil else { continue }
            if !Trust.pinHolds(k, anchor: anchor), !(k.pin == nil && anchor.unpinnedKeys[k.id] == k.publicKey) {
                problem(
                    "user_keys id=\(k.id) (user \(k.username))",
                    k.pin == nil
                        ? "carries no pin: no user made it in this vault (planted?)"
                        : "its pin names another vault or anchor event (copied from another vault?)")
            }
        }
        let now = vault.clock.now()
        for g in try tx.grants() where g.sealedRoot != nil {
            let where_ = "grants user_id=\(g.userID)"
            guard let user = try tx.user(id: g.userID) else { problem(where_, "a grant for no user"); continue }
            guard let keyID = g.keyID, let key = keys[keyID] else { problem(where_, "sealed to a key that does not exist"); continue }
            if key.userID != user.id || user.keyID != keyID || key.retiredAt != nil {
                problem("\(where_) (user \(user.username))", "sealed to key \(keyID), which is not \(user.username)'s current key")
            } else if !Trust.grantHolds(g, vaultID: anchor.vaultID, root: current) {
                problem("\(where_) (user \(user.username))", "not signed by the vault's root key (replaced or planted outside Keyhold)")
            } else if !Trust.isEndorsed(key, vaultID: anchor.vaultID, version: current.version, rootPublicKey: current.publicKey) {
                problem(
                    "\(where_) (user \(user.username))",
                    "sealed to key \(keyID), which no root key endorsed (planted? approve real requests with `keyhold key approve`)")
            } else if user.disabled || user.locked || (user.expiresAt.map { $0 <= now } ?? false) {
                problem("\(where_) (user \(user.username))", "an inactive user holds the root key (rotate the root key)")
            }
        }
        if let root {
            try tx.forEachSecretName { id, name, tag in
                if tag != Trust.nameTag(root.names, secretID: id, name: name) {
                    problem(
                        "secrets id=\(id) (name \(Validate.visible(name)))",
                        "the name does not match its tag (moved from another row, or renamed outside Keyhold)")
                }
            }
        }
        return problems
    }
}

extension Session {
    /// Users and keys in the tables that no signed event of the log introduced: planted rows.
    func plantedRows(_ tx: Tx, _ authority: Authority) throws -> [CheckProblem] {
        var problems: [CheckProblem] = []
        for k in try tx.userKeys() where k.retiredAt == nil && k.sealedSecretKey != nil {
            guard let known = authority.keys[k.id], known.userID == k.userID, known.publicKey == k.publicKey, known.retiredAt == nil else {
                problems.append(
                    CheckProblem(
                        area: "trust", location: "user_keys id=\(k.id) (user \(Validate.visible(k.username)))",
                        message: "no signed audit event introduced this key (planted outside Keyhold?)"))
                continue
            }
        }
        for u in try tx.users() where !authority.isIntroduced(u.id) {
            problems.append(
                CheckProblem(
                    area: "trust", location: "users id=\(u.id) (\(Validate.visible(u.username)))",
                    message: "no signed audit event introduced this user (planted outside Keyhold?)"))
        }
        return problems
    }
}

extension Session {
    /// Most secret versions named one by one per data key that is missing or below the minimum.
    static let keyProblemRowsNamed = 20

    /// What is wrong with the data keys, from the rows alone (no key opened): no active
    /// key; the minimum decryption version above the active key; a running rotation
    /// whose target key is missing; secret versions sealed under a data key that is
    /// missing or below the minimum (the first few named one by one, then a count).
    /// `badKeys`: those key versions, whose rows the caller need not try to open.
    func keyProblems(_ tx: Tx) throws -> (problems: [CheckProblem], badKeys: Set<Int>) {
        var problems: [CheckProblem] = []
        let keys = try tx.dataKeys()
        let present = Set(keys.map(\.version))
        let active = keys.first { $0.active }?.version
        let minimum = try tx.vault()?.minDecryptVersion ?? 1
        if active == nil {
            problems.append(
                CheckProblem(
                    area: "data keys", location: "data_keys",
                    message:
                        "no data key is active (present: \(keys.isEmpty ? "none" : keys.map { String($0.version) }.joined(separator: ", ")))"
                ))
        } else if let active, minimum > active {
            problems.append(
                CheckProblem(
                    area: "data keys", location: "vault min_decrypt_version=\(minimum)",
                    message: "the minimum decryption version is above the active data key \(active)"))
        }
        if let job = try tx.runningRotation(), !present.contains(job.targetVersion) {
            problems.append(
                CheckProblem(
                    area: "data keys", location: "rotation_jobs id=\(job.id)",
                    message: "the running rotation's target data key \(job.targetVersion) is missing"))
        }
        var bad = Set<Int>()
        for version in try tx.keyVersionsInUse() {
            let why: String
            if !present.contains(version) {
                why = "data key \(version) is missing"
            } else if version < minimum {
                why = "data key \(version) is below the vault's minimum decryption version \(minimum)"
            } else {
                continue
            }
            bad.insert(version)
            let count = try tx.countVersions(keyVersion: version)
            let named = try tx.versionIDs(keyVersion: version, limit: Self.keyProblemRowsNamed)
            for id in named {
                problems.append(
                    CheckProblem(
                        area: "data keys", location: "secret_versions secret_id=\(id.secretID) version=\(id.version)",
                        message: "sealed under \(why)"))
            }
            if count > named.count {
                problems.append(
                    CheckProblem(
                        area: "data keys", location: "secret_versions key_version=\(version)",
                        message: "\(count - named.count) more secret version(s) sealed under \(why)"))
            }
        }
        return (problems, bad)
    }
}

extension AuditChain {
    /// Runs of consecutive ids as `first-last` (a single id as `id-id`), for events that introduce many rows.
    static func ranges(_ ids: [Int64]) -> [String] {
        var out: [String] = []
        var start: Int64?, last: Int64 = 0
        for id in ids.sorted() {
            if let s = start, id == last + 1 { last = id; _ = s; continue }
            if let s = start { out.append("\(s)-\(last)") }
            start = id; last = id
        }
        if let s = start { out.append("\(s)-\(last)") }
        return out
    }

    /// Digest of the ids a bulk event covers: BLAKE2b-256 of their decimals joined by `\n`, lower-case hex.
    static func digest(_ ids: [Int64]) -> String {
        // The decimals written in place into one buffer (a batch has 1,000 to 10,000 of them):
        // appending a reversed array of digits per id cost about 800 instructions an id.
        var text = [UInt8](repeating: 0, count: ids.count * 21)
        let used = text.withUnsafeMutableBufferPointer { out -> Int in
            var n = 0
            for (i, id) in ids.enumerated() {
                if i > 0 { out[n] = UInt8(ascii: "\n"); n += 1 }
                if id < 0 { out[n] = UInt8(ascii: "-"); n += 1 }
                var m = id.magnitude, digits = 1
                while m >= 10 { m /= 10; digits += 1 }
                m = id.magnitude
                for k in stride(from: n + digits - 1, through: n, by: -1) { out[k] = UInt8(ascii: "0") + UInt8(m % 10); m /= 10 }
                n += digits
            }
            return n
        }
        text.removeLast(text.count - used)
        return Store.hex(Hash.blake2b256(text))
    }
}
