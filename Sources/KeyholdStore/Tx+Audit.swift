import Foundation
import GRDB

// The audit log: append-only, read in order of sequence number.
extension Tx {
    // MARK: Audit

    private static let auditSelect = "SELECT " + AuditRow.columns + " FROM audit_events e"

    public func lastAuditEvent() throws -> AuditRow? {
        try mapRow(db.cachedStatement(sql: Tx.auditSelect + " ORDER BY seq DESC LIMIT 1"), [], AuditRow.init(row:))
    }

    public func auditEvent(seq: Int64) throws -> AuditRow? {
        try mapRow(db.cachedStatement(sql: Tx.auditSelect + " WHERE seq = ?"), [seq], AuditRow.init(row:))
    }

    public func insertAudit(_ e: AuditRow) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details,
                                          prev_hash, hash, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            e.seq, e.at, e.actorID, e.actorName, e.actorKeyID, e.action, e.target, e.details,
            Data(e.prevHash), Data(e.hash), data(e.signature)
        ])
    }

    public func auditEvents(_ q: AuditQuery) throws -> [AuditRow] {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let a = q.actor { clauses.append("actor_name = ? COLLATE NOCASE"); args.append(a) }
        if let a = q.action {
            if a.hasSuffix(".") {
                clauses.append("action LIKE ? ESCAPE '\\'"); args.append(Tx.escapeLike(a) + "%")
            } else {
                clauses.append("action = ?"); args.append(a)
            }
        }
        if let t = q.target { clauses.append("target LIKE ? ESCAPE '\\'"); args.append("%" + Tx.escapeLike(t) + "%") }
        if let s = q.since { clauses.append("at >= ?"); args.append(s) }
        if let u = q.until { clauses.append("at < ?"); args.append(u) }
        if let s = q.afterSeq { clauses.append("seq > ?"); args.append(s) }
        var sql = Tx.auditSelect
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += q.newestFirst ? " ORDER BY seq DESC" : " ORDER BY seq"
        sql += " LIMIT ?"
        args.append(q.limit ?? -1)
        return try mapRows(db.makeStatement(sql: sql), StatementArguments(args), AuditRow.init(row:))
    }

    /// Every audit event in order, one at a time (for verification without loading the log).
    public func forEachAuditEvent(_ body: (AuditRow) throws -> Void) throws {
        try forEachRow(db.makeStatement(sql: Tx.auditSelect + " ORDER BY seq")) { try body(AuditRow(row: $0)) }
    }

    public func auditCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM audit_events")) ?? 0 }
}

extension AuditRow {
    /// What `init(row:)` reads, in its order, from `audit_events e`.
    static let columns = """
        e.seq, e.at, e.actor_id, e.actor_name, e.actor_key_id, e.action, e.target, e.details, e.prev_hash, e.hash, e.signature
        """

    init(row: Row) throws {
        let c = Columns(row, "audit_events")
        self.init(
            seq: try c.value(0), at: try c.value(1), actorID: try c.optional(2), actorName: try c.value(3),
            actorKeyID: try c.optional(4), action: try c.value(5), target: try c.value(6), details: try c.value(7),
            prevHash: try c.value(8), hash: try c.value(9), signature: try c.optional(10))
    }
}
