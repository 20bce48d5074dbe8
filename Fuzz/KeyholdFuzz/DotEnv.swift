import KeyholdCore
import KeyholdFormats

extension FuzzFormats {
    /// The .env reader's entry point, in one place: re-point this when its API changes.
    static func readDotEnv(_ bytes: [UInt8]) throws -> SourceRead? {
        try DotEnv.parse(bytes)
    }

    /// `import --format dotenv`: every input reads (bad lines are bad entries), and every
    /// value lies inside the value arena.
    static func dotenv(_ bytes: [UInt8]) throws {
        guard let read = try readDotEnv(bytes) else { return }
        for e in read.entries {
            require(e.value.lowerBound >= 0 && e.value.upperBound <= read.values.bytes.count, "a value outside the arena")
            require(!e.key.isEmpty, "an entry with no key")
        }
    }
}
