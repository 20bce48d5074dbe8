import Foundation
import KeyholdTestSupport
import Testing

/// The documentation stands on its own: it cites nothing outside the repository, its links
/// lead to files that exist, and ARCHITECTURE.md names every target the package builds.
@Suite struct DocsTests {
    static let root = Repository.root

    /// Text files of the repository a reader or maintainer reads (not build output).
    static func textFiles() throws -> [String] {
        let fm = FileManager.default
        var out: [String] = ["README.md", "Makefile", "Package.swift", "schema.sql"]
        for dir in ["docs", "Sources", "Tests", "scripts", "examples", "Fuzz", "bench"] {
            guard let walk = fm.enumerator(atPath: root.appendingPathComponent(dir).path) else { continue }
            for case let path as String in walk
            where [".md", ".swift", ".py", ".sh", ".c", ".h", ".txt", ".service", ".cron"].contains(where: path.hasSuffix) {
                out.append(dir + "/" + path)
            }
        }
        return out
    }

    @Test func nothingCitesADocumentOutsideTheRepository() throws {
        // Spelled in two parts so that this file does not match itself.
        let outside = ["DES" + "IGN.md", "DES" + "IGN section", "DES" + "IGN ", "../" + "shared"]
        var found: [String] = []
        let files = try Self.textFiles()
        #expect(files.count > 100, "the walk found \(files.count) files")
        for file in files {
            guard let text = try? String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8) else { continue }
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where outside.contains(where: { line.contains($0) }) {
                found.append("\(file):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(found == [], "\(found.joined(separator: "\n"))")
    }

    @Test func everyRelativeLinkInTheDocsLeadsToAFile() throws {
        let docs =
            ["README.md"]
            + (try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("docs").path))
            .filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        var links = 0
        var broken: [String] = []
        let pattern = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        for doc in docs {
            let text = try String(contentsOf: Self.root.appendingPathComponent(doc), encoding: .utf8)
            let base = Self.root.appendingPathComponent(doc).deletingLastPathComponent()
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                guard let r = Range(m.range(at: 1), in: text) else { continue }
                let target = String(text[r]).split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if target.isEmpty || target.contains("://") || target.hasPrefix("mailto:") { continue }
                links += 1
                if !FileManager.default.fileExists(atPath: base.appendingPathComponent(String(target)).path) {
                    broken.append("\(doc): \(target)")
                }
            }
        }
        #expect(links > 5, "only \(links) relative links read")
        #expect(broken == [], "\(broken)")
    }

    /// Every folder under Sources/ (one per target) is in the map at the top of ARCHITECTURE.md.
    @Test func architectureNamesEveryTarget() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let layers = text.range(of: "## Layers"), let rules = text.range(of: "## Rules") else {
            throw TestFailure("ARCHITECTURE.md has no Layers or Rules section")
        }
        let map = text[layers.upperBound..<rules.lowerBound]
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
        #expect(targets.count >= 10)
        let missing = targets.filter { !map.contains("  \($0)/") }.sorted()
        #expect(missing == [], "targets not in ARCHITECTURE.md's map: \(missing)")
    }

    /// Every file of the console is named where ARCHITECTURE.md follows a keystroke through it,
    /// so a new or renamed file (a feature's `Run…`, `Update…`, `View…`) gets its place there.
    @Test func architectureNamesEveryConsoleFile() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/ARCHITECTURE.md"), encoding: .utf8)
        guard let start = text.range(of: "## The path of one keystroke in the console") else {
            throw TestFailure("ARCHITECTURE.md has no section on the console's keystroke")
        }
        let section = String(text[start.upperBound...]).components(separatedBy: "\n## ")[0]
        let files = try FileManager.default.contentsOfDirectory(
            atPath: Self.root.appendingPathComponent("Sources/KeyholdConsole").path
        ).filter { $0.hasSuffix(".swift") }
        #expect(files.count > 20)
        let missing = files.filter { !section.contains("`\($0)`") }.sorted()
        #expect(missing == [], "console files not in ARCHITECTURE.md's keystroke section: \(missing)")
    }
}
