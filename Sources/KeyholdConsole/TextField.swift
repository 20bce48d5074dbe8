/// An editable line of text with a cursor.
///
/// Password fields hold what was typed as a Swift String (which cannot be
/// wiped) only until the form is submitted; the submit turns it into
/// SecureBytes and clears the field.
public struct TextField: Equatable, Sendable {
    public var text: String
    /// Cursor position in characters.
    public var cursor: Int
    public var masked: Bool
    public var limit: Int

    public init(_ text: String = "", masked: Bool = false, limit: Int = 1024) {
        self.text = text
        self.cursor = text.count
        self.masked = masked
        self.limit = limit
    }

    public var isEmpty: Bool { text.isEmpty }

    public mutating func clear() { text = ""; cursor = 0 }

    /// Applies an editing key. Returns false for keys a field does not handle.
    @discardableResult
    public mutating func handle(_ key: Key) -> Bool {
        switch key {
        case .char(let c):
            guard text.count < limit else { return true }
            let i = text.index(text.startIndex, offsetBy: cursor)
            text.insert(c, at: i)
            cursor += 1
        case .backspace:
            guard cursor > 0 else { return true }
            let i = text.index(text.startIndex, offsetBy: cursor - 1)
            text.remove(at: i)
            cursor -= 1
        case .delete:
            guard cursor < text.count else { return true }
            text.remove(at: text.index(text.startIndex, offsetBy: cursor))
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(text.count, cursor + 1)
        case .home, .ctrl("a"): cursor = 0
        case .end, .ctrl("e"): cursor = text.count
        case .ctrl("u"):
            text.removeFirst(cursor)
            cursor = 0
        case .ctrl("k"):
            text = String(text.prefix(cursor))
        case .ctrl("w"):
            // Delete the word before the cursor.
            var chars = Array(text)
            var i = cursor
            while i > 0 && chars[i - 1] == " " { i -= 1 }
            while i > 0 && chars[i - 1] != " " { i -= 1 }
            chars.removeSubrange(i..<cursor)
            text = String(chars)
            cursor = i
        default:
            return false
        }
        return true
    }

    /// What the field shows: the text, or one bullet per character when masked.
    public var shown: String { masked ? String(repeating: "•", count: text.count) : text }

    /// The visible part for a box `width` cells wide, and the cursor's column in it.
    public func window(width: Int) -> (text: String, cursor: Int) {
        let chars = Array(masked ? shown : Validate.visibleForField(text))
        guard width > 1 else { return ("", 0) }
        let cursorIndex = min(cursor, chars.count)
        // Scroll so the cursor stays inside, keeping one cell for it at the end.
        var start = 0
        var widthToCursor = chars[0..<cursorIndex].reduce(0) { $0 + TextWidth.of($1) }
        while widthToCursor > width - 1 && start < cursorIndex {
            widthToCursor -= TextWidth.of(chars[start])
            start += 1
        }
        var out = ""
        var used = 0
        for c in chars[start...] {
            let w = TextWidth.of(c)
            if used + w > width { break }
            out.append(c)
            used += w
        }
        return (out, widthToCursor)
    }
}

import KeyholdCore

extension Validate {
    /// Typed text as a field shows it. Validate.visible would replace one
    /// control character by up to 8 cells (`\u{202E}`), moving the cursor
    /// mapping; typed control characters are rare, so they show as `?`.
    static func visibleForField(_ s: String) -> String {
        String(
            s.map { c -> Character in
                let v = Validate.visible(String(c))
                return v == String(c) ? c : (v.count == 1 ? v.first ?? "?" : "?")
            })
    }
}
