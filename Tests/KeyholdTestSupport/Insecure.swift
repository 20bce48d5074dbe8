import KeyholdCore
import KeyholdCrypto

// Cheap key derivation, for tests and the benchmark only. The product has no way to ask for it:
// these live here, outside every product target, and a release build of `keyhold` contains
// none of their names (scripts/check-release.sh).

extension KDFCost {
    /// The cheapest Argon2id allows (libsodium's crypto_pwhash_OPSLIMIT_MIN and MEMLIMIT_MIN).
    public static let insecureMinimumForTests = KDFCost(opslimit: 1, memlimit: 8192)
}

extension VaultOptions {
    /// Vault options with the cheapest KDF, for a test or benchmark that asks for it by name.
    public static func insecureFastForTests(clock: Clock = .system) -> VaultOptions {
        var options = VaultOptions()
        options.kdf = .insecureMinimumForTests
        options.clock = clock
        return options
    }
}
