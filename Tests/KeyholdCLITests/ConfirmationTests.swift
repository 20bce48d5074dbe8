import Foundation
import KeyholdTestSupport
import Testing

/// Deletions and `key rotate-root` are confirmed by typing a name back on a terminal; without a
/// terminal they need `--yes` (exit 64 otherwise, nothing changed), through the built binary.
@Suite struct ConfirmationTests {
    let v: AdminVault
    init() throws { v = try AdminVault() }

    /// How many root-key rotations the audit log holds.
    func rootRotations() throws -> Int {
        let events = try JSONObject.parse(try v.run(["audit", "list", "--action", "key.rotate-root", "--json"]).stdout)
        return (events["events"] as? [Any])?.count ?? -1
    }

    @Test func withoutATerminalDeletionsAndRootRotationNeedYes() throws {
        _ = try v.addUser("bob")
        #expect(try v.run(["role", "add", "deployer", "--permission", "secrets.list"]).status == 0)
        #expect(try v.run(["secret", "set", "app/token", "--stdin"], stdin: "a value to keep").status == 0)
        let before = try rootRotations()

        for (args, said) in [
            (["user", "delete", "bob"], "delete user bob"), (["role", "delete", "deployer"], "delete role deployer"),
            (["secret", "delete", "app/token"], "delete secret app/token"),
            (["key", "rotate-root"], "of the vault keyhold.db")
        ] {
            let r = try v.run(args)
            #expect(r.status == 64, "\(args) without --yes and without a terminal exited \(r.status)")
            #expect(
                r.stderr.contains(said) && r.stderr.contains("there is no terminal to confirm on, so give --yes"),
                "\(args): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args) printed \(r.stdout)")
        }
        #expect(try v.usernames().contains("bob"))
        #expect(try v.run(["role", "show", "deployer"]).status == 0)
        #expect(try v.run(["secret", "versions", "app/token"]).status == 0)
        #expect(try rootRotations() == before, "the root key was rotated without confirmation")

        // With --yes each goes ahead.
        #expect(try v.run(["user", "delete", "bob", "--yes"]).status == 0)
        #expect(try v.run(["role", "delete", "deployer", "--yes"]).status == 0)
        #expect(try v.run(["secret", "delete", "app/token", "--yes"]).status == 0)
        let rotated = try v.run(["key", "rotate-root", "--yes"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("NEW RECOVERY KEY"))
        #expect(try rootRotations() == before + 1)
    }

    @Test func onATerminalRotateRootAsksForTheVaultsNameBack() throws {
        let before = try rootRotations()
        let env = v.admin
        // A wrong name cancels: exit 1, nothing rotated, no key shown.
        let wrong = try PseudoTerminal.keyhold(
            ["key", "rotate-root", "--db", v.db], env: env,
            answers: [.init("type the vault's name \\(anything else cancels\\): ", reply: "vault.db")])
        #expect(wrong.answered == 1, "\(wrong.transcript)")
        #expect(wrong.status == 1, "\(wrong.transcript)")
        #expect(
            wrong.transcript.contains("To rotate the root key (the old recovery key stops working) of the vault keyhold.db"),
            "\(wrong.transcript)")
        #expect(
            wrong.transcript.contains("Cancelled; nothing was changed.") && !wrong.transcript.contains("NEW RECOVERY KEY"),
            "\(wrong.transcript)")
        #expect(try rootRotations() == before)

        // Its name typed back: rotated, the new key shown once.
        let right = try PseudoTerminal.keyhold(
            ["key", "rotate-root", "--db", v.db], env: env,
            answers: [.init("type the vault's name \\(anything else cancels\\): ", reply: "keyhold.db")])
        #expect(right.status == 0, "\(right.transcript)")
        #expect(right.transcript.contains("NEW RECOVERY KEY"), "\(right.transcript)")
        #expect(try rootRotations() == before + 1)
    }

    @Test func onATerminalADeletionAsksForTheNameBack() throws {
        #expect(try v.run(["secret", "set", "app/token", "--stdin"], stdin: "a value to delete").status == 0)
        let prompt = "type its name \\(anything else cancels\\): "
        let wrong = try PseudoTerminal.keyhold(
            ["secret", "delete", "app/token", "--db", v.db], env: v.admin,
            answers: [.init(prompt, reply: "app/other")])
        #expect(wrong.status == 1 && wrong.transcript.contains("To delete secret app/token, type its name"), "\(wrong.transcript)")
        #expect(try v.run(["secret", "versions", "app/token"]).status == 0, "cancelled, yet deleted")
        let right = try PseudoTerminal.keyhold(
            ["secret", "delete", "app/token", "--db", v.db], env: v.admin,
            answers: [.init(prompt, reply: "app/token")])
        #expect(right.status == 0 && right.transcript.contains("app/token: deleted."), "\(right.transcript)")
        #expect(try v.run(["secret", "versions", "app/token"]).status == 67)
    }
}
