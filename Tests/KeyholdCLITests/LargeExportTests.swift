import Foundation
import Testing

/// Export and `run` of more secrets than one guarded allocation per value allows:
/// each is several memory mappings, and vm.max_map_count (65,530 by default) ran out
/// at around 16,000 values, killing the process or silently dropping guard pages.
/// The values are now streamed a batch at a time (the bound itself is proven in
/// KeyholdCoreTests/HandOutTests by counting mappings).
@Suite struct LargeExportTests {
    static let count = 30_000

    @Test func thirtyThousandSecretsExportRoundTripAndRun() throws {
        let f = try TransferFixture()
        let value = { (i: Int) in "value-\(i)-bulk" }
        let text = (0..<Self.count).map { "BULK_\($0)=\(value($0))" }.joined(separator: "\n") + "\n"
        let imported = try f.run(f.a, ["import", "--format", "dotenv", "--prefix", "big/", f.write("big.env", text)])
        try #require(imported.status == 0, "\(imported.stderr.suffix(300))")

        // Export: every secret, as stored, in one audited hand-out.
        let dest = f.scratch.file("all.json")
        let exported = try f.run(f.a, ["export", "--format", "json", "--yes", "--prefix", "big/", dest])
        try #require(exported.status == 0, "\(exported.stderr.suffix(300))")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dest))) as? [String: Any]
        let entries = document?["secrets"] as? [[String: Any]] ?? []
        #expect(entries.count == Self.count)
        var byName: [String: String] = [:]
        for e in entries { if let n = e["name"] as? String, let v = e["value"] as? String { byName[n] = v } }
        let wrong = (0..<Self.count).filter { byName["BULK_\($0)"] != value($0) }.count
        #expect(wrong == 0, "\(wrong) secrets missing from the export or exported with another value")
        let events = try f.events(f.a, action: "secret.export")
        #expect(events.count == 1)
        #expect((events.first?["details"] as? [String: Any])?["count"] as? Int == Self.count)

        // ... and back in through import.
        let back = try f.run(f.b, ["import", "--format", "json", "--prefix", "copy/", "--json", dest])
        try #require(back.status == 0, "\(back.stderr.suffix(300))")
        let summary = try JSONSerialization.jsonObject(with: Data(back.stdout.utf8)) as? [String: Any]
        #expect(summary?["created"] as? Int == Self.count)
        for i in [0, 12_345, Self.count - 1] { try f.expectValue(f.b, "copy/BULK_\(i)", value(i)) }

        // run: every value in the command's environment at once (--db before --: after it all is the command's).
        let counted = try CLI.run(
            ["run", "--db", f.a, "--prefix", "big/", "--", "/bin/sh", "-c", "env | grep -c '^BULK_[0-9]*=value-'"],
            env: TransferFixture.owner)
        #expect(counted.status == 0, "\(counted.stderr.suffix(300))")
        #expect(counted.stdout == "\(Self.count)\n")
        // --mask builds its redactor from the same guarded environment.
        let masked = try CLI.run(
            [
                "run", "--db", f.a, "--mask", "--prefix", "big/BULK_2999", "--", "/bin/sh", "-c",
                "printf '%s %s' \"$BULK_29999\" \"$BULK_2999\""
            ], env: TransferFixture.owner)
        #expect(masked.status == 0, "\(masked.stderr.suffix(300))")
        let redacted = masked.stdout == "<redacted:big/BULK_29999> <redacted:big/BULK_2999>"  // not in #expect, which would print it
        #expect(redacted, "run --mask did not replace the values by their names")
        let handouts = try f.events(f.a, action: "secret.handout")
        #expect(handouts.map { ($0["details"] as? [String: Any])?["count"] as? Int } == [Self.count, 11])
    }
}
