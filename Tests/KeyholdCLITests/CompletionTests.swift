import Foundation
import KeyholdTestSupport
import Testing

/// Shell completions, through the built binary: the scripts come from the argument parser's own
/// command tree, and secret names, usernames and roles are completed from the vault's agent when
/// one runs, and from nothing otherwise: completing never logs in or asks for a password.
@Suite struct CompletionTests {
    /// Asks keyhold for the completions of argument `argument` of `subcommands`, with `words`
    /// typed so far (the last one being completed), as the generated scripts ask.
    static func complete(
        _ a: AgentVault, _ subcommands: [String], _ argument: String, _ words: [String],
        env: [String: String]
    ) throws -> (status: Int32, items: [String], stderr: String) {
        let typed = ["keyhold"] + words
        let last = typed[typed.count - 1]
        let r = try CLI.run(
            ["---completion"] + subcommands + ["--", argument, String(typed.count - 1), String(last.count)] + typed,
            env: env)
        return (r.status, r.stdout.split(separator: "\n").map(String.init), r.stderr)
    }

    @Test func theScriptsComeFromTheCommandTree() throws {
        for shell in ["bash", "zsh", "fish"] {
            let r = try CLI.run(["--generate-completion-script", shell])
            #expect(r.status == 0, "\(shell): \(r.stderr)")
            // Every subcommand of the real tree, and the hooks that ask keyhold for names.
            for name in [
                "init", "status", "user", "role", "secret", "key", "audit", "backup", "check", "run", "import", "export",
                "upgrade", "unlock", "lock", "rotate-root", "rotate-by", "grant-role", "exact-depth", "new-version"
            ] {
                #expect(r.stdout.contains(name), "the \(shell) script does not know \(name)")
            }
            #expect(r.stdout.contains("---completion"), "the \(shell) script never asks keyhold for names")
        }
    }

    @Test func namesComeFromTheAgentAndNeverFromALogin() throws {
        let a = try AgentVault()
        for (name, value) in [("app/prod/SECRET_KEY", "one"), ("app/prod/API_TOKEN", "two"), ("ops/backup", "three")] {
            #expect(try a.run(["secret", "set", name, "--stdin"], as: a.admin, stdin: value).status == 0)
        }
        _ = try a.vault.addUser("bob")
        // Each count through a login of its own adds that login: one more each time, no other.
        let logins = try a.events("login").count
        let db = ["--db", a.vault.db]

        // No agent: nothing offered, no prompt, no login, even with a password in the environment.
        for env in [a.nobody, a.admin] {
            let none = try Self.complete(a, ["secret", "show"], "positional@0", ["secret", "show"] + db + ["app/"], env: env)
            #expect(none.status == 0 && none.items.isEmpty, "\(none.items) \(none.stderr)")
            #expect(!none.stderr.contains("assword"), "completion asked for a password: \(none.stderr)")
        }
        #expect(try a.events("login").count == logins + 1, "completing logged in")

        // With an agent: what it serves.
        #expect(try a.unlock().status == 0)
        let served = try a.events("login", throughAgent: true).count
        let secrets = try Self.complete(a, ["secret", "show"], "positional@0", ["secret", "show"] + db + ["app/"], env: a.nobody)
        #expect(secrets.items == ["app/prod/API_TOKEN", "app/prod/SECRET_KEY"], "\(secrets.items) \(secrets.stderr)")
        let only = try Self.complete(a, ["run"], "--only", ["run"] + db + ["--only", "ops"], env: a.nobody)
        #expect(only.items == ["ops/backup"], "\(only.items) \(only.stderr)")
        let users = try Self.complete(a, ["user", "lock"], "positional@0", ["user", "lock"] + db + [""], env: a.nobody)
        #expect(users.items == ["admin", "bob"], "\(users.items) \(users.stderr)")
        let roles = try Self.complete(a, ["user", "grant-role"], "positional@1", ["user", "grant-role"] + db + ["bob", "op"], env: a.nobody)
        #expect(roles.items == ["operator"], "\(roles.items) \(roles.stderr)")
        // The agent serves its own user only: another KEYHOLD_USER gets nothing, still without a login.
        let other = try Self.complete(
            a, ["secret", "show"], "positional@0", ["secret", "show"] + db + [""],
            env: a.nobody.merging(["KEYHOLD_USER": "bob", "KEYHOLD_PASSWORD": "whatever it is"]) { $1 })
        #expect(other.items.isEmpty, "\(other.items)")
        #expect(try a.events("login", throughAgent: true).count == served, "completing logged in")
    }
}
