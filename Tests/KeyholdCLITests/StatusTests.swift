import Foundation
import KeyholdCore
import KeyholdTestSupport
import Synchronization
import Testing

/// `keyhold status`: one screen of what needs doing, `--json`, and its exit codes (70 when the
/// audit chain fails, else 71 while a data-key rotation is unfinished), through the built binary.
@Suite struct StatusTests {
    struct Stop: Error {}

    /// Throws at the `n`-th commit of the vault's operations from the moment it is armed.
    final class CommitFault: Sendable {
        private let left = Mutex<Int?>(nil)
        func arm(_ n: Int) { left.withLock { $0 = n } }
        func reach(_ point: FaultPoint) throws {
            guard point == .beforeCommit else { return }
            let fire = left.withLock { n -> Bool in
                guard let k = n else { return false }
                n = k <= 1 ? nil : k - 1
                return k <= 1
            }
            if fire { throw Stop() }
        }
    }

    static let day: Int64 = 86_400_000
    static var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// `YYYY-MM-DD` of `ms` (UTC).
    static func day(_ ms: Int64) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd"
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    let faults = CommitFault()
    let f: Fixture
    let admin = ["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": adminPassword]

    init() throws {
        let faults = self.faults
        // The vault's clock is the real one, as the command line's is.
        f = try Fixture(clock: TestClock(Self.now), fault: { try faults.reach($0) })
    }

    func run(_ args: [String], as env: [String: String]? = nil, db: String? = nil) throws -> CLI.Result {
        try CLI.run(args + ["--db", db ?? f.path], env: env ?? admin)
    }

    func json(_ r: CLI.Result) throws -> [String: Any] { try JSONObject.parse(r.stdout) }

    @Test func oneScreenOfWhatNeedsDoingAndItsExitCodes() throws {
        // Secrets: one overdue, one due within the window, one due later.
        for (name, date) in [
            ("app/overdue", Self.now - 3 * Self.day), ("app/soon", Self.now + 5 * Self.day),
            ("app/later", Self.now + 60 * Self.day)
        ] {
            try f.admin.createSecret(name, .value(pw("value of \(name)")), rotateBy: date)
        }
        for i in 0..<5 { try f.admin.createSecret("svc/\(i)", .value(pw("rotated value \(i)"))) }
        // Accounts: one expires within the window, one later, one is disabled (never listed).
        for name in ["bob", "carl", "dora"] { _ = try f.admin.createUser(username: name, roles: ["helpdesk"]) }
        try f.admin.setExpiry("bob", at: Self.now + 3 * Self.day)
        try f.admin.setExpiry("carl", at: Self.now + 40 * Self.day)
        try f.admin.setExpiry("dora", at: Self.now + 2 * Self.day)
        try f.admin.disableUser("dora")

        // Healthy so far: exit 0, every part shown.
        let healthy = try run(["status"])
        #expect(healthy.status == 0, "\(healthy.stderr)")
        let text = healthy.stdout
        quietExpect(text.contains("audit chain:  verified"), text)
        quietExpect(text.contains("rotation:     none unfinished"), text)
        quietExpect(text.contains("rotate-by:    1 overdue, 1 due within 14 days"), text)
        quietExpect(text.contains("OVERDUE  app/overdue"), text)
        quietExpect(text.contains("due      app/soon"), text)
        quietExpect(!text.contains("app/later"), "a date beyond the window is listed: \(text)")
        quietExpect(text.contains("expiring:     1 account within 14 days") && text.contains("  bob  "), text)
        quietExpect(!text.contains("carl") && !text.contains("dora"), "carl (later) or dora (disabled) listed: \(text)")
        quietExpect(text.contains("key requests: none"), text)

        // A key request awaiting approval (an imported account given a role with key access).
        let csv = f.dir.file("users.csv")
        let hash = "$2b$12$" + String(repeating: "a", count: 53)
        _ = FileManager.default.createFile(atPath: csv, contents: Data("username,password_hash\nerin,\(hash)\n".utf8))
        let imported = try run(["user", "import", "--format", "csv", "--role", "operator", csv])
        #expect(imported.status == 0, "\(imported.stderr)")

        // An unfinished data-key rotation: the start and one batch commit, the second batch fails.
        faults.arm(3)
        #expect(throws: Stop.self) { try f.admin.rotateDataKey(batchSize: 3) }
        let job = try #require(try f.admin.pendingRotation())
        #expect(job.remaining > 0)

        let pending = try run(["status", "--json"])
        #expect(pending.status == 71, "an unfinished rotation exits 71: \(pending.stderr)")
        let o = try json(pending)
        let rotation = o["rotation"] as? [String: Any]
        #expect(
            rotation?["to"] as? Int == job.targetVersion && rotation?["remaining"] as? Int == job.remaining
                && rotation?["running"] as? Bool == false)
        #expect((o["audit"] as? [String: Any])?["ok"] as? Bool == true)
        let overdue = o["secrets_overdue"] as? [String: Any]
        #expect(overdue?["count"] as? Int == 1 && (overdue?["first"] as? [[String: Any]])?.first?["name"] as? String == "app/overdue")
        #expect((o["secrets_due_soon"] as? [String: Any])?["count"] as? Int == 1)
        let expiring = o["users_expiring"] as? [String: Any]
        #expect(expiring?["count"] as? Int == 1 && (expiring?["first"] as? [[String: Any]])?.first?["username"] as? String == "bob")
        let requests = o["key_requests"] as? [[String: Any]]
        #expect(requests?.map { $0["username"] as? String } == ["erin"])
        #expect(o["window_days"] as? Int == 14 && (o["skipped"] as? [Any])?.isEmpty == true)
        // status only reports: the job is still there.
        #expect(try f.admin.pendingRotation() != nil, "status finished the rotation it reports")
        let plain = try run(["status"])
        #expect(plain.status == 71)
        quietExpect(plain.stdout.contains("rotation:     UNFINISHED") && plain.stdout.contains("keyhold key resume"), plain.stdout)
        quietExpect(plain.stdout.contains("key requests: 1 awaiting approval") && plain.stdout.contains("  erin  "), plain.stdout)

        // Someone without the permissions: the parts they may not read are skipped, named.
        let helper = "a helpdesk passphrase here"
        let (_, temp) = try f.admin.createUser(username: "hal", roles: ["helpdesk"])
        let hal = try run(
            ["status", "--json"],
            as: [
                "KEYHOLD_USER": "hal", "KEYHOLD_PASSWORD": temp.utf8String() ?? "",
                "KEYHOLD_NEW_PASSWORD": helper
            ])
        #expect(hal.status == 71, "\(hal.stderr)")
        let skipped = try json(hal)["skipped"] as? [String] ?? []
        #expect(
            skipped.contains { $0.contains("secrets.list") } && skipped.contains { $0.contains("audit.read") }
                && skipped.contains { $0.contains("keys.manage") } && !skipped.contains { $0.contains("users.read") }, "\(skipped)")
        #expect(try json(hal)["secrets_overdue"] is NSNull)

        // Finished: back to 0.
        #expect(try run(["key", "resume"]).status == 0)
        #expect(try run(["status"]).status == 0)

        // A broken audit chain (on a copy): 70, and the JSON names the event.
        let copy = f.dir.file("edited.db")
        #expect(try run(["backup", copy]).status == 0)
        try Python.sql(
            copy,
            """
            DROP TRIGGER audit_no_update;
            UPDATE audit_events SET details = '{"roles":["admin"]}' WHERE action = 'user.create';
            """)
        let broken = try run(["status", "--json"], db: copy)
        #expect(broken.status == 70, "\(broken.stderr)")
        let audit = try json(broken)["audit"] as? [String: Any]
        #expect(audit?["ok"] as? Bool == false && (audit?["failure"] as? [String: Any])?["seq"] is Int)
        let brokenText = try run(["status"], db: copy)
        #expect(brokenText.status == 70)
        quietExpect(brokenText.stdout.contains("audit chain:  BROKEN at event"), brokenText.stdout)
    }
}
