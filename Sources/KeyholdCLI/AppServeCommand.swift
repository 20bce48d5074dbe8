import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore

/// `keyhold app-serve`: the application service (docs/APPLICATIONS.md, "The application service").
struct AppServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app-serve",
        abstract: "Serve local applications' logins and password changes on a Unix socket (allow-listed uids only).",
        discussion: """
            Runs in the foreground (for systemd or a terminal) until SIGTERM, SIGHUP or Ctrl-C, as the vault's \
            owner, holding no user's keys. An application whose process runs as an allowed uid (--allow, checked \
            with SO_PEERCRED on every connection) may ask it to verify a login (Keyhold's own lockout, counted \
            failures and audit events, marked "via": "app"; a legacy hash is replaced at a successful login) and \
            to change a user's own password (the current one required). Nothing else. If the vault file is \
            replaced while it serves (moved, removed or written over), it answers vault_replaced, writes nothing \
            and exits 1. The protocol and a Python client: docs/APPLICATIONS.md and examples/flask/keyhold_app.py.
            """)
    @OptionGroup var vault: VaultOptionsGroup
    @Option(
        help:
            "The socket's path (default: $XDG_RUNTIME_DIR/keyhold/app-<vault>.sock, for applications of your own uid); its directory must not be writable by others."
    )
    var socket: String?
    @Option(
        help: ArgumentHelp(
            "A uid or user name whose processes may use the service; repeat for several. At least one.",
            valueName: "uid-or-user"))
    var allow: [String] = []

    func run() throws {
        try runReporting {
            let uids = try allowList()
            let env = Terminal.environment
            let path =
                try socket.map { s -> String in
                    guard !s.isEmpty else { throw ValidationError("--socket: give a path") }
                    return s
                } ?? AppServer.defaultPath(forVault: vault.path, environment: env)
            let opened = try Vault.open(at: vault.path, options: vault.options)
            let listener = try AppServer.listen(at: path, allowed: Set(uids))
            let server = AppServer(
                vault: opened, socketPath: path, allowed: Set(uids),
                log: { line in Terminal.err("keyhold app-serve: \(line)") })
            try Terminal.out(
                "Serving applications on \(path) for uid \(uids.map(String.init).joined(separator: ", ")) "
                    + "(SIGTERM or Ctrl-C ends it).")
            // The vault's file replaced while serving: the service stopped, and says why (exit 1).
            if let replaced = server.serve(listener: listener) { throw replaced }
        }
    }

    /// `--allow` as uids: a number, or a user name looked up in the system's user database.
    func allowList() throws -> [uid_t] {
        guard !allow.isEmpty else {
            throw ValidationError(
                "--allow: name at least one uid or user whose applications may use the service "
                    + "(your own: --allow \(geteuid()))")
        }
        return try allow.map { given in
            if !given.isEmpty, given.count <= 10, given.allSatisfy(\.isASCII), given.allSatisfy(\.isNumber), let uid = UInt32(given) {
                return uid
            }
            guard let entry = getpwnam(given) else {
                throw ValidationError("--allow \(Validate.visible(given)): no such user (give a uid or a user name)")
            }
            return entry.pointee.pw_uid
        }
    }
}
