import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdCrypto
import KeyholdStore

// docs/FORMAT.md section 2: "Every aad names what the bytes are and which row they
// belong to, so a ciphertext copied into another row, another version or
// another purpose fails to open." Each test below moves or alters stored bytes
// the way someone who can write the file could, and requires an integrity
// error that names the row: never a crash, never a wrong plaintext. Restoring
// the original bytes afterwards must make the same reveal work again, so each
// failure is shown to come from the tampering and nothing else.

@Suite struct IntegrityTests {
    /// `check` opens every version (into one reused guarded buffer): the largest value a
    /// secret may hold opens, and each altered or moved ciphertext is named, the rest counted.
    @Test func checkOpensEveryVersionAndNamesEachOneThatDoesNot() throws {
        let f = try Fixture()
        let largest = String(repeating: "z", count: Validate.secretValueMaxBytes)
        try f.admin.createSecret("app/large", .value(pw(largest)))
        try f.admin.createSecret("app/one", .value(pw("first-value-0123456789")))
        try f.admin.createSecret("app/two", .value(pw("other-value-9876543210")))
        try f.admin.setSecret("app/one", .value(pw("second-value-012345678")))
        #expect(try f.admin.check().ok && (try f.admin.check().versionsOpened) == 4)

        let one = try TamperKit.secretID(f, "app/one"), two = try TamperKit.secretID(f, "app/two")
        try TamperKit.setCiphertext(f, two, 1, try TamperKit.ciphertext(f, one, 2))
        var altered = try TamperKit.ciphertext(f, one, 1)
        altered[altered.count - 1] ^= 1
        try TamperKit.setCiphertext(f, one, 1, altered)
        let report = try f.admin.check()
        #expect(!report.ok && report.versionsOpened == 2)
        #expect(
            report.problems.map(\.location).sorted()
                == ["secret_versions secret_id=\(one) version=1", "secret_versions secret_id=\(two) version=1"])
        #expect(report.problems.allSatisfy { $0.area == "secrets" && $0.message.contains("does not open") })
        #expect(!report.problems.contains { $0.message.contains("-value-") }, "never a value in a problem")
        #expect(try f.admin.reveal("app/large").utf8String() == largest, "the largest value still opens after check")
    }

    @Test func ciphertextsSwappedBetweenTwoSecretsDoNotOpen() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/one", .value(pw("first-value-0123456789")))
        try f.admin.createSecret("app/two", .value(pw("other-value-9876543210")))
        let one = try TamperKit.secretID(f, "app/one"), two = try TamperKit.secretID(f, "app/two")
        let c1 = try TamperKit.ciphertext(f, one, 1), c2 = try TamperKit.ciphertext(f, two, 1)
        #expect(c1.count == c2.count, "same length, so only the AAD can tell them apart")

        try TamperKit.setCiphertext(f, one, 1, c2)
        try TamperKit.setCiphertext(f, two, 1, c1)
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(one) version=1") { try f.admin.reveal("app/one") }
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(two) version=1") { try f.admin.reveal("app/two") }
        // A fresh session (no cached data key) fails the same way.
        let again = try f.login("admin", adminPassword)
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(one) version=1") { try again.reveal("app/one") }

        try TamperKit.setCiphertext(f, one, 1, c1)
        try TamperKit.setCiphertext(f, two, 1, c2)
        let restored = try f.admin.reveal("app/one")
        #expect(try TamperKit.same(restored, "first-value-0123456789"), "restored ciphertext opens to its own value")
    }

    @Test func versionsSwappedWithinOneSecretDoNotOpen() throws {
        let f = try Fixture()
        try f.admin.createSecret("svc/token", .value(pw("version-one-abcdefghij")))
        try f.admin.addVersion("svc/token", .value(pw("version-two-abcdefghij")))
        let id = try TamperKit.secretID(f, "svc/token")
        let v1 = try TamperKit.ciphertext(f, id, 1), v2 = try TamperKit.ciphertext(f, id, 2)

        try TamperKit.setCiphertext(f, id, 1, v2)
        try TamperKit.setCiphertext(f, id, 2, v1)
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1") { try f.admin.reveal("svc/token", version: 1) }
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=2") { try f.admin.reveal("svc/token", version: 2) }
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=2") { try f.admin.reveal("svc/token") }

        try TamperKit.setCiphertext(f, id, 1, v1)
        try TamperKit.setCiphertext(f, id, 2, v2)
        let restored = try f.admin.reveal("svc/token", version: 1)
        #expect(try TamperKit.same(restored, "version-one-abcdefghij"))
    }

    @Test func dataKeyBytesInASecretRowDoNotOpen() throws {
        let f = try Fixture()
        // 32 bytes: the same length as a data key, so a sealed data key is a plausible ciphertext.
        try f.admin.createSecret("app/key", .value(pw("0123456789abcdef0123456789abcdef")))
        let id = try TamperKit.secretID(f, "app/key")
        let original = try TamperKit.ciphertext(f, id, 1)
        let sealedKey = try TamperKit.blob(f.vault.store.unsafeQuery("SELECT sealed FROM data_keys WHERE version = 1")[0]["sealed"])
        #expect(sealedKey.count == original.count)

        try TamperKit.setCiphertext(f, id, 1, sealedKey)
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1") { try f.admin.reveal("app/key") }
        let fresh = try f.login("admin", adminPassword)
        try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1") { try fresh.reveal("app/key") }

        try TamperKit.setCiphertext(f, id, 1, original)
        #expect(try TamperKit.same(try f.admin.reveal("app/key"), "0123456789abcdef0123456789abcdef"))
    }

    @Test func secretBytesInTheDataKeyRowDoNotOpen() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/key", .value(pw("0123456789abcdef0123456789abcdef")))
        try f.admin.createSecret("app/other", .value(pw("another-value-for-reveal")))
        let id = try TamperKit.secretID(f, "app/key")
        let original = try TamperKit.blob(f.vault.store.unsafeQuery("SELECT sealed FROM data_keys WHERE version = 1")[0]["sealed"])
        try f.vault.store.unsafeExecute(
            "UPDATE data_keys SET sealed = ? WHERE version = 1",
            arguments: [try TamperKit.ciphertext(f, id, 1)])

        // Log in again so the data key is not already cached by the session.
        let fresh = try f.login("admin", adminPassword)
        try TamperKit.expectIntegrity(naming: "data_keys version=1") { try fresh.reveal("app/other") }
        try TamperKit.expectIntegrity(naming: "data_keys version=1") { try fresh.reveal("app/key") }
        // Writing a new secret needs the data key too.
        try TamperKit.expectIntegrity(naming: "data_keys version=1") {
            try fresh.createSecret("app/new", .value(pw("never-sealed-value-xyz")))
        }
        #expect(try TamperKit.count(f, "SELECT count(*) AS n FROM secrets WHERE name = 'app/new'") == 0, "nothing half-written")

        try f.vault.store.unsafeExecute("UPDATE data_keys SET sealed = ? WHERE version = 1", arguments: [original])
        let restored = try f.login("admin", adminPassword)
        #expect(try TamperKit.same(try restored.reveal("app/other"), "another-value-for-reveal"))
    }

    @Test func aFlippedByteAnywhereDoesNotOpen() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/flip", .value(pw("flip-me-if-you-can-123")))
        let id = try TamperKit.secretID(f, "app/flip")
        let original = try TamperKit.ciphertext(f, id, 1)
        // Nonce, first byte of the ciphertext proper, a middle byte, last byte of the tag.
        for position in [0, 23, 24, 24 + 10, original.count - 16, original.count - 1] {
            var bad = original
            bad[position] ^= 0x01
            try TamperKit.setCiphertext(f, id, 1, bad)
            try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1", "byte \(position)") {
                try f.admin.reveal("app/flip")
            }
        }
        // Truncated and empty ciphertexts are integrity errors too, not crashes.
        for bad in [Array(original.dropLast()), Array(original.prefix(39)), Array(original.prefix(10)), [UInt8]()] {
            try TamperKit.setCiphertext(f, id, 1, bad)
            try TamperKit.expectIntegrity(naming: "secret_versions secret_id=\(id) version=1", "\(bad.count) bytes") {
                try f.admin.reveal("app/flip")
            }
        }
        try TamperKit.setCiphertext(f, id, 1, original)
        #expect(try TamperKit.same(try f.admin.reveal("app/flip"), "flip-me-if-you-can-123"))
    }

    @Test func recoveryKeyOpensRootAndDataKey() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("recovered-through-the-key")))
        let recovery = try RecoveryKey.parse(f.recoveryKey)
        let sealed = try TamperKit.blob(f.vault.store.unsafeQuery("SELECT recovery_sealed FROM vault")[0]["recovery_sealed"])

        let root = try Keyring.openRecovery(sealed, recovery: recovery)
        #expect(root.count == 32)
        let sameRoot = root.constantTimeEquals(try #require(f.admin.root).key)
        #expect(sameRoot, "the recovery key opens the same R the admin holds")

        let dk = try f.vault.store.unsafeQuery("SELECT version, sealed, state, created_at FROM data_keys WHERE version = 1")[0]
        let row = DataKeyRow(
            version: 1, sealed: try TamperKit.blob(dk["sealed"]), active: true,
            createdAt: try TamperKit.int(dk["created_at"]))
        let d1 = try Keyring.openDataKey(row, root: root)
        #expect(d1.count == 32)
        // D_1 opens the stored secret: the whole chain recovery -> R -> D_1 -> value works without a password.
        let id = try TamperKit.secretID(f, "app/db")
        let value = try Seal.open(
            try TamperKit.ciphertext(f, id, 1), key: d1,
            aad: Keyring.secretAAD(secretID: id, version: 1, keyVersion: 1))
        #expect(try TamperKit.same(value, "recovered-through-the-key"))

        // Another key does not open it, and says which row.
        try TamperKit.expectIntegrity(naming: "vault.recovery_sealed") {
            try Keyring.openRecovery(sealed, recovery: SecureBytes(random: 32))
        }
        // Nor does R open with the recovery key under another purpose (the data key row).
        try TamperKit.expectIntegrity(naming: "data_keys version=1") {
            try Keyring.openDataKey(row, root: recovery)
        }
    }
}

// MARK: - Shared helpers for SecretTests, AuditTests, IntegrityTests and GrantTests

/// Raw access to a fixture's vault, as someone who can write the file has.
enum TamperKit {
    typealias Row = [String: (any Sendable)?]

    static func int(_ v: (any Sendable)??, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int64 {
        try #require((v ?? nil) as? Int64, sourceLocation: sourceLocation)
    }

    static func blob(_ v: (any Sendable)??, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        try #require((v ?? nil) as? [UInt8], sourceLocation: sourceLocation)
    }

    static func count(_ f: Fixture, _ sql: String, _ arguments: [(any Sendable)?] = []) throws -> Int64 {
        try int(f.vault.store.unsafeQuery(sql, arguments: arguments).first?["n"])
    }

    static func secretID(_ f: Fixture, _ name: String) throws -> Int64 {
        try int(try #require(f.vault.store.unsafeQuery("SELECT id FROM secrets WHERE name = ?", arguments: [name]).first)["id"])
    }

    static func userID(_ f: Fixture, _ name: String) throws -> Int64 {
        try int(try #require(f.vault.store.unsafeQuery("SELECT id FROM users WHERE username = ?", arguments: [name]).first)["id"])
    }

    static func ciphertext(_ f: Fixture, _ secretID: Int64, _ version: Int) throws -> [UInt8] {
        let rows = try f.vault.store.unsafeQuery(
            "SELECT ciphertext FROM secret_versions WHERE secret_id = ? AND version = ?",
            arguments: [secretID, version])
        return try blob(try #require(rows.first)["ciphertext"])
    }

    static func setCiphertext(_ f: Fixture, _ secretID: Int64, _ version: Int, _ bytes: [UInt8]) throws {
        try f.vault.store.unsafeExecute(
            "UPDATE secret_versions SET ciphertext = ? WHERE secret_id = ? AND version = ?",
            arguments: [bytes, secretID, version])
    }

    /// Whether a revealed value equals `expected`, without putting either in a test failure message.
    static func same(_ value: SecureBytes, _ expected: String) throws -> Bool {
        value.constantTimeEquals(try SecureBytes(utf8: expected))
    }

    /// Runs `body`, returning the KeyholdError it throws (nil, with an issue recorded, if it throws nothing or something else).
    static func error<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> KeyholdError? {
        do {
            _ = try body()
            Issue.record("expected an error, but the call succeeded", sourceLocation: sourceLocation)
            return nil
        } catch let e as KeyholdError {
            return e
        } catch {
            Issue.record("expected a KeyholdError, got \(type(of: error))", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// `body` must throw `KeyholdError.integrity` whose message names `row`.
    static func expectIntegrity<T>(
        naming row: String, _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> T
    ) throws {
        let e = error(body, sourceLocation: sourceLocation)
        guard case .integrity(let message)? = e else {
            if let e { Issue.record("\(context): expected an integrity error naming \(row), got \(e)", sourceLocation: sourceLocation) }
            return
        }
        #expect(message.contains(row), "\(context)", sourceLocation: sourceLocation)
    }

    // MARK: Audit rows

    static func dropAuditTriggers(_ f: Fixture) throws {
        try f.vault.store.unsafeExecute("DROP TRIGGER audit_no_update")
        try f.vault.store.unsafeExecute("DROP TRIGGER audit_no_delete")
    }

    static func auditRow(_ r: Row) throws -> AuditRow {
        AuditRow(
            seq: try int(r["seq"]), at: try int(r["at"]), actorID: (r["actor_id"] ?? nil) as? Int64,
            actorName: try #require((r["actor_name"] ?? nil) as? String),
            actorKeyID: (r["actor_key_id"] ?? nil) as? Int64,
            action: try #require((r["action"] ?? nil) as? String), target: try #require((r["target"] ?? nil) as? String),
            details: try #require((r["details"] ?? nil) as? String),
            prevHash: try blob(r["prev_hash"]), hash: try blob(r["hash"]), signature: (r["signature"] ?? nil) as? [UInt8])
    }

    static func auditRows(_ f: Fixture) throws -> [AuditRow] {
        try f.vault.store.unsafeQuery("SELECT * FROM audit_events ORDER BY seq").map(auditRow)
    }

    /// Recomputes prev_hash and hash of every event from `seq` on, as an attacker who knows the format can.
    static func rechain(_ f: Fixture, from seq: Int64) throws {
        var prev: [UInt8]?
        for var row in try auditRows(f) {
            if row.seq < seq { prev = row.hash; continue }
            row.prevHash = prev ?? AuditChain.genesis
            row.hash = AuditChain.hash(row)
            try f.vault.store.unsafeExecute(
                "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
                arguments: [row.prevHash, row.hash, row.seq])
            prev = row.hash
        }
    }

    /// Every column of every audit event, as bytes (text as UTF-8, integers as decimals, blobs as they are).
    static func auditColumnBytes(_ f: Fixture) throws -> [(seq: Int64, column: String, bytes: [UInt8])] {
        var out: [(Int64, String, [UInt8])] = []
        for r in try f.vault.store.unsafeQuery("SELECT * FROM audit_events ORDER BY seq") {
            let seq = try int(r["seq"])
            for (column, value) in r {
                switch value {
                case let s as String: out.append((seq, column, Array(s.utf8)))
                case let b as [UInt8]: out.append((seq, column, b))
                case let i as Int64: out.append((seq, column, Array(String(i).utf8)))
                case let d as Double: out.append((seq, column, Array(String(d).utf8)))
                default: break
                }
            }
        }
        return out
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
