import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// schema.sql makes audit_events append-only on the program's own connection.
@Suite struct AuditTriggerTests {
    /// The trigger's refusal, as the store reports it or as SQLite does on another connection.
    static func isAppendOnlyRefusal(_ error: any Error) -> Bool {
        if let e = error as? StoreError, case .conflict(let message) = e { return message.contains("append-only") }
        if let e = error as? DatabaseError { return e.message?.contains("append-only") == true }
        return false
    }

    func storeWithOneEvent() throws -> (TempDir, Store) {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("vault.db"))
        try appendAuditEvent(store)
        return (dir, store)
    }

    func expectUnchanged(_ store: Store) throws {
        #expect(try store.read { try $0.auditCount() } == 1)
        let row = try store.read { try $0.auditEvent(seq: 1) }
        #expect(row?.action == "vault.create")
        #expect(row?.target == "vault")
    }

    @Test(arguments: [
        "UPDATE audit_events SET action = 'tampered'",
        "UPDATE audit_events SET details = '{\"x\":1}' WHERE seq = 1",
        "UPDATE audit_events SET seq = 2 WHERE seq = 1"
    ])
    func updateThrows(sql: String) throws {
        let (dir, store) = try storeWithOneEvent()
        defer { withExtendedLifetime(dir) {} }
        do {
            try store.unsafeExecute(sql)
            Issue.record("UPDATE of an audit event succeeded")
        } catch {
            #expect(Self.isAppendOnlyRefusal(error), "unexpected error: \(error)")
        }
        try expectUnchanged(store)
    }

    @Test(arguments: ["DELETE FROM audit_events", "DELETE FROM audit_events WHERE seq = 1"])
    func deleteThrows(sql: String) throws {
        let (dir, store) = try storeWithOneEvent()
        defer { withExtendedLifetime(dir) {} }
        do {
            try store.unsafeExecute(sql)
            Issue.record("DELETE of an audit event succeeded")
        } catch {
            #expect(Self.isAppendOnlyRefusal(error), "unexpected error: \(error)")
        }
        try expectUnchanged(store)
    }

    @Test func upsertOverAnEventThrows() throws {
        let (dir, store) = try storeWithOneEvent()
        defer { withExtendedLifetime(dir) {} }
        do {
            try store.unsafeExecute(
                """
                INSERT INTO audit_events (seq, at, actor_name, action, target, details, prev_hash, hash)
                VALUES (1, 0, 'x', 'tampered', 'x', '{}', zeroblob(32), zeroblob(32))
                ON CONFLICT(seq) DO UPDATE SET action = excluded.action
                """)
            Issue.record("an upsert over an audit event succeeded")
        } catch {
            #expect(Self.isAppendOnlyRefusal(error), "unexpected error: \(error)")
        }
        try expectUnchanged(store)
    }

    /// REPLACE deletes the old row without firing DELETE triggers unless
    /// recursive_triggers is on; it must not be a way around the rule.
    @Test func replaceOverAnEventThrows() throws {
        let (dir, store) = try storeWithOneEvent()
        defer { withExtendedLifetime(dir) {} }
        do {
            try store.unsafeExecute(
                """
                INSERT OR REPLACE INTO audit_events (seq, at, actor_name, action, target, details, prev_hash, hash)
                VALUES (1, 0, 'x', 'tampered', 'x', '{}', zeroblob(32), zeroblob(32))
                """)
            Issue.record("INSERT OR REPLACE over an audit event succeeded")
        } catch {
            #expect(Self.isAppendOnlyRefusal(error), "unexpected error: \(error)")
        }
        try expectUnchanged(store)
    }

    @Test func appendingStillWorks() throws {
        let (dir, store) = try storeWithOneEvent()
        defer { withExtendedLifetime(dir) {} }
        try appendAuditEvent(store, seq: 2, action: "user.create")
        #expect(try store.read { try $0.auditCount() } == 2)
        #expect(try store.read { try $0.lastAuditEvent()?.seq } == 2)
    }
}
