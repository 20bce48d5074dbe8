import Foundation
import GRDB
import GRDBSQLite  // raw bindings for the few statements bulk work runs once per row (see `step`)

/// One transaction's view of the vault: every query the core needs, each
/// parameterised. Obtained only inside `Store.read` or `Store.write`.
public struct Tx {
    let db: Database
    /// The per-row statements of bulk work, looked up once per transaction (GRDB's own
    /// cache is keyed by the SQL text, which costs hashing that text on every call).
    let perRow = PerRowStatements()
    /// Which name indexes lost an entry in this transaction (`purgeNameIndexes`).
    let nameIndexes = NameIndexChanges()

    final class PerRowStatements {
        var insertVersion: Statement?
        var reseal: Statement?
    }

    func data(_ bytes: [UInt8]?) -> Data? { bytes.map { Data($0) } }

    // MARK: Reading rows
    //
    // Every query that returns rows reads them through these, and each row through the
    // `init(row:)` of its type (or a `Columns` of its own), which throws `StoreError.corrupt`
    // for a value the schema forbids (Rows+Decoding.swift): never GRDB's subscripts, which
    // stop the program there.

    /// Maps each row as SQLite steps to it (GRDB lends one reused `Row`), for listings that
    /// may hold the whole vault: `Row.fetchAll` would first copy every row, column names and
    /// all, which over 100,000 users costs several times the memory and time of the result.
    func mapRows<T>(_ statement: Statement, _ arguments: StatementArguments = [], _ map: (Row) throws -> T) throws -> [T] {
        var out: [T] = []
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try cursor.next() { out.append(try map(row)) }
        return out
    }

    /// The first row `statement` returns, mapped; nil when it returns none.
    func mapRow<T>(_ statement: Statement, _ arguments: StatementArguments = [], _ map: (Row) throws -> T) throws -> T? {
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        return try cursor.next().map(map)
    }

    /// Hands each row to `body` as SQLite steps to it (for work over every row of a table).
    func forEachRow(_ statement: Statement, _ arguments: StatementArguments = [], _ body: (Row) throws -> Void) throws {
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try cursor.next() { try body(row) }
    }

    /// Every row's value at `index`, checked as `Columns` checks it: a value the schema forbids
    /// is an integrity error naming `table`, the row (its first `key` columns) and the column.
    func values<T: ColumnValue>(
        _ statement: Statement, _ arguments: StatementArguments = [], of table: String, at index: Int, key: Int = 1
    ) throws -> [T] {
        var out: [T] = []
        try forEachRow(statement, arguments) { out.append(try Columns($0, table, key: key).value(index)) }
        return out
    }

    // MARK: Per-row statements of bulk work
    //
    // Import and rotation run these once per row, 100,000s of times. GRDB's
    // `execute(arguments:)` costs about as much again as SQLite's own work for
    // such a statement (boxing the arguments, validating and re-binding them,
    // its per-statement bookkeeping), so these few bind and step the statement
    // GRDB prepared and caches through SQLite's C API instead: values bound in
    // place (no copy), cleared right after the step, errors turned into GRDB's
    // `DatabaseError` as everywhere else (its message never holds a bound value).
    // Only those per-row statements (and the batch read of rotation) use this.

    /// Binds with `bind`, steps once (a statement that returns no row), then resets
    /// and clears the bindings, which point into the caller's memory.
    func step(_ statement: Statement, _ bind: (OpaquePointer) -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        let rc = sqlite3_step(h)
        let failure =
            rc == SQLITE_DONE
            ? nil
            : DatabaseError(
                resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
        sqlite3_reset(h)
        sqlite3_clear_bindings(h)
        if let failure { throw failure }
    }

    /// Binds with `bind`, then hands each row to `row` (read its columns there, they do not
    /// outlive the step), then resets and clears the bindings.
    func rows(_ statement: Statement, bind: (OpaquePointer) -> Void, _ row: (OpaquePointer) throws -> Void) throws {
        let h = statement.sqliteStatement
        sqlite3_reset(h)
        bind(h)
        defer {
            sqlite3_reset(h)
            sqlite3_clear_bindings(h)
        }
        while true {
            let rc = sqlite3_step(h)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(
                    resultCode: ResultCode(rawValue: sqlite3_extended_errcode(db.sqliteConnection)),
                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
            }
            try row(h)
        }
    }

    static func bind(_ h: OpaquePointer, _ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(h, index, value) } else { sqlite3_bind_null(h, index) }
    }

    /// Binds text or a blob in place (SQLITE_STATIC: the bytes must outlive the step, as in `step`).
    static func bind(_ h: OpaquePointer, _ index: Int32, text: UnsafeRawBufferPointer) {
        sqlite3_bind_text(
            h, index, (text.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)).assumingMemoryBound(to: CChar.self),
            Int32(text.count), nil)
    }

    static func bind(_ h: OpaquePointer, _ index: Int32, blob: UnsafeRawBufferPointer) {
        // A zero-length blob needs a non-null pointer, or SQLite stores NULL.
        sqlite3_bind_blob(h, index, blob.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start), Int32(blob.count), nil)
    }

    // A whole listing in name order would walk the name index and fetch each row from
    // wherever it lies: over 100,000 rows, more than the 8 MiB page cache holds, that is a
    // disk read (a pread) per row. Read in table order instead (pages in sequence) and
    // sorted here, with SQLite's collations: about 2.5 times faster over 100,000 users or
    // secrets. A page of a listing (LIMIT, OFFSET) still comes sorted from SQLite.

    /// `rows` in SQLite's order of `key`: BINARY (bytes), or NOCASE (bytes, ASCII letters
    /// folded to lower case) with `foldingCase`. Sorts each key's bytes once, compared with memcmp.
    static func sorted<T>(_ rows: [T], by key: (T) -> String, foldingCase: Bool) -> [T] {
        var keys: [(bytes: [UInt8], index: Int)] = rows.enumerated().map { i, row in
            var bytes = Array(key(row).utf8)
            if foldingCase { for j in bytes.indices where bytes[j] &- 65 < 26 { bytes[j] |= 0x20 } }
            return (bytes, i)
        }
        keys.sort { a, b in
            let n = min(a.bytes.count, b.bytes.count)
            let order =
                n == 0 ? 0 : a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, n) } }
            return order != 0 ? order < 0 : a.bytes.count < b.bytes.count
        }
        return keys.map { rows[$0.index] }
    }

    /// Escapes `%`, `_` and `\` for a LIKE pattern with ESCAPE '\'.
    static func escapeLike(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// A JSON array of strings (quotes, backslashes and control characters escaped).
    static func jsonArray(_ strings: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(strings.reduce(2) { $0 + $1.utf8.count + 3 })
        let hex = Array("0123456789abcdef".utf8)
        for (i, s) in strings.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
                case 0..<0x20:
                    out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                default: out.append(b)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs `body` with its SQLite errors as `StoreError`s, so the core can tell a damaged page
    /// (`.corrupt`) from other failures and go on with the rows it can still read.
    public func storeErrors<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError { throw Store.map(e) } catch let e as RowDecodingError { throw Store.map(e) }
    }

    /// The SQLite library's version (for reports).
    public func sqliteVersion() throws -> String {
        try String.fetchOne(db.cachedStatement(sql: "SELECT sqlite_version()")) ?? "?"
    }
}
