import KeyholdCore

/// Drawing a secret (a revealed value, a recovery key, a temporary password, a recovery key
/// typed back) straight from its guarded memory: grapheme by grapheme, each made visible as
/// `Validate.visible` would make it, into the screen's cells. No String of the whole value
/// is made (a String cannot be wiped); what remains in ordinary memory is one grapheme at a
/// time and the cells themselves, one character each (docs/SECURITY.md, "Memory").
enum SecretText {
    /// Calls `body` with each grapheme of `bytes` (UTF-8; the caller checked) from where its
    /// bytes start to where they end, and the grapheme as drawn: itself, or its escape when it
    /// holds a control, bidi or invisible character.
    static func graphemes(_ bytes: UnsafeRawBufferPointer, _ body: (_ bytes: Range<Int>, _ shown: String) -> Void) {
        var recognizer = Unicode._CharacterRecognizer()
        var current = String.UnicodeScalarView()
        var hidden = false
        var start = 0, offset = 0
        func flush() {
            guard !current.isEmpty else { return }
            let grapheme = String(current)
            body(start..<offset, hidden ? Validate.visible(grapheme) : grapheme)
            current = String.UnicodeScalarView()
            hidden = false
        }
        var it = bytes.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&it) {
            if recognizer.hasBreak(before: scalar) {
                flush()
                start = offset
            }
            current.append(scalar)
            if scalar.value < 0x20 || scalar.value == 0x7F || Validate.isHidden(scalar) { hidden = true }
            offset += UTF8.width(scalar)
        }
        flush()
    }

    /// Cells `shown` takes.
    static func width(_ shown: String) -> Int { shown.reduce(0) { $0 + TextWidth.of($1) } }

    /// The byte ranges of the lines `bytes` takes at `width` cells, hard-wrapped between
    /// graphemes: every character shows, a space included (word wrapping would hide one at
    /// each break, and the value must be read exactly).
    static func lines(_ bytes: UnsafeRawBufferPointer, width: Int) -> [Range<Int>] {
        guard width > 0 else { return [] }
        var lines: [Range<Int>] = []
        var lineStart = 0, lineWidth = 0, end = 0
        graphemes(bytes) { range, shown in
            let w = Self.width(shown)
            if lineWidth > 0 && lineWidth + w > width {
                lines.append(lineStart..<range.lowerBound)
                lineStart = range.lowerBound
                lineWidth = 0
            }
            lineWidth += w
            end = range.upperBound
        }
        if end > lineStart || lines.isEmpty { lines.append(lineStart..<end) }
        return lines
    }

    /// The byte ranges of a recovery key's lines: its 13 groups as 5, 4 and 4 (so it fits 60
    /// columns), or lines of 40 cells for any other text.
    static func recoveryLines(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var dashes: [Int] = []
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "-") { dashes.append(i) }
        guard dashes.count == 12 else { return lines(bytes, width: 40) }
        return [0..<dashes[4], (dashes[4] + 1)..<dashes[8], (dashes[8] + 1)..<bytes.count]
    }
}

/// A part of a secret to draw: its guarded bytes and which of them.
struct SecretSpan: Equatable {
    var value: Sensitive
    var range: Range<Int>

    /// The whole of `value`.
    init(_ value: Sensitive) { self.value = value; range = 0..<value.bytes.count }
    init(_ value: Sensitive, _ range: Range<Int>) { self.value = value; self.range = range }

    /// Whether the bytes are UTF-8 text (else only their count is shown). The span's own bytes
    /// say it: text is cut only between characters, and a value that is not text is one span.
    var isText: Bool { withBytes { KeyholdCore.Validate.isUTF8($0) } }

    /// Cells it takes when drawn.
    var width: Int {
        guard isText else { return SecretSpan.notText(value.bytes.count).count }
        var w = 0
        withBytes { SecretText.graphemes($0) { _, shown in w += SecretText.width(shown) } }
        return w
    }

    /// Its bytes, for the duration of `body`.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        value.bytes.withBytes { body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// What stands for a value that is not text.
    static func notText(_ count: Int) -> String { "(\(count) bytes, not text)" }

    /// The lines of the whole value at `width` cells.
    static func lines(_ value: Sensitive, width: Int) -> [SecretSpan] {
        let whole = SecretSpan(value)
        guard whole.isText else { return [whole] }
        return value.bytes.withBytes { SecretText.lines($0, width: width) }.map { SecretSpan(value, $0) }
    }
}

extension Screen {
    /// Draws secret bytes from (x, y), as `put` draws text (clipped to `clip` and `maxWidth`),
    /// grapheme by grapheme from guarded memory (`SecretText`); bytes that are not UTF-8 are
    /// shown by their count only. Returns the cells used.
    @discardableResult
    mutating func putSecret(
        _ span: SecretSpan, x: Int, y: Int, style: Style = .plain, maxWidth: Int? = nil,
        clip: Rect? = nil
    ) -> Int {
        guard span.isText else {
            return put(SecretSpan.notText(span.value.bytes.count), x: x, y: y, style: style, maxWidth: maxWidth, clip: clip)
        }
        let area = clip ?? bounds
        guard y >= area.y, y < area.maxY, y >= 0, y < height else { return 0 }
        var limit = min(area.maxX, width)
        if let maxWidth { limit = min(limit, x + maxWidth) }
        var col = x
        var full = false
        span.withBytes { bytes in
            SecretText.graphemes(bytes) { _, shown in
                for c in shown where !full {
                    let w = TextWidth.of(c)
                    if w == 0 { continue }
                    if col + w > limit {
                        if w == 2, col < limit, col >= area.x { set(col, y, .blank(style)); col += 1 }
                        full = true
                        break
                    }
                    if col >= area.x && col >= 0 { set(col, y, Cell(text: String(c), width: UInt8(w), style: style)) }
                    col += w
                }
            }
        }
        return col - x
    }
}
