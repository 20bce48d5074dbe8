import ArgumentParser
import Foundation
import KeyholdCore
import KeyholdFormats

/// Reading from and writing to the person at the terminal.
enum Terminal {
    static var stdinIsTTY: Bool { isatty(STDIN_FILENO) == 1 }

    static func out(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
    static func err(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

    /// Writes bytes to standard output exactly as they are.
    static func writeOut(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                Terminal.err("keyhold: cannot write to standard output: \(String(cString: strerror(errno)))")
                throw ExitCode(Exit.failure)
            }
            offset += n
        }
    }

    /// Reads one line from standard input into guarded memory (the newline dropped).
    static func readLineSecure() -> SecureBytes? {
        var buffer = [UInt8]()
        defer { Bytes.wipe(&buffer) }
        var byte: UInt8 = 0
        while read(STDIN_FILENO, &byte, 1) == 1 {
            if byte == 0x0A { return SecureBytes(copying: buffer.last == 0x0D ? buffer.dropLast() : buffer[...]) }
            buffer.append(byte)
            if buffer.count > 65_536 + 2 { break }
        }
        return buffer.isEmpty ? nil : SecureBytes(copying: buffer)
    }

    /// Prompts on the terminal with echo off; the typed text never appears on screen.
    static func readSecret(prompt: String) -> SecureBytes? {
        guard stdinIsTTY else { return readLineSecure() }
        FileHandle.standardError.write(Data(prompt.utf8))
        var old = termios()
        tcgetattr(STDIN_FILENO, &old)
        var quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return readLineSecure()
    }

    /// Prompts for an ordinary line (echoed). Reads unbuffered, like the secret prompts, so the two can share stdin.
    static func ask(_ prompt: String) -> String? {
        FileHandle.standardError.write(Data(prompt.utf8))
        return readLineSecure().flatMap { $0.utf8String() }
    }
}
