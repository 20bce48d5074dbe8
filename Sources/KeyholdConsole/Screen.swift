import KeyholdCore

/// The eight ANSI colours. A monochrome terminal (or NO_COLOR) ignores them,
/// so every style that matters also carries bold, reverse or underline.
public enum Color: Int8, Sendable, Hashable {
    case black, red, green, yellow, blue, magenta, cyan, white
}

/// How a cell is drawn.
public struct Style: Hashable, Sendable {
    public var fg: Color?
    public var bg: Color?
    public var bold = false
    public var reverse = false
    public var underline = false
    public var dim = false

    public init(
        fg: Color? = nil, bg: Color? = nil, bold: Bool = false, reverse: Bool = false,
        underline: Bool = false, dim: Bool = false
    ) {
        self.fg = fg; self.bg = bg; self.bold = bold; self.reverse = reverse; self.underline = underline; self.dim = dim
    }

    public static let plain = Style()
}

/// The console's styles, by meaning. Each stays readable without colour.
public enum Theme {
    public static let bar = Style(bold: true, reverse: true)
    public static let barDim = Style(reverse: true)
    public static let heading = Style(bold: true)
    public static let key = Style(fg: .cyan, bold: true)
    public static let hint = Style()
    public static let selected = Style(reverse: true)
    public static let selectedUnfocused = Style(underline: true)
    public static let border = Style(dim: true)
    public static let borderFocused = Style(fg: .cyan, bold: true)
    public static let error = Style(fg: .red, bold: true)
    public static let warning = Style(fg: .yellow, bold: true)
    public static let ok = Style(fg: .green)
    public static let muted = Style(dim: true)
    public static let label = Style(dim: true)
    public static let field = Style(underline: true)
    public static let fieldFocused = Style(bold: true, underline: true)
    public static let secret = Style(fg: .magenta, bold: true)
    public static let toastOK = Style(fg: .green, bold: true, reverse: true)
    public static let toastError = Style(fg: .red, bold: true, reverse: true)
    public static let failingRow = Style(fg: .red, bold: true, underline: true)
}

/// One terminal cell: a grapheme cluster and its style. A wide grapheme
/// (CJK, emoji) takes its cell and the next, which holds a continuation.
public struct Cell: Equatable, Sendable {
    /// The grapheme; empty for the right half of a wide one.
    public var text: String
    /// 1, 2, or 0 for a continuation.
    public var width: UInt8
    public var style: Style

    public init(text: String, width: UInt8, style: Style) {
        self.text = text; self.width = width; self.style = style
    }

    public static func blank(_ style: Style = .plain) -> Cell { Cell(text: " ", width: 1, style: style) }
    public var isContinuation: Bool { width == 0 }
}

/// A rectangle of cells.
public struct Rect: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    /// The rectangle inside a one-cell border.
    public var inner: Rect { Rect(x: x + 1, y: y + 1, width: width - 2, height: height - 2) }
    public func inset(dx: Int, dy: Int) -> Rect { Rect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy) }
    /// A rectangle of `width` x `height` centred in this one.
    public func centered(width w: Int, height h: Int) -> Rect {
        let w = min(w, width), h = min(h, height)
        return Rect(x: x + (width - w) / 2, y: y + (height - h) / 2, width: w, height: h)
    }
}

/// Where the terminal's cursor is shown (text fields), in cells.
public struct Point: Equatable, Sendable {
    public var x: Int, y: Int
    public init(x: Int, y: Int) { self.x = x; self.y = y }
}

/// A frame of styled cells. Views draw into it; the backend flushes it; tests
/// read it back as text. All text goes through `Validate.visible`, so nothing
/// drawn can carry a control character, an escape sequence or a bidi override.
public struct Screen: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]
    /// Where to show the cursor, or nil to hide it.
    public var cursor: Point?

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank(), count: self.width * self.height)
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell { cells[y * width + x] }

    /// Sets one cell, keeping wide graphemes whole: overwriting either half of
    /// a wide grapheme blanks its other half.
    mutating func set(_ x: Int, _ y: Int, _ cell: Cell) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = y * width + x
        if cells[i].width == 0, x > 0 { cells[i - 1] = .blank(cells[i - 1].style) }
        if cells[i].width == 2, x + 1 < width { cells[i + 1] = .blank(cells[i + 1].style) }
        if cell.width == 2 {
            guard x + 1 < width else { cells[i] = .blank(cell.style); return }
            if cells[i + 1].width == 2, x + 2 < width { cells[i + 2] = .blank(cells[i + 2].style) }
            cells[i] = cell
            cells[i + 1] = Cell(text: "", width: 0, style: cell.style)
        } else {
            cells[i] = cell
        }
    }

    /// Draws `text` (made visible) from (x, y), clipped to `clip` (default: the
    /// whole screen) and to `maxWidth` cells. Returns the cells used.
    @discardableResult
    public mutating func put(
        _ text: String, x: Int, y: Int, style: Style = .plain, maxWidth: Int? = nil,
        clip: Rect? = nil
    ) -> Int {
        let area = clip ?? bounds
        guard y >= area.y, y < area.maxY, y >= 0, y < height else { return 0 }
        var limit = min(area.maxX, width)
        if let maxWidth { limit = min(limit, x + maxWidth) }
        var col = x
        for c in Validate.visible(text) {
            let w = TextWidth.of(c)
            if w == 0 { continue }
            if col + w > limit {
                // Half a wide grapheme never shows: pad the last cell instead.
                if w == 2, col < limit, col >= area.x { set(col, y, .blank(style)); col += 1 }
                break
            }
            if col >= area.x && col >= 0 { set(col, y, Cell(text: String(c), width: UInt8(w), style: style)) }
            col += w
        }
        return col - x
    }

    /// Draws `text` within `rect`'s row `row`, truncated with an ellipsis to fit.
    @discardableResult
    public mutating func text(_ text: String, in rect: Rect, row: Int = 0, column: Int = 0, style: Style = .plain) -> Int {
        guard row >= 0, row < rect.height, column < rect.width else { return 0 }
        let room = rect.width - column
        return put(
            TextWidth.truncate(Validate.visible(text), to: room), x: rect.x + column, y: rect.y + row, style: style,
            maxWidth: room, clip: rect)
    }

    /// Fills a rectangle with blanks of a style.
    public mutating func fill(_ rect: Rect, style: Style = .plain) {
        for y in max(rect.y, 0)..<min(rect.maxY, height) {
            for x in max(rect.x, 0)..<min(rect.maxX, width) { set(x, y, .blank(style)) }
        }
    }

    /// A line-drawing box with an optional title in its top border.
    public mutating func box(
        _ rect: Rect, title: String? = nil, footer: String? = nil, style: Style = Theme.border,
        titleStyle: Style = Theme.heading
    ) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        let r = rect.maxX - 1, b = rect.maxY - 1
        for x in rect.x...r {
            set(x, rect.y, Cell(text: "─", width: 1, style: style))
            set(x, b, Cell(text: "─", width: 1, style: style))
        }
        for y in rect.y...b {
            set(rect.x, y, Cell(text: "│", width: 1, style: style))
            set(r, y, Cell(text: "│", width: 1, style: style))
        }
        set(rect.x, rect.y, Cell(text: "┌", width: 1, style: style))
        set(r, rect.y, Cell(text: "┐", width: 1, style: style))
        set(rect.x, b, Cell(text: "└", width: 1, style: style))
        set(r, b, Cell(text: "┘", width: 1, style: style))
        if let title, rect.width > 4 {
            put(
                " " + TextWidth.truncate(Validate.visible(title), to: rect.width - 6) + " ", x: rect.x + 2, y: rect.y,
                style: titleStyle, maxWidth: rect.width - 4)
        }
        if let footer, rect.width > 4 {
            put(
                " " + TextWidth.truncate(Validate.visible(footer), to: rect.width - 6) + " ", x: rect.x + 2, y: b,
                style: titleStyle, maxWidth: rect.width - 4)
        }
    }

    /// The frame as plain text, one string per row, trailing blanks removed.
    public var lines: [String] {
        (0..<height).map { y in
            var line = ""
            for x in 0..<width where !self[x, y].isContinuation { line += self[x, y].text }
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    /// The frame as plain text.
    public var text: String { lines.joined(separator: "\n") }

    /// The first row containing `needle`, for tests and style checks.
    public func row(containing needle: String) -> Int? { lines.firstIndex { $0.contains(needle) } }

    /// The style at the first cell of the first occurrence of `needle`.
    public func style(of needle: String) -> Style? {
        for y in 0..<height {
            var line = ""
            var columns: [Int] = []
            for x in 0..<width where !self[x, y].isContinuation {
                for _ in self[x, y].text { columns.append(x) }
                line += self[x, y].text
            }
            if let r = line.range(of: needle) {
                let offset = line.distance(from: line.startIndex, to: r.lowerBound)
                return self[columns[offset], y].style
            }
        }
        return nil
    }
}
