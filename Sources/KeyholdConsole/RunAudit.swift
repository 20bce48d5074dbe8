import KeyholdCore

/// What the audit screen (and the dashboard's audit status) asks of the core.
public enum AuditEffect: Equatable, Sendable, Codable {
    /// A window of the log (`PagedList`), newest first.
    case page(PageQuery<Int64>)
    /// The whole log counted, after its first page when it opens or refreshes.
    case count(ListCount)
    /// Checks the whole chain: hashes and signatures.
    case verify
}

/// What came of an `AuditEffect` (`UpdateAudit.swift` applies it).
public enum AuditResult: Sendable, Codable {
    case page(PageRead<AuditEvent>)
    case counted(ListCount)
    case verified(AuditVerification)
}

extension CoreRunner {
    func runAudit(_ effect: AuditEffect, _ s: Session) throws -> AuditResult {
        switch effect {
        case .page(let q):
            let filter = AuditFilter(text: q.filter.isEmpty ? nil : q.filter)
            return .page(
                try Self.read(
                    q, descending: true,
                    page: { try s.auditPage(filter, at: $0, limit: $1) },
                    count: { try s.auditCount(filter, upTo: PagedList<AuditEvent>.countCap + 1) }))
        case .count(let c):
            return .counted(ListCount(id: c.id, rows: try s.auditCount()))
        case .verify:
            return .verified(try s.verifyAudit())
        }
    }
}
