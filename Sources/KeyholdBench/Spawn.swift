import Foundation
import Glibc

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

    /// Runs this executable with `args` in a child process; its standard output is read
    /// through a pipe (its last `RESULT` line is the JSON result), its standard error is
    /// shared, and `wait4` gives its own peak resident set.
    static func run(_ args: [String]) throws -> ChildRun {
        let exe = selfPath()
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw BenchFailure("pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        close(fds[1])
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
            throw BenchFailure("child \(args.joined(separator: " ")) failed (\(exited ? "exit \(code)" : "signal \(status & 0x7F)"))\n\(text)")
        }
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }) else {
            throw BenchFailure("child \(args.joined(separator: " ")) printed no result\n\(text)")
        }
        let result = try JSONDecoder().decode(ChildResult.self, from: Data(line.dropFirst("RESULT ".count).utf8))
        return ChildRun(result: result, maxRSSKiB: Int(usage.ru_maxrss))
    }
}
