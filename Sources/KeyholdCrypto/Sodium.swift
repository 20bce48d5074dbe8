import CSodium
import Glibc

/// Process-wide libsodium set-up and hardening.
public enum Sodium {
    private static let ready: Bool = {
        precondition(sodium_init() >= 0, "libsodium failed to initialise")
        return true
    }()

    /// Initialises libsodium once; every entry point of this module calls it.
    public static func ensureReady() { _ = ready }

    /// `sodium_malloc(bytes)` (at least one byte: sodium_malloc(0) returns a pointer that may
    /// not be touched). NULL only when mmap fails, libsodium ignoring a failed mlock: the
    /// system is out of memory, which the caller reports as an error, never a crash.
    static func guardedAllocate(_ bytes: Int) throws -> UnsafeMutableRawPointer {
        ensureReady()
        guard let p = sodium_malloc(max(bytes, 1)) else { throw CryptoError.outOfMemory(bytes: bytes) }
        return p
    }

    /// Turns core dumps off for the life of the process (RLIMIT_CORE 0 and
    /// PR_SET_DUMPABLE 0), so keys in memory never land in a crash file.
    public static func hardenProcess() {
        ensureReady()
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        _ = keyhold_set_dumpable(0)
    }

    /// Whether core dumps are off (both settings), for tests and `check`.
    public static var coreDumpsDisabled: Bool {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 else { return false }
        return limit.rlim_cur == 0 && keyhold_get_dumpable() == 0
    }

    /// Zeroes a plain array in place (for transient copies).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { b in
            if let base = b.baseAddress { sodium_memzero(base, b.count) }
        }
    }

    /// `count` random bytes in an ordinary array (nonces, salts, ids: nothing secret).
    public static func randomBytes(_ count: Int) -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { b in if count > 0 { randombytes_buf(b.baseAddress!, count) } }
        return out
    }

    /// A uniform random integer in 0..<upperBound.
    public static func randomUniform(_ upperBound: UInt32) -> UInt32 {
        ensureReady()
        return randombytes_uniform(upperBound)
    }
}
