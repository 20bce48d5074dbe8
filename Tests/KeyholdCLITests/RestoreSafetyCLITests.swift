import Foundation
import KeyholdTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `keyhold restore` through the built binary, for what it must never do: lose or alter a
/// value on the way back, replace the vault with a file that is not a whole vault of this
/// format, run while another process has the vault (or let one run while it restores), or
/// show a secret or a password. Values are compared as bytes and never printed. One test at a
/// time: each runs keyhold processes for many seconds, blocking a thread of the test pool.
@Suite(.serialized) struct RestoreSafetyCLITests {
    /// Every row of every table of the vault, as python's sqlite3 reads it (every byte of every
    /// column), in a fixed order; the audit log apart, in sequence order. Only `last_login_at`
    /// is left out: every command logs in, and a login sets it (and appends a `login` event).
    struct Contents: Equatable {
        var rows: [String]
        var audit: [(seq: Int, action: String, actor: String, row: String)]
        static func == (a: Contents, b: Contents) -> Bool {
            a.rows == b.rows && a.audit.map(\.row) == b.audit.map(\.row)
        }
    }

    static func contents(_ path: String) throws -> Contents {
        let r = try Python.run(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            print("rows", "user_version", c.execute("PRAGMA user_version").fetchone()[0],
                  "application_id", c.execute("PRAGMA application_id").fetchone()[0])
            for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
                cols = [r[1] for r in c.execute(f'PRAGMA table_info("{name}")')]
                rows = [dict(zip(cols, row)) for row in c.execute(f'SELECT * FROM "{name}"')]
                if name == "audit_events":
                    for d in sorted(rows, key=lambda d: d["seq"]):
                        print("audit", d["seq"], d["action"], d["actor_name"], repr(d))
                    continue
                for d in rows:
                    d.pop("last_login_at", None)
                for line in sorted(repr(d) for d in rows):
                    print("rows", name, line)
            c.close()
            """, [path])
        guard r.status == 0 else { throw TestFailure("python sqlite3 could not read the vault: \(r.stderr)") }
        var contents = Contents(rows: [], audit: [])
        for line in r.stdout.split(separator: "\n") {
            if line.hasPrefix("rows ") { contents.rows.append(String(line)); continue }
            let parts = line.split(separator: " ", maxSplits: 4)
            guard parts.count == 5, parts[0] == "audit", let seq = Int(parts[1]) else { throw TestFailure("unexpected dump line") }
            contents.audit.append((seq, String(parts[2]), String(parts[3]), String(parts[4])))
        }
        return contents
    }

    /// The vault holds what it held: every row the same, byte for byte; the audit log the same
    /// events followed only by `login` events of `actor` (the refused command's own login).
    static func expectUnchanged(
        _ before: Contents, _ path: String, actor: String = "owner", _ when: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let after = try contents(path)
        #expect(after.rows == before.rows, "\(when): rows of the vault changed", sourceLocation: sourceLocation)
        let prefix = Array(after.audit.prefix(before.audit.count))
        #expect(prefix.map(\.row) == before.audit.map(\.row), "\(when): the audit log's events changed", sourceLocation: sourceLocation)
        let added = after.audit.dropFirst(before.audit.count)
        #expect(
            added.allSatisfy { $0.action == "login" && $0.actor == actor },
            "\(when): events other than a login were added: \(added.map { "\($0.seq) \($0.action)" })",
            sourceLocation: sourceLocation)
    }

    /// A random seed for the values, printed; KEYHOLD_CRASH_SEED=N replays it.
    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// A copy of `source` at `path`, mode 0600, changed by `edit`.
    static func copy(_ source: String, to path: String, _ edit: (inout Data) -> Void = { _ in }) throws -> String {
        guard var data = bytes(source) else { throw TestFailure("cannot read \(source)") }
        edit(&data)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }

    /// The files beside the vault other than its own (hidden ones included).
    static func extras(_ vault: FaultVault) -> [String] {
        let dir = (vault.db as NSString).deletingLastPathComponent
        let own = ["keyhold.db", "keyhold.db-wal", "keyhold.db-shm", "keyhold.db-lock"]
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !own.contains($0) }.sorted()
    }

    static func exported(_ vault: FaultVault) throws -> [String: [UInt8]] {
        Dictionary(try vault.exportAll().map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: - The way back loses nothing

    /// 300 secrets (text and raw bytes, 40 with a second version); after the backup, values
    /// changed, secrets deleted and added, a user added and the data key rotated. The restore
    /// brings back exactly what the backup held, and restoring the kept copy brings back exactly
    /// what the restore replaced: every secret opens to its value each time, and `check` is clean.
    @Test(.hangGuard)
    func everySecretOpensToItsValueAfterARestoreAndAfterTheWayBack() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("restore"))
        let vault = try FaultVault()
        var atBackup = try vault.populate(300, &rng)
        let names = atBackup.keys.sorted()
        // A second version of 40 of them.
        let second = names.prefix(40).map { (name: $0, value: FaultData.value(&rng)) }
        try Self.importValues(vault, second)
        for e in second { atBackup[e.name] = e.value }
        let backup = vault.scratch.file("backup.db")
        #expect(try vault.run(["backup", backup]).status == 0)
        let keysAtBackup = try vault.keyStatus()

        // After the backup: 60 values changed, 20 secrets added, 10 deleted.
        var now = atBackup
        let changes =
            names[40..<100].map { (name: $0, value: FaultData.value(&rng)) }
            + (0..<20).map { (name: "owner/after/s\($0)", value: FaultData.value(&rng)) }
        try Self.importValues(vault, changes)
        for e in changes { now[e.name] = e.value }
        for name in names[100..<110] {
            let r = try vault.run(["secret", "delete", name, "--yes"])
            #expect(r.status == 0, "secret delete: \(r.stderr)")
            now[name] = nil
        }
        #expect(try vault.run(["user", "add", "late", "--role", "operator"]).status == 0)
        let rotated = try vault.run(["key", "rotate-data", "--json"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let keysNow = try vault.keyStatus()
        #expect(keysNow.active != keysAtBackup.active)
        #expect(try Self.exported(vault) == now, "the changes after the backup did not take")

        let restored = try vault.run(["restore", "--yes", "--json", backup])
        #expect(restored.status == 0, "\(restored.stderr)")
        let kept = try #require((try JSONSerialization.jsonObject(with: Data(restored.stdout.utf8)) as? [String: Any])?["kept"] as? String)
        let back = try Self.exported(vault)
        #expect(back.count == atBackup.count && back.keys.sorted() == atBackup.keys.sorted(), "not the backup's secrets")
        #expect(
            back.filter { atBackup[$0.key] != $0.value }.isEmpty,
            "\(back.filter { atBackup[$0.key] != $0.value }.count) value(s) differ from the backup's")
        let check = try vault.check()
        #expect(check.ok && check.status == 0 && check.opened == 340, "check: \(check.opened) opened, \(check.problems.prefix(3))")
        #expect(try vault.run(["audit", "verify"]).status == 0)
        #expect(try vault.keyStatus() == keysAtBackup, "the data keys are not the backup's")
        #expect(try vault.run(["user", "show", "late"]).status == 67, "a user added after the backup is still there")
        #expect(try vault.run(["secret", "show", "owner/after/s0"]).status == 67)

        // The kept copy is the way back: every value as it was just before the restore.
        let wayBack = try vault.run(["restore", "--yes", kept])
        #expect(wayBack.status == 0, "\(wayBack.stderr)")
        let again = try Self.exported(vault)
        #expect(
            again.keys.sorted() == now.keys.sorted() && again.filter { now[$0.key] != $0.value }.isEmpty,
            "after restoring the kept copy: not the values it held")
        let check2 = try vault.check()
        #expect(check2.ok && check2.status == 0, "check after the way back: \(check2.problems.prefix(3))")
        #expect(try vault.keyStatus() == keysNow)
        #expect(try vault.run(["user", "show", "late"]).status == 0)
    }

    /// `import --format json --on-existing update`: a new version of each existing name, the others created.
    static func importValues(_ vault: FaultVault, _ entries: [(name: String, value: [UInt8])]) throws {
        let r = try vault.run(
            ["import", "--format", "json", "--on-existing", "update", "-"],
            stdin: String(decoding: try FaultData.json(entries), as: UTF8.self))
        guard r.status == 0 else { throw TestFailure("import exited \(r.status): \(r.stderr.suffix(300))") }
    }

    static func setValue(_ vault: FaultVault, _ name: String, _ value: [UInt8]) throws {
        let file = vault.scratch.file("value-\(UUID().uuidString)")
        _ = try copyBytes(value, to: file)
        defer { unlink(file) }
        let r = try vault.run(["secret", "set", name, "--from-file", file])
        guard r.status == 0 else { throw TestFailure("secret set \(name) exited \(r.status): \(r.stderr)") }
    }

    static func copyBytes(_ value: [UInt8], to path: String) throws -> String {
        guard FileManager.default.createFile(atPath: path, contents: Data(value), attributes: [.posixPermissions: 0o600]) else {
            throw TestFailure("cannot write \(path)")
        }
        return path
    }

    // MARK: - Refusals leave the vault as it was

    /// A file that is not a whole vault of this release's format is refused with its exit code
    /// and a message naming the file and what is wrong with it, the program does not crash, and
    /// the vault holds what it held (its rows byte for byte; only the command's login added to
    /// the log), with nothing left beside it and the file given untouched.
    @Test(.hangGuard)
    func aForeignAFutureOrADamagedBackupIsRefusedAndTheVaultIsAsItWas() throws {
        let vault = try FaultVault()
        var rng = SeededGenerator(seed: SeededGenerator.seed("restore"))
        let expected = try vault.populate(150, &rng)
        let backup = vault.scratch.file("backup.db")
        #expect(try vault.run(["backup", backup]).status == 0)
        try Self.setValue(vault, "owner/after-the-backup", Array("set after the backup".utf8))
        let before = try Self.contents(vault.db)
        let size = try #require(Self.bytes(backup)?.count)
        let pageSize = 4096
        #expect(size % pageSize == 0 && size / pageSize > 8, "the backup is \(size) bytes")

        // Another program's SQLite database (no application id, its own tables).
        let foreign = vault.scratch.file("app.sqlite")
        let made = try Python.run(
            """
            import sqlite3, sys, os
            c = sqlite3.connect(sys.argv[1])
            c.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
            c.execute("INSERT INTO orders (total) VALUES (42)")
            c.commit(); c.close()
            os.chmod(sys.argv[1], 0o600)
            """, [foreign])
        #expect(made.status == 0, "\(made.stderr)")
        // What a later release would write: this format's application id, a higher format number.
        let header = try #require(Self.bytes(backup)?.prefix(100))
        let futureFormat = header[60..<64].reduce(0) { $0 << 8 | Int($1) } + 1  // user_version, big-endian
        let future = try Self.copy(backup, to: vault.scratch.file("future.db")) { data in
            withUnsafeBytes(of: UInt32(futureFormat).bigEndian) { data.replaceSubrange(60..<64, with: $0) }
        }

        struct Case { var label: String; var path: String; var status: Int32; var says: [String] }
        var cases = [
            Case(
                label: "text file", path: try Self.copy(backup, to: vault.scratch.file("notes.txt")) { $0 = Data("DB_PASSWORD=\n".utf8) },
                status: 1, says: ["is not a Keyhold vault", "not an SQLite database"]),
            Case(
                label: "empty file", path: try Self.copy(backup, to: vault.scratch.file("empty.db")) { $0 = Data() },
                status: 1, says: ["is not a Keyhold vault", "empty"]),
            Case(
                label: "another program's database", path: foreign, status: 1,
                says: ["is not a Keyhold vault", "another program's SQLite database"]),
            Case(
                label: "future format", path: future, status: 1,
                says: ["is a vault of format \(futureFormat)", "newer Keyhold"]),
            Case(
                label: "cut inside the header", path: try Self.copy(backup, to: vault.scratch.file("cut-50.db")) { $0 = $0.prefix(50) },
                status: 1, says: ["is not a Keyhold vault"])
        ]
        // Cut short: at page boundaries (the first page alone, half) and inside the last pages.
        for cut in [pageSize, size / pageSize / 2 * pageSize, size - pageSize, size - 1000, size - 1] {
            cases.append(
                Case(
                    label: "cut to \(cut) of \(size) bytes",
                    path: try Self.copy(backup, to: vault.scratch.file("cut-\(cut).db")) { $0 = $0.prefix(cut) },
                    status: 70, says: ["is damaged", "cut short", "nothing was restored"]))
        }
        // Whole length, a page in the middle overwritten with zeros.
        cases.append(
            Case(
                label: "a page zeroed",
                path: try Self.copy(backup, to: vault.scratch.file("zeroed.db")) { data in
                    let page = size / pageSize / 2
                    data.replaceSubrange(page * pageSize..<(page + 1) * pageSize, with: Data(count: pageSize))
                },
                status: 70, says: ["is damaged", "nothing was restored"]))
        // Whole length, the end of the last page (rows of the last table filled) zeroed: what a
        // file cut inside its last page reads as. Its rows have empty columns that must not be.
        cases.append(
            Case(
                label: "the end of the last page zeroed",
                path: try Self.copy(backup, to: vault.scratch.file("tail.db")) { data in
                    data.replaceSubrange(size - 1000..<size, with: Data(count: 1000))
                },
                status: 70, says: ["nothing was restored"]))
        // The same for certain: the newest event's time emptied (the schema's NOT NULL lifted
        // to write it, then put back), as a damaged page reads. It stopped the program with a
        // fatal error where the row was decoded, before the backup was checked as a whole.
        let emptied = try Self.copy(backup, to: vault.scratch.file("emptied.db"))
        let emptying = try Python.run(
            """
            import re, sqlite3, sys
            path = sys.argv[1]
            c = sqlite3.connect(path, isolation_level=None)
            table = c.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_events'").fetchone()[0]
            trigger = c.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()[0]
            loose = re.sub(r"(\\n\\s*at\\s+INTEGER)\\s+NOT NULL", r"\\1", table, count=1)
            assert loose != table
            c.execute("PRAGMA writable_schema = ON")
            c.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'audit_events'", (loose,))
            c.close()
            c = sqlite3.connect(path, isolation_level=None)
            c.execute("DROP TRIGGER audit_no_update")
            c.execute("UPDATE audit_events SET at = NULL WHERE seq = (SELECT max(seq) FROM audit_events)")
            c.execute(trigger)
            c.execute("PRAGMA writable_schema = ON")
            c.execute("UPDATE sqlite_master SET sql = ? WHERE name = 'audit_events'", (table,))
            c.close()
            """, [emptied])
        #expect(emptying.status == 0, "\(emptying.stderr)")
        cases.append(
            Case(
                label: "a required column emptied", path: emptied, status: 70,
                says: ["is damaged", "NULL value in audit_events.at", "nothing was restored"]))

        for c in cases {
            let given = Self.bytes(c.path)
            let r = try vault.run(["restore", "--yes", c.path])
            #expect(r.status == c.status, "\(c.label): exit \(r.status): \(r.stderr.suffix(500))")
            #expect(
                r.stderr.contains("keyhold: \(c.path)") || r.stderr.contains("the backup \(c.path)"),
                "\(c.label): the message does not name the file: \(r.stderr.suffix(500))")
            for phrase in c.says {
                #expect(r.stderr.contains(phrase), "\(c.label): no \"\(phrase)\" in: \(r.stderr.suffix(500))")
            }
            #expect(!r.stderr.contains("the vault file is damaged"), "\(c.label): blames the vault: \(r.stderr.suffix(500))")
            #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("crashed"), "\(c.label): crashed")
            #expect(r.stdout.isEmpty, "\(c.label): printed \(r.stdout.prefix(200))")
            #expect(Self.bytes(c.path) == given, "\(c.label): the file given was changed")
            #expect(Self.extras(vault).isEmpty, "\(c.label): left \(Self.extras(vault)) beside the vault")
            try Self.expectUnchanged(before, vault.db, c.label)
        }
        var stillThere = expected
        stillThere["owner/after-the-backup"] = Array("set after the backup".utf8)
        #expect(try Self.exported(vault) == stillThere)
        let check = try vault.check()
        #expect(check.ok && check.status == 0, "\(check.problems.prefix(3))")
        // And the whole backup still restores.
        #expect(try vault.run(["restore", "--yes", backup]).status == 0)
        #expect(try Self.exported(vault) == expected)
    }

    // MARK: - One process at a time

    /// A real `keyhold key rotate-data`, held still between two of its transactions (its job made,
    /// the rotation lease and the vault held), owns the rotation: the restore is refused at once
    /// with the reason and changes nothing; the rotation, let go, finishes, and the vault is whole.
    @Test(.hangGuard)
    func aRestoreIsRefusedWhileARotationRunsInAnotherProcess() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("restore"))
        let vault = try FaultVault()
        let expected = try vault.populate(400, &rng)
        let backup = vault.scratch.file("backup.db")
        #expect(try vault.run(["backup", backup]).status == 0)
        let before = try vault.keyStatus().active

        // What every command prints on stderr before anything else (the test KDF's warning):
        // the rotation may write that, and then blocks on its first progress line, which it
        // writes once its job is committed and before its first batch begins.
        let prelude = try vault.run(["key", "status"]).stderr.split(separator: "\n", omittingEmptySubsequences: false)
            .prefix { $0.hasPrefix("keyhold: warning:") }.map { $0 + "\n" }.joined()
        let rotation = try BlockedOnStderr(
            ["key", "rotate-data", "--batch", "10", "--json", "--db", vault.db],
            env: FaultVault.owner, room: prelude.utf8.count + 4)
        defer { rotation.release(); _ = rotation.wait() }
        var job: [String: Any]?
        let deadline = Date().addingTimeInterval(60)
        while rotation.process.isRunning, Date() < deadline {
            let status = try vault.run(["key", "status", "--json"])
            job =
                (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["interrupted_rotation"]
                as? [String: Any]
            if job?["running"] as? Bool == true { break }
            usleep(20_000)
        }
        try #require(
            job?["running"] as? Bool == true && job?["to"] as? Int == before + 1,
            "the rotation's job is not running: \(String(describing: job)), exit \(rotation.process.isRunning ? "-" : "\(rotation.process.terminationStatus)")"
        )
        try #require(try vault.writable(), "the held rotation is inside a transaction")

        let contents = try Self.contents(vault.db)
        let started = Date()
        let r = try vault.run(["restore", "--yes", backup])
        #expect(r.status == 1, "restore during a rotation exited \(r.status): \(r.stderr.suffix(300))")
        #expect(
            r.stderr.contains("is open in another process (the console, an agent, a running command): close it, then restore"),
            "\(r.stderr.suffix(300))")
        #expect(Date().timeIntervalSince(started) < 30, "the refusal waited")
        #expect(Self.extras(vault).isEmpty, "left \(Self.extras(vault)) beside the vault")
        try Self.expectUnchanged(contents, vault.db, "a restore refused during a rotation")
        #expect(rotation.process.isRunning, "the rotation ended while it was held")

        rotation.release()
        let status = rotation.wait()
        #expect(status == 0, "the rotation exited \(status) once let go: \(rotation.stderr.suffix(300))")
        let keys = try vault.keyStatus()
        #expect(keys.active == before + 1 && keys.keys == [before + 1])
        try RotationOwnerCLITests.expectWhole(vault, expected, versions: 400, "a restore refused during a rotation")
        // Once it has finished, the restore runs (and brings back the data key of the backup).
        let later = try vault.run(["restore", "--yes", backup])
        #expect(later.status == 0, "\(later.stderr)")
        #expect(try vault.keyStatus().active == before)
        try RotationOwnerCLITests.expectWhole(vault, expected, versions: 400, "the restore after the rotation")
    }

    /// A restore waiting for its confirmation on a terminal already holds the vault: a rotation,
    /// a write, a read and a backup started meanwhile are each refused with the reason and write
    /// nothing; once the name is typed, the restore goes on and the vault is the backup's.
    @Test(.enabled(if: Subprocess.which("script") != nil, "script(1) is not installed"), .hangGuard)
    func whileARestoreRunsNoOtherProcessUsesTheVault() throws {
        var rng = SeededGenerator(seed: SeededGenerator.seed("restore"))
        let vault = try FaultVault()
        let expected = try vault.populate(100, &rng)
        let backup = vault.scratch.file("backup.db")
        #expect(try vault.run(["backup", backup]).status == 0)
        try Self.setValue(vault, "owner/after-the-backup", Array("set after the backup".utf8))
        let keys = try vault.keyStatus()

        let restore = try OnATerminal(["restore", "--db", vault.db, backup], env: FaultVault.owner, in: vault.scratch.path)
        defer { restore.stop() }
        try #require(restore.waitFor("type the vault's file name"), "no confirmation prompt: \(restore.output.suffix(500))")
        let contents = try Self.contents(vault.db)
        let refused: [(String, [String], String)] = [
            ("key rotate-data", ["key", "rotate-data"], ""),
            ("secret set", ["secret", "set", "owner/during-the-restore", "--stdin"], "written during the restore"),
            ("secret show", ["secret", "show", "owner/after-the-backup"], ""),
            ("backup", ["backup", vault.scratch.file("during.db")], "")
        ]
        for (label, args, stdin) in refused {
            let r = try vault.run(args, stdin: stdin)
            #expect(r.status == 1, "\(label) during a restore exited \(r.status): \(r.stderr.suffix(300))")
            #expect(r.stderr.contains("a restore of the vault") && r.stderr.contains("is in progress"), "\(label): \(r.stderr.suffix(300))")
            #expect(!r.stdout.contains("set after the backup"), "\(label) showed the value")
        }
        #expect(!FileManager.default.fileExists(atPath: vault.scratch.file("during.db")))
        #expect(restore.isRunning, "the restore ended while it waited: \(restore.output.suffix(500))")

        restore.type("keyhold.db\n")
        let status = restore.wait()
        #expect(status == 0, "the restore exited \(status): \(restore.output.suffix(500))")
        #expect(restore.output.contains("Restored \(backup) into \(vault.db)."))
        // The refused commands wrote nothing: what is restored is the backup, and what the
        // restore replaced (the kept copy) is the vault as it was while they were refused.
        #expect(try Self.exported(vault) == expected)
        #expect(try vault.keyStatus() == keys)
        let kept = try #require(Self.extras(vault).first { $0.hasSuffix(".bak") })
        try Self.expectUnchanged(contents, vault.scratch.file("vault/" + kept), "the vault while the restore held it")
        #expect(try vault.check().ok)
    }

    // MARK: - No secret in the output

    /// Every outcome of `restore` (done, in text and JSON; a backup whose password differs;
    /// every refusal, with a damaged backup's problem lines) says nothing of a value or a password.
    @Test(.hangGuard)
    func noValueOrPasswordInWhatRestoreSays() throws {
        let vault = try FaultVault()
        let canaries = (0..<8).map { "canary-\($0)-\(UUID().uuidString)" }
        for (i, value) in canaries.enumerated() { try Self.setValue(vault, "app/canary\(i)", Array(value.utf8)) }
        let oldPassword = FaultVault.password
        let backup = vault.scratch.file("backup.db")
        #expect(try vault.run(["backup", backup]).status == 0)
        let damaged = try Self.copy(backup, to: vault.scratch.file("damaged.db"))
        try Python.sql(damaged, "UPDATE secret_versions SET ciphertext = randomblob(length(ciphertext))")
        let newPassword = "a second phrase chosen after the backup"
        let changed = try CLI.run(["user", "passwd", "--db", vault.db], stdin: "\(newPassword)\n", env: FaultVault.owner)
        #expect(changed.status == 0, "\(changed.stderr)")
        let now = ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": newPassword]
        let wrong = "a wrong guess at the backup's password"
        func restore(_ args: [String], _ env: [String: String]) throws -> CLI.Result {
            try CLI.run(["restore", "--db", vault.db] + args, env: env)
        }

        var outputs: [(String, CLI.Result, Int32)] = []
        outputs.append(("new password only", try restore(["--yes", backup], now), 65))
        outputs.append(
            ("wrong backup password", try restore(["--yes", backup], now.merging(["KEYHOLD_BACKUP_PASSWORD": wrong]) { _, b in b }), 65))
        outputs.append(
            ("damaged", try restore(["--yes", damaged], now.merging(["KEYHOLD_BACKUP_PASSWORD": oldPassword]) { _, b in b }), 70))
        outputs.append(("no --yes", try restore([backup], now), 64))
        outputs.append(("wrong vault password", try restore(["--yes", backup], ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": wrong]), 65))
        outputs.append(
            ("json", try restore(["--yes", "--json", backup], now.merging(["KEYHOLD_BACKUP_PASSWORD": oldPassword]) { _, b in b }), 0))
        // Restored: the owner's password is the backup's again.
        outputs.append(("text", try restore(["--yes", backup], FaultVault.owner), 0))
        #expect(outputs[0].1.stderr.contains("KEYHOLD_BACKUP_PASSWORD"), "no way to give the backup's password: \(outputs[0].1.stderr)")
        #expect(outputs[2].1.stderr.contains("PROBLEM [secrets]"), "the damaged backup's problems were not listed")

        let audit = try vault.run(["audit", "list", "--action", "vault.restore", "--json"])
        #expect(audit.status == 0)
        outputs.append(("audit of the restores", CLI.Result(status: audit.status, stdout: audit.stdout, stderr: audit.stderr), 0))
        for (label, r, status) in outputs {
            #expect(r.status == status, "\(label): exit \(r.status): \(r.stderr.suffix(300))")
            for secret in canaries + [oldPassword, newPassword, wrong] {
                #expect(!r.all.contains(secret), "\(label): a value or a password is in the output")
            }
            // Nor a recognisable part of one.
            #expect(!r.all.contains("canary-"), "\(label): part of a value is in the output")
        }
        for (i, value) in canaries.enumerated() {
            #expect(try vault.run(["secret", "show", "app/canary\(i)"]).stdout == value)
        }
    }
}

/// A keyhold command on a pseudo-terminal (script(1)), typed into when the test says: its
/// terminal output (prompts and messages) is collected in a file.
final class OnATerminal {
    private let process = Process()
    private let input = Pipe()
    private let outPath: String

    init(_ args: [String], env: [String: String], in dir: String) throws {
        outPath = dir + "/terminal-\(UUID().uuidString).out"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil, attributes: [.posixPermissions: 0o600])
        let command = ([KeyholdBinary.path] + args).map { "'\($0)'" }.joined(separator: " ")
        var environment = KeyholdBinary.environment(env)
        environment["TERM"] = "dumb"
        process.executableURL = URL(fileURLWithPath: Subprocess.which("script") ?? "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        process.environment = environment
        process.standardInput = input
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit { try? FileManager.default.removeItem(atPath: outPath) }

    var output: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    /// Waits up to 60 s for `text` in the output.
    func waitFor(_ text: String) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(20_000)
        }
        return false
    }

    func type(_ text: String) { try? input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

    /// Closes the input and waits for the end; the exit status.
    func wait() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Ends it if it still runs (the test failed before typing).
    func stop() {
        if process.isRunning { _ = kill(process.processIdentifier, SIGTERM) }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// A keyhold process whose standard error is a pipe with room left for only `room` bytes: its
/// first write past that blocks (a blocked write to a pipe holds no lock of the vault) until
/// `release` drains the pipe. So a process can be held still at a known point of its work.
final class BlockedOnStderr: @unchecked Sendable {  // collected, releasing and done only under lock
    let process = Process()
    private let pipe = Pipe()
    private let drained = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var collected = Data()
    private var releasing = false
    private var done = false

    init(_ args: [String], env: [String: String], room: Int) throws {
        let fd = pipe.fileHandleForWriting.fileDescriptor
        let capacity = Int(fcntl(fd, 1032))  // F_GETPIPE_SZ (Linux): the pipe's capacity in bytes
        guard capacity >= 4096, room < 4096 else { throw TestFailure("pipe capacity \(capacity), room \(room)") }
        // Whole pages, then a last page with exactly `room` bytes free: Linux adds a small write to
        // the last page when it fits, and blocks a write that fits neither there nor in a free page.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var left = capacity - room
        let page = [UInt8](repeating: UInt8(ascii: "."), count: 4096)
        while left > 0 {
            let n = page.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, min(4096, left)) }
            guard n > 0 else { throw TestFailure("filling the pipe: \(String(cString: strerror(errno)))") }
            left -= n
        }
        _ = fcntl(fd, F_SETFL, flags)  // the child's writes must block, not fail
        process.executableURL = URL(fileURLWithPath: KeyholdBinary.path)
        process.arguments = args
        process.environment = KeyholdBinary.environment(env)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = pipe
        try process.run()
    }

    /// Drains the pipe from now on (once), so the process goes on.
    func release() {
        let first = lock.withLock { () -> Bool in
            defer { releasing = true }; return !releasing
        }
        guard first else { return }
        let reader = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                lock.withLock { collected.append(chunk) }
            }
            drained.signal()
        }
    }

    /// Waits for the end (after `release`); its exit status.
    func wait() -> Int32 {
        process.waitUntilExit()
        try? pipe.fileHandleForWriting.close()  // this process's end, so that the reader sees the end
        if lock.withLock({ !done }) {
            _ = drained.wait(timeout: .now() + 10)
            lock.withLock { done = true }
        }
        return process.terminationStatus
    }

    /// What it wrote on stderr after the filler.
    var stderr: String {
        String(decoding: lock.withLock { collected }.drop { $0 == UInt8(ascii: ".") }, as: UTF8.self)
    }
}
