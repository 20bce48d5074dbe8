import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The console's lists as pages read from SQL (docs/ARCHITECTURE.md, "Lists are pages"): a vault
/// of a few thousand rows and a small screen, so the window is a few dozen rows of thousands.
@Suite struct PagedListTests {
    static let count = 2_500
    static func name(_ i: Int) -> String { "svc/" + String(repeating: "0", count: 4 - String(i).count) + String(i) }

    /// Logged in at 80x16 over `count` secrets (one import: one audit event), on Secrets (`open`) or the dashboard.
    func secrets(open: Bool = true) throws -> Harness {
        var h = try Harness.loggedIn(width: 80, height: 16) { s, _ in
            let entries = try (0..<Self.count).map { i in
                ImportEntry(name: Self.name(i), value: try SecureBytes(copying: Array("value \(i)".utf8)), origin: "entry \(i)")
            }
            _ = try s.importSecrets(entries)
        }
        if open { h.key(.char("3")) }
        return h
    }

    /// Opens Secrets without running its effects: the page read, then the whole list's count.
    func opened(_ h: inout Harness) throws -> (PageQuery<String>, ListCount) {
        h.runEffects = false
        h.effects = []
        h.key(.char("3"))
        guard case .secrets(.page(let q))? = h.effects.first, case .secrets(.count(let c))? = h.effects.last else {
            throw Failure("expected a page read and a count, got \(h.effects)")
        }
        #expect(h.effects == [.secrets(.page(q)), .secrets(.count(ListCount(id: q.id + 1)))])
        #expect(q.filter.isEmpty && q.anchor == .first)
        return (q, c)
    }

    struct Failure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    @Test func theFirstFrameOfAListHasItsRowsBeforeTheCount() throws {
        var h = try secrets(open: false)
        let (page, count) = try opened(&h)
        h.send(h.runner.run(.secrets(.page(page))))
        let first = h.screen.text
        #expect(first.contains("Secrets (…)") && first.contains("› svc/0000") && first.contains("svc/0005"), "\(first)")
        #expect(h.model.secrets.rows.countPending)
        // End before the count: the last row, its place known once the count comes.
        h.key(.end)
        guard case .secrets(.page(let last))? = h.effects.last(where: { $0.pageList == .secrets }), last.anchor == .last else {
            Issue.record("expected a read of the last page, got \(h.effects)"); return
        }
        h.send(h.runner.run(.secrets(.page(last))))
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(Self.count - 1))
        #expect(h.screen.text.contains("Secrets (…)"))

        h.send(h.runner.run(.secrets(.count(count))))
        let counted = h.screen.text
        #expect(counted.contains("Secrets (\(Self.count))") && !counted.contains("(…)"), "\(counted)")
        #expect(
            h.model.secrets.rows.list.selected == Self.count - 1 && h.model.secrets.rows.selectedItem?.name == Self.name(Self.count - 1))
        // The scroll mark beside the last row: its place in the count.
        let row = try #require(h.screen.row(containing: "› " + Self.name(Self.count - 1)))
        #expect(h.screen.lines.indices.filter { h.screen.lines[$0].contains("┃") } == [row])

        // A refresh keeps the last count in the title until the new one arrives.
        h.effects = []
        h.key(.char("r"))
        guard case .secrets(.page(let again))? = h.effects.first, case .secrets(.count(let recount))? = h.effects.last else {
            Issue.record("expected a page read and a count, got \(h.effects)"); return
        }
        h.send(h.runner.run(.secrets(.page(again))))
        #expect(h.screen.text.contains("Secrets (\(Self.count))"))
        h.send(h.runner.run(.secrets(.count(recount))))
        #expect(h.screen.text.contains("Secrets (\(Self.count))") && h.model.secrets.rows.countInFlight == nil)
    }

    @Test func aStaleCountIsDropped() throws {
        var h = try secrets(open: false)
        let (page, count) = try opened(&h)
        h.send(h.runner.run(.secrets(.page(page))))
        // A filter typed before the count came back: its rows, its own count, the whole one still on its way.
        h.key(.char("/"))
        h.key(.char("s"))
        h.type("vc/00")
        while let q = h.effects.compactMap({ e -> PageQuery<String>? in if case .secrets(.page(let q)) = e { q } else { nil } }).last,
            q.id == h.model.secrets.rows.inFlight
        {
            h.send(h.runner.run(.secrets(.page(q))))
        }
        #expect(h.model.secrets.rows.shownFilter == "svc/00" && h.model.secrets.rows.hasAfter)
        #expect(h.screen.text.contains("Secrets (100 of …)"), "\(h.screen.text)")
        // The count asked for the unfiltered list arrives: the whole count, not the filtered list's.
        h.send(h.runner.run(.secrets(.count(count))))
        #expect(h.screen.text.contains("Secrets (100 of \(Self.count))"), "\(h.screen.text)")
        #expect(h.model.secrets.rows.count == 100 && h.model.secrets.rows.selectedItem?.name == "svc/0000")

        // Refreshes while a count is on its way (a held `r`), a secret made meanwhile: one count at a
        // time; the one wanted since goes when the older answers, and the title ends with its count.
        h.key(.enter)
        h.effects = []
        h.key(.char("r"))
        guard case .secrets(.count(let older))? = h.effects.last else { Issue.record("no count in \(h.effects)"); return }
        let olderAnswer = h.runner.run(.secrets(.count(older)))
        try #require(h.session).createSecret("svc/9999", .value(try SecureBytes(copying: Array("v".utf8))))
        h.effects = []
        for _ in 0..<5 { h.key(.char("r")) }
        #expect(!h.effects.contains { if case .secrets(.count) = $0 { true } else { false } }, "a second count in \(h.effects)")
        h.send(olderAnswer)
        guard case .secrets(.count(let newer))? = h.effects.last, newer.id > older.id else {
            Issue.record("no count after the older answered: \(h.effects)"); return
        }
        #expect(h.effects.filter { if case .secrets(.count) = $0 { true } else { false } }.count == 1)
        h.send(h.runner.run(.secrets(.count(newer))))
        #expect(h.model.secrets.rows.all == Self.count + 1 && h.model.secrets.rows.countInFlight == nil)
        #expect(h.screen.text.contains("Secrets (100 of \(Self.count + 1))"), "\(h.screen.text)")
    }

    var page: Int { Layout.listRows(.secrets, width: 80, height: 16) }

    @Test func scrollingToTheEndAndBackReadsPagesNotTheList() throws {
        var h = try secrets()
        let rows = { h.model.secrets.rows }
        #expect(rows().count == Self.count && rows().items.count < 100 && rows().hasAfter)
        #expect(h.screen.text.contains("Secrets (\(Self.count))"))
        var largest = 0

        // PgDn to the end: each press one screen further, every row's place exact.
        var presses = 0
        while rows().list.selected < Self.count - 1 && presses < Self.count {
            h.key(.pageDown)
            presses += 1
            largest = max(largest, rows().items.count)
            let expected = min(presses * page, Self.count - 1)
            #expect(rows().list.selected == expected && rows().selectedItem?.name == Self.name(expected))
        }
        #expect(rows().selectedItem?.name == Self.name(Self.count - 1) && !rows().hasAfter)
        #expect(h.screen.text.contains("› " + Self.name(Self.count - 1)))
        // The scroll mark at the bottom, beside the last row: its place in the count from SQL.
        let last = try #require(h.screen.row(containing: "› " + Self.name(Self.count - 1)))
        #expect(h.screen.lines.indices.filter { h.screen.lines[$0].contains("┃") } == [last])

        // Back up with k: row by row, each the one before.
        for i in stride(from: Self.count - 2, through: Self.count - 3 * page, by: -1) {
            h.key(.char("k"))
            #expect(rows().selectedItem?.name == Self.name(i))
        }
        // Home reads the first page; End the last, with no walk between.
        let before = h.effects.count
        h.key(.home)
        #expect(rows().list.selected == 0 && rows().selectedItem?.name == Self.name(0) && !rows().hasBefore)
        #expect(h.effects.count == before + 1)
        h.key(.end)
        #expect(rows().list.selected == Self.count - 1 && rows().selectedItem?.name == Self.name(Self.count - 1))
        // PgUp back to the top.
        presses = 0
        while rows().list.selected > 0 && presses < Self.count {
            h.key(.pageUp)
            presses += 1
            largest = max(largest, rows().items.count)
            #expect(rows().selectedItem?.name == Self.name(rows().list.selected))
        }
        #expect(rows().selectedItem?.name == Self.name(0) && presses == (Self.count - 1 + page - 1) / page)
        // The window stayed a few screens: never the list.
        #expect(largest <= 4 * max(16, 2 * page) + 1)
    }

    @Test func theSelectionSurvivesRefreshesAndDeletionsByKey() throws {
        var h = try secrets()
        for _ in 0..<40 { h.key(.pageDown) }
        let chosen = 40 * page
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(chosen))
        let other = try #require(h.session)

        // Another process deletes rows above it and adds one: r keeps the same row selected.
        _ = try other.deleteSecret(Self.name(3))
        _ = try other.deleteSecret(Self.name(chosen - 1))
        try other.createSecret("svc/0000a", .value(try SecureBytes(copying: Array("x".utf8))))
        h.key(.char("r"))
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(chosen))
        #expect(h.model.secrets.rows.count == Self.count - 1)
        #expect(h.screen.text.contains("› " + Self.name(chosen)))

        // The selected row itself is deleted elsewhere: its neighbour takes its place.
        _ = try other.deleteSecret(Self.name(chosen))
        h.key(.char("r"))
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(chosen + 1))

        // Deleted from the console: the next row is selected.
        h.key(.char("D"))
        h.type(Self.name(chosen + 1))
        h.key(.enter)
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(chosen + 2))
        #expect(h.model.secrets.rows.count == Self.count - 3)

        // The last row deleted: the one before it.
        h.key(.end)
        h.key(.char("D"))
        h.type(Self.name(Self.count - 1))
        h.key(.enter)
        #expect(h.model.secrets.rows.selectedItem?.name == Self.name(Self.count - 2))
        #expect(h.model.secrets.rows.list.selected == h.model.secrets.rows.count - 1)
    }

    @Test func aFilterKeystrokeNeverWaitsAndAStaleAnswerIsDropped() throws {
        var h = try secrets()
        h.runEffects = false
        h.effects = []
        h.key(.char("/"))
        h.key(.char("9"))
        // One read for "9", on its way.
        guard case .secrets(.page(let first))? = h.effects.last, h.effects.count == 1 else {
            Issue.record("expected one page read, got \(h.effects)"); return
        }
        #expect(first.filter == "9" && first.anchor == .first && first.count)
        // More keys while it is out: drawn at once, no read sent.
        h.type("99")
        #expect(h.effects.count == 1)
        #expect(h.screen.text.contains("/999"))
        #expect(h.model.secrets.rows.shownFilter.isEmpty && h.model.secrets.rows.count == Self.count)

        // The answer for "9" comes back: dropped (the text is "999" now), and the read for "999" goes.
        h.send(h.runner.run(.secrets(.page(first))))
        #expect(h.model.secrets.rows.shownFilter.isEmpty && h.model.secrets.rows.count == Self.count)
        guard case .secrets(.page(let second))? = h.effects.last, h.effects.count == 2 else {
            Issue.record("expected the read for 999, got \(h.effects)"); return
        }
        #expect(second.filter == "999" && second.id > first.id)
        // An answer to a read nobody waits for (the old id again) changes nothing.
        h.send(h.runner.run(.secrets(.page(first))))
        #expect(h.model.secrets.rows.shownFilter.isEmpty && h.effects.count == 2)

        // Its answer: the rows matching, counted by SQL.
        h.send(h.runner.run(.secrets(.page(second))))
        #expect(h.model.secrets.rows.shownFilter == "999")
        #expect(h.model.secrets.rows.items.map(\.name) == ["svc/0999", "svc/1999"])
        #expect(h.screen.text.contains("Secrets (2 of \(Self.count))"))
        #expect(h.model.secrets.rows.selectedItem?.name == "svc/0999")
    }

    @Test func aCommonFilterIsCountedUpToItsCap() throws {
        var h = try secrets()
        h.key(.char("/"))
        h.type("svc")
        #expect(h.model.secrets.rows.countIsLowerBound)
        #expect(h.screen.text.contains("Secrets (\(PagedList<SecretInfo>.countCap)+ of \(Self.count))"))
        h.key(.escape)
        #expect(h.screen.text.contains("Secrets (\(Self.count))"))
    }

    @Test func theAuditLogPagesNewestFirstOverTheWholeLog() throws {
        var h = try Harness.loggedIn(width: 80, height: 16) { s, _ in
            for i in 0..<300 { try s.createSecret(Self.name(i), .value(try SecureBytes(copying: Array("v".utf8)))) }
        }
        h.key(.char("4"))
        let rows = { h.model.audit.rows }
        #expect(rows().selectedItem?.action == "login" && rows().items.count < 100)
        let events = rows().count
        #expect(events > 300)
        h.key(.end)
        #expect(rows().selectedItem?.seq == 1 && rows().selectedItem?.action == "vault.create")
        #expect(rows().list.selected == events - 1)
        h.key(.home)
        #expect(rows().selectedItem?.seq == Int64(events))
        // The filter is a query over the whole log.
        h.key(.char("/"))
        h.type("svc/0001")
        #expect(rows().items.map(\.target) == ["secret:svc/0001"] && rows().count == 1)
    }

    /// No list reads every row: the console calls the page API only.
    @Test func noListPathCallsTheLoadEverythingAPIs() throws {
        let dir = ConsoleLayeringTests.sources
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count > 10)
        var offenders: [String] = []
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for call in [
                ".users()", ".secrets()", "auditEvents(", "FilteredList<UserInfo>", "FilteredList<SecretInfo>", "FilteredList<AuditEvent>"
            ]
            where text.contains(call) {
                offenders.append("\(file): \(call)")
            }
        }
        #expect(offenders.isEmpty, "\(offenders)")
        // And the pages are what its runner calls (`Run<Feature>.swift`).
        let runner = try files.filter { $0.hasPrefix("Run") }.map {
            try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)
        }.joined()
        #expect(["userPage(", "secretPage(", "auditPage("].allSatisfy(runner.contains))
    }
}
