import ArgumentParser
import Foundation
import KeyholdCore
import KeyholdFormats

// What `keyhold import` / `keyhold export` share around the formats (which are
// KeyholdFormats'): the format option, reading a source file, and their errors.
// Plaintext is handled as bytes (SecureBytes, or PlainBuffers that are wiped),
// never put in an error message.

/// The formats `import` and `export` speak.
enum TransferFormat: String, ExpressibleByArgument, CaseIterable {
    case dotenv, json, pass, keepassxc

    /// Whether the format is one file (so `-` can mean stdin or stdout).
    var isFile: Bool { self != .pass }
}

/// A file system or tool failure (exit 1), with a message for a person.
struct TransferFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// A usage error (exit 64) with a message for a person.
func usageError(_ field: String, _ message: String) -> KeyholdError {
    .invalid(KeyholdCore.ValidationError(field: field, rule: .usage, message: message))
}

enum SourceFile {
    /// Reads a whole file (or stdin for `-`), at most `limit` bytes, straight into guarded
    /// memory (read(2) into a `PlainBuffer`): no byte of it is ever in an ordinary buffer.
    static func read(_ path: String, limit: Int = 64 << 20) throws -> PlainBuffer {
        if path == "-" {
            // Standard input, wherever it is (an agent's client's too).
            let input = try Terminal.readAll(limit: limit)
            guard input.count <= limit else { throw usageError("source", "standard input is larger than \(limit >> 20) MiB") }
            let out = try PlainBuffer(capacity: input.count)
            try input.withUnsafeBytes { try out.append($0) }
            return out
        }
        let fd: Int32 = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            if errno == ENOENT { throw KeyholdError.notFound(kind: "file", name: path) }
            throw TransferFailure("cannot read \(Validate.visible(path)): \(why)")
        }
        defer { close(fd) }
        var st = stat()
        let known = fstat(fd, &st) == 0
        if known, (st.st_mode & S_IFMT) == S_IFDIR {
            throw usageError("source", "\(Validate.visible(path)) is a directory (only --format pass reads a directory)")
        }
        // Sized for the file as it is (and a byte more, to see it end), so it moves only if the
        // file grew: each read asks for no more room than one byte beyond what is there.
        let regular = known && (st.st_mode & S_IFMT) == S_IFREG
        let out = try PlainBuffer(capacity: regular ? min(Int(st.st_size), limit) + 1 : 64 << 10)
        let room = regular ? 1 : 64 << 10
        while true {
            let n = try out.appendReading(atLeast: room) { room in Foundation.read(fd, room.baseAddress!, room.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TransferFailure("cannot read \(Validate.visible(path)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            if out.count > limit {
                throw usageError("source", "\(Validate.visible(path)) is larger than \(limit >> 20) MiB")
            }
        }
        return out
    }
}
