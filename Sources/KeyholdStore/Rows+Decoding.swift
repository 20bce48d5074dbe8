import Foundation
import GRDB

// Every row the store reads is decoded in one place per row type (an `init(row:)` beside its
// queries, in the Tx+ file of its table), through `Columns`: by position, in the order of the
// type's SELECT list (a listing of 100,000 rows would otherwise look every column up by name
// in every row), each value checked against what the schema promises. A value the schema
// forbids (a NULL in a NOT NULL column, text where an integer belongs: a schema rewritten
// with PRAGMA writable_schema lets anyone write them) throws `StoreError.corrupt` naming the
// table, the row and the column, where GRDB's subscripts would stop the program.

/// The columns of one row as a statement steps to it, read by position and checked.
struct Columns {
    let row: Row
    /// The table (or view) the row comes from, for errors.
    let table: String
    /// How many leading columns name the row (its primary key), for errors.
    let keyColumns: Int

    init(_ row: Row, _ table: String, key: Int = 1) {
        self.row = row; self.table = table; keyColumns = key
    }

    /// The value at `index`, which the schema says is never NULL.
    @inline(__always)
    func value<T: ColumnValue>(_ index: Int) throws -> T {
        let v = try row.decode(DatabaseValue.self, atIndex: index)
        guard let out = T.decode(v.storage) else { throw mismatch(index, v, T.kind) }
        return out
    }

    /// The value at `index`, or nil for NULL.
    @inline(__always)
    func optional<T: ColumnValue>(_ index: Int) throws -> T? {
        let v = try row.decode(DatabaseValue.self, atIndex: index)
        if v.isNull { return nil }
        guard let out = T.decode(v.storage) else { throw mismatch(index, v, T.kind) }
        return out
    }

    /// The value of the column named `column` (for a table whose columns depend on the vault's
    /// format, read with `SELECT *`), which the schema says is never NULL.
    func value<T: ColumnValue>(_ column: String) throws -> T {
        guard let index = Array(row.columnNames).firstIndex(of: column) else {
            throw StoreError.corrupt("\(place(Array(row.columnNames))): it has no column \(column)")
        }
        return try value(index)
    }

    /// The value of the column named `column`, or nil for NULL or for a column the vault's
    /// format does not have yet (a format-1 vault before its upgrade).
    func optional<T: ColumnValue>(_ column: String) throws -> T? {
        guard let index = Array(row.columnNames).firstIndex(of: column) else { return nil }
        return try optional(index)
    }

    /// The integrity error for the value at `index`: the table, the row's key, the column, and
    /// what kind of value it holds (never the value itself, which may be secret).
    func mismatch(_ index: Int, _ found: DatabaseValue, _ expected: String) -> StoreError {
        let names = Array(row.columnNames)
        let what =
            switch found.storage {
            case .null: "is NULL"
            case .int64: "holds an integer"
            case .double: "holds a real number"
            case .string: "holds text"
            case .blob: "holds a blob"
            }
        let column = index < names.count ? names[index] : "column \(index + 1)"
        return .corrupt("\(place(names)): column \(column) \(what), where the schema requires \(expected)")
    }

    /// The table and the row's key: `users id=3` (just the table for a row read without its key).
    private func place(_ names: [String]) -> String {
        keyColumns == 0 ? table : table + " " + rowKey(names)
    }

    /// The row's key as `column=value ...` (integers only; anything else shown as `?`).
    private func rowKey(_ names: [String]) -> String {
        (0..<min(keyColumns, row.count, names.count)).map { i -> String in
            let v = (try? row.decode(DatabaseValue.self, atIndex: i)) ?? .null
            let shown =
                switch v.storage {
                case .int64(let n): String(n)
                case .null: "NULL"
                default: "?"
                }
            return "\(names[i])=\(shown)"
        }.joined(separator: " ")
    }
}

/// A Swift type a column decodes to, from exactly the SQLite storage class the schema gives it.
protocol ColumnValue {
    /// What the schema requires, for errors ("an integer", "text", "a blob").
    static var kind: String { get }
    static func decode(_ storage: DatabaseValue.Storage) -> Self?
}

extension Int64: ColumnValue {
    static var kind: String { "an integer" }
    @inline(__always)
    static func decode(_ storage: DatabaseValue.Storage) -> Int64? {
        if case .int64(let n) = storage { n } else { nil }
    }
}

extension Int: ColumnValue {
    static var kind: String { "an integer" }
    @inline(__always)
    static func decode(_ storage: DatabaseValue.Storage) -> Int? {
        if case .int64(let n) = storage { Int(exactly: n) } else { nil }
    }
}

/// A flag: an integer, 0 for false.
extension Bool: ColumnValue {
    static var kind: String { "an integer (0 or 1)" }
    @inline(__always)
    static func decode(_ storage: DatabaseValue.Storage) -> Bool? {
        if case .int64(let n) = storage { n != 0 } else { nil }
    }
}

extension String: ColumnValue {
    static var kind: String { "text" }
    @inline(__always)
    static func decode(_ storage: DatabaseValue.Storage) -> String? {
        if case .string(let s) = storage { s } else { nil }
    }
}

extension [UInt8]: ColumnValue {
    static var kind: String { "a blob" }
    @inline(__always)
    static func decode(_ storage: DatabaseValue.Storage) -> [UInt8]? {
        if case .blob(let d) = storage { [UInt8](d) } else { nil }
    }
}
