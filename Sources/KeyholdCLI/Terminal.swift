import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdFormats

/// A write to standard output that failed (a full disk, a reader that went away): exit 72,
/// one line on stderr. `consequence` says what that means for the command (a one-time
/// secret not shown, so nothing was committed).
struct OutputFailure: Error, CustomStringConvertible {
    let code: Int32
    var consequence: String?

    var description: String {
        "cannot write to standard output: \(String(cString: strerror(code)))" + (consequence.map { "; \($0)" } ?? "")
    }
}

/// Reading from and writing to the person at the terminal.
///
/// Every write to standard output is a checked write(2) loop: a failure throws
/// `OutputFailure` (exit 72), never a crash, and SIGPIPE (with SIGXFSZ) is ignored from the start
/// (`ProcessSetup.start`). Text written with `out` and `err` goes through
/// `Validate.visible` line by line, so nothing stored can reach the terminal raw;
/// secret values go through `writeValue`, which escapes them only on a terminal.
enum Terminal {
    /// Whose streams a command uses: this process's, or an agent's client's (`TerminalIO`).
    @TaskLocal static var io = TerminalIO.process

    static var stdinIsTTY: Bool { io.stdinIsTTY }
    static var stdoutIsTTY: Bool { io.stdoutIsTTY }
    static var stderrIsTTY: Bool { io.stderrIsTTY }
    /// The environment the command sees (the client's, through an agent).
    static var environment: [String: String] { io.environment }

    /// Writes a line of text to standard output.
    static func out(_ s: String) throws { try outRaw(safeLines(s)) }

    /// Writes a line to standard output as it is: for text keyhold made itself (help, a
    /// completion script, whose tabs must stay tabs), never for text from the vault.
    static func outRaw(_ s: String) throws {
        var bytes = Array(s.utf8)
        bytes.append(UInt8(ascii: "\n"))
        try bytes.withUnsafeBytes { try writeOut($0) }
    }

    /// Writes a one-time secret (a recovery key, a temporary password) with text around it to
    /// standard output: `before`, the secret's bytes straight from guarded memory, then `after`
    /// (the texts made visible as `out` does, no line break added). The secret is keyhold's own
    /// ASCII, so it is written as it is.
    static func outSecret(_ before: String, _ secret: SecureBytes, _ after: String) throws {
        var head = Array(safeLines(before).utf8), tail = Array(safeLines(after).utf8)
        try head.withUnsafeBytes { try writeOut($0) }
        try secret.withBytes { try writeOut($0) }
        try tail.withUnsafeBytes { try writeOut($0) }
        head.removeAll()
        tail.removeAll()
    }

    /// Writes a line to standard error. A failure there is ignored: there is nowhere left to say it.
    static func err(_ s: String) { errRaw(safeLines(s) + "\n") }

    /// Writes text to standard error as it is (prompts, the progress bar's carriage return).
    static func errRaw(_ s: String) {
        var bytes = Array(s.utf8)
        _ = bytes.withUnsafeBytes { write(all: $0, to: STDERR_FILENO) }
        bytes.removeAll()
    }

    /// Each line of `s` made visible, the line breaks kept.
    static func safeLines(_ s: String) -> String {
        // The common case (printable ASCII and line breaks) in one pass.
        if !s.utf8.contains(where: { ($0 < 0x20 && $0 != 0x0A) || $0 >= 0x7F }) { return s }
        return s.split(separator: "\n", omittingEmptySubsequences: false).map { Validate.visible(String($0)) }.joined(separator: "\n")
    }

    /// Writes bytes to standard output exactly as they are; throws `OutputFailure` when it cannot.
    static func writeOut(_ bytes: UnsafeRawBufferPointer) throws {
        if let code = write(all: bytes, to: STDOUT_FILENO) { throw OutputFailure(code: code) }
    }

    /// Writes a secret value: byte for byte into a pipe or a file, or with `raw`; on a terminal
    /// with its control characters escaped (`Validate.terminalSafeValue`), and then one line on
    /// stderr saying so. Returns whether it escaped anything.
    @discardableResult
    static func writeValue(_ value: UnsafeRawBufferPointer, raw: Bool) throws -> Bool {
        guard !raw, stdoutIsTTY, let shown = try Validate.terminalSafeValue(value) else {
            try writeOut(value)
            return false
        }
        // Escaped in guarded memory, zeroed when released.
        try shown.withUnsafeBytes { try writeOut($0) }
        return true
    }

    /// The line on stderr after a value was shown escaped.
    static let escapedValueNote =
        "keyhold: the value holds control characters (shown escaped, e.g. \\x1b, \\u202e); "
        + "for the exact bytes use --raw, or send the output to a pipe or a file"

    /// The line on stderr after an export to the terminal was shown escaped.
    static let escapedExportNote =
        "keyhold: values in the export hold control characters (shown escaped on this terminal, "
        + "e.g. \\x1b, \\u202e); for the exact bytes send the output to a pipe or a file"

    /// Writes everything to the command's standard output (`STDOUT_FILENO`) or error
    /// (`STDERR_FILENO`), wherever they are; errno on failure, nil when done. Files and pipes of
    /// this process's own use `writeFD`.
    @discardableResult
    static func write(all bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32? { io.write(fd, bytes) }

    /// write(2) until everything is written; errno on failure, nil when done.
    @discardableResult
    static func writeFD(all bytes: UnsafeRawBufferPointer, to fd: Int32) -> Int32? {
        guard let base = bytes.baseAddress else { return nil }
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return nil
    }

    /// Reads one line from standard input into guarded memory (the newline dropped).
    static func readLineSecure() throws -> SecureBytes? { try io.readLine() }

    /// The longest line `readLineFD` keeps (a longer one is cut there).
    static let lineLimit = 65_536 + 3

    /// Reads one line from this process's standard input straight into guarded memory (the
    /// newline, and a carriage return before it, dropped): byte by byte, so that what follows
    /// the line stays in standard input for the next reader, and no byte of it is ever in
    /// ordinary memory. Nil at the end of input with nothing read.
    static func readLineFD() throws -> SecureBytes? {
        var ended = false, newline = false
        let line = try SecureBytes(capacity: lineLimit) { out in
            let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var n = 0
            while n < out.count {
                let r = read(STDIN_FILENO, base + n, 1)
                if r < 0 && errno == EINTR { continue }
                if r != 1 { ended = true; break }
                if base[n] == 0x0A { newline = true; break }
                n += 1
            }
            if newline && n > 0 && base[n - 1] == 0x0D { n -= 1 }
            return n
        }
        return ended && !newline && line.count == 0 ? nil : line
    }

    /// Prompts on the terminal with echo off; the typed text never appears on screen.
    static func readSecret(prompt: String) throws -> SecureBytes? {
        guard stdinIsTTY else { return try readLineSecure() }
        return try io.prompt(prompt, false)
    }

    /// All of standard input, up to `limit` bytes and one more (so that too much can be told),
    /// in guarded memory.
    static func readAll(limit: Int) throws -> SecureBuffer { try io.readAll(limit) }

    /// All of this process's standard input, read straight into guarded memory, until it ends
    /// or holds more than `limit` bytes.
    static func readAllFD(limit: Int) throws -> SecureBuffer {
        let out = try SecureBuffer(capacity: 65_536)
        while out.count <= limit {
            let n = try out.appendReading(atLeast: 65_536) { room in Foundation.read(STDIN_FILENO, room.baseAddress!, room.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
        }
        return out
    }

    /// A password given in the environment (`KEYHOLD_PASSWORD`, `KEYHOLD_NEW_PASSWORD`, `KEYHOLD_BACKUP_PASSWORD`), in
    /// guarded memory; see `ProcessSetup.takePasswordsFromEnvironment`.
    static func passwordVariable(_ name: String) -> SecureBytes? { io.passwordVariable(name) }

    /// This process's own no-echo prompt.
    static func promptFD(_ prompt: String, echo: Bool) throws -> SecureBytes? {
        guard echo else { return try quietPrompt(prompt) }
        errRaw(prompt)
        return try readLineFD()
    }

    private static func quietPrompt(_ prompt: String) throws -> SecureBytes? {
        errRaw(prompt)
        var old = termios()
        tcgetattr(STDIN_FILENO, &old)
        var quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
            errRaw("\n")
        }
        return try readLineFD()
    }

    /// Prompts for an ordinary line (echoed). Reads unbuffered, like the secret prompts, so the two can share stdin.
    static func ask(_ prompt: String) throws -> String? {
        guard stdinIsTTY else {
            errRaw(prompt)
            return try readLineSecure().flatMap { $0.utf8String() }
        }
        return try io.prompt(prompt, true).flatMap { $0.utf8String() }
    }
}

/// The streams, terminal and environment one command works with: this process's own
/// (`process`), or, for a command an agent runs, its client's, relayed over the socket.
struct TerminalIO: Sendable {
    var stdinIsTTY: Bool
    var stdoutIsTTY: Bool
    var stderrIsTTY: Bool
    var environment: [String: String]
    /// Writes all of the bytes to standard output (1) or error (2); errno, or nil when done.
    var write: @Sendable (Int32, UnsafeRawBufferPointer) -> Int32?
    /// One line of standard input (not a terminal), without its newline.
    var readLine: @Sendable () throws -> SecureBytes?
    /// A question on the terminal, answered with echo or without.
    var prompt: @Sendable (String, Bool) throws -> SecureBytes?
    /// All of standard input, up to the limit and one byte more.
    var readAll: @Sendable (Int) throws -> SecureBuffer
    /// A password variable of the environment (`KEYHOLD_PASSWORD`, `KEYHOLD_NEW_PASSWORD`),
    /// taken into guarded memory once: the first reader gets it.
    var passwordVariable: @Sendable (String) -> SecureBytes? = { _ in nil }
    /// The session an agent holds: commands use it instead of logging in.
    var session: Session?
    /// Starts the program of `keyhold run` where the person is (the client of an agent).
    var start: (@Sendable (RunStart) throws -> Void)?

    static var process: TerminalIO {
        TerminalIO(
            stdinIsTTY: isatty(STDIN_FILENO) == 1, stdoutIsTTY: isatty(STDOUT_FILENO) == 1,
            stderrIsTTY: isatty(STDERR_FILENO) == 1, environment: ProcessInfo.processInfo.environment,
            write: { fd, bytes in Terminal.writeFD(all: bytes, to: fd) },
            readLine: { try Terminal.readLineFD() },
            prompt: { text, echo in try Terminal.promptFD(text, echo: echo) },
            readAll: { limit in try Terminal.readAllFD(limit: limit) },
            passwordVariable: { name in ProcessSetup.takePassword(name) },
            session: nil, start: nil)
    }
}

/// A one-time secret (recovery key, temporary password) is shown inside its transaction,
/// before the commit; if the commit then fails (a full disk), what was shown is void, and
/// stderr says so.
enum OneTimeSecret {
    /// Runs `body`, which calls `shown` once the secret is out; a failure after that prints `void`.
    static func voidIfFailed<T>(_ void: String, _ body: (_ shown: @escaping () -> Void) throws -> T) throws -> T {
        let state = Shown()
        do { return try body { state.value = true } } catch {
            if state.value { Terminal.err("keyhold: \(void)") }
            throw error
        }
    }

    private final class Shown: @unchecked Sendable { var value = false }
}

/// What the process sets up before any command runs.
public enum ProcessSetup {
    /// The signals keyhold ignores for itself, so that the failed write becomes an error it
    /// reports instead of a death: SIGPIPE (a reader that went away: exit 72) and SIGXFSZ (a
    /// file size limit, `ulimit -f`: the write fails with EFBIG and the transaction rolls back).
    static let ignored: [Int32] = [SIGPIPE, SIGXFSZ]

    /// Those of `ignored` that were ignored already when keyhold started (the programs it starts
    /// inherit that; the others get the default back).
    nonisolated(unsafe) static var inheritedIgnored: Set<Int32> = []

    /// The variables that may carry a password.
    static let passwordVariables = AgentClient.passwordVariables

    /// The passwords taken out of the environment at start, until a command takes them.
    nonisolated(unsafe) private static var environmentPasswords: [String: SecureBytes] = [:]
    private static let passwordLock = NSLock()

    /// Moves `KEYHOLD_PASSWORD`, `KEYHOLD_NEW_PASSWORD` and `KEYHOLD_BACKUP_PASSWORD` out of the environment into guarded
    /// memory, before anything reads the environment: each value is copied from the process's
    /// environment block, its bytes there are overwritten with zeros (so neither
    /// /proc/PID/environ nor a later `ProcessInfo.environment`, which makes Strings of every
    /// variable, ever holds it) and the variable is removed. What the kernel and the shell
    /// that started keyhold hold is out of its reach (docs/SECURITY.md, "Memory").
    /// Out of guarded memory, the variable is wiped and removed all the same, and said so: the
    /// command then finds no password there.
    public static func takePasswordsFromEnvironment() {
        passwordLock.withLock {
            for name in passwordVariables {
                guard let value = getenv(name) else { continue }
                let n = strlen(value)
                do {
                    environmentPasswords[name] = try SecureBytes(count: n) { out in
                        if n > 0 { out.baseAddress!.copyMemory(from: value, byteCount: n) }
                    }
                } catch {
                    Terminal.err("keyhold: \(name) could not be taken into guarded memory (out of memory); it is ignored")
                }
                explicit_bzero(value, n)
                unsetenv(name)
            }
        }
    }

    /// The password taken from the variable `name` at start, once: the first caller gets it
    /// (and frees it when done with it), later callers nil.
    static func takePassword(_ name: String) -> SecureBytes? {
        passwordLock.withLock { environmentPasswords.removeValue(forKey: name) }
    }

    /// Ignores `ignored`, remembering which were ignored already, for `keyhold run`. Takes the
    /// password variables out of the environment first (`takePasswordsFromEnvironment`).
    public static func start() {
        takePasswordsFromEnvironment()
        for sig in ignored {
            var old = sigaction()
            sigaction(sig, nil, &old)
            if unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1 { inheritedIgnored.insert(sig) }  // SIG_IGN
            signal(sig, SIG_IGN)
        }
    }

    /// The signals a started program gets back at their default: those keyhold ignores only for itself.
    static var restoredForChildren: [Int32] { ignored.filter { !inheritedIgnored.contains($0) } }

    /// Before a program is started: `restoredForChildren` back to the default.
    static func restoreSignals() {
        for sig in restoredForChildren { signal(sig, SIG_DFL) }
    }

    /// After a failed exec: ignored again, as keyhold.
    static func ignoreAgain() {
        for sig in ignored { signal(sig, SIG_IGN) }
    }
}
