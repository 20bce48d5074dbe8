import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCLI
import KeyholdCore

/// `secret list`, `user list` and `audit list` through the built binary, streamed page by page
/// (docs/CLI.md, "Listings"): the bytes a whole listing printed, across pages too, and memory
/// that does not grow with the vault.
@Suite(.serialized) struct ListingTests {
    /// Secrets named `prefix` + a zero-padded number (names of one width), value "v".
    struct Numbered: ImportSource {
        var prefix: String
        var count: Int
        func item(at index: Int) throws -> ImportItem {
            ImportItem(name: prefix + String(format: "%06d", index), origin: "entry \(index)", valueCount: 1)
        }
        func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) throws { buffer[0] = UInt8(ascii: "v") }
    }

    static var env: [String: String] { ["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": adminPassword] }

    static func run(_ f: Fixture, _ args: [String]) throws -> Subprocess.Result {
        let r = try KeyholdBinary.run(args + ["--db", f.path], env: env)
        guard r.status == 0 else { throw TestFailure("keyhold \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)") }
        return r
    }

    /// The text JSONSerialization makes of the same document, as `Output.printJSON` printed a
    /// whole listing (and a newline): what the stream must be, byte for byte.
    static func wholeDocument(_ stdout: Data) throws -> String {
        let value = try JSONSerialization.jsonObject(with: stdout)
        return try JSONTextTests.oracle(value) + "\n"
    }

    /// A vault with `count` secrets, `users` accounts and `events` more audit events.
    static func vault(secrets count: Int, users: Int = 0, events: Int = 0) throws -> Fixture {
        let f = try Fixture()
        if count > 0 { _ = try f.admin.importSecrets(from: Numbered(prefix: "big/", count: count)) }
        if users > 0 {
            let entries = (0..<users).map {
                AppUserEntry(
                    username: "u" + String(format: "%06d", $0), email: "u\($0)@example.com", displayName: "User \($0)",
                    passwordHash: "$argon2id$v=19$m=65536,t=3,p=4$xQXwLqdUniZtfPR4K2kl2w$59sEl7ODLd197aJBsF3cLEtmFODriq259tzyl0XHWiU",
                    origin: "user \($0)")
            }
            _ = try f.admin.importAppUsers(entries, roles: ["user"])
        }
        if events > 0 {
            // Events written straight into the log, as many as a busy vault has (the listing reads, never verifies).
            let base = try #require(try f.vault.store.unsafeQuery("SELECT max(seq) AS m FROM audit_events").first?["m"] as? Int64)
            try f.vault.store.unsafeExecute(
                """
                WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash, signature)
                SELECT ? + i, 1800000000000 + i, NULL, 'admin', NULL, 'secret.reveal', 'secret:big/' || printf('%06d', i % 1000),
                       '{"version":1}', randomblob(32), randomblob(32), NULL FROM n
                """, arguments: [events, base])
        }
        return f
    }

    // MARK: The same bytes

    @Test func listingsOfOnePageAreTheTablesAndDocumentsOfBefore() throws {
        let f = try Self.vault(secrets: 0)
        for name in ["app/prod/db", "App/Upper.case", "z/last", "web/token"] { try f.admin.createSecret(name, .value(pw("x"))) }
        try f.admin.setRotateBy("web/token", at: f.clock.clock.now() - Clock.day)
        _ = try f.admin.createUser(username: "olivia", email: "ö@example.com", displayName: "Ölïvia Ünïcode", roles: ["operator"])
        let now = Clock.system.now()
        // Tables: what Output.table made of the whole listing (the one page), byte for byte.
        let secrets = try f.admin.secrets()
        let secretTable =
            Output.table(
                ["NAME", "VERSION", "VERSIONS", "ROTATE BY", "UPDATED"],
                secrets.map {
                    [
                        $0.name, String($0.currentVersion), String($0.versionCount), SecretCommand.rotateByCell($0, now: now),
                        Output.time($0.updatedAt)
                    ]
                }) + "\n"
        #expect(try Self.run(f, ["secret", "list"]).text == secretTable)
        // Listed first: the command's own login sets the administrator's LAST LOGIN, read after it.
        let userListing = try Self.run(f, ["user", "list"]).text
        let users = try f.admin.users()
        let userTable =
            Output.table(
                ["USERNAME", "STATUS", "ROLES", "KEY ACCESS", "LAST LOGIN"],
                users.map {
                    [
                        $0.username,
                        $0.status(at: now) + ($0.mustChangePassword ? ", must change" : "") + ($0.legacyHash ? ", legacy hash" : ""),
                        $0.roles.joined(separator: ","), $0.keyAccess.rawValue, Output.time($0.lastLoginAt)
                    ]
                }) + "\n"
        #expect(userListing == userTable)
        // The log as the listing saw it: up to its own login event, the last one written.
        let audit = try Self.run(f, ["audit", "list"]).text
        let events = try f.admin.auditEvents()
        #expect(events.last?.action == "login")
        #expect(
            audit == Output.table(
                ["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"],
                events.map {
                    [String($0.seq), Clock.format($0.at), $0.actor + ($0.signed ? "" : " (unsigned)"), $0.action, $0.target, $0.details]
                }) + "\n")
        // JSON: JSONSerialization's document, and the whole listing's values.
        for args in [
            ["secret", "list", "--json"], ["user", "list", "--json"], ["audit", "list", "--json"],
            ["secret", "list", "--json", "--prefix", "none/"]
        ] {
            let out = try Self.run(f, args)
            #expect(out.text == (try Self.wholeDocument(out.stdout)), "\(args.joined(separator: " "))")
        }
        let listed = try JSONSerialization.jsonObject(with: try Self.run(f, ["secret", "list", "--json"]).stdout) as? [String: Any]
        #expect((listed?["secrets"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == secrets.map(\.name))
        // Empty: the headers alone; an empty array with its empty line.
        #expect(try Self.run(f, ["secret", "list", "--prefix", "none/"]).text == "NAME  VERSION  VERSIONS  ROTATE BY  UPDATED\n")
        #expect(try Self.run(f, ["secret", "list", "--json", "--filter", "none"]).text == "{\n  \"secrets\" : [\n\n  ]\n}\n")
    }

    @Test func listingsOfManyPagesAreOneTableAndOneDocument() throws {
        let count = Listing.pageSize * 2 + 345
        let f = try Self.vault(secrets: count, users: Listing.pageSize + 10, events: Listing.pageSize * 2)
        let now = Clock.system.now()
        // Names of one width: the first page's column widths are every page's, so the stream is the whole table.
        let secrets = try f.admin.secrets()
        #expect(secrets.count == count)
        let table =
            Output.table(
                ["NAME", "VERSION", "VERSIONS", "ROTATE BY", "UPDATED"],
                secrets.map {
                    [
                        $0.name, String($0.currentVersion), String($0.versionCount), SecretCommand.rotateByCell($0, now: now),
                        Output.time($0.updatedAt)
                    ]
                }) + "\n"
        #expect(try Self.run(f, ["secret", "list"]).text == table)
        for args in [
            ["secret", "list", "--json"], ["user", "list", "--json"], ["audit", "list", "--json"],
            ["secret", "list", "--json", "--filter", "00012"], ["user", "list", "--json", "--role", "user"]
        ] {
            let out = try Self.run(f, args)
            #expect(out.text == (try Self.wholeDocument(out.stdout)), "\(args.joined(separator: " "))")
        }
        let names = { (args: [String]) throws -> [String] in
            let doc = try JSONSerialization.jsonObject(with: try Self.run(f, args).stdout) as? [String: Any]
            return (doc?["secrets"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        }
        #expect(try names(["secret", "list", "--json"]) == secrets.map(\.name))
        #expect(
            try names(["secret", "list", "--json", "--prefix", "big/0010"]) == (1000...1099).map { "big/" + String(format: "%06d", $0) })
        #expect(try names(["secret", "list", "--json", "--filter", "0019"]) == secrets.map(\.name).filter { $0.contains("0019") })
        let users = try JSONSerialization.jsonObject(with: try Self.run(f, ["user", "list", "--json"]).stdout) as? [String: Any]
        #expect((users?["users"] as? [[String: Any]])?.compactMap { $0["username"] as? String } == (try f.admin.users()).map(\.username))
        // The newest events across pages, oldest first, and nothing appended after the listing began.
        let all = try f.admin.auditEvents()
        let newest =
            try JSONSerialization.jsonObject(with: try Self.run(f, ["audit", "list", "--json", "--limit", "1500"]).stdout) as? [String: Any]
        let seqs = (newest?["events"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int64 }
        // Its own login event is the newest.
        #expect(seqs == all.suffix(1499).map(\.seq) + [(all.last?.seq ?? 0) + 1])
    }

    /// A cell wider than its column, in a later page: written whole, the rest of its row pushed right.
    @Test func aWiderCellInALaterPageIsWrittenWhole() throws {
        let f = try Self.vault(secrets: Listing.pageSize + 5)
        let long = "zz/" + String(repeating: "long-", count: 12) + "name"
        try f.admin.createSecret(long, .value(pw("x")))
        let lines = try Self.run(f, ["secret", "list"]).text.split(separator: "\n")
        #expect(lines.count == Listing.pageSize + 7)
        let header = try #require(lines.first)
        let versionColumn = try #require(header.range(of: "VERSION")).lowerBound.utf16Offset(in: header)
        let last = try #require(lines.last)
        #expect(last.hasPrefix(long + "  1  "), "\(last)")
        #expect(lines[1].dropFirst(versionColumn).hasPrefix("1 "), "earlier rows keep the first page's widths")
    }

    /// A listing refused before its first page prints nothing at all: no half-opened document.
    @Test func aRefusedListingWritesNothingToStandardOutput() throws {
        let f = try Self.vault(secrets: 3)
        _ = try f.user("helper", roles: ["helpdesk"])
        for args in [["secret", "list", "--json"], ["secret", "list"], ["audit", "list", "--json"]] {
            let r = try KeyholdBinary.run(args + ["--db", f.path], env: ["KEYHOLD_USER": "helper", "KEYHOLD_PASSWORD": userPassword])
            #expect(r.status == 66 && r.stdout.isEmpty, "\(args.joined(separator: " ")): \(r.status) \(r.text)")
        }
    }

    @Test func prefixAndFilterTogetherAreAUsageError() throws {
        let f = try Self.vault(secrets: 3)
        let r = try KeyholdBinary.run(["secret", "list", "--prefix", "a", "--filter", "b", "--db", f.path], env: Self.env)
        #expect(r.status == 64 && r.stderr.contains("--prefix or --filter"))
    }

    // MARK: Memory

    /// Peak resident set (KiB) of `keyhold args`, its output thrown away: measured by a small Python
    /// parent (its children's getrusage), so none of this test process's memory is counted.
    static func peakRSS(_ f: Fixture, _ args: [String]) throws -> Int {
        let python = ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"] ?? "python3"
        let script = """
            import resource, subprocess, sys
            r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode:
                sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)
            print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        let r = try Subprocess.run(
            python, ["-c", script, KeyholdBinary.path] + args + ["--db", f.path],
            env: KeyholdBinary.environment(env))
        guard r.status == 0, let kib = Int(r.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("keyhold \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)")
        }
        return kib
    }

    /// Listing 40,000 secrets, 20,000 users or 40,000 events takes no more memory than listing
    /// a handful: the whole listing held in memory (as before) took tens of MB more.
    @Test func memoryDoesNotGrowWithTheVault() throws {
        let small = try Self.vault(secrets: 20, users: 20, events: 20)
        let large = try Self.vault(secrets: 40_000, users: 20_000, events: 40_000)
        var report: [String] = []
        for args in [["secret", "list", "--json"], ["secret", "list"], ["user", "list", "--json"], ["audit", "list", "--json"]] {
            // Each once first (a cold first run pays for what the second does not), then measured.
            _ = try Self.peakRSS(small, args)
            _ = try Self.peakRSS(large, args)
            let a = try Self.peakRSS(small, args), b = try Self.peakRSS(large, args)
            report.append("\(args.joined(separator: " ")): \(a) KiB for a handful, \(b) KiB for the large vault")
            #expect(Double(b) <= Double(a) * 1.25 + 4_096, "\(report.last ?? "")")
        }
        print(report.joined(separator: "\n"))
    }
}
