import KeyholdCrypto
import KeyholdStore

extension Session {
    /// Audit events matching a filter.
    public func auditEvents(_ query: AuditQuery = AuditQuery()) throws -> [AuditEvent] {
        try read(requires: .auditRead, action: "audit.list") { tx, _ in
            try tx.auditEvents(query).map {
                AuditEvent(
                    seq: $0.seq, at: $0.at, actor: $0.actorName, action: $0.action, target: $0.target,
                    details: $0.details, signed: $0.signature != nil)
            }
        }
    }

    /// Walks the hash chain and every signature; names the first event that fails.
    public func verifyAudit() throws -> AuditVerification {
        try read(requires: .auditRead, action: "audit.verify") { tx, _ in try AuditChain.verify(tx) }
    }

    /// `<seq>:<hex>` of the last event: print it now, check it later to notice a cut tail.
    public func auditHead() throws -> String {
        try read(requires: .auditRead, action: "audit.head") { tx, _ in
            guard let last = try tx.lastAuditEvent() else { return "0:" + Store.hex(AuditChain.genesis) }
            return AuditChain.head(last)
        }
    }

    /// Checks that the log still holds the event of an earlier head, with the same hash, and that the chain verifies.
    public func checkAuditHead(_ head: String) throws -> AuditVerification {
        let parts = head.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0, parts[1].count == 64,
            parts[1].allSatisfy(\.isHexDigit)
        else {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "head", rule: .format,
                    message: "head: must be <seq>:<64 hex digits>, as printed by audit head"))
        }
        return try read(requires: .auditRead, action: "audit.check-head") { tx, _ in
            var result = try AuditChain.verify(tx)
            guard result.ok, seq > 0 else { return result }
            guard let event = try tx.auditEvent(seq: seq) else {
                result.failure = (seq, "the log ends at event \(result.events) but the head names event \(seq): the tail was cut")
                return result
            }
            if Store.hex(event.hash) != parts[1].lowercased() {
                result.failure = (seq, "event \(seq) differs from the recorded head (the log was rewritten)")
            }
            return result
        }
    }

    // MARK: Keys and settings

    /// Data keys, grants and the standing revocation warning.
    public func keyStatus() throws -> KeyStatus {
        let requests = try keyRequests()
        var status = try read(requires: .keysManage, action: "key.status") { tx, _ in
            let keys = try tx.dataKeys()
            let holders = try tx.grantHolders()
            let v = try tx.requiredVault()
            return KeyStatus(
                dataKeyVersions: keys.map(\.version), activeDataKey: keys.first { $0.active }?.version ?? 0,
                grantedUsers: holders.filter { !$0.pending }.map(\.username).sorted(),
                pendingGrants: holders.filter(\.pending).map(\.username).sorted(), requests: requests,
                revocationWarning: v.revocationWarning,
                kdf: KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit),
                minDecryptVersion: v.minDecryptVersion, rootVersion: v.rootVersion,
                rotation: try tx.runningRotation().map { job in
                    RotationState(
                        targetVersion: job.targetVersion, total: job.total,
                        remaining: try tx.countVersionsBelow(keyVersion: job.targetVersion),
                        startedAt: job.startedAt)
                },
                problems: try keyProblems(tx).problems)
        }
        status.rotation?.leaseHeld = rotationLeaseHeld()
        return status
    }

    /// Changes vault settings. The KDF cost may only be raised; weaker hashes are upgraded at each user's next login.
    public func updateSettings(passwordMinLength: Int? = nil, historyLimit: Int? = nil, kdf: KDFCost? = nil) throws {
        let minLength = try passwordMinLength.map { n in try Vault.valid { try Validate.passwordMinimumSetting(n) } }
        if let historyLimit, !(1...1000).contains(historyLimit) {
            throw KeyholdError.invalid(
                ValidationError(
                    field: "history limit", rule: .range,
                    message: "history limit: must be 1 to 1000 (got \(historyLimit))"))
        }
        try perform(.vaultSettings, target: "vault", requires: .keysManage) { op in
            let v = try op.tx.requiredVault()
            let current = KDFCost(opslimit: v.kdfOpslimit, memlimit: v.kdfMemlimit)
            if let kdf, !kdf.isAtLeast(current) {
                throw KeyholdError.invalid(
                    ValidationError(
                        field: "kdf", rule: .lower,
                        message: "kdf: the cost may only be raised (now t=\(current.opslimit), \(current.memlimit) bytes)"))
            }
            let next = kdf ?? current
            try op.tx.updateVaultSettings(
                kdfOpslimit: next.opslimit, kdfMemlimit: next.memlimit,
                passwordMinLength: minLength ?? v.passwordMinLength,
                historyLimit: historyLimit ?? v.historyLimit, tempPasswordTTL: v.tempPasswordTTL)
            if let minLength { op.details["password_min_length"] = .int(Int64(minLength)) }
            if let historyLimit { op.details["history_limit"] = .int(Int64(historyLimit)) }
            if let kdf { op.details["kdf_opslimit"] = .int(Int64(kdf.opslimit)); op.details["kdf_memlimit"] = .int(Int64(kdf.memlimit)) }
        }
    }
}
