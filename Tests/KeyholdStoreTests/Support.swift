import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdStore

/// Permission bits of a file, or nil if it does not exist.
func permissions(_ path: String) -> Int? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Int(st.st_mode & 0o7777)
}

/// Size in bytes of a file, or nil if it does not exist.
func fileSize(_ path: String) -> Int? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    return Int(st.st_size)
}

func octal(_ mode: Int?) -> String { mode.map { "0" + String($0, radix: 8) } ?? "missing" }

/// schema.sql as it is on disk at the repository root.
func schemaSQLOnDisk() throws -> String {
    try String(contentsOf: Repository.root.appendingPathComponent("schema.sql"), encoding: .utf8)
}

/// A few ordinary writes through the product's API, so the WAL holds frames.
func writeSomeRows(_ store: Store, count: Int = 20, prefix: String = "role") throws {
    try store.write { tx in
        for i in 0..<count {
            try tx.insertRole(
                name: "\(prefix)-\(i)", description: String(repeating: "d", count: 200), builtin: false,
                createdAt: 1_800_000_000_000, permissions: ["users.read", "audit.read"])
        }
    }
}

/// One well-formed audit row (seq 1 unless told), inserted through Tx.
func appendAuditEvent(_ store: Store, seq: Int64 = 1, action: String = "vault.create") throws {
    try store.write { tx in
        try tx.insertAudit(
            AuditRow(
                seq: seq, at: 1_800_000_000_000, actorID: nil, actorName: "admin", actorKeyID: nil,
                action: action, target: "vault", details: "{}",
                prevHash: [UInt8](repeating: 0, count: 32),
                hash: [UInt8](repeating: UInt8(seq & 0xFF), count: 32), signature: nil))
    }
}
