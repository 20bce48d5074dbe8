import Glibc
import Testing
@testable import KeyholdCrypto

@Suite struct SodiumTests {
    @Test func hardenProcessDisablesCoreDumps() {
        Sodium.hardenProcess()
        #expect(Sodium.coreDumpsDisabled)
        // RLIMIT_CORE read independently of the module.
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0)
        #expect(limit.rlim_cur == 0)
        #expect(limit.rlim_max == 0, "the hard limit too, so it cannot be raised again")
        // Idempotent.
        Sodium.hardenProcess()
        #expect(Sodium.coreDumpsDisabled)
    }

    @Test func wipeZeroesInPlace() {
        var bytes: [UInt8] = [1, 2, 3, 4, 5]
        Sodium.wipe(&bytes)
        #expect(bytes == [0, 0, 0, 0, 0])
        var empty: [UInt8] = []
        Sodium.wipe(&empty)
        #expect(empty.isEmpty)
    }

    @Test func randomBytes() {
        #expect(Sodium.randomBytes(0).isEmpty)
        #expect(Sodium.randomBytes(24).count == 24)
        #expect(Sodium.randomBytes(24) != Sodium.randomBytes(24))
    }

    @Test func randomUniformStaysBelowItsBound() {
        var seen = Set<UInt32>()
        for _ in 0..<2000 {
            let v = Sodium.randomUniform(10)
            #expect(v < 10)
            seen.insert(v)
        }
        #expect(seen.count == 10)
        #expect(Sodium.randomUniform(1) == 0)
    }
}
