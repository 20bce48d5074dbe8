import Foundation
import GRDB

/// What a file at the vault's path is, read before anything writes to it.
///
/// Keyhold writes only to files that are its own: an SQLite database whose
/// header carries Keyhold's `application_id` and a format version it knows
/// (`user_version`). Everything here reads the header bytes with plain file
/// I/O, so nothing (not even SQLite's -wal or -shm) is created beside a file
/// that turns out not to be a vault.
public enum VaultFile {
    /// `PRAGMA application_id` of every vault: "KHLD".
    public static let applicationID: Int32 = 0x4B48_4C44
    /// The format this release reads and writes (docs/FORMAT.md).
    public static let currentFormat = 3
    /// The last schema migration of each format (schema.sql's `-- migration N` sections).
    ///
    /// A migration that only (re)defines views may join its format after the format was
    /// released: a view holds no rows, and a vault made before it gets it at its next open
    /// (`Store.refreshViews`). Migration 6 (the legacy-hash rule of `app_users`) is one.
    static let lastMigration: [Int: Int] = [1: 4, 2: 6, 3: 7]
    /// Formats whose step to the current one only adds what is derived from the rows already
    /// there (format 2 to 3: the name indexes), which needs nobody's keys: `Store.open` takes
    /// such a vault there itself, in one transaction, the first time it opens it. An older
    /// release then refuses the file (a later format) rather than leave its indexes behind.
    public static let upgradedAtOpen: Set<Int> = [2]

    /// What `inspect` found.
    public enum Kind: Equatable, Sendable {
        /// A vault of the current format.
        case current
        /// A vault of an older format, which `keyhold upgrade` brings to the current one.
        case older(format: Int)
    }

    /// Checks the file at `path` and, where it is a vault, says of which format.
    /// Throws a `StoreError` that names the file and says what to do otherwise;
    /// the file is left byte for byte as it was.
    public static func inspect(_ path: String) throws -> Kind {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { throw StoreError.notFound(path: path) }
            throw StoreError.io("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        if st.st_mode & S_IFMT == S_IFLNK, stat(path, &st) != 0 {
            throw StoreError.notAVault(path: path, reason: "it is a symbolic link to nothing")
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw StoreError.isDirectory(path: path)
        case S_IFREG: break
        default: throw StoreError.notAVault(path: path, reason: "it is not a regular file")
        }
        try checkDirectory(parent(of: path))
        try checkFile(path, st)
        for suffix in ["-wal", "-shm"] {
            var side = stat()
            if lstat(path + suffix, &side) == 0 { try checkFile(path + suffix, side) }
        }
        guard st.st_size > 0 else {
            throw StoreError.notAVault(path: path, reason: "the file is empty (0 bytes)")
        }
        let header = try readHeader(path)
        guard header.count >= 100, header.starts(with: Array("SQLite format 3".utf8) + [0]) else {
            throw StoreError.notAVault(path: path, reason: "it is not an SQLite database")
        }
        func int32(at offset: Int) -> Int32 {
            Int32(
                bitPattern: UInt32(header[offset]) << 24 | UInt32(header[offset + 1]) << 16
                    | UInt32(header[offset + 2]) << 8 | UInt32(header[offset + 3]))
        }
        let applicationID = int32(at: 68), userVersion = Int(int32(at: 60))
        if applicationID == Self.applicationID {
            if userVersion > currentFormat { throw StoreError.futureFormat(path: path, format: userVersion) }
            guard lastMigration[userVersion] != nil else {
                throw StoreError.notAVault(path: path, reason: "it names an unknown Keyhold format \(userVersion)")
            }
            return userVersion == currentFormat ? .current : .older(format: userVersion)
        }
        if applicationID != 0 {
            throw StoreError.notAVault(
                path: path, reason: String(format: "it is another program's SQLite database (application_id 0x%08x)", applicationID))
        }
        return try legacyFormat(path)
    }

    /// Vaults of format 1 predate the application id: recognised by their tables,
    /// read through an immutable connection that writes nothing and makes no -shm.
    static func legacyFormat(_ path: String) throws -> Kind {
        var config = Configuration()
        config.readonly = true
        config.label = "keyhold-inspect"
        let uri = immutableURI(path)
        let facts: (tables: Set<String>, migrations: Set<String>, vaultRows: Int)
        do {
            let queue = try DatabaseQueue(path: uri, configuration: config)
            facts = try queue.read { db in
                let tables = Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
                var migrations: Set<String> = []
                if tables.contains("grdb_migrations") {
                    migrations = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
                }
                let rows = tables.contains("vault") ? try Int.fetchOne(db, sql: "SELECT count(*) FROM vault") ?? 0 : 0
                return (tables, migrations, rows)
            }
        } catch {
            throw StoreError.notAVault(path: path, reason: "it is an SQLite database that cannot be read (\(Store.map(error)))")
        }
        let keyholdTables: Set<String> = ["vault", "users", "user_keys", "grants", "secrets", "secret_versions", "audit_events"]
        guard keyholdTables.isSubset(of: facts.tables) else {
            throw StoreError.notAVault(path: path, reason: "it is another program's SQLite database (no application id, no vault tables)")
        }
        guard facts.migrations == ["1", "2", "3", "4"] else {
            throw StoreError.notAVault(
                path: path, reason: "its schema is not one Keyhold made (migrations \(facts.migrations.sorted().joined(separator: ",")))")
        }
        guard facts.vaultRows == 1 else { throw StoreError.halfMade(path: path) }
        return .older(format: 1)
    }

    /// An SQLite URI that opens `path` read-only as immutable: no lock, no -shm, the -wal
    /// file ignored (only what the main file itself holds is read).
    static func immutableURI(_ path: String) -> String {
        "file:"
            + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? path)
            + "?immutable=1"
    }

    /// The vault's directory must be 0700: nobody else may create, replace or list files in it.
    static func checkDirectory(_ dir: String) throws {
        var st = stat()
        guard stat(dir, &st) == 0 else { throw StoreError.io("cannot read directory \(dir): \(String(cString: strerror(errno)))") }
        let mode = Int(st.st_mode & 0o7777)
        if mode & 0o077 != 0 { throw StoreError.unsafeDirectory(path: dir, mode: mode) }
    }

    /// An existing file is never re-moded: one that group or others may read or
    /// write, or that another user owns, is refused with the fix named.
    static func checkFile(_ path: String, _ st: stat) throws {
        let mode = Int(st.st_mode & 0o7777)
        if mode & 0o077 != 0 { throw StoreError.unsafeFile(path: path, mode: mode) }
        if st.st_uid != geteuid() { throw StoreError.foreignOwner(path: path, uid: Int(st.st_uid)) }
    }

    static func parent(of path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    static func readHeader(_ path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw StoreError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 100)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 100, 0) }
        guard n >= 0 else { throw StoreError.io("cannot read \(path): \(String(cString: strerror(errno)))") }
        return Array(header.prefix(n))
    }
}
