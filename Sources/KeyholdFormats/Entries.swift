import KeyholdCore

// What a parser yields: entries whose values sit in one wiped arena, and bad
// entries named by where they are (never by their value).

/// One entry read from a source, before a prefix is applied and it is validated.
public struct SourceEntry {
    /// The name as the source gives it (a .env key, a JSON name, a path in a pass store, a KeePass group path and title).
    public var key: String
    /// Where the value lies in the source's value arena (`SourceRead.values`).
    public var value: Range<Int>
    /// The description the source gives, or empty.
    public var description: String = ""
    /// Where it came from, for messages: `line 12`, `secrets[3]`, `file web/git.gpg`, `entry at line 40`.
    public var origin: String
    /// Position in the source, to list problems in source order.
    public var seq = 0
}

/// An entry that cannot be imported: where, and why (never its value).
public struct BadEntry {
    /// Where it is, as for `SourceEntry.origin`.
    public var origin: String
    /// What is wrong, for a person; names the rule, never the value.
    public var message: String
    /// Position in the source.
    public var seq = 0

    public init(origin: String, message: String, seq: Int = 0) {
        self.origin = origin; self.message = message; self.seq = seq
    }
}

/// What a source yielded: the good entries and the bad ones, each in source order.
public struct SourceRead {
    public private(set) var entries: [SourceEntry] = []
    public private(set) var bad: [BadEntry] = []
    /// Every value, one after another, wiped when released. One buffer, not one
    /// guarded allocation per value: a large import would exhaust locked memory.
    public let values = PlainBuffer()
    private var count = 0

    public init() {}

    /// Adds an entry whose value is `value` (copied into the arena).
    public mutating func add<C: Collection>(key: String, value: C, description: String = "", origin: String) throws
    where C.Element == UInt8 {
        let start = values.count
        try values.append(contentsOf: value)
        var e = SourceEntry(key: key, value: start..<values.count, description: description, origin: origin)
        e.seq = count
        count += 1
        entries.append(e)
    }

    /// Adds an entry whose value is the standard base64 (RFC 4648, padded) `text`, decoded
    /// straight into the arena; false, adding nothing, when `text` is not that.
    public mutating func add(key: String, base64 text: ByteSlice, description: String = "", origin: String) throws -> Bool {
        let start = values.count
        guard try Base64.decode(text, into: values) else {
            values.truncate(to: start)
            return false
        }
        var e = SourceEntry(key: key, value: start..<values.count, description: description, origin: origin)
        e.seq = count
        count += 1
        entries.append(e)
        return true
    }

    /// Adds a bad entry, numbered in source order with the good ones.
    public mutating func add(_ b: BadEntry) { var b = b; b.seq = count; count += 1; bad.append(b) }

    /// The bytes of one entry's value (a view into the arena, valid while this read lives).
    public func value(of entry: SourceEntry) -> ByteSlice { values.bytes[entry.value] }
}

/// A refusal of the source as a whole (not one entry): a usage error on the field `source`.
func sourceError(_ message: String) -> KeyholdError {
    .invalid(ValidationError(field: "source", rule: .usage, message: message))
}
