import KeyholdCore
import Testing

/// A second vault for the tests of a vault replaced under an open one (core and console):
/// made with a secret of its own and closed, as a backup on disk is; and the check that a vault
/// file is whole afterwards.
public enum OtherVault {
    public static let secret = "other/only-here"
    public static let value = "the-other-vaults-value"

    /// Makes `other.db` in `dir`; returns its path and how many audit events it holds.
    public static func make(in dir: TempDir) throws -> (path: String, events: Int) {
        let path = dir.file("other.db")
        let (s, _) = try Vault.create(at: path, admin: "admin", password: pw(adminPassword), options: .insecureFastForTests())
        try s.createSecret(secret, .value(pw(value)))
        let events = try s.auditEvents().count
        try s.vault.close()
        return (path, events)
    }

    /// Expects the vault at `path` to pass `check` and hold `secret` = `value`; returns how many
    /// audit events it held before this look (less its login and reveal).
    public static func expectWhole(
        _ path: String, _ secret: String, _ value: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Int {
        let v = try Vault.open(at: path, options: .insecureFastForTests())
        defer { try? v.close() }
        guard case .session(let s) = try v.login(username: "admin", password: pw(adminPassword)) else {
            throw TestFailure("no session in \(path)")
        }
        let report = try s.check()
        #expect(report.ok, "\(path): \(report.problems)", sourceLocation: sourceLocation)
        // Compared in guarded memory: neither value reaches a failure message.
        #expect(try s.reveal(secret).constantTimeEquals(try pw(value)), sourceLocation: sourceLocation)
        return try s.auditEvents().count - 2
    }
}
