import Foundation

/// The time source, in Unix milliseconds; tests substitute their own.
public struct Clock: Sendable {
    public var now: @Sendable () -> Int64
    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    /// Wall-clock time.
    public static let system = Clock { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// ISO 8601 UTC, to the second, for messages and tables.
    public static func format(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    public static let second: Int64 = 1000
    public static let minute: Int64 = 60 * second
    public static let hour: Int64 = 60 * minute
    public static let day: Int64 = 24 * hour
}
