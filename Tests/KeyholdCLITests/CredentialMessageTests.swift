import Foundation
import KeyholdTestSupport
import Testing

/// What a newcomer is told when a credential is missing or a password breaks a rule: the
/// missing input and how to give it (never "login failed"), an empty KEYHOLD_PASSWORD as an
/// error, and the rule a weak password breaks, through the built binary.
@Suite struct CredentialMessageTests {
    let v: AdminVault
    init() throws { v = try AdminVault() }

    @Test func aMissingCredentialIsNamedNotCalledAFailedLogin() throws {
        let noUser = try v.run(["status"], as: [:])
        #expect(noUser.status == 65)
        #expect(noUser.stderr.contains("keyhold: no username given: set KEYHOLD_USER"), "\(noUser.stderr)")

        let noPassword = try v.run(["status"], as: ["KEYHOLD_USER": "admin"])
        #expect(noPassword.status == 65)
        #expect(
            noPassword.stderr.contains("keyhold: no password given: set KEYHOLD_PASSWORD, type it at the no-echo prompt"),
            "\(noPassword.stderr)")

        let empty = try v.run(["status"], as: ["KEYHOLD_USER": "admin", "KEYHOLD_PASSWORD": ""])
        #expect(empty.status == 64)
        #expect(
            empty.stderr.contains("keyhold: KEYHOLD_PASSWORD is set but empty, and an empty string is not a password"),
            "\(empty.stderr)")
        for r in [noUser, noPassword, empty] {
            #expect(!r.stderr.contains("login failed"), "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        // None of them was a login attempt: nothing counted against the account.
        #expect(try v.user("admin")["failed_logins"] as? Int == 0)
    }

    @Test func aForcedChangeWithoutANewPasswordSaysSoAndChangesNothing() throws {
        let temp = try v.addUser("bob")
        let none = try v.run(["status"], as: AdminVault.login("bob", temp))
        #expect(none.status == 65)
        #expect(
            none.stderr.contains(
                "the password of bob was set by an administrator and must be changed now, "
                    + "but no new password given: set KEYHOLD_NEW_PASSWORD"), "\(none.stderr)")
        #expect(!none.stderr.contains("login failed"))
        let empty = try v.run(["status"], as: AdminVault.login("bob", temp, new: ""))
        #expect(empty.status == 64)
        #expect(empty.stderr.contains("KEYHOLD_NEW_PASSWORD is set but empty"), "\(empty.stderr)")
        #expect(try v.user("bob")["must_change_password"] as? Bool == true)
        // The temporary password still works, with a new one.
        #expect(try v.run(["status"], as: AdminVault.login("bob", temp, new: "a passphrase of his own choosing")).status == 0)
    }

    @Test(arguments: [
        ("aaaaaaaaaaaa", "password: must not be one character or a short pattern repeated"),
        ("abcabcabcabc", "password: must not be one character or a short pattern repeated"),
        ("qwertyuiop89", "password: must not be made of keyboard rows, sequences or repeats"),
        ("qwertyuiop12", "password: is too common")
    ])
    func aWeakPasswordIsRefusedNamingTheRule(_ password: String, _ said: String) throws {
        let dir = TempDir(prefix: "keyhold-cli")
        let db = dir.file("vault/keyhold.db")
        let r = try CLI.run(["init", "--db", db], stdin: "admin\n\(password)\n")
        #expect(r.status == 64)
        #expect(r.stderr.contains("keyhold: \(said)"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db), "a refused init wrote a vault")

        // The same rule for a password change.
        let passwd = try v.run(["user", "passwd"], as: AdminVault.login("admin", AdminVault.adminPassword, new: password))
        #expect(passwd.status == 64)
        #expect(passwd.stderr.contains("keyhold: \(said)"), "\(passwd.stderr)")
        #expect(try v.run(["status"]).status == 0, "the refused change took effect")
    }
}
