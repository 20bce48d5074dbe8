import Foundation
import Glibc
import KeyholdConsole
import KeyholdCore
import KeyholdTestSupport

// The console over a large vault: one child process builds
// a vault of users and secrets; then, for each screen size and run, a fresh
// child process logs in and drives the console's own code (the CoreRunner's
// effects, Console.update and Console.view into a Screen), timing what a
// person waits for: the first frame after login, opening Users, Secrets and
// Audit (each a page read and a count), and filter keystrokes up to the frame
// with the query's answer. Its peak resident set is its own (wait4).

/// The console's targets (README, "Performance").
enum ConsoleTarget {
    /// A filter keystroke, through the frame with its query's answer, within this, seconds.
    static let keystroke = 0.010
    /// The first frame after login (password hashing excluded), seconds.
    static let firstFrame = 0.050
    /// Opening a list (its first page and count read, the frame drawn), seconds.
    static let openList = 0.050
    /// Resident memory of the console process, KiB.
    static let memoryKiB = 150 * 1024
}

/// The users of the console workload: application accounts shaped like real ones.
enum UserWorkload {
    static let firstNames = [
        "maria", "james", "li", "fatima", "olga", "noah", "amara", "sven", "priya", "diego",
        "yuki", "omar", "chloe", "ivan", "zara", "tomas", "aisha", "lukas", "mei", "samuel"
    ]
    static let lastNames = [
        "berg", "smith", "chen", "okafor", "novak", "garcia", "kim", "muller", "rossi", "haddad",
        "silva", "kowalski", "tanaka", "dubois", "jensen", "patel", "murphy", "costa", "weber", "ali",
        "nguyen", "larsen", "moreau", "schmidt", "ivanova", "santos", "fischer", "yilmaz", "brown",
        "martin", "lopez"
    ]

    /// One precomputed Argon2id hash (argon2-cffi 25.1.0 defaults: m=64 MiB, t=3, p=4), reused for
    /// every account: the import keeps hashes as given, so 100,000 Argon2 runs would only cost time.
    static let passwordHash = "$argon2id$v=19$m=65536,t=3,p=4$xQXwLqdUniZtfPR4K2kl2w$59sEl7ODLd197aJBsF3cLEtmFODriq259tzyl0XHWiU"

    /// The role every imported account gets: the built-in `user` (no permissions), as docs/APPLICATIONS.md suggests.
    static let role = "user"

    static func first(_ i: Int) -> String { firstNames[i % firstNames.count] }
    static func last(_ i: Int) -> String { lastNames[(i / firstNames.count) % lastNames.count] }
    static func username(_ i: Int) -> String { "\(first(i)).\(last(i))\(i)" }

    static func entry(_ i: Int) -> AppUserEntry {
        let name = username(i)
        return AppUserEntry(
            username: name, email: name + "@example.com",
            displayName: first(i).capitalized + " " + last(i).capitalized,
            passwordHash: passwordHash, origin: "user \(i)")
    }
}

/// Filter keystrokes typed on a list: text to type, `⌫` for Backspace.
enum TypedFilter {
    /// On Users: a name, part of a name with digits, the e-mail domain, a miss.
    static let users = keys("maria.berg⌫⌫⌫⌫⌫⌫⌫⌫⌫⌫berg47⌫⌫⌫⌫⌫⌫@example⌫⌫⌫⌫⌫⌫⌫⌫x⌫")
    /// On Secrets: a service, an application, a word every name has, a miss.
    static let secrets = keys("service-47⌫⌫⌫⌫⌫⌫⌫⌫⌫⌫app63/⌫⌫⌫⌫⌫⌫token⌫⌫⌫⌫⌫prod⌫⌫⌫⌫")

    static func keys(_ script: String) -> [Key] { script.map { $0 == "⌫" ? .backspace : .char($0) } }
}

/// What the vault-building child did.
struct ConsoleBuildResult: Codable {
    var users: Int
    var secrets: Int
    var userImportSeconds: Double
    var secretImportSeconds: Double
    /// Secrets given a rotate-by date (past, near and far), one core call each.
    var rotateByCount: Int
    var checked: String
}

/// What one measuring child saw, seconds unless named otherwise.
struct ConsoleResult: Codable {
    var width: Int
    var height: Int
    /// From the `loggedIn` action through the dashboard load to a drawn frame.
    var firstFrame: Double
    /// CPU time of this thread over the same span (the rest is waiting: for the disk, or for a CPU).
    var firstFrameCPU: Double
    /// Of the wall time, in the core (the dashboard load effect).
    var firstFrameCore: Double
    /// From the key that opens Users through its page read to the first frame with rows (the
    /// title's count still on its way).
    var usersFrame: Double
    var usersCore: Double
    var secretsFrame: Double
    var secretsCore: Double
    var auditFrame: Double
    var auditCore: Double
    /// Each filter keystroke: tick and key through `update`, the frame, the page read it
    /// asks for, and the frame with its answer; wall and CPU time.
    var userKeystrokes: [Double]
    var userKeystrokesCPU: [Double]
    var secretKeystrokes: [Double]
    var secretKeystrokesCPU: [Double]
    /// The dashboard's counts of users, secrets and events (whole tables), the effect after the first frame, to its frame.
    var dashboardCounts: Double
    /// Each list's count of its rows (a whole table), the effect after its first frame, to its frame.
    var usersCount: Double
    var secretsCount: Double
    var auditCount: Double
    /// The audit check the dashboard starts along with its load (a separate effect, after the first frame).
    var auditVerify: Double
    /// Peak resident set (KiB) after logging in, after the dashboard, Users and Secrets.
    var rssLoginKiB: Int
    var rssDashboardKiB: Int
    var rssUsersKiB: Int
    var rssSecretsKiB: Int
    var rssAuditKiB: Int
    var checked: String
}

enum ConsoleChild {
    static let admin = "bench"

    /// Reads the password the parent wrote to standard input (never argv).
    static func passwordFromStandardInput() throws -> SecureBytes {
        var buffer = [UInt8](repeating: 0, count: 256)
        defer { for k in buffer.indices { buffer[k] = 0 } }
        var n = 0
        while n < buffer.count {
            let r = read(0, &buffer[n], buffer.count - n)
            if r > 0 { n += r } else if r == 0 || errno != EINTR { break }
        }
        guard n > 0 else { throw BenchFailure("no password on standard input") }
        return try SecureBytes(copying: buffer[..<n])
    }

    /// Builds the vault at `path`: `users` application accounts (the core's import, one
    /// precomputed hash), `secrets` secrets (the batch import), and rotate-by dates on a few.
    static func build(path: String, users: Int, secrets: Int, seed: UInt64, password: SecureBytes) throws -> ConsoleBuildResult {
        let (session, _) = try Vault.create(at: path, admin: admin, password: password, options: .insecureFastForTests())

        let entries = (0..<users).map(UserWorkload.entry)
        var imported = 0
        let userTime = try measure { imported = try session.importAppUsers(entries, roles: [UserWorkload.role]).imported }
        guard imported == users else { throw BenchFailure("user import made \(imported) of \(users)") }

        var created = 0
        let secretTime = try measure {
            created = try session.importSecrets(from: BenchSource(count: secrets, seed: seed), onExisting: .fail).created
        }
        guard created == secrets else { throw BenchFailure("secret import created \(created) of \(secrets)") }

        // A few rotate-by dates, so the dashboard has warnings to find: 100 past, 100 due within
        // the console's 14 days, 100 later; spread over the names.
        let now = Clock.system.now()
        let dated = min(300, secrets)
        for k in 0..<dated {
            let when: Int64 =
                switch k % 3 {
                case 0: now - Int64(1 + k) * Clock.hour
                case 1: now + Int64(1 + k) * Clock.hour
                default: now + 30 * Clock.day + Int64(k) * Clock.hour
                }
            try session.setRotateBy(Workload.name(k * (secrets / dated)), at: when)
        }

        // Real rows: counted by the vault, and a spread of accounts read back with their hash's scheme.
        let summary = try session.vault.summary()
        guard summary.users == users + 1, summary.secrets == secrets else {
            throw BenchFailure("the vault holds \(summary.users) users and \(summary.secrets) secrets")
        }
        let samples = Array(Set((0..<20).map { $0 * (users - 1) / 19 })).sorted()
        for i in samples {
            let u = try session.user(named: UserWorkload.username(i))
            guard u.passwordScheme == "argon2id", u.roles == [UserWorkload.role], u.email == UserWorkload.entry(i).email else {
                throw BenchFailure("\(UserWorkload.username(i)) was not imported as given")
            }
        }
        return ConsoleBuildResult(
            users: users, secrets: secrets, userImportSeconds: userTime.wall,
            secretImportSeconds: secretTime.wall, rotateByCount: dated,
            checked: "\(summary.users) users and \(summary.secrets) secrets in the vault; "
                + "\(samples.count) imported accounts read back with their Argon2id hash, e-mail and role")
    }

    /// The console as the live loop drives it, minus the terminal: actions through `update`,
    /// effects run at once by the runner (the live loop runs them on a queue), frames drawn
    /// with `view` whenever the model changed.
    struct Driver {
        let runner: CoreRunner
        var model: Model
        var drawn: Model?
        var frame: Screen?
        var pending: [Effect] = []
        /// Wall time spent in the runner (the core), so far.
        var coreSeconds = 0.0

        /// Applies an action; effects are kept in `pending` until `runEffects`.
        mutating func send(_ action: Action) {
            let (next, fx) = Console.update(model, action)
            model = next
            pending += fx
        }

        /// Draws a frame if the model changed since the last one (as the live loop does).
        mutating func draw() {
            if drawn != model {
                frame = Console.view(model)
                drawn = model
            }
        }

        /// Runs the pending effects `wanted` picks, in order, feeding their results back (and
        /// running what those ask for in turn); the others stay pending.
        mutating func runEffects(where wanted: (Effect) -> Bool = { _ in true }) {
            while let i = pending.firstIndex(where: wanted) {
                let effect = pending.remove(at: i)
                var action: Action?
                coreSeconds += ConsoleChild.time { action = runner.run(effect) }.wall
                if let action { send(action) }
            }
        }

        /// A key press as the live loop sends it (a tick, then the key), then the frame.
        mutating func press(_ key: Key) {
            send(.tick(Clock.system.now()))
            send(.key(key))
            draw()
        }
    }

    /// Logs in over the vault at `path` in this fresh process and measures the console.
    static func measureConsole(path: String, width: Int, height: Int, password: SecureBytes) throws -> ConsoleResult {
        let options = VaultOptions.insecureFastForTests()
        let runner = CoreRunner(path: path, options: options)
        try runner.open()
        var d = Driver(
            runner: runner,
            model: Model(
                settings: ConsoleSettings(vaultPath: path), vaultExists: true,
                now: Clock.system.now(), username: admin))
        d.send(.resize(width: width, height: height))
        d.draw()

        // Logging in (the password hashing) is not measured.
        let login = runner.run(.session(.login(username: admin, password: Sensitive(password))))
        guard case .session(.loggedIn) = login else { throw BenchFailure("login failed: \(login)") }
        let rssLogin = Resources.peakRSS()

        // (a) The first frame after login: loggedIn, the frame drawn while loading, the
        // dashboard load, the frame with its data. The audit check runs after it.
        let core0 = d.coreSeconds
        let first = time {
            d.send(login)
            d.draw()
            d.runEffects { if case .dashboard(.load) = $0 { true } else { false } }
            d.draw()
        }
        let core = d.coreSeconds - core0
        guard d.model.route == .dashboard, d.model.dashboard.data != nil, d.frame?.text.contains("past its rotate-by date") == true
        else {
            throw BenchFailure("the dashboard did not show its warnings:\n\(d.frame?.text ?? "")")
        }
        // Then the counts (whole tables), which the first frame shows as "counting…".
        let counting = time {
            d.runEffects { $0 == .dashboard(.count) }
            d.draw()
        }.wall
        guard let summary = d.model.dashboard.summary, d.frame?.text.contains("Users         \(summary.users)") == true else {
            throw BenchFailure("the dashboard did not show the counts:\n\(d.frame?.text ?? "")")
        }
        let audit = time { d.runEffects { $0 == .audit(.verify) } }.wall
        d.runEffects()  // the check for an interrupted rotation, also started at login
        d.draw()
        guard case .done(let verification) = d.model.audit.check, verification.failure == nil else {
            throw BenchFailure("the audit chain did not verify: \(d.model.audit.check)")
        }
        let rssDashboard = Resources.peakRSS()

        // (b) Users, Secrets, Audit: the key, the page read, the first frame with rows; then the
        // count of the whole list (its own effect), to the frame whose title shows it.
        /// `firstRow`: text the selected row starts with (a column may cut the rest), which the first frame shows.
        func open(_ key: Character, _ name: String, _ count: Int?, firstRow: (Model) -> String?) throws -> (
            frame: Double, core: Double, count: Double
        ) {
            let core0 = d.coreSeconds
            let total = time {
                d.press(.char(key))
                d.runEffects {
                    switch $0 {
                    case .users(.page), .secrets(.page), .audit(.page): true
                    default: false
                    }
                }
                d.draw()
            }.wall
            let core = d.coreSeconds - core0
            // The first frame has the rows, its title the count as pending ("(…)").
            guard let row = firstRow(d.model), d.frame?.text.contains(row) == true, d.frame?.text.contains(name + " (…)") == true
            else {
                throw BenchFailure("\(name) did not open with its rows:\n\(d.frame?.text ?? "")")
            }
            let counted = time {
                d.runEffects {
                    switch $0 {
                    case .users(.count), .secrets(.count), .audit(.count): true
                    default: false
                    }
                }
                d.draw()
            }.wall
            let title = name + " (" + (count.map(String.init) ?? "")
            guard d.frame?.text.contains(title) == true, d.frame?.text.contains(name + " (…)") == false else {
                throw BenchFailure("\(name) did not show its count \(title):\n\(d.frame?.text ?? "")")
            }
            d.runEffects()  // the selected secret's versions: after the frame, as in the live loop
            d.draw()
            return (total, core, counted)
        }
        let users = try open("2", "Users", summary.users) { $0.users.rows.selectedItem.map { "› " + $0.username.prefix(8) } }
        let userCount = d.model.users.rows.count
        let userKeys = try typeFilter(&d, TypedFilter.users, rows: \.users.rows.count)
        let rssUsers = Resources.peakRSS()
        let secrets = try open("3", "Secrets", summary.secrets) { $0.secrets.rows.selectedItem.map { "› " + $0.name.prefix(8) } }
        let secretKeys = try typeFilter(&d, TypedFilter.secrets, rows: \.secrets.rows.count)
        let rssSecrets = Resources.peakRSS()
        let auditOpen = try open("4", "Audit log", nil) { m in m.audit.rows.selectedItem.map { "\($0.seq) " } }
        let events = d.model.audit.rows.count
        guard events >= summary.auditEvents, d.model.audit.rows.selectedItem?.action == "login" else {
            throw BenchFailure("Audit shows \(events) events, newest \(d.model.audit.rows.selectedItem?.action ?? "none")")
        }
        let rssAudit = Resources.peakRSS()

        // The filter finds what a plain search of the workload's accounts finds (counted up to
        // the list's cap, as the title says "1000+" beyond it).
        let probe = "maria.berg"
        let expected = (0..<summary.users - 1).filter { i in
            let e = UserWorkload.entry(i)
            return [e.username, e.email ?? "", e.displayName].contains { $0.lowercased().contains(probe) }
        }.count
        let title = expected > PagedList<UserInfo>.countCap ? "\(PagedList<UserInfo>.countCap)+" : String(expected)
        d.press(.char("2"))
        d.press(.char("/"))
        for c in probe {
            d.press(.char(c))
            d.runEffects { if case .users(.page) = $0 { true } else { false } }
            d.draw()
        }
        guard d.frame?.text.contains("Users (\(title) of \(summary.users))") == true,
            d.model.users.rows.items.allSatisfy({ $0.username.contains(probe) }), !d.model.users.rows.items.isEmpty
        else {
            throw BenchFailure("filtering users on \(probe) shows \(d.model.users.rows.countText), a search finds \(expected)")
        }
        // Scrolling to the end and back: the last row of a million by a keyset read.
        d.press(.escape)  // clears the filter
        d.runEffects(); d.press(.end); d.runEffects(); d.draw()
        let last = d.model.users.rows.selectedItem?.username
        return ConsoleResult(
            width: width, height: height, firstFrame: first.wall, firstFrameCPU: first.cpu, firstFrameCore: core,
            usersFrame: users.frame, usersCore: users.core, secretsFrame: secrets.frame,
            secretsCore: secrets.core, auditFrame: auditOpen.frame, auditCore: auditOpen.core,
            userKeystrokes: userKeys.map(\.wall), userKeystrokesCPU: userKeys.map(\.cpu),
            secretKeystrokes: secretKeys.map(\.wall), secretKeystrokesCPU: secretKeys.map(\.cpu),
            dashboardCounts: counting, usersCount: users.count, secretsCount: secrets.count, auditCount: auditOpen.count,
            auditVerify: audit, rssLoginKiB: rssLogin, rssDashboardKiB: rssDashboard,
            rssUsersKiB: rssUsers, rssSecretsKiB: rssSecrets, rssAuditKiB: rssAudit,
            checked: "the dashboard shows \(summary.users) users and overdue secrets; Users shows \(userCount), "
                + "Secrets \(summary.secrets), Audit \(events) events; the audit chain (\(verification.events) events) verifies; "
                + "filtering users on \"\(probe)\" shows \(title) of the \(expected) a plain search finds; "
                + "End selects \(last ?? "nothing")")
    }

    /// Opens the filter (`/`), times each keystroke of `keys`, then clears it (Esc).
    static func typeFilter(_ d: inout Driver, _ keys: [Key], rows: KeyPath<Model, Int>) throws -> [(wall: Double, cpu: Double)] {
        d.press(.char("/"))
        var times: [(wall: Double, cpu: Double)] = []
        var shown = Set<Int>()
        for key in keys {
            // The keystroke's frame, then its query and the frame with the answer.
            times.append(
                time {
                    d.press(key)
                    d.runEffects {
                        switch $0 {
                        case .users(.page), .secrets(.page), .audit(.page): true;
                        default: false
                        }
                    }
                    d.draw()
                })
            shown.insert(d.model[keyPath: rows])
            // Loading the new selection's versions happens off the input path, after the frame.
            d.runEffects()
            d.draw()
        }
        d.press(.escape)
        // Clearing the filter reads the list again around the selection: not part of the next open.
        d.runEffects()
        d.draw()
        guard shown.count > 2 else { throw BenchFailure("the filter did not change what the list shows") }
        return times
    }

    /// Wall time and this thread's CPU time of `body`, seconds.
    static func time(_ body: () -> Void) -> (wall: Double, cpu: Double) {
        func cpu() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        let c0 = cpu(), t0 = ContinuousClock.now
        body()
        return ((ContinuousClock.now - t0).seconds, cpu() - c0)
    }
}

/// The console part of the report, from the runs of every screen size.
struct ConsoleReport {
    var build: ConsoleBuildResult
    var buildRSSKiB: Int
    /// Runs by screen size ("200x50"), in the order measured.
    var runs: [(size: String, results: [(result: ConsoleResult, maxRSSKiB: Int)])]
    /// The page queries and `secret list --json` over the same vault.
    var pages: PagesReport?

    func all<T>(_ f: (ConsoleResult) -> T) -> [T] { runs.flatMap { $0.results.map { f($0.result) } } }
    var peakRSS: Int { runs.flatMap { $0.results.map(\.maxRSSKiB) }.max() ?? 0 }
    var firstFrame: Double { median(all(\.firstFrame)) }
    var keystrokes: [Double] { all(\.userKeystrokes).flatMap { $0 } + all(\.secretKeystrokes).flatMap { $0 } }
    var keystrokesCPU: [Double] { all(\.userKeystrokesCPU).flatMap { $0 } + all(\.secretKeystrokesCPU).flatMap { $0 } }

    var keystrokeOK: Bool { median(keystrokes) < ConsoleTarget.keystroke }
    var firstFrameOK: Bool { firstFrame < ConsoleTarget.firstFrame }
    /// Opening Users, Secrets and Audit: the median of each, and the slowest of those medians judged.
    var openList: Double { [all(\.usersFrame), all(\.secretsFrame), all(\.auditFrame)].map(median).max() ?? .nan }
    var openListOK: Bool { openList < ConsoleTarget.openList }
    var memoryOK: Bool { peakRSS < ConsoleTarget.memoryKiB }

    static func ms(_ s: Double) -> String { fixed(s * 1000, s < 0.1 ? 2 : 1) + " ms" }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }

    func markdown(runsPerSize: Int) -> String {
        let b = build
        var s = """
            ## Console over \(grouped(b.users)) users and \(grouped(b.secrets)) secrets

            One child process builds the vault (\(grouped(b.users)) application accounts through `Session.importAppUsers`, all
            with one precomputed Argon2id hash and the role `\(UserWorkload.role)`, in \(fixed(b.userImportSeconds, 1)) s;
            \(grouped(b.secrets)) secrets through `Session.importSecrets(from:)` in \(fixed(b.secretImportSeconds, 1)) s; rotate-by dates on
            \(b.rotateByCount) of them, a third past, a third within 14 days). Then, per screen size, \(runsPerSize) fresh child processes
            each log in (not timed) and drive the console's own code: `CoreRunner` runs the effects (synchronously here,
            on a queue in the live console) and `Console.update` / `Console.view` make each frame into a `Screen` buffer,
            drawn only when the model changed, as the live loop does. Nothing reaches a terminal.

            - First frame: from the `loggedIn` action through the frame drawn while loading, the dashboard load
              effect, to the frame with its data: settings, key status, rotate-by warnings, one's roles. The
              counts of users, secrets and events (whole tables) come in the next effect and frame ("counts",
              shown as "counting…" until then), and the audit check after that; both timed apart.
            - Open Users / Secrets / Audit: the key, the page read around the screen (`PagedList`,
              `Session.userPage` / `secretPage` / `auditPage`), to the first frame with rows. The count of the whole
              list comes in the next effect and frame ("list counts", the title showing "(…)" until then), timed apart.
            - "(core)": of that wall time, what was spent in `CoreRunner` (the `Session` call and its SQL).
            - Filter keystroke: a tick and the key through `update`, `view`, the page read it asks for (a substring
              query with a count up to 1,000), and `view` again with its answer.
              Users: \(TypedFilter.users.count) keys typing and deleting `maria.berg`, `berg47`, `@example`, `x`; Secrets:
              \(TypedFilter.secrets.count) keys with `service-47`, `app63/`, `token`, `prod`. Loading the newly selected
              secret's versions (off the input path) is not in the keystroke.
            - Memory: peak resident set of the whole measuring process (wait4 `ru_maxrss`), with the dashboard
              and each list opened (a window of rows each, never every row).

            | target | median | CPU time (median) | worst | |
            |---|---:|---:|---:|:---:|
            | filter keystroke < \(Self.ms(ConsoleTarget.keystroke)) (\(keystrokes.count) keystrokes) | \(Self.ms(median(keystrokes))) | \(Self.ms(median(keystrokesCPU))) | 95th percentile \(Self.ms(Self.percentile(keystrokes, 0.95))), slowest \(Self.ms(keystrokes.max() ?? .nan)) | \(verdict(keystrokeOK)) |
            | first frame after login < \(Self.ms(ConsoleTarget.firstFrame)) (\(all(\.firstFrame).count) logins) | \(Self.ms(firstFrame)) | \(Self.ms(median(all(\.firstFrameCPU)))) | slowest \(Self.ms(all(\.firstFrame).max() ?? .nan)) | \(verdict(firstFrameOK)) |
            | opening a list < \(Self.ms(ConsoleTarget.openList)) (the slowest list's median) | \(Self.ms(openList)) | | Users \(Self.ms(median(all(\.usersFrame)))), Secrets \(Self.ms(median(all(\.secretsFrame)))), Audit \(Self.ms(median(all(\.auditFrame)))) | \(verdict(openListOK)) |
            | resident memory < \(mib(ConsoleTarget.memoryKiB)) | \(mib(Int(median(runs.flatMap { $0.results.map { Double($0.maxRSSKiB) } })))) | | highest \(mib(peakRSS)) | \(verdict(memoryOK)) |

            Wall time is what the targets are judged on; CPU time (this thread's, `CLOCK_THREAD_CPUTIME_ID`) leaves out
            the time spent waiting for the disk or, on this shared machine, for a CPU.

            By screen size (medians of \(runsPerSize) processes; keystrokes: median of all of them, wall (CPU)):

            | size | first frame (core) | counts | open Users (core) | open Secrets (core) | open Audit (core) | list counts: Users, Secrets, Audit | keystroke Users | keystroke Secrets | audit check | peak RSS |
            |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|

            """
        for (size, results) in runs {
            let r = results.map(\.result)
            func m(_ f: (ConsoleResult) -> Double) -> String { Self.ms(median(r.map(f))) }
            s +=
                "| \(size) | \(m(\.firstFrame)) (\(m(\.firstFrameCore))) | \(m(\.dashboardCounts)) | \(m(\.usersFrame)) (\(m(\.usersCore))) | "
                + "\(m(\.secretsFrame)) (\(m(\.secretsCore))) | \(m(\.auditFrame)) (\(m(\.auditCore))) | "
                + "\(m(\.usersCount)), \(m(\.secretsCount)), \(m(\.auditCount)) | \(Self.ms(median(r.flatMap(\.userKeystrokes)))) "
                + "(\(Self.ms(median(r.flatMap(\.userKeystrokesCPU))))) | \(Self.ms(median(r.flatMap(\.secretKeystrokes)))) "
                + "(\(Self.ms(median(r.flatMap(\.secretKeystrokesCPU))))) | \(m(\.auditVerify)) | "
                + "\(mib(Int(median(results.map { Double($0.maxRSSKiB) })))) |\n"
        }
        let rss = runs.flatMap { $0.results.map(\.result) }
        s += """

            Memory of a measuring process (medians): \(mib(Int(median(rss.map { Double($0.rssLoginKiB) })))) after login,
            \(mib(Int(median(rss.map { Double($0.rssDashboardKiB) })))) with the dashboard, \(mib(Int(median(rss.map { Double($0.rssUsersKiB) })))) after Users,
            \(mib(Int(median(rss.map { Double($0.rssSecretsKiB) })))) after Secrets, \(mib(Int(median(rss.map { Double($0.rssAuditKiB) })))) after Audit. The process that built the vault peaked at \(mib(buildRSSKiB)).

            Every first frame, in ms: \(all(\.firstFrame).map { fixed($0 * 1000, 1) }.joined(separator: ", ")).

            Checks: \(b.checked). Each measuring run: \(rss.first?.checked ?? "-").


            """
        if let pages { s += pages.markdown() }
        return s
    }

    /// The console's lines of the verdict.
    var verdicts: String {
        """
        - console filter keystroke: \(verdict(keystrokeOK)) (median \(Self.ms(median(keystrokes))), target < \(Self.ms(ConsoleTarget.keystroke)))
        - console first frame after login: \(verdict(firstFrameOK)) (median \(Self.ms(firstFrame)), target < \(Self.ms(ConsoleTarget.firstFrame)))
        - console opening a list: \(verdict(openListOK)) (slowest median \(Self.ms(openList)), target < \(Self.ms(ConsoleTarget.openList)))
        - console memory: \(verdict(memoryOK)) (peak \(mib(peakRSS)), target < \(mib(ConsoleTarget.memoryKiB)))
        """
    }
}

extension Bench {
    /// The screen sizes the console is measured at: a large terminal and the classic one.
    static let consoleSizes = [(200, 50), (80, 24)]

    /// Builds the console's vault in one child, then measures it in fresh children, `runs` per size.
    func console(users: Int, secrets: Int, runs: Int, sizes: [(Int, Int)]) throws -> ConsoleReport {
        signal(SIGPIPE, SIG_IGN)  // a child that dies before reading its password must not kill the benchmark
        let dir = runDirectory(options.dir, "console")
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/vault.db"
        let password = try Token.generate(length: 24, alphabet: .alnum)
        note("keyhold-bench: console: building a vault of \(grouped(users)) users and \(grouped(secrets)) secrets")
        let (build, buildRSS) = try Spawn.run(
            [
                "child-console-build", "--path", path, "--users", String(users),
                "--count", String(secrets), "--seed", String(options.seed & 0x7FFF_FFFF_FFFF_FFFF)
            ],
            as: ConsoleBuildResult.self, input: password)
        note(
            "  built in \(fixed(build.userImportSeconds + build.secretImportSeconds, 1)) s (users \(fixed(build.userImportSeconds, 1)) s, secrets \(fixed(build.secretImportSeconds, 1)) s)"
        )
        let pages = try self.pages(path: path, password: password, secrets: secrets)
        var out: [(String, [(ConsoleResult, Int)])] = []
        for (w, h) in sizes {
            var results: [(ConsoleResult, Int)] = []
            for r in 1...runs {
                let run = try Spawn.run(
                    ["child-console", "--path", path, "--width", String(w), "--height", String(h)],
                    as: ConsoleResult.self, input: password)
                results.append((run.result, run.maxRSSKiB))
                let c = run.result
                note(
                    "  \(w)x\(h) run \(r)/\(runs): first frame \(ConsoleReport.ms(c.firstFrame)), Users \(ConsoleReport.ms(c.usersFrame)), "
                        + "Secrets \(ConsoleReport.ms(c.secretsFrame)), Audit \(ConsoleReport.ms(c.auditFrame)), keystroke \(ConsoleReport.ms(median(c.userKeystrokes))) / "
                        + "\(ConsoleReport.ms(median(c.secretKeystrokes))), peak RSS \(mib(run.maxRSSKiB))")
            }
            out.append(("\(w)x\(h)", results))
        }
        return ConsoleReport(
            build: build, buildRSSKiB: buildRSS,
            runs: out.map { (size: $0.0, results: $0.1.map { (result: $0.0, maxRSSKiB: $0.1) }) }, pages: pages)
    }
}
