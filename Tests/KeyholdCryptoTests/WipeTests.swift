import Testing
import KeyholdTestSupport
@testable import KeyholdCrypto

/// Guarded memory leaves nothing behind: each test puts a random needle into a buffer, finds
/// it in the process's memory while the buffer holds it (the control: the scan sees guarded
/// memory, read-only or PROT_NONE), then releases, wipes or grows the buffer and finds no copy
/// anywhere. The needle's own allocation is the only place the scan skips.
@Suite struct WipeTests {
    /// A copy of `needle` in a new SecureBytes, made from guarded memory to guarded memory.
    static func copy(_ needle: SecureBytes) throws -> SecureBytes {
        try SecureBytes(count: needle.count) { out in needle.withBytes { out.copyMemory(from: $0) } }
    }

    static func address(_ bytes: SecureBytes) -> UInt { bytes.withBytes { UInt(bitPattern: $0.baseAddress) } }

    @Test func releasedSecureBytesLeaveNoCopy() throws {
        let needle = try SecureBytes(random: 32)
        var held: SecureBytes? = try Self.copy(needle)
        let at = held.map(Self.address) ?? 0
        let whileHeld = MemoryScan.find(needle)
        #expect(MemoryScan.copies(whileHeld) == [at], "the scan should find exactly the held copy: \(whileHeld)")
        held = nil
        let afterRelease = MemoryScan.find(needle)
        #expect(afterRelease.isEmpty, "copies left after release: \(afterRelease)")
    }

    /// `init(capacity:fill:)` keeps what `fill` says it wrote and zeroes the rest of the allocation.
    @Test func capacityInitZeroesWhatItDoesNotKeep() throws {
        let needle = try SecureBytes(random: 32)
        func make(keeping kept: Int) throws -> SecureBytes {
            try SecureBytes(capacity: 128) { out in
                // The needle at 64..<96, past what is kept unless everything is.
                needle.withBytes { (out.baseAddress! + 64).copyMemory(from: $0.baseAddress!, byteCount: 32) }
                return kept
            }
        }
        let whole = try make(keeping: 128)
        #expect(whole.count == 128)
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "control: the needle kept in the allocation is found")
        let short = try make(keeping: 10)
        #expect(short.count == 10)
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "only the whole one holds it; the short one zeroed its tail")
        _ = (whole, short)
    }

    /// Growing moves the bytes to a new guarded allocation and frees the old one zeroed:
    /// one copy while it lives, none after.
    @Test func secureBufferGrowsWithoutLeavingCopies() throws {
        let needle = try SecureBytes(random: 32)
        var buffer: SecureBuffer? = try SecureBuffer(capacity: 8)
        try needle.withBytes { try buffer?.append($0) }
        let filler = [UInt8](repeating: 0x2E, count: 1000)
        for _ in 0..<20 { try buffer?.append(contentsOf: filler) }  // moves several times
        #expect((buffer?.capacity ?? 0) >= 20_032)
        let whileHeld = MemoryScan.find(needle)
        #expect(MemoryScan.copies(whileHeld).count == 1, "one copy (the buffer's) while it lives: \(whileHeld)")
        buffer = nil
        let afterRelease = MemoryScan.find(needle)
        #expect(afterRelease.isEmpty, "copies left after growth and release: \(afterRelease)")
    }

    @Test func secureBufferRemoveAllAndTruncateZeroInPlace() throws {
        let needle = try SecureBytes(random: 32)
        let buffer = try SecureBuffer(capacity: 256)
        try buffer.append(contentsOf: [1, 2, 3])
        try needle.withBytes { try buffer.append($0) }
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "control: found in the buffer")
        buffer.truncate(to: 3)
        #expect(buffer.count == 3 && buffer.capacity == 256)
        #expect(MemoryScan.find(needle).isEmpty, "truncate left the dropped bytes")
        try needle.withBytes { try buffer.append($0) }
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "control: found again")
        buffer.removeAll()
        #expect(buffer.count == 0)
        #expect(MemoryScan.find(needle).isEmpty, "removeAll left the bytes")
    }

    /// `appendReading` reads straight into the buffer (as read(2) does) and counts what was written.
    @Test func secureBufferAppendReading() throws {
        let buffer = SecureBuffer()
        let n = try buffer.appendReading(atLeast: 16) { room in
            #expect(room.count >= 16)
            for i in 0..<5 { room[i] = UInt8(65 + i) }
            return 5
        }
        #expect(n == 5 && buffer.count == 5)
        #expect(Array(buffer.bytes) == Array("ABCDE".utf8))
        #expect(try buffer.appendReading(atLeast: 1) { _ in 0 } == 0 && buffer.count == 5)
        #expect(try buffer.appendReading(atLeast: 1) { _ in -1 } == -1 && buffer.count == 5, "a failed read adds nothing")
    }

    /// GuardedBuffer is PROT_NONE between uses, which /proc/self/mem (an attacker with ptrace
    /// rights) still reads: its `wipe` must zero it.
    @Test func guardedBufferWipeZeroes() throws {
        let needle = try SecureBytes(random: 32)
        let buffer = try GuardedBuffer(capacity: 64)
        buffer.withUnsafeMutableBytes { out in needle.withBytes { (out.baseAddress! + 16).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "control: found in the PROT_NONE buffer")
        buffer.wipe()
        #expect(MemoryScan.find(needle).isEmpty, "wipe left the bytes")
    }

    /// The recovery key's typed form is made and read in guarded memory: once the key and its
    /// text are released, neither the text nor the key is anywhere in the process.
    @Test func recoveryKeyTextLeavesNoCopy() throws {
        let key = try RecoveryKey.generate()
        var text: SecureBytes? = try RecoveryKey.encodeGuarded(key)
        let needle = try Self.copy(try #require(text))
        var parsed: SecureBytes? = try RecoveryKey.parse(typed: try #require(text))
        #expect(parsed.map { $0.constantTimeEquals(key) } == true)
        #expect(MemoryScan.copies(MemoryScan.find(needle)).count == 1, "control: the text is found while held")
        let keyCopies = MemoryScan.copies(MemoryScan.find(key)).count
        #expect(keyCopies == 1, "the parsed key, while held")
        text = nil
        parsed = nil
        #expect(MemoryScan.find(needle).isEmpty, "copies of the typed form left")
        #expect(MemoryScan.find(key).isEmpty, "copies of the key left")
    }
}
