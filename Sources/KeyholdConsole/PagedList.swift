import KeyholdCore

// The console's big lists (Users, Secrets, Audit) are pages read from SQL (docs/ARCHITECTURE.md,
// "Lists are pages"): the model holds a window of rows around what is on screen, the count
// from SQL, and the selection by key. Moving inside the window is local; nearing its edge,
// Home/End, a refresh or a new filter text ask for a read (`PageQuery`), which `CoreRunner`
// answers with a `PageRead`. One read per list is in flight at a time: what is asked for
// meanwhile is merged into the next one, sent when the answer comes back, and an answer for
// a filter text that has since changed is dropped. Counting the whole list walks all of it
// (tens of ms at a million rows), so opening and refreshing ask for it as a second effect
// (`ListCount`) after the page: the first frame has its rows and the title's count follows.

/// A read of one list's window, as an effect.
public struct PageQuery<Key: Sendable & Hashable & Codable>: Equatable, Sendable, Codable {
    /// Where the window is read: the top or bottom of the list as shown, or around a row's key
    /// (that row or its neighbour, with rows on both sides).
    public enum Anchor: Equatable, Sendable, Codable {
        case first, last
        case around(Key)
    }
    /// Tells an answer from the one asked for last (`Model.pageReads`).
    public var id: Int
    /// The filter text (empty: none).
    public var filter: String
    public var anchor: Anchor
    /// Rows read on each side of an `around` anchor, and from the top or bottom.
    public var side: Int
    /// Count the rows matching a filter too, up to `PagedList.countCap` + 1 (opening,
    /// refreshing, a new filter text). Without a filter the page is not counted: the whole
    /// list's count is its own effect (`ListCount`).
    public var count: Bool

    public init(id: Int, filter: String, anchor: Anchor, side: Int, count: Bool) {
        self.id = id; self.filter = filter; self.anchor = anchor; self.side = side; self.count = count
    }
}

/// The count of one whole list (unfiltered), asked for as an effect of its own after the page
/// when a list opens or refreshes; as an answer, `rows` holds it.
public struct ListCount: Equatable, Sendable, Codable {
    /// Tells an answer from the count asked for last (`Model.pageReads` numbers both).
    public var id: Int
    /// Every row of the list (nil in the effect).
    public var rows: Int?

    public init(id: Int, rows: Int? = nil) { self.id = id; self.rows = rows }
}

/// A window of rows read for a `PageQuery`, in the order the list shows them.
public struct PageRead<Item: PageItem>: Sendable, Codable {
    public var query: PageQuery<Item.Key>
    public var rows: [Item]
    /// Whether the list has rows above the first of these, and below the last.
    public var hasBefore: Bool
    public var hasAfter: Bool
    /// For an `around` anchor: the row with its key, or the neighbour that took its place.
    public var anchorIndex: Int?
    /// The rows matching the filter: with `count` and a filter, up to `PagedList.countCap` + 1;
    /// and whenever the window holds the whole (filtered) list, its rows.
    public var total: Int?

    public init(
        query: PageQuery<Item.Key>, rows: [Item], hasBefore: Bool, hasAfter: Bool, anchorIndex: Int? = nil,
        total: Int? = nil
    ) {
        self.query = query; self.rows = rows; self.hasBefore = hasBefore; self.hasAfter = hasAfter
        self.anchorIndex = anchorIndex; self.total = total
    }
}

/// A list shown from a window of its rows. Indices (`list.selected`, `list.offset`, `base`)
/// are places in the whole list as shown: exact from either end, carried along by moves in
/// between (a window read around a key keeps the selection's place), so the scroll mark has a
/// position to show without counting the rows above it.
public struct PagedList<Item: PageItem & Equatable>: Equatable, Sendable {
    /// A filtered list is counted up to this many (a count of every match of a common text
    /// reads every candidate); the title then says "1000+".
    public static var countCap: Int { 1_000 }

    /// The rows read, in the order shown: a few screens around the visible part.
    public private(set) var items: [Item] = []
    /// The place of `items[0]` in the list.
    public private(set) var base = 0
    /// Whether the list goes on above the window, and below it.
    public private(set) var hasBefore = false
    public private(set) var hasAfter = false
    /// Rows matching the filter, from SQL (at most `countCap` + 1 when filtered: `countIsLowerBound`);
    /// without a filter, `all`. Nil while not counted yet (the whole count on its way).
    public private(set) var total: Int?
    public private(set) var countIsLowerBound = false
    /// Every row of the list, from SQL: the last `ListCount` (kept through a refresh until the next arrives).
    public private(set) var all: Int?
    public var list = ListState()
    /// The selected row's key: what a refresh reads around.
    public var selectedKey: Item.Key?
    public var filter = TextField(limit: 200)
    /// Typing goes to the filter.
    public var filtering = false
    /// The filter text the rows were read for (the typed text may be ahead of it).
    public private(set) var shownFilter = ""
    /// Read at least once.
    public var loaded = false
    public var loading = false
    public var error: String?
    /// The id of the read on its way, if one is.
    public internal(set) var inFlight: Int?
    /// The next read, sent when none is in flight.
    public internal(set) var wanted: Want?
    /// The whole list is to be counted: sent with the next effects, whatever is in flight.
    public internal(set) var countWanted = false
    /// The id of the newest count asked for and not answered yet: an answer with another id is dropped.
    public internal(set) var countInFlight: Int?

    /// A read asked for and not sent yet.
    public struct Want: Equatable, Sendable {
        public var anchor: PageQuery<Item.Key>.Anchor
        public var count: Bool
    }

    public init() {}

    /// Rows of the list as far as known: the count, or more when the window shows it is more.
    public var count: Int {
        if !hasAfter { return base + items.count }
        return max(total ?? 0, base + items.count + 1)
    }

    /// The count is on its way: the window does not hold the whole list and nothing counted it yet.
    public var countPending: Bool { total == nil && (hasBefore || hasAfter) }

    /// "12", "1000+" for a filtered list counted up to its cap, or "…" while the count is on its way.
    public var countText: String {
        countPending ? "…" : countIsLowerBound ? "\(Self.countCap)+" : String(count)
    }

    public var selectedItem: Item? {
        let i = list.selected - base
        return items.indices.contains(i) ? items[i] : nil
    }

    /// The row shown at place `index`, if the window holds it.
    public func item(at index: Int) -> Item? {
        items.indices.contains(index - base) ? items[index - base] : nil
    }

    /// Asks for a read (merged with one already asked for: the newest anchor, a count if either
    /// wants one). A counted read when the whole list was never counted (a failed count) asks for that too.
    mutating func want(_ anchor: PageQuery<Item.Key>.Anchor, count: Bool = false) {
        wanted = Want(anchor: anchor, count: count || (wanted?.count ?? false))
        if count && all == nil && countInFlight == nil { countWanted = true }
    }

    /// Reads the window again around the selection, then counts the whole list (a refresh).
    mutating func refresh() {
        loading = true
        want(selectedKey.map { .around($0) } ?? .first, count: true)
        countWanted = true
    }

    /// The filter text changed: read the new list from its top.
    mutating func filterChanged() { want(.first, count: true) }

    /// Clears the filter, keeping the selected row (read around it).
    mutating func clearFilter() {
        filter.clear()
        want(selectedKey.map { .around($0) } ?? .first, count: true)
    }

    /// The query for what is wanted, if it may be sent now (none in flight).
    mutating func nextQuery(id: Int, side: Int) -> PageQuery<Item.Key>? {
        guard inFlight == nil, let w = wanted else { return nil }
        wanted = nil
        inFlight = id
        return PageQuery(id: id, filter: filter.text, anchor: w.anchor, side: side, count: w.count)
    }

    /// The count of the whole list, if one is wanted and none is on its way: one count at a time,
    /// as one page read at a time (at a million rows a count takes a while, and a held `r` must
    /// not queue one per key repeat). A count wanted meanwhile goes when the older one answers.
    mutating func nextCount(id: Int) -> ListCount? {
        guard countWanted, countInFlight == nil else { return nil }
        countWanted = false
        countInFlight = id
        return ListCount(id: id)
    }

    // MARK: Moving

    /// Moves the selection by `delta` within the window (a read follows near its edge).
    mutating func move(by delta: Int, page: Int) {
        guard !items.isEmpty else { return }
        select(list.selected + delta, page: page)
    }

    /// Selects place `index`, kept within the window.
    mutating func select(_ index: Int, page: Int) {
        guard !items.isEmpty else { return }
        list.selected = min(max(index, base), base + items.count - 1)
        selectedKey = items[list.selected - base].pageKey
        clampOffset(page: page)
        // Within a screen of the window's edge, with more beyond it: read around the selection.
        let page = max(page, 1)
        if let key = selectedKey,
            (hasBefore && list.selected - base < page) || (hasAfter && base + items.count - 1 - list.selected < page)
        {
            want(.around(key))
        }
    }

    /// Home: the first row (read, unless the window starts the list).
    mutating func selectFirst(page: Int) {
        if hasBefore { want(.first) } else { select(base, page: page) }
    }

    /// End: the last row (read, unless the window ends the list).
    mutating func selectLast(page: Int) {
        if hasAfter { want(.last) } else { select(base + items.count - 1, page: page) }
    }

    /// Keeps the selection on screen, and the screen within the list and the window.
    mutating func clampOffset(page: Int) {
        let page = max(page, 1)
        list.clampOffset(count: count, page: page)
        list.offset = max(list.offset, base)
        if items.count >= page { list.offset = min(list.offset, base + items.count - page) }
        list.offset = min(list.offset, list.selected)
    }

    /// After a resize: a window that no longer fills its screens is read again.
    mutating func fill(page: Int) {
        guard loaded, hasBefore || hasAfter, items.count < 3 * max(page, 1), let key = selectedKey else { return }
        want(.around(key))
    }

    // MARK: Answers

    /// Applies an answer; false when it is dropped (an older read, or one for a filter text
    /// typed over since). Either way the next read, if one is wanted, may go.
    mutating func apply(_ r: PageRead<Item>, page: Int) -> Bool {
        guard r.query.id == inFlight else { return false }
        inFlight = nil
        guard r.query.filter == filter.text else { return false }
        let screenRow = list.selected - list.offset
        items = r.rows
        hasBefore = r.hasBefore
        hasAfter = r.hasAfter
        shownFilter = r.query.filter
        if let t = r.total {
            countIsLowerBound = !r.query.filter.isEmpty && t > Self.countCap
            total = min(t, r.query.filter.isEmpty ? t : Self.countCap + 1)
        } else if r.query.filter.isEmpty {
            // Unfiltered, the list's count is the whole count: as last counted, or on its way.
            total = all
            countIsLowerBound = false
        }
        if !hasBefore && !hasAfter { total = items.count; countIsLowerBound = false }
        if r.query.filter.isEmpty, let t = total { all = t }
        loaded = true
        loading = false
        error = nil
        guard !items.isEmpty else {
            base = 0; list = ListState(); selectedKey = nil
            return true
        }
        let exact = total.map { countIsLowerBound ? nil : $0 } ?? nil
        let i: Int
        switch r.query.anchor {
        case .first:
            i = 0
            base = 0
        case .last:
            i = items.count - 1
            base = max(0, (exact ?? (list.selected + 1)) - items.count)
        case .around:
            i = items.firstIndex { $0.pageKey == selectedKey } ?? r.anchorIndex ?? 0
            // The selection keeps its place; the window lies around it, within the list.
            var b = list.selected - i
            if let exact { b = min(b, exact - items.count - (hasAfter ? 1 : 0)) }
            b = max(b, hasBefore ? 1 : 0)
            base = b
        }
        if !hasBefore { base = 0 }
        if !hasAfter, let exact, hasBefore { base = max(1, exact - items.count) }
        list.selected = base + i
        selectedKey = items[i].pageKey
        switch r.query.anchor {
        case .first: list.offset = 0
        case .last: list.offset = list.selected
        case .around: list.offset = list.selected - screenRow
        }
        clampOffset(page: page)
        return true
    }

    /// A read failed: the error shows in the list; the next read, if one is wanted, may go.
    mutating func failed(_ message: String) {
        inFlight = nil
        loading = false
        error = message
    }

    /// Applies the whole list's count; false when it is not the one on its way. It is the list's
    /// count only while the rows shown are unfiltered: a count that comes back after a filter was
    /// applied leaves the filtered count alone. One wanted since it was sent goes next.
    mutating func apply(_ c: ListCount, page: Int) -> Bool {
        guard c.id == countInFlight, let n = c.rows else { return false }
        countInFlight = nil
        all = n
        if loaded && shownFilter.isEmpty && (hasBefore || hasAfter) {
            total = n
            countIsLowerBound = false
            if hasBefore && !hasAfter {
                // A window read at the end before the count came: its places follow from the count now.
                let shift = max(1, n - items.count) - base
                base += shift; list.selected += shift; list.offset += shift
            }
            clampOffset(page: page)
        }
        return true
    }

    /// A count failed: the error shows in the list (its rows stay); a later refresh counts again.
    mutating func countFailed(id: Int, _ message: String) {
        guard id == countInFlight else { return }
        countInFlight = nil
        error = message
    }
}
