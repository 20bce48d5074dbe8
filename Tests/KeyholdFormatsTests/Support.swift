import KeyholdCore
import Testing
@testable import KeyholdFormats

// Helpers for the format tests. Values are compared as bytes, and only whether
// they are equal reaches #expect: test values are fake, but the habit is kept.

/// The entries of a read as (key, value as text, description, origin), in source order.
func entries(_ read: SourceRead) -> [(key: String, value: String, description: String, origin: String)] {
    read.entries.map {
        (key: $0.key, value: String(decoding: read.value(of: $0), as: UTF8.self), description: $0.description, origin: $0.origin)
    }
}

/// The bad entries of a read as "origin: message".
func problems(_ read: SourceRead) -> [String] { read.bad.map { "\($0.origin): \($0.message)" } }

/// The message of the usage error a parse throws for the whole source (field `source`), or nil.
func sourceRefusal(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch KeyholdError.invalid(let e) where e.field == "source" && e.rule.rawValue == "usage" {
        return e.message
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}
