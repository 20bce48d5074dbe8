import Foundation
import KeyholdTestSupport
import Testing

/// README's first session and its Flask steps, taken from README.md itself and pasted into a
/// shell on a terminal, as a newcomer would: a fresh HOME (so the default vault), nothing set
/// but `$TOKEN`, every prompt answered at the keyboard. `flask` and `./deploy.sh` are the
/// reader's own programs; here they are small scripts that report what they were given.
@Suite struct ReadmeTests {
    /// The first ```sh block after the heading `heading` in README.md.
    static func block(after heading: String) throws -> String {
        let readme = try String(contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let h = readme.range(of: "\n\(heading)\n"),
            let open = readme.range(of: "```sh\n", range: h.upperBound..<readme.endIndex),
            let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex)
        else {
            throw TestFailure("README.md has no ```sh block after \(heading)")
        }
        return String(readme[open.upperBound..<close.lowerBound])
    }

    @Test func theFirstSessionAndTheFlaskStepsWorkAsPasted() throws {
        let session = try Self.block(after: "### A first session")
        let flask = try Self.block(after: "### A Flask application on the vault")
        #expect(session.hasPrefix("keyhold init") && flask.contains("keyhold run --prefix app/dev/"))

        let home = TempDir(prefix: "keyhold-readme")
        let bin = home.file("bin"), runtime = home.file("run")
        for dir in [bin, runtime] {
            try FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        try FileManager.default.createSymbolicLink(atPath: bin + "/keyhold", withDestinationPath: KeyholdBinary.path)
        // From the repository root, as the README says: examples/ is there.
        let work = home.file("repo")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: work + "/examples",
            withDestinationPath: Repository.root.appendingPathComponent("examples").path)
        func script(_ path: String, _ text: String) {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o700])
        }
        // What the program was given: which variables, their lengths, never their values.
        let report = #"""
            #!/bin/sh
            for v in SECRET_KEY STRIPE_KEY API_TOKEN KEYHOLD_PASSWORD KEYHOLD_USER; do
              eval "set_=\${$v+set}; x=\${$v-}"
              if [ -n "$set_" ]; then printf '%s: %s=%s characters\n' "${0##*/}" "$v" "${#x}"; else printf '%s: %s=\n' "${0##*/}" "$v"; fi
            done

            """#
        script(bin + "/flask", report + "printf 'flask: args %s\\n' \"$*\"\n[ $# -eq 1 ] || [ -f \"$2\" ] || exit 9\n")
        script(work + "/deploy.sh", report + "printf 'deploy.sh: stripe key %s\\n' \"$STRIPE_KEY\"\n")

        let password = "granite harbour lamps at dusk"
        let stripe = "sk_live_stripe_value_typed_at_the_prompt"
        let token = "api-token-value-from-the-shell"
        let text = "set -e\ncd \(work)\n" + session + "\n" + flask + "\n"
        let file = home.file("pasted.sh")
        _ = FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        var env = KeyholdBinary.environment([
            "HOME": home.path, "XDG_RUNTIME_DIR": runtime, "PATH": bin + ":/usr/bin:/bin",
            "TOKEN": token, "TERM": "xterm"
        ])
        env["XDG_DATA_HOME"] = nil
        defer { _ = try? CLI.run(["lock"], env: ["HOME": home.path, "XDG_RUNTIME_DIR": runtime]) }

        let r = try PseudoTerminal.run(
            "/bin/bash", ["--noprofile", "--norc", file], env: env,
            answers: [
                .init("Username \\[admin\\]: ", reply: "admin"),
                .init("(?<!\\[admin\\]: )Username: ", reply: "admin"),
                .init("New password: ", reply: password, secret: true),
                .init("Repeat new password: ", reply: password, secret: true),
                .init("Password: ", reply: password, secret: true),
                .init("Type the recovery key back to confirm you saved it: ", from: "([0-9A-Z]{5}(?:-[0-9A-Z]{5}){12})", secret: true),
                .init("Value for app/prod/STRIPE_KEY \\(not echoed\\): ", reply: stripe, secret: true),
                .init("To delete secret app/prod/API_TOKEN, type its name \\(anything else cancels\\): ", reply: "app/prod/API_TOKEN")
            ], timeout: 240)
        let shown = r.transcript.replacingOccurrences(of: stripe, with: "<stripe>").replacingOccurrences(of: token, with: "<token>")
            .replacingOccurrences(of: password, with: "<password>")
        quietExpect(r.status == 0, "the pasted steps exited \(r.status):\n\(shown.suffix(3000))")
        for said in [
            "Recovery key confirmed.", "Unlocked ", "stored app/prod/STRIPE_KEY version 1", "stored app/prod/API_TOKEN version 1",
            "generated app/prod/SECRET_KEY version 1", "app/prod/API_TOKEN: deleted.",
            "flask: SECRET_KEY=64 characters", "flask: STRIPE_KEY=\(stripe.count) characters", "flask: API_TOKEN=\n",
            "flask: KEYHOLD_PASSWORD=\n", "flask: args run", "deploy.sh: stripe key ",
            "generated app/dev/SECRET_KEY version 1", "flask: args --app examples/flask/app.py run",
            "audit chain:  verified", "rotation:     none unfinished"
        ] {
            quietExpect(r.transcript.contains(said), "the transcript lacks \"\(said)\":\n\(shown.suffix(3000))")
        }
        // --mask: the deploy script's output shows no value; the session never echoed the typed ones.
        quietExpect(!r.transcript.contains("deploy.sh: stripe key \(stripe)"), "--mask let the value through")
        quietExpect(!r.transcript.contains(password) && !r.transcript.contains(stripe), "a typed secret was echoed")
        #expect(
            FileManager.default.fileExists(atPath: work + "/keyhold-backup.db")
                && FileManager.default.fileExists(atPath: work + "/head.txt"))
        #expect(FileManager.default.fileExists(atPath: home.file(".local/share/keyhold/keyhold.db")), "not the default vault")
        #expect(
            !FileManager.default.fileExists(atPath: runtime + "/keyhold")
                || ((try? FileManager.default.contentsOfDirectory(atPath: runtime + "/keyhold")) ?? []).allSatisfy {
                    !$0.hasSuffix(".sock")
                },
            "the README's keyhold lock left the agent running")
    }
}
