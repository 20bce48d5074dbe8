import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import keyhold_bench

/// The benchmark's page queries and its `secret list --json` run, small: the console's vault built
/// as the benchmark builds it, every query measured and checked against the workload's names.
@Suite struct PagesBenchTests {
    @Test func pageQueriesAndTheCLIListingRunOverASmallVault() throws {
        let dir = TempDir(prefix: "keyhold-pages-bench")
        let path = dir.file("vault.db")
        let password = try Token.generate(length: 24, alphabet: .alnum)
        let build = try ConsoleChild.build(path: path, users: 600, secrets: 1_500, seed: 7, password: password)
        #expect(build.users == 600 && build.secrets == 1_500)

        let pages = try PagesChild.measure(path: path, password: password, repeats: 3)
        #expect(pages.users == 601 && pages.secrets == 1_500 && pages.events > 0)
        let byName = Dictionary(pages.measurements.map { ($0.what, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["Secrets: first page"]?.rows == pageRows && byName["Secrets: count"]?.rows == 1_500)
        #expect(byName["Users: count"]?.rows == 601 && byName["Users: first page"]?.samples.count == 3)
        #expect(
            pages.measurements.contains {
                $0.what.hasPrefix("Secrets, substring filter: the page (")
                    && $0.samples.count == PagesChild.typed(TypedFilter.secrets).filter { !$0.isEmpty }.count
            })
        #expect(pages.measurements.contains { $0.what.hasPrefix("Users, prefix filter: the count (") })
        #expect(pages.measurements.allSatisfy { !$0.samples.isEmpty && $0.samples.allSatisfy { $0 >= 0 } })
        #expect(pages.checked.contains("service-47"))

        // The product's binary over the same vault: the whole document, every name.
        let list = try PagesChild.cliList(path: path, secrets: 1_500, password: password)
        #expect(list.names == 1_500 && list.bytes > 1_500 * 100 && list.maxRSSKiB > 0)
        let report = PagesReport(pages: pages, list: list).markdown()
        #expect(report.contains("| Secrets: first page |") && report.contains("secret list --json"))
    }
}
