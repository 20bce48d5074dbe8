import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

/// docs/SECURITY.md, "What deletion promises": after deletions and rotation, no plaintext of any secret
/// and no ciphertext of a deleted secret or destroyed key is left in any of
/// the vault's files, byte for byte.
@Suite struct SecureDeletionTests {
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count > 0, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    func files(_ path: String) -> [(name: String, bytes: [UInt8])] {
        ["", "-wal", "-shm", "-journal"].compactMap { suffix in
            FileManager.default.contents(atPath: path + suffix).map { (suffix.isEmpty ? "db" : suffix, [UInt8]($0)) }
        }
    }

    func blobs(_ f: Fixture, _ sql: String) throws -> [[UInt8]] {
        try f.vault.store.unsafeQuery(sql).flatMap { row in row.values.compactMap { $0 as? [UInt8] } }
    }

    @Test func noPlaintextAndNoDeletedCiphertextRemainInAnyFile() throws {
        let f = try Fixture()
        var plaintexts: [String] = []
        func value(_ tag: String) -> String {
            let v = "PLAINTEXT-\(tag)-\(UUID().uuidString)"
            plaintexts.append(v)
            return v
        }
        for i in 0..<60 { try f.admin.createSecret("keep/\(i)", .value(pw(value("keep\(i)")))) }
        for i in 0..<20 { try f.admin.createSecret("drop/\(i)", .value(pw(value("drop\(i)")))) }
        for i in 0..<10 { try f.admin.addVersion("keep/\(i)", .value(pw(value("v2-\(i)")))) }
        let operatorName = "olivia"
        _ = try f.user(operatorName, roles: ["operator"])

        // What will be deleted or destroyed, captured first.
        var gone: [(what: String, bytes: [UInt8])] = []
        for i in 0..<20 {
            let id = try f.vault.store.unsafeQuery("SELECT id FROM secrets WHERE name = ?", arguments: ["drop/\(i)"])[0]["id"]!! as! Int64
            gone += try blobs(f, "SELECT ciphertext FROM secret_versions WHERE secret_id = \(id)").map { ("secret drop/\(i)", $0) }
        }
        let keepOneID = try f.vault.store.unsafeQuery("SELECT id FROM secrets WHERE name = 'keep/1'")[0]["id"]!! as! Int64
        gone += try blobs(f, "SELECT ciphertext FROM secret_versions WHERE secret_id = \(keepOneID) AND version = 1").map {
            ("version keep/1 v1", $0)
        }
        gone += try blobs(f, "SELECT sealed FROM data_keys WHERE version = 1").map { ("data key 1", $0) }
        // Every ciphertext now stored is re-sealed by the rotation: the old bytes must go too.
        gone += try blobs(f, "SELECT ciphertext FROM secret_versions").map { ("pre-rotation ciphertext", $0) }
        let oliviaID = try f.vault.store.unsafeQuery("SELECT id FROM users WHERE username = 'olivia'")[0]["id"]!! as! Int64
        gone += try blobs(f, "SELECT sealed_root FROM grants WHERE user_id = \(oliviaID)").map { ("olivia's grant", $0) }
        gone += try blobs(f, "SELECT sealed_secret_key FROM user_keys WHERE user_id = \(oliviaID)").map { ("olivia's secret key", $0) }

        for i in 0..<20 { #expect(try f.admin.deleteSecret("drop/\(i)").checkpointed) }
        #expect(try f.admin.deleteVersion("keep/1", version: 1).checkpointed)
        #expect(try f.admin.rotateDataKey(batchSize: 16).checkpointed)
        #expect(try f.admin.deleteUser(operatorName).checkpointed)
        _ = try f.admin.rotateRootKey()

        let vaultFiles = files(f.vault.path)
        #expect(vaultFiles.contains { $0.name == "db" })
        var found: [String] = []
        for file in vaultFiles {
            for (i, p) in plaintexts.enumerated() where Self.contains(file.bytes, Array(p.utf8)) {
                found.append("plaintext #\(i) in \(file.name)")
            }
            for g in gone where Self.contains(file.bytes, g.bytes) { found.append("\(g.what) in \(file.name)") }
        }
        #expect(found.isEmpty, "left behind: \(Set(found).sorted().prefix(10))")
        // The scan can find things: the surviving ciphertexts are there.
        let current = try blobs(f, "SELECT ciphertext FROM secret_versions")
        #expect(current.count == 69)
        let all = vaultFiles.flatMap(\.bytes)
        #expect(current.allSatisfy { Self.contains(all, $0) })
    }

    /// The name indexes (schema.sql, migration 7) forget a deleted secret's name and a deleted
    /// user's names: none of their trigrams is left in the index's tables, nor on any page of
    /// the file but the audit log's (which names what was deleted, by design: SECURITY.md).
    @Test func deletedNamesLeaveNoTrigramInTheNameIndexes() throws {
        let f = try Fixture()
        for i in 0..<30 { try f.admin.createSecret("keep/\(i)/service-abc", .value(pw("v\(i)"))) }
        try f.admin.createSecret("drop/QZ.K.X.WJ", .value(pw("gone")))
        _ = try f.admin.createUser(username: "leaver", email: "w.q@j.z.example", displayName: "Vxyzzy Quux", roles: [])
        for i in 30..<40 { try f.admin.createSecret("keep/\(i)/service-abc", .value(pw("v\(i)"))) }
        // Trigrams (FTS5 keeps them in lower case) found nowhere else in the vault but in what is
        // deleted: none made of digits or of base64 or hex alone, which the vault's hashes, salts and
        // fingerprints hold by chance (a digit trigram once turned up on another page).
        let gone = ["z.k", ".k.", "k.x", ".x.", "x.w", ".wj", "w.q", ".q@", "q@j", "@j.", "j.z", "vxy", "xyz", "yzz", "zzy"]
        func traces() throws -> [String] {
            var found: [String] = []
            for table in ["secret_names_data", "secret_names_idx", "user_names_data", "user_names_idx"] {
                for row in try f.vault.store.unsafeQuery("SELECT * FROM \(table)") {
                    for case let bytes as [UInt8] in row.values {
                        for g in gone where Self.contains(bytes, Array(g.utf8)) { found.append("\(g) in \(table)") }
                    }
                }
            }
            // The file page by page, leaving out the audit log's pages.
            let audit = Set(
                try f.vault.store.unsafeQuery(
                    """
                    SELECT pageno FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = 'audit_events')
                    """
                ).compactMap { $0["pageno"] as? Int64 })
            let size = Int(try f.vault.store.unsafeQuery("PRAGMA page_size").first?["page_size"] as? Int64 ?? 4096)
            let file = try #require(FileManager.default.contents(atPath: f.path).map([UInt8].init))
            for (k, start) in stride(from: 0, to: file.count, by: size).enumerated() where !audit.contains(Int64(k + 1)) {
                let page = Array(file[start..<min(file.count, start + size)])
                for g in gone where Self.contains(page, Array(g.utf8)) { found.append("\(g) on page \(k + 1)") }
            }
            return found
        }
        #expect(try f.vault.store.checkpointTruncate().blocked == false)
        #expect(try !traces().isEmpty, "the scan finds the names while they are there")
        #expect(try f.admin.deleteSecret("drop/QZ.K.X.WJ").checkpointed)
        #expect(try f.admin.deleteUser("leaver").checkpointed)
        let left = try traces()
        #expect(left.isEmpty, "left behind: \(left.sorted())")
        #expect(try f.admin.secretCount(.contains("SERVICE-ABC")) == 40)
        #expect(FileManager.default.contents(atPath: f.path + "-wal").map(\.isEmpty) ?? true, "the WAL was truncated")
    }
}
