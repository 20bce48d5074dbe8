import Foundation
import KeyholdCore
import KeyholdCrypto
import KeyholdStore

/// Someone who can write the vault file, knows the format (docs/FORMAT.md) and has no
/// password: what they can do with raw SQL and their own keys. Every promise of
/// docs/SECURITY.md, "Trust in the file", is one of their attacks failing.
public struct Attacker {
    public let store: Store
    public let clock: TestClock
    public let pair: SigningKeyPair
    public let password = "the attacker's own password 42"

    /// Works on the vault file at `path` through a connection of its own, as another program would.
    public init(path: String, clock: TestClock = TestClock()) throws {
        try self.init(try Store.open(at: path), clock: clock)
    }

    public init(_ store: Store, clock: TestClock) throws {
        pair = try SigningKeyPair.generate()
        self.store = store
        self.clock = clock
    }

    private func int(_ sql: String, _ arguments: [(any Sendable)?] = []) throws -> Int64 {
        guard let v = try store.unsafeQuery(sql, arguments: arguments).first?.values.first, let n = v as? Int64 else {
            throw TestFailure("no integer from \(sql)")
        }
        return n
    }

    /// A user of their own making: a known password, their key pair (sealed as Keyhold would,
    /// pinned to this vault from public data), roles, and a pending grant asking for R.
    @discardableResult
    public func plantUser(_ name: String, roles: [String], pendingGrant: Bool = true) throws -> (userID: Int64, keyID: Int64) {
        let now = clock.now
        let hash = try PasswordHash.hash(SecureBytes(utf8: password), cost: .insecureMinimumForTests)
        try store.unsafeExecute(
            "INSERT INTO users (username, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)",
            arguments: [name, hash, now, now])
        let userID = try int("SELECT id FROM users WHERE username = ?", [name])
        let keyID = try plantKey(for: userID, username: name)
        try store.unsafeExecute("UPDATE users SET key_id = ? WHERE id = ?", arguments: [keyID, userID])
        for role in roles {
            try store.unsafeExecute(
                "INSERT INTO user_roles (user_id, role_id) SELECT ?, id FROM roles WHERE name = ?",
                arguments: [userID, role])
        }
        if pendingGrant {
            try store.unsafeExecute(
                "INSERT INTO grants (user_id, key_id, sealed_root, created_at) VALUES (?, ?, NULL, ?)",
                arguments: [userID, keyID, now])
        }
        return (userID, keyID)
    }

    /// A key row of theirs for any user, sealed under their own password and pinned with public data.
    public func plantKey(for userID: Int64, username: String) throws -> Int64 {
        try store.unsafeExecute(
            "INSERT INTO user_keys (user_id, username, public_key, created_at) VALUES (?, ?, ?, ?)",
            arguments: [userID, username, pair.publicKey, clock.now])
        let keyID = try int("SELECT max(id) FROM user_keys")
        let salt = Sodium.randomBytes(PasswordHash.saltBytes)
        let u = try PasswordHash.deriveKey(SecureBytes(utf8: password), salt: salt, cost: .insecureMinimumForTests)
        let sealed = try Seal.seal(pair.secretKey, key: u, aad: "keyhold/userkey/\(userID)/\(keyID)")
        let pin = pair.sign(try pinMessage(userID: userID, keyID: keyID))
        try store.unsafeExecute(
            """
            UPDATE user_keys SET sealed_secret_key = ?, kdf_salt = ?, kdf_opslimit = ?, kdf_memlimit = ?, pin = ? WHERE id = ?
            """,
            arguments: [
                sealed, salt, Int64(KDFCost.insecureMinimumForTests.opslimit),
                Int64(KDFCost.insecureMinimumForTests.memlimit), pin, keyID
            ])
        return keyID
    }

    /// docs/FORMAT.md 8.2, from the file's public rows, as an attacker computes it (no code of Keyhold's).
    func pinMessage(userID: Int64, keyID: Int64) throws -> [UInt8] {
        guard let vault = try store.unsafeQuery("SELECT vault_id, anchor_seq FROM vault").first,
            let vaultID = (vault["vault_id"] ?? nil) as? [UInt8], let seq = (vault["anchor_seq"] ?? nil) as? Int64,
            let anchor = try store.unsafeQuery("SELECT hash FROM audit_events WHERE seq = ?", arguments: [seq]).first,
            let hash = (anchor["hash"] ?? nil) as? [UInt8]
        else { throw TestFailure("no anchor to pin to") }
        func u64(_ v: Int64) -> [UInt8] { (0..<8).map { UInt8((UInt64(bitPattern: v) >> UInt64(56 - 8 * $0)) & 0xFF) } }
        return Array("keyhold/pin/v1".utf8) + [0] + vaultID + u64(seq) + hash + u64(userID) + u64(keyID) + pair.publicKey
    }

    /// docs/FORMAT.md section 6: BLAKE2b-256(prev_hash || canonical).
    static func hash(_ e: AuditRow) -> [UInt8] {
        var out = Array("keyhold/audit/v1".utf8) + [0]
        func field(_ s: String) {
            let b = Array(s.utf8)
            let n = UInt32(b.count)
            out += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + b
        }
        for f in [
            String(e.seq), String(e.at), e.actorID.map(String.init) ?? "", e.actorName, e.actorKeyID.map(String.init) ?? "",
            e.action, e.target, e.details
        ] { field(f) }
        return Hash.blake2b256(e.prevHash + out)
    }

    /// Whether any grant in the file opens with the attacker's key.
    public func opensAnyGrant() throws -> Bool {
        for row in try store.unsafeQuery("SELECT sealed_root FROM grants WHERE sealed_root IS NOT NULL") {
            if let sealed = (row["sealed_root"] ?? nil) as? [UInt8], (try? SealedBox.open(sealed, with: pair)) != nil { return true }
        }
        return false
    }

    /// Appends an event, chained and hashed as Keyhold does, signed with the attacker's key.
    public func appendEvent(actorID: Int64?, actorName: String, keyID: Int64, action: String, target: String, details: String) throws {
        guard let last = try store.read({ try $0.lastAuditEvent() }) else { throw TestFailure("no audit events") }
        var row = AuditRow(
            seq: last.seq + 1, at: clock.now, actorID: actorID, actorName: actorName, actorKeyID: keyID,
            action: action, target: target, details: details, prevHash: last.hash, hash: [], signature: nil)
        row.hash = Attacker.hash(row)
        row.signature = pair.sign(row.hash)
        try store.unsafeExecute(
            """
            INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details, prev_hash, hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            arguments: [
                row.seq, row.at, row.actorID, row.actorName, row.actorKeyID, row.action, row.target, row.details,
                row.prevHash, row.hash, row.signature
            ])
    }
}

extension Attacker {
    /// Rewrites the schema the file holds (PRAGMA writable_schema, as any SQLite client may) so
    /// that `column` of `table` takes NULL and any type: the column's NOT NULL and the table's
    /// STRICT dropped, the rows left as they are. Then `UPDATE`s can write what the schema
    /// Keyhold made forbids.
    public func loosen(_ table: String, _ column: String) throws {
        guard
            let sql = try store.unsafeQuery(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                arguments: [table]
            ).first?["sql"] as? String
        else {
            throw TestFailure("no table \(table)")
        }
        // The column's definition: at the start of a line, or after a comma (a column added by
        // ALTER TABLE is appended to the table's SQL on its line).
        guard
            let definition = sql.range(
                of: "[\n,(]\\s*\(column) [^,\n]*NOT NULL", options: .regularExpression),
            let notNull = sql.range(of: "NOT NULL", range: definition)
        else { throw TestFailure("no NOT NULL column \(column) in \(table)") }
        let loose = sql.replacingCharacters(in: notNull, with: "").replacingOccurrences(of: ") STRICT", with: ")")
        guard let version = try store.unsafeQuery("PRAGMA schema_version").first?["schema_version"] as? Int64 else {
            throw TestFailure("no schema version")
        }
        // The schema version raised, so that connections already open read the schema again.
        try store.unsafeExecute(
            """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?;
            PRAGMA schema_version = \(version + 1);
            PRAGMA writable_schema = OFF
            """, arguments: [loose, table])
    }

    /// `loosen(table, column)`, then writes `value` (which the schema Keyhold made forbids) into
    /// `column` of the rows `condition` picks (SQL after WHERE, with `arguments`).
    public func plant(
        _ value: (any Sendable)?, in table: String, _ column: String, where condition: String = "1",
        _ arguments: [(any Sendable)?] = []
    ) throws {
        try loosen(table, column)
        try store.unsafeExecute("UPDATE \(table) SET \(column) = ? WHERE \(condition)", arguments: [value] + arguments)
    }

    /// Sets `column` of audit event `seq` to `value` (the append-only trigger dropped for the
    /// update, then put back, as anyone who can write the file can).
    public func rewriteAuditEvent(seq: Int64, _ column: String, to value: (any Sendable)?) throws {
        guard let trigger = try store.unsafeQuery("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").first?["sql"] as? String
        else {
            throw TestFailure("no audit_no_update trigger")
        }
        try store.unsafeExecute("DROP TRIGGER audit_no_update")
        try store.unsafeExecute("UPDATE audit_events SET \(column) = ? WHERE seq = ?", arguments: [value, seq])
        try store.unsafeExecute(trigger)
    }
}
