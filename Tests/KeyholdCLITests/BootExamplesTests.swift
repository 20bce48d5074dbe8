import Foundation
import KeyholdTestSupport
import Testing

/// examples/systemd and examples/cron, as docs/APPLICATIONS.md documents them: each file is
/// checked for syntax (`systemd-analyze verify` where it exists, and always a structural check
/// of our own, so the test never passes for nothing), and each command in it is run for real
/// against a vault, with only its paths swapped for the test's: the service account logs in
/// with the password from its credential file, and the program gets the secrets but never
/// KEYHOLD_PASSWORD.
@Suite struct BootExamplesTests {
    static let unitPath = Repository.root.appendingPathComponent("examples/systemd/keyhold-flask.service").path
    static let crontabPath = Repository.root.appendingPathComponent("examples/cron/keyhold.crontab").path

    let v: SecretsFixture
    let password = "a long passphrase nobody else uses 42"  // what SecretsFixture.addUser sets
    init() throws { v = try SecretsFixture() }

    // MARK: systemd

    /// `[Section]` → key → values, in order, with comments and blank lines left out.
    static func unitEntries(_ text: String) throws -> [String: [String: [String]]] {
        var out: [String: [String: [String]]] = [:]
        var section: String?
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            guard let section, let eq = line.firstIndex(of: "=") else {
                throw TestFailure("line \(n + 1): neither a [section] nor key=value inside one: \(line)")
            }
            out[section, default: [:]][String(line[..<eq]), default: []].append(String(line[line.index(after: eq)...]))
        }
        return out
    }

    /// The keys this unit may use, per section: a misspelt or misplaced one is an error here
    /// even where systemd-analyze is missing (systemd itself would only warn and ignore it).
    static let knownKeys: [String: Set<String>] = [
        "Unit": ["Description", "Documentation", "After", "Wants", "Requires", "StartLimitIntervalSec", "StartLimitBurst"],
        "Service": [
            "Type", "User", "Group", "WorkingDirectory", "Environment", "LoadCredential", "ExecStart", "Restart",
            "RestartSec", "NoNewPrivileges", "PrivateTmp", "ProtectSystem", "ProtectHome", "ReadWritePaths", "UMask"
        ],
        "Install": ["WantedBy"]
    ]

    @Test func theSystemdUnitIsValid() throws {
        let text = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let unit = try Self.unitEntries(text)
        // Structural check, always.
        #expect(Set(unit.keys) == ["Unit", "Service", "Install"], "sections: \(unit.keys.sorted())")
        for (section, keys) in unit {
            for key in keys.keys {
                #expect(Self.knownKeys[section]?.contains(key) == true, "[\(section)] \(key) is not a key of that section")
            }
        }
        let service = try #require(unit["Service"])
        let exec = try #require(service["ExecStart"]?.first)
        #expect(exec.hasPrefix("/"), "ExecStart must start with an absolute path: \(exec)")
        #expect(service["User"]?.count == 1 && service["Type"] == ["exec"])
        let environment = service["Environment"] ?? []
        #expect(environment.contains { $0.hasPrefix("KEYHOLD_DB=/") } && environment.contains { $0.hasPrefix("KEYHOLD_USER=") })
        #expect(!environment.contains { $0.contains("KEYHOLD_PASSWORD") }, "the password must not be set in the unit")
        let credential = try #require(service["LoadCredential"]?.first)
        let credentialName = String(credential.prefix { $0 != ":" })
        #expect(credential.dropFirst(credentialName.count + 1).hasPrefix("/etc/"), "\(credential)")
        #expect(exec.contains("$$CREDENTIALS_DIRECTORY/\(credentialName)"), "ExecStart does not read the credential it loads")
        #expect(!exec.contains("%"), "a % in ExecStart is a systemd specifier")
        #expect(unit["Install"]?["WantedBy"] == ["multi-user.target"])

        // systemd's own check, where it is installed: no error, no warning about the unit.
        if let analyze = Subprocess.which("systemd-analyze") {
            let dir = TempDir()
            let copy = dir.file("keyhold-flask.service")
            try FileManager.default.copyItem(atPath: Self.unitPath, toPath: copy)
            let r = try Subprocess.run(analyze, ["verify", copy], env: ProcessInfo.processInfo.environment)
            let aboutIt = r.stderr.split(separator: "\n").filter { $0.contains("keyhold-flask") }
            #expect(r.status == 0 && aboutIt.isEmpty, "systemd-analyze verify: \(r.status) \(r.stderr)")
        }
    }

    @Test func theUnitsCommandStartsTheProgramWithTheSecretsAndWithoutThePassword() throws {
        let unit = try Self.unitEntries(try String(contentsOfFile: Self.unitPath, encoding: .utf8))
        let service = try #require(unit["Service"])
        let user = try #require(service["Environment"]?.first { $0.hasPrefix("KEYHOLD_USER=") }).dropFirst("KEYHOLD_USER=".count)
        let credential = try #require(service["LoadCredential"]?.first).prefix { $0 != ":" }
        #expect(try v.run(["role", "add", "app-runner", "--permission", "secrets.list", "--permission", "secrets.read"]).status == 0)
        _ = try v.addUser(String(user), role: "app-runner")
        try v.set("app/prod/SECRET_KEY", "the flask key for the unit")
        try v.set("app/prod/API_TOKEN", "the api token for the unit")
        try v.set("app/prod/eu/SECRET_KEY", "another region's key")  // below the prefix: --exact-depth leaves it out

        // ExecStart as systemd runs it: `$$` is `$`; the binary and the program are the test's.
        var exec = try #require(service["ExecStart"]?.first).replacingOccurrences(of: "$$", with: "$")
        exec = exec.replacingOccurrences(of: "/usr/local/bin/keyhold", with: KeyholdBinary.path)
        let program = try #require(exec.range(of: " -- "))
        exec = String(exec[..<program.upperBound]) + "/usr/bin/env'"
        let words = try #require(exec.range(of: "/bin/sh -c '"))
        let script = String(exec[words.upperBound...].dropLast())

        let credentials = TempDir()
        let file = credentials.file(String(credential))
        _ = FileManager.default.createFile(atPath: file, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        let env = KeyholdBinary.environment(["KEYHOLD_DB": v.db, "KEYHOLD_USER": String(user), "CREDENTIALS_DIRECTORY": credentials.path])
        let r = try Subprocess.run("/bin/sh", ["-c", script], env: env)
        #expect(r.status == 0, "the unit's command exited \(r.status): \(r.stderr)")
        let variables = Dictionary(
            r.text.split(separator: "\n").compactMap { line -> (String, String)? in
                guard let eq = line.firstIndex(of: "=") else { return nil }
                return (String(line[..<eq]), String(line[line.index(after: eq)...]))
            }, uniquingKeysWith: { a, _ in a })
        quietExpect(
            variables["SECRET_KEY"] == "the flask key for the unit" && variables["API_TOKEN"] == "the api token for the unit",
            "the program did not get app/prod/SECRET_KEY and app/prod/API_TOKEN")
        #expect(variables["KEYHOLD_PASSWORD"] == nil, "the program was given KEYHOLD_PASSWORD")
        quietExpect(!carries(r.text + r.stderr, password), "the password was printed")
        let handout = try v.audit("secret.handout").events.last
        #expect(handout?["actor"] as? String == String(user))
    }

    // MARK: cron

    struct CronJob { var line: Int; var schedule: [String]; var command: String }

    /// The crontab's variables and jobs; throws naming the line for anything cron would not take.
    static func crontab(_ text: String) throws -> (variables: [String: String], jobs: [CronJob]) {
        let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
        let names = ["minute", "hour", "day of month", "month", "day of week"]
        var variables: [String: String] = [:]
        var jobs: [CronJob] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let eq = line.firstIndex(of: "="), line[..<eq].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }),
                line.first?.isLetter == true
            {
                variables[String(line[..<eq])] = String(line[line.index(after: eq)...])
                continue
            }
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true).map(String.init)
            guard fields.count == 6 else { throw TestFailure("line \(n + 1): not five time fields and a command") }
            for (i, field) in fields.prefix(5).enumerated() {
                for part in field.split(separator: ",", omittingEmptySubsequences: false) {
                    let (base, step) =
                        part.contains("/")
                        ? (part.split(separator: "/")[0], part.split(separator: "/").last.map(String.init))
                        : (part, nil)
                    if let step {
                        guard let s = Int(step), s >= 1 else { throw TestFailure("line \(n + 1): bad step in \(names[i]): \(field)") }
                    }
                    if base == "*" { continue }
                    let bounds = base.split(separator: "-").map { Int($0) }
                    guard (1...2).contains(bounds.count), bounds.allSatisfy({ $0.map(ranges[i].contains) == true }),
                        bounds.count == 1 || bounds[0]! <= bounds[1]!
                    else {
                        throw TestFailure("line \(n + 1): \(names[i]) \(field) is outside \(ranges[i])")
                    }
                }
            }
            // cron turns an unescaped % into a newline (the rest becomes standard input).
            if fields[5].contains("%") { throw TestFailure("line \(n + 1): a % in the command is cut there by cron") }
            jobs.append(CronJob(line: n + 1, schedule: Array(fields.prefix(5)), command: fields[5]))
        }
        return (variables, jobs)
    }

    @Test func theCrontabIsValidAndItsJobsRun() throws {
        let (variables, jobs) = try Self.crontab(try String(contentsOfFile: Self.crontabPath, encoding: .utf8))
        #expect(variables["SHELL"] == "/bin/sh" && variables["KEYHOLD_DB"]?.hasPrefix("/") == true && variables["PATH"] != nil)
        #expect(jobs.count == 2, "\(jobs.map(\.command))")
        for job in jobs {
            let parsed = try Subprocess.run("/bin/sh", ["-n", "-c", job.command], env: [:])
            #expect(parsed.status == 0, "line \(job.line): the shell does not parse the command: \(parsed.stderr)")
            #expect(
                !job.command.contains("KEYHOLD_PASSWORD=") || job.command.contains("KEYHOLD_PASSWORD=\"$(cat "),
                "line \(job.line): the password must come from its file")
        }

        // Each job, run as cron would (its variables, /bin/sh), with the test's vault, binary and program.
        let home = TempDir()
        let bin = home.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: bin + "/keyhold", withDestinationPath: KeyholdBinary.path)
        try FileManager.default.createDirectory(
            atPath: home.file(".config/keyhold"), withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        #expect(try v.run(["role", "add", "app-runner", "--permission", "secrets.list", "--permission", "secrets.read"]).status == 0)
        for (user, role) in [("svc-report", "app-runner"), ("svc-monitor", "auditor")] {
            _ = try v.addUser(user, role: role)
            _ = FileManager.default.createFile(
                atPath: home.file(".config/keyhold/\(user).password"), contents: Data(password.utf8),
                attributes: [.posixPermissions: 0o600])
        }
        try v.set("app/reports/SMTP_PASSWORD", "the smtp password for the report")
        var env = KeyholdBinary.environment(["HOME": home.path, "KEYHOLD_DB": v.db, "SHELL": "/bin/sh", "PATH": bin + ":/usr/bin:/bin"])
        env["KEYHOLD_INSECURE_TEST_KDF"] = "1"

        let report = try #require(jobs.first { $0.command.contains("keyhold run") })
        let command = report.command.replacingOccurrences(of: "/opt/keyhold/bin/nightly-report", with: "/usr/bin/env")
        let ran = try Subprocess.run("/bin/sh", ["-c", command], env: env)
        #expect(ran.status == 0, "the report job exited \(ran.status): \(ran.stderr)")
        quietExpect(ran.text.contains("SMTP_PASSWORD=the smtp password for the report\n"), "the job did not get its secret")
        #expect(!ran.text.contains("KEYHOLD_PASSWORD"), "the job was given KEYHOLD_PASSWORD")

        let monitor = try #require(jobs.first { $0.command.contains("keyhold status") })
        let healthy = try Subprocess.run("/bin/sh", ["-c", monitor.command], env: env)
        #expect(
            healthy.status == 0 && healthy.text.isEmpty && healthy.stderr.isEmpty,
            "the status job printed on a healthy vault (cron would mail it): \(healthy.text)\(healthy.stderr)")
        // A wrong password file: the job prints, so cron mails it.
        _ = FileManager.default.createFile(
            atPath: home.file(".config/keyhold/svc-monitor.password"), contents: Data("not it at all".utf8),
            attributes: [.posixPermissions: 0o600])
        let failing = try Subprocess.run("/bin/sh", ["-c", monitor.command], env: env)
        #expect(failing.text.contains("keyhold status exited 65"), "\(failing.text)")
    }
}
