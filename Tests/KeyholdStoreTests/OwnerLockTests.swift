import Foundation
import KeyholdTestSupport
import Synchronization
import Testing
@testable import KeyholdStore

/// Another process holding a byte of a lock file: python3's `fcntl` with the same
/// open-file-description lock, so the kernel, not our own code, decides who conflicts.
final class PythonLocker {
    static var interpreter: String { ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"] ?? "python3" }
    static let script = """
        import fcntl, os, struct, sys
        path, offset, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        fd = os.open(path, os.O_RDWR)
        lock = struct.pack("hhqqi", fcntl.F_WRLCK if kind == "exclusive" else fcntl.F_RDLCK, os.SEEK_SET, offset, 1, 0)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
            print("locked", flush=True)
        except OSError:
            print("busy", flush=True)
            sys.exit(3)
        sys.stdin.readline()  # hold it until told (or killed)
        """

    let process = Process()
    private let input = Pipe(), output = Pipe()
    /// The first line it printed: `locked` or `busy`.
    let answer: String

    init(_ path: String, offset: Int, _ kind: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [Self.interpreter, "-c", Self.script, path, String(offset), kind]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line: [UInt8] = []
        while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") { line.append(byte) }
        answer = String(decoding: line, as: UTF8.self)
    }

    /// Lets it end normally.
    func release() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// SIGKILL: the kernel drops its locks with the process.
    func kill() {
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite struct OwnerLockTests {
    @Test func theLockFileIsCreatedBesideTheVault0600AndReopened() throws {
        let dir = TempDir()
        let vault = dir.file("vault.db")
        #expect(OwnerLock.path(forVault: vault) == vault + "-lock")
        // Through a symbolic link to the vault: the same lock file, beside the vault itself.
        #expect(FileManager.default.createFile(atPath: vault, contents: nil))
        let real = try #require(
            realpath(vault, nil).map { p in
                defer { free(p) }; return String(cString: p)
            })
        #expect(symlink(vault, dir.file("link.db")) == 0)
        #expect(OwnerLock.path(forVault: dir.file("link.db")) == real + "-lock")
        #expect(OwnerLock.path(forVault: vault) == real + "-lock")
        let first = try OwnerLock(vaultPath: vault)
        #expect(first.path == real + "-lock")
        #expect(permissions(first.path) == 0o600, "lock file is \(octal(permissions(first.path)))")
        #expect(fileSize(first.path) == 0, "the lock file holds no data")
        let second = try OwnerLock(vaultPath: vault)  // exists: opened, not re-created
        #expect(try second.tryLock(.rotation, .exclusive))
        #expect(permissions(first.path) == 0o600)
    }

    @Test func aLockFileThatIsNotOursIsRefusedAndLeftAsItWas() throws {
        let dir = TempDir()
        // Open to others: refused with the fix named, and its mode is not changed.
        let loose = dir.file("loose.db-lock")
        #expect(FileManager.default.createFile(atPath: loose, contents: Data("keep".utf8)))
        #expect(chmod(loose, 0o640) == 0)
        let open = #expect(throws: StoreError.self) { try OwnerLock(path: loose) }
        #expect(
            open.map { "\($0)".contains("mode 640") && "\($0)".contains("chmod 600 '\(loose)'") } == true, "\(String(describing: open))")
        #expect(permissions(loose) == 0o640)
        #expect(try String(contentsOfFile: loose, encoding: .utf8) == "keep")
        // A symbolic link is never followed, so the file it names is never created or locked.
        let link = dir.file("link.db-lock"), target = dir.file("elsewhere")
        #expect(symlink(target, link) == 0)
        let linked = #expect(throws: StoreError.self) { try OwnerLock(path: link) }
        #expect(linked.map { "\($0)".contains("symbolic link") } == true, "\(String(describing: linked))")
        #expect(!FileManager.default.fileExists(atPath: target))
        // A directory is not a lock file.
        let directory = dir.file("dir.db-lock")
        #expect(mkdir(directory, 0o700) == 0)
        let notFile = #expect(throws: StoreError.self) { try OwnerLock(path: directory) }
        #expect(notFile.map { "\($0)".contains("not a regular file") } == true, "\(String(describing: notFile))")
    }

    @Test func twoOpensInOneProcessExcludeEachOtherAndRangesAreIndependent() throws {
        let dir = TempDir()
        let vault = dir.file("vault.db")
        let a = try OwnerLock(vaultPath: vault), b = try OwnerLock(vaultPath: vault)
        #expect(try !a.isHeldElsewhere(.rotation))
        #expect(try a.tryLock(.rotation, .exclusive))
        #expect(try b.isHeldElsewhere(.rotation))
        #expect(try !a.isHeldElsewhere(.rotation), "one's own lock does not count")
        #expect(try !b.tryLock(.rotation, .exclusive))
        #expect(try !b.tryLock(.rotation, .shared))
        // The vault range is another lock: shared by many, refused to an exclusive taker.
        #expect(try a.tryLock(.vault, .shared))
        #expect(try b.tryLock(.vault, .shared))
        #expect(try b.isHeldElsewhere(.vault, against: .exclusive))
        #expect(try !b.isHeldElsewhere(.vault, against: .shared))
        let c = try OwnerLock(vaultPath: vault)
        #expect(try !c.tryLock(.vault, .exclusive))
        try a.unlock(.vault)
        try b.unlock(.vault)
        #expect(try c.tryLock(.vault, .exclusive))
        #expect(try !a.tryLock(.vault, .shared), "an exclusive holder refuses shared takers")
        // Unlocking, or dropping the open, frees a range.
        try a.unlock(.rotation)
        #expect(try b.tryLock(.rotation, .exclusive))
        do {
            let d = try OwnerLock(vaultPath: vault)
            #expect(try !d.tryLock(.rotation, .exclusive))
        }
        #expect(try b.isHeldElsewhere(.rotation) == false)
        try b.unlock(.rotation)
        do {
            let e = try OwnerLock(vaultPath: vault)
            #expect(try e.tryLock(.rotation, .exclusive))
        }  // closed here: its lock goes with it
        #expect(try a.tryLock(.rotation, .exclusive))
    }

    @Test(.timeLimit(.minutes(5)))
    func lockWaitsUntilTheHolderLetsGo() throws {
        let dir = TempDir()
        let vault = dir.file("vault.db")
        let holder = try OwnerLock(vaultPath: vault), waiter = try OwnerLock(vaultPath: vault)
        #expect(try holder.tryLock(.rotation, .exclusive))
        let got = Mutex<Date?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { try waiter.lock(.rotation, .exclusive); got.withLock { $0 = Date() } } catch {}
            done.signal()
        }
        usleep(300_000)
        #expect(got.withLock { $0 } == nil, "the waiter took a lock that was held")
        let released = Date()
        try holder.unlock(.rotation)
        done.wait()
        let at = try #require(got.withLock { $0 })
        #expect(at >= released)
        #expect(try !holder.tryLock(.rotation, .exclusive), "the waiter holds it now")
    }

    @Test(.timeLimit(.minutes(5)))
    func anotherProcessHoldsTheSameLockAndItDiesWithIt() throws {
        let dir = TempDir()
        let vault = dir.file("vault.db")
        let ours = try OwnerLock(vaultPath: vault)
        // Another process takes the rotation byte: we are refused, the vault byte stays free.
        let other = try PythonLocker(ours.path, offset: 0, "exclusive")
        #expect(other.answer == "locked")
        #expect(try ours.isHeldElsewhere(.rotation))
        #expect(try !ours.tryLock(.rotation, .exclusive))
        #expect(try ours.tryLock(.vault, .shared))
        // It is killed: the kernel releases its lock; nothing is left behind to clean up.
        other.kill()
        #expect(try ours.tryLock(.rotation, .exclusive))
        // Now we hold byte 0 exclusive and byte 1 shared: the other process sees exactly that.
        let refused = try PythonLocker(ours.path, offset: 0, "shared")
        #expect(refused.answer == "busy")
        refused.release()
        let sharing = try PythonLocker(ours.path, offset: 1, "shared")
        #expect(sharing.answer == "locked")
        let excluded = try PythonLocker(ours.path, offset: 1, "exclusive")
        #expect(excluded.answer == "busy")
        excluded.release()
        sharing.release()
        try ours.unlock(.rotation)
        let free = try PythonLocker(ours.path, offset: 0, "exclusive")
        #expect(free.answer == "locked")
        free.release()
    }
}
