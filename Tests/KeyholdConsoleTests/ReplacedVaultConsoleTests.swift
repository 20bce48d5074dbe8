import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The console open, the vault file replaced under it (docs/SECURITY.md, "A vault replaced
/// while in use"): the next action stops the console with a clear message, nothing more is
/// written, and afterwards both vaults pass `check` and hold what they held.
@Suite struct ReplacedVaultConsoleTests {
    /// Another vault with a secret of its own, closed, as a backup on disk is.
    static func otherVault(in dir: TempDir) throws -> (path: String, events: Int) {
        let path = dir.file("other.db")
        let (s, _) = try Vault.create(at: path, admin: "admin", password: pw(adminPassword), options: .insecureFastForTests())
        try s.createSecret("other/only-here", .value(pw("the-other-vaults-value")))
        let events = try s.auditEvents().count
        try s.vault.close()
        return (path, events)
    }

    /// The vault at `path` passes check and holds `secret` = `value`; its event count before this look.
    static func whole(_ path: String, _ secret: String, _ value: String,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let v = try Vault.open(at: path, options: .insecureFastForTests())
        defer { try? v.close() }
        guard case .session(let s) = try v.login(username: "admin", password: pw(adminPassword)) else {
            throw TestFailure("no session in \(path)")
        }
        let report = try s.check()
        #expect(report.ok, "\(path): \(report.problems)", sourceLocation: sourceLocation)
        #expect(s.reveal(secret, equals: value), sourceLocation: sourceLocation)
        return try s.auditEvents().count - 2  // this login and this reveal
    }

    /// A console logged in over a vault with one secret; the number of events the vault then holds.
    static func console() throws -> (Harness, Int) {
        let h = try Harness.loggedIn(setUp: { admin, _ in
            try admin.createSecret("live/secret", .value(pw("the-live-value-1")))
        })
        let events = try #require(h.session).auditEvents().count
        return (h, events)
    }

    /// The stopped console: its screen, and that nothing but quitting is left.
    static func expectStopped(_ h: inout Harness, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(h.model.stopped != nil, "the console did not stop: \(h.screen.text)", sourceLocation: sourceLocation)
        let text = h.screen.text.split(whereSeparator: \.isWhitespace).joined(separator: " ")  // the message as wrapped
        #expect(h.screen.text.contains("The vault file was replaced"), sourceLocation: sourceLocation)
        #expect(text.contains("Keyhold stopped using it and wrote nothing more to either file."), sourceLocation: sourceLocation)
        #expect(text.contains("Start Keyhold again"), sourceLocation: sourceLocation)
        #expect(h.model.account == nil && h.session == nil, sourceLocation: sourceLocation)
        h.effects = []
        h.keys(.char("1"), .char("3"), .enter, .char("/"))
        #expect(h.effects.isEmpty, "a stopped console asked the core for \(h.effects)", sourceLocation: sourceLocation)
        #expect(!h.model.quit, sourceLocation: sourceLocation)
        h.key(.char("q"))
        #expect(h.model.quit, sourceLocation: sourceLocation)
    }

    @Test func anotherVaultMovedOverThePathStopsTheConsoleAndBothVaultsStayWhole() throws {
        var (h, liveEvents) = try Self.console()
        let dir = TempDir()
        let other = try Self.otherVault(in: dir)
        // mv vault.db vault.old; mv other.db vault.db
        let moved = h.dir.file("vault.old")
        #expect(rename(h.path, moved) == 0 && rename(other.path, h.path) == 0)

        h.key(.char("3"))  // the Secrets screen: a read of the vault
        Self.expectStopped(&h)
        #expect(try Self.whole(h.path, "other/only-here", "the-other-vaults-value") == other.events)
        #expect(try Self.whole(moved, "live/secret", "the-live-value-1") == liveEvents)
    }

    @Test func anotherVaultCopiedOverTheFileStopsTheConsoleAndTheCopyStaysWhole() throws {
        var (h, _) = try Self.console()
        let dir = TempDir()
        let other = try Self.otherVault(in: dir)
        // cp other.db vault.db: the same inode, other contents; the console's pages are in vault.db-wal.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: other.path))
        let handle = try #require(FileHandle(forWritingAtPath: h.path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()

        h.key(.char("2"))  // the Users screen
        Self.expectStopped(&h)
        #expect(h.model.stopped?.contains("another vault") == true)
        #expect(try Self.whole(h.path, "other/only-here", "the-other-vaults-value") == other.events)
        #expect(try Self.whole(other.path, "other/only-here", "the-other-vaults-value") == other.events)
    }

    @Test func aLoginAfterTheFileWasReplacedStopsToo() throws {
        var h = try Harness.withVault()
        let dir = TempDir()
        let other = try Self.otherVault(in: dir)
        #expect(rename(other.path, h.path) == 0)
        h.logIn("admin", adminPassword)
        Self.expectStopped(&h)
        _ = try Self.whole(h.path, "other/only-here", "the-other-vaults-value")
    }
}

extension Session {
    /// Whether the secret's value is `expected`, without putting either in a failure message.
    func reveal(_ name: String, equals expected: String) -> Bool {
        (try? reveal(name).constantTimeEquals(SecureBytes(utf8: expected))) ?? false
    }
}
