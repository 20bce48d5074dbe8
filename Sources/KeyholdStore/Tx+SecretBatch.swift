import GRDB
import GRDBSQLite

/// New secrets with their first versions, for `Tx.insertNewSecrets`: one
/// batch of an import. The rows' bytes (name, description, ciphertext, name tag) are
/// kept in one contiguous array, so that many rows bind to one statement
/// without a copy each. Ciphertext is not secret; no plaintext goes here.
public struct NewSecretRows {
    /// The id of the first row; the others follow in order (see `Tx.nextSecretID`).
    public var firstID: Int64 = 0
    public var keyVersion = 0
    public var createdAt: Int64 = 0
    public var createdBy: Int64?
    private(set) var bytes: [UInt8] = []
    /// Four ends per row, into `bytes`: name, description, ciphertext, name tag.
    private(set) var ends: [Int] = []
    static let fields = 4

    public init() {}

    public var count: Int { ends.count / Self.fields }

    /// Empties the batch, keeping its memory for the next one.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    /// The name of row `index`.
    public func name(at index: Int) -> String {
        let from = index == 0 ? 0 : ends[index * Self.fields - 1]
        return String(decoding: bytes[from..<ends[index * Self.fields]], as: UTF8.self)
    }

    /// Adds the next row (its id is `firstID + count`).
    public mutating func append(name: String, description: String, ciphertext: UnsafeRawBufferPointer, nameTag: [UInt8]) {
        bytes.append(contentsOf: name.utf8)
        ends.append(bytes.count)
        bytes.append(contentsOf: description.utf8)
        ends.append(bytes.count)
        bytes.append(contentsOf: ciphertext)
        ends.append(bytes.count)
        bytes.append(contentsOf: nameTag)
        ends.append(bytes.count)
    }
}

extension Tx {
    /// Rows per multi-row INSERT: one statement execution per 50 rows rather than
    /// per row saves most of SQLite's per-statement work (about 40% of the
    /// instructions of a bulk insert, measured with callgrind).
    static let rowsPerInsert = 50

    /// The id the next new secret gets: above every id ever used (AUTOINCREMENT's
    /// `sqlite_sequence`), so ids of deleted secrets are never reused. Stable for
    /// the rest of a write transaction.
    public func nextSecretID() throws -> Int64 {
        let counter: [Int64] = try values(
            db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'secrets'"), of: "sqlite_sequence", at: 0, key: 0)
        let sequence = counter.first ?? 0
        let highest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM secrets") ?? 0  // ids are the rowid: integers
        return max(sequence, highest) + 1
    }

    /// Inserts the batch's secrets (ids `firstID...`, version 1) and their first
    /// versions, `rowsPerInsert` rows per statement. Returns nil, or the index of
    /// the first row whose name a secret already has: then nothing of that row is
    /// written and the caller must throw (which rolls the transaction back).
    public func insertNewSecrets(_ rows: NewSecretRows) throws -> Int? {
        try rows.bytes.withUnsafeBytes { bytes in
            var start = 0
            while start < rows.count {
                let n = min(Tx.rowsPerInsert, rows.count - start)
                let secrets = try db.cachedStatement(sql: n == Tx.rowsPerInsert ? Tx.insertSecretsFull : Tx.insertSecretsSQL(rows: n))
                try step(secrets) { h in
                    for k in 0..<n {
                        let row = start + k, p = Int32(k * 10)
                        Tx.bind(h, p + 1, rows.firstID + Int64(row))
                        Tx.bind(h, p + 2, text: field(rows, bytes, row, 0))
                        Tx.bind(h, p + 3, text: field(rows, bytes, row, 1))
                        Tx.bind(h, p + 4, Int64(1))
                        Tx.bind(h, p + 5, Int64(1))
                        Tx.bind(h, p + 6, nil)
                        Tx.bind(h, p + 7, nil)
                        Tx.bind(h, p + 8, rows.createdAt)
                        Tx.bind(h, p + 9, rows.createdAt)
                        Tx.bind(h, p + 10, blob: field(rows, bytes, row, 3))
                    }
                }
                if db.changesCount != n { return try firstMissing(from: rows.firstID + Int64(start), count: n).map { start + $0 } }
                let versions = try db.cachedStatement(sql: n == Tx.rowsPerInsert ? Tx.insertVersionsFull : Tx.insertVersionsSQL(rows: n))
                try step(versions) { h in
                    for k in 0..<n {
                        let row = start + k, p = Int32(k * 6)
                        Tx.bind(h, p + 1, rows.firstID + Int64(row))
                        Tx.bind(h, p + 2, Int64(1))
                        Tx.bind(h, p + 3, Int64(rows.keyVersion))
                        Tx.bind(h, p + 4, blob: field(rows, bytes, row, 2))
                        Tx.bind(h, p + 5, rows.createdAt)
                        Tx.bind(h, p + 6, rows.createdBy)
                    }
                }
                start += n
            }
            try indexSecretNames(from: rows.firstID, through: rows.firstID + Int64(rows.count) - 1)
            return nil
        }
    }

    private func field(_ rows: NewSecretRows, _ bytes: UnsafeRawBufferPointer, _ row: Int, _ column: Int) -> UnsafeRawBufferPointer {
        let i = row * NewSecretRows.fields + column
        let from = i == 0 ? 0 : rows.ends[i - 1]
        return UnsafeRawBufferPointer(rebasing: bytes[from..<rows.ends[i]])
    }

    /// Offset of the first id in `first..<first+count` that has no secret (its name met an existing one).
    private func firstMissing(from first: Int64, count: Int) throws -> Int? {
        let present = Set(
            try Int64.fetchAll(
                db, sql: "SELECT id FROM secrets WHERE id BETWEEN ? AND ?",
                arguments: [first, first + Int64(count) - 1]))
        return (0..<count).first { !present.contains(first + Int64($0)) }
    }

    private static let insertSecretsFull = insertSecretsSQL(rows: rowsPerInsert)
    private static let insertVersionsFull = insertVersionsSQL(rows: rowsPerInsert)

    static func insertSecretsSQL(rows: Int) -> String {
        let marks = placeholderRows("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return
            "INSERT INTO secrets (id, name, description, current_version, last_version, history_limit, rotate_by, created_at, updated_at, name_tag) VALUES \(marks) ON CONFLICT(name) DO NOTHING"
    }

    static func insertVersionsSQL(rows: Int) -> String {
        let marks = placeholderRows("(?, ?, ?, ?, ?, ?)", rows)
        return "INSERT INTO secret_versions (secret_id, version, key_version, ciphertext, created_at, created_by) VALUES \(marks)"
    }

    /// `row, row, ...`: only `?` placeholders, never a value.
    private static func placeholderRows(_ row: StaticString, _ count: Int) -> String {
        Array(repeating: row.description, count: count).joined(separator: ", ")
    }
}
