import KeyholdTestSupport
import Testing
@testable import KeyholdCore

@Suite struct VersionNumberTests {
    @Test func versionNumbersAreNeverReused() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/token", .value(pw("first value")))
        #expect(try f.admin.addVersion("app/token", .value(pw("second value"))) == 2)
        #expect(try f.admin.addVersion("app/token", .value(pw("third value"))) == 3)
        _ = try f.admin.deleteVersion("app/token", version: 3)
        #expect(try f.admin.secret(named: "app/token").currentVersion == 2)
        #expect(try f.admin.addVersion("app/token", .value(pw("fourth value"))) == 4)
        #expect(try f.admin.versions(of: "app/token").map(\.version) == [1, 2, 4])
    }

    @Test func loweringTheHistoryLimitPrunesAtOnce() throws {
        let f = try Fixture()
        try f.admin.createSecret("app/token", .value(pw("v1")))
        for i in 2...5 { try f.admin.addVersion("app/token", .value(pw("v\(i)"))) }
        try f.admin.setHistoryLimit("app/token", 2)
        #expect(try f.admin.versions(of: "app/token").map(\.version) == [4, 5])
        #expect(try f.admin.reveal("app/token").utf8String() == "v5")
    }

    @Test func deletingAKeyHolderRaisesTheRevocationWarning() throws {
        let f = try Fixture()
        _ = try f.user("olivia", roles: ["operator"])
        _ = try f.user("harry", roles: ["helpdesk"])
        _ = try f.admin.deleteUser("harry")
        #expect(try f.admin.keyStatus().revocationWarning == nil)
        _ = try f.admin.deleteUser("olivia")
        #expect(try f.admin.keyStatus().revocationWarning?.contains("olivia") == true)
    }
}

@Suite struct SecretPrefixTests {
    @Test func prefixIsCaseSensitiveAndLiteral() throws {
        let f = try Fixture()
        for name in ["app/a", "APP/b", "app_x/c", "apple/d"] { try f.admin.createSecret(name, .value(pw("v"))) }
        #expect(try f.admin.secrets(prefix: "app/").map(\.name) == ["app/a"])
        #expect(try f.admin.secrets(prefix: "APP/").map(\.name) == ["APP/b"])
        #expect(try f.admin.secrets(prefix: "app_").map(\.name) == ["app_x/c"])
    }

    @Test func permissionIsReportedBeforeKeyAccess() throws {
        let f = try Fixture()
        let auditor = try f.user("alice", roles: ["auditor"])
        #expect(throws: KeyholdError.permissionDenied(action: "secret.create", missing: .secretsWrite)) {
            try auditor.createSecret("x/y", .value(pw("value")))
        }
        #expect(throws: KeyholdError.permissionDenied(action: "keys.manage", missing: .keysManage)) {
            try auditor.rotateDataKey()
        }
    }
}
