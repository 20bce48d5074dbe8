import Foundation
import GRDB
import KeyholdStore

// Direct SQL on a vault file, for tests that tamper with a vault the way anyone who can write
// the file could. Each call opens a connection of its own (with the store's pragmas, so deletes
// are secure as the store's are), runs one statement and closes it: the product has no such
// door, and the store's own connection is never lent out.

extension Store {
    /// `unsafeExecute` on the vault file at `path`, without opening it as a vault first (which
    /// would check it, and take an older format to the current one).
    public static func unsafeExecute(at path: String, _ sql: String) throws {
        try RawSQL.open(path).writeWithoutTransaction { db in try db.execute(sql: sql) }
    }

    /// Runs `sql` (one statement, or several separated by semicolons, sharing one connection:
    /// `PRAGMA foreign_keys = OFF; DELETE ...`) on the vault file, outside any transaction.
    public func unsafeExecute(_ sql: String, arguments: [(any Sendable)?] = []) throws {
        try RawSQL.open(path).writeWithoutTransaction { db in
            try db.execute(sql: sql, arguments: RawSQL.arguments(arguments))
        }
    }

    /// Runs one query on the vault file. NULL columns are left out of the rows' dictionaries.
    public func unsafeQuery(_ sql: String, arguments: [(any Sendable)?] = []) throws -> [[String: (any Sendable)?]] {
        try RawSQL.open(path).inDatabase { db in
            try Row.fetchAll(db, sql: sql, arguments: RawSQL.arguments(arguments)).map { row in
                var out: [String: (any Sendable)?] = [:]
                for (column, value) in row {
                    switch value.storage {
                    case .null: out[column] = .none
                    case .int64(let i): out[column] = i
                    case .double(let d): out[column] = d
                    case .string(let s): out[column] = s
                    case .blob(let b): out[column] = [UInt8](b)
                    }
                }
                return out
            }
        }
    }
}

enum RawSQL {
    static func open(_ path: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.busyMode = .timeout(Store.busyTimeout)
        config.prepareDatabase { db in
            for (name, value) in Store.requiredPragmas where name != "journal_mode" {
                try db.execute(sql: "PRAGMA \(name) = \(value)")
            }
        }
        return try DatabaseQueue(path: path, configuration: config)
    }

    static func arguments(_ values: [(any Sendable)?]) -> StatementArguments {
        StatementArguments(
            values.map { v -> DatabaseValue in
                switch v {
                case nil: return .null
                case let b as [UInt8]: return Data(b).databaseValue
                case let i as Int: return i.databaseValue
                case let i as Int64: return i.databaseValue
                case let s as String: return s.databaseValue
                case let d as Double: return d.databaseValue
                default: return .null
                }
            })
    }
}
