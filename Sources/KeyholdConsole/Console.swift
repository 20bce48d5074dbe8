import Foundation
import KeyholdCore
import Synchronization

/// The curses console: `keyhold` with no subcommand.
///
/// Model / update / view: `Model` is a value, `Console.update` turns keys,
/// ticks and effect results into the next model plus `Effect`s (core calls,
/// run by `CoreRunner` on a serial queue off the input path), and
/// `Console.view` draws the model into a `Screen` that `Backend` flushes
/// through ncursesw.
public enum Console {
    /// Opens the console on the vault at `vaultPath` (creating it on first
    /// run). Returns the process exit code: 0, 1 if the vault cannot be
    /// opened or its file was replaced while open, 64 without a terminal,
    /// 130 after Ctrl-C (the terminal is in raw mode, so it arrives as a key, and
    /// exits as an interrupt would), 128 + n after signal n.
    public static func run(vaultPath: String, options: VaultOptions) -> Int32 {
        run(vaultPath: vaultPath, options: options, settings: settingsFromEnvironment(vaultPath: vaultPath))
    }

    /// As `run(vaultPath:options:)`, through `agent` when there is one (the vault's agent serving
    /// this user): no password asked, the dashboard first. Leaves with 0 at its idle lock, 1 when
    /// the session or the agent ended. Closes `agent` before it returns.
    public static func run(vaultPath: String, options: VaultOptions, through agent: (any AccountRunner)?) -> Int32 {
        let env = ProcessInfo.processInfo.environment
        guard let agent else { return run(vaultPath: vaultPath, options: options) }
        defer { agent.close() }
        guard hasTerminal else { return run(vaultPath: vaultPath, options: options) }
        var settings = settingsFromEnvironment(vaultPath: vaultPath, environment: env)
        settings.viaAgent = true
        var model = Model(settings: settings, vaultExists: true, now: options.clock.now(), username: agent.account.username)
        guard let backend = Backend(wantColor: wantsColor(env)) else {
            printError("keyhold: cannot start the terminal (is TERM set?)")
            return 1
        }
        let queue = DispatchQueue(label: "keyhold.console.effects", qos: .userInitiated)
        let code = loop(
            &model, runner: agent, backend: backend, queue: queue, clock: options.clock, first: .session(.loggedIn(agent.account)))
        backend.stop()
        queue.sync {}
        if let leaving = model.leaving {
            printError("keyhold: \(Validate.visible(leaving.message))")
            return leaving.failed ? 1 : 0
        }
        return code
    }

    /// The accepted values of `KEYHOLD_IDLE_LOCK`, in seconds (0: never lock): up to a year.
    public static let idleLockRange = 0...31_536_000
    /// The accepted values of `KEYHOLD_REVEAL_SECONDS`: up to a day.
    public static let revealSecondsRange = 1...86_400

    /// `ConsoleSettings` from the environment: `KEYHOLD_IDLE_LOCK` (seconds,
    /// 0 for never; default 300) and `KEYHOLD_REVEAL_SECONDS` (default 30). A value that is
    /// not a whole number in its range (`idleLockRange`, `revealSecondsRange`) is ignored:
    /// the default holds (a huge one once overflowed the milliseconds and trapped).
    public static func settingsFromEnvironment(
        vaultPath: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ConsoleSettings {
        var s = ConsoleSettings(vaultPath: vaultPath)
        func seconds(_ name: String, _ range: ClosedRange<Int>) -> Int64? {
            environment[name].flatMap { try? Validate.number($0.trimmingSpaces, field: name, in: range) }.map { Int64($0) * Clock.second }
        }
        if let v = seconds("KEYHOLD_IDLE_LOCK", idleLockRange) { s.idleLock = v }
        if let v = seconds("KEYHOLD_REVEAL_SECONDS", revealSecondsRange) { s.revealFor = v }
        return s
    }

    /// Whether colours may be used: not when NO_COLOR is set to anything (no-color.org).
    static func wantsColor(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        (environment["NO_COLOR"] ?? "").isEmpty
    }

    public static func run(vaultPath: String, options: VaultOptions, settings: ConsoleSettings) -> Int32 {
        guard hasTerminal else {
            printError("keyhold: the console needs a terminal; for scripts use a subcommand (keyhold --help)")
            return 64
        }
        var settings = settings
        let runner = CoreRunner(path: vaultPath, options: options)
        let exists = Vault.exists(at: vaultPath)
        if exists {
            do {
                settings.passwordMinLength = try runner.open().passwordMinLength
            } catch {
                printError("keyhold: cannot open the vault at \(Validate.visible(vaultPath)): \(error)")
                return 1
            }
        } else {
            settings.passwordMinLength = options.passwordMinLength
        }
        let env = ProcessInfo.processInfo.environment
        let user = env["KEYHOLD_USER"].map { $0.trimmingSpaces } ?? ""
        var model = Model(settings: settings, vaultExists: exists, now: options.clock.now(), username: user)

        guard let backend = Backend(wantColor: wantsColor(env)) else {
            printError("keyhold: cannot start the terminal (is TERM set?)")
            return 1
        }
        let queue = DispatchQueue(label: "keyhold.console.effects", qos: .userInitiated)
        let code = loop(&model, runner: runner, backend: backend, queue: queue, clock: options.clock)
        backend.stop()
        // Let a core call in flight finish its transaction before the process ends.
        queue.sync {}
        // Stopped because the vault file was replaced: the reason stays on the terminal, and the exit says so.
        if let why = model.stopped {
            printError("keyhold: \(Validate.visible(why))")
            return 1
        }
        return code
    }

    /// Results of effects, handed from the effect queue to the input loop.
    final class Mailbox: Sendable {
        private let actions = Mutex<[Action]>([])
        func post(_ a: Action) { actions.withLock { $0.append(a) } }
        func take() -> [Action] {
            actions.withLock { a in
                defer { a = [] }; return a
            }
        }
        var isEmpty: Bool { actions.withLock { $0.isEmpty } }
    }

    /// The input loop: keys and results in, frames out, effects to `runner` on `queue`. `first`,
    /// when given, is applied once the size is known (through an agent: the login it stands for).
    static func loop(
        _ model: inout Model, runner: any EffectRunner, backend: Backend, queue: DispatchQueue, clock: Clock, first: Action? = nil
    ) -> Int32 {
        let mailbox = Mailbox()
        runner.watch { mailbox.post($0) }
        var drawn: Model?
        var lastTick: Int64 = 0

        func send(_ action: Action) {
            let (next, effects) = update(model, action)
            model = next
            for effect in effects {
                queue.async { mailbox.post(runner.run(effect) { mailbox.post($0) }) }
            }
        }

        let size = backend.size
        send(.resize(width: size.width, height: size.height))
        if let first { send(.tick(clock.now())); send(first) }
        while true {
            if drawn != model {
                backend.draw(view(model))
                drawn = model
                // The notice of an ended session is on screen: keys typed before it are dropped, the next ones act.
                if model.login.holdingKeys {
                    backend.discardTypeahead()
                    send(.noticeShown)
                }
            }
            if model.quit { return model.interrupted ? 130 : 0 }
            switch backend.takeSignal() {
            case .none: break
            case .suspend:
                backend.suspend()
                drawn = nil
                continue
            case .terminate(let n):
                return 128 + n
            }
            let input = backend.read(timeout: mailbox.isEmpty ? 100 : 0)
            let now = clock.now()
            // Results that came in while waiting for the key are applied first: a login that
            // succeeded meanwhile takes the key to the dashboard rather than to the busy login form.
            for action in mailbox.take() { send(action) }
            switch input {
            case .key(.ctrl("z")):
                backend.suspend()
                drawn = nil
            case .key(.ctrl("l")):
                backend.invalidate()
                drawn = nil
            case .key(let key):
                send(.tick(now))
                lastTick = now
                send(.key(key))
            case .resize:
                backend.invalidate()
                drawn = nil
                let size = backend.size
                send(.resize(width: size.width, height: size.height))
            case .none:
                break
            }
            for action in mailbox.take() { send(action) }
            if now - lastTick >= 250 {
                send(.tick(now))
                lastTick = now
            }
        }
    }

    /// Whether standard input and output are a terminal (else `run` refuses with exit code 64).
    public static var hasTerminal: Bool { Backend.isTerminal() }

    /// One line on stderr, through write(2): a closed stderr is ignored (FileHandle.write would trap).
    static func printError(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return }
            var offset = 0
            while offset < b.count {
                let n = write(STDERR_FILENO, base + offset, b.count - offset)
                if n < 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}
