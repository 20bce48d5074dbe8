import KeyholdCore

/// Dates, durations and sizes for the screen (UTC, no locale, so frames are reproducible).
enum Fmt {
    /// `2027-01-15 08:00` (UTC) from Unix ms.
    static func time(_ ms: Int64) -> String {
        let (y, m, d, hh, mm, _) = civil(ms)
        return "\(y)-\(two(m))-\(two(d)) \(two(hh)):\(two(mm))"
    }

    /// `08:05:30` (UTC) from Unix ms.
    static func clock(_ ms: Int64) -> String {
        let (_, _, _, hh, mm, ss) = civil(ms)
        return "\(two(hh)):\(two(mm)):\(two(ss))"
    }

    /// `2027-01-15` (UTC).
    static func date(_ ms: Int64) -> String {
        let (y, m, d, _, _, _) = civil(ms)
        return "\(y)-\(two(m))-\(two(d))"
    }

    /// 00:00 UTC of a `YYYY-MM-DD` date, in Unix ms: the inverse of `date`.
    /// The error names `field` and says which rule the text breaks.
    static func day(_ text: String, field: String) throws(ValidationError) -> Int64 {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
            throw ValidationError(field: field, rule: "format",
                                  message: "\(field): expected a date as YYYY-MM-DD, such as 2027-03-01 (got \"\(Validate.visible(String(text.prefix(20))))\")")
        }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(m), (1...days[m - 1]).contains(d), y >= 1970 else {
            throw ValidationError(field: field, rule: "date", message: "\(field): \(text) is not a real date (months 01-12, days within the month, years from 1970)")
        }
        // Howard Hinnant's days-from-civil, the inverse of `civil`.
        let yy = m <= 2 ? y - 1 : y
        let era = yy / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468) * Clock.day
    }

    /// A span, rounded up to the second: `45 s`, `4 min 12 s`, `2 h 5 min`, `3 d`.
    static func duration(_ ms: Int64) -> String {
        let s = max(0, (ms + 999) / 1000)
        if s < 60 { return "\(s) s" }
        if s < 3600 { return s % 60 == 0 ? "\(s / 60) min" : "\(s / 60) min \(s % 60) s" }
        if s < 86400 { return (s % 3600) / 60 == 0 ? "\(s / 3600) h" : "\(s / 3600) h \((s % 3600) / 60) min" }
        return "\(s / 86400) d"
    }

    /// Relative to now: `in 3 d`, `2 h ago`.
    static func relative(_ ms: Int64, now: Int64) -> String {
        ms >= now ? "in \(duration(ms - now))" : "\(duration(now - ms)) ago"
    }

    /// Bytes as KiB / MiB / GiB.
    static func bytes(_ n: Int) -> String {
        if n >= 1 << 30, n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
        if n >= 1 << 20 { return "\(n >> 20) MiB" }
        if n >= 1 << 10 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }

    static func plural(_ n: Int, _ one: String, _ many: String? = nil) -> String {
        "\(n) \(n == 1 ? one : (many ?? one + "s"))"
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    /// Unix ms of 00:00 UTC on the day `YYYY-MM-DD` (the CLI's reading of a date,
    /// and what `date` shows back); nil unless it is exactly that form and a real day.
    static func day(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) }),
              let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]),
              y >= 1970, (1...12).contains(m), (1...31).contains(d) else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let yy = m <= 2 ? y - 1 : y
        let era = yy / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let ms = (era * 146_097 + doe - 719_468) * 86_400_000
        // 2027-02-30 would land on 2027-03-02: not a real day.
        return date(ms) == text ? ms : nil
    }

    /// Days-from-civil inverse (Howard Hinnant's algorithm).
    private static func civil(_ ms: Int64) -> (Int, Int, Int, Int, Int, Int) {
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        var days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = secs - days * 86400
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return (Int(y), Int(m), Int(d), Int(rem / 3600), Int((rem % 3600) / 60), Int(rem % 60))
    }
}
