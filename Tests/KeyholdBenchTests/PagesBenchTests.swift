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

/// The console workload over a small vault, in this process: every figure measured, and the
/// checks it makes of what the paged lists show (titles counted by SQL, the filter, End).
@Suite struct ConsoleBenchTests {
    @Test func theConsoleWorkloadMeasuresThePagedLists() throws {
        let dir = TempDir(prefix: "keyhold-console-bench")
        let path = dir.file("vault.db")
        let password = try Token.generate(length: 24, alphabet: .alnum)
        _ = try ConsoleChild.build(path: path, users: 1_300, secrets: 1_500, seed: 7, password: password)
        let r = try ConsoleChild.measureConsole(path: path, width: 80, height: 24, password: password)
        #expect([r.firstFrame, r.usersFrame, r.secretsFrame, r.auditFrame].allSatisfy { $0 > 0 })
        // Each list's count is timed apart from its first frame.
        #expect([r.usersCount, r.secretsCount, r.auditCount].allSatisfy { $0 > 0 })
        #expect(r.checked.contains("Users shows 1301,"), "\(r.checked)")
        #expect(r.userKeystrokes.count == TypedFilter.users.count && r.secretKeystrokes.count == TypedFilter.secrets.count)
        #expect(r.rssAuditKiB > 0)
        // maria.berg: accounts 0, 620 and 1240 of 1,300; End reaches the last of the 1,301 usernames by a keyset read.
        #expect(r.checked.contains("filtering users on \"maria.berg\" shows 3 of the 3"), "\(r.checked)")
        let last = try #require(((0..<1_300).map(UserWorkload.username) + [ConsoleChild.admin]).max { $0.lowercased() < $1.lowercased() })
        #expect(r.checked.contains("End selects \(last)"), "\(r.checked)")
        let report = ConsoleReport(
            build: ConsoleBuildResult(
                users: 1_300, secrets: 1_500, userImportSeconds: 0, secretImportSeconds: 0,
                rotateByCount: 300, checked: "-"),
            buildRSSKiB: 0, runs: [(size: "80x24", results: [(result: r, maxRSSKiB: 1)])], pages: nil)
        #expect(report.markdown(runsPerSize: 1).contains("| opening a list < 50.00 ms"))
        #expect(report.markdown(runsPerSize: 1).contains("| list counts: Users, Secrets, Audit |"))
        #expect(report.verdicts.contains("console opening a list"))
    }
}
