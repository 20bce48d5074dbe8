import KeyholdCore

/// Typed values: dates, the recovery key, numbers.
enum FuzzValues {
    /// Every date Keyhold reads: accepted dates lie in 1970...9999 and print back (Clock.format)
    /// to the same second; accepted days are midnights and print back to the same day.
    static func dates(_ bytes: [UInt8]) {
        let typed = text(bytes)
        if let ms = try? Validate.date(typed, field: "date") {
            require((Validate.earliestDate...Validate.latestDate).contains(ms), "a date outside 1970 to 9999")
            let printed = Clock.format(ms)
            require((try? Validate.date(printed, field: "date")) == ms - ms % Clock.second, "\(printed) does not read back")
        }
        if let ms = try? Validate.day(typed, field: "day") {
            require(ms % Clock.day == 0, "a day that is not a midnight")
            require(Clock.format(ms).hasPrefix(typed), "a day that prints as another")
        }
    }

    /// The recovery key's typed form: a key that reads prints (encode) and reads again to the same bytes.
    static func recoveryKey(_ bytes: [UInt8]) {
        guard let key = try? RecoveryKey.parse(text(bytes)) else { return }
        require(key.count == 32, "a key that is not 32 bytes")
        let again = try? RecoveryKey.parse(RecoveryKey.encode(key))
        let same = again.map { a in key.withBytes { k in a.withBytes { k.elementsEqual($0) } } } ?? false
        require(same, "a key that does not read back")
    }

    /// Numeric option values: the first byte picks a range, the rest is the typed number.
    static func numbers(_ bytes: [UInt8]) {
        let ranges = [Validate.batchSizeRange, Validate.versionRange, Validate.eventLimitRange, 1...Session.maxGeneratedLength,
                      0...Int.max]
        guard let first = bytes.first else { return }
        let range = ranges[Int(first) % ranges.count]
        let typed = text(Array(bytes.dropFirst()))
        if let n = try? Validate.number(typed, field: "--n", in: range) {
            require(range.contains(n), "a number outside its range")
            require(typed.drop(while: { $0 == "0" }) == (n == 0 ? "" : String(n)), "\(typed) read as \(n)")
        }
        if bytes.count >= 9 {
            let n = bytes[1...8].reduce(0) { $0 << 8 | Int($1) }
            require(((try? Validate.number(n, field: "--n", in: range)) != nil) == range.contains(n), "the range check is wrong")
        }
    }
}
