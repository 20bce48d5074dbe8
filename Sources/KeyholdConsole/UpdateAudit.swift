import KeyholdCore

/// The audit screen: its keys, the chain's verification (also started from the dashboard), and
/// what comes back from the core for them.
extension Model {
    // MARK: Keys

    mutating func auditKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        if let handled = Self.listKey(key, &audit.rows, page: listPage) { return handled }
        switch key {
        case .char("v"), .char("V"): verifyAudit(&fx)
        case .char("n"):
            if case .done(let v) = audit.check, let f = v.failure { selectAuditEvent(f.seq) }
        case .escape:
            var focus = Pane.list
            if Self.back(&audit.rows, focus: &focus) { go(.dashboard, &fx) }
        case .char("r"): reload(.audit, &fx)
        default: return false
        }
        return true
    }

    /// Selects an event by sequence number: in the window, at once; else read around it,
    /// clearing a filter (which may hide it).
    mutating func selectAuditEvent(_ seq: Int64) {
        let page = Layout.listRows(.audit, width: width, height: height)
        if let i = audit.rows.items.firstIndex(where: { $0.seq == seq }) {
            audit.rows.select(audit.rows.base + i, page: page)
            return
        }
        if !audit.rows.filter.isEmpty { audit.rows.filter.clear() }
        audit.rows.selectedKey = seq
        audit.rows.want(.around(seq), count: true)
    }

    mutating func verifyAudit(_ fx: inout [Effect]) {
        guard let account else { return }
        guard account.can(.auditRead) else { toast("Verifying the audit chain needs audit.read", error: true); return }
        guard audit.check != .running else { return }
        audit.check = .running
        fx.append(.audit(.verify))
    }

    // MARK: Results

    mutating func auditResult(_ result: AuditResult, _ fx: inout [Effect]) {
        switch result {
        case .page(let read):
            _ = audit.rows.apply(read, page: Layout.listRows(.audit, width: width, height: height))
        case .counted(let c):
            _ = audit.rows.apply(c, page: Layout.listRows(.audit, width: width, height: height))
        case .verified(let v):
            audit.check = .done(v)
            if route == .audit {
                if let f = v.failure {
                    toast("Audit chain fails at event \(f.seq)", error: true)
                    selectAuditEvent(f.seq)
                } else {
                    toast("Audit chain verified: \(Fmt.plural(v.events, "event"))")
                }
            }
        }
    }

    mutating func auditFailed(_ effect: AuditEffect, _ message: String) {
        switch effect {
        case .page: audit.rows.failed(message)
        case .count(let c): audit.rows.countFailed(id: c.id, message)
        case .verify: audit.check = .failed(message)
        }
    }
}
