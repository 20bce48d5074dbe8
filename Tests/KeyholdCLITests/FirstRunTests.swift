import Foundation
import KeyholdCrypto
import KeyholdTestSupport
import Testing

@Suite struct FirstRunTests {
    let scratch = TempDir(prefix: "keyhold-cli")
    var dir: String { scratch.path }
    var db: String { dir + "/vault/keyhold.db" }
    let password = "mossy granite under the bridge"

    @Test func initCreatesThenOpens() throws {
        let created = try CLI.run(["init", "--db", db], stdin: "owner\n\(password)\n")
        #expect(created.status == 0, "\(created.stderr)")
        let key = try #require(
            created.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { $0.count == 77 && $0.split(separator: "-").count == 13 }, "recovery key not shown")
        #expect(!created.all.contains(password))
        #expect(created.stdout.contains("logged in as: owner"))
        let mode = try FileManager.default.attributesOfItem(atPath: db)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let dirMode = try FileManager.default.attributesOfItem(atPath: dir + "/vault")[.posixPermissions] as? Int
        #expect(dirMode == 0o700)

        // Second run: the vault exists, so init logs in and shows the status, never a new key.
        let opened = try CLI.run(["init", "--db", db], env: ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": password])
        #expect(opened.status == 0, "\(opened.stderr)")
        #expect(opened.stdout.contains("audit chain:  verified"))
        #expect(!opened.all.contains(key))
        #expect(!opened.all.contains(password))
    }

    /// The tests' binary makes its vaults with the test support's cheap cost, no other: the CLI's
    /// debug-only switch and `KDFCost.insecureMinimumForTests` name the same numbers.
    /// (A release binary ignores the switch: scripts/check-release.sh, run by `make test`.)
    @Test func theTestSwitchMakesTheTestSupportsCost() throws {
        let env = ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": password]
        #expect(try CLI.run(["init", "--db", db], env: env).status == 0)
        let status = try CLI.run(["key", "status", "--db", db, "--json"], env: env)
        #expect(status.status == 0, "\(status.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let kdf = try #require(json["kdf"] as? [String: Int])
        #expect(kdf["opslimit"] == KDFCost.insecureMinimumForTests.opslimit)
        #expect(kdf["memlimit"] == KDFCost.insecureMinimumForTests.memlimit)
    }

    @Test func failuresHaveTheirExitCodes() throws {
        _ = try CLI.run(["init", "--db", db], stdin: "owner\n\(password)\n")
        let wrong = try CLI.run(["status", "--db", db], env: ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": "not the password at all"])
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("login failed"))
        #expect(!wrong.all.contains("not the password at all"))
        let missing = try CLI.run(["status", "--db", dir + "/nothing.db"], env: ["KEYHOLD_USER": "owner", "KEYHOLD_PASSWORD": password])
        #expect(missing.status == 67)
        #expect(missing.stderr.contains("no vault at \(dir)/nothing.db (create one with `keyhold init`"), "\(missing.stderr)")
        let weak = try CLI.run(["init", "--db", dir + "/other/k.db"], stdin: "owner\npassword1234\n")
        #expect(weak.status == 64)
        #expect(weak.stderr.contains("password: "))
        #expect(!FileManager.default.fileExists(atPath: dir + "/other/k.db"), "a refused init must write nothing")
        let usage = try CLI.run(["init", "--bogus"])
        #expect(usage.status == 64)
    }

    @Test func helpListsExitCodes() throws {
        let help = try CLI.run(["--help"])
        #expect(help.status == 0)
        for code in ["64", "65", "66", "67", "68", "69", "70", "71", "72", "73"] { #expect(help.stdout.contains("  \(code) ")) }
    }
}
