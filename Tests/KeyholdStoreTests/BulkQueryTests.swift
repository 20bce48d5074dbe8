import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

@Suite struct BulkQueryTests {
    @Test func firstExistingSecretFindsTheFirstTakenNameInOneQuery() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for name in ["b", "d", "we\"ird\\name"] {
                try tx.insertSecret(
                    SecretRow(
                        name: name, description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil,
                        createdAt: 0, updatedAt: 0))
            }
            #expect(try tx.firstExistingSecret(among: []) == nil)
            #expect(try tx.firstExistingSecret(among: ["a", "c", "e"]) == nil)
            #expect(try tx.firstExistingSecret(among: ["a", "d", "b"]) == 1)
            #expect(try tx.firstExistingSecret(among: ["x\ny", "we\"ird\\name"]) == 1)
        }
    }

    /// Rotation's batch read: by secret and version (the table's order, not the key index's), from
    /// a place or after one; each ciphertext whole, back to back in one buffer; versions under the
    /// target key or above are passed over. The first version left is the oldest key's first.
    @Test func versionsBelowWalkTheTableInOrderIntoOneBuffer() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for v in 1...3 {
                try tx.insertDataKey(DataKeyRow(version: v, sealed: Array(repeating: 7, count: 72), active: v == 3, createdAt: 0))
            }
            // Secret i has version 1 under key 2 - (i % 2) (so 2, 1, 2, 1, ...), of 41 + i bytes, each
            // byte i; secrets 3 and 6 (i = 2, 5) have a second version under key 3, the target.
            for i in 0..<9 {
                let id = try tx.insertSecret(
                    SecretRow(
                        name: "s/\(i)", description: "", currentVersion: 1, historyLimit: nil,
                        rotateBy: nil, createdAt: 0, updatedAt: 0))
                try tx.insertSecretVersion(
                    SecretVersionRow(
                        secretID: id, version: 1, keyVersion: 2 - i % 2,
                        ciphertext: Array(repeating: UInt8(i), count: 41 + i), createdAt: 0, createdBy: nil))
                if i % 3 == 2 {
                    try tx.insertSecretVersion(
                        SecretVersionRow(
                            secretID: id, version: 2, keyVersion: 3, ciphertext: [9], createdAt: 0, createdBy: nil))
                }
            }
            let start = VersionBatch.Position(secretID: 0, version: 0)
            let all = try tx.versionsBelow(keyVersion: 3, from: start, limit: 100)
            #expect(all.keys.map(\.secretID) == Array(1...9))
            #expect(all.keys.map(\.version) == Array(repeating: 1, count: 9))
            #expect(all.keys.map(\.keyVersion) == [2, 1, 2, 1, 2, 1, 2, 1, 2])
            for (k, key) in all.keys.enumerated() {
                let i = Int(key.secretID) - 1
                #expect(Array(all.bytes[all.range(of: k)]) == Array(repeating: UInt8(i), count: 41 + i))
            }
            #expect(all.bytes.count == all.keys.reduce(0) { $0 + 41 + Int($1.secretID) - 1 })
            // Page by page: from a place includes it, after a place leaves it out.
            let first = try tx.versionsBelow(keyVersion: 3, from: VersionBatch.Position(secretID: 3, version: 1), limit: 2)
            #expect(first.keys.map(\.secretID) == [3, 4] && first.last == VersionBatch.Position(secretID: 4, version: 1))
            let next = try tx.versionsBelow(keyVersion: 3, after: try #require(first.last), limit: 10)
            #expect(next.keys.map(\.secretID) == [5, 6, 7, 8, 9])
            #expect(try tx.versionsBelow(keyVersion: 3, after: VersionBatch.Position(secretID: 9, version: 1), limit: 10).isEmpty)
            // Only key 1 is older than 2: every other row is passed over.
            #expect(try tx.versionsBelow(keyVersion: 2, from: start, limit: 10).keys.map(\.secretID) == [2, 4, 6, 8])
            #expect(try tx.versionsBelow(keyVersion: 1, from: start, limit: 10).isEmpty)
            // Where work starts: the oldest key's first version (secret 2), not the table's first row.
            #expect(try tx.firstVersionBelow(keyVersion: 3) == VersionBatch.Position(secretID: 2, version: 1))
            #expect(try tx.firstVersionBelow(keyVersion: 1) == nil)
        }
    }

    /// Hex as audit details and messages show ids, keys and digests: two lower-case digits a byte.
    @Test func hexIsTwoLowerCaseDigitsAByte() {
        #expect(Store.hex([]) == "")
        #expect(Store.hex([0x00, 0x01, 0x0a, 0x7f, 0xab, 0xff]) == "00010a7fabff")
        #expect(Store.hex(Array(0...255)) == (0...255).map { String(format: "%02x", $0) }.joined())
    }

    @Test func newSecretsGoInManyRowsPerStatementWithTheirIDs() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            try tx.insertDataKey(DataKeyRow(version: 1, sealed: Array(repeating: 7, count: 72), active: true, createdAt: 0))
            // An id used once and deleted is never given again.
            let old = try tx.insertSecret(
                SecretRow(
                    name: "old", description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil,
                    createdAt: 0, updatedAt: 0))
            try tx.deleteSecret(id: old)
            #expect(try tx.nextSecretID() == old + 1)
            var rows = NewSecretRows()
            rows.firstID = try tx.nextSecretID()
            rows.keyVersion = 1
            rows.createdAt = 5
            // 2 full statements and a partial one.
            for i in 0..<(Tx.rowsPerInsert * 2 + 7) {
                let c: [UInt8] = Array(repeating: UInt8(i % 256), count: 40 + i % 3)
                c.withUnsafeBytes {
                    rows.append(
                        name: "n/\(i)", description: i == 3 ? "third" : "", ciphertext: $0,
                        nameTag: Array(repeating: UInt8(i % 256), count: 32))
                }
            }
            #expect(try tx.insertNewSecrets(rows) == nil)
            for i in [0, 3, Tx.rowsPerInsert, Tx.rowsPerInsert * 2 + 6] {
                let s = try #require(try tx.secret(named: "n/\(i)"))
                #expect(try tx.secretNameTag(id: s.id) == Array(repeating: UInt8(i % 256), count: 32))
                #expect(s.id == rows.firstID + Int64(i) && s.currentVersion == 1 && s.lastVersion == 1 && s.createdAt == 5)
                #expect(s.description == (i == 3 ? "third" : ""))
                let v = try #require(try tx.secretVersion(secretID: s.id, version: 1))
                #expect(v.ciphertext == Array(repeating: UInt8(i % 256), count: 40 + i % 3) && v.keyVersion == 1)
            }
            #expect(try tx.nextSecretID() == rows.firstID + Int64(rows.count))

            // A name that exists: the index of its row comes back (the caller rolls back).
            var again = NewSecretRows()
            again.firstID = try tx.nextSecretID()
            again.keyVersion = 1
            for name in (0..<60).map({ "m/\($0)" }) + ["n/5"] + ["m/last"] {
                [UInt8(1)].withUnsafeBytes {
                    again.append(name: name, description: "", ciphertext: $0, nameTag: [UInt8](repeating: 1, count: 32))
                }
            }
            #expect(try tx.insertNewSecrets(again) == 60)
        }
    }

    @Test func jsonArrayEscapes() {
        #expect(Tx.jsonArray(["a", "q\"b\\", "\u{1}"]) == #"["a","q\"b\\","\u0001"]"#)
    }
}

@Suite struct DueQueryTests {
    func store(_ dir: TempDir) throws -> Store {
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for (i, date) in [nil, 30, 10, 20, 10, nil, 40].enumerated() {
                try tx.insertSecret(
                    SecretRow(
                        name: "s\(i)", description: "", currentVersion: 1, historyLimit: nil,
                        rotateBy: date.map(Int64.init), createdAt: 0, updatedAt: 0))
            }
        }
        return store
    }

    @Test func secretsDueCountsTheRangeAndListsTheFirstByDateThenName() throws {
        let dir = TempDir()
        let store = try store(dir)
        try store.read { tx in
            let due = try tx.secretsDue(in: Int64.min...20, limit: 2)
            #expect(due.count == 3)
            #expect(due.first.map(\.name) == ["s2", "s4"] && due.first.map(\.rotateBy) == [10, 10])
            let later = try tx.secretsDue(in: 21...40, limit: 5)
            #expect(later.count == 2 && later.first.map(\.name) == ["s1", "s6"])
            #expect(try tx.secretsDue(in: 41...Int64.max, limit: 5).count == 0)
        }
    }

    /// Over 100,000 secrets a table scan costs the dashboard tens of ms: both queries must use the index.
    @Test func secretsDueSearchesTheRotateByIndex() throws {
        let dir = TempDir()
        let store = try store(dir)
        // The statements of Tx.secretsDue.
        for (sql, arguments) in [
            ("SELECT count(*) FROM secrets WHERE rotate_by BETWEEN ? AND ?", [0, 100]),
            (
                "SELECT name, rotate_by FROM secrets WHERE rotate_by BETWEEN ? AND ? ORDER BY rotate_by, name LIMIT ?",
                [0, 100, 5]
            )
        ] {
            let plan = try store.unsafeQuery("EXPLAIN QUERY PLAN " + sql, arguments: arguments).compactMap { $0["detail"] as? String }
            #expect(plan.contains { $0.contains("USING") && $0.contains("INDEX secrets_by_rotate_by") }, "\(plan)")
            #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "sorted by the index, not afterwards: \(plan)")
        }
    }

    /// The dashboard's key check asks which data keys are in use: a seek of the key_version index
    /// per key (Tx.keyVersionsInUse), where a GROUP BY walked a million rows.
    @Test func keyVersionsInUseSeeksTheKeyVersionIndex() throws {
        let dir = TempDir()
        let store = try store(dir)
        let sql = "SELECT key_version FROM secret_versions WHERE key_version > ? ORDER BY key_version LIMIT 1"
        let plan = try store.unsafeQuery("EXPLAIN QUERY PLAN " + sql, arguments: [0]).compactMap { $0["detail"] as? String }
        #expect(plan.contains { $0.contains("SEARCH") && $0.contains("INDEX secret_versions_by_key (key_version>?)") }, "\(plan)")
        #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(plan)")
    }
}

@Suite struct ListingOrderTests {
    /// Names whose order differs between bytes, case-folded bytes and a naive comparison.
    static let names = [
        "b", "B2", "a", "A1", "_x", "a_b", "a9", "a10", "Zed", "zed2", "x.y", "x-y", "x/y", "é", "aa", "aB", "ab0", "Ab1", "0", "~"
    ]

    @Test func wholeListingsSortedInSwiftAgreeWithSQLitesCollations() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("v.db"))
        try store.write { tx in
            for (i, name) in Self.names.enumerated() {
                try tx.insertSecret(
                    SecretRow(
                        name: name, description: "", currentVersion: 1, historyLimit: nil, rotateBy: nil,
                        createdAt: 0, updatedAt: 0))
                try tx.insertUser(
                    UserRow(
                        username: "u" + name + String(i), email: nil, displayName: "", passwordHash: "x",
                        mustChange: false, passwordExpiresAt: nil, createdAt: 0, updatedAt: 0))
            }
            // Without a limit the rows are sorted here; with one, by SQLite's ORDER BY.
            let whole = try tx.secrets().map(\.name), paged = try tx.secrets(limit: 1000).map(\.name)
            #expect(whole == paged)
            #expect(whole.first == "0" && whole.last == "é")
            #expect(try #require(whole.firstIndex(of: "Zed")) < (try #require(whole.firstIndex(of: "a"))), "BINARY: capitals first")
            #expect(try tx.secrets(prefix: "a").map(\.name) == (try tx.secrets(prefix: "a", limit: 100).map(\.name)))
            let users = try tx.users().map(\.username), usersPaged = try tx.users(UserQuery(limit: 1000)).map(\.username)
            #expect(users == usersPaged)
            let capital = try #require(users.firstIndex(of: "uA13")), lower = try #require(users.firstIndex(of: "ua_b5"))
            #expect(capital < lower, "NOCASE: A and a alike, then bytes ('1' before '_')")
            #expect(try #require(users.firstIndex(of: "uB21")) > (try #require(users.firstIndex(of: "ub0"))), "NOCASE: b0 before B2")
            #expect(try tx.users(UserQuery(text: "a")).map(\.username) == (try tx.users(UserQuery(text: "a", limit: 1000)).map(\.username)))
        }
    }
}
