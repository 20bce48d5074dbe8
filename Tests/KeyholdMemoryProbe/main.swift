import Foundation
import Glibc
import KeyholdCLI
import KeyholdConsole
import KeyholdCore
import KeyholdTestSupport

// keyhold-memory-probe: a test-only program (no product depends on it) that runs the product's
// own code in this process, as the `keyhold` executable would, and then reads its own memory
// (/proc/self/maps, /proc/self/mem: `MemoryScan`) for copies of a password and a secret value.
//
//     keyhold-memory-probe MODE VAULT SECRET OUTPUT
//
// Standard input: the password, a line, and the secret's value, a line. They are read
// straight into guarded memory, the probe's only copies, which the scan skips. Standard output:
// one JSON object, {"exit": N, "phases": [{"name", "password": [hits], "value": [hits], ...}]},
// each hit an address and its mapping (never the bytes).
//
// MODE:
//   cli-tty    `keyhold secret show SECRET`, the password typed at its no-echo prompt on a
//              terminal (a pseudo-terminal the probe types into once echo is off).
//   cli-stdin  the same, the password piped on standard input.
//   cli-json   `secret show SECRET --json`, the password piped on standard input.
//   cli-env    the same, the password in KEYHOLD_PASSWORD (set by the test in this process's
//              environment); the first phase looks before `ProcessSetup.start` takes it.
//   console    the console's own code (model, update, view, CoreRunner; no terminal): the
//              password typed key by key into the login form, the value revealed, then hidden
//              with `h` and, revealed again, hidden by the clock.
// Each CLI mode then reveals the value through the core itself, holds it, and lets it go:
// the control that a value held in guarded memory is found.

/// One line of standard input, read byte by byte straight into guarded memory.
func readNeedle() throws -> SecureBytes? {
    var newline = false
    let line = try SecureBytes(capacity: 4096) { out in
        let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var n = 0
        while n < out.count {
            if read(STDIN_FILENO, base + n, 1) != 1 { break }
            if base[n] == 0x0A { newline = true; break }
            n += 1
        }
        return n
    }
    return newline && line.count > 0 ? line : nil
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("keyhold-memory-probe: \(message)\n".utf8))
    exit(2)
}

/// Writes `bytes` and a newline to `fd` from guarded memory.
func type(_ bytes: SecureBytes, to fd: Int32) {
    _ = bytes.withBytes { write(fd, $0.baseAddress, $0.count) }
    _ = write(fd, "\n", 1)
}

/// The probe's run: its needles, its report.
final class Probe {
    let vaultPath: String, secretName: String, outputPath: String
    let password: SecureBytes, value: SecureBytes
    /// Where the report goes: this process's standard output as it was (the command's goes to OUTPUT).
    let report = dup(STDOUT_FILENO)
    var phases: [[String: Any]] = []

    init(vaultPath: String, secretName: String, outputPath: String, password: SecureBytes, value: SecureBytes) {
        self.vaultPath = vaultPath; self.secretName = secretName; self.outputPath = outputPath
        self.password = password; self.value = value
    }

    /// Scans for both needles and records what was found.
    func phase(_ name: String, _ extra: [String: Any] = [:]) {
        // Both scans first: what the report needs is made after them (`MemoryScan` allocates nothing while it reads).
        let passwordHits = MemoryScan.find(password), valueHits = MemoryScan.find(value)
        var entry: [String: Any] = ["name": name]
        entry["password"] = passwordHits.map(\.description)
        entry["value"] = valueHits.map(\.description)
        for (k, v) in extra { entry[k] = v }
        phases.append(entry)
    }

    func finish(exit code: Int32) -> Never {
        let object: [String: Any] = ["exit": Int(code), "phases": phases]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { fail("no report") }
        _ = data.withUnsafeBytes { write(report, $0.baseAddress, $0.count) }
        exit(0)
    }

    /// Reveals the value through the core (the control): found while held, gone once let go.
    func controlThroughCore() {
        do {
            let vault = try Vault.open(at: vaultPath, options: VaultOptions())
            guard case .session(let session) = try vault.login(username: "admin", password: password) else { fail("control: no session") }
            var held: SecureBytes? = try session.reveal(secretName)
            phase("core: value held", ["held_bytes": held?.count ?? 0])
            held = nil
            phase("core: value let go")
        } catch {
            fail("control: \(error)")
        }
    }

    /// Runs `keyhold secret show SECRET` in this process, its standard output into OUTPUT.
    func showSecret(_ options: [String] = []) -> Int32 {
        let out = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { fail("cannot create \(outputPath)") }
        dup2(out, STDOUT_FILENO)
        close(out)
        let code = KeyholdCommand.run(arguments: ["secret", "show", secretName, "--db", vaultPath, "--no-agent"] + options)
        let null = open("/dev/null", O_RDWR)
        dup2(null, STDOUT_FILENO)
        dup2(null, STDIN_FILENO)
        close(null)
        return code
    }

    func run(_ mode: String) -> Never {
        switch mode {
        case "cli-env":
            phase("environment, before start")
            ProcessSetup.start()
            phase("environment, after start")
            let code = showSecret()
            phase("command done")
            controlThroughCore()
            finish(exit: code)

        case "cli-stdin", "cli-json":
            ProcessSetup.start()
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { fail("pipe") }
            dup2(fds[0], STDIN_FILENO)
            close(fds[0])
            type(password, to: fds[1])
            close(fds[1])
            phase("before the command")
            let code = showSecret(mode == "cli-json" ? ["--json"] : [])
            phase("command done")
            controlThroughCore()
            finish(exit: code)

        case "cli-tty":
            ProcessSetup.start()
            // posix_openpt, unlockpt and ptsname as Linux does them (Swift's Glibc module leaves them out).
            let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
            var unlock: Int32 = 0, number: UInt32 = 0
            let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
            guard master >= 0, ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
                fail("no pseudo-terminal")
            }
            let slave = open("/dev/pts/\(number)", O_RDWR | O_NOCTTY)
            guard slave >= 0 else { fail("cannot open the pseudo-terminal") }
            dup2(slave, STDIN_FILENO)
            phase("before the command")
            // The person types once the prompt has turned echo off (typed earlier, it would be flushed).
            let password = self.password
            let typist = Thread {
                var t = termios()
                for _ in 0..<4000 {
                    if tcgetattr(slave, &t) == 0, t.c_lflag & tcflag_t(ECHO) == 0 { break }
                    usleep(5000)
                }
                type(password, to: master)
            }
            typist.start()
            let code = showSecret()
            close(slave)
            close(master)
            phase("command done")
            controlThroughCore()
            finish(exit: code)

        case "console":
            ProcessSetup.start()
            console()
            finish(exit: 0)

        default:
            fail("unknown mode \(mode)")
        }
    }

    /// The console as its live loop drives it (Console.loop), minus the terminal: actions through
    /// update, effects run at once, a frame drawn whenever the model changed, the last drawn
    /// model kept (a copy of the model, as the loop keeps one).
    func console() {
        let runner = CoreRunner(path: vaultPath, options: VaultOptions())
        var settings = ConsoleSettings(vaultPath: vaultPath)
        do { settings.passwordMinLength = try runner.open().passwordMinLength } catch { fail("open: \(error)") }
        var now = Clock.system.now()
        var model = Model(settings: settings, vaultExists: true, now: now, username: "admin")
        var drawn: Model?
        var pending: [Effect] = []
        func send(_ action: Action) {
            let (next, fx) = Console.update(model, action)
            model = next
            pending += fx
        }
        func draw() {
            if drawn != model {
                _ = Console.view(model)
                drawn = model
            }
        }
        func press(_ key: Key) {
            send(.tick(now))
            send(.key(key))
            draw()
            while !pending.isEmpty {
                send(runner.run(pending.removeFirst()))
                draw()
            }
        }
        send(.resize(width: 100, height: 30))
        draw()
        phase("login form")
        password.withBytes { bytes in
            for b in bytes { press(.char(Character(Unicode.Scalar(b)))) }
        }
        phase("password typed", ["route": model.route.rawValue])
        press(.enter)
        phase("logged in", ["route": model.route.rawValue, "account": model.account?.username ?? ""])
        press(.char("3"))
        press(.char("v"))
        phase("value revealed", ["revealed": model.secrets.revealed?.name ?? "", "route": model.route.rawValue])
        press(.char("h"))
        phase("hidden with h", ["revealed": model.secrets.revealed?.name ?? ""])
        press(.char("v"))
        phase("revealed again", ["revealed": model.secrets.revealed?.name ?? ""])
        now += settings.revealFor + Clock.second
        send(.tick(now))
        draw()
        phase("hidden by the clock", ["revealed": model.secrets.revealed?.name ?? ""])
    }
}

let args = CommandLine.arguments
guard args.count == 5 else { fail("usage: keyhold-memory-probe MODE VAULT SECRET OUTPUT") }
guard let password = (try? readNeedle()) ?? nil, let value = (try? readNeedle()) ?? nil else {
    fail("give the password and the value on standard input")
}
setenv("KEYHOLD_USER", "admin", 1)
Probe(vaultPath: args[2], secretName: args[3], outputPath: args[4], password: password, value: value).run(args[1])
