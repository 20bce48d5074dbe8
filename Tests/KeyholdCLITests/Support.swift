import Foundation
import KeyholdTestSupport
import Testing

/// Runs the built `keyhold` binary as a newcomer would, with text in and out.
struct CLI {
    static var binary: String { KeyholdBinary.path }

    struct Result { var status: Int32; var stdout: String; var stderr: String; var all: String { stdout + stderr } }

    /// Runs keyhold with `args`, `stdin` as input, and a test-only cheap KDF.
    static func run(_ args: [String], stdin: String = "", env: [String: String] = [:]) throws -> Result {
        let r = try KeyholdBinary.run(args, stdin: Data(stdin.utf8), env: env)
        return Result(status: r.status, stdout: r.text, stderr: r.stderr)
    }
}
