import Foundation
import GRDB

/// A backup's bytes copied beside a vault, to be opened, checked and restored from
/// while the backup itself is never opened by SQLite nor changed in any way.
/// (Sendable by hand: its one mutable field is touched only under `lock`.)
public final class StagedCopy: @unchecked Sendable {
    /// The copy's path (a hidden file in the vault's directory).
    public let path: String
    /// The format the copy's header names.
    public let kind: VaultFile.Kind
    private let lock = NSLock()
    private var draft: Draft?

    init(path: String, kind: VaultFile.Kind, draft: Draft) {
        self.path = path
        self.kind = kind
        self.draft = draft
    }

    deinit { discard() }

    /// Removes the copy (and its -wal, -shm and lock file). Close any Store on it first.
    public func discard() {
        lock.withLock {
            draft?.discard()
            draft = nil
        }
    }
}

extension Store {
    /// Pages the backup API copies per step of a restore (1 MiB of 4 KiB pages), between
    /// which progress is reported. The destination's write transaction spans every step.
    public static let restorePagesPerStep: Int32 = 256

    /// Copies the backup at `source` beside the vault at `vault` (a hidden file in its
    /// directory, made like a new vault's draft: mkstemp, mode 0600, flock'ed while in use,
    /// removed by the next `init` or restore if this process dies), so that it can be opened
    /// and checked as a vault of its own. The backup is read once with plain I/O, from one
    /// descriptor whose file is checked first: a regular file of this user that group and
    /// others can neither read nor write, not the vault itself, with no -wal file of its own
    /// that holds anything (its newest changes would be missing from the copy). The copy must
    /// then be a Keyhold vault: refusals name `source`, never the copy.
    public static func stage(copyOf source: String, beside vault: String) throws -> StagedCopy {
        let fd = Glibc.open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            if errno == ENOENT { throw StoreError.notFound(path: source) }
            if errno == EISDIR { throw StoreError.isDirectory(path: source) }
            throw StoreError.io("cannot read \(source): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StoreError.io("cannot read \(source): \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw StoreError.isDirectory(path: source)
        case S_IFREG: break
        default: throw StoreError.notAVault(path: source, reason: "it is not a regular file")
        }
        try VaultFile.checkFile(source, st)
        var live = stat()
        if stat(vault, &live) == 0, live.st_dev == st.st_dev, live.st_ino == st.st_ino {
            throw StoreError.conflict("\(source) is the vault itself; give a backup of it")
        }
        var wal = stat()
        if stat(source + "-wal", &wal) == 0, wal.st_size > 0 {
            throw StoreError.io(
                """
                \(source)-wal beside the backup is not empty: the backup is open somewhere, or was not closed cleanly, \
                and its newest changes are in that file. Close what uses it, or open it once with Keyhold (for example \
                `keyhold check --db '\(source)'`), which folds the file in as it closes; then restore
                """)
        }
        guard st.st_size > 0 else { throw StoreError.notAVault(path: source, reason: "the file is empty (0 bytes)") }
        let draft = try Draft(for: vault)
        do {
            try draft.fill(from: fd, name: source)
            let kind: VaultFile.Kind
            do {
                kind = try VaultFile.inspect(draft.path)
            } catch let e as StoreError {
                throw e.naming(source, for: draft.path)
            }
            try checkWhole(draft.path, size: Int64(st.st_size), name: source)
            return StagedCopy(path: draft.path, kind: kind, draft: draft)
        } catch {
            draft.discard()
            throw error
        }
    }

    /// Refuses a copy that is not a whole SQLite database (`StoreError.damaged`, naming `name`),
    /// before anything reads a row of it: a file shorter than its header's page count says (a
    /// backup cut short: copied before it was complete, or onto a full disk), and any page
    /// SQLite's quick check finds malformed or any NOT NULL column it finds empty. Without this,
    /// a backup missing only its last bytes can pass everything else, and one with an empty
    /// required column would stop the program where the row is read.
    static func checkWhole(_ path: String, size: Int64, name: String) throws {
        let header = try VaultFile.readHeader(path)
        func be(_ offset: Int, _ count: Int) -> Int64 {
            header[offset..<offset + count].reduce(0) { $0 << 8 | Int64($1) }
        }
        let pageSize = be(16, 2) == 1 ? 65536 : be(16, 2)
        // The page count in the header holds when its "valid for" number is the change counter
        // (every SQLite since 3.7.0 keeps them so); the file must then hold that many pages.
        let pages = be(28, 4)
        if pageSize >= 512, pages > 0, be(92, 4) == be(24, 4), size < pages * pageSize {
            throw StoreError.damaged(
                path: name,
                reason: """
                    it is cut short: its header counts \(pages) pages of \(pageSize) bytes (\(pages * pageSize) bytes), \
                    the file holds \(size) bytes
                    """)
        }
        if pageSize >= 512, size % pageSize != 0 {
            throw StoreError.damaged(path: name, reason: "it is cut short: \(size) bytes is not a whole number of \(pageSize)-byte pages")
        }
        var config = Configuration()
        config.readonly = true
        config.label = "keyhold-restore-check"
        let found: [String]
        do {
            let queue = try DatabaseQueue(path: VaultFile.immutableURI(path), configuration: config)
            found = try queue.read { try String.fetchAll($0, sql: "PRAGMA quick_check(20)") }
        } catch {
            throw StoreError.damaged(path: name, reason: "SQLite cannot read it (\((error as? DatabaseError)?.message ?? "\(error)"))")
        }
        guard found == ["ok"] else {
            let lines = found.flatMap { $0.split(separator: "\n").map(String.init) }
                .filter { !$0.hasPrefix("*** in database") }
            throw StoreError.damaged(
                path: name,
                reason: "SQLite's quick check finds: " + lines.prefix(3).joined(separator: "; ")
                    + (lines.count > 3 ? " (and \(lines.count - 3) more)" : ""))
        }
    }

    /// Takes the vault's in-use lock exclusively (from this Store's own shared hold), so that
    /// no other process has the vault open while it is replaced: `StoreError.inUse` if one has.
    /// Nobody can open it until `endRestore`.
    public func beginRestore() throws {
        try verifyFile()
        guard let inUse else { throw StoreError.io("\(path) is not an open vault") }
        guard try inUse.tryLock(.vault, .exclusive) else { throw StoreError.inUse(path: path) }
        watch.withLock { $0.exclusive = true }
    }

    /// Goes back to a shared hold of the in-use lock.
    public func endRestore() {
        guard watch.withLock({ $0.exclusive }) else { return }
        _ = try? inUse?.tryLock(.vault, .shared)  // a downgrade is always granted
        watch.withLock { $0.exclusive = false }
    }

    /// Replaces the vault's contents with `source`'s through SQLite's online backup API,
    /// written by this Store's own connection (so any other reader's view stays coherent),
    /// in one write transaction: a process killed during the copy leaves the old contents.
    /// Then the WAL is checkpointed and truncated, so it keeps no page of the replaced
    /// contents (`blocked` when a reader outside Keyhold held it past the busy timeout), and
    /// the file is watched as holding the restored vault. Needs `beginRestore`.
    public func restore(from source: Store, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Checkpoint {
        guard watch.withLock({ $0.exclusive }) else {
            throw StoreError.io("a restore of \(path) needs the vault's in-use lock (beginRestore)")
        }
        try verifyFile()
        try source.verifyFile()
        try guarded {
            try source.queue.backup(to: queue, pagesPerStep: Store.restorePagesPerStep) { p in
                progress?(p.completedPageCount, p.totalPageCount)
            }
        }
        // A TRUNCATE checkpoint waits for readers up to the busy timeout.
        let checkpoint = try checkpointUnwatched()
        try rebaseline()
        return checkpoint
    }

    /// This process changed the file on purpose (a restore): what it now holds is what is watched.
    private func rebaseline() throws {
        watch.withLock { takeBaseline(&$0) }
    }
}

extension StoreError {
    /// The same refusal about the file at `source`, where it named `copy`.
    func naming(_ source: String, for copy: String) -> StoreError {
        switch self {
        case .notAVault(copy, let reason): .notAVault(path: source, reason: reason)
        case .futureFormat(copy, let format): .futureFormat(path: source, format: format)
        case .upgradeRequired(copy, let format): .upgradeRequired(path: source, format: format)
        case .halfMade(copy): .halfMade(path: source)
        default: self
        }
    }
}
