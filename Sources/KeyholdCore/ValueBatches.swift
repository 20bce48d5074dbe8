/// How bulk work on values is cut into batches, decided before the first: an
/// import's transactions (in its validation pass) and a hand-out's reads. A
/// batch ends at `maxCount` entries, or before the entry that would take its
/// values past `maxBytes` (a batch always takes its first entry), so one
/// guarded buffer of `largestBytes` holds any batch. Keeps one range per
/// batch, never an entry. Public for the benchmark, whose floors cut their
/// transactions by the same rule.
public struct ValueBatches {
    public let maxCount: Int
    public let maxBytes: Int
    public private(set) var ranges: [Range<Int>] = []
    /// Value bytes of the largest batch: what each guarded buffer must hold.
    public private(set) var largestBytes = 0
    private var bytes = 0

    public init(maxCount: Int, maxBytes: Int) {
        self.maxCount = max(1, maxCount)
        self.maxBytes = maxBytes
    }

    /// Adds the next entry, of `valueCount` bytes.
    public mutating func add(valueCount: Int) {
        if let last = ranges.last, last.count < maxCount, bytes + valueCount <= maxBytes {
            ranges[ranges.count - 1] = last.lowerBound..<last.upperBound + 1
            bytes += valueCount
        } else {
            let start = ranges.last?.upperBound ?? 0
            ranges.append(start..<start + 1)
            bytes = valueCount
        }
        largestBytes = max(largestBytes, bytes)
    }
}
