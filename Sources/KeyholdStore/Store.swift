import Foundation
import GRDB

/// A failure of the store. Messages name paths and constraints, never bound values.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case exists(path: String)
    /// The vault's directory is readable or writable by others.
    case unsafeDirectory(path: String, mode: Int)
    /// A uniqueness or foreign-key rule refused the write.
    case conflict(String)
    /// Another process holds the database.
    case busy
    /// The file is not a Keyhold vault, or is damaged.
    case corrupt(String)
    /// A setting that must hold on every connection does not.
    case pragma(name: String, expected: String, actual: String)
    case io(String)

    public var description: String {
        switch self {
        case .notFound(let p): "no vault at \(p)"
        case .exists(let p): "a file already exists at \(p)"
        case .unsafeDirectory(let p, let m):
            "the vault directory \(p) has mode \(String(m, radix: 8)); it must be 0700 (run: chmod 700 '\(p)')"
        case .conflict(let what): "conflict: \(what)"
        case .busy: "the vault is busy (another process holds it); try again"
        case .corrupt(let what): "the vault file is damaged or not a vault: \(what)"
        case .pragma(let n, let e, let a): "database setting \(n) is \(a), expected \(e)"
        case .io(let what): what
        }
    }
}

/// The only code that speaks SQL. One connection per process (GRDB's
/// DatabaseQueue) in WAL mode; other processes may read and write the same
/// file, serialised by SQLite's locks and a busy timeout.
public final class Store: Sendable {
    /// Path of the database file.
    public let path: String
    let queue: DatabaseQueue

    /// The PRAGMAs every connection runs with (DESIGN section 4), in the order they are set.
    public static let requiredPragmas: [(name: String, value: String)] = [
        ("journal_mode", "wal"),
        ("synchronous", "2"),      // FULL
        ("foreign_keys", "1"),
        ("secure_delete", "1"),
        ("trusted_schema", "0"),
        // REPLACE deletes rows without firing DELETE triggers unless this is on,
        // which would let INSERT OR REPLACE overwrite an append-only audit event.
        ("recursive_triggers", "1"),
        // 8 MiB of page cache (negative: KiB), not SQLite's 2 MiB: bulk imports insert names
        // all over the name index, and rotation walks every version; a fixed size keeps
        // memory bounded whatever the vault holds.
        ("cache_size", "-8192"),
    ]
    /// How long a connection waits for another process's lock.
    public static let busyTimeout: TimeInterval = 5

    private init(path: String, queue: DatabaseQueue) {
        self.path = path
        self.queue = queue
    }

    /// Creates a new vault file (0600) in a directory that is 0700 (made if missing) and applies the schema.
    public static func create(at path: String) throws -> Store {
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        if fm.fileExists(atPath: dir) {
            try checkDirectory(dir)
        } else {
            do {
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.io("cannot create directory \(dir): \(error.localizedDescription)")
            }
        }
        // O_EXCL: never adopt a file someone else placed there; 0600 from the first byte.
        let fd = Glibc.open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw StoreError.exists(path: path) }
            throw StoreError.io("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        close(fd)
        do {
            let store = try openQueue(path: path)
            try store.migrate()
            try store.tightenFileModes()
            return store
        } catch {
            // Leave nothing half-made behind.
            for suffix in ["", "-wal", "-shm"] { try? fm.removeItem(atPath: path + suffix) }
            throw error
        }
    }

    /// Opens an existing vault and applies any newer migrations.
    public static func open(at path: String) throws -> Store {
        guard FileManager.default.fileExists(atPath: path) else { throw StoreError.notFound(path: path) }
        let store = try openQueue(path: path)
        try store.migrate()
        try store.tightenFileModes()
        return store
    }

    private static func openQueue(path: String) throws -> Store {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.publicStatementArguments = false  // bound values may be secrets: keep them out of errors
        config.label = "keyhold"
        config.prepareDatabase { db in
            // Set by hand, not through GRDB's journalMode option, which would
            // lower synchronous to NORMAL after enabling WAL.
            for (name, value) in Store.requiredPragmas {
                let v = name == "journal_mode" ? "WAL" : value
                try db.execute(sql: "PRAGMA \(name) = \(v)")
            }
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            let store = Store(path: path, queue: queue)
            try store.assertPragmas()
            return store
        } catch let e as DatabaseError {
            throw map(e)
        }
    }

    /// Fails unless every required PRAGMA holds on the connection.
    public func assertPragmas() throws {
        let actual = try pragmaValues()
        for (name, expected) in Store.requiredPragmas where actual[name] != expected {
            throw StoreError.pragma(name: name, expected: expected, actual: actual[name] ?? "unset")
        }
    }

    /// Current values of the required PRAGMAs plus busy_timeout, as SQLite reports them.
    public func pragmaValues() throws -> [String: String] {
        try guarded {
            try queue.inDatabase { db in
                var out: [String: String] = [:]
                for name in Store.requiredPragmas.map(\.name) + ["busy_timeout"] {
                    out[name] = try String.fetchOne(db, sql: "PRAGMA \(name)")?.lowercased()
                }
                return out
            }
        }
    }

    static func checkDirectory(_ dir: String) throws {
        let attrs = try? FileManager.default.attributesOfItem(atPath: dir)
        let mode = (attrs?[.posixPermissions] as? NSNumber)?.intValue ?? 0
        if mode & 0o077 != 0 { throw StoreError.unsafeDirectory(path: dir, mode: mode) }
    }

    /// Makes the database and its -wal/-shm files 0600 (SQLite copies the main file's mode; this makes sure).
    func tightenFileModes() throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            if chmod(path + suffix, 0o600) != 0 {
                throw StoreError.io("cannot set mode 0600 on \(path + suffix): \(String(cString: strerror(errno)))")
            }
        }
    }

    // MARK: Schema

    /// The numbered migrations cut from schema.sql at its `-- migration N: title` lines.
    public static var migrations: [(number: Int, title: String, sql: String)] {
        var out: [(Int, String, String)] = []
        var current: (Int, String)?
        var body: [Substring] = []
        func flush() { if let c = current { out.append((c.0, c.1, body.joined(separator: "\n"))) } }
        for line in embeddedSchemaSQL.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-- migration "), let colon = line.firstIndex(of: ":"),
               let n = Int(line[line.index(line.startIndex, offsetBy: 13)..<colon].trimmingCharacters(in: .whitespaces)) {
                flush()
                current = (n, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                body = []
            } else if current != nil {
                body.append(line)
            }
        }
        flush()
        return out
    }

    func migrate() throws {
        var migrator = DatabaseMigrator()
        for m in Store.migrations {
            migrator.registerMigration("\(m.number)") { db in try db.execute(sql: m.sql) }
        }
        try guarded { try migrator.migrate(queue) }
    }

    /// Every schema object (type, name, table, SQL) the vault holds, apart from SQLite's and GRDB's own.
    public func schemaObjects() throws -> [SchemaObject] {
        try read { try $0.schemaObjects() }
    }

    // MARK: Transactions

    /// Runs `body` in one read transaction.
    public func read<T>(_ body: (Tx) throws -> T) throws -> T {
        try guarded { try queue.read { db in try body(Tx(db: db)) } }
    }

    /// Runs `body` in one write transaction (BEGIN IMMEDIATE). Any error rolls everything back.
    public func write<T>(_ body: (Tx) throws -> T) throws -> T {
        try guarded {
            try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(Tx(db: db))
                    return .commit
                }
                return result!
            }
        }
    }

    /// Result of a WAL checkpoint.
    public struct Checkpoint: Equatable, Sendable {
        /// A reader held the WAL, so not every frame was copied and the WAL was not truncated.
        public var blocked: Bool
        public var walFrames: Int
        public var checkpointedFrames: Int
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the database and
    /// truncates it to zero bytes, so deleted bytes leave the -wal file.
    /// Returns `blocked` when a reader prevented it; callers retry.
    @discardableResult
    public func checkpointTruncate() throws -> Checkpoint {
        try guarded {
            try queue.writeWithoutTransaction { db in
                let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                let busy: Int = row?[0] ?? 1
                return Checkpoint(blocked: busy != 0, walFrames: row?[1] ?? -1, checkpointedFrames: row?[2] ?? -1)
            }
        }
    }

    /// SQLite's `PRAGMA integrity_check`: "ok" or the list of problems.
    public func integrityCheck() throws -> [String] {
        try guarded { try queue.inDatabase { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } }
    }

    /// Writes a consistent copy of the vault to `path` (0600) with VACUUM INTO.
    public func backup(to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else { throw StoreError.exists(path: destination) }
        let fd = Glibc.open(destination, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.io("cannot create \(destination): \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(destination)  // VACUUM INTO needs the name free; the umask-free create proved we may write there
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        try guarded { try queue.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) } }
        _ = chmod(destination, 0o600)
    }

    func guarded<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatabaseError { throw Store.map(e) }
    }

    static func map(_ e: DatabaseError) -> StoreError {
        switch e.resultCode {
        case .SQLITE_CONSTRAINT: return .conflict(e.message ?? "constraint")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .busy
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: return .corrupt(e.message ?? "not a database")
        default: return .io("database error \(e.resultCode.rawValue): \(e.message ?? "")")
        }
    }
}

/// One row of sqlite_master.
public struct SchemaObject: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var name: String
    public var table: String
    public var sql: String?
    public var description: String { "\(type) \(name) on \(table): \(sql ?? "-")" }
}

// Direct SQL for tests that must tamper with a vault the way someone who can
// write the file could. Not part of the product's API.
extension Store {
    @_spi(Testing)
    public func unsafeExecute(_ sql: String, arguments: [(any Sendable)?] = []) throws {
        try guarded {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: sql, arguments: StatementArguments(arguments.map { Store.databaseValue($0) }))
            }
        }
    }

    @_spi(Testing)
    public func unsafeQuery(_ sql: String, arguments: [(any Sendable)?] = []) throws -> [[String: (any Sendable)?]] {
        try guarded {
            try queue.inDatabase { db in
                try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments.map { Store.databaseValue($0) })).map { row in
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

    static func databaseValue(_ v: (any Sendable)?) -> DatabaseValue {
        switch v {
        case nil: return .null
        case let b as [UInt8]: return Data(b).databaseValue
        case let i as Int: return i.databaseValue
        case let i as Int64: return i.databaseValue
        case let s as String: return s.databaseValue
        case let d as Double: return d.databaseValue
        default: return .null
        }
    }
}
