import Foundation
import KeyholdCrypto
import KeyholdStore

/// A value in an audit event's details. Details never carry a secret or a password.
public enum AuditValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case strings([String])

    /// Compact JSON, as docs/FORMAT.md section 6 specifies.
    var json: String {
        switch self {
        case .string(let s): AuditValue.quote(s)
        case .int(let i): String(i)
        case .bool(let b): b ? "true" : "false"
        case .strings(let a): "[" + a.map(AuditValue.quote).joined(separator: ",") + "]"
        }
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\u00XX`, everything else as UTF-8.
    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(format: "%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The hash chain and signatures of docs/FORMAT.md section 6.
enum AuditChain {
    static let genesis = [UInt8](repeating: 0, count: 32)

    /// Who signs an event.
    struct Signer {
        let keyID: Int64
        let keyPair: SigningKeyPair
    }

    /// A JSON object with no spaces and keys in byte order of their UTF-8.
    static func detailsJSON(_ details: [String: AuditValue]) -> String {
        let keys = details.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        return "{" + keys.map { AuditValue.quote($0) + ":" + details[$0]!.json }.joined(separator: ",") + "}"
    }

    static func canonical(_ e: AuditRow) -> [UInt8] {
        var out = Array("keyhold/audit/v1".utf8) + [0]
        func field(_ s: String) {
            let b = Array(s.utf8)
            let n = UInt32(b.count)
            out += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
            out += b
        }
        field(String(e.seq))
        field(String(e.at))
        field(e.actorID.map(String.init) ?? "")
        field(e.actorName)
        field(e.actorKeyID.map(String.init) ?? "")
        field(e.action)
        field(e.target)
        field(e.details)
        return out
    }

    static func hash(_ e: AuditRow) -> [UInt8] { Hash.blake2b256(e.prevHash + canonical(e)) }

    /// Appends one event in the caller's transaction.
    static func append(
        _ tx: Tx, at: Int64, actorID: Int64?, actorName: String, signer: Signer?, action: AuditAction,
        target: String, details: [String: AuditValue]
    ) throws {
        guard signer != nil || action.mayBeUnsigned else {
            throw KeyholdError.integrity("\(action.rawValue) must be signed (only failed logins may be unsigned)")
        }
        let last = try tx.lastAuditEvent()
        var row = AuditRow(
            seq: (last?.seq ?? 0) + 1, at: at, actorID: actorID, actorName: actorName,
            actorKeyID: signer?.keyID, action: action.rawValue, target: target,
            details: detailsJSON(details), prevHash: last?.hash ?? genesis, hash: [], signature: nil)
        row.hash = hash(row)
        row.signature = signer.map { $0.keyPair.sign(row.hash) }
        try tx.insertAudit(row)
    }

    static func head(_ row: AuditRow) -> String { "\(row.seq):\(Store.hex(row.hash))" }

    /// Walks the chain and signatures; names the first event that fails. Before the
    /// anchor (events of a vault that was upgraded to format 2) a signature by any key
    /// in the vault counts, as format 1 had it; from the anchor on, `Authority` says
    /// which keys may sign (docs/SECURITY.md, "Forged events").
    static func verify(_ tx: Tx) throws -> AuditVerification { try replay(tx).verification }

    /// `verify`, and who the log says holds which key (nil before format 2's anchor, or when
    /// the chain itself is broken and the log cannot say).
    static func replay(_ tx: Tx) throws -> (verification: AuditVerification, authority: Authority?) {
        let anchorSeq = try tx.vault()?.anchorSeq
        var legacyKeys: [Int64: [UInt8]] = [:]
        if anchorSeq != 1 { for k in try tx.userKeys() { legacyKeys[k.id] = k.publicKey } }
        var authority = Authority()
        var expectedSeq: Int64 = 1
        var prev = genesis
        var count = 0
        var last: AuditRow?
        var failure: (Int64, String)?
        var chainBroken = false
        try tx.forEachAuditEvent { e in
            // A broken chain ends the walk; after a bad signature the replay goes on (without that
            // event's effects), so that `check` still knows which keys the log introduced.
            guard !chainBroken else { return }
            var problem: String?
            if e.seq != expectedSeq {
                problem = "sequence gap: expected event \(expectedSeq), found \(e.seq) (events removed or reordered)"
                chainBroken = true
            } else if e.prevHash != prev {
                problem = "does not link to the previous event (an earlier event was changed, removed or swapped)"
                chainBroken = true
            } else if hash(e) != e.hash {
                problem = "hash does not match its contents (the event was edited)"
                chainBroken = true
            } else if let anchorSeq, e.seq == anchorSeq {
                if e.action != AuditAction.vaultCreate.rawValue && e.action != AuditAction.vaultUpgrade.rawValue {
                    problem = "the vault names it as its anchor, but it is a \(e.action) event"
                    chainBroken = true
                } else if let p = authority.start(e) {
                    problem = p
                }
            } else if let anchorSeq, e.seq > anchorSeq {
                problem = authority.apply(e)
            } else {
                problem = legacySignatureProblem(e, keys: legacyKeys)
            }
            expectedSeq = e.seq + 1
            prev = e.hash
            if let problem {
                if failure == nil { failure = (e.seq, problem) }
            } else if failure == nil {
                count += 1
                last = e
            }
        }
        if failure == nil, let anchorSeq, last.map({ $0.seq < anchorSeq }) ?? true {
            failure = (anchorSeq, "the anchor event the vault names is missing from the log")
        }
        let verification = AuditVerification(events: count, head: last.map(head), failure: failure.map { (seq: $0.0, reason: $0.1) })
        return (verification, anchorSeq == nil || chainBroken ? nil : authority)
    }

    /// Format 1's rule, for events before the anchor: signed by a key the vault holds, or an unsigned failed login.
    private static func legacySignatureProblem(_ e: AuditRow, keys: [Int64: [UInt8]]) -> String? {
        if let sig = e.signature {
            guard let keyID = e.actorKeyID, let pk = keys[keyID] else {
                return "signed by an unknown key \(e.actorKeyID.map(String.init) ?? "none")"
            }
            return SigningKeyPair.verify(signature: sig, message: e.hash, publicKey: pk)
                ? nil : "signature does not verify under key \(keyID)"
        }
        let unsigned = AuditAction(rawValue: e.action)?.mayBeUnsigned ?? false
        return unsigned && e.actorKeyID == nil ? nil : "unsigned, but \(e.action) events must be signed"
    }
}
