import Foundation
import KeyholdCore

/// A settable clock, shared by a vault and whatever drives it (lockout, expiry, the console's ticks).
public final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64

    /// Starts at `start` ms since 1970 (by default 2027-01-15 08:00:00 UTC).
    public init(_ start: Int64 = 1_800_000_000_000) { value = start }

    /// The time now, in ms since 1970.
    public var now: Int64 { lock.withLock { value } }

    /// Moves time on by `ms`.
    public func advance(_ ms: Int64) { lock.withLock { value += ms } }

    /// The clock to give a vault.
    public var clock: Clock { Clock { [self] in now } }
}
