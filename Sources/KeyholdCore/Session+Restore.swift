import Foundation
import KeyholdCrypto
import KeyholdStore
import Synchronization

/// What a restore found in its backup, before anything is replaced.
public struct RestoreCheck: Sendable, Equatable {
    /// `check` of the backup, in full (every ciphertext, the audit log and who signed it).
    public var report: CheckReport
    /// Events of the live log that the backup does not have: the restore cuts them.
    public var cutEvents: Int
    /// The sequence number of the last of them (the live log's newest event); nil when none.
    public var cutThrough: Int64?
    /// Events the live log and the backup share (the same sequence numbers and hashes).
    public var sharedEvents: Int64
}

/// What a restore did.
public struct RestoreResult: Sendable, Equatable {
    /// The backup restored, as an absolute path.
    public var backup: String
    /// The live vault's path.
    public var vault: String
    /// Where the replaced contents are kept (docs/SECURITY.md, "Restore").
    public var kept: String
    public var cutEvents: Int
    public var cutThrough: Int64?
    /// The sequence number of the `vault.restore` event in the restored log.
    public var eventSeq: Int64
    /// The backup was another vault (`--other-vault`).
    public var otherVault: Bool
    /// Whether the WAL could be truncated afterwards (false: a reader outside Keyhold held it,
    /// and pages of the replaced contents may remain in the -wal file until a later checkpoint).
    public var checkpointed: Bool
}

/// `keyhold restore BACKUP` (docs/SECURITY.md, "Restore"). Made by `Session.beginRestore`,
/// which holds the vault's in-use lock exclusively until `commit` or `cancel`: no other
/// process can open the vault meanwhile, so no writer or rotation runs.
///
/// The backup itself is never opened by SQLite nor changed: its bytes are copied beside the
/// vault, and that copy is opened as a vault of its own, logged in to with the restoring
/// user's credentials, checked in full, given the `vault.restore` event, and then copied
/// into the live file through SQLite's online backup API in one transaction.
public final class Restore: Sendable {
    /// The backup, as an absolute path.
    public let backup: String
    /// The live vault's file name, which a person types back to confirm (`keyhold.db`).
    public let vaultName: String
    /// Whether the backup has this vault's id.
    public let sameVault: Bool
    /// Both vault ids, lower-case hex.
    public let liveVaultID: String
    public let backupVaultID: String

    private let live: Session
    private let copy: StagedCopy
    private let copyVault: Vault
    private struct State {
        var session: Session?
        var check: RestoreCheck?
        var finished = false
    }
    private let state = Mutex(State())

    init(backup: String, live: Session, copy: StagedCopy, copyVault: Vault, liveID: [UInt8], backupID: [UInt8]) {
        self.backup = backup
        self.live = live
        self.copy = copy
        self.copyVault = copyVault
        vaultName = (live.vault.path as NSString).lastPathComponent
        sameVault = liveID == backupID
        liveVaultID = Store.hex(liveID)
        backupVaultID = Store.hex(backupID)
    }

    deinit { cancel() }

    /// Logs the restoring user in to the backup (the same username; `password` is the one
    /// the account had when the backup was made, usually the same), and checks the backup
    /// in full. The user must hold keys.manage and key access there too: the restored log's
    /// `vault.restore` event is signed with their key in the backup, and the log's replay
    /// accepts it only from a holder of keys.manage. A failed login is recorded in the copy,
    /// as any; it counts toward nothing in the live vault.
    public func verify(password: SecureBytes) throws -> RestoreCheck {
        do {
            return try checkCopy(password: password)
        } catch KeyholdError.store(.corrupt(let what)) {
            throw KeyholdError.integrity("the backup \(backup) is damaged: \(what); nothing was restored")
        }
    }

    private func checkCopy(password: SecureBytes) throws -> RestoreCheck {
        let session: Session
        switch try copyVault.login(username: live.username, password: password) {
        case .session(let s): session = s
        case .mustChangePassword:
            throw KeyholdError.refused(
                "\(live.username) must change their password in the backup (a temporary password "
                    + "was set there); the restore cannot log in to it")
        }
        guard try session.permissions().contains(.keysManage) else {
            throw KeyholdError.refused(
                "\(live.username) does not hold keys.manage in the backup, so the restore could not be "
                    + "recorded in the restored vault's audit log")
        }
        guard session.hasKeyAccess else {
            throw KeyholdError.noKeyAccess("\(live.username) holds no key access in the backup, so its values cannot be checked")
        }
        let report = try session.check(inFull: true)
        let cut = try cutEvents()
        let check = RestoreCheck(report: report, cutEvents: cut.count, cutThrough: cut.through, sharedEvents: cut.shared)
        state.withLock {
            $0.session = session; $0.check = check
        }
        return check
    }

    /// The live log's events the backup lacks. The logs are hash chains, so they agree on a
    /// prefix and on nothing after it: the last shared event is found by bisection.
    private func cutEvents() throws -> (count: Int, through: Int64?, shared: Int64) {
        let liveLast = try live.vault.identity().head?.seq ?? 0
        let copyLast = try copyVault.identity().head?.seq ?? 0
        func same(_ seq: Int64) throws -> Bool {
            guard seq > 0 else { return true }
            let a = try Vault.wrap { try live.vault.store.read { try $0.auditEvent(seq: seq)?.hash } }
            let b = try Vault.wrap { try copyVault.store.read { try $0.auditEvent(seq: seq)?.hash } }
            return a != nil && a == b
        }
        var low: Int64 = 0, high = min(liveLast, copyLast)  // same(low) holds; find the largest such
        while low < high {
            let mid = low + (high - low + 1) / 2
            if try same(mid) { low = mid } else { high = mid - 1 }
        }
        let count = Int(liveLast - low)
        return (count, count > 0 ? liveLast : nil, low)
    }

    /// Replaces the vault: keeps its contents as `<vault>.replaced-<time>.bak` beside it
    /// (created new, mode 0600), appends `vault.restore` to the backup's copy, copies that
    /// into the live file through SQLite's backup API (one transaction), checkpoints the
    /// WAL with TRUNCATE, and lets go. Needs a `verify` that found no problem.
    public func commit(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> RestoreResult {
        let (session, check) = state.withLock { ($0.session, $0.check) }
        guard let session, let check else { throw KeyholdError.refused("the backup was not checked (verify first)") }
        guard check.report.ok else {
            throw KeyholdError.integrity(
                "the backup \(backup) fails check (\(check.report.problems.count) problem(s)); nothing was restored")
        }
        let kept = try keptPath()
        // Written under a name of its own, and named as kept only once whole: a restore killed
        // meanwhile leaves `….bak.partial`, never a `.bak` that is not the whole vault.
        let partial = kept + ".partial"
        try Vault.wrap { try live.vault.store.backup(to: partial) }
        guard link(partial, kept) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(partial)
            throw KeyholdError.store(.io("cannot create \(kept): \(why)"))
        }
        unlink(partial)
        do {
            let replaced = try live.vault.identity().head
            try session.perform(.vaultRestore, target: "vault", requires: .keysManage) { op in
                op.details = [
                    "backup": .string(backup), "kept": .string(kept),
                    "cut_events": .int(Int64(check.cutEvents)), "other_vault": .bool(!sameVault)
                ]
                if let through = check.cutThrough { op.details["cut_through"] = .int(through) }
                if let replaced { op.details["replaced_head"] = .string("\(replaced.seq):\(Store.hex(replaced.hash))") }
                if !sameVault { op.details["replaced_vault_id"] = .string(liveVaultID) }
            }
            let seq = try copyVault.identity().head?.seq ?? 0
            let checkpoint = try Vault.wrap { try live.vault.store.restore(from: copyVault.store, progress: progress) }
            live.dataKeys.withLock { $0 = [:] }
            finish()
            return RestoreResult(
                backup: backup, vault: live.vault.path, kept: kept, cutEvents: check.cutEvents,
                cutThrough: check.cutThrough, eventSeq: seq, otherVault: !sameVault,
                checkpointed: !checkpoint.blocked)
        } catch {
            // Nothing was replaced (the copy is one transaction): the kept copy is not needed.
            unlink(kept)
            throw error
        }
    }

    /// Gives up: removes the backup's copy and lets other processes open the vault again.
    public func cancel() { finish() }

    private func finish() {
        let first = state.withLock { s -> Bool in
            defer { s.finished = true; s.session = nil }
            return !s.finished
        }
        guard first else { return }
        try? copyVault.close()
        copy.discard()
        live.vault.store.endRestore()
    }

    /// `<vault>.replaced-<UTC time>.bak`, or with `-2`, `-3`, ... when that exists.
    private func keptPath() throws -> String {
        // The vault clock's UTC time as 20270115T080000Z.
        let time = Clock.format(live.vault.clock.now()).filter { $0 != "-" && $0 != ":" }
        let stem = "\(live.vault.path).replaced-\(time)"
        for n in 1...100 {
            let candidate = n == 1 ? "\(stem).bak" : "\(stem)-\(n).bak"
            var st = stat()
            if lstat(candidate, &st) != 0 && lstat(candidate + ".partial", &st) != 0 { return candidate }
        }
        throw KeyholdError.conflict("\(stem).bak and 99 more such names exist beside the vault; move some away")
    }
}

extension Session {
    /// Starts `keyhold restore BACKUP`: needs keys.manage; takes the vault's in-use lock
    /// exclusively (`StoreError.inUse` while another process has the vault open); copies
    /// the backup beside the vault and opens the copy. The backup must be a Keyhold vault of
    /// this release's format, or of format 2 (taken to this one as the copy is opened; a
    /// format-1 backup: upgrade a copy of it first) and, unless
    /// `allowOtherVault`, of this vault (the same vault id). Then `verify` and `commit`,
    /// or `cancel`; until one of them ends it, nobody else can open the vault.
    public func beginRestore(from backup: String, allowOtherVault: Bool = false) throws -> Restore {
        _ = try read(requires: .keysManage, action: AuditAction.vaultRestore.rawValue) { _, _ in true }
        let absolute = backup.hasPrefix("/") ? backup : FileManager.default.currentDirectoryPath + "/" + backup
        try Vault.wrap { try vault.store.beginRestore() }
        var copy: StagedCopy?
        var copyVault: Vault?
        do {
            let staged: StagedCopy
            do {
                staged = try Vault.wrap { try Store.stage(copyOf: absolute, beside: vault.path) }
            } catch KeyholdError.store(.conflict(let what)) {
                throw KeyholdError.conflict(what)  // the vault itself, given as its own backup
            } catch KeyholdError.store(.damaged(_, let reason)) {
                throw KeyholdError.integrity("the backup \(absolute) is damaged: \(reason); nothing was restored")
            }
            copy = staged
            // A format-2 backup is taken to this format when it is opened below (only derived rows).
            if case .older(let format) = staged.kind, !VaultFile.upgradedAtOpen.contains(format) {
                throw KeyholdError.store(
                    .io(
                        """
                        \(absolute) is a vault of format \(format), made by an earlier release; restore puts in place only \
                        format \(VaultFile.currentFormat). Upgrade a copy of it first: copy it to a new path (not this vault's), \
                        run `keyhold upgrade --db COPY` there, then `keyhold restore --other-vault COPY` (an upgrade gives the \
                        vault a new vault id)
                        """))
            }
            let liveID = try vault.identity().vaultID
            let opened: Vault
            let backupID: [UInt8]
            do {
                opened = try Vault.open(at: staged.path, options: vault.options)
                copyVault = opened
                backupID = try opened.identity().vaultID
            } catch KeyholdError.store(.corrupt(let what)) {
                // About the copy, whose name means nothing to the person: the backup is what is damaged.
                throw KeyholdError.integrity("the backup \(absolute) is damaged: \(what); nothing was restored")
            }
            if liveID != backupID, !allowOtherVault {
                throw KeyholdError.conflict(
                    """
                    \(absolute) is another vault (vault id \(Store.hex(backupID)); this one's is \(Store.hex(liveID))). \
                    Give --other-vault to replace this vault with it
                    """)
            }
            return Restore(backup: absolute, live: self, copy: staged, copyVault: opened, liveID: liveID, backupID: backupID)
        } catch {
            try? copyVault?.close()
            copy?.discard()
            vault.store.endRestore()
            throw error
        }
    }
}
