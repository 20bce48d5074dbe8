import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCrypto

@Suite struct PasswordHashTests {
    let cheap = KDFCost.insecureMinimumForTests
    // Obviously fake test passwords, held as SecureBytes so a failing
    // expectation shows "SecureBytes(n bytes)", never the text.
    let password: SecureBytes
    let otherPassword: SecureBytes

    init() throws {
        password = try SecureBytes(utf8: "correct horse battery staple")
        otherPassword = try SecureBytes(utf8: "correct horse battery stapler")
    }

    /// `$argon2id$v=19$m=<KiB>,t=<passes>,p=1$`
    static func phcPrefix(_ cost: KDFCost) -> String {
        "$argon2id$v=19$m=\(cost.memlimit / 1024),t=\(cost.opslimit),p=1$"
    }

    @Test func cheapCostIsLibsodiumsMinimum() {
        #expect(cheap.opslimit == 1)
        #expect(cheap.memlimit == 8192)
        // The test support writes the numbers down (it cannot see libsodium): one less of either is refused.
        #expect(throws: (any Error).self) { try PasswordHash.hash(password, cost: KDFCost(opslimit: 0, memlimit: cheap.memlimit)) }
        #expect(throws: (any Error).self) { try PasswordHash.hash(password, cost: KDFCost(opslimit: 1, memlimit: cheap.memlimit - 1)) }
        #expect(throws: Never.self) { try PasswordHash.hash(password, cost: cheap) }
        #expect(!cheap.isAtLeast(.interactive))
        #expect(KDFCost.interactive.isAtLeast(cheap))
        #expect(KDFCost.moderate.isAtLeast(.interactive))
    }

    /// The one test that hashes at the product's default cost (slow: 64 MiB).
    @Test func interactiveCostIsLibsodiumsInteractiveLimits() throws {
        #expect(KDFCost.interactive.opslimit == 2)
        #expect(KDFCost.interactive.memlimit == 67_108_864)
        #expect(KDFCost.interactive == KDFCost(opslimit: 2, memlimit: 64 * 1024 * 1024))
        let hash = try PasswordHash.hash(password, cost: .interactive)
        #expect(hash.hasPrefix("$argon2id$v=19$m=65536,t=2,p=1$"))
        #expect(!PasswordHash.needsRehash(hash, cost: .interactive))
    }

    @Test func hashIsAnArgon2idPHCString() throws {
        let hash = try PasswordHash.hash(password, cost: cheap)
        #expect(hash.hasPrefix(Self.phcPrefix(cheap)))
        #expect(hash.hasPrefix("$argon2id$v=19$m=8,t=1,p=1$"))
        // $argon2id$v=19$m=..,t=..,p=1$<salt>$<hash>, unpadded standard base64.
        let fields = hash.split(separator: "$", omittingEmptySubsequences: false)
        #expect(fields.count == 6)
        if fields.count == 6 {
            let base64 = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
            #expect(fields[4].count == 22, "16-byte salt")
            #expect(fields[5].count == 43, "32-byte hash")
            #expect(fields[4].allSatisfy(base64.contains) && fields[5].allSatisfy(base64.contains))
        }
        let containsPassword = hash.contains("correct horse")
        #expect(!containsPassword)
    }

    @Test func sameCostDifferentCostsAppearInTheString() throws {
        let cost = KDFCost(opslimit: 3, memlimit: 16 * 1024)
        let hash = try PasswordHash.hash(password, cost: cost)
        #expect(hash.hasPrefix("$argon2id$v=19$m=16,t=3,p=1$"))
    }

    @Test func hashesAreSalted() throws {
        let a = try PasswordHash.hash(password, cost: cheap)
        let b = try PasswordHash.hash(password, cost: cheap)
        #expect(a != b)
    }

    @Test func verifyAcceptsOnlyTheRightPassword() throws {
        let hash = try PasswordHash.hash(password, cost: cheap)
        let sameCopy = try SecureBytes(copying: password.unsafeArray())
        let empty = try SecureBytes(count: 0) { _ in }
        let right = PasswordHash.verify(password, hash: hash)
        let rightCopy = PasswordHash.verify(sameCopy, hash: hash)
        let wrong = PasswordHash.verify(otherPassword, hash: hash)
        let none = PasswordHash.verify(empty, hash: hash)
        #expect(right, "the right password is refused")
        #expect(rightCopy, "a copy of the right password is refused")
        #expect(!wrong, "a wrong password is accepted")
        #expect(!none, "the empty password is accepted")
        #expect(!PasswordHash.verify(password, hash: "not a hash"))
        #expect(!PasswordHash.verify(password, hash: ""))
        // An altered hash no longer verifies.
        var altered = Array(hash)
        altered[altered.count - 2] = altered[altered.count - 2] == "A" ? "B" : "A"
        #expect(!PasswordHash.verify(password, hash: String(altered)))
    }

    @Test func emptyAndNonASCIIPasswordsWork() throws {
        let empty = try SecureBytes(count: 0) { _ in }
        let emptyHash = try PasswordHash.hash(empty, cost: cheap)
        #expect(PasswordHash.verify(empty, hash: emptyHash))
        let unicode = try SecureBytes(utf8: "pässwörd-ключ-🔑")
        let unicodeVariant = try SecureBytes(utf8: "passwörd-ключ-🔑")
        let unicodeHash = try PasswordHash.hash(unicode, cost: cheap)
        let accepted = PasswordHash.verify(unicode, hash: unicodeHash)
        let variantAccepted = PasswordHash.verify(unicodeVariant, hash: unicodeHash)
        #expect(accepted, "a non-ASCII password is refused")
        #expect(!variantAccepted, "a password differing in one accent is accepted")
    }

    @Test func needsRehashOnlyWhenTheCostDiffers() throws {
        let hash = try PasswordHash.hash(password, cost: cheap)
        #expect(!PasswordHash.needsRehash(hash, cost: cheap))
        #expect(PasswordHash.needsRehash(hash, cost: KDFCost(opslimit: cheap.opslimit + 1, memlimit: cheap.memlimit)))
        #expect(PasswordHash.needsRehash(hash, cost: KDFCost(opslimit: cheap.opslimit, memlimit: cheap.memlimit * 2)))
        #expect(PasswordHash.needsRehash(hash, cost: .interactive))

        let stronger = KDFCost(opslimit: 2, memlimit: 16 * 1024)
        let strongerHash = try PasswordHash.hash(password, cost: stronger)
        #expect(!PasswordHash.needsRehash(strongerHash, cost: stronger))
        #expect(PasswordHash.needsRehash(strongerHash, cost: cheap))
        #expect(PasswordHash.needsRehash("not a hash", cost: cheap))
    }

    @Test func deriveKeyIsDeterministicForSameSaltAndCost() throws {
        let salt = Sodium.randomBytes(PasswordHash.saltBytes)
        let a = try PasswordHash.deriveKey(password, salt: salt, cost: cheap)
        let b = try PasswordHash.deriveKey(password, salt: salt, cost: cheap)
        #expect(a.count == 32)
        let same = a.constantTimeEquals(b)
        #expect(same, "same password, salt and cost gave different keys")
    }

    @Test func deriveKeyDependsOnSaltPasswordAndCost() throws {
        let salt = Sodium.randomBytes(PasswordHash.saltBytes)
        let base = try PasswordHash.deriveKey(password, salt: salt, cost: cheap)
        let otherSalt = try PasswordHash.deriveKey(password, salt: flipping(salt, at: 0), cost: cheap)
        let otherPass = try PasswordHash.deriveKey(otherPassword, salt: salt, cost: cheap)
        let otherCost = try PasswordHash.deriveKey(
            password, salt: salt,
            cost: KDFCost(opslimit: 2, memlimit: cheap.memlimit))
        let sameAsSalt = base.constantTimeEquals(otherSalt)
        let sameAsPass = base.constantTimeEquals(otherPass)
        let sameAsCost = base.constantTimeEquals(otherCost)
        #expect(!sameAsSalt, "a different salt gave the same key")
        #expect(!sameAsPass, "a different password gave the same key")
        #expect(!sameAsCost, "a different cost gave the same key")
    }

    /// Cross-check of the two Argon2id paths: the hash in a PHC string is
    /// Argon2id(password, its salt, its cost), so deriveKey with that salt
    /// must give exactly those bytes. (And the wrap's own salt keeps U apart.)
    @Test func deriveKeyAgreesWithThePHCStringsRawHash() throws {
        let hash = try PasswordHash.hash(password, cost: cheap)
        let fields = hash.split(separator: "$", omittingEmptySubsequences: false)
        try #require(fields.count == 6)
        func unpadded(_ s: Substring) -> Data? {
            Data(base64Encoded: String(s) + String(repeating: "=", count: (4 - s.count % 4) % 4))
        }
        let salt = try #require(unpadded(fields[4]))
        let raw = try #require(unpadded(fields[5]))
        try #require(salt.count == 16 && raw.count == 32)
        let derived = try PasswordHash.deriveKey(password, salt: [UInt8](salt), cost: cheap)
        let agrees = try holds(derived, [UInt8](raw))
        #expect(agrees, "deriveKey is not Argon2id with the PHC string's salt and cost")
        let fresh = try PasswordHash.deriveKey(password, salt: Sodium.randomBytes(16), cost: cheap)
        let freshAgrees = try holds(fresh, [UInt8](raw))
        #expect(!freshAgrees, "a key under another salt equals the stored hash")
    }

    @Test(arguments: [0, 8, 15, 17, 32])
    func wrongSaltLengthThrows(length: Int) throws {
        #expect(PasswordHash.saltBytes == 16)
        #expect(throws: CryptoError.malformed("salt length")) {
            try PasswordHash.deriveKey(password, salt: [UInt8](repeating: 7, count: length), cost: cheap)
        }
    }

    @Test func impossibleCostThrowsKDFFailed() {
        let tooCheap = KDFCost(opslimit: 0, memlimit: 1024)
        #expect(throws: CryptoError.kdfFailed) { try PasswordHash.hash(password, cost: tooCheap) }
        #expect(throws: CryptoError.kdfFailed) {
            try PasswordHash.deriveKey(password, salt: [UInt8](repeating: 1, count: 16), cost: tooCheap)
        }
    }
}
