import Foundation
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole

/// The console open, the vault file replaced under it (docs/SECURITY.md, "A vault replaced
/// while in use"): the next action stops the console with a clear message, nothing more is
/// written, and afterwards both vaults pass `check` and hold what they held.
@Suite struct ReplacedVaultConsoleTests {
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
        let other = try OtherVault.make(in: dir)
        // mv vault.db vault.old; mv other.db vault.db
        let moved = h.dir.file("vault.old")
        #expect(rename(h.path, moved) == 0 && rename(other.path, h.path) == 0)

        h.key(.char("3"))  // the Secrets screen: a read of the vault
        Self.expectStopped(&h)
        #expect(try OtherVault.expectWhole(h.path, OtherVault.secret, OtherVault.value) == other.events)
        #expect(try OtherVault.expectWhole(moved, "live/secret", "the-live-value-1") == liveEvents)
    }

    @Test func anotherVaultCopiedOverTheFileStopsTheConsoleAndTheCopyStaysWhole() throws {
        var (h, _) = try Self.console()
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        // cp other.db vault.db: the same inode, other contents; the console's pages are in vault.db-wal.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: other.path))
        let handle = try #require(FileHandle(forWritingAtPath: h.path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
        try handle.close()

        h.key(.char("2"))  // the Users screen
        Self.expectStopped(&h)
        #expect(h.model.stopped?.contains("another vault") == true)
        #expect(try OtherVault.expectWhole(h.path, OtherVault.secret, OtherVault.value) == other.events)
        #expect(try OtherVault.expectWhole(other.path, OtherVault.secret, OtherVault.value) == other.events)
    }

    @Test func aLoginAfterTheFileWasReplacedStopsToo() throws {
        var h = try Harness.withVault()
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        #expect(rename(other.path, h.path) == 0)
        h.logIn("admin", adminPassword)
        Self.expectStopped(&h)
        _ = try OtherVault.expectWhole(h.path, OtherVault.secret, OtherVault.value)
    }
}
