import KeyholdCore

/// A password for tests: strong enough for the validator, obviously fake.
public func pw(_ s: String) throws -> SecureBytes { try SecureBytes(utf8: s) }
public let adminPassword = "correct horse battery staple"
public let userPassword = "purple elephants dance at noon"

/// A vault with a cheap KDF (chosen explicitly, as only tests may) and its administrator `admin` logged in.
public struct Fixture: Sendable {
    public let dir = TempDir()
    public let clock: TestClock
    public let vault: Vault
    public let admin: Session
    public let recoveryKey: String
    /// The vault's file.
    public var path: String { dir.file("vault.db") }

    public init(clock: TestClock = TestClock()) throws {
        try self.init(clock: clock, options: .insecureFastForTests(clock: clock.clock))
    }

    #if DEBUG
        /// `fault` is called at each fault point of every operation (a throw aborts it). Debug builds
        /// only, as the hook itself.
        public init(clock: TestClock = TestClock(), fault: @escaping @Sendable (FaultPoint) throws -> Void) throws {
            var options = VaultOptions.insecureFastForTests(clock: clock.clock)
            options.fault = fault
            try self.init(clock: clock, options: options)
        }
    #endif

    private init(clock: TestClock, options: VaultOptions) throws {
        self.clock = clock
        let (session, recovery) = try Vault.create(
            at: dir.file("vault.db"), admin: "admin", password: pw(adminPassword),
            options: options)
        vault = session.vault
        admin = session
        guard let key = recovery.utf8String() else { throw TestFailure("the recovery key is not text") }
        recoveryKey = key
    }

    /// Creates a user with roles and logs them in, completing the forced password change.
    public func user(_ name: String, roles: [String], password: String? = nil) throws -> Session {
        let (_, temp) = try admin.createUser(username: name, roles: roles)
        guard case .mustChangePassword(let change) = try vault.login(username: name, password: temp) else {
            throw TestFailure("the first login of \(name) did not ask for a new password")
        }
        return try change.complete(newPassword: pw(password ?? userPassword))
    }

    /// The one integer `sql` reads (a row's id, for the attacks that plant values in it).
    public func id(_ sql: String, _ arguments: [(any Sendable)?] = []) throws -> Int64 {
        guard let v = try vault.store.unsafeQuery(sql, arguments: arguments).first?.values.first as? Int64 else {
            throw TestFailure("no id from \(sql)")
        }
        return v
    }

    /// Someone who writes this vault's file with any SQLite client.
    public func attacker() throws -> Attacker { try Attacker(vault.store, clock: clock) }

    /// Logs in an existing user.
    public func login(_ name: String, _ password: String) throws -> Session {
        guard case .session(let s) = try vault.login(username: name, password: pw(password)) else {
            throw TestFailure("the login of \(name) did not give a session")
        }
        return s
    }
}
