import Foundation
import KeyholdCrypto
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

/// A vault the release before format 2 made (Tests/Fixtures/format1-vault.db, see its README),
/// upgraded in place by the explicit, audited step.
@Suite struct UpgradeTests {
    static let cheap = VaultOptions.insecureFastForTests()

    /// A copy of the fixture in a fresh 0700 directory.
    static func formatOne() throws -> (dir: TempDir, path: String) {
        let dir = TempDir()
        let path = dir.file("vault.db")
        try FileManager.default.copyItem(atPath: Repository.fixture("format1-vault.db"), toPath: path)
        #expect(chmod(path, 0o600) == 0)
        return (dir, path)
    }

    static func login(_ vault: Vault, _ name: String, _ password: String) throws -> Session {
        guard case .session(let s) = try vault.login(username: name, password: pw(password)) else {
            throw TestFailure("\(name) did not get a session")
        }
        return s
    }

    @Test func formatOneVaultIsUpgradedAndEverythingStillOpens() throws {
        let (dir, path) = try Self.formatOne()
        #expect(throws: KeyholdError.store(.upgradeRequired(path: path, format: 1))) { try Vault.open(at: path, options: Self.cheap) }
        let backup = dir.file("vault.db.format1.bak")
        let result = try Vault.upgrade(
            at: path, username: "root", password: pw("format-one-boss-pass"), backup: backup,
            options: Self.cheap)
        #expect(result.fromFormat == 1 && result.toFormat == VaultFile.currentFormat)
        #expect(result.secretsTagged == 4)
        #expect(result.pendingRequests == ["waity"])
        // The backup is the vault as it was: format 1, mode 0600.
        #expect(try Store.open(at: backup, allowOlder: true).kind == .older(format: 1))
        #expect(try FileManager.default.attributesOfItem(atPath: backup)[.posixPermissions] as? Int == 0o600)

        let vault = try Vault.open(at: path, options: Self.cheap)
        let root = try Self.login(vault, "root", "format-one-boss-pass")
        #expect(try root.reveal("app/prod/stripe").utf8String() == "sk_live_two")
        #expect(try root.reveal("app/prod/stripe", version: 1).utf8String() == "sk_live_one")
        #expect(try root.reveal("app/prod/db").utf8String() == "after-root-rotation")
        let upgrade = try #require(try root.auditEvents(AuditQuery(action: "vault.upgrade")).first)
        #expect(upgrade.actor == "root" && upgrade.signed)

        // Every user pins the vault at their next login; key holders still hold the root key.
        for (name, password, holds) in [
            ("olga", "secret-keeper-passphrase-1", true), ("hank", "desk-keeper-passphrase-2", true),
            ("appy", "app-person-passphrase-3", false), ("impy", "imported-user-pass-4", true),
            ("pendy", "pending-user-pass-5", true)
        ] {
            let s = try Self.login(vault, name, password)
            #expect(s.hasKeyAccess == holds, "\(name)")
        }
        #expect(try Self.login(vault, "olga", "secret-keeper-passphrase-1").reveal("app/prod/aws").utf8String() == "AKIA-format-one")
        // The pending request stays pending: waity is shown her fingerprint, the administrator approves it.
        let waity = try Self.login(vault, "waity", "waiting-user-pass-6")
        #expect(!waity.hasKeyAccess)
        let fingerprint = try #require(waity.pendingKeyFingerprint)
        let admin = try Self.login(vault, "root", "format-one-boss-pass")
        #expect(try admin.keyRequests().map(\.username) == ["waity"])
        try admin.approveKeyRequest("waity", fingerprint: fingerprint)
        #expect(try Self.login(vault, "waity", "waiting-user-pass-6").reveal("app/prod/db").utf8String() == "after-root-rotation")

        // Before the anchor the log keeps format 1's rule; from it on, format 2's. All of it verifies.
        let report = try admin.check()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(try admin.verifyAudit().ok)
        // New work goes on as usual, and a rotation of each key carries every value.
        try admin.createSecret("app/after-upgrade", .value(pw("made-in-format-two")))
        _ = try admin.rotateDataKey()
        _ = try admin.rotateRootKey()
        let again = try Self.login(vault, "root", "format-one-boss-pass")
        #expect(try again.reveal("app/prod/stripe").utf8String() == "sk_live_two")
        #expect(try again.check().problems.isEmpty)

        // Once is enough.
        #expect(throws: KeyholdError.self) {
            try Vault.upgrade(
                at: path, username: "root", password: pw("format-one-boss-pass"), backup: dir.file("again.bak"),
                options: Self.cheap)
        }
    }

    /// Only an administrator holding roles.manage, keys.manage and the root key upgrades; a refusal,
    /// a wrong password or a failure part-way leaves the file a format-1 vault with all it held.
    @Test func refusedOrFailedUpgradeLeavesFormatOne() throws {
        let (dir, path) = try Self.formatOne()
        #expect(throws: KeyholdError.self) {
            try Vault.upgrade(
                at: path, username: "olga", password: pw("secret-keeper-passphrase-1"), backup: dir.file("a.bak"),
                options: Self.cheap)
        }
        #expect(throws: KeyholdError.authenticationFailed) {
            try Vault.upgrade(
                at: path, username: "root", password: pw("not the password at all"), backup: dir.file("b.bak"),
                options: Self.cheap)
        }
        var failing = Self.cheap
        failing.fault = { point in if point == .beforeCommit { throw KeyholdError.conflict("injected") } }
        #expect(throws: KeyholdError.conflict("injected")) {
            try Vault.upgrade(
                at: path, username: "root", password: pw("format-one-boss-pass"), backup: dir.file("c.bak"),
                options: failing)
        }
        #expect(try Store.open(at: path, allowOlder: true).kind == .older(format: 1))
        #expect(!FileManager.default.fileExists(atPath: dir.file("a.bak")))
        // Still upgradable, and nothing of the failed attempt remains.
        _ = try Vault.upgrade(
            at: path, username: "root", password: pw("format-one-boss-pass"), backup: dir.file("d.bak"),
            options: Self.cheap)
        let vault = try Vault.open(at: path, options: Self.cheap)
        #expect(try Self.login(vault, "root", "format-one-boss-pass").auditEvents(AuditQuery(action: "vault.upgrade")).count == 1)
    }

    /// The backup is never written over an existing file.
    @Test func upgradeRefusesAnExistingBackupPath() throws {
        let (dir, path) = try Self.formatOne()
        let taken = dir.file("taken.bak")
        #expect(FileManager.default.createFile(atPath: taken, contents: Data("mine".utf8), attributes: [.posixPermissions: 0o600]))
        #expect(throws: KeyholdError.store(.exists(path: taken))) {
            try Vault.upgrade(at: path, username: "root", password: pw("format-one-boss-pass"), backup: taken, options: Self.cheap)
        }
        #expect(FileManager.default.contents(atPath: taken) == Data("mine".utf8))
        #expect(try Store.open(at: path, allowOlder: true).kind == .older(format: 1))
    }
}
