import Foundation
import Testing

/// Runs the built `keyhold` binary as a newcomer would.
struct CLI {
    static let binary: String = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [here.appendingPathComponent("keyhold").path, repo.appendingPathComponent(".build/debug/keyhold").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }()

    struct Result { var status: Int32; var stdout: String; var stderr: String; var all: String { stdout + stderr } }

    /// Runs keyhold with `args`, `stdin` as input, and a test-only cheap KDF.
    static func run(_ args: [String], stdin: String = "", env: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["KEYHOLD_INSECURE_TEST_KDF"] = "1"
        for key in ["KEYHOLD_USER", "KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD", "KEYHOLD_DB"] { environment[key] = nil }
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input; p.standardOutput = out; p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// A temporary 0700 directory for one test, removed when released.
final class Scratch: @unchecked Sendable {
    let path: String
    init() {
        var t = Array((NSTemporaryDirectory() + "keyhold-cli-XXXXXX").utf8CString)
        path = t.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}
