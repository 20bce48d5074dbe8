import Foundation

/// Runs a program on a pseudo-terminal (standard input, output and error all on it, as in
/// an interactive shell) and answers its prompts, the way a person at the keyboard would.
/// Driven by python3's `pty` (the tests' python, `KEYHOLD_PYTHON`), so the program sees a
/// real terminal: `isatty` is true, no-echo prompts turn echo off.
public enum PseudoTerminal {
    /// One answer: when `prompt` (a regular expression) appears in what was printed since the
    /// last answer, `reply` is typed with a newline. A reply of `nil` types the first group of
    /// `from` (a regular expression searched in everything printed so far), e.g. a key shown
    /// earlier. A rule may answer many times; `times` limits it (nil: no limit). `secret`: a
    /// no-echo prompt, answered once echo is off (it flushes what was typed before).
    public struct Answer: Encodable, Sendable {
        public var prompt: String
        public var reply: String?
        public var from: String?
        public var times: Int?
        public var secret: Bool
        public init(_ prompt: String, reply: String, times: Int? = nil, secret: Bool = false) {
            self.prompt = prompt; self.reply = reply; self.times = times; self.secret = secret
        }
        public init(_ prompt: String, from: String, times: Int? = nil, secret: Bool = false) {
            self.prompt = prompt; self.from = from; self.times = times; self.secret = secret
        }
    }

    public struct Result {
        /// The exit status (a program killed by signal N: 200+N; 124 when it ran past the timeout).
        public var status: Int32
        /// Everything the terminal showed, both streams interleaved, with `\r\n` as `\n`.
        public var transcript: String
        /// How many answers were typed.
        public var answered: Int
    }

    static let script = #"""
        import json, os, pty, re, select, signal, sys, termios, time
        spec = json.loads(sys.stdin.read())
        pid, fd = pty.fork()
        if pid == 0:
            if spec.get("cwd"):
                os.chdir(spec["cwd"])
            os.execve(spec["argv"][0], spec["argv"], spec["env"])
        answers = spec["answers"]
        used = [0] * len(answers)
        out, pos, typed = b"", 0, 0
        deadline = time.time() + spec["timeout"]
        def echo_off():
            try:
                return not (termios.tcgetattr(fd)[3] & termios.ECHO)
            except termios.error:
                return False
        def answer():
            global pos, typed
            text = out.decode("utf-8", "replace")
            best = None
            for i, a in enumerate(answers):
                if a.get("times") is not None and used[i] >= a["times"]:
                    continue
                m = re.compile(a["prompt"]).search(text, pos)
                if m and (best is None or m.start() < best[1].start()):
                    best = (i, m)
            if best is None:
                return False
            i, m = best
            a = answers[i]
            reply = a.get("reply")
            if reply is None:
                found = re.search(a["from"], text)
                reply = found.group(1) if found else ""
            # A no-echo prompt flushes what was typed before it turned echo off: wait for that.
            settle = time.time() + 5
            while a.get("secret") and time.time() < settle and not echo_off():
                time.sleep(0.02)
            time.sleep(0.05)
            os.write(fd, reply.encode() + b"\n")
            used[i] += 1
            typed += 1
            pos = m.end()
            return True
        status = None
        while True:
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = 124
                break
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                out += chunk
                while answer():
                    pass
        if status is None:
            _, st = os.waitpid(pid, 0)
            status = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 200 + os.WTERMSIG(st)
        sys.stdout.write(json.dumps({"status": status, "answered": typed,
                                     "transcript": out.decode("utf-8", "replace").replace("\r\n", "\n")}))
        """#

    private struct Spec: Encodable {
        var argv: [String]
        var env: [String: String]
        var cwd: String?
        var answers: [Answer]
        var timeout: Double
    }

    /// Runs `program` (an absolute path) with `args` in exactly `env`, in `cwd`, answering
    /// prompts with `answers`; gives up after `timeout` seconds.
    public static func run(
        _ program: String, _ args: [String], env: [String: String], cwd: String? = nil,
        answers: [Answer] = [], timeout: Double = 120
    ) throws -> Result {
        let spec = Spec(argv: [program] + args, env: env, cwd: cwd, answers: answers, timeout: timeout)
        let python = ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"] ?? "python3"
        let r = try Subprocess.run(
            "/usr/bin/env", [python, "-c", script], stdin: try JSONEncoder().encode(spec),
            env: ProcessInfo.processInfo.environment)
        guard r.status == 0,
            let o = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any],
            let status = o["status"] as? Int, let transcript = o["transcript"] as? String, let answered = o["answered"] as? Int
        else { throw TestFailure("the pseudo-terminal driver failed (\(r.status)): \(r.stderr)") }
        return Result(status: Int32(status), transcript: transcript, answered: answered)
    }

    /// Runs the built keyhold on a pseudo-terminal, in `KeyholdBinary.environment(env)`.
    public static func keyhold(
        _ args: [String], env: [String: String] = [:], cwd: String? = nil,
        answers: [Answer] = [], timeout: Double = 120
    ) throws -> Result {
        try run(KeyholdBinary.path, args, env: KeyholdBinary.environment(env), cwd: cwd, answers: answers, timeout: timeout)
    }
}
