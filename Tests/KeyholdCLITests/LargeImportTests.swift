import Foundation
import Testing

/// An import larger than the locked-memory budget of one guarded allocation
/// per value: the CLI streams values to the core a batch at a time.
@Suite struct LargeImportTests {
    @Test func aLargeImportCompletesAndEveryValueIsThere() throws {
        let vault = try AdminVault()
        let count = 30_000
        let text = (0..<count).map { "BULK_\($0)=value-\($0)-bulk" }.joined(separator: "\n") + "\n"
        let file = vault.scratch.file("big.env")
        #expect(FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]))
        let imported = try vault.run(["import", "--format", "dotenv", "--prefix", "big/", "--json", file])
        #expect(imported.status == 0, "\(imported.stderr.suffix(300))")
        let summary = try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any]
        #expect(summary?["created"] as? Int == count)
        for i in [0, 12_345, count - 1] {
            let shown = try vault.run(["secret", "show", "big/BULK_\(i)"])
            #expect(shown.stdout == "value-\(i)-bulk")
        }
    }
}
