import Foundation
import Glibc
import KeyholdCore

/// One child process's outcome: what it printed, and what the kernel measured.
struct ChildRun {
    var result: ChildResult
    /// Peak resident set of the child, KiB (wait4's ru_maxrss: this child alone).
    var maxRSSKiB: Int
}

enum Spawn {
    /// Path of this executable.
    static func selfPath() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        return n > 0 ? String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
    }

    /// Runs this executable (or `executable`: the native floor) with `args` in a child
    /// process; its standard output is read through a pipe (its last `RESULT` line is the
    /// JSON result), its standard error is shared, and `wait4` gives its own peak resident set.
    static func run(executable: String? = nil, _ args: [String]) throws -> ChildRun {
        let (result, rss) = try run(args, as: ChildResult.self, executable: executable)
        return ChildRun(result: result, maxRSSKiB: rss)
    }

    /// `run` for any result type; `input`, when given, is written to the child's standard
    /// input (how a password reaches it: never in argv or the environment).
    static func run<R: Decodable>(
        _ args: [String], as: R.Type, input: SecureBytes? = nil,
        executable: String? = nil
    ) throws -> (result: R, maxRSSKiB: Int) {
        let exe = executable ?? selfPath()
        var fds: [Int32] = [-1, -1], inFds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw BenchFailure("pipe: \(String(cString: strerror(errno)))") }
        if input != nil, pipe(&inFds) != 0 {
            close(fds[0]); close(fds[1])
            throw BenchFailure("pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inFds[0], 0)
            posix_spawn_file_actions_addclose(&actions, inFds[0])
            posix_spawn_file_actions_addclose(&actions, inFds[1])
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        close(fds[1])
        if let input {
            close(inFds[0])
            // Small (a password): it fits the pipe's buffer, so this cannot block on the child.
            if rc == 0 {
                input.withBytes { b in
                    var done = 0
                    while done < b.count {
                        let n = write(inFds[1], b.baseAddress! + done, b.count - done)
                        if n > 0 { done += n } else if errno != EINTR { break }
                    }
                }
            }
            close(inFds[1])
        }
        guard rc == 0 else {
            close(fds[0])
            throw BenchFailure("posix_spawn \(exe): \(String(cString: strerror(rc)))")
        }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &chunk, chunk.count)
            if n > 0 { output += chunk[..<n] } else if n == 0 || errno != EINTR { break }
        }
        close(fds[0])
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        let exited = status & 0x7F == 0, code = (status >> 8) & 0xFF
        guard exited, code == 0 else {
            throw BenchFailure(
                "child \(args.joined(separator: " ")) failed (\(exited ? "exit \(code)" : "signal \(status & 0x7F)"))\n\(text)")
        }
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }) else {
            throw BenchFailure("child \(args.joined(separator: " ")) printed no result\n\(text)")
        }
        let result = try JSONDecoder().decode(R.self, from: Data(line.dropFirst("RESULT ".count).utf8))
        return (result, Int(usage.ru_maxrss))
    }
}
