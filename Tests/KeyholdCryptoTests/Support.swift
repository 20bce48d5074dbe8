import Testing
@testable import KeyholdCrypto

// Helpers shared by the crypto tests. Nothing here prints key or plaintext
// bytes: comparisons are reduced to a Bool before they reach #expect, so a
// failure shows `false`, never the bytes.

/// Whether a SecureBytes holds exactly `bytes` (compared in constant time).
func holds(_ secure: SecureBytes, _ bytes: [UInt8]) throws -> Bool {
    secure.constantTimeEquals(try SecureBytes(copying: bytes))
}

/// A copy of `bytes` with bit 0 of byte `index` flipped.
func flipping(_ bytes: [UInt8], at index: Int) -> [UInt8] {
    var out = bytes
    out[index] ^= 0x01
    return out
}

/// A fixed, obviously fake key for deterministic tests: 0, 1, 2, ... 31.
let countingKeyBytes: [UInt8] = (0..<32).map { UInt8($0) }
