import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

/// The page API of Session (secretPage, userPage, auditPage and the counts): the same rows as the
/// whole listings, the same permission checks, no audit event, bad input refused by field, and a
/// position kept by key when rows come and go.
@Suite struct SessionPageTests {
    /// Every item of a listing, page after page from the first.
    static func all<Item: PageItem>(_ limit: Int, _ fetch: (PagePosition<Item.Key>) throws -> Page<Item>) throws -> [Item] {
        var out: [Item] = []
        var page = try fetch(.first)
        out += page.items
        while let next = page.next {
            page = try fetch(next)
            out += page.items
        }
        return out
    }

    static func populated() throws -> Fixture {
        let f = try Fixture()
        for name in ["app/prod/db", "app/prod/stripe", "app/dev/db", "App/Upper", "web/token", "web/prod/cache", "z/last"] {
            try f.admin.createSecret(name, .value(pw("value of " + name)))
        }
        try f.admin.setRotateBy("web/token", at: f.clock.clock.now() + Clock.day)
        _ = try f.admin.createUser(username: "olivia", email: "olivia@example.com", displayName: "Olivia Prod", roles: ["operator"])
        _ = try f.admin.createUser(username: "Bob", email: nil, displayName: "", roles: ["helpdesk"])
        _ = try f.admin.createUser(username: "carol", email: "carol@prod.example", displayName: "", roles: ["auditor"])
        _ = try f.admin.createUser(username: "dave", email: nil, displayName: "Dave", roles: [])
        return f
    }

    @Test func pagesHoldTheRowsOfTheWholeListings() throws {
        let f = try Self.populated()
        let s = f.admin
        for limit in [1, 2, 100] {
            #expect(try Self.all(limit) { try s.secretPage(at: $0, limit: limit) }.map(\.self) == s.secrets())
            #expect(try Self.all(limit) { try s.secretPage(.prefix("app/"), at: $0, limit: limit) } == s.secrets(prefix: "app/"))
            for text in ["PROD", "b", "db", "nothing"] {
                #expect(
                    try Self.all(limit) { try s.userPage(UserFilter(name: .contains(text)), at: $0, limit: limit) }
                        == s.users(UserQuery(text: text)), "users containing \(text)")
            }
            #expect(try Self.all(limit) { try s.userPage(at: $0, limit: limit) } == s.users())
            #expect(
                try Self.all(limit) { try s.userPage(UserFilter(role: "OPERATOR"), at: $0, limit: limit) }
                    == s.users(UserQuery(role: "operator")))
            #expect(try Self.all(limit) { try s.auditPage(at: $0, limit: limit) } == s.auditEvents())
            #expect(
                try Self.all(limit) { try s.auditPage(AuditFilter(action: "secret."), at: $0, limit: limit) }
                    == s.auditEvents(AuditQuery(action: "secret.")))
        }
        #expect(try s.secretPage(.contains("PROD"), limit: 10).items.map(\.name) == ["app/prod/db", "app/prod/stripe", "web/prod/cache"])
        #expect(try s.secretCount() == 7 && s.secretCount(.prefix("app/")) == 3 && s.secretCount(.contains("o"), upTo: 2) == 2)
        #expect(try s.userCount() == 5 && s.userCount(UserFilter(name: .prefix("b"))) == 1)
        #expect(try s.auditCount() == s.auditEvents().count)
        // Rows are whole: a secret's metadata and a user's roles, key access and status.
        let web = try #require(try s.secretPage(.prefix("web/token"), limit: 1).items.first)
        #expect(web == (try s.secret(named: "web/token")) && web.rotateBy != nil)
        let olivia = try #require(try s.userPage(UserFilter(name: .prefix("OLIV")), limit: 1).items.first)
        #expect(olivia == (try s.user(named: "olivia")) && olivia.roles == ["operator"] && olivia.keyAccess == .granted)
    }

    @Test func thePositionIsTheRowsKeySoARefreshKeepsIt() throws {
        let f = try Self.populated()
        let s = f.admin
        let page = try s.secretPage(at: .first, limit: 3)
        let selected = try #require(page.items.last?.name)  // "app/dev/db"? whatever the third is
        try f.admin.createSecret("aaa/new", .value(pw("x")))
        try f.admin.createSecret("app/a-new", .value(pw("x")))
        let refreshed = try s.secretPage(at: .at(selected), limit: 3)
        #expect(refreshed.items.first?.name == selected && refreshed.hasBefore)
        // Gone: the position falls on the row that followed it.
        let following = try #require(try s.secretPage(at: .after(selected), limit: 1).items.first?.name)
        _ = try f.admin.deleteSecret(selected)
        #expect(try s.secretPage(at: .at(selected), limit: 1).items.first?.name == following)
        // Up from a key: the rows just before it, in order.
        let above = try s.secretPage(at: .before(following), limit: 2)
        let everything = try s.secrets().map(\.name)
        let index = try #require(everything.firstIndex(of: following))
        #expect(above.items.map(\.name) == Array(everything[(index - 2)..<index]) && above.hasAfter)
        #expect(above.previous == .before(everything[index - 2]) && above.next == .after(everything[index - 1]))
    }

    @Test func permissionsAreThoseOfTheListingsAndNothingIsAudited() throws {
        let f = try Self.populated()
        let auditor = try f.user("aud", roles: ["auditor"])
        let helpdesk = try f.user("helper", roles: ["helpdesk"])
        let plain = try f.user("plain", roles: ["user"])
        let before = try f.admin.auditCount()
        #expect(try auditor.secretPage(limit: 5).items.count == 5)
        #expect(try auditor.userPage(limit: 5).items.count == 5)
        #expect(try auditor.auditPage(limit: 5).items.count == 5)
        #expect(try auditor.secretCount() == 7 && auditor.userCount() == 8)
        #expect(try f.admin.auditCount() == before, "listing writes no event")
        #expect(throws: KeyholdError.permissionDenied(action: "secret.list", missing: .secretsList)) { try helpdesk.secretPage(limit: 5) }
        #expect(throws: KeyholdError.permissionDenied(action: "secret.list", missing: .secretsList)) { try helpdesk.secretCount() }
        #expect(throws: KeyholdError.permissionDenied(action: "audit.list", missing: .auditRead)) { try helpdesk.auditPage(limit: 5) }
        #expect(throws: KeyholdError.permissionDenied(action: "audit.list", missing: .auditRead)) { try helpdesk.auditListingStart() }
        #expect(try helpdesk.userPage(limit: 5).items.count == 5)
        #expect(throws: KeyholdError.permissionDenied(action: "user.list", missing: .usersRead)) { try plain.userPage(limit: 5) }
        #expect(throws: KeyholdError.permissionDenied(action: "user.list", missing: .usersRead)) { try plain.userCount() }
    }

    @Test func badInputNamesItsFieldAndWritesNothing() throws {
        let f = try Self.populated()
        let before = try f.admin.auditCount()
        for limit in [0, -1, 10_001] {
            #expect { try f.admin.secretPage(limit: limit) } throws: { e in
                guard case KeyholdError.invalid(let v) = e else { return false }
                return v.field == "page size" && v.rule.rawValue == "range" && v.message.contains("10,000")
            }
        }
        let long = String(repeating: "a", count: Session.filterMaxBytes + 1)
        #expect { try f.admin.userPage(UserFilter(name: .contains(long)), limit: 5) } throws: { e in
            guard case KeyholdError.invalid(let v) = e else { return false }
            return v.field == "filter" && v.rule.rawValue == "length"
        }
        #expect { try f.admin.auditListingStart(newest: -1) } throws: { e in
            guard case KeyholdError.invalid(let v) = e else { return false }
            return v.field == "limit"
        }
        #expect(try f.admin.auditCount() == before)
        // The longest filter allowed is fine.
        #expect(try f.admin.secretPage(.contains(String(long.dropLast())), limit: 5).items.isEmpty)
    }

    @Test func anAuditListingStartsAtTheNewestAndStopsWhereTheLogEnded() throws {
        let f = try Self.populated()
        let s = f.admin
        let events = try s.auditEvents()
        let (start, through) = try s.auditListingStart(newest: 3)
        #expect(through == events.last?.seq)
        // Appended after the start: not in the listing.
        try s.createSecret("after/start", .value(pw("x")))
        let listed = try Self.all(10) { position in
            try s.auditPage(AuditFilter(throughSeq: through), at: position == .first ? start : position, limit: 10)
        }
        #expect(listed == Array(events.suffix(3)))
        let secrets = try s.auditListingStart(newest: 2, AuditFilter(action: "secret.create"))
        #expect(
            try s.auditPage(AuditFilter(action: "secret.create", throughSeq: secrets.through), at: secrets.start, limit: 10).items
                == Array(try s.auditEvents(AuditQuery(action: "secret.create")).suffix(2)))
        let none = try s.auditListingStart(newest: 0)
        #expect(try s.auditPage(AuditFilter(throughSeq: none.through), at: none.start, limit: 10).items.isEmpty)
        let whole = try s.auditListingStart()
        #expect(whole.start == .first)
    }
}
