import Foundation
import KeyholdCore

/// Human tables and `--json` output. Every string from the vault goes through
/// `Validate.visible` in tables, so nothing stored can move the cursor or
/// retitle the terminal; JSON escapes control characters by itself.
enum Output {
    /// A plain table: headers, then rows, columns padded to their widest cell.
    static func table(_ headers: [String], _ rows: [[String]]) -> String {
        let cells = [headers] + rows.map { $0.map(Validate.visible) }
        var widths = [Int](repeating: 0, count: headers.count)
        for row in cells { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return cells.map { row in
            row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// Pretty JSON with sorted keys, for scripts.
    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// An ISO 8601 time or `-`.
    static func time(_ ms: Int64?) -> String { ms.map(Clock.format) ?? "-" }

    /// JSON for an optional time: the ISO string or null.
    static func jsonTime(_ ms: Int64?) -> Any { ms.map(Clock.format) ?? NSNull() }
}
