import KeyholdCore

/// A label and a value in a details pane.
struct DetailLine: Equatable {
    var label: String
    var value: String
    var style: Style = .plain
    /// The secret version this line lists, if it is one.
    var version: Int?
    /// A line of a revealed value: drawn from guarded memory instead of `value`.
    var secret: SecretSpan?
}

/// What every list screen draws alike: rows, the filter, the details pane.
extension Console {
    static func drawDetail(_ lines: [DetailLine], offset: Int, in inner: Rect, labelWidth: Int, _ s: inout Screen) {
        let offset = min(offset, max(0, lines.count - inner.height))
        for (row, line) in lines.dropFirst(offset).prefix(inner.height).enumerated() {
            s.text(line.label, in: inner, row: row, style: Theme.label)
            if let secret = line.secret {
                s.putSecret(
                    secret, x: inner.x + labelWidth, y: inner.y + row, style: line.style,
                    maxWidth: inner.width - labelWidth, clip: inner)
            } else {
                s.text(line.value, in: inner, row: row, column: labelWidth, style: line.style)
            }
        }
    }

    /// A message in the middle of an empty pane.
    static func emptyPane(_ text: String, in inner: Rect, style: Style = Theme.muted, _ s: inout Screen) {
        let lines = TextWidth.wrap(Validate.visible(text), width: max(1, inner.width - 2))
        for (i, line) in lines.enumerated() { s.text(line, in: inner, row: 1 + i, column: 1, style: style) }
    }

    /// The filter as a box footer: `/text` while typing or when set.
    static func filterFooter<T>(_ rows: FilteredList<T>) -> String? {
        if rows.filtering || !rows.filter.isEmpty { return "/" + rows.filter.text + (rows.filtering ? "" : "") }
        return nil
    }

    /// Puts the cursor at the end of the filter in a box's bottom border while typing.
    static func filterCursor<T>(_ rows: FilteredList<T>, box: Rect, _ s: inout Screen) {
        guard rows.filtering else { return }
        let (_, c) = TextField(rows.filter.text).window(width: box.width - 8)
        s.cursor = Point(x: box.x + 4 + min(c, box.width - 8), y: box.maxY - 1)
    }

    /// The title of a list box: `Users 3 of 12`.
    static func listTitle<T>(_ name: String, _ rows: FilteredList<T>) -> String {
        rows.filter.isEmpty ? "\(name) (\(rows.items.count))" : "\(name) (\(rows.count) of \(rows.items.count))"
    }

    static func filterFooter<T>(_ rows: PagedList<T>) -> String? {
        rows.filtering || !rows.filter.isEmpty ? "/" + rows.filter.text : nil
    }

    static func filterCursor<T>(_ rows: PagedList<T>, box: Rect, _ s: inout Screen) {
        guard rows.filtering else { return }
        let (_, c) = TextField(rows.filter.text).window(width: box.width - 8)
        s.cursor = Point(x: box.x + 4 + min(c, box.width - 8), y: box.maxY - 1)
    }

    /// The title of a paged list: `Users (12)`, `Users (3 of 12)`, `Users (1000+ of 50000)`,
    /// counted by SQL for the filter the rows were read with; `Users (…)` while the whole count
    /// of a list just opened is on its way (a refresh keeps the last count until then).
    static func listTitle<T>(_ name: String, _ rows: PagedList<T>) -> String {
        rows.shownFilter.isEmpty ? "\(name) (\(rows.countText))" : "\(name) (\(rows.countText) of \(rows.all.map(String.init) ?? "…"))"
    }

    /// Draws the rows of a paged list on screen (from its window), as `drawRows` does.
    static func drawRows<T>(
        _ rows: PagedList<T>, focused: Bool, in inner: Rect, header: String,
        style: (T) -> Style = { _ in .plain }, line: (T) -> String, _ s: inout Screen
    ) {
        s.text("  " + header, in: inner, row: 0, style: Theme.label)
        let area = Rect(x: inner.x, y: inner.y + 1, width: inner.width, height: inner.height - 1)
        var paged = rows
        paged.clampOffset(page: area.height)
        let list = paged.list
        for row in 0..<area.height {
            let i = list.offset + row
            guard let item = rows.item(at: i) else { continue }
            drawRow(item, selected: i == list.selected, focused: focused, in: area, row: row, style: style, line: line, &s)
        }
        let count = rows.count
        if count > area.height {
            // A scroll position in the right border: the place on screen in the count from SQL.
            let pos = area.height <= 1 ? 0 : min(area.height - 1, list.offset * (area.height - 1) / max(1, count - area.height))
            s.put("┃", x: inner.maxX, y: area.y + pos, style: Theme.border)
        }
    }

    /// One row of a list: a marker and the highlight (dimmer when the list is not focused) on the
    /// selected row, the row's own style otherwise.
    static func drawRow<T>(
        _ item: T, selected: Bool, focused: Bool, in area: Rect, row: Int,
        style: (T) -> Style, line: (T) -> String, _ s: inout Screen
    ) {
        let text = (selected ? "› " : "  ") + line(item)
        if selected {
            let st = focused ? Theme.selected : Theme.selectedUnfocused
            s.fill(Rect(x: area.x, y: area.y + row, width: area.width, height: 1), style: st)
            s.text(text, in: area, row: row, style: st)
        } else {
            s.text(text, in: area, row: row, style: style(item))
        }
    }

    /// Draws the visible rows of a list with a marker and highlight on the selection.
    static func drawRows<T>(
        _ rows: FilteredList<T>, focused: Bool, in inner: Rect, header: String,
        style: (T) -> Style = { _ in .plain }, line: (T) -> String, _ s: inout Screen
    ) {
        s.text("  " + header, in: inner, row: 0, style: Theme.label)
        let area = Rect(x: inner.x, y: inner.y + 1, width: inner.width, height: inner.height - 1)
        var list = rows.list
        list.clampOffset(count: rows.count, page: area.height)
        for row in 0..<area.height {
            let i = list.offset + row
            guard i < rows.count else { break }
            let item = rows.items[rows.visible[i]]
            drawRow(item, selected: i == list.selected, focused: focused, in: area, row: row, style: style, line: line, &s)
        }
        if rows.count > area.height {
            // A scroll position in the right border.
            let pos = area.height <= 1 ? 0 : list.offset * (area.height - 1) / max(1, rows.count - area.height)
            s.put("┃", x: inner.maxX, y: area.y + pos, style: Theme.border)
        }
    }
}
