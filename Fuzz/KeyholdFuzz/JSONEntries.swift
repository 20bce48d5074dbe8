import KeyholdCore
import KeyholdFormats

extension FuzzFormats {
    /// `import --format json`: whatever the bytes, a SourceRead or a refusal; what is read
    /// writes back (JSONEntries' writer) and reads again to the same names, values and descriptions.
    static func jsonEntries(_ bytes: [UInt8]) throws {
        guard let read = try? JSONEntries.parse(bytes) else { return }
        let out = PlainBuffer()
        try JSONEntries.begin(to: out)
        for (i, e) in read.entries.enumerated() {
            let value = Array(read.value(of: e))
            try value.withUnsafeBytes { try JSONEntries.appendEntry(index: i, name: e.key, value: $0, description: e.description, to: out) }
        }
        try JSONEntries.end(count: read.entries.count, to: out)
        guard let again = try? JSONEntries.parse(out.bytes) else { return require(false, "JSONEntries' own output is refused") }
        require(again.bad.isEmpty, "JSONEntries' own output has bad entries")
        require(again.pairs.elementsEqual(read.pairs, by: { $0 == $1 }), "names or values change on the way back")
        require(again.entries.map(\.description) == read.entries.map(\.description), "descriptions change on the way back")
    }
}

/// The import formats' targets.
enum FuzzFormats {}
