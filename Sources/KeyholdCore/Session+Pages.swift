import KeyholdStore

/// A row of a listing that pages: its key is its place in the listing's order (a secret's name,
/// a username, an event's sequence number), and a position (`PagePosition`) is made of keys.
public protocol PageItem: Sendable, Codable {
    /// Codable: a page read travels to and from the agent (docs/ARCHITECTURE.md, "The agent").
    associatedtype Key: Sendable & Hashable & Codable
    var pageKey: Key { get }
}

extension SecretInfo: PageItem { public var pageKey: String { name } }
extension UserInfo: PageItem { public var pageKey: String { username } }
extension AuditEvent: PageItem { public var pageKey: Int64 { seq } }

/// One page of a listing, in the listing's order: secrets by name, users by username (without
/// regard to ASCII case), audit events by sequence number.
public struct Page<Item: PageItem>: Sendable {
    public var items: [Item]
    /// Whether the listing (with its filter) has rows before the first item, and after the last.
    public var hasBefore: Bool
    public var hasAfter: Bool

    public init(items: [Item], hasBefore: Bool, hasAfter: Bool) {
        self.items = items; self.hasBefore = hasBefore; self.hasAfter = hasAfter
    }

    /// Where the page above this one starts, or nil at the top.
    public var previous: PagePosition<Item.Key>? { hasBefore ? items.first.map { .before($0.pageKey) } : nil }
    /// Where the page below this one starts, or nil at the end.
    public var next: PagePosition<Item.Key>? { hasAfter ? items.last.map { .after($0.pageKey) } : nil }
}

extension Page: Equatable where Item: Equatable {}

// Listings a page at a time (docs/ARCHITECTURE.md, "Lists are pages"): each call is one read
// transaction with the permission check of the whole listing it pages (secrets.list,
// users.read, audit.read) and, like those, no audit event: listing metadata is not audited.
// A page is found by the key of a row, not by an offset, so it costs the same anywhere in a
// million rows, and a list kept at `.at(selected key)` stays on its row when others come and go.
extension Session {
    /// Rows one page may hold.
    public static let pageLimitRange = 1...10_000
    /// The longest filter text (a name is at most 255 bytes; an e-mail address 254).
    public static let filterMaxBytes = 1_024

    /// A page of secrets (metadata only, never a value) in name order.
    public func secretPage(_ filter: NameFilter? = nil, at position: PagePosition<String> = .first, limit: Int) throws -> Page<SecretInfo> {
        try checkPage(filter, limit: limit)
        return try read(requires: .secretsList, action: "secret.list") { tx, _ in
            let p = try tx.secretPage(filter, at: position, limit: limit)
            return Page(items: p.rows.map(info), hasBefore: p.hasBefore, hasAfter: p.hasAfter)
        }
    }

    /// How many secrets match `filter`; with `upTo`, counting stops there (a list can show "1,000+").
    public func secretCount(_ filter: NameFilter? = nil, upTo: Int? = nil) throws -> Int {
        try checkPage(filter, limit: nil)
        return try read(requires: .secretsList, action: "secret.list") { tx, _ in try tx.secretCount(filter, upTo: upTo) }
    }

    /// A page of users in username order (without regard to ASCII case).
    public func userPage(_ filter: UserFilter = UserFilter(), at position: PagePosition<String> = .first, limit: Int) throws -> Page<
        UserInfo
    > {
        try checkPage(filter.name, limit: limit)
        return try read(requires: .usersRead, action: "user.list") { tx, _ in
            let p = try tx.userPage(filter, at: position, limit: limit)
            return Page(items: try userInfos(tx, p.rows, page: true), hasBefore: p.hasBefore, hasAfter: p.hasAfter)
        }
    }

    /// How many users match `filter` (or `upTo`, when at least that many do).
    public func userCount(_ filter: UserFilter = UserFilter(), upTo: Int? = nil) throws -> Int {
        try checkPage(filter.name, limit: nil)
        return try read(requires: .usersRead, action: "user.list") { tx, _ in try tx.userCount(filter, upTo: upTo) }
    }

    /// A page of audit events in sequence order.
    public func auditPage(_ filter: AuditFilter = AuditFilter(), at position: PagePosition<Int64> = .first, limit: Int) throws -> Page<
        AuditEvent
    > {
        try checkPage(filter.text.map { .contains($0) }, limit: limit)
        return try read(requires: .auditRead, action: "audit.list") { tx, _ in
            let p = try tx.auditPage(filter, at: position, limit: limit)
            return Page(items: p.rows.map(Session.event), hasBefore: p.hasBefore, hasAfter: p.hasAfter)
        }
    }

    /// How many events match `filter` (or `upTo`, when at least that many do).
    public func auditCount(_ filter: AuditFilter = AuditFilter(), upTo: Int? = nil) throws -> Int {
        try checkPage(filter.text.map { .contains($0) }, limit: nil)
        return try read(requires: .auditRead, action: "audit.list") { tx, _ in try tx.auditCount(filter, upTo: upTo) }
    }

    /// Where a listing of the log as it is now starts, and the newest event's sequence number, so
    /// that the listing, read page after page (`auditPage` with `throughSeq: through`), stops
    /// there whatever is appended meanwhile. `newest`: only the newest that many events matching
    /// `filter` (still listed oldest first); nil: all of them.
    public func auditListingStart(newest count: Int? = nil, _ filter: AuditFilter = AuditFilter())
        throws -> (start: PagePosition<Int64>, through: Int64)
    {
        if let count, count < 0 {
            throw KeyholdError.invalid(ValidationError(field: "limit", rule: .range, message: "limit: must not be negative (got \(count))"))
        }
        return try read(requires: .auditRead, action: "audit.list") { tx, _ in
            let through = min(filter.throughSeq ?? Int64.max, try tx.lastAuditSeq())
            guard let count else { return (.first, through) }
            // None at all: a start past the end of the log.
            guard count > 0 else { return (.after(through), through) }
            var bounded = filter
            bounded.throughSeq = through
            return (try tx.auditSeq(newest: count, bounded).map { .at($0) } ?? .first, through)
        }
    }

    static func event(_ r: AuditRow) -> AuditEvent {
        AuditEvent(
            seq: r.seq, at: r.at, actor: r.actorName, action: r.action, target: r.target, details: r.details,
            signed: r.signature != nil)
    }

    /// Bad input writes nothing and names its field: a page size out of range, a filter too long.
    private func checkPage(_ filter: NameFilter?, limit: Int?) throws {
        if let limit {
            do { _ = try Validate.number(limit, field: "page size", in: Session.pageLimitRange) } catch {
                throw KeyholdError.invalid(error)
            }
        }
        let text: String? =
            switch filter {
            case .prefix(let t)?, .contains(let t)?: t
            case nil: nil
            }
        if let text, text.utf8.count > Session.filterMaxBytes {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "filter", rule: .length,
                    message: "filter: at most \(Session.filterMaxBytes) bytes (got \(text.utf8.count))"))
        }
    }
}
