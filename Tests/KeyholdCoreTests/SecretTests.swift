import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// Secrets: create typed or generated, validate,
// list without decrypting, versions and history, deletion, rotate-by, and the
// audit of reveals, which never carries a value. Values are compared through
// TamperKit.same so that no failure message ever prints one.

@Suite struct VaultSecretTests {
    // MARK: Creating

    @Test func typedValuesRoundTripAsBytes() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/prod/db_password", .value(pw("typed-value-123456789")), description: "Primary DB")
        #expect(try TamperKit.same(try f.admin.reveal("app/prod/db_password"), "typed-value-123456789"))

        // Values are arbitrary bytes: NUL, 0xFF, not UTF-8.
        let binary: [UInt8] = [0x00, 0xFF, 0xFE, 0x00, 0x80, 0x7F, 0x0A, 0x00]
        try f.admin.createSecret("app/binary", .value(SecureBytes(copying: binary)))
        let revealed = try f.admin.reveal("app/binary")
        let sameBinary = revealed.withBytes { $0.elementsEqual(binary) }
        #expect(sameBinary)

        // The bounds themselves are accepted: 1 byte and 65,536 bytes.
        try f.admin.createSecret("size/one", .value(SecureBytes(copying: [0x41])))
        try f.admin.createSecret("size/max", .value(SecureBytes(copying: [UInt8](repeating: 0x5A, count: 65_536))))
        #expect(try f.admin.reveal("size/one").count == 1)
        #expect(try f.admin.reveal("size/max").count == 65_536)

        let info = try f.admin.secret(named: "app/prod/db_password")
        #expect(info.name == "app/prod/db_password")
        #expect(info.description == "Primary DB")
        #expect(info.currentVersion == 1 && info.versionCount == 1)
        #expect(info.createdAt == f.clock.now && info.updatedAt == f.clock.now)
    }

    @Test(arguments: Token.Alphabet.allCases)
    func generatedValuesHaveTheLengthAndAlphabetAsked(_ alphabet: Token.Alphabet) throws {
        let f = try Fixture()
        let allowed = Set(alphabet.characters)
        for length in [1, 17, 64] {
            let name = "gen/\(alphabet.rawValue)-\(length)"
            try f.admin.createSecret(name, .generated(length: length, alphabet: alphabet))
            let value = try f.admin.reveal(name)
            #expect(value.count == length, "\(alphabet) \(length)")
            let inAlphabet = value.withBytes { $0.allSatisfy { allowed.contains($0) } }
            #expect(inAlphabet, "\(alphabet): a character outside the alphabet")
        }
        // A long token uses the whole alphabet (missing one of 94 characters in
        // 4,096 uniform draws has probability below 1e-17).
        try f.admin.createSecret("gen/\(alphabet.rawValue)-max", .generated(length: Session.maxGeneratedLength, alphabet: alphabet))
        let long = try f.admin.reveal("gen/\(alphabet.rawValue)-max")
        #expect(long.count == Session.maxGeneratedLength)
        let used = long.withBytes { Set($0) }
        let wholeAlphabet = used == allowed
        #expect(
            wholeAlphabet,
            "\(alphabet): \(allowed.count - used.intersection(allowed).count) characters never drawn, \(used.subtracting(allowed).count) foreign"
        )
        // Two generated values differ.
        try f.admin.addVersion("gen/\(alphabet.rawValue)-max", .generated(length: Session.maxGeneratedLength, alphabet: alphabet))
        let second = try f.admin.reveal("gen/\(alphabet.rawValue)-max")
        let identical = second.constantTimeEquals(long)
        #expect(!identical)
        // The audit says it was generated.
        let created = try f.admin.auditEvents(AuditQuery(action: "secret.create", target: "gen/\(alphabet.rawValue)-max"))
        let saysGenerated = created.count == 1 && created.first?.details.contains("\"generated\":true") == true
        #expect(saysGenerated, "secret.create details say generated")
    }

    @Test func generatedLengthOutOfRangeIsInvalid() throws {
        let f = try Fixture()
        let before = try VaultSecretTests.snapshot(f)
        for length in [0, -1, Session.maxGeneratedLength + 1] {
            let e = TamperKit.error { try f.admin.createSecret("gen/bad", .generated(length: length, alphabet: .hex)) }
            guard case .invalid(let v)? = e else { Issue.record("length \(length): \(String(describing: e))"); continue }
            #expect(v.field == "length")
        }
        #expect(try VaultSecretTests.snapshot(f) == before)
    }

    static let invalidNames: [(name: String, why: String)] = [
        (".", "dot segment"), ("..", "dot-dot segment"), ("app/./x", "dot segment"), ("app/../x", "dot-dot segment"),
        ("app/..", "trailing dot-dot"), ("./app", "leading dot"),
        ("", "empty"), ("/app", "empty first segment"), ("app/", "empty last segment"), ("app//x", "empty middle segment"),
        ("/", "only a slash"),
        ("app x", "space"), ("app/x*", "star"), ("app\\x", "backslash"), ("caf\u{E9}/x", "non-ASCII"),
        ("app\nx", "newline"), ("app\u{0}x", "NUL"), ("app:x", "colon"), ("app/x%", "percent"),
        ("a/" + String(repeating: "s", count: 65), "65-character segment"),
        ([String](repeating: String(repeating: "s", count: 64), count: 4).joined(separator: "/"), "259 bytes in all"),
        (String(repeating: "ab/", count: 85) + "c", "256 bytes in all")
    ]

    @Test func invalidNamesAreRefusedNamingTheField() throws {
        let f = try Fixture()
        try f.admin.createSecret("exists", .value(pw("existing-value-abcdef")))
        let before = try VaultSecretTests.snapshot(f)
        for (name, why) in VaultSecretTests.invalidNames {
            let e = TamperKit.error { try f.admin.createSecret(name, .value(pw("would-be-value-abcdef"))) }
            guard case .invalid(let v)? = e else { Issue.record("\(why): expected .invalid, got \(String(describing: e))"); continue }
            #expect(v.field == "secret name", "\(why)")
            #expect(!v.rule.rawValue.isEmpty, "\(why)")
            #expect(v.message.hasPrefix("secret name"), "\(why): \(v.message)")
        }
        #expect(try VaultSecretTests.snapshot(f) == before, "an invalid name wrote something")

        // The limits themselves are fine: 64-character segments, 255 bytes, dots inside a segment.
        let valid = [
            "a/" + String(repeating: "s", count: 64),
            [String](repeating: String(repeating: "s", count: 64), count: 3).joined(separator: "/") + "/"
                + String(repeating: "t", count: 60),
            ".env", "a..b/.x/x.", "A-Z_0.9/x", "x"
        ]
        for name in valid {
            #expect(name.utf8.count <= 255)
            try f.admin.createSecret(name, .value(pw("valid-name-value-abc")))
            #expect(try f.admin.secret(named: name).name == name)
        }
    }

    @Test func valueSizesOutsideOneByteTo64KiBAreInvalid() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/sized", .value(pw("initial-value-abcdef")))
        let before = try VaultSecretTests.snapshot(f)
        for size in [0, 65_537, 200_000] {
            let value = try SecureBytes(copying: [UInt8](repeating: 0x61, count: size))
            for (what, call) in [
                ("create", { try f.admin.createSecret("app/new", .value(value)) }),
                ("add version", { _ = try f.admin.addVersion("app/sized", .value(value)) })
            ] as [(String, () throws -> Void)] {
                let e = TamperKit.error(call)
                guard case .invalid(let v)? = e else { Issue.record("\(what) \(size) bytes: \(String(describing: e))"); continue }
                #expect(v.field == "secret value", "\(what) \(size) bytes")
                #expect(v.message.hasPrefix("secret value"))
            }
        }
        #expect(try VaultSecretTests.snapshot(f) == before, "an invalid value wrote something")
    }

    @Test func duplicateNameIsAConflictAndKeepsTheOriginal() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/dup", .value(pw("original-value-abcdef")))
        let before = try VaultSecretTests.snapshot(f)
        let e = TamperKit.error { try f.admin.createSecret("app/dup", .value(pw("replacement-value-xyz"))) }
        guard case .conflict(let message)? = e else { Issue.record("expected .conflict, got \(String(describing: e))"); return }
        #expect(message.contains("app/dup"))
        #expect(!message.contains("replacement-value-xyz") && !message.contains("original-value-abcdef"))
        #expect(try VaultSecretTests.snapshot(f) == before)
        #expect(try TamperKit.same(try f.admin.reveal("app/dup"), "original-value-abcdef"))
    }

    // MARK: Metadata without decrypting

    @Test func listingAndShowingReturnMetadataOnly() throws {
        let f = try Fixture()
        for name in ["app/prod/db", "app/prod/api", "app/dev/db", "other/thing", "a_b/x", "aXb/x"] {
            f.clock.advance(1000)
            try f.admin.createSecret(name, .value(pw("value-of-\(name)-0123")), description: "about \(name)")
        }
        // By name, in byte order ("X" < "_" < "p").
        #expect(try f.admin.secrets().map(\.name) == ["aXb/x", "a_b/x", "app/dev/db", "app/prod/api", "app/prod/db", "other/thing"])
        #expect(try f.admin.secrets(prefix: "app/prod/").map(\.name) == ["app/prod/api", "app/prod/db"])
        #expect(try f.admin.secrets(prefix: "app/").count == 3)
        #expect(try f.admin.secrets(prefix: "nothing/").isEmpty)
        // `_` in a prefix is a character, not a LIKE wildcard.
        #expect(try f.admin.secrets(prefix: "a_b").map(\.name) == ["a_b/x"])
        #expect(try f.admin.secrets(prefix: "app/pro_/").isEmpty)

        // An auditor (secrets.list, no key access) lists and shows but cannot reveal.
        let auditor = try f.user("audrey", roles: ["auditor"])
        #expect(!auditor.hasKeyAccess)
        #expect(try auditor.secrets(prefix: "app/prod/").map(\.name) == ["app/prod/api", "app/prod/db"])
        let shown = try auditor.secret(named: "app/dev/db")
        #expect(try shown == f.admin.secret(named: "app/dev/db"))
        #expect(shown.description == "about app/dev/db" && shown.currentVersion == 1 && shown.versionCount == 1)
        #expect(try auditor.versions(of: "app/dev/db").map(\.version) == [1])
        #expect(throws: KeyholdError.permissionDenied(action: "secret.reveal", missing: .secretsRead)) {
            try auditor.reveal("app/dev/db")
        }
        // A user with no secrets permission at all cannot even list.
        let plain = try f.user("uma", roles: ["user"])
        #expect(throws: KeyholdError.permissionDenied(action: "secret.list", missing: .secretsList)) { try plain.secrets() }

        // Listing never opens a ciphertext: with every ciphertext destroyed it still works.
        let listed = try f.admin.secrets()
        try f.vault.store.unsafeExecute("UPDATE secret_versions SET ciphertext = zeroblob(length(ciphertext))")
        #expect(try f.admin.secrets() == listed)
        #expect(try auditor.secrets() == listed)
        #expect(try f.admin.secret(named: "app/prod/db") == listed.first { $0.name == "app/prod/db" })
        #expect(try f.admin.versions(of: "app/prod/db").count == 1)
        let id = try TamperKit.secretID(f, "app/prod/db")
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1") { try f.admin.reveal("app/prod/db") }
    }

    // MARK: Versions and history

    @Test func versionsAddRevealAndDelete() throws {
        let f = try Fixture()
        try f.admin.createSecret("svc/token", .value(pw("svc-token-version-1")))
        f.clock.advance(1000)
        #expect(try f.admin.addVersion("svc/token", .value(pw("svc-token-version-2"))) == 2)
        f.clock.advance(1000)
        #expect(try f.admin.addVersion("svc/token", .value(pw("svc-token-version-3"))) == 3)

        var info = try f.admin.secret(named: "svc/token")
        #expect(info.currentVersion == 3 && info.versionCount == 3)
        #expect(info.updatedAt == f.clock.now && info.createdAt == f.clock.now - 2000)
        #expect(try TamperKit.same(try f.admin.reveal("svc/token"), "svc-token-version-3"))
        #expect(try TamperKit.same(try f.admin.reveal("svc/token", version: 1), "svc-token-version-1"))
        #expect(try TamperKit.same(try f.admin.reveal("svc/token", version: 2), "svc-token-version-2"))
        #expect(throws: KeyholdError.self) { try f.admin.reveal("svc/token", version: 4) }
        let versions = try f.admin.versions(of: "svc/token")
        #expect(versions.map(\.version) == [1, 2, 3])
        #expect(versions.allSatisfy { $0.keyVersion == 1 && $0.createdBy == "admin" })

        // Deleting the current version makes the highest remaining one current.
        #expect(try f.admin.deleteVersion("svc/token", version: 3) == DeletionOutcome(checkpointed: true))
        info = try f.admin.secret(named: "svc/token")
        #expect(info.currentVersion == 2 && info.versionCount == 2)
        #expect(try TamperKit.same(try f.admin.reveal("svc/token"), "svc-token-version-2"))
        #expect(throws: KeyholdError.self) { try f.admin.reveal("svc/token", version: 3) }

        // Deleting an older version leaves the current one alone.
        _ = try f.admin.deleteVersion("svc/token", version: 1)
        info = try f.admin.secret(named: "svc/token")
        #expect(info.currentVersion == 2 && info.versionCount == 1)
        #expect(try f.admin.versions(of: "svc/token").map(\.version) == [2])

        // A missing version is not found; the only version is refused.
        guard case .notFound? = TamperKit.error({ try f.admin.deleteVersion("svc/token", version: 7) }) else {
            Issue.record("deleting a missing version must be notFound"); return
        }
        let before = try VaultSecretTests.snapshot(f)
        guard case .refused? = TamperKit.error({ try f.admin.deleteVersion("svc/token", version: 2) }) else {
            Issue.record("deleting the only version must be refused"); return
        }
        #expect(try VaultSecretTests.snapshot(f) == before)
        #expect(try TamperKit.same(try f.admin.reveal("svc/token"), "svc-token-version-2"))
    }

    @Test func perSecretHistoryLimitPrunesOldest() throws {
        let f = try Fixture()
        try f.admin.createSecret("h/per", .value(pw("history-value-1")), historyLimit: 3)
        #expect(try f.admin.secret(named: "h/per").historyLimit == 3)
        for n in 2...6 { try f.admin.addVersion("h/per", .value(pw("history-value-\(n)"))) }
        #expect(try f.admin.versions(of: "h/per").map(\.version) == [4, 5, 6])
        let info = try f.admin.secret(named: "h/per")
        #expect(info.currentVersion == 6 && info.versionCount == 3)
        #expect(try TamperKit.same(try f.admin.reveal("h/per", version: 4), "history-value-4"))
        #expect(try TamperKit.same(try f.admin.reveal("h/per"), "history-value-6"))
        guard case .notFound? = TamperKit.error({ try f.admin.reveal("h/per", version: 3) }) else {
            Issue.record("a pruned version must be gone"); return
        }
        let id = try TamperKit.secretID(f, "h/per")
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM secret_versions WHERE secret_id = ?", [id]) == 3)
        let last = try f.admin.auditEvents(AuditQuery(action: "secret.update", target: "h/per", limit: 1, newestFirst: true))
        let saysPruned = last.first?.details.contains("\"pruned\":[\"3\"]") == true
        #expect(saysPruned, "secret.update details name the pruned version")

        // setHistoryLimit lowers it; the next version prunes down to it.
        try f.admin.setHistoryLimit("h/per", 2)
        #expect(try f.admin.secret(named: "h/per").historyLimit == 2)
        try f.admin.addVersion("h/per", .value(pw("history-value-7")))
        #expect(try f.admin.versions(of: "h/per").map(\.version) == [6, 7])

        // Limit 1 keeps only the current version.
        try f.admin.setHistoryLimit("h/per", 1)
        try f.admin.addVersion("h/per", .value(pw("history-value-8")))
        #expect(try f.admin.versions(of: "h/per").map(\.version) == [8])
        #expect(try TamperKit.same(try f.admin.reveal("h/per"), "history-value-8"))

        // Out-of-range limits are invalid and change nothing.
        for bad in [0, -3, 1001] {
            guard case .invalid(let v)? = TamperKit.error({ try f.admin.setHistoryLimit("h/per", bad) }) else {
                Issue.record("history limit \(bad) must be invalid"); continue
            }
            #expect(v.field == "history limit")
            guard
                case .invalid(let w)? = TamperKit.error({
                    try f.admin.createSecret("h/bad\(bad)", .value(pw("history-bad-value")), historyLimit: bad)
                })
            else { Issue.record("history limit \(bad) must be invalid at create"); continue }
            #expect(w.field == "history limit")
        }
        #expect(try f.admin.secret(named: "h/per").historyLimit == 1)
        #expect(try f.admin.secrets(prefix: "h/bad").isEmpty)

        // Clearing it falls back to the vault's default (10).
        try f.admin.setHistoryLimit("h/per", nil)
        #expect(try f.admin.secret(named: "h/per").historyLimit == nil)
        for n in 9...20 { try f.admin.addVersion("h/per", .value(pw("history-value-\(n)"))) }
        #expect(try f.admin.versions(of: "h/per").map(\.version) == Array(11...20))
    }

    @Test func vaultDefaultHistoryLimitIsTen() throws {
        let f = try Fixture()
        try f.admin.createSecret("h/default", .value(pw("default-history-1")))
        #expect(try f.admin.secret(named: "h/default").historyLimit == nil)
        for n in 2...10 { try f.admin.addVersion("h/default", .value(pw("default-history-\(n)"))) }
        #expect(try f.admin.versions(of: "h/default").map(\.version) == Array(1...10), "ten versions are kept")
        for n in 11...12 { try f.admin.addVersion("h/default", .value(pw("default-history-\(n)"))) }
        #expect(try f.admin.versions(of: "h/default").map(\.version) == Array(3...12))
        #expect(try TamperKit.same(try f.admin.reveal("h/default", version: 3), "default-history-3"))
        #expect(try TamperKit.same(try f.admin.reveal("h/default"), "default-history-12"))
        guard case .notFound? = TamperKit.error({ try f.admin.reveal("h/default", version: 2) }) else {
            Issue.record("version 2 must have been pruned"); return
        }
        // The vault default is a setting: lowered, it applies at the next version.
        try f.admin.updateSettings(historyLimit: 4)
        try f.admin.addVersion("h/default", .value(pw("default-history-13")))
        #expect(try f.admin.versions(of: "h/default").map(\.version) == Array(10...13))
    }

    @Test func deleteSecretRemovesEveryVersionAndCheckpoints() throws {
        let f = try Fixture()
        try f.admin.createSecret("del/me", .value(pw("delete-me-version-1")))
        try f.admin.addVersion("del/me", .value(pw("delete-me-version-2")))
        try f.admin.addVersion("del/me", .value(pw("delete-me-version-3")))
        try f.admin.createSecret("del/keep", .value(pw("keep-me-value-abcdef")))
        let id = try TamperKit.secretID(f, "del/me")
        let ciphertexts = try (1...3).map { try TamperKit.ciphertext(f, id, $0) }

        let outcome = try f.admin.deleteSecret("del/me")
        #expect(outcome == DeletionOutcome(checkpointed: true))
        guard case .notFound? = TamperKit.error({ try f.admin.secret(named: "del/me") }) else {
            Issue.record("a deleted secret must be gone"); return
        }
        #expect(throws: KeyholdError.self) { try f.admin.reveal("del/me") }
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM secret_versions WHERE secret_id = ?", [id]) == 0)
        #expect(try f.admin.secrets().map(\.name) == ["del/keep"])
        let event = try f.admin.auditEvents(AuditQuery(action: "secret.delete"))
        let deleteEvent = event.count == 1 && event.first?.target == "secret:del/me" && event.first?.details == "{\"versions\":3}"
        #expect(deleteEvent, "one secret.delete event with the version count")

        // The WAL was checkpointed and truncated: it is empty or gone.
        let walPath = f.vault.path + "-wal"
        if FileManager.default.fileExists(atPath: walPath) {
            let size = (try FileManager.default.attributesOfItem(atPath: walPath)[.size] as? NSNumber)?.intValue
            #expect(size == 0, "the -wal file still holds \(size ?? -1) bytes")
        }
        // And no file of the vault holds the deleted ciphertexts (secure_delete + checkpoint).
        for suffix in ["", "-wal", "-shm"] {
            guard let data = FileManager.default.contents(atPath: f.vault.path + suffix) else { continue }
            let bytes = [UInt8](data)
            for (n, c) in ciphertexts.enumerated() {
                #expect(!TamperKit.contains(bytes, Array(c.suffix(32))), "ciphertext of version \(n + 1) left in vault.db\(suffix)")
            }
        }
        // The other secret is untouched; deleting again is not found.
        #expect(try TamperKit.same(try f.admin.reveal("del/keep"), "keep-me-value-abcdef"))
        guard case .notFound? = TamperKit.error({ try f.admin.deleteSecret("del/me") }) else {
            Issue.record("deleting twice must be notFound"); return
        }
    }

    // MARK: Rotate-by and audit

    @Test func rotateByIsStoredAndShown() throws {
        let f = try Fixture()
        let due = f.clock.now + 30 * Clock.day
        try f.admin.createSecret("app/rotating", .value(pw("rotating-value-abcdef")), rotateBy: due)
        #expect(try f.admin.secret(named: "app/rotating").rotateBy == due)
        try f.admin.createSecret("app/static", .value(pw("static-value-abcdef")))
        #expect(try f.admin.secret(named: "app/static").rotateBy == nil)

        let later = f.clock.now + 90 * Clock.day
        f.clock.advance(1000)
        try f.admin.setRotateBy("app/static", at: later)
        let shown = try f.admin.secret(named: "app/static")
        #expect(shown.rotateBy == later && shown.updatedAt == f.clock.now)
        #expect(try f.admin.secrets(prefix: "app/").map(\.rotateBy) == [due, later])
        let auditor = try f.user("audrey", roles: ["auditor"])
        #expect(try auditor.secret(named: "app/static").rotateBy == later)
        let event = try f.admin.auditEvents(AuditQuery(action: "secret.rotate-by", limit: 1, newestFirst: true))
        let rotateEvent = event.first?.target == "secret:app/static" && event.first?.details == "{\"rotate_by\":\(later)}"
        #expect(rotateEvent, "secret.rotate-by event with the date")

        try f.admin.setRotateBy("app/static", at: nil)
        #expect(try f.admin.secret(named: "app/static").rotateBy == nil)
        // A secret's rotate-by survives new versions.
        try f.admin.addVersion("app/rotating", .value(pw("rotating-value-2-abc")))
        #expect(try f.admin.secret(named: "app/rotating").rotateBy == due)
        // Only writers may set it.
        #expect(throws: KeyholdError.permissionDenied(action: "secret.rotate-by", missing: .secretsWrite)) {
            try auditor.setRotateBy("app/rotating", at: nil)
        }
    }

    /// `setSecret` (`keyhold secret set`/`generate`): create or add a version, with the
    /// description and rotate-by date, in one transaction and one event.
    @Test func setSecretCreatesOrUpdatesWithItsMetadataInOneEvent() throws {
        let f = try Fixture()
        let due = f.clock.now + 30 * Clock.day
        let created = try f.admin.setSecret("app/api", .value(pw("api-value-one-123")), description: "the API", rotateBy: due)
        #expect(created.version == 1 && created.created)
        let first = try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first
        #expect(first?.action == "secret.create" && first?.target == "secret:app/api")
        #expect(first?.details == "{\"generated\":false,\"rotate_by\":\(due),\"version\":1}")

        let eventsBefore = try VaultSecretTests.snapshot(f).audit
        let later = due + Clock.day
        let updated = try f.admin.setSecret("app/api", .generated(length: 24, alphabet: .hex), description: "the new API", rotateBy: later)
        #expect(updated.version == 2 && !updated.created)
        let info = try f.admin.secret(named: "app/api")
        #expect(info.description == "the new API" && info.rotateBy == later && info.currentVersion == 2)
        #expect(try VaultSecretTests.snapshot(f).audit == eventsBefore + 1, "one event for the value and its metadata")
        let second = try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first
        #expect(second?.action == "secret.update" && second?.target == "secret:app/api")
        #expect(second?.details == "{\"description_changed\":true,\"generated\":true,\"rotate_by\":\(later),\"version\":2}")

        // nil leaves the metadata alone; .some(nil) clears the date; the same description is no change.
        try f.admin.setSecret("app/api", .value(pw("api-value-three-123")))
        #expect(try f.admin.secret(named: "app/api").description == "the new API")
        #expect(try f.admin.secret(named: "app/api").rotateBy == later)
        try f.admin.setSecret("app/api", .value(pw("api-value-four-1234")), description: "the new API", rotateBy: .some(nil))
        #expect(try f.admin.secret(named: "app/api").rotateBy == nil)
        let fourth = try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first
        #expect(fourth?.details == "{\"generated\":false,\"rotate_by\":\"none\",\"version\":4}")
        #expect(try TamperKit.same(try f.admin.reveal("app/api"), "api-value-four-1234"))

        // Bad input names its field and writes nothing.
        let before = try VaultSecretTests.snapshot(f)
        guard case .invalid(let e)? = TamperKit.error({ try f.admin.setSecret("app/api", .value(pw("x")), description: "bad\u{202E}") })
        else {
            Issue.record("a bidi override in the description must be refused"); return
        }
        #expect(e.field == "secret description")
        #expect(try VaultSecretTests.snapshot(f) == before)
    }

    @Test func revealIsAuditedAndNoValueReachesTheLogOrAnError() throws {
        let f = try Fixture()
        var values: [[UInt8]] = []
        var errors: [KeyholdError] = []
        func typed(_ s: String) throws -> SecretInput { values.append(Array(s.utf8)); return .value(try pw(s)) }

        try f.admin.createSecret("app/db", typed("Zq8-value-one-for-the-audit-scan"), description: "database")
        f.clock.advance(1000)
        try f.admin.addVersion("app/db", typed("Zq8-value-two-for-the-audit-scan"))
        try f.admin.createSecret("app/gen", .generated(length: 48, alphabet: .urlsafe))
        try f.admin.addVersion("app/gen", .generated(length: 48, alphabet: .ascii))

        f.clock.advance(1000)
        let v2 = try f.admin.reveal("app/db")
        #expect(try TamperKit.same(v2, "Zq8-value-two-for-the-audit-scan"))
        var last = try #require(try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first)
        #expect(last.action == "secret.reveal" && last.target == "secret:app/db" && last.actor == "admin")
        // Details compared quietly: if a value ever leaked into them, the failure must not print it.
        let detailsV2 = last.details == "{\"version\":2}"
        #expect(detailsV2, "reveal details carry the version only")
        #expect(last.signed && last.at == f.clock.now)

        _ = try f.admin.reveal("app/db", version: 1)
        last = try #require(try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first)
        let detailsV1 = last.details == "{\"version\":1}"
        #expect(last.action == "secret.reveal")
        #expect(detailsV1, "reveal details carry the version only")

        for version in [1, 2] { values.append(try f.admin.reveal("app/gen", version: version).unsafeArray()) }
        let op = try f.user("olivia", roles: ["operator"])
        values.append(try op.reveal("app/gen").unsafeArray())
        last = try #require(try f.admin.auditEvents(AuditQuery(limit: 1, newestFirst: true)).first)
        #expect(last.action == "secret.reveal" && last.actor == "olivia" && last.target == "secret:app/gen")
        #expect(try f.admin.auditEvents(AuditQuery(action: "secret.reveal")).count == 5)

        // Failures that involve a value: none may quote it.
        for (name, input) in [
            ("app/db", try typed("Zq8-duplicate-value-for-the-scan")),  // conflict
            ("bad name/x", try typed("Zq8-bad-name-value-for-the-scan")),  // invalid name
            ("app/../x", try typed("Zq8-dotdot-value-for-the-scan"))
        ] {  // invalid name
            if let e = TamperKit.error({ try f.admin.createSecret(name, input) }) { errors.append(e) }
        }
        let auditor = try f.user("audrey", roles: ["auditor"])
        if let e = TamperKit.error({ try auditor.reveal("app/db") }) { errors.append(e) }
        if let e = TamperKit.error({ try op.addVersion("missing/x", typed("Zq8-missing-secret-value-scan")) }) { errors.append(e) }
        // A ciphertext that does not open: the integrity error names the row, not the value.
        let id = try TamperKit.secretID(f, "app/db")
        var c = try TamperKit.ciphertext(f, id, 2)
        c[30] ^= 0xFF
        try TamperKit.setCiphertext(f, id, 2, c)
        if let e = TamperKit.error({ try f.admin.reveal("app/db") }) { errors.append(e) }
        #expect(errors.count == 6)

        let columns = try TamperKit.auditColumnBytes(f)
        #expect(columns.count > 100, "the scan covers the whole log")
        for (n, value) in values.enumerated() {
            #expect(value.count >= 20)
            for (seq, column, bytes) in columns where TamperKit.contains(bytes, value) {
                Issue.record("value #\(n) appears in audit event \(seq), column \(column)")
            }
            for e in errors where TamperKit.contains(Array(String(describing: e).utf8), value) {
                Issue.record("value #\(n) appears in an error message")
            }
        }
        for i in values.indices { _ = values[i].withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }
    }

    // MARK: Key access

    @Test func pendingGrantGivesNoKeyAccess() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("pending-test-value-abc")))
        _ = try f.user("pat", roles: ["operator"])
        #expect(try f.admin.user(named: "pat").keyAccess == .granted)
        // Turn pat's grant into a pending one (entitled, R not sealed to them yet).
        let pat = try TamperKit.userID(f, "pat")
        try f.vault.store.unsafeExecute("UPDATE grants SET sealed_root = NULL, key_id = NULL WHERE user_id = ?", arguments: [pat])
        #expect(try f.admin.user(named: "pat").keyAccess == .pending)

        let session = try f.login("pat", userPassword)
        #expect(!session.hasKeyAccess)
        #expect(try session.secrets().map(\.name) == ["app/db"], "listing needs no key")
        let before = try VaultSecretTests.snapshot(f)
        guard case .noKeyAccess? = TamperKit.error({ try session.createSecret("app/new", .value(pw("pending-new-value-abc"))) }) else {
            Issue.record("createSecret without R must be noKeyAccess"); return
        }
        guard case .noKeyAccess? = TamperKit.error({ try session.addVersion("app/db", .generated(length: 20, alphabet: .hex)) }) else {
            Issue.record("addVersion without R must be noKeyAccess"); return
        }
        guard case .noKeyAccess? = TamperKit.error({ try session.reveal("app/db") }) else {
            Issue.record("reveal without R must be noKeyAccess"); return
        }
        #expect(try VaultSecretTests.snapshot(f) == before, "nothing written, not even an audit event")
    }

    // MARK: Helpers

    /// Counts that any write would change.
    struct Snapshot: Equatable { var secrets: Int64, versions: Int64, audit: Int64, lastSeq: Int64 }
    static func snapshot(_ f: Fixture) throws -> Snapshot {
        Snapshot(
            secrets: try TamperKit.count(f, "SELECT count(*) AS n FROM secrets"),
            versions: try TamperKit.count(f, "SELECT count(*) AS n FROM secret_versions"),
            audit: try TamperKit.count(f, "SELECT count(*) AS n FROM audit_events"),
            lastSeq: try TamperKit.count(f, "SELECT coalesce(max(seq), 0) AS n FROM audit_events"))
    }
}
