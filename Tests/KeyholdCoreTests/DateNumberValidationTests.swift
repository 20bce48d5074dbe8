import Foundation
import Testing
@testable import KeyholdCore

/// Dates and numbers as every part of Keyhold reads them (ISO 8601, real
/// calendar dates, years 1970 to 9999, nothing trailing; numbers range-checked, never a trap).
@Suite struct DateNumberValidationTests {
    private func rule(_ text: String, field: String = "--at", day: Bool = false) -> String? {
        do {
            _ = day ? try Validate.day(text, field: field) : try Validate.date(text, field: field)
            return nil
        } catch {
            #expect(error.field == field && error.message.hasPrefix("\(field): "), "\(error.message)")
            return error.rule.rawValue
        }
    }

    @Test func acceptedFormsAndTheirInstants() throws {
        let cases: [(String, Int64)] = [
            ("1970-01-01", 0),
            ("2027-03-01", 1_803_859_200_000),
            ("2000-02-29", 951_782_400_000),
            ("2027-03-01T08:00:00Z", 1_803_859_200_000 + 8 * Clock.hour),
            ("2027-03-01t08:00:00z", 1_803_859_200_000 + 8 * Clock.hour),
            ("2027-03-01T08:00:00+02:00", 1_803_859_200_000 + 6 * Clock.hour),
            ("2027-03-01T08:00:00-00:30", 1_803_859_200_000 + 8 * Clock.hour + 30 * Clock.minute),
            ("2027-03-01T08:00:00.5Z", 1_803_859_200_000 + 8 * Clock.hour + 500),
            ("2027-03-01T08:00:00.123456789Z", 1_803_859_200_000 + 8 * Clock.hour + 123),
            ("9999-12-31T23:59:59Z", Validate.latestDate - 999),
            ("9999-12-31", Validate.latestDate - Clock.day + 1),
            ("1969-12-31T23:00:00-01:00", 0)
        ]
        for (text, ms) in cases {
            #expect(try Validate.date(text, field: "--at") == ms, "\(text)")
        }
        // Agrees with Foundation on every form both read.
        let iso = ISO8601DateFormatter()
        for text in ["2027-03-01T08:00:00Z", "2031-12-31T23:59:59+05:45", "1999-01-01T00:00:00-08:00"] {
            let foundation = try #require(iso.date(from: text))
            #expect(try Validate.date(text, field: "d") == Int64(foundation.timeIntervalSince1970 * 1000), "\(text)")
        }
        // Every day for ten years, leap days included, prints (Clock.format) and reads back.
        var t: Int64 = 1_800_000_000_000 / Clock.day * Clock.day
        for _ in 0..<3700 {
            #expect(try Validate.day(String(Clock.format(t).prefix(10)), field: "d") == t)
            #expect(
                try Validate.date(Clock.format(t + 12 * Clock.hour + 34 * Clock.minute + 56 * Clock.second), field: "d")
                    == t + 12 * Clock.hour + 34 * Clock.minute + 56 * Clock.second)
            t += Clock.day
        }
    }

    /// The inputs of the finding, each of which Foundation's formatter took: 2026-02-30 became
    /// March 2, year 292278995 wrapped into the past, `Tgarbage` and `T25:00:00Z` became midnight,
    /// 0000-01-01 was stored as -1-12-30.
    @Test func whatTheOldParserAcceptedIsRefusedWithItsRule() {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withFullDate]
        #expect(iso.date(from: "2026-02-30") != nil, "the formatter still rolls days over, which is why it is not used")
        #expect(rule("2026-02-30") == "date")
        #expect(rule("2026-02-29") == "date")
        #expect(rule("2100-02-29") == "date")
        #expect(rule("2026-13-01") == "date")
        #expect(rule("2026-00-10") == "date")
        #expect(rule("2026-04-31") == "date")
        #expect(rule("2026-04-00") == "date")
        #expect(rule("292278995-01-01") == "format")
        #expect(rule("292278995-01-01T00:00:00Z") == "format")
        #expect(rule("2026-01-01Tgarbage") == "format")
        #expect(rule("2026-01-01T25:00:00Z") == "time")
        #expect(rule("2026-01-01T23:60:00Z") == "time")
        #expect(rule("2026-01-01T23:59:60Z") == "time")
        #expect(rule("2026-01-01T12:00:00+24:00") == "time")
        #expect(rule("0000-01-01") == "range")
        #expect(rule("1969-12-31") == "range")
        #expect(rule("1970-01-01T00:00:00+00:01") == "range")
        #expect(rule("9999-12-31T23:59:59-00:01") == "range")
        let message = try? Validate.date("2026-02-30", field: "--rotate-by")
        #expect(message == nil)
        do { _ = try Validate.date("2026-02-30", field: "--rotate-by") } catch {
            #expect(error.message == #"--rotate-by: "2026-02-30" is not a real date (February 2026 has 28 days)"#)
        }
    }

    @Test func nothingBeforeOrAfterAndNoOtherShapes() {
        for text in [
            "", " 2026-01-01", "2026-01-01 ", "2026-01-01\n", "2026-01-01T", "2026-01-01T00:00:00", "2026-01-01T00:00Z",
            "2026-01-01T00:00:00ZZ", "2026-01-01T00:00:00Z ", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00+01", "2026-01-01 00:00:00Z", "2026-1-1", "26-01-01",
            "2026/01/01", "２０２６-01-01", "+2026-01-01", "-2026-01-01", "2026-01-01T00:00:00,5Z", "now", "20260101",
            String(repeating: "2026-01-01", count: 100)
        ] {
            #expect(rule(text) == "format", "\(text.debugDescription)")
        }
        // The day form takes the date alone.
        #expect(rule("2026-01-01T00:00:00Z", day: true) == "format")
        #expect(rule("2026-02-30", day: true) == "date")
        #expect(rule("1969-12-31", day: true) == "range")
    }

    @Test func messagesQuoteSafely() {
        do { _ = try Validate.date("2026-01-01T\u{1B}[31m" + String(repeating: "x", count: 100), field: "--since") } catch {
            #expect(!error.message.contains("\u{1B}"))
            #expect(error.message.count < 250)
        }
    }

    @Test func numbersAreRangeCheckedWithoutTrapping() throws {
        #expect(try Validate.number(1, field: "--batch", in: Validate.batchSizeRange) == 1)
        #expect(try Validate.number(1_000_000, field: "--batch", in: Validate.batchSizeRange) == 1_000_000)
        for n in [0, -1, 1_000_001, Int.max, Int.min] {
            do {
                _ = try Validate.number(n, field: "--batch", in: Validate.batchSizeRange)
                Issue.record("\(n) accepted")
            } catch {
                #expect(error.rule.rawValue == "range" && error.field == "--batch")
                #expect(error.message == "--batch: must be a whole number from 1 to 1,000,000 (got \(n))")
            }
        }
        #expect(try Validate.number("42", field: "n", in: 1...100) == 42)
        #expect(try Validate.number("0042", field: "n", in: 1...100) == 42)
        #expect(try Validate.number(String(Int.max), field: "n", in: 0...Int.max) == Int.max)
        for (text, rule) in [
            ("9223372036854775808", "range"), ("99999999999999999999999999", "range"), ("101", "range"),
            ("0", "range"), ("", "format"), ("-1", "format"), ("+1", "format"), (" 1", "format"),
            ("1_000", "format"), ("1,000", "format"), ("١٢", "format"), ("1e3", "format")
        ] {
            do {
                _ = try Validate.number(text, field: "history limit", in: 1...100)
                Issue.record("\(text) accepted")
            } catch {
                #expect(error.rule.rawValue == rule, "\(text)")
                #expect(error.message.hasPrefix("history limit: "))
            }
        }
    }
}
