import KeyholdTestSupport
import Testing
@testable import KeyholdCore

@Suite struct SmokeTests {
    @Test func createLoginSecretRoundTrip() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/prod/db_password", .value(pw("s3cr3t-value")))
        let value = try f.admin.reveal("app/prod/db_password")
        #expect(value.utf8String() == "s3cr3t-value")
        let op = try f.user("olivia", roles: ["operator"])
        #expect(op.hasKeyAccess)
        #expect(try op.reveal("app/prod/db_password").utf8String() == "s3cr3t-value")
        let again = try f.login("admin", adminPassword)
        #expect(try again.verifyAudit().ok)
        #expect(try RecoveryKey.encode(try RecoveryKey.parse(f.recoveryKey)) == f.recoveryKey)
    }
}
