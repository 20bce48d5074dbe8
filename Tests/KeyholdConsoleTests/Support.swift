import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The console over a real vault (cheap KDF, chosen explicitly), with effects
/// run synchronously, as the live runtime would run them on its queue.
struct Harness {
    let dir: TempDir
    let clock: TestClock
    let runner: CoreRunner
    var model: Model
    /// Every effect `update` asked for, in order.
    var effects: [Effect] = []
    /// Effects are run unless a test wants to inspect them first.
    var runEffects = true

    var path: String { dir.file("vault.db") }

    /// A console at first run: no vault yet.
    static func firstRun(width: Int = 80, height: Int = 24) -> Harness {
        let dir = TempDir()
        let clock = TestClock()
        let options = VaultOptions.insecureFastForTests(clock: clock.clock)
        let path = dir.file("vault.db")
        var h = Harness(
            dir: dir, clock: clock, runner: CoreRunner(path: path, options: options),
            model: Model(settings: Harness.settings(path), vaultExists: false, now: clock.now))
        h.send(.resize(width: width, height: height))
        return h
    }

    /// The path the console shows (the real one is a temporary directory, whose name varies).
    static let shownPath = "/srv/keyhold/vault.db"

    static func settings(_ path: String) -> ConsoleSettings {
        ConsoleSettings(vaultPath: shownPath)
    }

    /// A vault with an administrator, set up through the core; the console at its login screen.
    static func withVault(
        width: Int = 80, height: Int = 24,
        setUp: (Session, TestClock) throws -> Void = { _, _ in }
    ) throws -> Harness {
        let clock = TestClock()
        let vault = try Fixture(clock: clock)
        try setUp(vault.admin, clock)
        let runner = CoreRunner(path: vault.path, options: VaultOptions.insecureFastForTests(clock: clock.clock))
        runner.use(vault.vault)
        var h = Harness(
            dir: vault.dir, clock: clock, runner: runner,
            model: Model(settings: Harness.settings(vault.path), vaultExists: true, now: clock.now))
        h.send(.resize(width: width, height: height))
        return h
    }

    /// Logged in as `user` through the login form.
    static func loggedIn(
        as user: String = "admin", password: String = adminPassword, width: Int = 80, height: Int = 24,
        setUp: (Session, TestClock) throws -> Void = { _, _ in }
    ) throws -> Harness {
        var h = try withVault(width: width, height: height, setUp: setUp)
        h.logIn(user, password)
        #expect(h.model.route == .dashboard, "login of \(user) failed: \(h.screen.text)")
        h.model.toasts = []
        h.effects = []
        return h
    }

    mutating func logIn(_ user: String, _ password: String) {
        model.login.username = TextField(user, limit: 64)
        model.login.focus = .password
        type(password)
        key(.enter)
    }

    /// Applies an action, then runs the effects it asked for and feeds their results back.
    mutating func send(_ action: Action) {
        var queue = [action]
        while !queue.isEmpty {
            let a = queue.removeFirst()
            let (next, fx) = Console.update(model, a)
            model = next
            effects += fx
            if runEffects {
                for e in fx {
                    let sink = ActionSink()
                    let result = runner.run(e) { sink.add($0) }
                    queue += sink.actions + [result]
                }
            }
        }
    }

    /// A key press on the screen as drawn, preceded by a tick as the live loop sends. The loop
    /// draws before it reads a key; once the notice of an ended session is drawn it says so.
    mutating func key(_ k: Key) {
        if model.login.holdingKeys { send(.noticeShown) }
        send(.tick(clock.now))
        send(.key(k))
    }

    /// A key typed before the current model was drawn (typed ahead, read before the next frame).
    mutating func typedAhead(_ k: Key) {
        send(.tick(clock.now))
        send(.key(k))
    }

    mutating func keys(_ ks: Key...) { for k in ks { key(k) } }

    mutating func type(_ text: String) { for c in text { key(.char(c)) } }

    /// Moves time on and ticks.
    mutating func wait(_ ms: Int64) {
        clock.advance(ms)
        send(.tick(clock.now))
    }

    mutating func resize(_ w: Int, _ h: Int) { send(.resize(width: w, height: h)) }

    var screen: Screen { Console.view(model) }

    /// The session the runner holds (to check what the core recorded).
    var session: Session? { runner.session }
}

/// Compares a frame with the expected text (trailing blanks ignored). On a
/// mismatch the actual frame is written to /tmp/keyhold-snapshots/NAME.txt.
func expectScreen(
    _ screen: Screen, named name: String, _ expected: String, replacing: [String: String] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var actual = screen.text
    for (from, to) in replacing { actual = actual.replacingOccurrences(of: from, with: to) }
    if actual != expected {
        let dir = "/tmp/keyhold-snapshots"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? actual.write(toFile: "\(dir)/\(name).txt", atomically: true, encoding: .utf8)
        let a: [String] = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let e: [String] = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(_ l: [String], _ i: Int) -> String { i < l.count ? l[i] : "<none>" }
        var first = 0
        while first < max(a.count, e.count) && line(a, first) == line(e, first) { first += 1 }
        Issue.record(
            """
            screen \(name) differs at line \(first + 1):
              expected: \(line(e, first))
              actual:   \(line(a, first))
            full frame written to \(dir)/\(name).txt
            """, sourceLocation: sourceLocation)
    }
}

extension Screen {
    /// Every grapheme drawn, for checks that nothing unprintable reaches the terminal.
    var allScalars: [Unicode.Scalar] { cells.flatMap { Array($0.text.unicodeScalars) } }
}

/// Recording a new snapshot: write `SNAP` as the expected text, run the test, review
/// /tmp/keyhold-snapshots/NAME.txt and paste it in as a raw string literal (#"""...""").
let SNAP = "<record>"

/// Actions an effect hands over while it runs (rotation progress).
final class ActionSink: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Action] = []
    func add(_ a: Action) { lock.withLock { items.append(a) } }
    var actions: [Action] { lock.withLock { items } }
}

/// A recovery key's text in the three lines the console draws it in: its 13 groups as 5, 4 and 4.
func recoveryLines(_ key: String) -> [String] {
    let groups = key.split(separator: "-").map(String.init)
    guard groups.count == 13 else { return [key] }
    return [groups[0..<5], groups[5..<9], groups[9..<13]].map { $0.joined(separator: "-") }
}

extension Effect {
    /// The list a page read is for (nil for other effects).
    var pageList: Route? {
        switch self {
        case .users(.page): .users
        case .secrets(.page): .secrets
        case .audit(.page): .audit
        default: nil
        }
    }

    /// The list whose whole count this effect asks for, if it is one.
    var countList: Route? {
        switch self {
        case .users(.count): .users
        case .secrets(.count): .secrets
        case .audit(.count): .audit
        default: nil
        }
    }
}
