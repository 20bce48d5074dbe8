import Foundation
import KeyholdAgent

/// What the shell completion scripts (`--generate-completion-script`, written by the argument
/// parser from the command tree itself) offer for secret names, usernames and roles: asked of
/// the vault's agent when one runs (`keyhold unlock`), and nothing otherwise. Completing never
/// logs in, never asks for a password and never reads KEYHOLD_PASSWORD: a Tab press is not a login.
enum Completions {
    @Sendable static func secretNames(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        listed(words, ["secret", "list", "--json"], key: "secrets", field: "name", prefix: prefix)
    }

    @Sendable static func usernames(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        listed(words, ["user", "list", "--json"], key: "users", field: "username", prefix: prefix)
    }

    @Sendable static func roles(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        listed(words, ["role", "list", "--json"], key: "roles", field: "name", prefix: prefix)
    }

    /// The vault a command line names (`--db PATH` or `--db=PATH` among its words), else the
    /// one from the environment: for completion, and for routing a command to the agent.
    static func vaultPath(_ words: [String], environment: [String: String]) -> String {
        var db: String?
        for (i, w) in words.enumerated() {
            if w == "--db", i + 1 < words.count { db = words[i + 1] }
            if w.hasPrefix("--db=") { db = String(w.dropFirst("--db=".count)) }
        }
        return VaultOptionsGroup.path(db: db, environment: environment)
    }

    /// `field` of each object under `key` in the JSON that `command` prints through the agent,
    /// those starting with `prefix`, sorted; empty without an agent or on any failure.
    static func listed(_ words: [String], _ command: [String], key: String, field: String, prefix: String) -> [String] {
        let environment = ProcessInfo.processInfo.environment.filter { !AgentClient.withheld.contains($0.key) }
        let vault = vaultPath(words, environment: environment)
        guard let r = AgentClient.capture(argv: ["keyhold"] + command + ["--db", vault], vault: vault, environment: environment),
            r.status == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any],
            let items = object[key] as? [[String: Any]]
        else { return [] }
        return items.compactMap { $0[field] as? String }.filter { $0.hasPrefix(prefix) }.sorted()
    }
}
