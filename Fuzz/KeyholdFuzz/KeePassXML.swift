import KeyholdCore
import KeyholdFormats

extension FuzzFormats {
    /// `import --format keepassxc`: a SourceRead or a refusal, names within the secret-name
    /// length; what is read (values XML can carry) writes back and reads again the same.
    static func keePassXML(_ bytes: [UInt8]) throws {
        guard let read = try? KeePassXML.parse(bytes) else { return }
        var items: [KeePassXML.Item] = []
        var values: [[UInt8]] = []
        for e in read.entries {
            require(e.key.utf8.count <= Validate.secretNameMaxBytes, "a name longer than a secret name may be")
            let value = Array(read.value(of: e))
            guard value.withUnsafeBytes(KeePassXML.canCarry) else { continue }
            items.append(KeePassXML.Item(segments: e.key.split(separator: "/", omittingEmptySubsequences: false).map(String.init),
                                         description: e.description))
            values.append(value)
        }
        let writer = KeePassXML.Writer(items, now: "2027-01-15T08:00:00Z")
        let out = PlainBuffer()
        try writer.begin(out)
        for i in writer.order { try values[i].withUnsafeBytes { try writer.entry($0, to: out) } }
        try writer.end(out)
        guard let again = try? KeePassXML.parse(out.bytes) else { return require(false, "KeePassXML's own output is refused") }
        func sorted(_ p: [(key: String, value: [UInt8])]) -> [String] {
            p.map { $0.key + "\u{0}" + $0.value.map(String.init).joined(separator: ",") }.sorted()
        }
        let written = zip(items, values).map { (key: $0.segments.joined(separator: "/"), value: $1) }
        require(sorted(again.pairs) == sorted(written), "names or values change on the way back")
    }
}
