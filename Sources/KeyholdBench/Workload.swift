import KeyholdCore

/// The benchmark's secrets, made on the fly from an index and a seed, so that
/// no run keeps a list of them (the memory measured is the core's, not ours).
enum Workload {
    /// AEAD overhead of a sealed value: 24-byte nonce and 16-byte tag (docs/FORMAT.md section 2).
    static let sealOverhead = 40
    static let smallestValue = 16
    static let largestValue = 112

    /// SplitMix64's finaliser: a cheap, well-mixed 64-bit hash.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Value size of entry `i`: 16 to 112 bytes (API keys and tokens), about 64 on average.
    static func valueSize(_ i: Int) -> Int {
        smallestValue + Int(mix(UInt64(i) ^ 0x5EED) % UInt64(largestValue - smallestValue + 1))
    }

    static func ciphertextSize(_ i: Int) -> Int { valueSize(i) + sealOverhead }

    /// Name of entry `i`, unique within a run, shaped like real names (about 30 bytes):
    /// `bench/app<i % 64>/service-<i>/token`, formatted by hand (string interpolation
    /// costs more than some of what is measured).
    static func name(_ i: Int) -> String {
        String(unsafeUninitializedCapacity: 64) { b in
            var n = put(namePrefix, b, 0)
            n = put(i % 64, b, n)
            n = put(nameMiddle, b, n)
            n = put(i, b, n)
            return put(nameSuffix, b, n)
        }
    }

    /// Origin of entry `i` for error messages: `entry <i>`.
    static func origin(_ i: Int) -> String {
        String(unsafeUninitializedCapacity: 32) { b in put(i, b, put(originPrefix, b, 0)) }
    }

    private static let namePrefix = Array("bench/app".utf8), nameMiddle = Array("/service-".utf8)
    private static let nameSuffix = Array("/token".utf8), originPrefix = Array("entry ".utf8)

    private static func put(_ bytes: [UInt8], _ b: UnsafeMutableBufferPointer<UInt8>, _ n: Int) -> Int {
        for (k, c) in bytes.enumerated() { b[n + k] = c }
        return n + bytes.count
    }

    /// Writes the decimal of `v` (non-negative) at `n`; returns the new end.
    private static func put(_ v: Int, _ b: UnsafeMutableBufferPointer<UInt8>, _ n: Int) -> Int {
        var digits = 1, m = v
        while m >= 10 { m /= 10; digits += 1 }
        m = v
        for k in 1...digits { b[n + digits - k] = UInt8(ascii: "0") + UInt8(m % 10); m /= 10 }
        return n + digits
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Writes the value of entry `i` (url-safe characters drawn from `seed` and `i`).
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, index i: Int, seed: UInt64) {
        var state = mix(seed ^ (UInt64(i) &* 0x2545_F491_4F6C_DD1D))
        for k in 0..<buffer.count {
            if k % 8 == 0 { state = mix(state) }
            buffer[k] = alphabet[Int((state >> UInt64(8 * (k % 8))) & 63)]
        }
    }

    /// The value of entry `i`, for checking what a vault gives back.
    static func value(_ i: Int, seed: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: valueSize(i))
        out.withUnsafeMutableBytes { fill($0, index: i, seed: seed) }
        return out
    }
}

/// The workload as a streaming import source: the core asks for one batch of values
/// at a time and they are written straight into its guarded buffer.
final class BenchSource: ImportSource {
    let count: Int
    let seed: UInt64
    /// When the core first asked for a value: the end of its validation and name-lookup passes.
    private(set) var firstValueAt: ContinuousClock.Instant?

    init(count: Int, seed: UInt64) {
        self.count = count
        self.seed = seed
    }

    func item(at index: Int) -> ImportItem {
        ImportItem(name: Workload.name(index), origin: Workload.origin(index), valueCount: Workload.valueSize(index))
    }

    func writeValue(at index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        if firstValueAt == nil { firstValueAt = .now }
        Workload.fill(buffer, index: index, seed: seed)
    }
}
