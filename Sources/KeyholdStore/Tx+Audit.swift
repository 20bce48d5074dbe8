import Foundation
import GRDB

// The audit log: append-only, read in order of sequence number.
extension Tx {
    // MARK: Audit

    func auditRow(_ r: Row) -> AuditRow {
        AuditRow(seq: r["seq"], at: r["at"], actorID: r["actor_id"], actorName: r["actor_name"],
                 actorKeyID: r["actor_key_id"], action: r["action"], target: r["target"], details: r["details"],
                 prevHash: blob(r, "prev_hash") ?? [], hash: blob(r, "hash") ?? [], signature: blob(r, "signature"))
    }

    public func lastAuditEvent() throws -> AuditRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1")).map(auditRow)
    }

    public func auditEvent(seq: Int64) throws -> AuditRow? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM audit_events WHERE seq = ?"), arguments: [seq]).map(auditRow)
    }

    public func insertAudit(_ e: AuditRow) throws {
        try db.cachedStatement(sql: """
            INSERT INTO audit_events (seq, at, actor_id, actor_name, actor_key_id, action, target, details,
                                      prev_hash, hash, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [e.seq, e.at, e.actorID, e.actorName, e.actorKeyID, e.action, e.target, e.details,
                                     Data(e.prevHash), Data(e.hash), data(e.signature)])
    }

    public func auditEvents(_ q: AuditQuery) throws -> [AuditRow] {
        var clauses: [String] = []
        var args: [any DatabaseValueConvertible] = []
        if let a = q.actor { clauses.append("actor_name = ? COLLATE NOCASE"); args.append(a) }
        if let a = q.action {
            if a.hasSuffix(".") { clauses.append("action LIKE ? ESCAPE '\\'"); args.append(Tx.escapeLike(a) + "%") }
            else { clauses.append("action = ?"); args.append(a) }
        }
        if let t = q.target { clauses.append("target LIKE ? ESCAPE '\\'"); args.append("%" + Tx.escapeLike(t) + "%") }
        if let s = q.since { clauses.append("at >= ?"); args.append(s) }
        if let u = q.until { clauses.append("at < ?"); args.append(u) }
        if let s = q.afterSeq { clauses.append("seq > ?"); args.append(s) }
        var sql = "SELECT * FROM audit_events"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += q.newestFirst ? " ORDER BY seq DESC" : " ORDER BY seq"
        sql += " LIMIT ?"
        args.append(q.limit ?? -1)
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)).map(auditRow)
    }

    /// Every audit event in order, one at a time (for verification without loading the log).
    public func forEachAuditEvent(_ body: (AuditRow) throws -> Void) throws {
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_events ORDER BY seq")
        while let r = try cursor.next() { try body(auditRow(r)) }
    }

    public func auditCount() throws -> Int { try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM audit_events")) ?? 0 }
}
