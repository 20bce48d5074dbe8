import Foundation
import Testing
@testable import KeyholdCore
@_spi(Testing) import KeyholdStore

/// A temporary 0700 directory, removed when the test ends.
final class TempDir: @unchecked Sendable {
    let path: String
    init() {
        var template = Array((NSTemporaryDirectory() + "keyhold-test-XXXXXX").utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// A settable clock for lockout and expiry tests.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64 = 1_800_000_000_000) { value = start }
    var now: Int64 { lock.withLock { value } }
    func advance(_ ms: Int64) { lock.withLock { value += ms } }
    var clock: Clock { Clock { [self] in now } }
}

/// Test password helpers: strong enough for the validator, obviously fake.
func pw(_ s: String) -> SecureBytes { SecureBytes(utf8: s) }
let adminPassword = "correct horse battery staple"
let userPassword = "purple elephants dance at noon"

/// A vault with cheap KDF (chosen explicitly) and a logged-in admin.
struct Fixture {
    let dir = TempDir()
    let clock: TestClock
    let vault: Vault
    let admin: Session
    let recoveryKey: String

    init(clock: TestClock = TestClock(), fault: (@Sendable (FaultPoint) throws -> Void)? = nil) throws {
        self.clock = clock
        var options = VaultOptions.insecureFastForTests(clock: clock.clock)
        options.fault = fault
        let (session, recovery) = try Vault.create(at: dir.file("vault.db"), admin: "admin", password: pw(adminPassword),
                                                   options: options)
        vault = session.vault
        admin = session
        recoveryKey = recovery.utf8String()!
    }

    /// Creates a user with roles and logs them in, completing the forced password change.
    func user(_ name: String, roles: [String], password: String? = nil) throws -> Session {
        let (_, temp) = try admin.createUser(username: name, roles: roles)
        let result = try vault.login(username: name, password: temp)
        guard case .mustChangePassword(let change) = result else {
            Issue.record("expected a forced password change")
            throw KeyholdError.refused("test set-up")
        }
        return try change.complete(newPassword: pw(password ?? userPassword))
    }

    func login(_ name: String, _ password: String) throws -> Session {
        guard case .session(let s) = try vault.login(username: name, password: pw(password)) else {
            throw KeyholdError.refused("expected a session")
        }
        return s
    }
}
