import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCore

/// The proof that docs/FORMAT.md is complete: an independent Python program
/// (scripts/keyhold_verify.py, PyNaCl) given only the file and the recovery key
/// decrypts every secret of a vault Keyhold made and verifies its audit chain.
@Suite struct InteropTests {
    static let repository = Repository.root.path

    /// The Python with PyNaCl that `make test` prepares.
    static var python: String? {
        let candidates = [ProcessInfo.processInfo.environment["KEYHOLD_PYTHON"], repository + "/.build-py/bin/python"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    func verify(_ db: String, recoveryKey: String, expect: String?, head: String?) throws -> Run {
        let python = try #require(Self.python, "no Python with PyNaCl: run `make test` (it creates .build-py/)")
        var args = [Self.repository + "/scripts/keyhold_verify.py", db]
        if let expect { args += ["--expect", expect] }
        if let head { args += ["--head", head] }
        let r = try Subprocess.run(python, args, stdin: Data((recoveryKey + "\n").utf8), env: ProcessInfo.processInfo.environment)
        return Run(status: r.status, stdout: r.text, stderr: r.stderr)
    }

    @Test func independentProgramDecryptsEverySecretAndVerifiesTheLog() throws {
        let f = try Fixture()
        var expected: [String: [String: String]] = [:]
        var plaintexts: [String] = []
        func remember(_ name: String, _ version: Int, _ value: SecureBytes) {
            expected[name, default: [:]][String(version)] = value.withBytes { Data($0).base64EncodedString() }
            if let s = value.utf8String() { plaintexts.append(s) }
        }
        // Typed, binary, generated, multi-version, deleted, pruned.
        for i in 1...6 {
            let name = "app/service-\(i)/token"
            let value = pw("value-\(i)-\(UUID().uuidString)")
            try f.admin.createSecret(name, .value(value))
            remember(name, 1, value)
        }
        let binary = SecureBytes(copying: (0..<256).map { UInt8($0) })
        try f.admin.createSecret("blobs/all-bytes", .value(binary))
        remember("blobs/all-bytes", 1, binary)
        try f.admin.createSecret("flask/SECRET_KEY", .generated(length: 64, alphabet: .urlsafe))
        remember("flask/SECRET_KEY", 1, try f.admin.reveal("flask/SECRET_KEY"))
        for v in 2...3 {
            let value = pw("rotated-\(v)-\(UUID().uuidString)")
            try f.admin.addVersion("app/service-1/token", .value(value))
            remember("app/service-1/token", v, value)
        }
        try f.admin.createSecret("gone/soon", .value(pw("deleted-\(UUID().uuidString)")))
        _ = try f.admin.deleteSecret("gone/soon")
        _ = try f.admin.deleteVersion("app/service-1/token", version: 2)
        expected["app/service-1/token"]?["2"] = nil
        // Users, roles, failed logins (unsigned events) and a reset.
        let op = try f.user("olivia", roles: ["operator"])
        try op.createSecret("ops/pager", .value(pw("pager-\(UUID().uuidString)")))
        remember("ops/pager", 1, try op.reveal("ops/pager"))
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "olivia", password: pw("not her password at all")) }
        #expect(throws: KeyholdError.self) { try f.vault.login(username: "nobody", password: pw("not her password at all")) }
        _ = try f.admin.resetPassword("olivia")
        let head = try f.admin.auditHead()

        let dir = TempDir()
        let expectFile = dir.file("expect.json")
        let json = try JSONSerialization.data(withJSONObject: ["secrets": expected], options: [.sortedKeys])
        _ = FileManager.default.createFile(atPath: expectFile, contents: json, attributes: [.posixPermissions: 0o600])

        let run = try verify(f.vault.path, recoveryKey: f.recoveryKey, expect: expectFile, head: head)
        #expect(run.status == 0, "verifier failed: \(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("OK"))
        let summary = run.stdout + run.stderr
        for secret in plaintexts + [f.recoveryKey, f.recoveryKey.replacingOccurrences(of: "-", with: "")] {
            #expect(!summary.contains(secret), "the verifier's output holds a secret")
        }

        // And it notices a wrong recovery key, so a pass above means something.
        let wrong = RecoveryKey.encode(RecoveryKey.generate())
        let bad = try verify(f.vault.path, recoveryKey: wrong, expect: expectFile, head: head)
        #expect(bad.status == 1)
    }
}
