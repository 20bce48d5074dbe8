import KeyholdCore

/// Keys every list screen shares: moving, filtering, and Esc.
extension Model {
    // MARK: Lists

    /// Movement and filter keys of a list; nil when the key is not one of them.
    static func listKey<T>(_ key: Key, _ rows: inout FilteredList<T>, page: Int) -> Bool? {
        let count = rows.count
        if rows.filtering {
            switch key {
            case .enter: rows.filtering = false
            case .escape:
                let keep = rows.selectedID
                rows.filter.clear()
                rows.filtering = false
                rows.applyFilter(keepSelection: keep, page: page)
            case .down: rows.list.move(by: 1, count: count, page: page)
            case .up: rows.list.move(by: -1, count: count, page: page)
            case .pageDown: rows.list.move(by: page, count: count, page: page)
            case .pageUp: rows.list.move(by: -page, count: count, page: page)
            default:
                let before = rows.filter.text
                rows.filter.handle(key)
                if rows.filter.text != before { rows.applyFilter(page: page) }
            }
            return true
        }
        switch key {
        case .char("j"), .down: rows.list.move(by: 1, count: count, page: page)
        case .char("k"), .up: rows.list.move(by: -1, count: count, page: page)
        case .pageDown: rows.list.move(by: page, count: count, page: page)
        case .pageUp: rows.list.move(by: -page, count: count, page: page)
        case .char("g"), .home: rows.list.select(0, count: count, page: page)
        case .char("G"), .end: rows.list.select(count - 1, count: count, page: page)
        case .char("/"): rows.filtering = true
        default: return nil
        }
        return true
    }

    /// Movement and filter keys of a paged list; nil when the key is not one of them. A move
    /// within the window is local; one near its edge, Home/End and a new filter text ask for a read.
    static func listKey<T>(_ key: Key, _ rows: inout PagedList<T>, page: Int) -> Bool? {
        if rows.filtering {
            switch key {
            case .enter: rows.filtering = false
            case .escape:
                rows.clearFilter()
                rows.filtering = false
            case .down: rows.move(by: 1, page: page)
            case .up: rows.move(by: -1, page: page)
            case .pageDown: rows.move(by: page, page: page)
            case .pageUp: rows.move(by: -page, page: page)
            default:
                let before = rows.filter.text
                rows.filter.handle(key)
                if rows.filter.text != before { rows.filterChanged() }
            }
            return true
        }
        switch key {
        case .char("j"), .down: rows.move(by: 1, page: page)
        case .char("k"), .up: rows.move(by: -1, page: page)
        case .pageDown: rows.move(by: page, page: page)
        case .pageUp: rows.move(by: -page, page: page)
        case .char("g"), .home: rows.selectFirst(page: page)
        case .char("G"), .end: rows.selectLast(page: page)
        case .char("/"): rows.filtering = true
        default: return nil
        }
        return true
    }

    /// Esc on a paged list's screen, as `back` for a loaded one.
    static func back<T>(_ rows: inout PagedList<T>, focus: inout Pane) -> Bool {
        if focus == .detail {
            focus = .list
        } else if !rows.filter.isEmpty {
            rows.clearFilter()
        } else {
            return true
        }
        return false
    }

    /// Esc on a list screen: details -> list, then clear the filter; true
    /// when there is nothing left to undo (go back to the dashboard).
    static func back<T>(_ rows: inout FilteredList<T>, focus: inout Pane, page: Int) -> Bool {
        if focus == .detail {
            focus = .list
        } else if !rows.filter.isEmpty {
            let keep = rows.selectedID
            rows.filter.clear()
            rows.applyFilter(keepSelection: keep, page: page)
        } else {
            return true
        }
        return false
    }

}
