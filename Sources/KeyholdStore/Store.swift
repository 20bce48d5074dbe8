import Foundation
import GRDB
import GRDBSQLite  // sqlite3_system_errno: why an I/O error happened (a full disk, a size limit, a read-only file system)
import Synchronization

/// A failure of the store. Messages name paths and constraints, never bound values,
/// and say what to do where there is something to do.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case exists(path: String)
    /// The vault's directory is readable or writable by others.
    case unsafeDirectory(path: String, mode: Int)
    /// The vault file (or its -wal/-shm) is readable or writable by others.
    case unsafeFile(path: String, mode: Int)
    /// The file belongs to another user.
    case foreignOwner(path: String, uid: Int)
    /// A directory was given where the vault file was expected.
    case isDirectory(path: String)
    /// The file is not a Keyhold vault (empty, not SQLite, another program's database).
    case notAVault(path: String, reason: String)
    /// A vault written by a newer release.
    case futureFormat(path: String, format: Int)
    /// A vault of an older format: `keyhold upgrade` brings it to this release's.
    case upgradeRequired(path: String, format: Int)
    /// A vault whose creation was interrupted by an older release (a schema without its vault row).
    case halfMade(path: String)
    /// A vault file that is not whole: shorter than its header says, or malformed pages.
    case damaged(path: String, reason: String)
    /// The vault (or its directory or file system) cannot be written, and every use of it writes an audit event.
    case readOnly(path: String, why: ReadOnlyReason)
    /// The disk (or the user's quota) is full: the transaction was rolled back.
    case diskFull
    /// A file size limit (`ulimit -f`, RLIMIT_FSIZE) stopped the vault from growing: the transaction was rolled back.
    case fileSizeLimit(bytes: Int64?)
    /// A uniqueness or foreign-key rule refused the write.
    case conflict(String)
    /// Another process holds the database.
    case busy
    /// The file is damaged.
    case corrupt(String)
    /// A setting that must hold on every connection does not.
    case pragma(name: String, expected: String, actual: String)
    /// The file at the vault's path is no longer the one this process opened (moved, removed or
    /// written over): the process stopped using it. `tidied`: its write-ahead log was put right.
    case replaced(path: String, how: Replacement, tidied: Bool)
    /// A restore of the vault runs in another process (it holds the in-use lock exclusively).
    case restoreInProgress(path: String)
    /// Another process has the vault open, so it cannot be replaced now.
    case inUse(path: String)
    case io(String)

    public var description: String {
        switch self {
        case .notFound(let p): "no vault at \(p)"
        case .exists(let p): "a file already exists at \(p)"
        case .unsafeDirectory(let p, let m):
            "the vault directory \(p) has mode \(String(m, radix: 8)); it must be 0700 (run: chmod 700 '\(p)')"
        case .unsafeFile(let p, let m):
            "\(p) has mode \(String(m, radix: 8)): group or others may read or write it, so Keyhold will not use it "
                + "(check who may have copied it, then run: chmod 600 '\(p)')"
        case .foreignOwner(let p, let uid):
            "\(p) belongs to another user (uid \(uid)); Keyhold opens only its own user's vaults"
        case .isDirectory(let p):
            "\(p) is a directory; give the path of the vault file (for example \(p)/keyhold.db)"
        case .notAVault(let p, let reason): "\(p) is not a Keyhold vault: \(reason); it was left unchanged"
        case .futureFormat(let p, let f):
            "\(p) is a vault of format \(f), made by a newer Keyhold; this release reads format \(VaultFile.currentFormat) "
                + "and leaves the file unchanged (use the newer release)"
        case .upgradeRequired(let p, let f):
            "\(p) is a vault of format \(f); this release uses format \(VaultFile.currentFormat). "
                + "Run `keyhold upgrade` (as an administrator holding keys.manage and roles.manage; it writes a backup first)"
        case .damaged(let p, let reason): "\(p) is damaged: \(reason); it was left unchanged"
        case .halfMade(let p):
            "\(p) holds a vault whose creation was interrupted (its tables exist but it has no vault row), so nothing in "
                + "it can be used; move it aside (mv '\(p)' '\(p).broken') and run `keyhold init` again"
        case .readOnly(let p, let why):
            "\(p) cannot be written: \(why.description(p)). Keyhold records every login and every reveal in the vault's "
                + "audit log, so it uses no vault it cannot write and shows nothing it could not record: nothing was shown or "
                + "changed. \(why.fix(p))"
        case .diskFull:
            "the disk holding the vault is full (or your disk quota is used up): the change was rolled back and nothing "
                + "was shown, since its audit event could not be written. Free some space and run the command again"
        case .fileSizeLimit(let bytes):
            "a file size limit (ulimit -f\(bytes.map { ": \($0) bytes" } ?? "")) stops the vault's files from growing: the "
                + "change was rolled back and nothing was shown, since its audit event could not be written. Raise the limit "
                + "(ulimit -f unlimited) and run the command again"
        case .conflict(let what): "conflict: \(what)"
        case .busy: "the vault is busy (another process holds it); try again"
        case .corrupt(let what): "the vault file is damaged: \(what) (run `keyhold check` on a copy; restore a backup)"
        case .pragma(let n, let e, let a): "database setting \(n) is \(a), expected \(e)"
        case .replaced(let p, let how, let tidied):
            StoreError.replacedMessage(p, how, tidied: tidied)
        case .restoreInProgress(let p):
            "a restore of the vault \(p) is in progress in another process; try again when it has finished"
        case .inUse(let p):
            "the vault \(p) is open in another process (the console, an agent, a running command): close it, then restore"
        case .io(let what): what
        }
    }

    private static func replacedMessage(_ p: String, _ how: Replacement, tidied: Bool) -> String {
        let what =
            switch how {
            case .moved: "replaced by another file (moved or renamed onto its path, or moved away) while this process had it open"
            case .removed: "removed (nothing is at its path any more) while this process had it open"
            case .rewritten(let why): "written over in place (as a copy onto it does) while this process had it open: \(why)"
            }
        let after =
            switch (how, tidied) {
            case (.rewritten, true):
                " Its write-ahead log held pages of the contents that were written over; it was emptied, so they do not mix with the new ones."
            case (_, true):
                " The changes it had already committed are in the file it opened, wherever that now is, not in the new one."
            case (_, false):
                " Other Keyhold processes still have the path open: close them all (each stops the same way, and the last one "
                    + "puts the write-ahead log right)."
            }
        return "the vault file \(p) was \(what). Keyhold stopped using it and wrote "
            + "nothing more to either file.\(after) Start Keyhold again to use the vault now at that path (`keyhold check` "
            + "tells whether it is whole); `keyhold restore` is the safe way to put a backup in place."
    }
}

/// The only code that speaks SQL. One connection per process (GRDB's
/// DatabaseQueue) in WAL mode; other processes may read and write the same
/// file, serialised by SQLite's locks and a busy timeout.
public final class Store: Sendable {
    /// Path of the database file.
    public let path: String
    let queue: DatabaseQueue
    /// Byte 1 of the lock file, held shared while the vault is open (exclusive during a
    /// restore); nil for a vault being built (a draft), which nobody else can know of.
    let inUse: OwnerLock?
    /// The file this process opened, checked before every use (`verifyFile`).
    let watch = Mutex(FileWatch())
    let watching: Bool

    /// The PRAGMAs every connection runs with, in the order they are set.
    public static let requiredPragmas: [(name: String, value: String)] = [
        ("journal_mode", "wal"),
        ("synchronous", "2"),  // FULL
        ("foreign_keys", "1"),
        ("secure_delete", "1"),
        ("trusted_schema", "0"),
        // REPLACE deletes rows without firing DELETE triggers unless this is on,
        // which would let INSERT OR REPLACE overwrite an append-only audit event.
        ("recursive_triggers", "1"),
        // 8 MiB of page cache (negative: KiB), not SQLite's 2 MiB: bulk imports insert names
        // all over the name index, and rotation walks every version; a fixed size keeps
        // memory bounded whatever the vault holds.
        ("cache_size", "-8192")
    ]
    /// How long a connection waits for another process's lock.
    public static let busyTimeout: TimeInterval = 5

    private init(path: String, queue: DatabaseQueue, kind: VaultFile.Kind, inUse: OwnerLock?) {
        self.path = path
        self.queue = queue
        self.kind = kind
        self.inUse = inUse
        watching = inUse != nil
    }

    deinit {
        // A file replaced while open must not get this connection's log at close (`retire`).
        if watching { try? verifyFile() }
    }

    /// The format of the file when it was opened.
    public let kind: VaultFile.Kind

    /// Creates a new vault at `path`: built whole beside it (a hidden file in the
    /// same 0700 directory) with the schema and what `initialize` writes, in one
    /// transaction, then linked into place. A process killed at any point leaves
    /// either no vault or a whole one; `path` is never replaced.
    public static func create(at path: String, initialize: (Tx) throws -> Void = { _ in }) throws -> Store {
        let dir = VaultFile.parent(of: path)
        if FileManager.default.fileExists(atPath: dir) {
            try VaultFile.checkDirectory(dir)
        } else {
            do {
                try FileManager.default.createDirectory(
                    atPath: dir, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError.io("cannot create directory \(dir): \(error.localizedDescription)")
            }
        }
        var st = stat()
        if lstat(path, &st) == 0 { throw StoreError.exists(path: path) }
        if let why = ReadOnlyReason.ofDirectory(dir) { throw StoreError.readOnly(path: dir, why: why) }
        let draft = try Draft(for: path)
        defer { draft.discard() }
        do {
            let store = try openQueue(path: draft.path, kind: .current)
            try store.write { tx in
                try tx.applyMigrations(after: 0, through: VaultFile.lastMigration[VaultFile.currentFormat] ?? 0)
                try initialize(tx)
                try tx.stampCurrentFormat()
            }
            try store.close()
        }
        try draft.publish()
        // Closed before the vault is opened: a POSIX lock belongs to the process and falls with the
        // close of any descriptor of the file, so closing the draft's later would drop SQLite's locks,
        // and another process would take itself for the last one and delete the WAL under this one.
        draft.discard()
        return try open(at: path)
    }

    /// Opens an existing vault. The file is inspected first (`VaultFile.inspect`)
    /// and left untouched unless it is a vault of this release's format, of an older
    /// one when `allowOlder` (the upgrade) asks for it, or of a format that only lacks
    /// what is derived from its rows (`VaultFile.upgradedAtOpen`), which is brought to
    /// this release's format first.
    public static func open(at path: String, allowOlder: Bool = false) throws -> Store {
        let kind = try VaultFile.inspect(path)
        var derivedFrom: Int?
        if case .older(let format) = kind {
            if VaultFile.upgradedAtOpen.contains(format) {
                derivedFrom = format
            } else if !allowOlder {
                throw StoreError.upgradeRequired(path: path, format: format)
            }
        }
        try checkWritable(path)
        // The vault in use (byte 1 of the lock file, shared), for as long as this Store lives:
        // a restore replaces the file only when nobody holds it.
        let lock = try OwnerLock(vaultPath: path)
        guard try lock.tryLock(.vault, .shared) else { throw StoreError.restoreInProgress(path: path) }
        var before = stat()
        guard stat(path, &before) == 0 else { throw StoreError.notFound(path: path) }
        let store = try openQueue(path: path, kind: derivedFrom == nil ? kind : .current, inUse: lock)
        try store.startWatching(before: before)
        if let format = derivedFrom { try store.upgradeDerived(from: format) }
        if store.kind == .current { try store.refreshViews() }
        return store
    }

    /// Takes a vault of a format in `VaultFile.upgradedAtOpen` to the current one: the later
    /// migrations (which build what they add from the rows there) and the new header, in one
    /// transaction. Checked again inside it: another process may have done it meanwhile.
    private func upgradeDerived(from format: Int) throws {
        guard let from = VaultFile.lastMigration[format], let through = VaultFile.lastMigration[VaultFile.currentFormat] else { return }
        try write { tx in
            guard try tx.headerFormat() == format else { return }
            try tx.applyMigrations(after: from, through: through)
            try tx.stampCurrentFormat()
        }
        // The new header into the file itself, where `VaultFile.inspect` (and an older release) reads it.
        _ = try? checkpointTruncate()
    }

    /// Re-defines each view whose definition in the file differs from schema.sql's, by running
    /// the last view-only migration that defines it (one transaction). A view holds no rows, so
    /// this changes no data: it brings a vault made before such a migration (in its format, or
    /// one taken to this format at open) to the schema this release reads. Reads first, so an
    /// up-to-date vault takes no write lock.
    func refreshViews() throws {
        let stale = { (tx: Tx) throws -> [(number: Int, sql: String)] in
            let stored = try tx.viewDefinitions()
            return Store.viewMigrations.filter { m in m.views.contains { stored[$0.key] != $0.value } }
                .map { ($0.number, $0.sql) }
        }
        guard !(try read(stale)).isEmpty else { return }
        try write { tx in
            for m in try stale(tx) { try tx.applyMigrations(after: m.number - 1, through: m.number) }
        }
    }

    /// The migrations (up to the current format's last) that only drop and create views, each
    /// with the views it defines (name: the `CREATE VIEW` statement as SQLite keeps it, without
    /// its `;`); of two that define the same view, only the later.
    static let viewMigrations: [(number: Int, sql: String, views: [String: String])] = {
        let last = VaultFile.lastMigration[VaultFile.currentFormat] ?? 0
        let all = migrations.filter { $0.number <= last }.compactMap { m -> (number: Int, sql: String, views: [String: String])? in
            var views: [String: String] = [:]
            var current: [Substring]?
            for line in m.sql.split(separator: "\n", omittingEmptySubsequences: false) {
                if var statement = current {
                    statement.append(line)
                    current = statement
                } else if line.hasPrefix("CREATE VIEW ") {
                    current = [line]
                } else if line.isEmpty || line.hasPrefix("--") || line.hasPrefix("DROP VIEW ") {
                    continue
                } else {
                    return nil  // anything but views: a migration of its own format, never applied at open
                }
                if line.hasSuffix(";"), let statement = current {
                    let text = statement.joined(separator: "\n").dropLast()
                    let name = text.dropFirst("CREATE VIEW ".count).prefix { $0 != " " && $0 != "\n" }
                    views[String(name)] = String(text)
                    current = nil
                }
            }
            return views.isEmpty ? nil : (m.number, m.sql, views)
        }
        return all.filter { m in !all.contains { $0.number > m.number && !$0.views.keys.filter(m.views.keys.contains).isEmpty } }
    }()

    /// Refuses a vault that cannot be written, saying exactly why: WAL needs to write beside the
    /// file even to read, and every use writes an audit event. The owner's write bits count even
    /// for root, whom chmod does not stop: a vault made read-only (0400) stays read-only.
    static func checkWritable(_ path: String) throws {
        if let why = ReadOnlyReason.ofFile(path) { throw StoreError.readOnly(path: path, why: why) }
        let dir = VaultFile.parent(of: path)
        if let why = ReadOnlyReason.ofDirectory(dir) { throw StoreError.readOnly(path: path, why: why) }
    }

    /// Brings a vault of an older format to the current one in one transaction:
    /// the schema's later migrations, then `body` (the data the new format needs),
    /// then the new format's header. Any throw leaves the file as it was.
    public func upgrade<T>(_ body: (Tx) throws -> T) throws -> T {
        guard case .older(let format) = kind, let from = VaultFile.lastMigration[format] else {
            throw StoreError.conflict("the vault is already of format \(VaultFile.currentFormat)")
        }
        return try write { tx in
            try tx.applyMigrations(after: from, through: VaultFile.lastMigration[VaultFile.currentFormat] ?? from)
            try tx.dropLegacyMigrationTable()
            let result = try body(tx)
            try tx.stampCurrentFormat()
            return result
        }
    }

    /// Closes the connection (checkpointing and removing the WAL when it is the last one).
    /// A file found replaced is left as `verifyFile` leaves it, and that is reported.
    public func close() throws {
        try verifyFile()
        try guarded { try queue.close() }
        watch.withLock { $0.closed = true }
        try? inUse?.unlock(.vault)  // no longer in use by this process
    }

    private static func openQueue(path: String, kind: VaultFile.Kind, inUse: OwnerLock? = nil) throws -> Store {
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.publicStatementArguments = false  // bound values may be secrets: keep them out of errors
        config.label = "keyhold"
        let failure = OpenFailure()
        config.prepareDatabase { db in
            // Set by hand, not through GRDB's journalMode option, which would
            // lower synchronous to NORMAL after enabling WAL.
            do {
                for (name, value) in Store.requiredPragmas {
                    let v = name == "journal_mode" ? "WAL" : value
                    try db.execute(sql: "PRAGMA \(name) = \(v)")
                }
            } catch {
                // The connection is closed once this throws: keep why the file system refused.
                failure.systemErrno = sqlite3_system_errno(db.sqliteConnection)
                throw error
            }
        }
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            let store = Store(path: path, queue: queue, kind: kind, inUse: inUse)
            try store.assertPragmas()
            return store
        } catch let e as DatabaseError {
            throw map(e, path: path, systemErrno: failure.systemErrno ?? errno)
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

    // MARK: Schema

    /// The numbered migrations cut from schema.sql at its `-- migration N: title` lines.
    public static let migrations: [(number: Int, title: String, sql: String)] = {
        var out: [(Int, String, String)] = []
        var current: (Int, String)?
        var body: [Substring] = []
        func flush() { if let c = current { out.append((c.0, c.1, body.joined(separator: "\n"))) } }
        for line in embeddedSchemaSQL.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("-- migration "), let colon = line.firstIndex(of: ":"),
                let n = Int(line[line.index(line.startIndex, offsetBy: 13)..<colon].trimmingCharacters(in: .whitespaces))
            {
                flush()
                current = (n, line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
                body = []
            } else if current != nil {
                body.append(line)
            }
        }
        flush()
        return out
    }()

    /// Every schema object (type, name, table, SQL) the vault holds, apart from SQLite's and GRDB's own.
    public func schemaObjects() throws -> [SchemaObject] {
        try read { try $0.schemaObjects() }
    }

    // MARK: Transactions

    /// Runs `body` in one read transaction.
    public func read<T>(_ body: (Tx) throws -> T) throws -> T {
        try verifyFile()
        return try guarded { try queue.read { db in try body(Tx(db: db)) } }
    }

    /// Runs `body` in one read transaction on a file that may have damaged pages: `body` may
    /// catch the damage a statement meets (`Tx.storeErrors`) and go on, and the end of the
    /// transaction, which has nothing to commit, does not report that damage again.
    public func readDamaged<T>(_ body: (Tx) throws -> T) throws -> T {
        try guarded {
            try queue.inDatabase { db in
                try db.execute(sql: "BEGIN DEFERRED TRANSACTION")
                let result: T
                do { result = try body(Tx(db: db)) } catch {
                    try? db.execute(sql: "ROLLBACK")
                    throw error
                }
                // SQLite may answer COMMIT with the SQLITE_CORRUPT a statement met; a rollback ends it the same.
                if (try? db.execute(sql: "COMMIT")) == nil { try? db.execute(sql: "ROLLBACK") }
                return result
            }
        }
    }

    /// Runs `body` in one write transaction (BEGIN IMMEDIATE). Any error rolls everything back.
    public func write<T>(_ body: (Tx) throws -> T) throws -> T {
        try verifyFile()
        return try guarded {
            try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    let tx = Tx(db: db)
                    result = try body(tx)
                    try tx.purgeNameIndexes()
                    return .commit
                }
                // Set whenever the transaction committed: body returned.
                guard let result else { throw StoreError.conflict("a write transaction ended without its result") }
                return result
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
        try verifyFile()
        return try checkpointUnwatched()
    }

    func checkpointUnwatched() throws -> Checkpoint {
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
        try verifyFile()
        return try guarded { try queue.inDatabase { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } }
    }

    /// One problem SQLite's integrity check found, with the page it names and the tables
    /// whose own check reports it (empty when no single table's does, e.g. a page in no tree).
    public struct Damage: Equatable, Sendable {
        public var page: Int?
        public var tables: [String]
        public var message: String
    }

    /// `PRAGMA integrity_check`, each problem placed: when the whole check is not "ok", every
    /// table is checked on its own (`PRAGMA integrity_check(T)`, which also covers its indexes)
    /// to tell which tables hold the damaged pages. Empty when the file is whole.
    public func damage() throws -> [Damage] {
        try guarded {
            try queue.inDatabase { db in
                let lines = try Self.integrityLines(db)
                guard !lines.isEmpty else { return [] }
                let tables = try String.fetchAll(
                    db,
                    sql: """
                        SELECT name FROM sqlite_master WHERE type = 'table' AND rootpage > 0 ORDER BY name
                        """)
                // Each table's own check: its findings, or that it stopped on damage it met.
                var own: [String: (lines: [String], stopped: String?)] = [:]
                for table in tables {
                    do {
                        // The table-valued form of the pragma, which takes its argument bound.
                        let found = try String.fetchAll(db, sql: "SELECT * FROM pragma_integrity_check(?)", arguments: [table])
                            .flatMap { $0.split(separator: "\n").map(String.init) }
                            .filter { $0 != "ok" && !$0.hasPrefix("*** in database") }
                        if !found.isEmpty { own[table] = (found, nil) }
                    } catch let e as DatabaseError where e.resultCode == .SQLITE_CORRUPT {
                        own[table] = ([], e.message ?? "database disk image is malformed")
                    }
                }
                let damaged = own.keys.sorted()
                var out: [Damage] = lines.map { line in
                    var holders = damaged.filter { own[$0]?.lines.contains(line) == true }
                    if holders.isEmpty, damaged.count == 1 { holders = damaged }
                    return Damage(page: Self.pageNumber(in: line), tables: holders, message: line)
                }
                for table in damaged where !out.contains(where: { $0.tables.contains(table) }) {
                    out.append(
                        Damage(
                            page: nil, tables: [table],
                            message: "its own integrity check fails: \(own[table]?.stopped ?? own[table]?.lines.first ?? "")"))
                }
                return out
            }
        }
    }

    /// The problems of `PRAGMA integrity_check`, without its "*** in database main ***" header.
    /// On some damage SQLite finds problems and then stops with SQLITE_CORRUPT before they come
    /// out; a limit on the number of findings (`integrity_check(N)`) ends the check before that
    /// point, so the limit is raised until the check stops again, and the findings of the
    /// largest limit that ran are kept.
    private static func integrityLines(_ db: Database) throws -> [String] {
        func run(limit: Int?) throws -> [String] {
            let lines =
                if let limit {
                    try String.fetchAll(db, sql: "SELECT * FROM pragma_integrity_check(?)", arguments: [limit])
                } else {
                    try String.fetchAll(db, sql: "PRAGMA integrity_check")
                }
            return lines.flatMap { $0.split(separator: "\n").map(String.init) }.filter { $0 != "ok" && !$0.hasPrefix("*** in database") }
        }
        do { return try run(limit: nil) } catch let e as DatabaseError where e.resultCode == .SQLITE_CORRUPT {
            var best: [String] = []
            var limit = 1
            while limit <= 1024 {
                guard let found = try? run(limit: limit) else { break }
                best = found
                if found.count < limit { break }  // every finding is in
                limit *= 2
            }
            return best.isEmpty ? ["the integrity check stopped: \(e.message ?? "database disk image is malformed")"] : best
        }
    }

    /// The page a line of the integrity check names ("Page 40: ...", "Tree 20 page 40 cell 3: ...").
    static func pageNumber(in line: String) -> Int? {
        let words = line.split(whereSeparator: { $0 == " " || $0 == ":" })
        for (i, w) in words.enumerated() where w.lowercased() == "page" && i + 1 < words.count {
            if let n = Int(words[i + 1]) { return n }
        }
        return nil
    }

    /// Writes a consistent copy of the vault to `destination` with VACUUM INTO, into a
    /// file this process creates itself (O_EXCL, mode 0600 from the first byte): VACUUM
    /// INTO accepts an empty file, so no other name is ever opened or followed.
    public func backup(to destination: String) throws {
        try verifyFile()
        let fd = Glibc.open(destination, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw StoreError.exists(path: destination) }
            throw StoreError.io("cannot create \(destination): \(String(cString: strerror(errno)))")
        }
        Glibc.close(fd)
        do {
            try guarded { try queue.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [destination]) } }
        } catch {
            unlink(destination)
            throw error
        }
    }

    func guarded<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as RowDecodingError { throw Store.map(e) } catch let e as DatabaseError {
            // Why the file system refused: the errno SQLite kept on the connection, else errno itself
            // (a failed COMMIT's rollback clears the connection's copy; nothing since has set errno).
            let kept = queue.inDatabase { sqlite3_system_errno($0.sqliteConnection) }
            let system = kept != 0 ? kept : errno
            throw Store.map(e, path: path, systemErrno: system)
        }
    }

    /// The errno of a failure while a connection was being set up, read before GRDB closes it.
    private final class OpenFailure: @unchecked Sendable {
        var systemErrno: Int32?
    }

    /// A store error for an SQLite error; `systemErrno` (the errno of the file system call that
    /// failed, for I/O errors) tells a full disk, a size limit and a read-only file system apart.
    static func map(_ error: any Error, path: String = "the vault", systemErrno: Int32 = 0) -> StoreError {
        // GRDB's own decoding error (a typed fetch of a value the schema forbids): its text holds
        // the whole row, which may be secret, so only what it means is said.
        if error is RowDecodingError { return .corrupt("a stored value is missing or of the wrong type") }
        guard let e = error as? DatabaseError else { return (error as? StoreError) ?? .io("\(error)") }
        switch e.resultCode {
        case .SQLITE_CONSTRAINT: return .conflict(e.message ?? "constraint")
        case .SQLITE_BUSY, .SQLITE_LOCKED: return .busy
        case .SQLITE_NOTADB, .SQLITE_CORRUPT: return .corrupt(e.message ?? "not a database")
        case .SQLITE_FULL: return .diskFull
        case .SQLITE_READONLY: return .readOnly(path: path, why: ReadOnlyReason.ofFile(path) ?? .refused(errno: EROFS))
        case .SQLITE_IOERR, .SQLITE_CANTOPEN:
            switch systemErrno {
            case ENOSPC, EDQUOT: return .diskFull
            case EFBIG: return .fileSizeLimit(bytes: currentFileSizeLimit())
            case EROFS, EACCES, EPERM:
                return .readOnly(path: path, why: ReadOnlyReason.ofFile(path) ?? .refused(errno: systemErrno))
            default: break
            }
            let reason = systemErrno == 0 ? "" : " (\(String(cString: strerror(systemErrno))))"
            return .io("database error \(e.extendedResultCode.rawValue): \(e.message ?? "")\(reason)")
        default: return .io("database error \(e.resultCode.rawValue): \(e.message ?? "")")
        }
    }

    /// This process's RLIMIT_FSIZE in bytes, or nil when it has none.
    static func currentFileSizeLimit() -> Int64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }
        return Int64(clamping: limit.rlim_cur)
    }
}

/// Why a vault cannot be written, said exactly, with the fix.
public enum ReadOnlyReason: Equatable, Sendable {
    /// The file's mode gives its owner no write permission (e.g. 0400). Honoured for root too.
    case fileMode(Int)
    /// The directory's mode gives its owner no write permission (e.g. 0500): no -wal or -shm can be made.
    case directoryMode(path: String, mode: Int)
    /// The file system is mounted read-only.
    case fileSystem
    /// The system refused to write (`access(W_OK)` or a write failed): EPERM for an immutable file, EACCES, EROFS.
    case refused(errno: Int32)

    func description(_ path: String) -> String {
        switch self {
        case .fileMode(let m): "its mode is \(String(format: "%04o", m)), read-only for its owner"
        case .directoryMode(let d, let m): "its directory \(d) has mode \(String(format: "%04o", m)), read-only for its owner"
        case .fileSystem: "it is on a read-only file system"
        case .refused(let e) where e == EPERM:
            "the system refuses to write it (\(String(cString: strerror(e))): is it immutable? see lsattr)"
        case .refused(let e) where e == EROFS: "it is on a read-only file system"
        case .refused(let e): "the system refuses to write it (\(String(cString: strerror(e))))"
        }
    }

    func fix(_ path: String) -> String {
        switch self {
        case .fileMode: "Use a writable copy, or make it writable: chmod 600 '\(path)'"
        case .directoryMode(let d, _): "Use a writable copy, or make its directory writable: chmod 700 '\(d)'"
        case .fileSystem: "Use a writable copy on a file system mounted read-write"
        case .refused(let e) where e == EPERM: "Use a writable copy, or remove the flag: chattr -i '\(path)'"
        case .refused(let e) where e == EROFS: "Use a writable copy on a file system mounted read-write"
        case .refused: "Use a writable copy"
        }
    }

    /// Why the existing file at `path` cannot be written, or nil when it can.
    static func ofFile(_ path: String) -> ReadOnlyReason? {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IWUSR == 0 { return .fileMode(Int(st.st_mode & 0o7777)) }
        var fs = statvfs()
        if statvfs(path, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 { return .fileSystem }
        if access(path, W_OK) != 0, errno != ENOENT { return .refused(errno: errno) }
        return nil
    }

    /// Why no file can be made in the directory `dir`, or nil when one can.
    static func ofDirectory(_ dir: String) -> ReadOnlyReason? {
        var st = stat()
        if stat(dir, &st) == 0, st.st_mode & S_IWUSR == 0 { return .directoryMode(path: dir, mode: Int(st.st_mode & 0o7777)) }
        var fs = statvfs()
        if statvfs(dir, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 { return .fileSystem }
        if access(dir, W_OK) != 0, errno != ENOENT { return .refused(errno: errno) }
        return nil
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
