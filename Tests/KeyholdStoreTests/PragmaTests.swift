import Foundation
import GRDB
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// Every connection runs with these settings.
@Suite struct PragmaTests {
    static let expected: [(name: String, value: String)] = [
        ("journal_mode", "wal"),
        ("synchronous", "2"),  // FULL
        ("foreign_keys", "1"),
        ("secure_delete", "1"),
        ("trusted_schema", "0"),
        ("recursive_triggers", "1"),  // so REPLACE fires the audit log's DELETE trigger
        ("cache_size", "-8192"),  // 8 MiB, fixed: bulk work is faster, memory stays bounded
        ("busy_timeout", "5000")  // milliseconds
    ]

    @Test(arguments: expected)
    func pragmaOnACreatedVault(name: String, value: String) throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("vault.db"))
        let actual = try store.pragmaValues()[name]
        #expect(actual == value, "PRAGMA \(name) after create is \(actual ?? "missing"), expected \(value)")
    }

    @Test(arguments: expected)
    func pragmaAfterCloseAndReopen(name: String, value: String) throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do {
            let store = try Store.create(at: path)
            try writeSomeRows(store, count: 2)
        }  // the only connection closes here
        let reopened = try Store.open(at: path)
        let actual = try reopened.pragmaValues()[name]
        #expect(actual == value, "PRAGMA \(name) after reopen is \(actual ?? "missing"), expected \(value)")
    }

    @Test func pragmaValuesReportsEveryRequiredSetting() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("vault.db"))
        let keys = Set(try store.pragmaValues().keys)
        #expect(keys.isSuperset(of: Self.expected.map(\.name)))
        #expect(Set(Store.requiredPragmas.map(\.name)).isSuperset(of: Self.expected.map(\.name).filter { $0 != "busy_timeout" }))
        #expect(Store.busyTimeout == 5)
        try store.assertPragmas()
    }

    /// Read through an independent connection: WAL is recorded in the file
    /// itself, and the settings hold while the product's connection is open.
    @Test func walIsPersistedInTheFile() throws {
        let dir = TempDir()
        let path = dir.file("vault.db")
        do { _ = try Store.create(at: path) }
        let independent = try DatabaseQueue(path: path)
        let mode = try independent.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode?.lowercased() == "wal")
    }

    @Test func foreignKeysAreEnforced() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("vault.db"))
        // Through the store's own connection: a row naming a user and role that do not exist.
        #expect(throws: StoreError.self) {
            try store.write { try $0.addUserRole(userID: 999, roleID: 999) }
        }
    }
}
