import Foundation
import KeyholdCrypto
import KeyholdStore
import Synchronization

/// One batch of an import, made ready off the writing thread: its entries,
/// their values in guarded memory, and those values sealed as new secrets
/// under the ids they are expected to get.
final class PreparedBatch: @unchecked Sendable {
    var start = 0
    var items: [ImportItem] = []
    /// Plaintexts of the batch, back to back; kept until the batch is written
    /// (in case it must be sealed again), then wiped.
    let values: GuardedBuffer
    var used = 0
    /// The values sealed as version 1 of new secrets with ids `rows.firstID...`.
    var rows = NewSecretRows()
    /// What preparing this batch threw (the source failed or changed).
    var error: Error?

    init(capacity: Int) throws { values = try GuardedBuffer(capacity: capacity) }
}

/// Pass 3 of `Session.importSecrets(from:)` in two stages. A second thread
/// reads each batch from the source and seals it while the caller's thread
/// writes the batch before it, so crypto and the source run beside SQLite
/// (on the second core of a 2-core machine).
///
/// Two batches are in flight at most (two guarded buffers). The source is
/// used by the preparing thread only, from `start()` until `finish()`, which
/// the caller always reaches (it waits for that thread) before it returns.
/// Ids are predicted: the batch after one of n new secrets starts n higher.
/// The writer checks the prediction (and the key) in its transaction and
/// seals again itself when another writer came in between.
final class BatchPreparer: @unchecked Sendable {
    private let source: any ImportSource
    private let batches: [Range<Int>]
    private let key: SecureBytes
    private let names: SecureBytes
    private let keyVersion: Int
    private let firstID: Int64
    private let slots: [PreparedBatch]
    private let free = DispatchSemaphore(value: 2)
    private let ready = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let cancelled = Atomic<Bool>(false)
    private var taken = 0

    init(
        source: any ImportSource, batches: [Range<Int>], capacity: Int, key: SecureBytes, names: SecureBytes, keyVersion: Int,
        firstID: Int64
    ) throws {
        self.source = source
        self.batches = batches
        self.key = key
        self.names = names
        self.keyVersion = keyVersion
        self.firstID = firstID
        slots = [try PreparedBatch(capacity: capacity), try PreparedBatch(capacity: capacity)]
    }

    func start() {
        let thread = Thread { [self] in
            prepareAll()
            finished.signal()
        }
        thread.name = "keyhold.import.seal"
        thread.start()
    }

    /// The next batch, in order; throws what preparing it threw.
    func next() throws -> PreparedBatch {
        ready.wait()
        let batch = slots[taken % 2]
        taken += 1
        if let error = batch.error { throw error }
        return batch
    }

    /// The caller is done with `batch`: its values are wiped and its slot reused.
    func release(_ batch: PreparedBatch) {
        batch.values.wipe(batch.used)
        batch.used = 0
        free.signal()
    }

    /// Stops the preparing thread (if it is still going) and waits for it.
    func finish() {
        cancelled.store(true, ordering: .relaxed)
        free.signal()
        free.signal()
        finished.wait()
        for slot in slots { slot.values.wipe(slot.used) }
    }

    private func prepareAll() {
        let sealer = Sealer(capacity: Validate.secretValueMaxBytes)
        var k = 0
        for range in batches {
            free.wait()
            if cancelled.load(ordering: .relaxed) { return }
            let batch = slots[k % 2]
            k += 1
            do {
                batch.error = nil
                try prepare(batch, range, sealer: sealer)
            } catch {
                batch.error = error
                ready.signal()
                return
            }
            ready.signal()
        }
    }

    private func prepare(_ batch: PreparedBatch, _ range: Range<Int>, sealer: Sealer) throws {
        let start = range.lowerBound
        batch.start = start
        batch.items.removeAll(keepingCapacity: true)
        var used = 0
        for i in range {
            let e = try source.item(at: i)
            guard (1...Validate.secretValueMaxBytes).contains(e.valueCount), used + e.valueCount <= batch.values.capacity else {
                throw KeyholdError.refused("\(e.origin): the import source changed while it was read")
            }
            batch.items.append(e)
            used += e.valueCount
        }
        batch.used = used
        batch.rows.removeAll()
        batch.rows.firstID = firstID + Int64(start)
        batch.rows.keyVersion = keyVersion
        try batch.values.withUnsafeMutableBytes { raw in
            var offset = 0
            for (k, e) in batch.items.enumerated() {
                let value = UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + e.valueCount])
                try source.writeValue(at: start + k, into: value)
                offset += e.valueCount
                try batch.rows.appendSealed(e, value: UnsafeRawBufferPointer(value), key: key, names: names, sealer: sealer)
            }
        }
    }
}

extension NewSecretRows {
    /// Seals `value` as version 1 of the next row's secret (id `firstID + count`, under
    /// `keyVersion`: the AAD names both) and adds the row.
    /// The name gets its tag under `names` (docs/FORMAT.md, "Secret name tags").
    mutating func appendSealed(
        _ e: ImportItem, value: UnsafeRawBufferPointer, key: SecureBytes, names: SecureBytes,
        sealer: Sealer
    ) throws {
        let id = firstID + Int64(count)
        let tag = Trust.nameTag(names, secretID: id, name: e.name)
        try Keyring.withSecretAAD(secretID: id, version: 1, keyVersion: keyVersion) { aad in
            try sealer.seal(value, key: key, aad: aad) { sealed in
                append(name: e.name, description: e.description, ciphertext: sealed, nameTag: tag)
            }
        }
    }
}
