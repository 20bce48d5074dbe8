import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// `restore` (docs/SECURITY.md, "Restore"): a backup put back in place under the vault's
// in-use lock, checked first, the replaced contents kept, the cut events recorded; and the
// refusals, each of which leaves the vault, the backup and the directory as they were.

/// Test helpers for files: bytes, names in a directory, whether bytes occur in a file.
enum Files {
    static func bytes(_ path: String) -> [UInt8] { (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? [] }

    static func names(_ dir: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    static func mode(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_mode & 0o777) : nil
    }

    static func contains(_ path: String, _ text: String) -> Bool { contains(bytes(path), Array(text.utf8)) }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, hay.count >= needle.count else { return false }
        return (0...(hay.count - needle.count)).contains { i in hay[i..<(i + needle.count)].elementsEqual(needle) }
    }

    /// Writes `bytes` over the file at `path` in place, as `cp` does onto an existing file
    /// (O_TRUNC: the same inode).
    static func overwrite(_ path: String, with bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw TestFailure("cannot open \(path)") }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw TestFailure("short write to \(path)") }
    }

    static func writeNew(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(path)") }
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

@Suite struct RestoreTests {
    static func login(_ vault: Vault, _ user: String = "admin", _ password: String = adminPassword) throws -> Session {
        guard case .session(let s) = try vault.login(username: user, password: pw(password)) else {
            throw TestFailure("no session for \(user)")
        }
        return s
    }

    static func lastSeq(_ s: Session) throws -> Int64 {
        try #require(s.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first).seq
    }

    /// The events of one action, oldest first.
    static func events(_ s: Session, _ action: AuditAction) throws -> [AuditEvent] {
        try s.auditEvents(AuditQuery(action: action.rawValue))
    }

    // MARK: The way back

    @Test func aBackupComesBackWithTheCutEventsRecordedAndTheReplacedContentsKept() throws {
        let f = try Fixture()
        let elsewhere = TempDir()
        let backup = elsewhere.file("before.db")
        try f.admin.createSecret("app/db", .value(pw("value-in-the-backup-1")))
        let backupSeq = try Self.lastSeq(f.admin)  // the backup's own vault.backup event comes after, not in it
        try f.admin.backup(to: backup)
        let backupBytes = Files.bytes(backup)
        // Life goes on after the backup: a new value, a new secret (its name appears nowhere in the backup).
        _ = try f.admin.addVersion("app/db", .value(pw("value-after-the-backup-2")))
        try f.admin.createSecret("app/made-after-the-backup", .value(pw("value-after-the-backup-3")))
        let liveSeq = try Self.lastSeq(f.admin)
        let replacedCiphertext = try TamperKit.ciphertext(f, try TamperKit.secretID(f, "app/db"), 2)

        let restore = try f.admin.beginRestore(from: backup)
        #expect(restore.sameVault && restore.vaultName == "vault.db")
        let check = try restore.verify(password: pw(adminPassword))
        #expect(check.report.ok, "\(check.report.problems)")
        #expect(check.report.skipped.isEmpty)
        #expect(check.sharedEvents == backupSeq)
        #expect(check.cutEvents == Int(liveSeq - backupSeq) && check.cutThrough == liveSeq)
        let result = try restore.commit()
        #expect(result.cutEvents == Int(liveSeq - backupSeq) && result.cutThrough == liveSeq && !result.otherVault)
        #expect(result.checkpointed)
        // The WAL keeps no page of the replaced contents, and the file no byte of them.
        #expect(Files.size(f.path + "-wal") ?? 0 == 0)
        #expect(!Files.contains(f.path, "app/made-after-the-backup"))
        #expect(
            !Files.contains(Files.bytes(f.path) + Files.bytes(f.path + "-wal"), replacedCiphertext),
            "a ciphertext of the replaced contents is still in the vault's files")
        #expect(Files.contains(Files.bytes(result.kept), replacedCiphertext), "the search finds what is there")

        let s = try Self.login(f.vault)
        #expect(try TamperKit.same(try s.reveal("app/db"), "value-in-the-backup-1"))
        #expect(
            TamperKit.error { try s.secret(named: "app/made-after-the-backup") }
                == .notFound(kind: "secret", name: "app/made-after-the-backup"))
        let recorded = try Self.events(s, .vaultRestore)
        #expect(recorded.count == 1)
        let event = try #require(recorded.first)
        #expect(event.seq == result.eventSeq && event.actor == "admin" && event.signed)
        #expect(event.details.contains("\"cut_events\":\(liveSeq - backupSeq)"))
        #expect(event.details.contains("\"cut_through\":\(liveSeq)"))
        #expect(event.details.contains("\"backup\":\"\(backup)\""))
        #expect(event.details.contains("\"kept\":\"\(result.kept)\""))
        #expect(try s.verifyAudit().failure == nil)
        #expect(try s.check().ok)

        // The replaced contents, kept beside the vault (0600), are a whole vault of their own.
        #expect(result.kept.hasPrefix(f.path + ".replaced-") && result.kept.hasSuffix(".bak"))
        #expect(Files.mode(result.kept) == 0o600)
        let kept = try Vault.open(at: result.kept, options: .insecureFastForTests())
        let k = try Self.login(kept)
        #expect(try TamperKit.same(try k.reveal("app/db"), "value-after-the-backup-2"))
        #expect(try TamperKit.same(try k.reveal("app/made-after-the-backup"), "value-after-the-backup-3"))
        #expect(try k.check().ok)
        try kept.close()

        // The backup was never opened nor changed, and nothing was left beside it or the vault.
        #expect(Files.bytes(backup) == backupBytes)
        #expect(Files.names(elsewhere.path) == ["before.db"])
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    @Test func anotherVaultNeedsItsFlagAndThenReplacesTheVaultID() throws {
        let f = try Fixture()
        let other = try Fixture()
        try other.admin.createSecret("other/token", .value(pw("the-other-vaults-value")))
        let backup = other.dir.file("other-backup.db")
        try other.admin.backup(to: backup)
        let before = try f.admin.auditEvents().count

        let refused = TamperKit.error { try f.admin.beginRestore(from: backup) }
        guard case .conflict(let message) = refused else { Issue.record("expected a conflict, got \(String(describing: refused))"); return }
        #expect(message.contains("another vault") && message.contains("--other-vault"))
        #expect(try f.admin.auditEvents().count == before)
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") }.isEmpty)

        let restore = try f.admin.beginRestore(from: backup, allowOtherVault: true)
        #expect(!restore.sameVault && restore.backupVaultID != restore.liveVaultID)
        let check = try restore.verify(password: pw(adminPassword))
        #expect(check.sharedEvents == 0 && check.cutEvents == before)
        let result = try restore.commit()
        #expect(result.otherVault)
        let s = try Self.login(f.vault)
        #expect(try TamperKit.same(try s.reveal("other/token"), "the-other-vaults-value"))
        #expect(try f.vault.identity().vaultID == other.vault.identity().vaultID)
        let event = try #require(try Self.events(s, .vaultRestore).first)
        #expect(
            event.details.contains("\"other_vault\":true") && event.details.contains("\"replaced_vault_id\":\"\(restore.liveVaultID)\""))
        #expect(try s.check().ok)
    }

    // MARK: Refusals

    @Test func aFileThatIsNotAVaultIsRefusedByItsName() throws {
        let f = try Fixture()
        let elsewhere = TempDir()
        let junk = elsewhere.file("junk.db")
        try Files.writeNew(junk, Array("SQLite format 3\u{0}".utf8) + [UInt8](repeating: 7, count: 4000))
        let refused = TamperKit.error { try f.admin.beginRestore(from: junk) }
        guard case .store(.notAVault(let path, _)) = refused else { Issue.record("got \(String(describing: refused))"); return }
        #expect(path == junk)
        #expect(
            TamperKit.error { try f.admin.beginRestore(from: elsewhere.file("missing.db")) }
                == .store(.notFound(path: elsewhere.file("missing.db"))))
        #expect(TamperKit.error { try f.admin.beginRestore(from: elsewhere.path) } == .store(.isDirectory(path: elsewhere.path)))
        #expect(
            TamperKit.error { try f.admin.beginRestore(from: f.path) } == .conflict("\(f.path) is the vault itself; give a backup of it"))
        // Nothing was left, and the vault is free again: another process may open it.
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") }.isEmpty)
        let again = try Vault.open(at: f.path, options: .insecureFastForTests())
        try again.close()
    }

    @Test func aFormat1BackupIsRefusedWithTheWayForward() throws {
        let f = try Fixture()
        let elsewhere = TempDir()
        let old = elsewhere.file("old.db")
        try Files.writeNew(old, Files.bytes(Repository.fixture("format1-vault.db")))
        let refused = TamperKit.error { try f.admin.beginRestore(from: old) }
        #expect(refused?.description.contains("format 1") == true)
        #expect(refused?.description.contains("keyhold upgrade --db COPY") == true)
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") }.isEmpty)
    }

    /// A backup missing its end (one byte, or whole pages) is refused as damaged before any row
    /// of it is read: cut by one byte, it passed every other test and was put in place.
    /// A backup made by a release of format 2 (no name indexes) is restored: the copy is taken to
    /// this format as it is opened, and the restored vault finds its names by substring.
    @Test func aFormat2BackupIsRestoredAndGetsTheNameIndexes() throws {
        let f = try Fixture()
        let elsewhere = TempDir()
        let backup = elsewhere.file("format2.db")
        try f.admin.createSecret("app/in-the-format2-backup", .value(pw("value-in-the-backup-1")))
        try f.admin.backup(to: backup)
        try Store.unsafeExecute(
            at: backup,
            """
            DROP TABLE secret_names; DROP TABLE user_names; PRAGMA user_version = 2; UPDATE vault SET format = 2;
            """)
        #expect(try VaultFile.inspect(backup) == .older(format: 2))
        try f.admin.createSecret("app/after-the-backup", .value(pw("value-after-the-backup-2")))

        let restore = try f.admin.beginRestore(from: backup)
        #expect(try restore.verify(password: pw(adminPassword)).report.ok)
        _ = try restore.commit()
        #expect(try VaultFile.inspect(f.path) == .current)
        let s = try Self.login(f.vault)
        #expect(try TamperKit.same(try s.reveal("app/in-the-format2-backup"), "value-in-the-backup-1"))
        #expect(try s.secretPage(.contains("FORMAT2"), limit: 10).items.map(\.name) == ["app/in-the-format2-backup"])
        #expect(try s.check().ok)
        // The backup itself stays of format 2, as it was.
        #expect(try VaultFile.inspect(backup) == .older(format: 2))
    }

    @Test func aBackupCutShortIsRefusedAsDamaged() throws {
        let f = try Fixture()
        for i in 0..<20 { try f.admin.createSecret("app/s\(i)", .value(pw("value \(i) of the backup"))) }
        let elsewhere = TempDir()
        let backup = elsewhere.file("backup.db")
        try f.admin.backup(to: backup)
        let whole = Files.bytes(backup)
        #expect(whole.count % 4096 == 0 && whole.count > 4 * 4096)
        for cut in [1, 4096, whole.count - 4096] {
            let path = elsewhere.file("cut-\(cut).db")
            try Files.writeNew(path, Array(whole.dropLast(cut)))
            let refused = TamperKit.error { try f.admin.beginRestore(from: path) }
            guard case .integrity(let message) = refused else {
                Issue.record("cut by \(cut): got \(String(describing: refused))"); continue
            }
            #expect(
                message.hasPrefix("the backup \(path) is damaged: it is cut short: its header counts \(whole.count / 4096) pages"),
                "\(message)")
            #expect(message.hasSuffix("the file holds \(whole.count - cut) bytes; nothing was restored"), "\(message)")
        }
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") || $0.contains(".replaced-") }.isEmpty)
        let again = try Vault.open(at: f.path, options: .insecureFastForTests())
        try again.close()
    }

    @Test func aBackupThatFailsCheckIsNotRestored() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("the-live-value-123")))
        let backup = f.dir.file("damaged.db")
        try f.admin.backup(to: backup)
        // Someone changes a ciphertext in the backup.
        let damaged = try Vault.open(at: backup, options: .insecureFastForTests())
        try damaged.store.unsafeExecute("UPDATE secret_versions SET ciphertext = randomblob(length(ciphertext))")
        try damaged.close()
        let before = try f.admin.auditEvents().count

        let restore = try f.admin.beginRestore(from: backup)
        let check = try restore.verify(password: pw(adminPassword))
        #expect(!check.report.ok)
        #expect(check.report.problems.contains { $0.location.hasPrefix("secret_versions") })
        let refused = TamperKit.error { try restore.commit() }
        guard case .integrity(let message) = refused else { Issue.record("got \(String(describing: refused))"); return }
        #expect(message.contains("fails check"))
        restore.cancel()
        #expect(try TamperKit.same(try f.admin.reveal("app/db"), "the-live-value-123"))
        #expect(try f.admin.auditEvents().count == before + 1)  // the reveal just now
        #expect(Files.names(f.dir.path).filter { $0.hasPrefix(".") || $0.contains(".replaced-") }.isEmpty)
    }

    @Test func aVaultOpenInAnotherProcessIsNotReplaced() throws {
        let f = try Fixture()
        let backup = f.dir.file("b.db")
        try f.admin.backup(to: backup)
        // Another open of the vault (as another process's would be: its own lock file description).
        let elsewhere = try Vault.open(at: f.path, options: .insecureFastForTests())
        let refused = TamperKit.error { try f.admin.beginRestore(from: backup) }
        #expect(refused == .store(.inUse(path: f.path)))
        #expect(refused?.description.contains("close it, then restore") == true)
        try elsewhere.close()
        let restore = try f.admin.beginRestore(from: backup)
        restore.cancel()
    }

    @Test func nobodyOpensTheVaultWhileARestoreHoldsIt() throws {
        let f = try Fixture()
        let backup = f.dir.file("b.db")
        try f.admin.backup(to: backup)
        let restore = try f.admin.beginRestore(from: backup)
        let refused = TamperKit.error { try Vault.open(at: f.path, options: .insecureFastForTests()) }
        #expect(refused == .store(.restoreInProgress(path: f.path)))
        #expect(refused?.description.contains("a restore of the vault") == true)
        restore.cancel()
        try Vault.open(at: f.path, options: .insecureFastForTests()).close()
    }

    @Test func restoreNeedsKeysManage() throws {
        let f = try Fixture()
        let backup = f.dir.file("b.db")
        try f.admin.backup(to: backup)
        let op = try f.user("olga", roles: ["operator"])
        #expect(TamperKit.error { try op.beginRestore(from: backup) } == .permissionDenied(action: "vault.restore", missing: .keysManage))
    }

    @Test func theRestoringUserMustHoldKeysManageInTheBackupToo() throws {
        let f = try Fixture()
        let sec = try f.user("sofia", roles: ["security-officer"])
        _ = sec
        // A backup from before sofia held keys.manage anywhere: she is an operator there.
        try f.admin.revokeRole("sofia", role: "security-officer")
        try f.admin.grantRole("sofia", role: "operator")
        let backup = f.dir.file("b.db")
        try f.admin.backup(to: backup)
        try f.admin.revokeRole("sofia", role: "operator")
        try f.admin.grantRole("sofia", role: "security-officer")
        let now = try Self.login(f.vault, "sofia", userPassword)
        let restore = try now.beginRestore(from: backup)
        let refused = TamperKit.error { try restore.verify(password: pw(userPassword)) }
        guard case .refused(let message) = refused else { Issue.record("got \(String(describing: refused))"); return }
        #expect(message.contains("keys.manage in the backup"))
        restore.cancel()
        // A wrong password for the backup is a failed login there (recorded in the copy, which is dropped).
        let again = try now.beginRestore(from: backup)
        #expect(TamperKit.error { try again.verify(password: pw("not the password at all")) } == .authenticationFailed)
        again.cancel()
    }

    @Test func theReplayNeedsKeysManageForARestoreEvent() throws {
        // Authority: a vault.restore signed by someone without keys.manage breaks the log's rules.
        let f = try Fixture()
        let op = try f.user("olga", roles: ["operator"])
        try op.perform(.vaultRestore, target: "vault", requires: nil) { op in op.details = ["backup": .string("/x")] }
        let v = try f.admin.verifyAudit()
        let failure = try #require(v.failure)
        #expect(failure.reason.contains("vault.restore") && failure.reason.contains("keys.manage"))
    }
}

// MARK: A vault replaced while in use

@Suite struct ReplacedVaultTests {
    @Test func anotherVaultMovedOntoThePathStopsTheSessionAndBothStayWhole() throws {
        let f = try Fixture()
        try f.admin.createSecret("live/secret", .value(pw("the-live-value-1")))  // in the WAL, not yet in the file
        let liveEvents = try f.admin.auditEvents().count
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        let moved = f.dir.file("vault.old")
        #expect(rename(f.path, moved) == 0 && rename(other.path, f.path) == 0)

        let stopped = TamperKit.error { try f.admin.createSecret("live/too-late", .value(pw("never-written"))) }
        guard case .store(.replaced(let path, .moved, let tidied)) = stopped else {
            Issue.record("got \(String(describing: stopped))"); return
        }
        #expect(path == f.path && tidied)
        #expect(stopped?.isVaultReplaced == true)
        // Stopped for good: every later call says the same, and writes nothing.
        #expect(TamperKit.error { try f.admin.secrets() }?.isVaultReplaced == true)

        #expect(try OtherVault.expectWhole(f.path, OtherVault.secret, OtherVault.value) == other.events)
        #expect(try OtherVault.expectWhole(moved, "live/secret", "the-live-value-1") == liveEvents)
    }

    @Test func anotherVaultCopiedOverTheFileIsToldByItsVaultID() throws {
        let f = try Fixture()
        try f.admin.createSecret("live/secret", .value(pw("the-live-value-1")))
        let dir = TempDir()
        let other = try OtherVault.make(in: dir)
        #expect((Files.size(f.path + "-wal") ?? 0) > 0, "the live vault's log holds pages, as it does in use")
        try Files.overwrite(f.path, with: Files.bytes(other.path))  // cp other.db vault.db: same inode

        let stopped = TamperKit.error { try f.admin.secrets() }
        guard case .store(.replaced(_, .rewritten(let why), let tidied)) = stopped else {
            Issue.record("got \(String(describing: stopped))"); return
        }
        #expect(why.contains("another vault") && tidied)
        // The live vault's pages did not mix with the copy: it is whole, and holds what the other held.
        #expect(Files.size(f.path + "-wal") ?? 0 == 0)
        #expect(try OtherVault.expectWhole(f.path, OtherVault.secret, OtherVault.value) == other.events)
        #expect(try OtherVault.expectWhole(other.path, OtherVault.secret, OtherVault.value) == other.events)
    }

    @Test func anEarlierCopyOfTheSameVaultIsToldByItsAuditLog() throws {
        let f = try Fixture()
        try f.admin.createSecret("live/secret", .value(pw("the-value-in-the-backup")))
        let backup = f.dir.file("b.db")
        try f.admin.backup(to: backup)
        let backupEvents = try f.admin.auditEvents().count - 1  // its own vault.backup event is not in the copy
        _ = try f.admin.addVersion("live/secret", .value(pw("a-later-value")))
        try f.admin.createSecret("live/gone", .value(pw("deleted-soon")))
        _ = try f.admin.deleteSecret("live/gone")  // a deletion checkpoints: the file now holds these events
        _ = try f.admin.secrets()  // and this process has looked at it since
        try Files.overwrite(f.path, with: Files.bytes(backup))

        let stopped = TamperKit.error { try f.admin.reveal("live/secret") }
        guard case .store(.replaced(_, .rewritten(let why), _)) = stopped else {
            Issue.record("got \(String(describing: stopped))"); return
        }
        #expect(why.contains("earlier copy of this vault"))
        #expect(try OtherVault.expectWhole(f.path, "live/secret", "the-value-in-the-backup") == backupEvents)
    }

    @Test func aVaultRemovedFromThePathStopsTheSession() throws {
        let f = try Fixture()
        let aside = f.dir.file("aside.db")
        #expect(rename(f.path, aside) == 0)
        let stopped = TamperKit.error { try f.admin.secrets() }
        guard case .store(.replaced(_, .removed, _)) = stopped else { Issue.record("got \(String(describing: stopped))"); return }
        #expect(!FileManager.default.fileExists(atPath: f.path))
    }

    @Test func checkpointsByOtherProcessesAreNotReplacements() throws {
        let f = try Fixture()
        let other = try Vault.open(at: f.path, options: .insecureFastForTests())
        let s = try RestoreTests.login(other)
        for i in 0..<5 {
            try s.createSecret("many/\(i)", .value(pw("value-\(i)-abcdef")))
            _ = try s.deleteSecret("many/\(i)")  // each a checkpoint by the "other process"
            _ = try f.admin.secrets()  // the first session looks at the changed file each time
        }
        try other.close()
        #expect(try f.admin.check().ok)
    }
}
