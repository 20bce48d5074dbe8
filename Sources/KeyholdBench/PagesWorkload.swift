import Foundation
import Glibc
import KeyholdConsole
import KeyholdCore

// The lists as pages (docs/ARCHITECTURE.md "Lists are pages"),
// over the console's vault: what each query a paged list makes costs, in a child
// process of its own (logged in as the console is, not timed), and `keyhold
// secret list --json` over the whole vault, the product's own binary in a child
// of a child so that its peak resident set is its own.

/// How many rows a page of the measured lists holds: a tall terminal's worth.
let pageRows = 50

/// One measured query: its wall times, seconds, and the rows of its last answer.
struct PageMeasurement: Codable {
    var what: String
    var samples: [Double]
    var rows: Int
}

/// What the page-queries child measured.
struct PagesResult: Codable {
    var users: Int
    var secrets: Int
    var events: Int
    var measurements: [PageMeasurement]
    /// Peak resident set of the child after every query, KiB.
    var rssKiB: Int
    var checked: String
}

/// What `keyhold secret list --json` did over the vault.
struct CLIListResult: Codable {
    var seconds: Double
    var maxRSSKiB: Int
    var bytes: Int
    var names: Int
    var secrets: Int
}

enum PagesChild {
    /// The text typed into a filter, after each key of `keys` (Backspace removes the last character).
    static func typed(_ keys: [Key]) -> [String] {
        var text = "", out: [String] = []
        for key in keys {
            switch key {
            case .backspace: if !text.isEmpty { text.removeLast() }
            case .char(let c): text.append(c)
            default: continue
            }
            out.append(text)
        }
        return out
    }

    /// Each non-empty prefix of `text`: a prefix filter typed key by key.
    static func prefixes(_ text: String) -> [String] { (1...text.count).map { String(text.prefix($0)) } }

    /// Logs in over the console's vault and times the queries a paged list makes: the first page
    /// of each list, a page further on and one up, the counts, and each keystroke of a prefix
    /// and of a substring filter (its page, and its count), `repeats` times each.
    static func measure(path: String, password: SecureBytes, repeats: Int) throws -> PagesResult {
        let vault = try Vault.open(at: path, options: .insecureFastForTests())
        guard case .session(let s) = try vault.login(username: ConsoleChild.admin, password: password) else {
            throw BenchFailure("the benchmark's administrator did not get a session")
        }
        var out: [PageMeasurement] = []
        func time<R>(_ what: String, _ times: Int = repeats, rows: (R) -> Int, _ body: () throws -> R) throws {
            var samples: [Double] = [], last: R?
            for _ in 0..<times {
                let t0 = ContinuousClock.now
                last = try body()
                samples.append((ContinuousClock.now - t0).seconds)
            }
            out.append(PageMeasurement(what: what, samples: samples, rows: last.map(rows) ?? 0))
        }
        /// Every keystroke's query `passes` times (a third of the repeats by default), all the samples in one measurement.
        func keystrokes<R>(
            _ what: String, _ texts: [String], passes: Int = max(1, repeats / 3), rows: (R) -> Int,
            _ body: (String) throws -> R
        ) throws {
            var samples: [Double] = [], total = 0
            for _ in 0..<passes {
                for text in texts {
                    let t0 = ContinuousClock.now
                    let r = try body(text)
                    samples.append((ContinuousClock.now - t0).seconds)
                    total = rows(r)
                }
            }
            out.append(PageMeasurement(what: what + " (\(texts.count) keystrokes)", samples: samples, rows: total))
        }
        let users = try s.userCount(), secrets = try s.secretCount(), events = try s.auditCount()
        try time("Users: first page", rows: { $0.items.count }) { try s.userPage(limit: pageRows) }
        try time("Secrets: first page", rows: { $0.items.count }) { try s.secretPage(limit: pageRows) }
        try time("Audit: last page (the newest events)", rows: { $0.items.count }) { try s.auditPage(at: .last, limit: pageRows) }
        let middle = Workload.name(secrets / 2)
        try time("Secrets: the page after a row in the middle", rows: { $0.items.count }) {
            try s.secretPage(at: .after(middle), limit: pageRows)
        }
        try time("Secrets: the page above a row in the middle", rows: { $0.items.count }) {
            try s.secretPage(at: .before(middle), limit: pageRows)
        }
        try time("Users: the page at a username (a refresh)", rows: { $0.items.count }) {
            try s.userPage(at: .at(UserWorkload.username(users / 2)), limit: pageRows)
        }
        try time("Users: count", rows: { $0 }) { try s.userCount() }
        try time("Secrets: count", rows: { $0 }) { try s.secretCount() }
        try time("Audit: count", rows: { $0 }) { try s.auditCount() }

        let secretPrefixes = prefixes("bench/app63/service-4")
        let userPrefixes = prefixes("maria.berg1")
        let secretTexts = typed(TypedFilter.secrets).filter { !$0.isEmpty }
        let userTexts = typed(TypedFilter.users).filter { !$0.isEmpty }
        try keystrokes("Secrets, prefix filter: the page", secretPrefixes, rows: { $0.items.count }) {
            try s.secretPage(.prefix($0), limit: pageRows)
        }
        try keystrokes("Users, prefix filter: the page", userPrefixes, rows: { $0.items.count }) {
            try s.userPage(UserFilter(name: .prefix($0)), limit: pageRows)
        }
        try keystrokes("Secrets, prefix filter: the count", secretPrefixes, rows: { $0 }) { try s.secretCount(.prefix($0)) }
        try keystrokes("Users, prefix filter: the count", userPrefixes, rows: { $0 }) { try s.userCount(UserFilter(name: .prefix($0))) }
        try keystrokes("Secrets, substring filter: the page", secretTexts, rows: { $0.items.count }) {
            try s.secretPage(.contains($0), limit: pageRows)
        }
        try keystrokes("Users, substring filter: the page", userTexts, rows: { $0.items.count }) {
            try s.userPage(UserFilter(name: .contains($0)), limit: pageRows)
        }
        // Exact counts of a text every row has read every row (a list shows a bounded count first): once per keystroke.
        try keystrokes("Secrets, substring filter: the count", secretTexts, passes: 1, rows: { $0 }) { try s.secretCount(.contains($0)) }
        try keystrokes("Users, substring filter: the count", userTexts, passes: 1, rows: { $0 }) {
            try s.userCount(UserFilter(name: .contains($0)))
        }
        try keystrokes("Secrets, substring filter: the count up to 1,000", secretTexts, rows: { $0 }) {
            try s.secretCount(.contains($0), upTo: 1_000)
        }
        try keystrokes("Users, substring filter: the count up to 1,000", userTexts, rows: { $0 }) {
            try s.userCount(UserFilter(name: .contains($0)), upTo: 1_000)
        }
        let rss = Resources.peakRSS()  // before the checks below, which hold names of their own

        // The answers are the vault's: counts and pages against the workload's own names.
        func expected(_ keep: (String) -> Bool) -> Int { (0..<secrets).reduce(0) { keep(Workload.name($1)) ? $0 + 1 : $0 } }
        let probes: [(NameFilter, Int)] = [
            (.contains("service-47"), expected { $0.contains("service-47") }),
            (.contains("APP63/"), expected { $0.contains("app63/") }),
            (.prefix("bench/app63/service-4"), expected { $0.hasPrefix("bench/app63/service-4") })
        ]
        for (filter, want) in probes {
            let got = try s.secretCount(filter)
            guard got == want else { throw BenchFailure("\(filter) counts \(got) secrets; the workload's names give \(want)") }
        }
        let first = try s.secretPage(.contains("service-47"), limit: pageRows).items.map(\.name)
        let names = (0..<secrets).lazy.map(Workload.name).filter { $0.contains("service-47") }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        guard first == Array(names.prefix(pageRows)) else {
            throw BenchFailure("the first page of service-47 is not the first \(pageRows) names")
        }
        return PagesResult(
            users: users, secrets: secrets, events: events, measurements: out, rssKiB: rss,
            checked: "the counts of \(probes.count) filters and the first page of \"service-47\" equal those of the workload's names")
    }

    /// Runs the product's binary (`keyhold`, beside this one) as `keyhold secret list --json` over the
    /// vault, the password on its standard input, and reads what it prints as it comes: its bytes and
    /// the names in it. Its peak resident set is wait4's: this process is small when it starts it.
    static func cliList(path: String, secrets: Int, password: SecureBytes) throws -> CLIListResult {
        let exe = (Spawn.selfPath() as NSString).deletingLastPathComponent + "/keyhold"
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw BenchFailure("\(exe) is not there: build it (swift build -c release --product keyhold) beside keyhold-bench")
        }
        var outFds: [Int32] = [-1, -1], inFds: [Int32] = [-1, -1]
        guard pipe(&outFds) == 0, pipe(&inFds) == 0 else { throw BenchFailure("pipe: \(String(cString: strerror(errno)))") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inFds[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outFds[1], 1)
        for fd in inFds + outFds { posix_spawn_file_actions_addclose(&actions, fd) }
        let args = [exe, "secret", "list", "--json", "--no-agent", "--db", path]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // Its environment: this one's, with the benchmark's administrator and no password in it.
        var env = ProcessInfo.processInfo.environment
        env["KEYHOLD_USER"] = ConsoleChild.admin
        env["KEYHOLD_PASSWORD"] = nil
        env["KEYHOLD_DB"] = nil
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in envp { free(p) } }
        let t0 = ContinuousClock.now
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, envp)
        close(inFds[0]); close(outFds[1])
        if rc == 0 {
            password.withBytes { b in
                var done = 0
                while done < b.count {
                    let n = write(inFds[1], b.baseAddress! + done, b.count - done)
                    if n > 0 { done += n } else if errno != EINTR { break }
                }
            }
            _ = write(inFds[1], "\n", 1)
        }
        close(inFds[1])
        guard rc == 0 else {
            close(outFds[0])
            throw BenchFailure("posix_spawn \(exe): \(String(cString: strerror(rc)))")
        }
        // Count the names as the text streams by: `"name" : "` at the start of a line's content.
        let marker = Array("\"name\" : \"".utf8)
        var matched = 0, names = 0, bytes = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var tail: [UInt8] = []
        while true {
            let n = read(outFds[0], &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += n
            for b in chunk[..<n] {
                matched = b == marker[matched] ? matched + 1 : (b == marker[0] ? 1 : 0)
                if matched == marker.count { names += 1; matched = 0 }
            }
            tail = Array((tail + chunk[..<n]).suffix(4))
        }
        close(outFds[0])
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = (ContinuousClock.now - t0).seconds
        guard status & 0x7F == 0, (status >> 8) & 0xFF == 0 else {
            throw BenchFailure("keyhold secret list --json failed (status \(status))")
        }
        guard tail.suffix(2) == Array("}\n".utf8) else { throw BenchFailure("keyhold secret list --json did not end its document") }
        guard names == secrets else { throw BenchFailure("keyhold secret list --json listed \(names) names of \(secrets)") }
        return CLIListResult(seconds: seconds, maxRSSKiB: Int(usage.ru_maxrss), bytes: bytes, names: names, secrets: secrets)
    }
}

/// The paged lists' part of the report.
struct PagesReport {
    var pages: PagesResult
    /// `keyhold secret list --json` over the vault, if the binary was there.
    var list: CLIListResult?
    var listSkipped: String?

    static func ms(_ s: Double) -> String { ConsoleReport.ms(s) }

    func markdown() -> String {
        let p = pages
        var s = """
            ## Lists as pages over \(grouped(p.users)) users, \(grouped(p.secrets)) secrets and \(grouped(p.events)) audit events

            One child process logs in (not timed) and calls the core's page API as a paged list does: pages of
            \(pageRows) rows by key (`Session.secretPage`, `userPage`, `auditPage`), the counts SQL makes, and each
            keystroke of a filter (the text after each key, prefix and substring; the substring texts are the
            console's typed filters above). Wall time per call; each fixed query \(p.measurements.first?.samples.count ?? 0) times,
            each keystroke a third as many (an exact substring count once). "Up to 1,000": a bounded count, what a
            list shows while it types ("1,000+").

            | query | median | 95th percentile | slowest | rows (last answer) |
            |---|---:|---:|---:|---:|

            """
        for m in p.measurements {
            s +=
                "| \(m.what) | \(Self.ms(median(m.samples))) | \(Self.ms(ConsoleReport.percentile(m.samples, 0.95))) | "
                + "\(Self.ms(m.samples.max() ?? .nan)) | \(grouped(m.rows)) |\n"
        }
        s += "\nPeak resident set of that process after the queries: \(mib(p.rssKiB)). Checks: \(p.checked).\n\n"
        if let l = list {
            s += """
                `keyhold secret list --json` (the release binary, in a child process of its own) over the \(grouped(l.secrets))
                secrets: \(fixed(l.seconds, 2)) s, peak resident set \(mib(l.maxRSSKiB)), \(grouped(l.bytes)) bytes written, every
                name in it, one document.


                """
        } else if let why = listSkipped {
            s += "`keyhold secret list --json`: not measured (\(why)).\n\n"
        }
        return s
    }
}

extension Bench {
    /// The page queries over the console's vault, then `secret list --json` over it.
    func pages(path: String, password: SecureBytes, secrets: Int) throws -> PagesReport {
        note("keyhold-bench: page queries over the console's vault")
        let (pages, _) = try Spawn.run(
            ["child-pages", "--path", path, "--runs", String(max(3, options.runs * 3))],
            as: PagesResult.self, input: password)
        var report = PagesReport(pages: pages)
        do {
            let (list, _) = try Spawn.run(
                ["child-cli-list", "--path", path, "--count", String(secrets)], as: CLIListResult.self, input: password)
            report.list = list
            note("  secret list --json over \(grouped(secrets)) secrets: \(fixed(list.seconds, 2)) s, peak RSS \(mib(list.maxRSSKiB))")
        } catch {
            report.listSkipped = "\(error)"
            note("  secret list --json not measured: \(error)")
        }
        return report
    }
}
