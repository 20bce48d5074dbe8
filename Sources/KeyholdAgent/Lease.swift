/// How long an agent may hold a session: it forgets everything after `idle` ms without a
/// command, and after `max` ms in all, whichever comes first. Pure, so tests give it any times.
public struct Lease: Sendable, Equatable {
    public static let defaultIdle: Int64 = 15 * 60_000
    public static let defaultMax: Int64 = 8 * 3_600_000
    /// Accepted limits: a second to a day (idle), a second to a week (in all).
    public static let idleRange: ClosedRange<Int64> = 1_000...86_400_000
    public static let maxRange: ClosedRange<Int64> = 1_000...604_800_000

    public let idle: Int64
    public let max: Int64
    public let started: Int64
    public private(set) var lastUse: Int64

    public init(idle: Int64 = defaultIdle, max: Int64 = defaultMax, started: Int64) {
        self.idle = idle
        self.max = max
        self.started = started
        lastUse = started
    }

    public var idleDeadline: Int64 { min(lastUse + idle, maxDeadline) }
    public var maxDeadline: Int64 { started + max }

    /// A command was served at `now`.
    public mutating func touch(_ now: Int64) { lastUse = Swift.max(lastUse, now) }

    /// Why the lease is over at `now`, if it is.
    public func expired(at now: Int64) -> AgentEnd? {
        if now >= maxDeadline { return .max }
        if now >= lastUse + idle { return .idle }
        return nil
    }
}

/// Why an agent ended; the raw value is what `session.lock` records.
public enum AgentEnd: String, Sendable, Equatable, Codable {
    case lock
    case idle
    case max
    case signal
    case sessionEnded = "session ended"
    /// The vault's file was found replaced (moved, removed or written over): nothing can be
    /// recorded, since the agent writes to neither file.
    case vaultReplaced = "vault replaced"
}
