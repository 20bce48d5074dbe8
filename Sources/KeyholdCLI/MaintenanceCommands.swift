import ArgumentParser
import Foundation
import KeyholdCore

/// `keyhold key ...`
struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Data keys, the root key and grants.",
        subcommands: [Status.self, Requests.self, Approve.self, RotateData.self, Resume.self, RotateRoot.self, Recover.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show data keys, grants and warnings.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        func run() throws {
            try runReporting {
                let s = try session.session(resume: false)
                let k = try s.keyStatus()
                let job = try s.pendingRotation()
                if output.json {
                    try Output.printJSON([
                        "data_keys": k.dataKeyVersions, "active_data_key": k.activeDataKey, "granted": k.grantedUsers,
                        "pending": k.pendingGrants, "revocation_warning": k.revocationWarning.map { $0 as Any } ?? NSNull(),
                        "kdf": ["opslimit": k.kdf.opslimit, "memlimit": k.kdf.memlimit],
                        "interrupted_rotation": job.map {
                            ["to": $0.targetVersion, "total": $0.total, "remaining": $0.remaining, "running": $0.leaseHeld] as Any
                        } ?? NSNull(),
                        "problems": k.problems.map { ["area": $0.area, "location": $0.location, "message": $0.message] }
                    ])
                    if !k.problems.isEmpty { throw ExitCode(Exit.integrity) }
                    return
                }
                try Terminal.out(
                    Output.table(
                        ["ITEM", "VALUE"],
                        [
                            ["active data key", "version \(k.activeDataKey)"],
                            ["data key versions", k.dataKeyVersions.map(String.init).joined(separator: ", ")],
                            ["key holders", k.grantedUsers.joined(separator: ", ")],
                            ["pending grants", k.pendingGrants.isEmpty ? "-" : k.pendingGrants.joined(separator: ", ")],
                            [
                                "password KDF",
                                "Argon2id t=\(k.kdf.opslimit), "
                                    + (k.kdf.memlimit >= 1 << 20 ? "\(k.kdf.memlimit >> 20) MiB" : "\(k.kdf.memlimit >> 10) KiB")
                            ],
                            [
                                "interrupted rotation",
                                job.map {
                                    "to key \($0.targetVersion): \($0.remaining) of \($0.total) version(s) left "
                                        + ($0.leaseHeld
                                            ? "(running in another process)"
                                            : "(finishes at the next login of a key manager, or `keyhold key resume`)")
                                } ?? "-"
                            ]
                        ]))
                for p in k.problems {
                    try Terminal.out("PROBLEM [\(p.area)] \(Validate.visible(p.location)): \(Validate.visible(p.message))")
                }
                if let w = k.revocationWarning {
                    try Terminal.out(
                        "\nWARNING: \(w.split(separator: "\n").map { Validate.visible(String($0)) }.joined(separator: "; "))\n"
                            + "Rotate the root key (and the data key for full revocation).")
                }
                if !k.problems.isEmpty { throw ExitCode(Exit.integrity) }
            }
        }
    }
}

/// `keyhold backup PATH`
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent, still-encrypted copy of the vault (mode 0600), even while it is in use.")
    @OptionGroup var session: SessionOptions
    @Argument(help: "Where to write the copy (must not exist).") var path: String
    func run() throws {
        try runReporting {
            try session.session().backup(to: path)
            Terminal.err("Backup written to \(path).")
        }
    }
}

/// `keyhold check`
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run SQLite's integrity check, open every ciphertext you may, and verify the audit chain.")
    @OptionGroup var session: SessionOptions
    @OptionGroup var output: JSONFlag
    func run() throws {
        try runReporting {
            let r = try session.session(resume: false).check()
            if output.json {
                try Output.printJSON([
                    "ok": r.ok, "versions_opened": r.versionsOpened, "audit_events": r.auditEvents, "skipped": r.skipped,
                    "problems": r.problems.map { ["area": $0.area, "location": $0.location, "message": $0.message] },
                    "warnings": r.warnings.map { ["area": $0.area, "message": $0.message] }
                ])
            } else {
                try Terminal.out("secret versions opened: \(r.versionsOpened)")
                try Terminal.out("audit events verified:  \(r.auditEvents)")
                for s in r.skipped { try Terminal.out("skipped: \(s)") }
                for w in r.warnings { try Terminal.out("WARNING [\(w.area)] \(Validate.visible(w.message))") }
                for p in r.problems {
                    try Terminal.out("PROBLEM [\(p.area)] \(Validate.visible(p.location)): \(Validate.visible(p.message))")
                }
                try Terminal.out(r.ok ? "OK" : "\(r.problems.count) problem(s)")
            }
            if !r.ok { throw ExitCode(Exit.integrity) }
        }
    }
}
