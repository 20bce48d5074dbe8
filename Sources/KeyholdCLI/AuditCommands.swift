import ArgumentParser
import Foundation
import KeyholdCore

/// `keyhold audit ...`
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the tamper-evident audit log.",
        subcommands: [List.self, Verify.self, Head.self, CheckHead.self])

    static func json(_ e: AuditEvent) -> [String: Any] {
        let details = (try? JSONSerialization.jsonObject(with: Data(e.details.utf8))) ?? e.details
        return [
            "seq": e.seq, "at": Clock.format(e.at), "actor": e.actor, "action": e.action, "target": e.target,
            "details": details, "signed": e.signed
        ]
    }

    static func report(_ v: AuditVerification, json: Bool) throws {
        if json {
            var out: [String: Any] = ["ok": v.ok, "events": v.events, "head": v.head ?? NSNull()]
            if let f = v.failure { out["failure"] = ["seq": f.seq, "reason": f.reason] }
            try Output.printJSON(out)
        } else if let f = v.failure {
            // The reason may quote stored text (an action name): made visible, like every string from the vault.
            try Terminal.out("audit chain BROKEN at event \(f.seq): \(Validate.visible(f.reason))")
        } else {
            try Terminal.out("audit chain verified: \(v.events) events, head \(v.head ?? "-")")
        }
        if !v.ok { throw ExitCode(Exit.integrity) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List events, oldest first, with filters.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Option(help: "Only events by this user.", completion: .custom(Completions.usernames)) var actor: String?
        @Option(help: "Only this action (e.g. secret.reveal), or a prefix ending in '.' (e.g. user.).") var action: String?
        @Option(help: "Only events whose target contains this text.") var target: String?
        @Option(help: "From this time (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ, UTC).") var since: String?
        @Option(help: "Before this time.") var until: String?
        @Option(help: "At most this many events (the newest ones).") var limit: Int?

        func validate() throws {
            try limit.map { try checkOption($0, "--limit", Validate.eventLimitRange) }
            _ = try since.flatMap { try DateArgument.parse($0, field: "--since") }
            _ = try until.flatMap { try DateArgument.parse($0, field: "--until") }
        }

        func run() throws {
            try runReporting {
                var filter = AuditFilter(
                    actor: actor, action: action, target: target,
                    since: try since.flatMap { try DateArgument.parse($0, field: "--since") },
                    until: try until.flatMap { try DateArgument.parse($0, field: "--until") })
                let s = try session.session()
                // The log as it is now: events appended while the listing is written are not in it.
                let (start, through) = try s.auditListingStart(newest: limit, filter)
                filter.throughSeq = through
                let pages = { (at: PagePosition<Int64>) in try s.auditPage(filter, at: at, limit: Listing.pageSize) }
                if output.json {
                    var list = JSONListStream(key: "events")
                    try Listing.each(from: start, pages) { try list.write($0.map(AuditCommand.json)) }
                    try list.finish()
                    return
                }
                var table = TableStream(["SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"])
                try Listing.each(from: start, pages) { events in
                    try table.write(
                        events.map {
                            [
                                String($0.seq), Clock.format($0.at), $0.actor + ($0.signed ? "" : " (unsigned)"), $0.action, $0.target,
                                $0.details
                            ]
                        })
                }
                try table.finish()
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the hash chain and every signature; name the first event that fails.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        func run() throws { try runReporting { try AuditCommand.report(try session.session().verifyAudit(), json: output.json) } }
    }

    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the head (<seq>:<hash>) to keep elsewhere; check it later with check-head.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        func run() throws {
            try runReporting {
                let head = try session.session().auditHead()
                try Terminal.out(output.json ? Output.json(["head": head]) : head)
            }
        }
    }

    struct CheckHead: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-head", abstract: "Check that the log still holds an earlier head (a cut tail is noticed).")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(help: "A head printed by `audit head`.") var head: String
        func run() throws { try runReporting { try AuditCommand.report(try session.session().checkAuditHead(head), json: output.json) } }
    }
}
