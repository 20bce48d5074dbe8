import Foundation

/// The lock file beside a vault, `<vault path>-lock`: advisory locks on single
/// bytes of it say which process owns what (one owner at a time; docs/FORMAT.md, "The lock file").
///
/// The locks are Linux open-file-description locks (`fcntl` `F_OFD_SETLK`,
/// `F_OFD_SETLKW`, `F_OFD_GETLK`). Unlike classic POSIX record locks they belong
/// to one `open()` of the file, not to the process: two `OwnerLock`s in one
/// process exclude each other as two processes do, and closing some other
/// descriptor of the same file does not drop them. The kernel releases them when
/// the last descriptor of that open goes away, so a lock dies with its process
/// (SIGKILL included) and can never be left behind stale. The descriptor is
/// close-on-exec: a program started by `keyhold run` does not inherit a lock.
///
/// The file holds no data and is never deleted (deleting it while a lock is held
/// would let a second owner lock a new file of the same name). It is created
/// mode 0600 with `O_EXCL|O_NOFOLLOW`; an existing one is used only if it is a
/// regular file owned by this user and closed to others, and its mode is never
/// changed.
///
/// Byte ranges (one byte each; documented in docs/FORMAT.md so other tools can
/// take part):
/// - `Range.rotation` (byte 0): the data-key rotation lease, held exclusive for
///   a rotation job's whole life.
/// - `Range.vault` (byte 1): the vault in use: held shared by every open vault
///   (`Store.open`, until the Store is closed or released) and exclusive by a
///   restore that replaces the file (`Store.beginRestore`).
public final class OwnerLock: Sendable {
    /// One byte of the lock file, each an independent lock.
    public enum Range: Sendable, CaseIterable {
        /// Byte 0: the data-key rotation lease.
        case rotation
        /// Byte 1: the vault in use (shared) or being replaced (exclusive).
        case vault

        var offset: Int { self == .rotation ? 0 : 1 }
    }

    /// How a range is held.
    public enum Mode: Sendable {
        /// Many holders at once (a read lock); excludes `exclusive` ones.
        case shared
        /// One holder (a write lock); excludes every other.
        case exclusive

        var type: Int16 { Int16(self == .shared ? F_RDLCK : F_WRLCK) }
    }

    /// The lock file's path.
    public let path: String
    private let fd: Int32

    // Linux's open-file-description lock commands (fcntl.h, _GNU_SOURCE; the same on every architecture).
    private static let getLock: Int32 = 36  // F_OFD_GETLK
    private static let setLock: Int32 = 37  // F_OFD_SETLK
    private static let setLockWait: Int32 = 38  // F_OFD_SETLKW

    /// The lock file of the vault at `vaultPath`: beside the file itself, after symbolic
    /// links (as SQLite puts its -wal and -shm), so that every path to one vault gives one lock.
    public static func path(forVault vaultPath: String) -> String {
        guard let resolved = realpath(vaultPath, nil) else { return vaultPath + "-lock" }
        defer { free(resolved) }
        return String(cString: resolved) + "-lock"
    }

    /// Opens the lock file of the vault at `vaultPath`, creating it (0600) if missing. Takes no lock.
    public convenience init(vaultPath: String) throws {
        try self.init(path: OwnerLock.path(forVault: vaultPath))
    }

    /// Opens the lock file at `path`, creating it (0600) if missing. Takes no lock.
    public init(path: String) throws {
        self.path = path
        fd = try OwnerLock.openFile(path)
    }

    deinit { close(fd) }  // releases every lock this open holds

    private static func openFile(_ path: String) throws -> Int32 {
        let flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK
        // Removed by someone between our two opens: try again a few times.
        for _ in 0..<8 {
            // O_EXCL: a file we create is ours and 0600 from the start (the umask only removes bits).
            let created = open(path, flags | O_CREAT | O_EXCL, 0o600)
            if created >= 0 { return created }
            guard errno == EEXIST else { throw failure("cannot create", path) }
            let fd = open(path, flags)
            if fd < 0 {
                if errno == ENOENT { continue }
                if errno == ELOOP {
                    throw StoreError.io(
                        "the lock file \(path) is a symbolic link; Keyhold uses only a regular file it owns there (remove the link)")
                }
                if errno == EISDIR { throw notRegular(path) }
                throw failure("cannot open", path)
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let error = failure("cannot inspect", path)
                close(fd)
                throw error
            }
            if st.st_mode & S_IFMT != S_IFREG {
                close(fd)
                throw notRegular(path)
            }
            if st.st_uid != geteuid() {
                close(fd)
                throw StoreError.io("the lock file \(path) belongs to user id \(st.st_uid), not to you (\(geteuid())); move it away")
            }
            if st.st_mode & 0o077 != 0 {
                close(fd)
                let mode = String(st.st_mode & 0o777, radix: 8)
                throw StoreError.io("the lock file \(path) has mode \(mode); it must be 0600 (run: chmod 600 '\(path)')")
            }
            return fd
        }
        throw StoreError.io("cannot open the lock file \(path): it keeps disappearing")
    }

    private static func notRegular(_ path: String) -> StoreError {
        StoreError.io("the lock file \(path) is not a regular file; Keyhold uses only a regular file it owns there (move it away)")
    }

    private static func failure(_ what: String, _ path: String) -> StoreError {
        StoreError.io("\(what) the lock file \(path): \(String(cString: strerror(errno)))")
    }

    private func request(_ range: Range, type: Int16) -> flock {
        var f = flock()
        f.l_type = type
        f.l_whence = Int16(SEEK_SET)
        f.l_start = range.offset
        f.l_len = 1
        f.l_pid = 0  // must be 0 for open-file-description locks
        return f
    }

    /// Takes `range` in `mode` if no other open of the file holds it in a way that
    /// conflicts; true when taken, false (at once) when another holds it. Taking a
    /// range this lock already holds changes its mode.
    public func tryLock(_ range: Range, _ mode: Mode) throws -> Bool {
        var f = request(range, type: mode.type)
        while true {
            if fcntl(fd, OwnerLock.setLock, &f) == 0 { return true }
            switch errno {
            case EINTR: continue
            case EAGAIN, EACCES: return false
            default: throw OwnerLock.failure("cannot lock", path)
            }
        }
    }

    /// Takes `range` in `mode`, waiting as long as another open of the file holds it.
    public func lock(_ range: Range, _ mode: Mode) throws {
        var f = request(range, type: mode.type)
        while fcntl(fd, OwnerLock.setLockWait, &f) != 0 {
            // A signal (handled, not fatal) interrupts the wait; the lock is still wanted.
            guard errno == EINTR else { throw OwnerLock.failure("cannot lock", path) }
        }
    }

    /// Releases `range` (nothing happens if it is not held).
    public func unlock(_ range: Range) throws {
        var f = request(range, type: Int16(F_UNLCK))
        while fcntl(fd, OwnerLock.setLock, &f) != 0 {
            guard errno == EINTR else { throw OwnerLock.failure("cannot unlock", path) }
        }
    }

    /// Whether another open of the file (in this process or another) holds `range`
    /// in a way that would refuse `mode` now. Takes nothing; the answer may be
    /// stale at once, so it is for reports, never for deciding who owns a job.
    public func isHeldElsewhere(_ range: Range, against mode: Mode = .exclusive) throws -> Bool {
        var f = request(range, type: mode.type)
        guard fcntl(fd, OwnerLock.getLock, &f) == 0 else { throw OwnerLock.failure("cannot query", path) }
        return f.l_type != Int16(F_UNLCK)
    }
}
