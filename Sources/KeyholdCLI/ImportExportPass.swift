import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdFormats

/// A password store (https://www.passwordstore.org/) through the user's own `gpg`; its
/// names and file contents are `PassStoreNames`'.
///
/// Import: every secret file under the directory is decrypted with
/// `gpg --quiet --batch --decrypt FILE`, its output read through a pipe into memory
/// (plaintext never touches the disk).
///
/// Export: DEST is a new 0700 directory made a store for one key (`.gpg-id`, as `pass init`
/// writes it); each secret is encrypted by `gpg --batch --yes --encrypt --recipient ID --output
/// FILE` with the plaintext, plus one newline, fed on its standard input.
enum PassStore {
    /// The relative paths of the store's `.gpg` files, sorted.
    static func files(in root: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else {
            throw KeyholdError.notFound(kind: "pass store directory", name: root)
        }
        guard isDir.boolValue else {
            throw usageError("source", "--format pass reads a password-store directory; \(Validate.visible(root)) is not one")
        }
        guard let walker = FileManager.default.enumerator(atPath: root) else {
            throw usageError("source", "cannot read the directory \(Validate.visible(root))")
        }
        var found: [String] = []
        while let rel = walker.nextObject() as? String {
            let type = walker.fileAttributes?[.type] as? FileAttributeType
            if type == .typeDirectory {
                if !PassStoreNames.walks(directory: (rel as NSString).lastPathComponent) { walker.skipDescendants() }
                continue
            }
            if PassStoreNames.isSecretFile(rel), type == .typeRegular || type == .typeSymbolicLink { found.append(rel) }
        }
        return found.sorted()
    }

    /// Decrypts every file of the store. A file gpg cannot decrypt is a bad entry naming the file and gpg's reason.
    static func read(_ root: String) throws -> SourceRead {
        let gpg = try Tool.require("gpg", package: "gnupg")
        var result = SourceRead()
        for rel in try files(in: root) {
            let origin = PassStoreNames.origin(ofFile: rel)
            let run = try Tool.run(gpg, ["--quiet", "--batch", "--decrypt", root + "/" + rel], input: nil, captureOutput: true)
            guard run.status == 0 else {
                result.add(BadEntry(origin: origin, message: "gpg could not decrypt it: \(Tool.reason(run.stderr))"))
                continue
            }
            guard run.outputSize <= Tool.outputLimit else {
                result.add(
                    BadEntry(
                        origin: origin,
                        message:
                            "secret value: must be 1 to \(Validate.secretValueMaxBytes) bytes (the file decrypts to \(run.outputSize) bytes)"
                    ))
                continue
            }
            try PassStoreNames.add(file: rel, decrypted: run.output.bytes, to: &result)
        }
        return result
    }

    /// Checks, before anything is revealed, that gpg is there and knows a public key for `id`.
    static func checkRecipient(_ id: String) throws -> String {
        let gpg = try Tool.require("gpg", package: "gnupg")
        let run = try Tool.run(gpg, ["--batch", "--list-keys", "--with-colons", "--", id], input: nil, captureOutput: true)
        guard run.status == 0 else {
            throw usageError("--gpg-id", "gpg knows no public key for \(Validate.visible(id)): \(Tool.reason(run.stderr))")
        }
        return gpg
    }

    /// Makes a new store at `dest` (0700) for key `gpgID`: its `.gpg-id`. The caller fills it with
    /// `add` and removes it if that fails (only ciphertext, but a half store helps no one).
    static func create(_ dest: String, gpgID: String) throws {
        guard mkdir(dest, 0o700) == 0 else {
            if errno == EEXIST { throw KeyholdError.conflict("\(Validate.visible(dest)) already exists; export writes a new directory") }
            throw TransferFailure("cannot create \(Validate.visible(dest)): \(String(cString: strerror(errno)))")
        }
        chmod(dest, 0o700)
        do {
            let id = try ExportSink(creating: dest + "/.gpg-id")
            try id.buffer.append(PassStoreNames.gpgIDFile(gpgID))
            try id.finish()
        } catch {
            try? FileManager.default.removeItem(atPath: dest)
            throw error
        }
    }

    /// Encrypts `value` plus a newline to `dest/path.gpg`, making the directories on the way.
    static func add(path: String, value: UnsafeRawBufferPointer, to dest: String, gpgID: String, gpg: String) throws {
        for directory in PassStoreNames.directories(for: path) {
            let dir = dest + "/" + directory
            if mkdir(dir, 0o700) != 0, errno != EEXIST {
                throw TransferFailure("cannot create \(Validate.visible(dir)): \(String(cString: strerror(errno)))")
            }
        }
        let input = try PassStoreNames.fileContent(value)
        let run = try Tool.run(
            gpg,
            ["--quiet", "--batch", "--yes", "--encrypt", "--recipient", gpgID, "--output", dest + "/" + PassStoreNames.file(for: path)],
            input: input, captureOutput: false)
        guard run.status == 0 else {
            throw TransferFailure("gpg could not encrypt \(Validate.visible(path)): \(Tool.reason(run.stderr))")
        }
    }
}

/// Running the user's own tools (gpg) with plaintext only in pipes.
enum Tool {
    struct Result {
        var status: Int32
        /// Standard output, when captured and not larger than `outputLimit`.
        var output: PlainBuffer
        /// The size of standard output in bytes.
        var outputSize: Int
        var stderr: String
    }

    /// The most output kept: a secret value, its trailing newline, and a byte to tell that it is too large.
    static let outputLimit = Validate.secretValueMaxBytes + 2

    /// The absolute path of `name` on PATH, or an error saying which package provides it.
    static func require(_ name: String, package: String) throws -> String {
        let path = Terminal.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TransferFailure("\(name) is not installed (or not on PATH): install it first, e.g. `apt-get install \(package)`")
    }

    /// gpg's own message, last lines only, made safe to print (it never holds plaintext).
    static func reason(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { return "no reason given" }
        return Validate.visible(lines.suffix(2).joined(separator: "; "))
    }

    /// Variables a tool never sees: the credentials keyhold may have been given.
    static let withheld = AgentClient.withheld.union(["KEYHOLD_USER"])

    /// This process's environment without the `withheld` variables.
    static func environment(_ from: [String: String] = Terminal.environment) -> [String: String] {
        from.filter { !withheld.contains($0.key) }
    }

    /// Runs `path args`, feeding `input` on stdin (else /dev/null) and collecting stdout in a wiped buffer when asked.
    static func run(_ path: String, _ args: [String], input: SecureBytes?, captureOutput: Bool) throws -> Result {
        // A tool that exits early cannot kill us through its stdin pipe: SIGPIPE is ignored from the start (`ProcessSetup`).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = environment()
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        p.standardOutput = captureOutput ? outPipe : FileHandle.nullDevice
        p.standardError = errPipe
        do { try p.run() } catch { throw TransferFailure("cannot run \(path): \(error.localizedDescription)") }

        let collected = Collected(errors: errPipe.fileHandleForReading, input: inPipe.fileHandleForWriting)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            collected.stderr = (try? collected.errors.readToEnd()) ?? Data()
        }
        if let input {
            DispatchQueue.global().async(group: group) {
                let fd = collected.input.fileDescriptor
                // A tool that stops reading early says why on its stderr; the write simply ends.
                _ = input.withBytes { Terminal.writeFD(all: $0, to: fd) }
                try? collected.input.close()
            }
        }
        let output = PlainBuffer()
        var total = 0
        if captureOutput {
            let fd = outPipe.fileHandleForReading.fileDescriptor
            // Read straight into guarded memory; past the largest value only the size is kept (the rest
            // is read into the same space again and dropped) so the tool can finish.
            while true {
                let kept = output.count
                let n = try output.appendReading(atLeast: 16 << 10) { room in Foundation.read(fd, room.baseAddress!, room.count) }
                if n < 0 { if errno == EINTR { continue }; break }
                if n == 0 { break }
                total += n
                if total > outputLimit { output.truncate(to: kept) }
            }
        }
        group.wait()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, output: output, outputSize: total,
            stderr: String(decoding: collected.stderr, as: UTF8.self))
    }

    /// What the helper threads touch (each field by one thread, read after `group.wait()`).
    private final class Collected: @unchecked Sendable {
        let errors: FileHandle
        let input: FileHandle
        var stderr = Data()
        init(errors: FileHandle, input: FileHandle) { self.errors = errors; self.input = input }
    }
}

/// Where an export goes as it is made: a new file (created 0600 with O_EXCL before anything is
/// revealed, removed again if the export fails) or standard output. Bytes gather in `buffer`,
/// which is written out and wiped whenever it holds `chunk` bytes, unless `hold` is set
/// (standard output with a format that may still refuse a value: a refusal then writes nothing).
final class ExportSink {
    static let chunk = 64 << 10
    let buffer = PlainBuffer()  // grows to 2 * chunk as values come
    private let fd: Int32
    private let path: String?
    private let hold: Bool
    private var fileOpen = true
    /// The file has no name yet (O_TMPFILE): `finish` links it to `path` once it is whole.
    private let unnamed: Bool

    /// A new file at `path` (never an existing one). Where the file system allows it, the file
    /// is made without a name in `path`'s directory and linked to `path` only when it is whole,
    /// so an export that fails or is killed (SIGKILL, power loss) leaves no file at all.
    init(creating path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let unnamedFD = Glibc.open(dir.isEmpty ? "." : dir, ExportSink.tmpfileFlag | O_WRONLY | O_CLOEXEC, 0o600)
        if unnamedFD >= 0 {
            var st = stat()
            if lstat(path, &st) == 0 {
                close(unnamedFD)
                throw KeyholdError.conflict("\(Validate.visible(path)) already exists; export never overwrites a file")
            }
            fd = unnamedFD
            unnamed = true
        } else {
            // No O_TMPFILE here (an older kernel, some file systems): a named file from the start.
            fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                if errno == EEXIST {
                    throw KeyholdError.conflict("\(Validate.visible(path)) already exists; export never overwrites a file")
                }
                throw TransferFailure("cannot create \(Validate.visible(path)): \(String(cString: strerror(errno)))")
            }
            unnamed = false
        }
        fchmod(fd, 0o600)
        self.path = path
        hold = false
    }

    /// O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`; the same __O_TMPFILE on x86-64 and arm64), which Swift does not import.
    private static let tmpfileFlag: Int32 = 0o20000000 | O_DIRECTORY

    /// Standard output; with `hold`, nothing is written before `finish`.
    init(standardOutputHolding hold: Bool) {
        fd = STDOUT_FILENO
        path = nil
        self.hold = hold
        unnamed = false
    }

    /// Writes the buffer out once it is full enough (call after each entry).
    func wrote() throws {
        if !hold, buffer.count >= Self.chunk { try flush() }
    }

    /// Writes the rest; a file is synced and closed.
    func finish() throws {
        try flush()
        if let path {
            fileOpen = false
            let synced = fsync(fd) == 0
            var error = errno
            var linked = true
            if synced, unnamed {
                // Named only now, whole: by its /proc link (any user), else AT_EMPTY_PATH (needs privilege).
                linked =
                    linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0
                    || linkat(fd, "", AT_FDCWD, path, 0x1000) == 0  // AT_EMPTY_PATH, which Swift does not import
                error = errno
            }
            close(fd)
            if !synced || !linked {
                if !unnamed { unlink(path) }
                if !linked, error == EEXIST {
                    throw KeyholdError.conflict("\(Validate.visible(path)) appeared during the export; export never overwrites a file")
                }
                throw TransferFailure("cannot write \(Validate.visible(path)): \(String(cString: strerror(error)))")
            }
        }
    }

    /// After a failure: wipes what is held and removes the file.
    func discard() {
        buffer.clear()
        if let path, fileOpen {
            fileOpen = false
            close(fd)
            if !unnamed { unlink(path) }  // an unnamed file goes with its last descriptor
        }
    }

    private func flush() throws {
        defer { buffer.clear() }
        do {
            if path == nil {
                // Standard output: a failed write is exit 72; on a terminal (held whole, so no UTF-8
                // sequence is split) control characters are shown escaped, as `secret show` does.
                let escaped = try Terminal.writeValue(UnsafeRawBufferPointer(buffer.bytes), raw: false)
                if escaped { Terminal.err(Terminal.escapedExportNote) }
                return
            }
            if let code = Terminal.writeFD(all: UnsafeRawBufferPointer(buffer.bytes), to: fd) {
                throw TransferFailure("write failed: \(String(cString: strerror(code)))")
            }
        } catch {
            discard()
            throw error
        }
    }
}
