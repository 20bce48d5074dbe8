import Foundation

/// A new vault while it is being built (or a backup's copy while a restore checks
/// it): a hidden file beside its final path, in the same directory, locked (flock)
/// by the process building it. `publish` links it into place, which fails rather
/// than replace anything there; a draft left by a killed process is found by its
/// free lock and removed by the next `init` or `restore`.
final class Draft {
    let path: String
    private let target: String
    private var fd: Int32
    private var published = false

    init(for target: String) throws {
        self.target = target
        let dir = VaultFile.parent(of: target)
        let name = (target as NSString).lastPathComponent
        Draft.removeAbandoned(in: dir, name: name)
        var template = Array("\(dir)/.\(name).new-XXXXXX".utf8CString)
        // mkstemp: O_EXCL and mode 0600 from the first byte.
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw StoreError.io("cannot create a file in \(dir): \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        _ = flock(fd, LOCK_EX)
    }

    /// Fills the draft with the bytes of the open file `source`, from its start, and syncs them.
    func fill(from source: Int32, name: String) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, $0.count, offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("cannot read \(name): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, n - done, offset + off_t(done)) }
                if w < 0 {
                    if errno == EINTR { continue }
                    if errno == ENOSPC { throw StoreError.diskFull }
                    throw StoreError.io("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                done += w
            }
            offset += off_t(n)
        }
        guard fsync(fd) == 0 else { throw StoreError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    /// Links the finished draft to the target path: never over an existing file.
    func publish() throws {
        guard fsync(fd) == 0 else { throw StoreError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
        if link(path, target) != 0 {
            if errno == EEXIST { throw StoreError.exists(path: target) }
            throw StoreError.io("cannot create \(target): \(String(cString: strerror(errno)))")
        }
        published = true
        unlink(path)
        let dirFD = Glibc.open(VaultFile.parent(of: target), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    /// SQLite's files beside a database (a draft killed before its WAL was set may leave a
    /// rollback journal), and the draft's lock file.
    private static let sideFiles = ["-wal", "-shm", "-journal", "-lock"]

    /// Removes the draft (after `publish`, only the closed lock remains to release). Call it
    /// after `publish` and before the vault is opened: closing this descriptor drops every POSIX
    /// lock the process holds on the file, SQLite's included. Calling it again does nothing.
    func discard() {
        if !published { for suffix in [""] + Draft.sideFiles { unlink(path + suffix) } }
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// Drafts of `name` whose builder is gone (their lock is free), with their side files; and
    /// side files whose draft is gone (a process killed while removing them).
    private static func removeAbandoned(in dir: String, name: String) {
        let prefix = ".\(name).new-"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        let present = Set(entries)
        for entry in entries where entry.hasPrefix(prefix) {
            let path = "\(dir)/\(entry)"
            if entry.count == prefix.count + 6 {
                let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                guard fd >= 0 else { continue }
                if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                    for suffix in [""] + sideFiles { unlink(path + suffix) }
                }
                close(fd)
            } else if let suffix = sideFiles.first(where: { entry.hasSuffix($0) }),
                entry.count == prefix.count + 6 + suffix.count, !present.contains(String(entry.dropLast(suffix.count)))
            {
                unlink(path)
            }
        }
    }
}
