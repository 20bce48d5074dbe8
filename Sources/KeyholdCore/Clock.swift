import Foundation

/// The time source, in Unix milliseconds; tests substitute their own.
public struct Clock: Sendable {
    public var now: @Sendable () -> Int64
    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    /// Wall-clock time.
    public static let system = Clock { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// ISO 8601 UTC, to the second, for messages and tables: `2027-01-15T08:00:00Z`.
    /// Built by hand: a formatter per call made listing 100,000 rows take seconds.
    public static func format(_ ms: Int64) -> String {
        let c = civil(ms)
        return "\(c.year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }

    /// The UTC calendar fields of Unix ms (Howard Hinnant's civil-from-days; no locale, no formatter).
    public static func civil(_ ms: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
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

    /// Unix ms of 00:00 UTC on a calendar day (days-from-civil, the inverse of `civil`).
    /// Days past the month's end roll over (the 30th of February is in March): check with `civil`.
    public static func midnight(year y: Int, month m: Int, day d: Int) -> Int64 {
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return Int64(era * 146_097 + doe - 719_468) * day
    }

    private static func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    public static let second: Int64 = 1000
    public static let minute: Int64 = 60 * second
    public static let hour: Int64 = 60 * minute
    public static let day: Int64 = 24 * hour
}
