import ArgumentParser
import Foundation
import KeyholdCore

extension KeyCommand {
    /// `keyhold key requests`: who waits for key access, with their key's fingerprint.
    struct Requests: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List users whose key access awaits an administrator's approval, with their keys' fingerprints.",
            discussion: """
                The root key is never sealed to a key because a row asks for it: each request is approved by an \
                administrator (`keyhold key approve`) once the user has read out the fingerprint their login shows them.
                """)
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag

        func run() throws {
            try runReporting {
                let requests = try session.session(resume: false).keyRequests()
                if output.json {
                    try Output.printJSON([
                        "requests": requests.map {
                            [
                                "username": $0.username, "fingerprint": $0.fingerprint.map { $0 as Any } ?? NSNull(),
                                "requested_at": Clock.format($0.requestedAt)
                            ] as [String: Any]
                        }
                    ])
                    return
                }
                guard !requests.isEmpty else { try Terminal.out("No key requests."); return }
                try Terminal.out(
                    Output.table(
                        ["USERNAME", "KEY FINGERPRINT", "REQUESTED"],
                        requests.map {
                            [$0.username, $0.fingerprint ?? "(no key yet: made at their first login)", Clock.format($0.requestedAt)]
                        }))
            }
        }
    }

    /// `keyhold key approve USER`: seals the root key to the user's key once its fingerprint is confirmed.
    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a user's key access: type the fingerprint the user reads to you from their login.",
            discussion: """
                The user sees their key's fingerprint when they log in while their access is pending. Compare it with \
                them (in person or on a channel you trust), then give it here: with --fingerprint, or typed at the \
                prompt. A fingerprint that differs is refused: the key on record is not the one the user holds.
                """)
        @OptionGroup var session: SessionOptions
        @Argument(help: "The user whose key access to approve.", completion: .custom(Completions.usernames)) var username: String
        @Option(help: "The fingerprint the user read to you (groups of four, as their login shows it).")
        var fingerprint: String?

        func run() throws {
            try runReporting {
                let s = try session.session(resume: false)
                var typed = fingerprint
                if typed == nil {
                    guard Terminal.stdinIsTTY else {
                        throw ArgumentParser.ValidationError("--fingerprint is needed when not on a terminal")
                    }
                    typed = try Terminal.ask("Fingerprint \(username) read to you from their login: ")
                }
                guard let typed, !typed.isEmpty else { throw ArgumentParser.ValidationError("no fingerprint given") }
                try s.approveKeyRequest(username, fingerprint: typed)
                try Terminal.out("\(username): key access approved (the root key is sealed to their key).")
            }
        }
    }
}

/// `keyhold upgrade`: brings a vault of an older format to this release's.
struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Upgrade a vault made by an earlier release to this release's format (a backup is written first).",
        discussion: """
            Needs an administrator holding roles.manage, keys.manage and the root key. The vault is copied to the \
            backup path first (a new file, mode 0600; default: beside the vault, named for its old format and the \
            time), then upgraded in one transaction, audited as vault.upgrade. Users pin the upgraded vault at their \
            next login; pending key requests stay pending until approved (`keyhold key approve`).
            """)
    @OptionGroup var vault: VaultOptionsGroup
    @OptionGroup var output: JSONFlag
    @Option(help: "Where to write the backup (must not exist).") var backup: String?

    func run() throws {
        try runReporting {
            let path = vault.path
            let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
            let backupPath = backup ?? "\(path).before-upgrade-\(stamp).bak"
            let user = try Credentials.username()
            let password = try Credentials.password()
            let r = try Vault.upgrade(at: path, username: user, password: password, backup: backupPath, options: vault.options)
            if output.json {
                try Output.printJSON([
                    "from_format": r.fromFormat, "format": r.toFormat, "backup": r.backup,
                    "endorsed_keys": r.endorsedKeys, "keys_to_pin": r.keysToPin,
                    "secrets_tagged": r.secretsTagged, "pending_requests": r.pendingRequests
                ])
                return
            }
            try Terminal.out(
                """
                Upgraded \(path) from format \(r.fromFormat) to format \(r.toFormat).
                Backup of the vault as it was: \(r.backup)
                \(r.endorsedKeys) key(s) holding the root key endorsed; \(r.secretsTagged) secret name(s) tagged.
                Each user pins the upgraded vault at their next login.
                """)
            if !r.pendingRequests.isEmpty {
                try Terminal.out(
                    "Key requests waiting for approval (`keyhold key approve USER` once they read you their fingerprint): "
                        + r.pendingRequests.joined(separator: ", "))
            }
        }
    }
}
