import Foundation
import KeyholdTestSupport
import Testing
@testable import KeyholdCLI
import KeyholdCore

/// `keyhold run` never lets a secret decide what code the command loads or runs, unless
/// the user names the variable with --allow-env; and it hands SIGPIPE on as it found it.
@Suite struct RunGuardTests {
    let v: SecretsFixture
    init() throws {
        v = try SecretsFixture()
        try v.set("x/value", "a harmless value")
    }

    func handouts() throws -> Int { try v.audit("secret.handout").events.count }

    @Test func theListCoversLoadersShellsAndInterpreters() {
        let refused = [
            "LD_PRELOAD", "LD_LIBRARY_PATH", "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV", "PATH", "IFS", "SHELLOPTS",
            "BASHOPTS", "PS4", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_OPTIONS", "PERL5LIB", "PERL5OPT",
            "PERLLIB", "RUBYOPT", "RUBYLIB", "GCONV_PATH", "LOCPATH", "MALLOC_CHECK_", "JAVA_TOOL_OPTIONS",
            "_JAVA_OPTIONS", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG_KEY_0", "GLIBC_TUNABLES",
            "PROMPT_COMMAND", "EDITOR", "PAGER", "LESSOPEN", "OPENSSL_CONF"
        ]
        for name in refused { #expect(Handout.loaderRule(name) != nil, "\(name) is not refused") }
        #expect(Handout.loaderRule("LD_PRELOAD") == "LD_*")
        #expect(Handout.loaderRule("PYTHONWARNINGS") == "PYTHON*")
        #expect(Handout.loaderRule("PATH") == "PATH")
        for name in ["DB_PASSWORD", "SECRET_KEY", "GITHUB_TOKEN", "GIT_TOKEN", "DATABASE_URL", "PATHWAY", "ENVIRONMENT", "path"] {
            #expect(Handout.loaderRule(name) == nil, "\(name) is refused")
        }
    }

    @Test func aSecretNamedLikeALoaderVariableIsRefusedBeforeAnythingIsRevealed() throws {
        try v.set("app/LD_PRELOAD", "/tmp/evil.so")
        let before = try handouts()
        let r = try v.run(["run", "--prefix", "app/", "--", "env"])
        #expect(r.status == 66, "\(r.stderr)")
        #expect(r.stderr.contains("LD_PRELOAD") && r.stderr.contains("LD_*") && r.stderr.contains("--allow-env LD_PRELOAD"), "\(r.stderr)")
        quietExpect(!carries(r.all, "/tmp/evil.so"), "the refused value was printed")
        #expect(try handouts() == before, "a refused run revealed something")
    }

    @Test func everyListedVariableIsRefusedThroughMapToo() throws {
        for variable in [
            "PATH", "BASH_ENV", "ENV", "IFS", "PYTHONPATH", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT", "GIT_SSH_COMMAND",
            "DYLD_INSERT_LIBRARIES", "JAVA_TOOL_OPTIONS", "SHELLOPTS", "PS4"
        ] {
            let r = try v.run(["run", "--only", "x/value", "--map", "x/value=\(variable)", "--override", "--", "env"])
            #expect(r.status == 66, "\(variable): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("would set \(variable)"), "\(variable): \(r.stderr)")
        }
    }

    @Test func allowEnvLetsTheNamedVariableThroughAndNoOther() throws {
        let allowed = try v.run([
            "run", "--only", "x/value", "--map", "x/value=PYTHONSTARTUP", "--allow-env", "PYTHONSTARTUP",
            "--", "env", "-0"
        ])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(RunTests.environment(allowed.stdout)["PYTHONSTARTUP"] == "a harmless value")

        try v.set("y/value", "another")
        let other = try v.run([
            "run", "--only", "x/value", "y/value", "--map", "x/value=PYTHONSTARTUP", "--map", "y/value=NODE_OPTIONS",
            "--allow-env", "PYTHONSTARTUP", "--", "env"
        ])
        #expect(other.status == 66, "\(other.stderr)")
        #expect(other.stderr.contains("NODE_OPTIONS"))

        let bad = try v.run(["run", "--only", "x/value", "--allow-env", "1BAD", "--", "env"])
        #expect(bad.status == 64, "\(bad.stderr)")
    }

    /// The command gets SIGPIPE as keyhold found it: the default (so `yes | head` ends quietly),
    /// or ignored when keyhold was started with it ignored. With and without --mask.
    @Test func theCommandGetsSIGPIPEAsKeyholdFoundIt() throws {
        let pipeBit: UInt64 = 1 << (UInt64(SIGPIPE) - 1)
        func ignored(_ mode: Sinks.Mode, _ mask: [String]) throws -> Bool {
            let r = try Sinks.run(
                mode, v.withDB(["run", "--only", "x/value"] + mask + ["--", "grep", "SigIgn", "/proc/self/status"]),
                env: v.owner)
            #expect(r.status == 0, "\(r.stderr)")
            let hex = r.text.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            let bits = try #require(UInt64(hex, radix: 16), "\(r.text)")
            return bits & pipeBit != 0
        }
        for mask in [[], ["--mask"]] {
            #expect(try !ignored(.sigpipeDefault, mask), "\(mask): the command inherited keyhold's SIG_IGN for SIGPIPE")
            #expect(try ignored(.sigpipeIgnored, mask), "\(mask): an ignored SIGPIPE must stay ignored")
        }
    }
}

/// The programs import and export start (gpg) never see the credentials keyhold was given.
@Suite struct ToolEnvironmentTests {
    let v: SecretsFixture
    init() throws { v = try SecretsFixture() }

    /// A `gpg` first on PATH that appends its environment to $GPG_ENV_DUMP, "decrypts" to a fixed
    /// value and "encrypts" by copying its input to --output.
    func fakeGPG() throws -> (path: String, dump: String) {
        let bin = v.scratch.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            env >> "$GPG_ENV_DUMP"
            echo ---- >> "$GPG_ENV_DUMP"
            out=""; dec=""
            while [ $# -gt 0 ]; do
              case "$1" in --output) out="$2"; shift ;; --decrypt) dec=1 ;; esac
              shift
            done
            if [ -n "$dec" ]; then printf 'value-from-gpg'; fi
            if [ -n "$out" ]; then cat > "$out"; fi
            exit 0

            """
        _ = FileManager.default.createFile(atPath: bin + "/gpg", contents: Data(script.utf8), attributes: [.posixPermissions: 0o700])
        return (bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"), v.scratch.file("gpg-env"))
    }

    @Test func gpgGetsNoPasswordOrUser() throws {
        let gpg = try fakeGPG()
        let env = v.owner.merging([
            "PATH": gpg.path, "GPG_ENV_DUMP": gpg.dump, "KEYHOLD_NEW_PASSWORD": "a new password 1234",
            "MARKER_FOR_GPG": "present"
        ]) { _, b in b }
        // Import from a store of one file, then export to a new store.
        let store = v.scratch.file("store")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: store + "/.gpg-id", contents: Data("someone@example.com\n".utf8))
        _ = FileManager.default.createFile(atPath: store + "/token.gpg", contents: Data("ciphertext".utf8))
        let imported = try v.run(["import", "--format", "pass", store], as: env)
        #expect(imported.status == 0, "\(imported.stderr)")
        let exported = try v.run(
            ["export", "--format", "pass", "--gpg-id", "someone@example.com", "--yes", v.scratch.file("out")],
            as: env)
        #expect(exported.status == 0, "\(exported.stderr)")

        let dump = try String(contentsOfFile: gpg.dump, encoding: .utf8)
        let runs = dump.components(separatedBy: "----\n").filter { !$0.isEmpty }
        #expect(runs.count >= 3, "gpg ran \(runs.count) times")
        for run in runs {
            let names = Set(run.split(separator: "\n").compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
            #expect(names.contains("MARKER_FOR_GPG"), "the rest of the environment must pass")
            for withheld in ["KEYHOLD_PASSWORD", "KEYHOLD_NEW_PASSWORD", "KEYHOLD_USER"] {
                #expect(!names.contains(withheld), "gpg was given \(withheld)")
            }
        }
        quietExpect(!carries(dump, SecretsFixture.ownerPassword), "gpg's environment holds the owner's password")
    }
}
