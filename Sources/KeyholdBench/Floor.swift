import Foundation
import KeyholdStore

/// The benchmark's Swift floor: what the same rows cost through the store's own
/// statements, a second reference beside the native floor (bench/floor/floor.c,
/// `NativeFloor`) that the verdicts are against. A database made exactly like a vault (`Store.create`: the schema with
/// its indexes and foreign keys, and `Store.requiredPragmas`: WAL, synchronous
/// FULL, secure_delete ON, ...) gets secrets with one version each; then every
/// version is updated in place (next key version, random bytes of the same
/// size), `batchSize` rows per `Store.write` transaction (BEGIN IMMEDIATE).
/// Both go through the very statements the product runs per row (`Tx`), so
/// the product's time over the floor's is what the core adds: encryption,
/// validation, reading the rows, the audit event and the checks of each batch.
///
/// It lives in the benchmark, not the store: it uses only the store's public
/// API (`Store`, `Tx`), so the product carries none of it, and SQL stays the
/// store's alone.
final class BenchmarkFloor: @unchecked Sendable {
    private let store: Store
    /// Random bytes that stand in for ciphertexts (made once, outside any timing).
    private let pool: [UInt8]
    private static let poolBytes = 1 << 20
    /// Ids of the secrets inserted by `insert`.
    private var ids: ClosedRange<Int64>?

    private init(store: Store, pool: [UInt8]) {
        self.store = store
        self.pool = pool
    }

    /// Creates the floor database at `path` (its directory 0700, as for a vault),
    /// with data keys 1 (decrypt-only) and 2 (active) holding random bytes.
    static func create(at path: String) throws -> BenchmarkFloor {
        let store = try Store.create(at: path)
        // Eight bytes per draw, not one: a system call per byte made a million of them.
        var rng = SystemRandomNumberGenerator()
        var pool: [UInt8] = []
        pool.reserveCapacity(poolBytes)
        while pool.count < poolBytes { withUnsafeBytes(of: rng.next()) { pool.append(contentsOf: $0) } }
        let floor = BenchmarkFloor(store: store, pool: pool)
        try store.write { tx in
            for version in [1, 2] {
                try tx.insertDataKey(
                    DataKeyRow(
                        version: version, sealed: Array(floor.pool[version..<version + 72]),
                        active: version == 2, createdAt: 0))
            }
        }
        return floor
    }

    /// Path of the database file.
    var path: String { store.path }

    /// Inserts the secrets of `batches` (entry `i` named `name(i)`) with one version each under
    /// data key 1, `ciphertextSize(i)` random bytes for entry `i`, one transaction per batch:
    /// the rows an import writes, with the statements it uses, without sealing or auditing.
    func insert(batches: [Range<Int>], name: (Int) -> String, ciphertextSize: (Int) -> Int) throws {
        var rows = NewSecretRows()
        for batch in batches {
            let range = try store.write { tx -> ClosedRange<Int64> in
                rows.removeAll()
                rows.firstID = try tx.nextSecretID()
                rows.keyVersion = 1
                for i in batch {
                    withRandom(ciphertextSize(i), salt: i) {
                        rows.append(name: name(i), description: "", ciphertext: $0, nameTag: Array(repeating: 0, count: 32))
                    }
                }
                if let k = try tx.insertNewSecrets(rows) { throw StoreError.conflict("secret \(batch.lowerBound + k) exists") }
                return rows.firstID...(rows.firstID + Int64(rows.count) - 1)
            }
            ids = ((ids?.lowerBound ?? range.lowerBound)...range.upperBound)
        }
    }

    /// Updates every version `insert` made from data key 1 to data key 2 with fresh random
    /// bytes of the same size, in (secret id, version) order as a rotation goes, `batchSize`
    /// rows per transaction, through the statement rotation uses. Returns the rows updated.
    @discardableResult
    func update(batchSize: Int, ciphertextSize: (Int) -> Int) throws -> Int {
        guard let ids else { return 0 }
        let size = Int64(max(1, batchSize))
        for start in stride(from: ids.lowerBound, through: ids.upperBound, by: Int(size)) {
            try store.write { tx in
                for id in start...min(start + size - 1, ids.upperBound) {
                    let i = Int(id - ids.lowerBound)
                    try withRandom(ciphertextSize(i), salt: i &+ 1_000_003) {
                        try tx.resealVersion(secretID: id, version: 1, keyVersion: 2, ciphertext: $0)
                    }
                }
            }
        }
        return ids.count
    }

    /// Secret versions still under data key 1, and in all.
    func versionCounts() throws -> (underFirstKey: Int, total: Int) {
        try store.read { tx in (try tx.countVersionsBelow(keyVersion: 2), try tx.countVersionsBelow(keyVersion: 3)) }
    }

    /// The SQLite library in use.
    func sqliteVersion() throws -> String { try store.read { try $0.sqliteVersion() } }

    /// Hands `body` `count` bytes of the random pool, starting at a place picked from `salt`.
    private func withRandom<R>(_ count: Int, salt: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let n = min(max(count, 0), pool.count)
        let start = Int(UInt(bitPattern: salt &* 40_503) % UInt(pool.count - n + 1))
        return try pool.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + n])) }
    }
}
