import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// A seeded generator (SplitMix64), so a failure names data that can be made again.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The listings' orders and filters, written plainly over arrays: what every page query must agree with.
enum Reference {
    static func folded(_ s: String) -> [UInt8] { s.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 } }
    /// SQLite's BINARY (`foldingCase` false) or NOCASE order of two texts.
    static func less(_ a: String, _ b: String, foldingCase: Bool) -> Bool {
        let x = foldingCase ? folded(a) : Array(a.utf8), y = foldingCase ? folded(b) : Array(b.utf8)
        return x.lexicographicallyPrecedes(y)
    }
    static func hasPrefix(_ s: String, _ p: String, foldingCase: Bool) -> Bool {
        foldingCase ? folded(s).starts(with: folded(p)) : Array(s.utf8).starts(with: Array(p.utf8))
    }
    /// `needle` in `haystack`, byte for byte after folding ASCII letters (for UTF-8, the same as by code point).
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        let h = folded(haystack), n = folded(needle)
        guard !n.isEmpty else { return true }
        guard h.count >= n.count else { return false }
        return (0...(h.count - n.count)).contains { h[$0..<($0 + n.count)].elementsEqual(n) }
    }
}

/// Pages of secrets, users and audit events (Tx.secretPage, userPage, auditPage and their counts):
/// every page query agrees with a plain reference over random rows, forward and backward every
/// row comes exactly once, and the key and prefix queries walk an index.
@Suite struct PageTests {
    // Characters names are made of: ASCII of both cases, the LIKE wildcards, the path separator,
    // two- three- and four-byte UTF-8, the last code points before and after the surrogates, the last one.
    static let alphabet: [String] = [
        "a", "b", "c", "A", "B", "z", "Z", "0", "9", "/", "-", ".", "_", "%", "é", "É", "ß",
        "日", "本", "😀", "\u{D7FF}", "\u{E000}", "\u{FFFF}", "\u{10FFFF}", "[", "@", "`", "{"
    ]
    static let stems = ["app/prod/", "app/PROD/", "app/", "ápp/", "db/", "x\u{10FFFF}", "x\u{10FFFF}\u{10FFFF}", "x", "Zeta/", ""]

    static func randomName(_ rng: inout SeededRandom) -> String {
        var s = stems.randomElement(using: &rng)!
        for _ in 0..<Int.random(in: 1...7, using: &rng) { s += alphabet.randomElement(using: &rng)! }
        return s
    }

    static func secret(_ name: String) -> SecretRow {
        SecretRow(name: name, description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil, createdAt: 0, updatedAt: 0)
    }

    /// Filters to try over `names`: every kind, from the data and beside it.
    static func filters(_ names: [String], _ rng: inout SeededRandom) -> [NameFilter?] {
        var out: [NameFilter?] = [
            nil, .prefix(""), .contains(""), .prefix("app/"), .prefix("APP/"), .prefix("x\u{10FFFF}"),
            .prefix("x\u{10FFFF}\u{10FFFF}"), .prefix("\u{10FFFF}"), .prefix("nothing-here"),
            .contains("PROD"), .contains("%"), .contains("_"), .contains("a"), .contains("\u{10FFFF}"),
            .contains("é/"), .contains("missing text"), .contains("😀😀😀")
        ]
        for _ in 0..<12 {
            let scalars = Array(names.randomElement(using: &rng)!.unicodeScalars)
            let from = Int.random(in: 0..<scalars.count, using: &rng)
            let to = min(scalars.count, from + Int.random(in: 1...5, using: &rng))
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[from..<to])
            let piece = String(view)
            out.append(.contains(Bool.random(using: &rng) ? piece.uppercased() : piece))
            var head = String.UnicodeScalarView()
            head.append(contentsOf: scalars[0..<to])
            out.append(.prefix(String(head)))
        }
        return out
    }

    /// Walks every page forward from `.first` and backward from `.last`; returns both walks' keys
    /// after checking each page's flags and size.
    static func walk<R>(_ limit: Int, keyOf: (R) -> String, page: (PagePosition<String>) throws -> RowPage<R>)
        throws -> (forward: [String], backward: [String])
    {
        var forward: [String] = []
        var p = try page(.first)
        #expect(!p.hasBefore)
        while true {
            #expect(p.rows.count <= limit)
            forward += p.rows.map(keyOf)
            guard p.hasAfter, let last = p.rows.last else { break }
            #expect(p.rows.count == limit, "a page before the end is full")
            p = try page(.after(keyOf(last)))
            #expect(p.hasBefore)
        }
        var backward: [String] = []
        p = try page(.last)
        #expect(!p.hasAfter)
        while true {
            backward = p.rows.map(keyOf) + backward
            guard p.hasBefore, let first = p.rows.first else { break }
            p = try page(.before(keyOf(first)))
            #expect(p.hasAfter)
        }
        return (forward, backward)
    }

    @Test func secretPagesAgreeWithAPlainReference() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        var rng = SeededRandom(state: 0x5EC2E7)
        var names = Set<String>()
        while names.count < 400 { names.insert(Self.randomName(&rng)) }
        let all = Array(names)
        try store.write { tx in for n in all { try tx.insertSecret(Self.secret(n)) } }

        for filter in Self.filters(all, &rng) {
            let expected = all.filter { n in
                switch filter {
                case nil: true
                case .prefix(let p)?: Reference.hasPrefix(n, p, foldingCase: false)
                case .contains(let t)?: Reference.contains(n, t)
                }
            }.sorted { Reference.less($0, $1, foldingCase: false) }
            for limit in [1, 7, 50] {
                let (forward, backward) = try store.read { tx in
                    try Self.walk(limit, keyOf: \SecretRow.name) { try tx.secretPage(filter, at: $0, limit: limit) }
                }
                #expect(forward == expected, "forward, \(String(describing: filter)), limit \(limit)")
                #expect(backward == expected, "backward, \(String(describing: filter)), limit \(limit)")
            }
            try store.read { tx in
                #expect(try tx.secretCount(filter) == expected.count, "count of \(String(describing: filter))")
                #expect(try tx.secretCount(filter, upTo: 3) == min(3, expected.count))
                // A position at a key, present or not: that row or the next, and those after.
                for key in [all.randomElement(using: &rng)!, Self.randomName(&rng), "", "\u{10FFFF}\u{10FFFF}"] {
                    let page = try tx.secretPage(filter, at: .at(key), limit: 5)
                    let want = expected.filter { !Reference.less($0, key, foldingCase: false) }
                    #expect(page.rows.map(\.name) == Array(want.prefix(5)), "at \(key.debugDescription), \(String(describing: filter))")
                    #expect(page.hasAfter == (want.count > 5))
                    #expect(page.hasBefore == (expected.count > want.count))
                }
            }
        }
    }

    @Test func userPagesAgreeWithAPlainReferenceWithoutRegardToCase() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        var rng = SeededRandom(state: 0x05E25)
        var byFolded: [[UInt8]: String] = [:]
        while byFolded.count < 300 {
            let n = Self.randomName(&rng)
            byFolded[Reference.folded(n)] = byFolded[Reference.folded(n)] ?? n
        }
        struct U { var name: String; var email: String?; var display: String; var roles: Set<String> }
        let users: [U] = byFolded.values.map { n in
            U(
                name: n, email: Bool.random(using: &rng) ? Self.randomName(&rng) + "@example.com" : nil,
                display: Bool.random(using: &rng) ? Self.randomName(&rng) : "",
                roles: Set(["ops", "Audit", "dev"].filter { _ in Bool.random(using: &rng) }))
        }
        try store.write { tx in
            var roleIDs: [String: Int64] = [:]
            for r in ["ops", "Audit", "dev"] {
                roleIDs[r] = try tx.insertRole(name: r, description: "", builtin: false, createdAt: 0, permissions: [])
            }
            for u in users {
                let id = try tx.insertUser(
                    UserRow(
                        username: u.name, email: u.email, displayName: u.display, passwordHash: "x",
                        mustChange: false, passwordExpiresAt: nil, createdAt: 0, updatedAt: 0))
                for r in u.roles { try tx.addUserRole(userID: id, roleID: roleIDs[r]!) }
            }
        }
        let names = users.map(\.name)
        var filters: [UserFilter] = Self.filters(names, &rng).map { UserFilter(name: $0) }
        filters += [
            UserFilter(role: "audit"), UserFilter(name: .contains("example"), role: "OPS"),
            UserFilter(name: .prefix("A"), role: "dev"), UserFilter(name: .contains(".COM")), UserFilter(role: "none")
        ]
        for _ in 0..<6 {  // pieces of e-mail addresses and display names
            if let e = users.compactMap(\.email).randomElement(using: &rng) {
                filters.append(UserFilter(name: .contains(String(e.unicodeScalars.suffix(14)))))
            }
            if let d = users.map(\.display).filter({ !$0.isEmpty }).randomElement(using: &rng) {
                filters.append(UserFilter(name: .contains(String(d.unicodeScalars.prefix(4)))))
            }
        }
        for filter in filters {
            let expected = users.filter { u in
                if let r = filter.role, !u.roles.contains(where: { $0.lowercased() == r.lowercased() }) { return false }
                switch filter.name {
                case nil: return true
                case .prefix(let p)?: return Reference.hasPrefix(u.name, p, foldingCase: true)
                case .contains(let t)?:
                    return Reference.contains(u.name, t) || Reference.contains(u.email ?? "", t) || Reference.contains(u.display, t)
                }
            }.map(\.name).sorted { Reference.less($0, $1, foldingCase: true) }
            for limit in [1, 9, 40] {
                let (forward, backward) = try store.read { tx in
                    try Self.walk(limit, keyOf: \UserRow.username) { try tx.userPage(filter, at: $0, limit: limit) }
                }
                #expect(forward == expected, "forward, \(filter), limit \(limit)")
                #expect(backward == expected, "backward, \(filter), limit \(limit)")
            }
            #expect(try store.read { try $0.userCount(filter) } == expected.count, "count of \(filter)")
        }
        // A position by a username in another case is the same position.
        try store.read { tx in
            let some = names.sorted { Reference.less($0, $1, foldingCase: true) }[100]
            let a = try tx.userPage(UserFilter(), at: .at(some), limit: 3)
            let b = try tx.userPage(UserFilter(), at: .at(some.uppercased()), limit: 3)
            #expect(a.rows.first?.username == some && a == b)
        }
    }

    @Test func auditPagesAgreeWithAPlainReference() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        var rng = SeededRandom(state: 0xA0D17)
        let actors = ["admin", "Olivia", "bob"], actions = ["login", "secret.reveal", "secret.set", "user.create", "USER.lock"]
        var rows: [AuditRow] = []
        try store.write { tx in
            for seq in Int64(1)...500 {
                let row = AuditRow(
                    seq: seq, at: 1_000 * seq + Int64.random(in: 0..<900, using: &rng), actorID: nil,
                    actorName: actors.randomElement(using: &rng)!, actorKeyID: nil,
                    action: actions.randomElement(using: &rng)!, target: "secret:" + Self.randomName(&rng),
                    details: "{}", prevHash: Array(repeating: 0, count: 32), hash: Array(repeating: 1, count: 32),
                    signature: nil)
                try tx.insertAudit(row)
                rows.append(row)
            }
        }
        let filters = [
            AuditFilter(), AuditFilter(actor: "OLIVIA"), AuditFilter(action: "secret.reveal"), AuditFilter(action: "user."),
            AuditFilter(target: "PROD"), AuditFilter(target: "_"), AuditFilter(since: 100_000, until: 300_000),
            AuditFilter(actor: "bob", action: "secret.", throughSeq: 400), AuditFilter(throughSeq: 0)
        ]
        for filter in filters {
            let expected = rows.filter { r in
                if let a = filter.actor, a.lowercased() != r.actorName.lowercased() { return false }
                if let a = filter.action {
                    if a.hasSuffix(".") ? !Reference.hasPrefix(r.action, a, foldingCase: true) : r.action != a { return false }
                }
                if let t = filter.target, !Reference.contains(r.target, t) { return false }
                if let s = filter.since, r.at < s { return false }
                if let u = filter.until, r.at >= u { return false }
                if let s = filter.throughSeq, r.seq > s { return false }
                return true
            }
            for limit in [1, 13, 100] {
                let (forward, backward) = try store.read { tx in
                    try Self.walk(limit, keyOf: { (r: AuditRow) in String(r.seq) }) { position in
                        let p: PagePosition<Int64> =
                            switch position {
                            case .first: .first
                            case .last: .last
                            case .after(let k): .after(Int64(k)!)
                            case .before(let k): .before(Int64(k)!)
                            case .at(let k): .at(Int64(k)!)
                            }
                        return try tx.auditPage(filter, at: p, limit: limit)
                    }
                }
                #expect(forward == expected.map { String($0.seq) }, "forward, \(filter), limit \(limit)")
                #expect(backward == expected.map { String($0.seq) }, "backward, \(filter), limit \(limit)")
            }
            try store.read { tx in
                #expect(try tx.auditCount(filter) == expected.count)
                let page = try tx.auditPage(filter, at: .first, limit: 3)
                #expect(page.rows == Array(expected.prefix(3)), "rows come back whole")
                for n in [1, 7, expected.count, expected.count + 1] where n >= 1 {
                    let want = n <= expected.count ? expected[expected.count - n].seq : nil
                    #expect(try tx.auditSeq(newest: n, filter) == want)
                }
            }
        }
        #expect(try store.read { try $0.lastAuditSeq() } == 500)
    }

    /// "Contains" three ways: found in the first window of the key's index (a common text), past
    /// it through the trigram index (a rare one, or one whose rows come late in the order), or
    /// past it by walking on (under three characters): the same rows as the reference each way.
    @Test func containsFindsTheSameRowsByEveryPlan() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        let total = Tx.containsWindow * 3 / 2
        let names =
            (0..<total).map { "svc/common-\($0 % 97)/item-\($0)" + ($0 % 1_000 == 7 ? "/RARE" : "") }
            + (0..<120).map { "zz/late-\($0)/q" }
        try store.write { tx in for n in names { try tx.insertSecret(Self.secret(n)) } }
        try store.read { tx in
            for needle in ["COMMON", "mon-4", "rare", "e-1", "/", "zz/LATE", "/q", "te-11", "nothing"] {
                let expected = names.filter { Reference.contains($0, needle) }.sorted { Reference.less($0, $1, foldingCase: false) }
                #expect(try tx.secretCount(.contains(needle)) == expected.count, "\(needle)")
                for bound in [1, 50, expected.count + 1] {
                    #expect(try tx.secretCount(.contains(needle), upTo: bound) == min(bound, expected.count), "\(needle) up to \(bound)")
                }
                for limit in [50, 500] {
                    let (forward, backward) = try Self.walk(limit, keyOf: \SecretRow.name) {
                        try tx.secretPage(.contains(needle), at: $0, limit: limit)
                    }
                    #expect(forward == expected, "\(needle): \(forward.count) of \(expected.count)")
                    #expect(backward == expected, "\(needle) backward")
                }
            }
        }
    }

    // MARK: Index use

    /// Runs `body` with every statement's SQL recorded, then returns the query plan of each SELECT.
    static func plans(_ store: Store, _ body: (Tx) throws -> Void) throws -> [(sql: String, plan: [String])] {
        try store.read { tx in
            final class Seen: @unchecked Sendable { var sql: [String] = [] }
            let seen = Seen()
            tx.db.trace(options: .statement) { event in
                if case .statement(let s) = event { seen.sql.append(s.sql) }
            }
            try body(tx)
            tx.db.trace(options: .statement, nil)
            return try seen.sql.filter { $0.hasPrefix("SELECT") }.map { sql in
                let unbound = StatementArguments(Array(repeating: DatabaseValue.null, count: sql.filter { $0 == "?" }.count))
                let plan = try Row.fetchAll(tx.db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: unbound).map { $0["detail"] as String }
                return (sql, plan)
            }
        }
    }

    /// A plan line that reads a whole table or index: SCAN, but of the page's json_each list.
    static func fullScans(_ plan: [String]) -> [String] {
        plan.filter { $0.hasPrefix("SCAN") && !$0.contains("VIRTUAL TABLE") }
    }

    @Test func keyAndPrefixQueriesSearchTheIndexNeverScan() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for i in 0..<50 { try tx.insertSecret(Self.secret("app/\(i)")) }
            for i in 0..<50 {
                try tx.insertUser(
                    UserRow(
                        username: "user\(i)", email: nil, displayName: "", passwordHash: "x", mustChange: false,
                        passwordExpiresAt: nil, createdAt: 0, updatedAt: 0))
            }
        }
        try appendAuditEvent(store)
        let cases: [(String, (Tx) throws -> Void)] = [
            ("secrets after", { _ = try $0.secretPage(nil, at: .after("app/3"), limit: 10) }),
            ("secrets before", { _ = try $0.secretPage(nil, at: .before("app/3"), limit: 10) }),
            ("secrets at", { _ = try $0.secretPage(nil, at: .at("app/3"), limit: 10) }),
            ("secrets prefix", { _ = try $0.secretPage(.prefix("app/1"), at: .first, limit: 10) }),
            ("secrets prefix after", { _ = try $0.secretPage(.prefix("app/1"), at: .after("app/12"), limit: 10) }),
            ("secrets prefix count", { _ = try $0.secretCount(.prefix("app/1")) }),
            ("users after", { _ = try $0.userPage(UserFilter(), at: .after("user3"), limit: 10) }),
            ("users before", { _ = try $0.userPage(UserFilter(), at: .before("user3"), limit: 10) }),
            ("users prefix", { _ = try $0.userPage(UserFilter(name: .prefix("USER1")), at: .last, limit: 10) }),
            ("users prefix count", { _ = try $0.userCount(UserFilter(name: .prefix("user1"))) }),
            ("audit after", { _ = try $0.auditPage(AuditFilter(), at: .after(1), limit: 10) }),
            ("audit before", { _ = try $0.auditPage(AuditFilter(), at: .before(100), limit: 10) }),
            ("audit actor after", { _ = try $0.auditPage(AuditFilter(actor: "admin"), at: .after(1), limit: 10) })
        ]
        for (name, body) in cases {
            let plans = try Self.plans(store, body)
            #expect(!plans.isEmpty, "\(name): no query seen")
            #expect(plans.contains { $0.plan.contains { $0.hasPrefix("SEARCH") } }, "\(name): no index search")
            for p in plans {
                #expect(Self.fullScans(p.plan).isEmpty, "\(name): \(p.sql)\n\(p.plan.joined(separator: "\n"))")
            }
        }
        // The check can fail: a filter on a column without an index scans.
        let scan = try Self.plans(store) { tx in _ = try tx.auditPage(AuditFilter(target: "x"), at: .first, limit: 10) }
        #expect(scan.contains { !Self.fullScans($0.plan).isEmpty } || scan.contains { $0.plan.contains { $0.contains("SCAN e") } })
    }

    /// A text found nowhere in the first window of the key's index, with more rows past it: its
    /// candidates come from the trigram index, not from a walk of every row.
    @Test func containsGoesThroughTheTrigramIndex() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for i in 0..<(Tx.containsWindow + 500) { try tx.insertSecret(Self.secret("app/\(i)/key")) }
            try tx.insertSecret(Self.secret("zz/token"))
        }
        var found: [String] = []
        let plans = try Self.plans(store) { tx in found = try tx.secretPage(.contains("TOKEN"), at: .first, limit: 10).rows.map(\.name) }
        #expect(found == ["zz/token"])
        let described = plans.map { $0.sql + "\n" + $0.plan.joined(separator: "\n") }.joined(separator: "\n\n")
        #expect(
            plans.contains { $0.plan.contains { $0.contains("VIRTUAL TABLE") } && $0.sql.contains("secret_names MATCH") }, "\(described)")
        // The walk of the key's index stopped at the window: no query scans the table unbounded.
        #expect(
            plans.allSatisfy { !$0.sql.contains("instr") || $0.sql.contains("MATCH") || $0.sql.contains("s.name <= ?") },
            "\(described)")
    }

    // MARK: Prefix bounds

    @Test func prefixUpperBoundIsTheNextStringAfterEveryExtension() {
        #expect(Tx.prefixUpperBound("app/", foldingCase: false) == "app0")
        #expect(Tx.prefixUpperBound("a\u{10FFFF}", foldingCase: false) == "b")
        #expect(Tx.prefixUpperBound("a\u{10FFFF}\u{10FFFF}", foldingCase: false) == "b")
        #expect(Tx.prefixUpperBound("\u{10FFFF}", foldingCase: false) == nil)
        #expect(Tx.prefixUpperBound("x\u{D7FF}", foldingCase: false) == "x\u{E000}")
        #expect(Tx.prefixUpperBound("App", foldingCase: true) == "apq")
        #expect(Tx.prefixUpperBound("a@", foldingCase: true) == "a[", "under NOCASE no name sorts between @ and [")
        #expect(Tx.prefixUpperBound("aZ", foldingCase: true) == "a{")
        #expect(Tx.prefixUpperBound("aZ", foldingCase: false) == "a[")
    }
}
