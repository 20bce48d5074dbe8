import CSQLiteShim
import Foundation
import GRDB
import GRDBSQLite

/// How the file at a vault's path stopped being the one a process opened.
public enum Replacement: Sendable, Equatable {
    /// Another file was moved (renamed) onto the path, or the vault was moved away from it.
    case moved
    /// Nothing is at the path any more.
    case removed
    /// The same file (same device and inode) was written over from outside SQLite, as a copy
    /// onto it (`cp`) does; the text says what differs.
    case rewritten(String)
}

/// What a process knows of the file it opened: checked before every transaction
/// (docs/SECURITY.md, "A vault replaced while in use").
///
/// The path must still name the same file (device and inode, from `stat`: one system
/// call per transaction). When the file's size or times changed since the last look,
/// someone wrote the main file: SQLite's checkpoints do (this process's or another's),
/// and so does a copy onto it. Then the main file itself is read, without the
/// connection's page cache and without the write-ahead log (an `immutable=1`
/// connection): it must carry the same vault id, and still hold the audit event that
/// was its newest at the last look with the same hash (checkpoints only ever add to
/// the log; only a restore cuts it, and a restore runs alone).
struct FileWatch: Sendable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var stamp = Stamp()
    /// Nil in a format-1 vault (before its upgrade); adopted when it appears.
    var vaultID: [UInt8]?
    /// The main file's newest audit event at the last look.
    var head: Head?
    /// The -wal file this connection uses (device, inode), once it exists.
    var wal: (device: UInt64, inode: UInt64)?
    /// Set once the file was found replaced: every later use throws it.
    var retired: StoreError?
    var closed = false
    /// The in-use lock is held exclusively (a restore by this process).
    var exclusive = false
    /// The main file did not agree with the committed state when last baselined (the WAL holds
    /// a restore not yet copied into it, whose checkpoint another reader blocked): the file is
    /// not compared until it catches up.
    var pending = false

    struct Stamp: Equatable, Sendable {
        var size: Int64 = -1
        var mtime: Int = 0, mtimeNanos: Int = 0
        var ctime: Int = 0, ctimeNanos: Int = 0
    }

    struct Head: Sendable {
        var seq: Int64
        var hash: [UInt8]
    }
}

extension FileWatch.Stamp {
    init(_ st: stat) {
        size = Int64(st.st_size)
        mtime = Int(st.st_mtim.tv_sec); mtimeNanos = Int(st.st_mtim.tv_nsec)
        ctime = Int(st.st_ctim.tv_sec); ctimeNanos = Int(st.st_ctim.tv_nsec)
    }
}

/// The main file as it is on disk, read past every cache.
struct MainFileFacts {
    var vaultID: [UInt8]?
    var newest: FileWatch.Head?
    /// The hash of the event asked for, nil if the file holds no such event.
    var known: [UInt8]?
}

extension Store {
    /// Reads the vault id and the audit log's newest event (and the event `seq`, if given)
    /// from the main file alone, through a read-only `immutable=1` connection: it creates
    /// nothing beside the file, takes no lock and ignores the -wal file. Raw SQLite, not a
    /// GRDB queue: this runs at every open, and a queue costs more to set up than the reads.
    static func mainFileFacts(_ path: String, knownSeq: Int64?) throws -> MainFileFacts {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(VaultFile.immutableURI(path), &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close_v2(handle) }
        guard rc == SQLITE_OK, let db = handle else { throw StoreError.io("cannot read \(path) (SQLite error \(rc))") }
        func failure(_ code: Int32) -> StoreError {
            code == SQLITE_CORRUPT || code == SQLITE_NOTADB
                ? .corrupt(String(cString: sqlite3_errmsg(db))) : .io("cannot read \(path): \(String(cString: sqlite3_errmsg(db)))")
        }
        /// Runs `sql` (bound to `argument`, if any) and hands the first row to `row`; false when there is none.
        func first(_ sql: String, _ argument: Int64? = nil, _ row: (OpaquePointer) -> Void) throws -> Bool {
            var statement: OpaquePointer?
            let prepared = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
            defer { sqlite3_finalize(statement) }
            guard prepared == SQLITE_OK, let statement else { throw failure(prepared) }
            if let argument { sqlite3_bind_int64(statement, 1, argument) }
            switch sqlite3_step(statement) {
            case SQLITE_ROW: row(statement); return true
            case SQLITE_DONE: return false
            case let code: throw failure(code)
            }
        }
        func blob(_ statement: OpaquePointer, _ column: Int32) -> [UInt8]? {
            guard sqlite3_column_type(statement, column) == SQLITE_BLOB else { return nil }
            return [UInt8](
                UnsafeRawBufferPointer(
                    start: sqlite3_column_blob(statement, column),
                    count: Int(sqlite3_column_bytes(statement, column))))
        }
        var facts = MainFileFacts()
        // A format-1 vault has no such column: no id yet.
        _ = try? first("SELECT vault_id FROM vault WHERE id = 1") { facts.vaultID = blob($0, 0) }
        _ = try first("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1") { st in
            if let hash = blob(st, 1) { facts.newest = FileWatch.Head(seq: sqlite3_column_int64(st, 0), hash: hash) }
        }
        if let knownSeq {
            _ = try first("SELECT hash FROM audit_events WHERE seq = ?", knownSeq) { facts.known = blob($0, 0) }
        }
        return facts
    }

    /// Starts watching the file just opened. `before` is the path's `stat` taken before
    /// SQLite opened it: if the path names another file now, it changed in between.
    func startWatching(before: stat) throws {
        var st = stat()
        guard stat(path, &st) == 0, st.st_dev == before.st_dev, st.st_ino == before.st_ino else {
            throw StoreError.io("the vault file \(path) was replaced while it was being opened; try again")
        }
        // A first read, so that SQLite has opened (or made) the -wal file this connection uses.
        _ = try guarded { try queue.inDatabase { db in try Int.fetchOne(db, sql: "PRAGMA schema_version") } }
        var w = FileWatch()
        w.device = UInt64(st.st_dev)
        w.inode = UInt64(st.st_ino)
        w.wal = Store.identity(of: path + "-wal")
        takeBaseline(&w)
        watch.withLock { $0 = w }
    }

    /// What the main file holds now becomes what later looks compare with, once it agrees with
    /// the committed state (the connection's view, WAL included): the same vault id, and its
    /// newest audit event one of the committed log's. It may not, when the WAL holds a restore
    /// that was never copied into the file (a restore killed after its commit, or whose
    /// checkpoint a reader blocked), or when the file is torn by a checkpoint killed half-way:
    /// then the WAL is checkpointed first. If that is blocked too, the file is not compared
    /// until it agrees (`pending`).
    func takeBaseline(_ w: inout FileWatch, checkpoint: Bool = true) {
        var st = stat()
        for attempt in 0..<(checkpoint ? 2 : 1) {
            // PASSIVE: copies what no reader holds back, and never waits for one.
            if attempt == 1 {
                _ = try? guarded { try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(PASSIVE)") } }
            }
            guard stat(path, &st) == 0 else { break }
            if let facts = try? mainFileFactsBetweenCheckpoints(knownSeq: nil), agreesWithCommitted(facts) {
                w.stamp = FileWatch.Stamp(st)
                w.vaultID = facts.vaultID
                w.head = facts.newest
                w.pending = false
                return
            }
        }
        w.stamp = FileWatch.Stamp(st)  // looked at again when the file changes
        w.vaultID = committedVaultID()
        w.head = nil
        w.pending = true
    }

    /// Whether the main file's facts are those of a state of the committed log.
    private func agreesWithCommitted(_ facts: MainFileFacts) -> Bool {
        let committed = try? guarded {
            try queue.inDatabase { db -> (vaultID: [UInt8]?, hash: [UInt8]?) in
                let id = (try? Data.fetchOne(db, sql: "SELECT vault_id FROM vault WHERE id = 1")).flatMap { $0 }.map { [UInt8]($0) }
                let hash = try facts.newest.flatMap {
                    try Data.fetchOne(db, sql: "SELECT hash FROM audit_events WHERE seq = ?", arguments: [$0.seq]).map { [UInt8]($0) }
                }
                return (id, hash)
            }
        }
        guard let committed, committed.vaultID == facts.vaultID else { return false }
        return facts.newest == nil || committed.hash == facts.newest?.hash
    }

    private func committedVaultID() -> [UInt8]? {
        try? guarded {
            try queue.inDatabase { db in
                try Data.fetchOne(db, sql: "SELECT vault_id FROM vault WHERE id = 1").map { [UInt8]($0) }
            }
        }
    }

    /// The device and inode of `path`, if it exists.
    static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Before every use of the connection: the path must still name the file this process
    /// opened, holding the same vault. If it does not, the process stops using the file
    /// (`retire`) and this and every later call throws `StoreError.replaced`.
    func verifyFile() throws {
        guard watching else { return }
        try watch.withLock { w in
            if let retired = w.retired { throw retired }
            if w.closed { return }
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw retire(&w, errno == ENOENT ? .removed : .moved)
            }
            if UInt64(st.st_dev) != w.device || UInt64(st.st_ino) != w.inode { throw retire(&w, .moved) }
            if w.wal == nil { w.wal = Store.identity(of: path + "-wal") }
            let stamp = FileWatch.Stamp(st)
            guard stamp != w.stamp else { return }
            let pending = w.pending
            switch deepCheck(&w) {
            case .same: if !pending { w.stamp = stamp }
            case .replaced(let what): throw retire(&w, .rewritten(what))
            case .unknown: break  // looked at again at the next use
            }
        }
    }

    /// What a look at a changed main file found.
    private enum Verdict {
        /// Still this vault.
        case same
        /// Not this vault any more: what differs.
        case replaced(String)
        /// Checkpoints held the file, or it did not read as a database, through every attempt:
        /// no verdict yet.
        case unknown
    }

    /// The main file changed: is it still this vault? It is read between checkpoints (none can
    /// write it meanwhile); a mismatch is read again a few times, since a copy onto the file may
    /// be under way (a replacement stays a replacement).
    private func deepCheck(_ w: inout FileWatch) -> Verdict {
        if w.pending {
            // The file is catching up with a restore: compared again once it agrees.
            takeBaseline(&w, checkpoint: false)
            return .same
        }
        var why = ""
        var wrong = 0  // reads that found another vault or an earlier copy
        for attempt in 0..<4 {
            if attempt > 0 { usleep(UInt32(50_000 << (attempt - 1))) }
            // A file that does not read as a database at all is no verdict either: a checkpoint
            // that stopped half-way (its process ended in it) leaves the main file torn until the
            // next one completes, while the WAL still holds every page it lacks. Calling that a
            // copy onto the file emptied the WAL and lost the vault. A copy of another vault, or
            // of an earlier state of this one, reads whole and is told below.
            guard let facts = try? mainFileFactsBetweenCheckpoints(knownSeq: w.head?.seq) else { continue }
            if let mine = w.vaultID {
                guard let theirs = facts.vaultID else { why = "it has no vault id"; wrong += 1; continue }
                guard theirs == mine else {
                    why = "it is another vault (vault id \(Store.hex(theirs)), not \(Store.hex(mine)))"
                    wrong += 1
                    continue
                }
            }
            if let head = w.head, facts.known != head.hash {
                why = "it is an earlier copy of this vault: it lacks audit event \(head.seq), which the file held before"
                wrong += 1
                continue
            }
            if w.vaultID == nil { w.vaultID = facts.vaultID }
            if let newest = facts.newest { w.head = newest }
            return .same
        }
        // Replaced only when read whole, twice at least, as another vault or an earlier copy; the
        // next use looks again otherwise.
        return wrong >= 2 ? .replaced(why) : .unknown
    }

    /// The main file's facts (`Store.mainFileFacts`) read while no checkpoint can write it: this
    /// connection holds SQLite's checkpointer lock of the write-ahead log's index (`xShmLock` of its
    /// own VFS, lock 1, WAL_CKPT_LOCK) for the read, so a checkpoint of any process (which copies
    /// pages into the main file one by one) cannot show a half-copied file that reads as damaged.
    /// Nil when checkpoints held the lock for a quarter of a second (a checkpoint copies a few
    /// milliseconds' worth of pages). Where the lock cannot be taken at all (no index mapped),
    /// the file is read without it.
    func mainFileFactsBetweenCheckpoints(knownSeq: Int64?) throws -> MainFileFacts? {
        try guarded {
            try queue.inDatabase { db -> MainFileFacts? in
                var file: UnsafeMutablePointer<sqlite3_file>?
                let found = sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_FILE_POINTER, &file)
                guard found == SQLITE_OK, let file, let methods = file.pointee.pMethods, methods.pointee.iVersion >= 2,
                    let shmLock = methods.pointee.xShmLock
                else {
                    return try Store.mainFileFacts(path, knownSeq: knownSeq)
                }
                let checkpointLock: Int32 = 1  // WAL_CKPT_LOCK (sqlite3 wal.c; walformat.html, "the locks")
                for _ in 0..<250 {
                    switch shmLock(file, checkpointLock, 1, SQLITE_SHM_LOCK | SQLITE_SHM_EXCLUSIVE) {
                    case SQLITE_OK:
                        defer { _ = shmLock(file, checkpointLock, 1, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) }
                        return try Store.mainFileFacts(path, knownSeq: knownSeq)
                    case SQLITE_BUSY:
                        usleep(1_000)
                    default:
                        return try Store.mainFileFacts(path, knownSeq: knownSeq)
                    }
                }
                return nil
            }
        }
    }

    /// Stops using a file that is no longer the one at the path, leaving each file with
    /// only its own pages (docs/SECURITY.md, "A vault replaced while in use"). Only when no
    /// other Keyhold process has the path open (the in-use lock taken exclusively) is the
    /// write-ahead log, which sits beside the path and is shared by everyone who opens it,
    /// put right: after a move, this connection copies its committed pages into the file it
    /// opened (wherever that now is) and empties the log; after a copy onto the file, the
    /// connection is closed without copying anything, and the log, whose pages belong to
    /// contents that no longer exist, is emptied. No transaction is written to either file.
    private func retire(_ w: inout FileWatch, _ how: Replacement) -> StoreError {
        let alone = (try? inUse?.tryLock(.vault, .exclusive)) ?? false
        var tidied = false
        switch how {
        case .moved, .removed:
            // SQLite itself never checkpoints a file that has moved when it closes it.
            if alone, let c = try? checkpointUnwatched(), !c.blocked { tidied = true }
            try? queue.close()
        case .rewritten:
            _ = queue.inDatabase { db in keyhold_sqlite_no_checkpoint_on_close(db.sqliteConnection) }
            try? queue.close()
            if alone, let mine = w.wal {
                if let now = Store.identity(of: path + "-wal"), now.device == mine.device, now.inode == mine.inode {
                    tidied = truncate(path + "-wal", 0) == 0
                } else {
                    tidied = true  // not ours, or gone: nothing of this connection's is at the path
                }
            } else if alone {
                tidied = Store.identity(of: path + "-wal") == nil
            }
        }
        if alone { try? inUse?.unlock(.vault) }
        let error = StoreError.replaced(path: path, how: how, tidied: tidied)
        w.retired = error
        w.closed = true
        return error
    }

}

extension Store {
    /// `bytes` as lower-case hex (vault ids, keys and digests in audit details and messages).
    public static func hex(_ bytes: [UInt8]) -> String {
        // Written into the string's own storage: a rotation's batch digest is one per transaction.
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, b) in bytes.enumerated() {
                out[2 * i] = hexDigits[Int(b >> 4)]
                out[2 * i + 1] = hexDigits[Int(b & 0x0f)]
            }
            return bytes.count * 2
        }
    }
    private static let hexDigits = Array("0123456789abcdef".utf8)
}
