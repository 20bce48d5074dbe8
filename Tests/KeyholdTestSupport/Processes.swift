import Foundation

/// Running programs from tests: the built `keyhold`, python, gpg, pass, tmux.
public enum Subprocess {
    public struct Result {
        public var status: Int32
        /// Standard output, as bytes (a secret value need not be text).
        public var stdout: Data
        /// Standard error (messages: text).
        public var stderr: String
        /// Standard output as text.
        public var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// The absolute path of `name` on PATH, or nil.
    public static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs `program` (an absolute path, or a name on PATH) with `args`, `stdin` as its input and
    /// exactly `env` as its environment; waits for it. Input and both outputs go through pipes,
    /// each on its own thread, so none can fill up while another is waited on.
    public static func run(_ program: String, _ args: [String], stdin: Data = Data(), env: [String: String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : (which(program) ?? program))
        p.arguments = args
        p.environment = env
        let input = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = input; p.standardOutput = out; p.standardError = err
        try p.run()
        let errors = Collected(err.fileHandleForReading)
        Thread.detachNewThread {
            errors.data = errors.handle.readDataToEndOfFile(); errors.done.signal()
        }
        let writer = Collected(input.fileHandleForWriting)
        Thread.detachNewThread {
            if !stdin.isEmpty { try? writer.handle.write(contentsOf: stdin) }
            try? writer.handle.close()
            writer.done.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        errors.done.wait()
        writer.done.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: o, stderr: String(decoding: errors.data, as: UTF8.self))
    }

    /// A pipe end and what a helper thread did with it (read after `done`).
    private final class Collected: @unchecked Sendable {
        let handle: FileHandle
        var data = Data()
        let done = DispatchSemaphore(value: 0)
        init(_ handle: FileHandle) { self.handle = handle }
    }
}

/// The built `keyhold` binary, run as the tests run it.
public enum KeyholdBinary {
    /// Beside the test executable (or in .build/debug).
    public static let path: String = builtProgram("keyhold")

    /// A program this package builds (`keyhold`, `keyhold-memory-probe`): beside the test
    /// executable, or in .build/debug.
    public static func builtProgram(_ name: String) -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [here.appendingPathComponent(name).path, Repository.root.appendingPathComponent(".build/debug/\(name)").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    /// This process's environment with the test-only cheap KDF on, none of the caller's
    /// KEYHOLD_USER, KEYHOLD_PASSWORD, KEYHOLD_NEW_PASSWORD or KEYHOLD_DB, no XDG_RUNTIME_DIR
    /// (so no agent of the person running the tests is ever used), and then `extra`.
    public static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["KEYHOLD_INSECURE_TEST_KDF"] = "1"
        for key in ["KEYHOLD_USER", "KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD", "KEYHOLD_DB", "XDG_RUNTIME_DIR"] {
            environment[key] = nil
        }
        for (k, v) in extra { environment[k] = v }
        return environment
    }

    /// Runs keyhold with `args` and `stdin`, in `environment(env)`.
    public static func run(_ args: [String], stdin: Data = Data(), env: [String: String] = [:]) throws -> Subprocess.Result {
        try Subprocess.run(path, args, stdin: stdin, env: environment(env))
    }
}
