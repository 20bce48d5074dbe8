import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore

/// The proof that docs/FORMAT.md is complete: an independent Python program
/// (scripts/keyhold_verify.py, PyNaCl) given only the file and the recovery key
/// decrypts every secret of a vault Keyhold made, verifies its audit chain and
/// who signed each event, and checks every row format 2 makes checkable.
@Suite struct InteropTests {
    static let repository = Repository.root.path

    /// The Python with PyNaCl that `make test` prepares.
    static var python: String? {
        let candidates = [ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"], repository + "/.build-py/bin/python"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func verify(_ db: String, recoveryKey: String, expect: String? = nil, head: String? = nil) throws -> Run {
        let python = try #require(Self.python, "no Python with PyNaCl: run `make test` (it creates .build-py/)")
        var args = [Self.repository + "/scripts/keyhold_verify.py", db]
        if let expect { args += ["--expect", expect] }
        if let head { args += ["--head", head] }
        let r = try Subprocess.run(python, args, stdin: Data((recoveryKey + "\n").utf8), env: ProcessInfo.processInfo.environment)
        return Run(status: r.status, stdout: r.text, stderr: r.stderr)
    }

    @Test func independentProgramDecryptsEverySecretAndVerifiesTheLog() throws {
        let f = try Fixture()
        var expected: [String: [String: String]] = [:]
        var plaintexts: [String] = []
        func remember(_ name: String, _ version: Int, _ value: SecureBytes) {
            expected[name, default: [:]][String(version)] = value.withBytes { Data($0).base64EncodedString() }
            if let s = value.utf8String() { plaintexts.append(s) }
        }
        // Typed, binary, generated, multi-version, deleted, pruned.
        for i in 1...6 {
            let name = "app/service-\(i)/token"
            let value = try pw("value-\(i)-\(UUID().uuidString)")
            try f.admin.createSecret(name, .value(value))
            remember(name, 1, value)
        }
        let binary = try SecureBytes(copying: (0..<256).map { UInt8($0) })
        try f.admin.createSecret("blobs/all-bytes", .value(binary))
        remember("blobs/all-bytes", 1, binary)
        try f.admin.createSecret("flask/SECRET_KEY", .generated(length: 64, alphabet: .urlsafe))
        remember("flask/SECRET_KEY", 1, try f.admin.reveal("flask/SECRET_KEY"))
        for v in 2...3 {
            let value = try pw("rotated-\(v)-\(UUID().uuidString)")
            try f.admin.addVersion("app/service-1/token", .value(value))
            remember("app/service-1/token", v, value)
        }
        try f.admin.createSecret("gone/soon", .value(pw("deleted-\(UUID().uuidString)")))
        _ = try f.admin.deleteSecret("gone/soon")
        _ = try f.admin.deleteVersion("app/service-1/token", version: 2)
        expected["app/service-1/token"]?["2"] = nil
        // Users, roles, failed logins (unsigned events) and a reset.
        let op = try f.user("olivia", roles: ["operator"])
        try op.createSecret("ops/pager", .value(pw("pager-\(UUID().uuidString)")))
        remember("ops/pager", 1, try op.reveal("ops/pager"))
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "olivia", password: pw("not her password at all")) }
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "nobody", password: pw("not her password at all")) }
        _ = try f.admin.resetPassword("olivia")
        // An imported account with a role of its own entry, acting on it (the log must say it held it).
        // argon2-cffi: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("imported-operator-pass")
        let hash = "$argon2id$v=19$m=8,t=1,p=1$eyN2Rz7ul3aGqm5Izj6CAw$/yUOxWc4wp0vSQ9zS9rG5e6SStExYlPu4IfUVWF2uVk"
        try f.admin.importAppUsers([AppUserEntry(username: "helen", passwordHash: hash, roles: ["helpdesk"], origin: "line 2")])
        guard case .session(let helen) = try f.vault.login(username: "helen", password: pw("imported-operator-pass")) else {
            Issue.record("helen did not log in"); return
        }
        _ = try helen.createUser(username: "made-by-helen")
        let head = try f.admin.auditHead()

        let dir = TempDir()
        let expectFile = dir.file("expect.json")
        let json = try JSONSerialization.data(withJSONObject: ["secrets": expected], options: [.sortedKeys])
        _ = FileManager.default.createFile(atPath: expectFile, contents: json, attributes: [.posixPermissions: 0o600])

        let run = try verify(f.vault.path, recoveryKey: f.recoveryKey, expect: expectFile, head: head)
        #expect(run.status == 0, "verifier failed: \(run.stdout) \(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.last == "OK")
        // Format 2's checks (format 3 is format 2 with the name indexes) ran, and every row they cover checked out.
        #expect(lines.first == "vault: format 3 (application_id KHLD, user_version 3), the recovery key opens the root key")
        #expect(lines.contains { $0.hasPrefix("anchor: event 1 (vault.create), vault id ") })
        #expect(
            lines.contains(
                "root keys: 1 of 1 chained from the anchor's, current version 1; the recovery key's root key is that generation's"))
        #expect(lines.contains("pins: 4 of 4 keys in use pinned to this vault"))
        #expect(lines.contains("grants: 2 of 2 sealed grants signed by the current root key, to keys it endorsed"))
        #expect(lines.contains("name tags: 9 of 9 secrets match their names"))
        #expect(
            lines.contains(
                "authority: signers replayed from the anchor at seq 1; every key in use and every user was introduced by the log"))
        let summary = run.stdout + run.stderr
        for secret in plaintexts + [f.recoveryKey, f.recoveryKey.replacingOccurrences(of: "-", with: "")] {
            #expect(!summary.contains(secret), "the verifier's output holds a secret")
        }

        // And it notices a wrong recovery key, so a pass above means something.
        let wrong = try RecoveryKey.encode(try RecoveryKey.generate())
        let bad = try verify(f.vault.path, recoveryKey: wrong, expect: expectFile, head: head)
        #expect(bad.status == 1)
    }

    /// A vault an earlier release wrote (format 1), read by the verifier as it is, then upgraded
    /// by Keyhold and read again: format 1's rule before the anchor, section 8 from it on. Then
    /// every user logs in (pinning their key), the pending request is approved, and the root key
    /// rotated: the verifier follows the new generation with the new recovery key.
    @Test func independentProgramVerifiesAnUpgradedVault() throws {
        let (dir, path) = try UpgradeTests.formatOne()
        let recoveryKey = "Z59RJ-35DQJ-J5C1B-B9PRR-J3DT0-J7XRX-N1Y7E-5KC32-7R532-PHCH2-Q5CY2-6JZ17-PYF0G"
        let values: [String: [String: String]] = [
            "app/prod/stripe": ["1": "sk_live_one", "2": "sk_live_two"], "app/prod/aws": ["1": "AKIA-format-one"],
            "app/dev/token": ["1": "dev-token\u{1B}[0m"], "app/prod/db": ["1": "after-root-rotation"]
        ]
        func expectFile(_ values: [String: [String: String]]) throws -> String {
            let file = dir.file("expect-\(UUID().uuidString).json")
            let b64 = values.mapValues { $0.mapValues { Data($0.utf8).base64EncodedString() } }
            let json = try JSONSerialization.data(withJSONObject: ["secrets": b64], options: [.sortedKeys])
            _ = FileManager.default.createFile(atPath: file, contents: json, attributes: [.posixPermissions: 0o600])
            return file
        }

        let before = try verify(path, recoveryKey: recoveryKey, expect: try expectFile(values))
        #expect(before.status == 0, "format 1: \(before.stdout) \(before.stderr)")
        #expect(before.stdout.hasPrefix("vault: format 1, the recovery key opens the root key\n"))
        #expect(before.stdout.contains("audit: 58 events verified"))

        _ = try Vault.upgrade(
            at: path, username: "root", password: pw("format-one-boss-pass"), backup: dir.file("vault.db.bak"),
            options: UpgradeTests.cheap)
        let upgraded = try verify(path, recoveryKey: recoveryKey, expect: try expectFile(values))
        #expect(upgraded.status == 0, "upgraded: \(upgraded.stdout) \(upgraded.stderr)")
        let lines = upgraded.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "vault: format 3 (application_id KHLD, user_version 3), the recovery key opens the root key")
        #expect(lines.contains { $0.hasPrefix("anchor: event 59 (vault.upgrade), vault id ") })
        #expect(
            lines.contains(
                "root keys: 1 of 1 chained from the anchor's, current version 2; the recovery key's root key is that generation's"))
        // root pinned by the upgrade; the other six keys in use wait for their owners' next login.
        #expect(
            lines.contains(
                "pins: 1 of 7 keys in use pinned to this vault (6 listed by the upgrade, to be pinned at their owner's next login)"))
        #expect(lines.contains("grants: 5 of 5 sealed grants signed by the current root key, to keys it endorsed; 1 pending"))
        #expect(lines.contains("name tags: 4 of 4 secrets match their names"))
        #expect(lines.contains { $0.hasPrefix("audit: 59 events verified, head 59:") })
        #expect(
            lines.contains(
                "authority: signers replayed from the anchor at seq 59; every key in use and every user was introduced by the log"))

        let vault = try Vault.open(at: path, options: UpgradeTests.cheap)
        for (name, password) in [
            ("olga", "secret-keeper-passphrase-1"), ("hank", "desk-keeper-passphrase-2"),
            ("appy", "app-person-passphrase-3"), ("impy", "imported-user-pass-4"),
            ("pendy", "pending-user-pass-5")
        ] {
            _ = try UpgradeTests.login(vault, name, password)
        }
        let waity = try UpgradeTests.login(vault, "waity", "waiting-user-pass-6")
        let admin = try UpgradeTests.login(vault, "root", "format-one-boss-pass")
        try admin.approveKeyRequest("waity", fingerprint: try #require(waity.pendingKeyFingerprint))
        try admin.createSecret("app/after-upgrade", .value(pw("made-in-format-two")))
        _ = try admin.createUser(username: "newcomer", roles: ["operator"])
        let newRecoveryKey = try #require(try admin.rotateRootKey().utf8String())
        let head = try admin.auditHead()
        var later = values
        later["app/after-upgrade"] = ["1": "made-in-format-two"]

        let after = try verify(path, recoveryKey: newRecoveryKey, expect: try expectFile(later), head: head)
        #expect(after.status == 0, "after use: \(after.stdout) \(after.stderr)")
        #expect(
            after.stdout.contains(
                "root keys: 2 of 2 chained from the anchor's, current version 3; the recovery key's root key is that generation's"))
        #expect(after.stdout.contains("pins: 8 of 8 keys in use pinned to this vault\n"))
        #expect(after.stdout.contains("grants: 7 of 7 sealed grants signed by the current root key, to keys it endorsed\n"))
        #expect(after.stdout.contains("name tags: 5 of 5 secrets match their names"))
        #expect(after.stdout.contains("every key in use and every user was introduced by the log"))
        // The recovery key the rotation replaced opens a root key the vault no longer uses.
        let old = try verify(path, recoveryKey: recoveryKey)
        #expect(old.status == 1)
        #expect(!(old.stdout + old.stderr).contains("sk_live"))
    }

    /// A restored vault is the backup's log continued by the restoring user's login and
    /// `vault.restore` (FORMAT.md 6c): the verifier reads it as any vault, and requires
    /// keys.manage of whoever signed the restore event, as Keyhold's replay does.
    @Test func independentProgramVerifiesARestoredVault() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("the-value-in-the-backup")))
        let dir = TempDir()
        let backup = dir.file("backup.db")
        try f.admin.backup(to: backup)
        _ = try f.admin.addVersion("app/db", .value(pw("a-value-the-restore-cuts")))
        let restore = try f.admin.beginRestore(from: backup)
        #expect(try restore.verify(password: pw(adminPassword)).report.ok)
        _ = try restore.commit()
        let expectFile = dir.file("expect.json")
        let json = try JSONSerialization.data(
            withJSONObject: ["secrets": ["app/db": ["1": Data("the-value-in-the-backup".utf8).base64EncodedString()]]],
            options: [.sortedKeys])
        _ = FileManager.default.createFile(atPath: expectFile, contents: json, attributes: [.posixPermissions: 0o600])

        let run = try verify(f.vault.path, recoveryKey: f.recoveryKey, expect: expectFile)
        #expect(run.status == 0, "restored: \(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("every key in use and every user was introduced by the log"))

        // A restore event signed by someone without keys.manage breaks the log's rules there too.
        let op = try f.user("olga", roles: ["operator"])
        try op.perform(.vaultRestore, target: "vault", requires: nil) { $0.details = ["backup": .string("/elsewhere.db")] }
        let bad = try verify(f.vault.path, recoveryKey: f.recoveryKey)
        #expect(bad.status == 1)
        #expect(
            (bad.stdout + bad.stderr).contains("vault.restore by \"olga\", who did not hold keys.manage"),
            "\(bad.stdout) \(bad.stderr)")
    }
}
