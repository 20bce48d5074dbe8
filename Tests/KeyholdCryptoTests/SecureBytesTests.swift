import Testing
@testable import KeyholdCrypto

@Suite struct SecureBytesTests {
    /// A recognisable fake secret: if any rendering leaks the bytes, one of
    /// these forms shows up.
    static let canaryText = "CANARYzq-hunter2"
    static var canaryBytes: [UInt8] { Array(canaryText.utf8) }
    static var leakForms: [String] {
        let bytes = canaryBytes
        let hexLower = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        let decimalList = bytes.prefix(4).map(String.init).joined(separator: ", ")
        return [
            "CANARY", "canary", "hunter2", hexLower, hexLower.uppercased(), decimalList,
            bytes.prefix(4).map(String.init).joined(separator: ",")
        ]
    }

    static func leaks(_ text: String) -> Bool { leakForms.contains { text.contains($0) } }

    struct Credential: Sendable {
        let name = "payment-api"
        let value: SecureBytes
    }

    struct Nested {
        let credential: Credential
        let list: [SecureBytes]
        let optional: SecureBytes?
    }

    @Test func renderingsNeverShowTheBytes() throws {
        let secret = try SecureBytes(utf8: Self.canaryText)
        let renderings = [
            ("description", secret.description),
            ("debugDescription", secret.debugDescription),
            ("String(describing:)", String(describing: secret)),
            ("String(reflecting:)", String(reflecting: secret)),
            ("interpolation", "\(secret)")
        ]
        for (what, text) in renderings {
            let leaked = Self.leaks(text)
            let saysCount = text.contains("\(Self.canaryBytes.count) bytes")
            #expect(!leaked, "\(what) leaks the bytes")
            #expect(saysCount, "\(what) should say how many bytes")
        }
    }

    @Test func containingStructsDoNotLeak() throws {
        let secret = try SecureBytes(utf8: Self.canaryText)
        let credential = Credential(value: secret)
        let nested = Nested(credential: credential, list: [secret, secret], optional: secret)
        var dumped = ""
        dump(nested, to: &dumped)
        let renderings = [
            ("String(describing: struct)", String(describing: credential)),
            ("String(reflecting: struct)", String(reflecting: credential)),
            ("interpolated struct", "\(credential)"),
            ("nested struct", String(describing: nested)),
            ("array", String(describing: [secret])),
            ("optional", String(describing: Optional(secret))),
            ("dump", dumped)
        ]
        for (what, text) in renderings {
            let leaked = Self.leaks(text)
            #expect(!leaked, "\(what) leaks the bytes")
        }
        // The rendering is the safe one, not an empty string.
        let safeForm = String(describing: credential).contains("SecureBytes(")
        #expect(safeForm)
    }

    @Test func bytesAreHeldExactly() throws {
        let secret = try SecureBytes(copying: Self.canaryBytes)
        #expect(secret.count == Self.canaryBytes.count)
        let same = secret.unsafeArray() == Self.canaryBytes
        #expect(same, "bytes changed in storage")
    }

    @Test func constantTimeEquals() throws {
        let a = try SecureBytes(copying: [1, 2, 3, 4])
        #expect(try a.constantTimeEquals(SecureBytes(copying: [1, 2, 3, 4])))
        #expect(a.constantTimeEquals(a))
        #expect(try !a.constantTimeEquals(SecureBytes(copying: [1, 2, 3, 5])))
        #expect(try !a.constantTimeEquals(SecureBytes(copying: [0, 2, 3, 4])))
        #expect(try !a.constantTimeEquals(SecureBytes(copying: [1, 2, 3])))
        #expect(try !a.constantTimeEquals(SecureBytes(copying: [1, 2, 3, 4, 0])))
        let empty = try SecureBytes(count: 0) { _ in }
        #expect(try empty.constantTimeEquals(SecureBytes(copying: [])))
        #expect(!empty.constantTimeEquals(a))
        #expect(!a.constantTimeEquals(empty))
        // Against bytes where they lie (no copy).
        ([1, 2, 3, 4] as [UInt8]).withUnsafeBytes { #expect(a.constantTimeEquals($0)) }
        ([1, 2, 3, 5] as [UInt8]).withUnsafeBytes { #expect(!a.constantTimeEquals($0)) }
        ([1, 2, 3] as [UInt8]).withUnsafeBytes { #expect(!a.constantTimeEquals($0)) }
        #expect(empty.constantTimeEquals(UnsafeRawBufferPointer(start: nil, count: 0)))
        #expect(!a.constantTimeEquals(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    @Test func utf8String() throws {
        let text = "grüße, 鍵 🔑"
        let secret = try SecureBytes(utf8: text)
        #expect(secret.count == text.utf8.count)
        let decoded = secret.utf8String() == text
        #expect(decoded, "utf8String did not give the text back")
        #expect(try SecureBytes(utf8: "").utf8String() == "")
        #expect(try SecureBytes(copying: [0xFF, 0xFE]).utf8String() == nil)
        #expect(try SecureBytes(copying: [0x61, 0xC3]).utf8String() == nil, "truncated sequence")
    }

    @Test func randomBytesDiffer() throws {
        let a = try SecureBytes(random: 32), b = try SecureBytes(random: 32)
        #expect(a.count == 32)
        let same = a.constantTimeEquals(b)
        #expect(!same)
        #expect(try SecureBytes(random: 0).count == 0)
    }

    @Test func failingFillThrowsAndPropagates() {
        struct Refused: Error {}
        #expect(throws: Refused.self) { try SecureBytes(count: 8) { _ in throw Refused() } }
    }

    @Test func usableFromManyThreads() async throws {
        let secret = try SecureBytes(copying: Self.canaryBytes)
        let expected = Self.canaryBytes
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 { group.addTask { secret.withBytes { Array($0) == expected } } }
            var all: [Bool] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(results.count == 16)
        #expect(results.allSatisfy { $0 })
    }
}

/// Guarded memory that cannot be mapped is an error the caller reports, never a trap: asked for
/// more than any address space holds, every guarded allocation throws `outOfMemory`.
@Suite struct GuardedAllocationFailureTests {
    static let tooMuch = 1 << 62

    @Test func secureBytesThrowsAndNeverFills() {
        var filled = false
        #expect(throws: CryptoError.outOfMemory(bytes: Self.tooMuch)) {
            try SecureBytes(count: Self.tooMuch) { _ in filled = true }
        }
        #expect(!filled)
    }

    @Test func buffersAndSealersThrow() throws {
        #expect(throws: CryptoError.outOfMemory(bytes: Self.tooMuch)) { try SecureBuffer(capacity: Self.tooMuch) }
        #expect(throws: CryptoError.outOfMemory(bytes: Self.tooMuch)) { try GuardedBuffer(capacity: Self.tooMuch) }
        #expect(throws: CryptoError.outOfMemory(bytes: Self.tooMuch)) { try Resealer(capacity: Self.tooMuch) }
        // A buffer that cannot grow keeps what it held.
        let buffer = try SecureBuffer(capacity: 4)
        try buffer.append(contentsOf: [1, 2, 3])
        #expect(throws: CryptoError.outOfMemory(bytes: Self.tooMuch)) { try buffer.reserve(Self.tooMuch) }
        #expect(Array(buffer.bytes) == [1, 2, 3])
    }
}
