import KeyholdCore

/// Dates, durations and sizes for the screen (UTC, no locale, so frames are reproducible).
enum Fmt {
    /// `2027-01-15 08:00` (UTC) from Unix ms.
    static func time(_ ms: Int64) -> String {
        let c = Clock.civil(ms)
        return "\(c.year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute))"
    }

    /// `08:05:30` (UTC) from Unix ms.
    static func clock(_ ms: Int64) -> String {
        let c = Clock.civil(ms)
        return "\(two(c.hour)):\(two(c.minute)):\(two(c.second))"
    }

    /// `2027-01-15` (UTC).
    static func date(_ ms: Int64) -> String {
        let c = Clock.civil(ms)
        return "\(c.year)-\(two(c.month))-\(two(c.day))"
    }

    /// 00:00 UTC of a `YYYY-MM-DD` date, in Unix ms: the inverse of `date`. The core's date
    /// rules (`Validate.day`); the error names `field` and the rule the text breaks.
    static func day(_ text: String, field: String) throws(ValidationError) -> Int64 {
        try Validate.day(text, field: field)
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
}
