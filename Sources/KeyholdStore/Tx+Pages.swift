import Foundation
import GRDB

// Lists as pages (docs/ARCHITECTURE.md, "Lists are pages"): keyset pagination
// on an indexed key (a secret's name, a username, an event's sequence number),
// so a page costs the same at the start of a million rows as at its end, in
// either direction, and a position survives changes elsewhere in the list;
// filters are conditions of the same query: a prefix is a range of the key's
// own index; "contains" goes through the trigram indexes of migration 7.

/// How a listing is narrowed by name.
public enum NameFilter: Sendable, Hashable {
    /// Names that start with this text. Secrets: byte for byte (case matters, as names are
    /// unique); users: the username, without regard to ASCII case (as usernames are unique).
    case prefix(String)
    /// Names that contain this text, without regard to ASCII case (what SQL's LIKE matches).
    /// Secrets: the name; users: the username, the e-mail address or the display name.
    case contains(String)
}

/// Where a page of a listing starts, by the key of a row: a secret's name, a username, an
/// audit event's sequence number. A key is a position even after its row is gone.
public enum PagePosition<Key: Sendable & Hashable>: Sendable, Hashable {
    /// The first rows of the listing.
    case first
    /// The last rows of the listing.
    case last
    /// The rows after this key.
    case after(Key)
    /// The rows before this key (the page above it), still in the listing's order.
    case before(Key)
    /// The row with this key, or the one that would follow it, and those after it: a
    /// refresh from the selected row's key keeps the selection where it was.
    case at(Key)
}

/// One page of a listing, in the listing's order.
public struct RowPage<Row> {
    public var rows: [Row]
    /// Whether the listing (with its filter) has rows before the first of these.
    public var hasBefore: Bool
    /// Whether it has rows after the last of these.
    public var hasAfter: Bool
    public init(rows: [Row], hasBefore: Bool, hasAfter: Bool) {
        self.rows = rows; self.hasBefore = hasBefore; self.hasAfter = hasAfter
    }
}
extension RowPage: Sendable where Row: Sendable {}
extension RowPage: Equatable where Row: Equatable {}

/// Which users a listing shows.
public struct UserFilter: Sendable, Hashable {
    public var name: NameFilter?
    /// Only users holding this role (by name, without regard to case).
    public var role: String?
    public init(name: NameFilter? = nil, role: String? = nil) { self.name = name; self.role = role }
}

/// Which audit events a listing shows (as `AuditQuery`'s filters).
public struct AuditFilter: Sendable, Hashable {
    /// Events by this actor (without regard to case).
    public var actor: String?
    /// This action, or a prefix of actions ending in `.` (`user.`).
    public var action: String?
    /// Events whose target contains this text (without regard to ASCII case).
    public var target: String?
    /// Events whose actor, action, target or details contain this text (without regard to
    /// ASCII case): the console's filter as you type.
    public var text: String?
    /// From this time (ms), inclusive; before `until` (ms), exclusive.
    public var since: Int64?
    public var until: Int64?
    /// Events up to this sequence number: a listing streamed page by page stops where the
    /// log ended when it started.
    public var throughSeq: Int64?
    public init(
        actor: String? = nil, action: String? = nil, target: String? = nil, since: Int64? = nil,
        until: Int64? = nil, throughSeq: Int64? = nil, text: String? = nil
    ) {
        self.actor = actor; self.action = action; self.target = target; self.since = since; self.until = until
        self.throughSeq = throughSeq; self.text = text
    }
}

/// The rows a listing draws from: a FROM clause and conditions, built from constant SQL
/// fragments only (values are bound), plus the key every page is ordered by; and, for a
/// "contains" filter, the exact test of a row and the trigram index that finds its candidates.
struct RowSource {
    var from: String
    var conditions: [String] = []
    var arguments: [any DatabaseValueConvertible] = []
    /// The key column, unique in the listing (its collation is the column's own).
    var key: String
    /// The row id column the full rows are fetched by.
    var id: String
    /// "Contains": a condition true of exactly the rows that match.
    var test: (sql: String, arguments: [any DatabaseValueConvertible])?
    /// "Contains" through a trigram index: the FROM clause joining it to the table, and its
    /// MATCH condition with the expression bound to it (nil for a text under three characters).
    var index: (from: String, match: String, expression: String)?

    /// How the rows of a "contains" filter are found: by walking the key's index and testing
    /// each row, or from the trigram index's candidates.
    enum Plan { case scan, index }

    mutating func require(_ condition: String, _ values: any DatabaseValueConvertible...) {
        conditions.append(condition)
        arguments += values
    }

    /// `SELECT <what> FROM ... WHERE ...` by `plan`, with `extra` conditions (and their values) added.
    func select(_ what: String, _ plan: Plan = .scan, _ extra: [String] = [], _ extraArguments: [any DatabaseValueConvertible] = [])
        -> (sql: String, arguments: StatementArguments)
    {
        var all: [String] = [], values: [any DatabaseValueConvertible] = []
        if plan == .index, let index {
            all.append(index.match)
            values.append(index.expression)
        }
        all += conditions + extra
        values += arguments + extraArguments
        if let test {
            all.append(test.sql)
            values += test.arguments
        }
        let source = plan == .index ? index?.from ?? from : from
        return (
            "SELECT " + what + " FROM " + source + (all.isEmpty ? "" : " WHERE " + all.joined(separator: " AND ")),
            StatementArguments(values)
        )
    }
}

extension Tx {
    /// Rows of the key's index a "contains" page first walks in order, testing each, before it
    /// turns to the trigram index: a common text's page is found in the first few hundred, a
    /// rare one's candidates are few. docs/ARCHITECTURE.md ("Lists are pages") has the measurements.
    static let containsWindow = 10_000

    // MARK: Secrets

    /// What a secrets page selects for `SecretRow(row:)` (by position), from `s`.
    private static let secretPageColumns = """
        s.id, s.name, s.description, s.current_version, s.last_version, s.history_limit, s.rotate_by,
        s.created_at, s.updated_at, (SELECT count(*) FROM secret_versions v WHERE v.secret_id = s.id) AS version_count
        """

    private func secretSource(_ filter: NameFilter?) -> RowSource {
        var source = RowSource(from: "secrets s", key: "s.name", id: "s.id")
        switch filter {
        case nil:
            break
        case .prefix(let p):
            guard !p.isEmpty else { break }
            source.require("s.name >= ?", p)
            if let upper = Tx.prefixUpperBound(p, foldingCase: false) { source.require("s.name < ?", upper) }
        case .contains(let text):
            guard !text.isEmpty else { break }
            let needle = Tx.asciiLowercased(text)
            source.test = ("instr(lower(s.name), ?) > 0", [needle])
            source.index = Tx.trigramMatch(needle).map {
                ("secret_names f CROSS JOIN secrets s ON s.id = f.rowid", "secret_names MATCH ?", $0)
            }
        }
        return source
    }

    /// A page of secrets (metadata only) in name order, from `position`.
    public func secretPage(_ filter: NameFilter?, at position: PagePosition<String>, limit: Int) throws -> RowPage<SecretRow> {
        try page(secretSource(filter), position: position, limit: limit, keyOf: \.name) { ids in
            try mapRows(
                db.cachedStatement(
                    sql: "SELECT " + Tx.secretPageColumns
                        + " FROM json_each(?) j CROSS JOIN secrets s ON s.id = j.value ORDER BY j.key"),
                [Tx.jsonIntegers(ids)], SecretRow.init(row:))
        }
    }

    /// How many secrets match `filter` (counted by SQL), or `upTo` when there are at least that many.
    public func secretCount(_ filter: NameFilter?, upTo: Int? = nil) throws -> Int {
        try count(secretSource(filter), upTo: upTo)
    }

    // MARK: Users

    private func userSource(_ filter: UserFilter) -> RowSource {
        var source = RowSource(from: "users u", key: "u.username", id: "u.id")
        if let role = filter.role {
            source.require(
                "EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.name = ?)", role)
        }
        switch filter.name {
        case nil:
            break
        case .prefix(let p):
            guard !p.isEmpty else { break }
            // The username's collation is NOCASE: its index is in the order of names with
            // ASCII letters folded to lower case, and so is the range.
            source.require("u.username >= ?", p)
            if let upper = Tx.prefixUpperBound(p, foldingCase: true) { source.require("u.username < ?", upper) }
        case .contains(let text):
            guard !text.isEmpty else { break }
            let needle = Tx.asciiLowercased(text)
            source.test = (
                """
                (instr(lower(u.username), ?) > 0 OR instr(lower(coalesce(u.email, '')), ?) > 0 \
                OR instr(lower(u.display_name), ?) > 0)
                """, [needle, needle, needle]
            )
            source.index = Tx.trigramMatch(needle).map { ("user_names f CROSS JOIN users u ON u.id = f.rowid", "user_names MATCH ?", $0) }
        }
        return source
    }

    /// A page of users in username order (without regard to ASCII case), from `position`.
    public func userPage(_ filter: UserFilter, at position: PagePosition<String>, limit: Int) throws -> RowPage<UserRow> {
        try page(userSource(filter), position: position, limit: limit, keyOf: \.username) { ids in
            try mapRows(
                db.cachedStatement(
                    sql: "SELECT " + UserRow.columns + " FROM json_each(?) j CROSS JOIN users u ON u.id = j.value ORDER BY j.key"),
                [Tx.jsonIntegers(ids)], UserRow.init(row:))
        }
    }

    /// How many users match `filter`, or `upTo` when there are at least that many.
    public func userCount(_ filter: UserFilter, upTo: Int? = nil) throws -> Int {
        try count(userSource(filter), upTo: upTo)
    }

    /// The role names of each of `ids` (sorted as `roleNames(ofUser:)` sorts them), for one page.
    public func roleNames(ofUsers ids: [Int64]) throws -> [Int64: [String]] {
        var out: [Int64: [String]] = [:]
        guard !ids.isEmpty else { return out }
        let statement = try db.cachedStatement(
            sql: """
                SELECT r.id, ur.user_id, r.name FROM json_each(?) j CROSS JOIN user_roles ur ON ur.user_id = j.value
                JOIN roles r ON r.id = ur.role_id ORDER BY ur.user_id, r.name
                """)
        try forEachRow(statement, [Tx.jsonIntegers(ids)]) { row in
            let c = Columns(row, "roles")
            out[try c.value(1), default: []].append(try c.value(2))
        }
        return out
    }

    /// The grants of `ids` (one page's users), by user.
    public func grants(ofUsers ids: [Int64]) throws -> [Int64: GrantRow] {
        var out: [Int64: GrantRow] = [:]
        guard !ids.isEmpty else { return out }
        let statement = try db.cachedStatement(sql: "SELECT g.* FROM json_each(?) j CROSS JOIN grants g ON g.user_id = j.value")
        try forEachRow(statement, [Tx.jsonIntegers(ids)]) { row in
            let g = try GrantRow(row: row)
            out[g.userID] = g
        }
        return out
    }

    // MARK: Audit

    private func auditSource(_ filter: AuditFilter) -> RowSource {
        var source = RowSource(from: "audit_events e", key: "e.seq", id: "e.seq")
        if let a = filter.actor { source.require("e.actor_name = ? COLLATE NOCASE", a) }
        if let a = filter.action {
            if a.hasSuffix(".") {
                source.require("e.action LIKE ? ESCAPE '\\'", Tx.escapeLike(a) + "%")
            } else {
                source.require("e.action = ?", a)
            }
        }
        if let t = filter.target { source.require("e.target LIKE ? ESCAPE '\\'", "%" + Tx.escapeLike(t) + "%") }
        if let s = filter.since { source.require("e.at >= ?", s) }
        if let u = filter.until { source.require("e.at < ?", u) }
        if let s = filter.throughSeq { source.require("e.seq <= ?", s) }
        if let t = filter.text, !t.isEmpty {
            // Tested row by row as the sequence index is walked (the log has no trigram index):
            // a common text fills a page at once, a rare one reads the log.
            source.require(
                "instr(lower(e.actor_name || char(1) || e.action || char(1) || e.target || char(1) || e.details), ?) > 0",
                Tx.asciiLowercased(t))
        }
        return source
    }

    /// A page of audit events in sequence order, from `position`.
    public func auditPage(_ filter: AuditFilter, at position: PagePosition<Int64>, limit: Int) throws -> RowPage<AuditRow> {
        try page(auditSource(filter), position: position, limit: limit, keyOf: \.seq) { seqs in
            try mapRows(
                db.cachedStatement(
                    sql: "SELECT " + AuditRow.columns + " FROM json_each(?) j CROSS JOIN audit_events e ON e.seq = j.value ORDER BY j.key"),
                [Tx.jsonIntegers(seqs)], AuditRow.init(row:))
        }
    }

    /// How many events match `filter`, or `upTo` when there are at least that many.
    public func auditCount(_ filter: AuditFilter, upTo: Int? = nil) throws -> Int {
        try count(auditSource(filter), upTo: upTo)
    }

    /// The sequence number of the `n`th newest event matching `filter` (1: the newest), or
    /// nil when fewer match: where a listing of the newest `n` starts.
    public func auditSeq(newest n: Int, _ filter: AuditFilter) throws -> Int64? {
        guard n >= 1 else { return nil }
        let q = auditSource(filter).select("e.seq")
        return try Int64.fetchOne(
            db.cachedStatement(sql: q.sql + " ORDER BY e.seq DESC LIMIT 1 OFFSET ?"),
            arguments: q.arguments + [n - 1])
    }

    /// The newest event's sequence number (0 for an empty log).
    public func lastAuditSeq() throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM audit_events")) ?? 0
    }

    // MARK: The keyset engine

    /// One page of `source` from `position`: the ids of up to `limit` rows in key order (one
    /// more, to learn whether the listing goes on: `ids`), those rows whole by id (`fetch`, in
    /// the order of the ids given), then whether one row lies on the other side.
    private func page<R, K: Sendable & Hashable & DatabaseValueConvertible>(
        _ source: RowSource, position: PagePosition<K>, limit: Int, keyOf: (R) -> K,
        fetch: ([Int64]) throws -> [R]
    ) throws -> RowPage<R> {
        guard limit >= 1 else { throw StoreError.conflict("a page holds at least one row (got \(limit))") }
        let backward: Bool
        var bound: [String] = [], boundArguments: [any DatabaseValueConvertible] = []
        switch position {
        case .first: backward = false
        case .last: backward = true
        case .after(let k): backward = false; bound = [source.key + " > ?"]; boundArguments = [k]
        case .at(let k): backward = false; bound = [source.key + " >= ?"]; boundArguments = [k]
        case .before(let k): backward = true; bound = [source.key + " < ?"]; boundArguments = [k]
        }
        var found = try ids(source, bound, boundArguments, descending: backward, count: limit + 1)
        let more = found.count > limit
        if more { found.removeLast() }
        if backward { found.reverse() }
        let rows = try fetch(found)
        // Rows on the other side of the page: before its first row (going forward), after its
        // last (going backward); with no row, on the other side of the position's key.
        let other: (condition: String, key: K, descending: Bool)? =
            switch position {
            case .first, .last: nil
            case .after(let k): rows.first.map { (source.key + " < ?", keyOf($0), true) } ?? (source.key + " <= ?", k, true)
            case .at(let k): (source.key + " < ?", rows.first.map(keyOf) ?? k, true)
            case .before(let k): rows.last.map { (source.key + " > ?", keyOf($0), false) } ?? (source.key + " >= ?", k, false)
            }
        let beyond = try other.map { !(try ids(source, [$0.condition], [$0.key], descending: $0.descending, count: 1)).isEmpty } ?? false
        return backward
            ? RowPage(rows: rows, hasBefore: more, hasAfter: beyond)
            : RowPage(rows: rows, hasBefore: beyond, hasAfter: more)
    }

    /// The ids of the first `count` rows of `source` within `bound`, in key order (`descending`).
    /// With a "contains" test: the first `containsWindow` rows (or 20 per row asked for) of the
    /// key's index, tested in order (the window's last key found first, by an OFFSET that tests
    /// nothing, so that the walk is a range of the index that stops at the `count`th match);
    /// if it holds fewer matches and the list goes on past it, the trigram index's candidates
    /// (tested, sorted), or for a text under three characters the rest of the key's index.
    private func ids(
        _ source: RowSource, _ bound: [String], _ boundArguments: [any DatabaseValueConvertible],
        descending: Bool, count: Int
    ) throws -> [Int64] {
        let order = " ORDER BY " + source.key + (descending ? " DESC" : "")
        let first = { (plan: RowSource.Plan, extra: [String], extraArguments: [any DatabaseValueConvertible]) throws -> [Int64] in
            let q = source.select(source.id, plan, bound + extra, boundArguments + extraArguments)
            return try Int64.fetchAll(self.db.cachedStatement(sql: q.sql + order + " LIMIT ?"), arguments: q.arguments + [count])
        }
        guard source.test != nil else { return try first(.scan, [], []) }
        var plain = source
        plain.test = nil
        let window = max(Tx.containsWindow, count * 20)
        let edge = plain.select(source.key, .scan, bound, boundArguments)
        guard
            let last = try DatabaseValue.fetchOne(
                db.cachedStatement(sql: edge.sql + order + " LIMIT 1 OFFSET ?"),
                arguments: edge.arguments + [window - 1])
        else {
            return try first(.scan, [], [])  // what is left fits in the window
        }
        let found = try first(.scan, [source.key + (descending ? " >= ?" : " <= ?")], [last])
        if found.count >= count { return found }
        return try first(source.index == nil ? .scan : .index, [], [])
    }

    /// How many rows `source` holds (up to `upTo`). "Contains" counts the trigram index's
    /// candidates that pass the test; up to a bound, it counts the first rows `ids` finds,
    /// which for a common text are in the first window of the key's index.
    private func count(_ source: RowSource, upTo: Int?) throws -> Int {
        guard let upTo else {
            let q = source.select("count(*)", source.index == nil ? .scan : .index)
            return try Int.fetchOne(db.cachedStatement(sql: q.sql), arguments: q.arguments) ?? 0
        }
        guard upTo > 0 else { return 0 }
        if source.test != nil { return try ids(source, [], [], descending: false, count: upTo).count }
        let q = source.select("1")
        return try Int.fetchOne(
            db.cachedStatement(sql: "SELECT count(*) FROM (" + q.sql + " LIMIT ?)"),
            arguments: q.arguments + [upTo]) ?? 0
    }

    // MARK: Filters

    /// The MATCH expression that finds, through a trigram index, every row whose text may
    /// contain `needle` (already lower-cased in ASCII): each of its trigrams, quoted, all of
    /// them (the indexes keep no positions, so this is a superset the exact test then cuts).
    /// Nil for a needle under three characters, which has no trigram.
    static func trigramMatch(_ needle: String) -> String? {
        let grams = trigrams(needle)
        guard !grams.isEmpty else { return nil }
        return grams.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " AND ")
    }

    /// The distinct three-character windows of `text` (by Unicode scalar, as SQLite's
    /// substr and the trigram tokenizer count), in order of first appearance.
    static func trigrams(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count >= 3 else { return [] }
        var seen = Set<String>(), out: [String] = []
        for i in 0...(scalars.count - 3) {
            var gram = String.UnicodeScalarView()
            gram.append(contentsOf: scalars[i..<(i + 3)])
            let s = String(gram)
            if seen.insert(s).inserted { out.append(s) }
        }
        return out
    }

    /// `text` with ASCII letters in lower case and nothing else changed: what SQLite's
    /// `lower()` and LIKE fold (without ICU), so a needle and the names it is compared with agree.
    static func asciiLowercased(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 &- 65 < 26 }) else { return text }
        return String(decoding: text.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// The least string above every string that starts with `prefix`, in SQLite's BINARY
    /// order (UTF-8 bytes, which is the order of code points) or, `foldingCase`, NOCASE's
    /// (the same with ASCII letters folded to lower case). So `key >= prefix AND key < bound`
    /// is exactly the keys that start with `prefix`, and a range of the key's index. The last
    /// character is replaced by the next one (a surrogate skipped; under NOCASE, the upper-case
    /// letters too, which sort as lower case); a last U+10FFFF, having none, is dropped and the
    /// one before it raised instead. Nil when every character is U+10FFFF: no bound is needed.
    static func prefixUpperBound(_ prefix: String, foldingCase: Bool) -> String? {
        var scalars = Array((foldingCase ? asciiLowercased(prefix) : prefix).unicodeScalars)
        while let last = scalars.popLast() {
            var next = last.value + 1
            if next == 0xD800 { next = 0xE000 }
            if foldingCase && (0x41...0x5A).contains(next) { next = 0x5B }
            guard next <= 0x10FFFF, let scalar = Unicode.Scalar(next) else { continue }
            scalars.append(scalar)
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return String(view)
        }
        return nil
    }

    /// A JSON array of integers, for `json_each` (a page's ids in one bound value).
    static func jsonIntegers(_ ids: [Int64]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
    }
}
