/// Secret values carried beside a JSON document, never inside it (the console's requests to the
/// agent, docs/SECURITY.md, "The agent"). An encoder given one in its `userInfo` (under
/// `CodingUserInfoKey.secureValues`) writes each `SecureBytes` as its index here and keeps the
/// value; a decoder given one reads the index back into a value. Without one, a `SecureBytes`
/// refuses to be encoded: a secret never becomes JSON text by accident.
///
/// Used by one encoder or decoder at a time, on one thread (hence unchecked Sendable: coders ask
/// for Sendable values in `userInfo`).
public final class SecureValues: @unchecked Sendable {
    public private(set) var values: [SecureBytes]

    public init(_ values: [SecureBytes] = []) { self.values = values }

    func add(_ value: SecureBytes) -> Int {
        values.append(value)
        return values.count - 1
    }

    func value(at index: Int) -> SecureBytes? { values.indices.contains(index) ? values[index] : nil }
}

extension CodingUserInfoKey {
    /// Where `SecureBytes` go when encoded, and come from when decoded (`SecureValues`).
    public static var secureValues: CodingUserInfoKey { CodingUserInfoKey(rawValue: "keyhold.secureValues").unsafelyUnwrapped }
}

/// Encoded as an index into the coder's `SecureValues`; decoded as a copy of the value there
/// (guarded memory to guarded memory).
extension SecureBytes: Codable {
    public func encode(to encoder: Encoder) throws {
        guard let sink = encoder.userInfo[.secureValues] as? SecureValues else {
            throw EncodingError.invalidValue(
                "(hidden)", .init(codingPath: encoder.codingPath, debugDescription: "a secret value is never encoded into JSON"))
        }
        var c = encoder.singleValueContainer()
        try c.encode(sink.add(self))
    }

    public convenience init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let index = try c.decode(Int.self)
        guard let source = decoder.userInfo[.secureValues] as? SecureValues, let value = source.value(at: index) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "no secret value \(index) came with the message")
        }
        try self.init(count: value.count) { out in value.withBytes { out.copyMemory(from: $0) } }
    }
}
