import Foundation
import KeyholdCore
import KeyholdStore
import KeyholdTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `keyhold restore BACKUP` through the built binary (docs/CLI.md, "restore"): the way back,
/// its refusals with their exit codes, the confirmation on a terminal, and a restore killed
/// with SIGKILL at random instants during the copy.
@Suite struct RestoreCLITests {
    /// The files beside the vault other than the vault's own (`keyhold.db`, -wal, -shm, -lock).
    static func extras(_ v: SecretsFixture) -> [String] {
        let dir = (v.db as NSString).deletingLastPathComponent
        let own = ["keyhold.db", "keyhold.db-wal", "keyhold.db-shm", "keyhold.db-lock"]
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !own.contains($0) }.sorted()
    }

    static func value(_ v: SecretsFixture, _ name: String) throws -> String {
        let r = try v.run(["secret", "show", name])
        guard r.status == 0 else { throw TestFailure("secret show \(name) exited \(r.status): \(r.stderr)") }
        return r.stdout
    }

    /// A vault whose `app/db` was `before` when `backup` was written and is `after` now.
    static func vaultWithBackup() throws -> (v: SecretsFixture, backup: String) {
        let v = try SecretsFixture()
        try v.set("app/db", "value-in-the-backup")
        let backup = v.scratch.file("backup.db")
        let b = try v.run(["backup", backup])
        guard b.status == 0 else { throw TestFailure("backup: \(b.stderr)") }
        try v.set("app/db", "value-after-the-backup")
        try v.set("app/later", "made-after-the-backup")
        return (v, backup)
    }

    @Test func restoreBringsTheBackupBackAndSaysWhatItCut() throws {
        let (v, backup) = try Self.vaultWithBackup()
        let r = try v.run(["restore", "--yes", "--json", backup])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let cut = try #require(json["cut_events"] as? Int)
        let through = try #require(json["cut_through"] as? Int)
        let kept = try #require(json["kept"] as? String)
        #expect(cut >= 3 && json["other_vault"] as? Bool == false && json["checkpointed"] as? Bool == true)
        #expect(json["restored"] as? String == backup)
        #expect(Self.extras(v) == [(kept as NSString).lastPathComponent])

        #expect(try Self.value(v, "app/db") == "value-in-the-backup")
        #expect(try v.run(["secret", "show", "app/later"]).status == 67)
        let events = try v.run(["audit", "list", "--action", "vault.restore", "--json"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout.utf8)) as? [String: Any])
        let event = try #require((list["events"] as? [[String: Any]])?.first)
        let details = try #require(event["details"] as? [String: Any])
        #expect(details["cut_events"] as? Int == cut && details["cut_through"] as? Int == through)
        #expect(details["backup"] as? String == backup && details["kept"] as? String == kept)
        #expect(try v.run(["check"]).status == 0)
        #expect(try v.run(["audit", "verify"]).status == 0)
        // The replaced contents are a vault: the value it had is in there.
        #expect(try CLI.run(["secret", "show", "--db", kept, "app/db"], env: v.owner).stdout == "value-after-the-backup")

        // The human form says the same things.
        let again = try v.run(["restore", "--yes", backup])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("Restored \(backup) into \(v.db)."))
        #expect(again.stdout.contains("The replaced contents are kept in \(v.db).replaced-"))
        #expect(again.stdout.contains("Cut ") && again.stdout.contains("Recorded as vault.restore, event "))
    }

    @Test func withoutATerminalItNeedsYes() throws {
        let (v, backup) = try Self.vaultWithBackup()
        let r = try v.run(["restore", backup])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--yes"))
        #expect(try Self.value(v, "app/db") == "value-after-the-backup")
        #expect(Self.extras(v).isEmpty)
    }

    @Test func refusalsHaveTheirExitCodesAndChangeNothing() throws {
        let (v, backup) = try Self.vaultWithBackup()

        // No file there: 67.
        let missing = try v.run(["restore", "--yes", v.scratch.file("nothing-here.db")])
        #expect(missing.status == 67 && missing.stderr.contains("nothing-here.db"), "\(missing.stderr)")
        #expect(!missing.stderr.contains("keyhold init"))
        // Not a vault: 1, naming the file and why.
        let junk = v.scratch.file("junk.db")
        #expect(
            FileManager.default.createFile(
                atPath: junk, contents: Data(repeating: 0x41, count: 8192), attributes: [.posixPermissions: 0o600]))
        let notVault = try v.run(["restore", "--yes", junk])
        #expect(notVault.status == 1 && notVault.stderr.contains("\(junk) is not a Keyhold vault"), "\(notVault.stderr)")
        // Another vault: 68 unless --other-vault.
        let other = try SecretsFixture()
        try other.set("other/token", "the-other-vaults-value")
        let otherBackup = other.scratch.file("other.db")
        #expect(try other.run(["backup", otherBackup]).status == 0)
        let otherVault = try CLI.run(
            ["restore", "--db", v.db, "--yes", otherBackup],
            env: ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": SecretsFixture.ownerPassword])
        #expect(otherVault.status == 68 && otherVault.stderr.contains("--other-vault"), "\(otherVault.stderr)")
        // Without keys.manage: 66.
        let add = try v.run(["user", "add", "olga", "--role", "operator"])
        #expect(add.status == 0)
        let olga = [
            "KEYHOLD_USER": "olga", "KEYHOLD_PASSWORD": add.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
            "KEYHOLD_NEW_PASSWORD": "violet fields under grey sky 9"
        ]
        let denied = try v.run(["restore", "--yes", backup], as: olga)
        #expect(denied.status == 66 && denied.stderr.contains("keys.manage"), "\(denied.stderr)")
        // A wrong password for the backup: 65, with the way to give the right one.
        let wrong = try v.run(["restore", "--yes", backup], extraEnv: ["KEYHOLD_BACKUP_PASSWORD": "not the password at all"])
        #expect(wrong.status == 65, "\(wrong.stderr)")

        #expect(try Self.value(v, "app/db") == "value-after-the-backup")
        #expect(Self.extras(v).isEmpty)
        #expect(try v.run(["check"]).status == 0)

        // And with --other-vault it is replaced by the other vault.
        let replaced = try v.run(["restore", "--yes", "--other-vault", otherBackup])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout.contains("another vault"))
        #expect(try Self.value(v, "other/token") == "the-other-vaults-value")
    }

    @Test func aBackupThatFailsCheckIsRefusedWith70() throws {
        let (v, backup) = try Self.vaultWithBackup()
        // Damage the backup the way someone who can write it could: a ciphertext changed.
        let damaged = try Vault.open(at: backup, options: .insecureFastForTests())
        try damaged.store.unsafeExecute("UPDATE secret_versions SET ciphertext = randomblob(length(ciphertext))")
        try damaged.close()
        let r = try v.run(["restore", "--yes", backup])
        #expect(r.status == 70, "\(r.stderr)")
        #expect(r.stderr.contains("PROBLEM [secrets] secret_versions") && r.stderr.contains("fails check"))
        #expect(try Self.value(v, "app/db") == "value-after-the-backup")
        #expect(Self.extras(v).isEmpty)
    }

    @Test func aVaultOpenElsewhereIsNotReplacedAndARestoreKeepsOthersOut() throws {
        let (v, backup) = try Self.vaultWithBackup()
        do {
            // This test process holds the vault open, as the console or a running command would.
            let open = try Vault.open(at: v.db, options: .insecureFastForTests())
            let r = try v.run(["restore", "--yes", backup])
            #expect(r.status == 1)
            #expect(r.stderr.contains("is open in another process (the console, an agent, a running command): close it, then restore"))
            try open.close()
        }
        // While a restore holds the vault, every command is refused with the reason.
        let vault = try Vault.open(at: v.db, options: .insecureFastForTests())
        guard case .session(let s) = try vault.login(username: "owner", password: SecureBytes(utf8: SecretsFixture.ownerPassword)) else {
            throw TestFailure("no session")
        }
        let restore = try s.beginRestore(from: backup)
        let list = try v.run(["secret", "list"])
        #expect(list.status == 1 && list.stderr.contains("a restore of the vault"), "\(list.stderr)")
        restore.cancel()
        try vault.close()
        #expect(try v.run(["secret", "list"]).status == 0)
    }

    /// On a terminal (a pseudo-terminal through script(1)), the vault's file name is typed back.
    @Test(.enabled(if: Subprocess.which("script") != nil, "script(1) is not installed"))
    func onATerminalTheVaultsNameIsTypedBack() throws {
        let (v, backup) = try Self.vaultWithBackup()
        func restore(typing answer: String) throws -> Subprocess.Result {
            let command = [KeyholdBinary.path, "restore", "--db", v.db, backup].map { "'\($0)'" }.joined(separator: " ")
            var env = KeyholdBinary.environment(v.owner)
            env["TERM"] = "dumb"
            return try Subprocess.run("script", ["-qec", command, "/dev/null"], stdin: Data((answer + "\n").utf8), env: env)
        }
        let cancelled = try restore(typing: "vault.db")
        #expect(cancelled.status == 1, "\(cancelled.text)")
        #expect(cancelled.text.contains("type the vault's file name (keyhold.db)") && cancelled.text.contains("Cancelled"))
        #expect(try Self.value(v, "app/db") == "value-after-the-backup")
        #expect(Self.extras(v).isEmpty)
        let done = try restore(typing: "keyhold.db")
        #expect(done.status == 0, "\(done.text)")
        #expect(done.text.contains("will be cut"))
        #expect(try Self.value(v, "app/db") == "value-in-the-backup")
    }

    /// SIGKILL at random instants while the backup is copied into the vault: the vault is the
    /// old contents or the restored ones, never a mix, and passes check every time.
    @Test(.hangGuard)
    func killedDuringTheCopyTheVaultIsTheOldOrTheRestoredOne() throws {
        let v = try SecretsFixture()
        // About 12 MB of values (about 3,000 pages, a dozen steps of the copy), so that it takes long
        // enough to be killed in the middle of, without loading the disk for the tests running alongside.
        var generator = SeededGenerator(seed: UInt64.random(in: 1...UInt64.max))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        var text = [UInt8]()
        for i in 0..<250 {
            text += Array("BIG_\(i)=".utf8)
            for _ in 0..<48_000 { text.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            text.append(0x0A)
        }
        let env = v.scratch.file("big.env")
        #expect(FileManager.default.createFile(atPath: env, contents: Data(text), attributes: [.posixPermissions: 0o600]))
        let imported = try v.run(["import", "--format", "dotenv", "--prefix", "big/", env])
        #expect(imported.status == 0, "\(imported.stderr.suffix(300))")
        try v.set("marker", "state-a")
        let a = v.scratch.file("a.db")
        #expect(try v.run(["backup", a]).status == 0)
        try v.set("marker", "state-b")
        let b = v.scratch.file("b.db")
        #expect(try v.run(["backup", b]).status == 0)

        var current = "state-b"
        var midCopy = 0
        for round in 0..<6 {
            let (target, backup) = current == "state-a" ? ("state-b", b) : ("state-a", a)
            let child = try SpawnedKeyhold(
                ["restore", "--db", v.db, "--yes", backup], env: KeyholdBinary.environment(v.owner), in: v.scratch.path)
            // In the first steps of the copy, or from its second half on (its end, the commit, the checkpoint).
            let late = round % 2 == 1
            while child.isRunning && child.elapsedMs < 60_000,
                !(child.progress("restoring").last.map { !late || $0.done * 2 >= $0.total } ?? false)
            { usleep(300) }
            usleep(UInt32.random(in: 0...(late ? 60_000 : 15_000)))
            let seen = child.progress("restoring")
            child.kill()
            let killed = child.wait()
            if killed, let last = seen.last, last.done < last.total { midCopy += 1 }
            if !killed { #expect(child.exitStatus == 0, "\(child.stderr)") }

            let check = try v.run(["check"])
            #expect(check.status == 0, "after a kill: \(check.stdout) \(check.stderr)")
            let marker = try Self.value(v, "marker")
            #expect(marker == current || marker == target, "the vault is neither the old contents nor the restored ones")
            current = marker
            for name in Self.extras(v) where name.contains(".replaced-") {
                try? FileManager.default.removeItem(atPath: v.scratch.file("vault/" + name))
            }
        }
        #expect(midCopy > 0, "no kill landed during the copy")
        // A restore that runs to the end clears what killed ones left beside the vault.
        let finished = try v.run(["restore", "--yes", current == "state-a" ? b : a])
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(Self.extras(v).allSatisfy { $0.contains(".replaced-") && $0.hasSuffix(".bak") })
        #expect(try v.run(["check"]).status == 0)
    }
}
