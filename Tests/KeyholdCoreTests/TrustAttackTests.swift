import Foundation
import KeyholdCrypto
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

@Suite struct TrustAttackTests {
    /// Problems `check` reports whose location or message contains `text`.
    static func checkNames(_ s: Session, _ text: String) throws -> Bool {
        try s.check().problems.contains { $0.location.contains(text) || $0.message.contains(text) }
    }

    // MARK: 1. Planted key and pending grant

    /// Today's release sealed R to every pending grant at the next key holder's login: the
    /// attacker then opened every secret with the file alone.
    @Test func plantedUserWithAPendingGrantNeverReceivesTheRootKey() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("planted-user-must-not-read")))
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantUser("mallory", roles: ["operator"])

        // Everything an administrator does in a day: logins, role changes touching the role, a rotation.
        let admin = try f.login("admin", adminPassword)
        _ = try f.user("olga", roles: ["auditor"])
        try admin.grantRole("olga", role: "operator")
        try admin.editRole("operator", description: "Operators", permissions: [.secretsList, .secretsRead, .secretsWrite, .usersRead])
        try admin.lockUser("mallory")
        try admin.unlockUser("mallory")
        _ = try admin.rotateRootKey()
        let fresh = try f.login("admin", adminPassword)
        #expect(try attacker.opensAnyGrant() == false, "a grant was sealed to the planted key")

        // Logged in with their own password, the attacker holds no root key; the request shows their fingerprint.
        let mallory = try f.login("mallory", attacker.password)
        #expect(!mallory.hasKeyAccess)
        let fingerprint = Fingerprint.of(publicKey: attacker.pair.publicKey)
        #expect(mallory.pendingKeyFingerprint == fingerprint)
        #expect(try fresh.keyRequests().first { $0.username == "mallory" }?.fingerprint == fingerprint)
        #expect(throws: KeyholdError.self) { try mallory.reveal("app/db") }

        // check names the planted rows; audit verify names the first event the planted key signed.
        #expect(try Self.checkNames(fresh, "user_keys id=\(planted.keyID) (user mallory)"))
        #expect(try Self.checkNames(fresh, "users id=\(planted.userID) (mallory)"))
        let verification = try fresh.verifyAudit()
        let login = try #require(try fresh.auditEvents(AuditQuery(action: "login", target: "user:mallory")).first)
        #expect(verification.failure?.seq == login.seq)
        #expect(verification.failure?.reason.contains("key \(planted.keyID), which no entitled event introduced") == true)
    }

    /// A planted key for an existing key holder, with a grant row naming it: the root rotation
    /// re-seals only to keys the root key endorsed, so the attacker's is left out.
    @Test func plantedKeyOfAnExistingUserIsLeftOutOfTheRootRotation() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/db", .value(pw("rotation-must-not-leak")))
        _ = try f.user("olga", roles: ["operator"])
        let olga = try TamperKit.userID(f, "olga")
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantKey(for: olga, username: "olga")
        let fakeGrant = try SealedBox.seal(SecureBytes(random: 32), to: attacker.pair.publicKey)
        try f.vault.store.unsafeExecute("UPDATE users SET key_id = ? WHERE id = ?", arguments: [planted, olga])
        try f.vault.store.unsafeExecute(
            "UPDATE grants SET key_id = ?, sealed_root = ? WHERE user_id = ?",
            arguments: [planted, fakeGrant, olga])
        #expect(try Self.checkNames(f.admin, "grants user_id=\(olga)"))

        _ = try f.admin.rotateRootKey()
        #expect(try attacker.opensAnyGrant() == false)
        let event = try #require(try f.admin.auditEvents(AuditQuery(action: "key.rotate-root")).last)
        #expect(event.details.contains(#""left_out":["olga"]"#))
        #expect(try f.admin.user(named: "olga").keyAccess == .pending)
    }

    /// A grant row planted for a user whose key is real: the rotation seals to the real key, never to the row's.
    @Test func plantedGrantRowIsNotWhatTheRotationSealsTo() throws {
        let f = try Fixture()
        let olgaSession = try f.user("olga", roles: ["operator"])
        _ = olgaSession
        let olga = try TamperKit.userID(f, "olga")
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantKey(for: olga, username: "olga")
        try f.vault.store.unsafeExecute("UPDATE grants SET key_id = ? WHERE user_id = ?", arguments: [planted, olga])
        _ = try f.admin.rotateRootKey()
        #expect(try attacker.opensAnyGrant() == false)
        let again = try f.login("olga", userPassword)
        #expect(again.hasKeyAccess, "olga's own endorsed key received the new root key")
    }

    // MARK: 2. Substituted keys

    /// A grant replaced with R' sealed to the user's real public key: refused at login, before
    /// anything is written under R', as an integrity failure (not a failed login), and named by check.
    @Test func substitutedGrantIsRefusedAtLogin() throws {
        let f = try Fixture()
        _ = try f.user("olga", roles: ["operator"])
        let olga = try TamperKit.userID(f, "olga")
        let pk = try TamperKit.blob(
            f.vault.store.unsafeQuery(
                "SELECT k.public_key FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.id = ?", arguments: [olga])[0]["public_key"])
        let chosen = try SecureBytes(random: 32)
        try f.vault.store.unsafeExecute(
            "UPDATE grants SET sealed_root = ? WHERE user_id = ?",
            arguments: [try SealedBox.seal(chosen, to: pk), olga])
        try TamperKit.expectIntegrity(naming: "grants user_id=\(olga)") { try f.vault.login(username: "olga", password: pw(userPassword)) }
        #expect(try f.admin.user(named: "olga").failedLogins == 0, "an integrity failure is not a failed login")
        let refused = try #require(try f.admin.auditEvents(AuditQuery(action: "login.refused", target: "user:olga")).last)
        #expect(refused.details.contains(#""reason":"integrity""#))
        #expect(try Self.checkNames(f.admin, "grants user_id=\(olga)"))
    }

    /// The attacker signs the substituted grant with a root signing key of their own, added as the
    /// next generation: the chain of root keys does not reach it.
    @Test func substitutedGrantWithAnAttackersRootKeyGenerationIsRefused() throws {
        let f = try Fixture()
        _ = try f.user("olga", roles: ["operator"])
        _ = try f.user("audra", roles: ["auditor"])
        let olga = try TamperKit.userID(f, "olga")
        let store = f.vault.store
        let key = try store.unsafeQuery(
            "SELECT k.id, k.public_key FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.id = ?",
            arguments: [olga])[0]
        let (keyID, pk) = (try TamperKit.int(key["id"]), try TamperKit.blob(key["public_key"]))
        let chosen = try SecureBytes(random: 32)
        let theirs = try Trust.rootSigningKey(chosen)
        let vaultID = try TamperKit.blob(store.unsafeQuery("SELECT vault_id FROM vault")[0]["vault_id"])
        let link = theirs.sign(Trust.rootLinkMessage(vaultID: vaultID, version: 2, publicKey: theirs.publicKey))
        try store.unsafeExecute(
            "INSERT INTO root_keys (version, public_key, link, created_at) VALUES (2, ?, ?, 0)",
            arguments: [theirs.publicKey, link])
        try store.unsafeExecute("UPDATE vault SET root_version = 2")
        let sealed = try SealedBox.seal(chosen, to: pk)
        let signature = theirs.sign(Trust.grantMessage(vaultID: vaultID, rootVersion: 2, userID: olga, keyID: keyID, sealed: sealed))
        try store.unsafeExecute("UPDATE grants SET sealed_root = ?, signature = ? WHERE user_id = ?", arguments: [sealed, signature, olga])
        try TamperKit.expectIntegrity(naming: "root_keys version=2") { try f.vault.login(username: "olga", password: pw(userPassword)) }
        // Key holders cannot log in (denial, which writing the file allows); check, run by an auditor, names the row.
        try TamperKit.expectIntegrity(naming: "root_keys version=2") { try f.vault.login(username: "admin", password: pw(adminPassword)) }
        #expect(try Self.checkNames(try f.login("audra", userPassword), "root_keys version=2"))
    }

    /// A data key replaced with D' sealed under R': nothing opens it, nothing is written under it.
    @Test func substitutedDataKeyIsNeverUsed() throws {
        let f = try Fixture()
        let chosenRoot = try SecureBytes(random: 32), chosenData = try SecureBytes(random: 32)
        try f.vault.store.unsafeExecute(
            "UPDATE data_keys SET sealed = ? WHERE state = 'active'",
            arguments: [try Seal.seal(chosenData, key: chosenRoot, aad: "keyhold/datakey/1")])
        let admin = try f.login("admin", adminPassword)
        try TamperKit.expectIntegrity(naming: "data_keys version=1") {
            try admin.createSecret("app/new", .value(pw("never-under-their-key")))
        }
        #expect(try f.admin.secrets().isEmpty, "nothing was written")
        #expect(try Self.checkNames(admin, "data_keys version=1"))
    }

    /// A whole vault of the attacker's making around a user's copied key (their own anchor event,
    /// root key and grant): the user's pin names the real vault's anchor, so the login is refused.
    @Test func vaultWithAnotherAnchorIsRefusedByTheUsersPin() throws {
        let f = try Fixture()
        _ = try f.user("olga", roles: ["operator"])
        let olga = try TamperKit.userID(f, "olga")
        let store = f.vault.store
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let attackerAdmin = try attacker.plantKey(for: 1, username: "admin")
        let chosen = try SecureBytes(random: 32)
        let theirs = try Trust.rootSigningKey(chosen)
        let vaultID = Sodium.randomBytes(16)
        let details =
            #"{"root_public_key":"\#(Store.hex(theirs.publicKey))","root_version":1,"vault_id":"\#(Store.hex(vaultID))"}"#
        try attacker.appendEvent(
            actorID: 1, actorName: "admin", keyID: attackerAdmin, action: "vault.upgrade", target: "vault",
            details: details)
        let anchorSeq = try TamperKit.int(store.unsafeQuery("SELECT max(seq) AS n FROM audit_events")[0]["n"])
        try store.unsafeExecute("UPDATE vault SET vault_id = ?, anchor_seq = ?", arguments: [vaultID, anchorSeq])
        try store.unsafeExecute("UPDATE root_keys SET public_key = ? WHERE version = 1", arguments: [theirs.publicKey])
        let key = try store.unsafeQuery(
            "SELECT k.id, k.public_key FROM user_keys k JOIN users u ON u.key_id = k.id WHERE u.id = ?",
            arguments: [olga])[0]
        let sealed = try SealedBox.seal(chosen, to: try TamperKit.blob(key["public_key"]))
        let signature = theirs.sign(
            Trust.grantMessage(
                vaultID: vaultID, rootVersion: 1, userID: olga,
                keyID: try TamperKit.int(key["id"]), sealed: sealed))
        try store.unsafeExecute("UPDATE grants SET sealed_root = ?, signature = ? WHERE user_id = ?", arguments: [sealed, signature, olga])
        try TamperKit.expectIntegrity(naming: "pin names another vault") { try f.vault.login(username: "olga", password: pw(userPassword)) }
    }

    /// A flipped byte in a grant is damage, not a guess: an integrity error that does not count toward the lockout.
    @Test func flippedByteInAGrantIsNotAFailedLogin() throws {
        let f = try Fixture()
        _ = try f.user("olga", roles: ["operator"])
        let olga = try TamperKit.userID(f, "olga")
        var sealed = try TamperKit.blob(
            f.vault.store.unsafeQuery(
                "SELECT sealed_root FROM grants WHERE user_id = ?",
                arguments: [olga])[0]["sealed_root"])
        sealed[sealed.count / 2] ^= 0x01
        try f.vault.store.unsafeExecute("UPDATE grants SET sealed_root = ? WHERE user_id = ?", arguments: [sealed, olga])
        for _ in 0..<(Vault.freeLoginFailures + 2) {
            try TamperKit.expectIntegrity(naming: "grants user_id=\(olga)") {
                try f.vault.login(username: "olga", password: pw(userPassword))
            }
        }
        let info = try f.admin.user(named: "olga")
        #expect(info.failedLogins == 0 && info.lockedUntil == nil, "integrity failures were counted toward the lockout")
    }

    // MARK: 3. Forged audit events

    /// Events appended and signed with a planted key fail verification without a saved head.
    @Test func eventsSignedWithAPlantedKeyFailVerification() throws {
        let f = try Fixture()
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantKey(for: 1, username: "admin")
        let before = try f.admin.auditEvents(AuditQuery()).count
        try attacker.appendEvent(
            actorID: 1, actorName: "admin", keyID: planted, action: "secret.reveal",
            target: "secret:app/db", details: #"{"version":1}"#)
        let v = try f.admin.verifyAudit()
        #expect(v.failure?.seq == Int64(before + 1))
        #expect(v.failure?.reason.contains("which no entitled event introduced") == true)
        #expect(try Self.checkNames(f.admin, "audit_events seq=\(before + 1)"))
    }

    /// The whole tail rewritten from some event on, with events that claim the real administrator.
    @Test func rewrittenTailFailsVerification() throws {
        let f = try Fixture()
        for i in 0..<4 { try f.admin.createSecret("app/s\(i)", .value(pw("tail-value-\(i)"))) }
        let rows = try TamperKit.auditRows(f)
        let cut = rows[rows.count - 3].seq
        try TamperKit.dropAuditTriggers(f)
        try f.vault.store.unsafeExecute("DELETE FROM audit_events WHERE seq >= ?", arguments: [cut])
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantKey(for: 1, username: "admin")
        for i in 0..<3 {
            try attacker.appendEvent(
                actorID: 1, actorName: "admin", keyID: planted, action: "secret.delete",
                target: "secret:app/s\(i)", details: #"{"versions":1}"#)
        }
        #expect(try f.admin.verifyAudit().failure?.seq == cut)
    }

    /// The public key of an introduced key swapped for the attacker's in the table: the log says
    /// which key was introduced, so the attacker's signatures still fail.
    @Test func replacedPublicKeyOfAnIntroducedKeyDoesNotHelp() throws {
        let f = try Fixture()
        let adminKey = try TamperKit.int(f.vault.store.unsafeQuery("SELECT key_id FROM users WHERE username = 'admin'")[0]["key_id"])
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        try f.vault.store.unsafeExecute("UPDATE user_keys SET public_key = ? WHERE id = ?", arguments: [attacker.pair.publicKey, adminKey])
        try attacker.appendEvent(
            actorID: 1, actorName: "admin", keyID: adminKey, action: "user.delete", target: "user:olga",
            details: #"{"user_id":2}"#)
        let v = try f.admin.verifyAudit()
        #expect(v.failure?.reason.contains("signature does not verify") == true)
    }

    /// A key introduced by a forged user.create signed by another planted key: the chain of introductions
    /// never reaches an entitled signer.
    @Test func forgedIntroductionByAPlantedKeyFails() throws {
        let f = try Fixture()
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let first = try attacker.plantKey(for: 1, username: "admin")
        try attacker.appendEvent(
            actorID: 1, actorName: "admin", keyID: first, action: "user.create", target: "user:eve",
            details: #"{"key_id":99,"public_key":"\#(Store.hex(attacker.pair.publicKey))","roles":["admin"],"user_id":99}"#)
        let v = try f.admin.verifyAudit()
        #expect(v.failure?.reason.contains("which no entitled event introduced") == true)
    }

    /// An insider with a real key but no users.write signs a user.create: entitlement is replayed from the log.
    @Test func introductionByAUserWithoutUsersWriteFails() throws {
        let f = try Fixture()
        let aud = try f.user("audra", roles: ["auditor"])
        let audra = try TamperKit.userID(f, "audra")
        let rogue = try SigningKeyPair.generate()
        // Audra's own key signs, as only she could (the test holds her session's key pair).
        let last = try #require(try TamperKit.auditRows(f).last)
        var row = AuditRow(
            seq: last.seq + 1, at: f.clock.now, actorID: audra, actorName: "audra", actorKeyID: aud.keyID,
            action: "user.create", target: "user:eve",
            details: #"{"key_id":99,"public_key":"\#(Store.hex(rogue.publicKey))","roles":[],"user_id":99}"#,
            prevHash: last.hash, hash: [], signature: nil)
        row.hash = AuditChain.hash(row)
        row.signature = aud.keyPair.sign(row.hash)
        try f.vault.store.unsafeExecute(
            """
            INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            arguments: [
                row.seq, row.at, row.actorID, row.actorName, row.actorKeyID, row.action, row.target, row.details,
                row.prevHash, row.hash, row.signature
            ])
        let v = try f.admin.verifyAudit()
        #expect(v.failure?.seq == row.seq)
        #expect(v.failure?.reason.contains("did not hold users.write") == true)
    }

    /// A key signs only for its own user: an event naming another actor fails even with a real key.
    @Test func aKeySignsOnlyForItsOwnUser() throws {
        let f = try Fixture()
        let olga = try f.user("olga", roles: ["operator"])
        let last = try #require(try TamperKit.auditRows(f).last)
        var row = AuditRow(
            seq: last.seq + 1, at: f.clock.now, actorID: 1, actorName: "admin", actorKeyID: olga.keyID,
            action: "secret.reveal", target: "secret:x", details: "{}", prevHash: last.hash, hash: [], signature: nil)
        row.hash = AuditChain.hash(row)
        row.signature = olga.keyPair.sign(row.hash)
        try f.vault.store.unsafeExecute(
            """
            INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            arguments: [
                row.seq, row.at, row.actorID, row.actorName, row.actorKeyID, row.action, row.target, row.details,
                row.prevHash, row.hash, row.signature
            ])
        #expect(try f.admin.verifyAudit().failure?.reason.contains("signs only for its own user") == true)
    }

    /// A retired key (the password was reset) signs nothing after its retirement.
    @Test func aRetiredKeySignsNothingAfterItsRetirement() throws {
        let f = try Fixture()
        let olga = try f.user("olga", roles: ["operator"])
        _ = try f.admin.resetPassword("olga")
        let last = try #require(try TamperKit.auditRows(f).last)
        let olgaID = try TamperKit.userID(f, "olga")
        var row = AuditRow(
            seq: last.seq + 1, at: f.clock.now, actorID: olgaID, actorName: "olga", actorKeyID: olga.keyID,
            action: "secret.reveal", target: "secret:x", details: "{}", prevHash: last.hash, hash: [], signature: nil)
        row.hash = AuditChain.hash(row)
        row.signature = olga.keyPair.sign(row.hash)
        try f.vault.store.unsafeExecute(
            """
            INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            arguments: [
                row.seq, row.at, row.actorID, row.actorName, row.actorKeyID, row.action, row.target, row.details,
                row.prevHash, row.hash, row.signature
            ])
        #expect(try f.admin.verifyAudit().failure?.reason.contains("after it was retired") == true)
    }

    /// `key recover` introduces a key by itself; the proof by the root signing key (which only the
    /// recovery key opened) is what makes it count. Forged without that proof, it fails.
    @Test func recoveryIsProvenByTheRootKeyAndAForgeryIsNot() throws {
        let f = try Fixture()
        _ = try f.vault.recover(recoveryKey: f.recoveryKey, username: "admin")
        #expect(try f.vault.store.read { try AuditChain.verify($0) }.ok, "a real recovery verifies")
        let attacker = try Attacker(f.vault.store, clock: f.clock)
        let planted = try attacker.plantKey(for: 1, username: "admin")
        try attacker.appendEvent(
            actorID: nil, actorName: "recovery-key", keyID: planted, action: "vault.recover", target: "user:admin",
            details:
                #"{"key_id":\#(planted),"public_key":"\#(Store.hex(attacker.pair.publicKey))","recovery_signature":"\#(String(repeating: "00", count: 64))","user_id":1}"#
        )
        let v = try f.vault.store.read { try AuditChain.verify($0) }
        #expect(v.failure?.reason.contains("vault.recover without a valid proof") == true)
    }

    // MARK: 4. Swapped names

    @Test func swappedNamesAreAnIntegrityErrorNamingBothRows() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/a", .value(pw("value-of-a")))
        try f.admin.createSecret("app/b", .value(pw("value-of-b")))
        let a = try TamperKit.secretID(f, "app/a"), b = try TamperKit.secretID(f, "app/b")
        try f.vault.store.unsafeExecute("UPDATE secrets SET name = 'tmp' WHERE id = ?", arguments: [a])
        try f.vault.store.unsafeExecute("UPDATE secrets SET name = 'app/a' WHERE id = ?", arguments: [b])
        try f.vault.store.unsafeExecute("UPDATE secrets SET name = 'app/b' WHERE id = ?", arguments: [a])
        try TamperKit.expectIntegrity(naming: "secrets id=\(b) (name app/a)") { try f.admin.reveal("app/a") }
        try TamperKit.expectIntegrity(naming: "secrets id=\(a) (name app/b)") { try f.admin.reveal("app/b") }
        // Nor does a new version go into the other row, nor an export hand out the other value.
        try TamperKit.expectIntegrity(naming: "secrets id=\(b)") { try f.admin.addVersion("app/a", .value(pw("new-value-of-a"))) }
        try TamperKit.expectIntegrity(naming: "secrets id=") { try f.admin.revealEach(["app/a"], purpose: .export) { _, _ in } }
        let problems = try f.admin.check().problems.filter { $0.area == "trust" }.map(\.location)
        #expect(problems.contains("secrets id=\(a) (name app/b)") && problems.contains("secrets id=\(b) (name app/a)"))
    }

    // MARK: Disabled, locked and expired users receive nothing

    @Test func inactiveUsersAreLeftOutOfTheRootRotationAndLoseTheirGrant() throws {
        let f = try Fixture()
        for name in ["dora", "lena", "exa", "olga"] { _ = try f.user(name, roles: ["operator"]) }
        try f.admin.disableUser("dora")
        try f.admin.lockUser("lena")
        try f.admin.setExpiry("exa", at: f.clock.now)
        for name in ["dora", "lena", "exa"] {
            #expect(try f.admin.user(named: name).keyAccess == KeyAccess.none, "\(name) kept a grant")
        }
        let warning = try #require(try f.admin.keyStatus().revocationWarning)
        #expect(warning.contains("dora") && warning.contains("lena") && warning.contains("exa"))
        _ = try f.admin.rotateRootKey()
        let event = try #require(try f.admin.auditEvents(AuditQuery(action: "key.rotate-root")).last)
        #expect(event.details.contains(#""grants":["admin","olga"]"#))
        // Back to active: the key, endorsed before, receives the current root key again.
        try f.admin.enableUser("dora")
        #expect(try f.admin.user(named: "dora").keyAccess == .granted)
        #expect(try f.login("dora", userPassword).hasKeyAccess)
    }
}
