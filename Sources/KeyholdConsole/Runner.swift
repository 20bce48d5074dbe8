import KeyholdCore
import Synchronization

/// What the live loop runs effects with: the core in this process (`CoreRunner`), or the
/// vault's agent (`AgentRunner`, which sends each effect to a `CoreRunner` there).
public protocol EffectRunner: Sendable {
    /// One effect's outcome as an action; `progress` hears of long work as it goes.
    func run(_ effect: Effect, progress: (@Sendable (Action) -> Void)?) -> Action
    /// Starts watching for the end of what serves the effects (an agent gone), posting the
    /// action that says so. Nothing to watch for the core in this process.
    func watch(_ post: @escaping @Sendable (Action) -> Void)
}

extension EffectRunner {
    public func watch(_ post: @escaping @Sendable (Action) -> Void) {}
}

/// A runner for an account already logged in elsewhere (the vault's agent, `keyhold unlock`:
/// `KeyholdConsoleAgent.AgentRunner`): the console opens logged in as that account.
public protocol AccountRunner: EffectRunner {
    /// Whose session runs the effects.
    var account: Account { get }
    /// Ends the connection; what serves it keeps running.
    func close()
}

/// Runs effects against the core and turns their outcomes into actions. It
/// holds the vault and the session; the model never does. The live console
/// calls it on a serial queue, tests call it directly; the agent calls one over its session.
public final class CoreRunner: EffectRunner {
    public let path: String
    let options: VaultOptions

    struct State: Sendable {
        var vault: Vault?
        var session: Session?
        var change: PasswordChange?
    }
    let state = Mutex(State())

    public init(path: String, options: VaultOptions) {
        self.path = path
        self.options = options
    }

    /// Opens an existing vault (before the terminal is taken over, so an error can be printed).
    @discardableResult
    public func open() throws -> VaultFacts {
        let vault = try Vault.open(at: path, options: options)
        state.withLock { $0.vault = vault }
        return try vault.facts()
    }

    /// Uses a vault opened elsewhere (tests).
    public func use(_ vault: Vault) { state.withLock { $0.vault = vault } }

    /// Runs effects with a session logged in elsewhere (the agent's).
    public convenience init(session: Session) {
        self.init(path: session.vault.path, options: VaultOptions())
        state.withLock {
            $0.vault = session.vault; $0.session = session
        }
    }

    var session: Session? { state.withLock { $0.session } }

    /// Runs one effect: its feature's `run…` makes the core call. Never throws: a failure
    /// comes back as `.failed` with the effect, for its feature to place. Long work (a
    /// rotation) hands `progress` actions over while it runs.
    public func run(_ effect: Effect, progress: (@Sendable (Action) -> Void)? = nil) -> Action {
        do {
            switch effect {
            case .session(let e): return .session(try runSession(e))
            case .dashboard(let e): return .dashboard(try runDashboard(e, requireSession()))
            case .users(let e): return .users(try runUsers(e, requireSession()))
            case .roles(let e): return .roles(try runRoles(e, requireSession()))
            case .secrets(let e): return .secrets(try runSecrets(e, requireSession()))
            case .keys(let e): return .keys(try runKeys(e, requireSession(), progress: { progress?(.keys($0)) }))
            case .audit(let e): return .audit(try runAudit(e, requireSession()))
            }
        } catch let e as KeyholdError {
            if e.isVaultReplaced {
                // The store stopped using the file; so does the console: nothing more is sent to the core.
                state.withLock {
                    $0.session = nil; $0.change = nil; $0.vault = nil
                }
                return .vaultReplaced(e.description)
            }
            if case .sessionEnded(let why) = e {
                state.withLock { $0.session = nil }
                return .sessionEnded(why)
            }
            return .failed(effect, e.description)
        } catch {
            return .failed(effect, "\(error)")
        }
    }

    private func requireSession() throws -> Session {
        guard let s = session else { throw KeyholdError.sessionEnded("not logged in") }
        return s
    }

    public func account(_ s: Session) throws -> Account {
        Account(
            username: s.username, permissions: try s.permissions(), hasKeyAccess: s.hasKeyAccess,
            pendingKeyFingerprint: s.pendingKeyFingerprint)
    }

    /// A list's window for `q`, in the order the list shows it (`descending`: the key's order
    /// reversed, as the audit log shows the newest first): `first` and `last` one page of
    /// `side` rows; `around` a page up to the key and one from it. `count` counts the filtered
    /// list up to a bound, only for a filter (the whole list is counted apart: `ListCount`); a
    /// window that holds the whole list is its count.
    static func read<Item: PageItem>(
        _ q: PageQuery<Item.Key>, descending: Bool,
        page: (PagePosition<Item.Key>, Int) throws -> Page<Item>,
        count: () throws -> Int
    ) throws -> PageRead<Item> {
        var rows: [Item], hasBefore: Bool, hasAfter: Bool
        var anchor: Int? = nil
        switch q.anchor {
        case .first, .last:
            let p = try page((q.anchor == .first) != descending ? .first : .last, q.side)
            (rows, hasBefore, hasAfter) = (p.items, p.hasBefore, p.hasAfter)
        case .around(let key):
            let above = try page(.before(key), q.side)
            let from = try page(.at(key), q.side)
            rows = above.items + from.items
            hasBefore = above.items.isEmpty ? from.hasBefore : above.hasBefore
            hasAfter = from.items.isEmpty ? above.hasAfter : from.hasAfter
            anchor = rows.isEmpty ? nil : from.items.isEmpty ? rows.count - 1 : above.items.count
        }
        if descending {
            rows.reverse()
            swap(&hasBefore, &hasAfter)
            anchor = anchor.map { rows.count - 1 - $0 }
        }
        var read = PageRead(query: q, rows: rows, hasBefore: hasBefore, hasAfter: hasAfter, anchorIndex: anchor)
        if !hasBefore && !hasAfter {
            read.total = rows.count
        } else if q.count && !q.filter.isEmpty {
            read.total = try count()
        }
        return read
    }
}
