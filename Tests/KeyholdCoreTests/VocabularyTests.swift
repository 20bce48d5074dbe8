import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore

/// One vocabulary: every audit action the code can write is documented in docs/FORMAT.md
/// (section 7's table), and the table names nothing the code does not write.
@Suite struct VocabularyTests {
    /// The backticked names in the first column of FORMAT.md section 7's table.
    static func documentedActions() throws -> Set<String> {
        let text = try String(contentsOf: Repository.root.appendingPathComponent("docs/FORMAT.md"), encoding: .utf8)
        guard let start = text.range(of: "## 7. Audit actions"),
            let end = text.range(of: "\n## 8.", range: start.upperBound..<text.endIndex)
        else {
            throw TestFailure("FORMAT.md has no section 7, Audit actions")
        }
        var names: Set<String> = []
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            for part in firstCell.split(separator: "`") where part.contains(".") || part == "login" {
                names.insert(String(part))
            }
        }
        return names
    }

    @Test func everyAuditActionIsDocumentedAndNothingMore() throws {
        let documented = try Self.documentedActions()
        let written = Set(AuditAction.allCases.map(\.rawValue))
        #expect(documented.count > 30, "the table was not found or not read")
        #expect(written.subtracting(documented).sorted() == [], "written but not documented")
        #expect(documented.subtracting(written).sorted() == [], "documented but never written")
    }
}
