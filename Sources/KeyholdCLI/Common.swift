import ArgumentParser
import Foundation
import KeyholdCore

/// Options of every command that logs in.
struct SessionOptions: ParsableArguments {
    @OptionGroup var vault: VaultOptionsGroup

    /// Opens the vault and logs in (KEYHOLD_USER/KEYHOLD_PASSWORD or prompts).
    func session() throws -> Session {
        try Credentials.login(try Vault.open(at: vault.path, options: vault.options))
    }
}

/// `--json` for commands that print data.
struct JSONFlag: ParsableArguments {
    @Flag(name: .long, help: "Print JSON (a documented, stable shape) instead of a table.")
    var json = false
}

/// Runs a command body, turning core errors into their message and exit code.
func runReporting(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ExitCode { throw e } catch let e as CleanExit { throw e } catch { throw fail(error) }
}

/// Where a secret value or password comes from. Never argv.
struct ValueSource: ParsableArguments {
    @Flag(name: .long, help: "Read the value from standard input (all of it, up to 64 KiB; one trailing newline is dropped).")
    var stdin = false

    @Option(name: .customLong("from-file"), help: "Read the value from a file (used as is).")
    var fromFile: String?

    /// The value: from a file, stdin, or a no-echo prompt on a terminal.
    func read(prompt: String) throws -> SecureBytes {
        if stdin && fromFile != nil { throw ArgumentParser.ValidationError("give either --stdin or --from-file, not both") }
        if let fromFile {
            guard let handle = FileHandle(forReadingAtPath: fromFile) else {
                throw ArgumentParser.ValidationError("--from-file: cannot read \(fromFile)")
            }
            defer { try? handle.close() }
            var data = (try? handle.read(upToCount: Validate.secretValueMaxBytes + 1)) ?? Data()
            defer { data.resetBytes(in: 0..<data.count) }
            return SecureBytes(copying: data)
        }
        if stdin || !Terminal.stdinIsTTY {
            var bytes = [UInt8]()
            defer { wipe(&bytes) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            defer { wipe(&buffer) }
            while bytes.count <= Validate.secretValueMaxBytes + 1 {
                let n = Foundation.read(STDIN_FILENO, &buffer, buffer.count)
                if n <= 0 { break }
                bytes.append(contentsOf: buffer[0..<n])
            }
            if bytes.last == 0x0A { bytes.removeLast(); if bytes.last == 0x0D { bytes.removeLast() } }
            return SecureBytes(copying: bytes)
        }
        guard let v = Terminal.readSecret(prompt: prompt) else { throw ArgumentParser.ValidationError("no value given") }
        return v
    }
}

/// Refuses a value given on the command line, saying why and what to do instead.
func refuseArgvValue(_ extra: [String], what: String) throws {
    guard !extra.isEmpty else { return }
    throw ArgumentParser.ValidationError("""
        \(what) is never taken from the command line: it would be visible to other users in the process list \
        and kept in your shell history. Use --stdin, --from-file PATH, or type it at the prompt.
        """)
}
