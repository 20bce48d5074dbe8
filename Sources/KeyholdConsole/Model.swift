import Foundation  // memchr, memcmp
import KeyholdCore

/// Settings of one console run.
public struct ConsoleSettings: Equatable, Sendable {
    /// The vault file, shown in the header and the login screen.
    public var vaultPath: String
    /// Lock (log out to the login screen) after this long without a key, in ms; 0: never.
    public var idleLock: Int64 = 5 * Clock.minute
    /// How long a revealed secret value stays on screen, in ms.
    public var revealFor: Int64 = 30 * Clock.second
    /// How long a toast stays, in ms (errors twice as long).
    public var toastFor: Int64 = 4 * Clock.second
    /// Secrets whose rotate-by date is this close are "due soon", in ms.
    public var dueSoon: Int64 = 14 * Clock.day
    /// Below this size the console shows a message instead of its layout.
    public var minWidth = 60
    public var minHeight = 16
    /// Minimum password length for a new vault (its first administrator).
    public var passwordMinLength = Validate.passwordDefaultMinimum
    /// Effects run through the vault's agent (`keyhold unlock`): the console starts logged in as
    /// its user, and where it would lock (idle, a session that ended) it leaves instead; the
    /// agent runs on until its own time limits or `keyhold lock`.
    public var viaAgent = false

    public init(vaultPath: String) { self.vaultPath = vaultPath }
}

/// Which screen is shown.
public enum Route: String, Equatable, Sendable, CaseIterable {
    case setup, recovery, login, changePassword, dashboard, users, secrets, audit, keys, roles

    /// The screens of a logged-in session, in tab order (keys 1 to 6).
    public static let tabs: [Route] = [.dashboard, .users, .secrets, .audit, .keys, .roles]

    public var title: String {
        switch self {
        case .setup: "first run"
        case .recovery: "recovery key"
        case .login: "log in"
        case .changePassword: "new password"
        case .dashboard: "Dashboard"
        case .users: "Users"
        case .secrets: "Secrets"
        case .audit: "Audit"
        case .keys: "Keys"
        case .roles: "Roles"
        }
    }

    /// Screens whose keys go to a text form (so `q` and `?` are typed, not commands).
    public var isForm: Bool { [.setup, .recovery, .login, .changePassword].contains(self) }
}

/// Who is logged in.
public struct Account: Equatable, Sendable, Codable {
    public var username: String
    public var permissions: Set<Permission>
    public var hasKeyAccess: Bool
    /// While key access awaits an administrator's approval: the fingerprint of this user's key.
    public var pendingKeyFingerprint: String?
    public init(username: String, permissions: Set<Permission>, hasKeyAccess: Bool, pendingKeyFingerprint: String? = nil) {
        self.username = username; self.permissions = permissions; self.hasKeyAccess = hasKeyAccess
        self.pendingKeyFingerprint = pendingKeyFingerprint
    }
    public func can(_ p: Permission) -> Bool { permissions.contains(p) }
}

/// Why a console through an agent left (`Model.leaving`).
public struct Leaving: Equatable, Sendable {
    public var message: String
    /// The session ended (or the agent did), rather than an idle lock.
    public var failed: Bool
}

/// A short message in the corner that goes away by itself.
public struct Toast: Equatable, Sendable {
    public var text: String
    public var isError: Bool
    public var until: Int64
}

/// Plaintext held for display (a recovery key, a revealed value, a temporary
/// password): guarded memory, compared by identity, never printed by `description`.
public struct Sensitive: Equatable, Sendable, CustomStringConvertible {
    public let bytes: SecureBytes
    public init(_ bytes: SecureBytes) { self.bytes = bytes }
    public static func == (a: Sensitive, b: Sensitive) -> Bool { a.bytes === b.bytes }
    public var description: String { "(hidden)" }
}

/// Beside the JSON, never in it: as its `SecureBytes` (KeyholdCrypto's `SecureValues`).
extension Sensitive: Codable {
    public init(from decoder: Decoder) throws { bytes = try SecureBytes(from: decoder) }
    public func encode(to encoder: Encoder) throws { try bytes.encode(to: encoder) }
}

// MARK: Lists

/// Selection and scroll position of a list.
public struct ListState: Equatable, Sendable {
    public var selected = 0
    public var offset = 0

    /// Moves the selection by `delta` within `count` rows, keeping it inside a window of `page` rows.
    mutating func move(by delta: Int, count: Int, page: Int) {
        select(selected + delta, count: count, page: page)
    }

    mutating func select(_ index: Int, count: Int, page: Int) {
        selected = count == 0 ? 0 : min(max(index, 0), count - 1)
        clampOffset(count: count, page: page)
    }

    mutating func clampOffset(count: Int, page: Int) {
        let page = max(page, 1)
        if selected < offset { offset = selected }
        if selected >= offset + page { offset = selected - page + 1 }
        offset = max(0, min(offset, max(0, count - page)))
    }
}

/// Loaded rows with a filter typed as you go, for a list small enough to hold whole (the
/// roles); the big lists are `PagedList`s. Matching is a case-insensitive
/// substring of a per-row search key. The keys live lowercased in one buffer,
/// so a keystroke over 100,000 rows is one memchr pass for the needle's rarest
/// byte with a comparison at each hit, not a call (and two reference counts) per row.
public struct FilteredList<Item: Equatable & Sendable>: Equatable, Sendable {
    public private(set) var items: [Item] = []
    private var ids: [String] = []
    /// Every row's search key, lowercased UTF-8, each followed by a 0 byte.
    private var keyBytes: [UInt8] = []
    /// Where row i's key starts in `keyBytes`; a last entry marks the end.
    private var keyStarts: [Int] = [0]
    /// How often each byte value occurs in `keyBytes`: picks the rarest byte of a needle.
    private var byteCounts = [Int](repeating: 0, count: 256)
    /// Indices into `items` of the rows the filter lets through, in order.
    public private(set) var visible: [Int] = []
    public var filter = TextField(limit: 200)
    /// Typing goes to the filter.
    public var filtering = false
    public var list = ListState()
    /// Loaded at least once.
    public var loaded = false
    public var loading = false
    public var error: String?

    public init() {}

    /// Replaces the rows; `id` names a row across reloads (the selection stays on it), `key` is what the filter searches.
    mutating func setItems(_ items: [Item], page: Int = 1, id: (Item) -> String, key: (Item) -> String) {
        let previous = selectedID
        self.items = items
        ids = items.map(id)
        var bytes: [UInt8] = []
        var starts: [Int] = []
        starts.reserveCapacity(items.count + 1)
        for item in items {
            starts.append(bytes.count)
            Self.appendLowercased(key(item), to: &bytes)
            bytes.append(0)
        }
        starts.append(bytes.count)
        // Growth by doubling can leave up to half the buffer unused: keep an exact copy instead.
        keyBytes = bytes.capacity > bytes.count + bytes.count / 8 ? bytes.withUnsafeBufferPointer { Array($0) } : bytes
        keyStarts = starts
        byteCounts = [Int](repeating: 0, count: 256)
        for b in keyBytes { byteCounts[Int(b)] += 1 }
        loaded = true
        loading = false
        error = nil
        refilter(keeping: previous.flatMap { ids.firstIndex(of: $0) }, page: page)
    }

    /// Re-applies the filter, keeping the row with id `previous` selected when it still shows.
    mutating func applyFilter(keepSelection previous: String? = nil, page: Int = 1) {
        // Usually the selected row (known by position); else looked up by id.
        let kept = previous.flatMap { $0 == selectedID ? visible[list.selected] : ids.firstIndex(of: $0) }
        refilter(keeping: kept, page: page)
    }

    private mutating func refilter(keeping item: Int?, page: Int) {
        var needle: [UInt8] = []
        Self.appendLowercased(filter.text, to: &needle)
        visible = needle.isEmpty ? Array(items.indices) : rows(matching: needle)
        if let item, let i = Self.position(of: item, in: visible) {
            list.selected = i
        } else {
            list.selected = 0
            list.offset = 0
        }
        list.clampOffset(count: visible.count, page: page)
    }

    /// The rows whose key contains `needle` (lowercased UTF-8, not empty), in order.
    private func rows(matching needle: [UInt8]) -> [Int] {
        var anchor = 0
        for k in needle.indices where byteCounts[Int(needle[k])] < byteCounts[Int(needle[anchor])] { anchor = k }
        guard byteCounts[Int(needle[anchor])] > 0 else { return [] }
        var out: [Int] = []
        keyBytes.withUnsafeBytes { hay in
            needle.withUnsafeBytes { nb in
                keyStarts.withUnsafeBufferPointer { starts in
                    let base = hay.baseAddress!, n = nb.count, total = hay.count
                    let byte = Int32(nb[anchor])
                    var pos = anchor, row = 0
                    while pos < total, let hit = memchr(base + pos, byte, total - pos) {
                        let at = base.distance(to: UnsafeRawPointer(hit))
                        while starts[row + 1] <= at { row += 1 }
                        let start = at - anchor
                        // Within this row's key (its 0 byte excluded), and the whole needle there.
                        if start >= starts[row], start + n < starts[row + 1], memcmp(base + start, nb.baseAddress!, n) == 0 {
                            out.append(row)
                            pos = starts[row + 1] + anchor  // one hit per row is enough
                        } else {
                            pos = at + 1
                        }
                    }
                }
            }
        }
        return out
    }

    /// Appends `text` lowercased, as UTF-8: ASCII copied and lowered in place (no new String),
    /// anything else through `lowercased()`.
    static func appendLowercased(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            guard utf8.allSatisfy({ $0 < 0x80 }) else {
                bytes.append(contentsOf: String(decoding: utf8, as: UTF8.self).lowercased().utf8)
                return
            }
            let start = bytes.count
            bytes.append(contentsOf: utf8)
            bytes.withUnsafeMutableBufferPointer { b in
                for i in start..<b.count where b[i] &- 65 < 26 { b[i] |= 0x20 }
            }
        }
    }

    /// Where `item` is in the ascending `visible`, by bisection.
    static func position(of item: Int, in visible: [Int]) -> Int? {
        var lo = 0, hi = visible.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if visible[mid] < item { lo = mid + 1 } else { hi = mid }
        }
        return lo < visible.count && visible[lo] == item ? lo : nil
    }

    /// The id of the selected row.
    public var selectedID: String? {
        visible.indices.contains(list.selected) ? ids[visible[list.selected]] : nil
    }

    public var selectedItem: Item? {
        visible.indices.contains(list.selected) ? items[visible[list.selected]] : nil
    }

    public var count: Int { visible.count }
}

/// Which pane of a two-pane screen has the keys.
public enum Pane: Equatable, Sendable { case list, detail }

/// The fields of a form, declared in their order on screen: each form's `Field`, its `focus`
/// one of them. Tab and Shift-Tab go round them with `next` and `previous`; an arrow key that
/// leads into a checklist stops at the ends instead (`wrapping: false`). A form that shows
/// only some of its fields passes those (`in:`).
protocol FormField: CaseIterable, Equatable where AllCases == [Self] {}

extension FormField {
    /// The field after this one in `fields`: after the last, the first (or, not wrapping, this one).
    func next(in fields: [Self] = allCases, wrapping: Bool = true) -> Self { step(1, in: fields, wrapping: wrapping) }

    /// The field before this one in `fields`: before the first, the last (or, not wrapping, this one).
    func previous(in fields: [Self] = allCases, wrapping: Bool = true) -> Self { step(-1, in: fields, wrapping: wrapping) }

    private func step(_ by: Int, in fields: [Self], wrapping: Bool) -> Self {
        guard !fields.isEmpty else { return self }
        let at = (fields.firstIndex(of: self) ?? 0) + by
        if fields.indices.contains(at) { return fields[at] }
        return wrapping ? fields[(at + fields.count) % fields.count] : self
    }
}

// MARK: Screen states

public struct SetupState: Equatable, Sendable {
    public enum Field: FormField, Sendable { case username, password, repeated }

    public var username = TextField("admin", limit: 64)
    /// Typed straight into guarded memory, drawn as bullets (`SecretValueField`).
    public var password = SecretValueField.password()
    public var repeated = SecretValueField.password()
    public var focus = Field.username
    /// Problems are shown for empty fields only after a first attempt.
    public var submitted = false
    public var error: String?
    public var busy = false
}

public struct RecoveryState: Equatable, Sendable {
    public var key: Sensitive?
    /// The key typed back: guarded memory, drawn from there as typed.
    public var typed = SecretValueField(limit: 200)
    public var error: String?
}

/// Why the last login did not succeed.
public enum LoginFailure: Equatable, Sendable {
    /// An unknown user, a wrong password or an account locked out: one answer for all three.
    case wrongCredentials
    case other(String)
}

public struct LoginState: Equatable, Sendable {
    public enum Field: FormField, Sendable { case username, password }

    public var username = TextField(limit: 64)
    public var password = SecretValueField.password()
    public var focus = Field.username
    public var failure: LoginFailure?
    public var notice: String?
    public var busy = false
    /// Set when the session ends (locked, disabled, idle): keys are ignored until the login
    /// screen with its notice has been drawn (`Action.noticeShown`). Keys typed before were
    /// meant for the screen that is gone; they must not type a password, submit the form or quit.
    public var holdingKeys = false
    /// Keys typed while the login is being checked (the password hash takes a moment): meant for
    /// the screen that comes next, so they act there once logged in, in order. Dropped if the
    /// login fails or needs a new password (they must not type into a password field).
    public var typedAhead: [Key] = []
    /// At most this many keys are held.
    static let typedAheadLimit = 64
}

public struct ChangePasswordState: Equatable, Sendable {
    public enum Field: FormField, Sendable { case password, repeated }

    public var username = ""
    public var password = SecretValueField.password()
    public var repeated = SecretValueField.password()
    public var focus = Field.password
    public var submitted = false
    public var error: String?
    public var busy = false
}

/// Where audit verification stands.
public enum AuditCheck: Equatable, Sendable {
    case notRun, running
    case done(AuditVerification)
    case failed(String)
}

/// What the dashboard shows.
public struct DashboardData: Equatable, Sendable, Codable {
    public var facts: VaultFacts
    /// Nil when the session lacks keys.manage.
    public var keyStatus: KeyStatus?
    /// Secrets past or near their rotate-by date (counts and the first few, not every secret);
    /// nil when the session lacks secrets.list.
    public var rotation: RotationDue?
    /// The acting user's roles, when readable.
    public var roles: [String]?
    public init(facts: VaultFacts, keyStatus: KeyStatus?, rotation: RotationDue?, roles: [String]?) {
        self.facts = facts; self.keyStatus = keyStatus; self.rotation = rotation; self.roles = roles
    }
}

public struct DashboardState: Equatable, Sendable {
    public var data: DashboardData?
    /// The counts, which come after `data` (`DashboardEffect.count`); kept from the last load
    /// until the next count arrives.
    public var summary: VaultSummary?
    public var loading = false
    public var error: String?
    public var offset = 0
}

public struct UsersState: Equatable, Sendable {
    public var rows = PagedList<UserInfo>()
    public var focus = Pane.list
    public var detailOffset = 0
}

/// A secret value on screen until `until`.
public struct Revealed: Equatable, Sendable {
    public var name: String
    public var version: Int
    public var value: Sensitive
    public var until: Int64
}

public struct SecretsState: Equatable, Sendable {
    public var rows = PagedList<SecretInfo>()
    public var focus = Pane.list
    public var detailOffset = 0
    public var versions: [String: [SecretVersionInfo]] = [:]
    public var revealed: Revealed?
    /// A reveal is on its way (so a second key press does not audit twice).
    public var revealing: String?
    /// The version chosen in the details pane (0: the newest).
    public var versionCursor = 0
}

/// A data-key rotation this console is running: re-sealed versions so far.
public struct RotationProgress: Equatable, Sendable {
    public var done = 0
    public var total = 0
    /// Resuming an interrupted rotation (R) rather than starting one (r).
    public var resuming = false
}

/// A data-key rotation the vault holds as started and not finished (`Session.pendingRotation`).
public struct PendingRotation: Equatable, Sendable {
    public var targetVersion: Int
    public var total: Int
    public var remaining: Int
    /// Another process holds the job's lease: it is running there, not interrupted.
    public var running: Bool
    public init(targetVersion: Int, total: Int, remaining: Int, running: Bool = false) {
        self.targetVersion = targetVersion; self.total = total; self.remaining = remaining; self.running = running
    }
}

public struct KeysState: Equatable, Sendable {
    public var status: KeyStatus?
    /// From `status`: an interrupted rotation that R resumes.
    public var pending: PendingRotation?
    public var loading = false
    public var error: String?
    /// Set while a rotation runs (started from this console).
    public var rotation: RotationProgress?
    /// A root-key rotation is on its way.
    public var rotatingRoot = false
    /// After login: asking the core to finish a rotation that was interrupted
    /// (it shows as `rotation` once the job reports progress).
    public var finishingInterrupted = false
}

public struct RolesState: Equatable, Sendable {
    public var rows = FilteredList<RoleInfo>()
    /// A role to select when the list next loads (one just created).
    public var select: String?
}

public struct AuditState: Equatable, Sendable {
    /// Newest first.
    public var rows = PagedList<AuditEvent>()
    public var check = AuditCheck.notRun
}

// MARK: Overlays

/// A command of the `:` palette: a screen to go to, or an action. An action is a screen's
/// key binding (`binding`): the palette goes to that screen and sends the key through the
/// same `update` path, so permission checks, confirmations and forms are the key's own.
public enum Command: String, Equatable, Sendable, CaseIterable {
    case dashboard, users, secrets, audit, keys, roles
    case newUser = "new-user", newSecret = "new-secret", newVersion = "new-version", newRole = "new-role"
    case rotate, resume, rotateRoot = "rotate-root"
    case refresh, verify, lock, help, quit

    public var summary: String {
        switch self {
        case .dashboard: "go to the dashboard"
        case .users: "go to users"
        case .secrets: "go to secrets"
        case .audit: "go to the audit log"
        case .keys: "go to keys (status and rotation)"
        case .roles: "go to roles and their permissions"
        case .newUser: "add a user (users, n)"
        case .newSecret: "add a secret (secrets, n)"
        case .newVersion: "new version of the selected secret (N)"
        case .newRole: "add a custom role (roles, n)"
        case .rotate: "rotate the data key (keys, r)"
        case .resume: "resume a data-key rotation (keys, R)"
        case .rotateRoot: "rotate the root key (keys, K)"
        case .refresh: "reload this screen"
        case .verify: "verify the audit chain"
        case .lock: "lock the console now"
        case .help: "keys of this screen"
        case .quit: "leave Keyhold"
        }
    }

    /// The screen and key an action command stands for; nil for the others.
    public var binding: (route: Route, key: Key)? {
        switch self {
        case .newUser: (.users, .char("n"))
        case .newSecret: (.secrets, .char("n"))
        case .newVersion: (.secrets, .char("N"))
        case .newRole: (.roles, .char("n"))
        case .rotate: (.keys, .char("r"))
        case .resume: (.keys, .char("R"))
        case .rotateRoot: (.keys, .char("K"))
        default: nil
        }
    }
}

public struct PaletteState: Equatable, Sendable {
    public var input = TextField(limit: 40)
    public var selected = 0
    /// Commands whose name starts with what was typed, then those whose name and summary hold
    /// every typed word ("add user", "rotate data key").
    public var matches: [Command] {
        let q = input.text.lowercased().trimmingSpaces
        if q.isEmpty { return Command.allCases }
        let byName = Command.allCases.filter { $0.rawValue.hasPrefix(q) }
        let words = q.split(separator: " ")
        let byWords = Command.allCases.filter { c in
            !byName.contains(c) && words.allSatisfy { (c.rawValue + " " + c.summary.lowercased()).contains($0) }
        }
        return byName + byWords
    }
}

/// What a confirmed deletion removes, by name (a secret's version has its own `Pending`); the
/// raw value names it in the dialog and the toast ("Delete user bob?", "Deleted user bob").
public enum DeletionKind: String, Equatable, Sendable, CaseIterable {
    case user, secret, role
}

/// What a confirmation dialog does when confirmed.
public enum Pending: Equatable, Sendable {
    case delete(DeletionKind, String)
    case resetPassword(String)
    case rotateRootKey
    case skipRecoveryCheck
    case deleteVersion(String, Int)
    /// An edit whose history limit deletes versions.
    case editSecret(String, SecretEdit)
    /// A user's key access, approved with the fingerprint typed into the dialog.
    case approveKey(String)
}

/// A confirmation typed by hand: the name of the thing (or a word), never
/// the key that started the action; an empty Enter cancels.
public struct ConfirmState: Equatable, Sendable {
    public var title: String
    public var message: String
    public var expected: String
    public var input = TextField(limit: 300)
    public var pending: Pending
    public var error: String?
    /// Asks for text to pass on (a fingerprint the user reads out) instead of a word to match;
    /// the expected text is not shown, and the core decides whether it is right.
    public var prompt: String?
}

/// Something shown once in a dialog (a temporary password).
public struct NoticeState: Equatable, Sendable {
    public var title: String
    public var message: String
    public var secret: Sensitive?
}

/// The new-user dialog: three text fields and the roles the session may assign.
public struct NewUserState: Equatable, Sendable {
    /// The three text fields, then the role checklist.
    public enum Field: FormField, Sendable { case username, email, displayName, roles }

    public var username = TextField(limit: 64)
    public var email = TextField(limit: 254)
    public var displayName = TextField(limit: 100)
    public var focus = Field.username
    /// Roles the session may assign; nil while loading.
    public var roles: [RoleInfo]?
    public var chosen: Set<String> = []
    public var roleCursor = 0
    public var submitted = false
    public var error: String?
    public var busy = false

    public init() {}

    /// Messages for the fields, in order.
    func problems() -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        if submitted || !username.isEmpty {
            do { _ = try Validate.username(username.text) } catch { out.append((.username, error.message)) }
        }
        do { _ = try Validate.email(email.text) } catch { out.append((.email, error.message)) }
        do { _ = try Validate.displayName(displayName.text) } catch { out.append((.displayName, error.message)) }
        return out
    }
}

/// The roles of one user, as a checklist of the roles the session may assign.
public struct UserRolesState: Equatable, Sendable {
    public var username: String
    /// What the user holds now.
    public var current: Set<String>
    /// Roles the session may assign; nil while loading.
    public var roles: [RoleInfo]?
    public var chosen: Set<String>
    public var cursor = 0
    public var busy = false
    public var error: String?
}

public enum Overlay: Equatable, Sendable {
    case help(HelpState)
    case newUser(NewUserState)
    case userRoles(UserRolesState)
    case editUser(EditUserState)
    case expiry(ExpiryState)
    case roleForm(RoleFormState)
    case palette(PaletteState)
    case confirm(ConfirmState)
    case notice(NoticeState)
    case secretForm(SecretFormState)
}

// MARK: The model

/// The whole state of the console: a value; `update` makes the next one.
public struct Model: Equatable, Sendable {
    public var settings: ConsoleSettings
    public var width = 80
    public var height = 24
    /// The time of the last tick, ms.
    public var now: Int64
    public var lastInputAt: Int64
    public var route: Route
    public var account: Account?
    public var overlay: Overlay?
    public var toasts: [Toast] = []
    public var quit = false
    /// Quit by Ctrl-C: the process exits with 130 (128 + SIGINT), as a shell expects of an interrupt.
    public var interrupted = false
    /// Set when the vault's file was replaced while the console had it open: the console
    /// shows why and does nothing more but quit.
    public var stopped: String?
    /// Through an agent: why the console left (shown once the terminal is restored), and
    /// whether that is a failure (the session ended) rather than an idle lock.
    public var leaving: Leaving?

    public var setup = SetupState()
    public var recovery = RecoveryState()
    public var login = LoginState()
    public var changePassword = ChangePasswordState()
    public var dashboard = DashboardState()
    public var users = UsersState()
    public var secrets = SecretsState()
    public var audit = AuditState()
    public var keys = KeysState()
    public var roles = RolesState()
    /// Page reads asked for so far: each read's id (never reset, so an answer from before a
    /// lock cannot pass for one asked for after it).
    public var pageReads = 0

    /// The first model: set-up when there is no vault yet, else the login screen.
    public init(settings: ConsoleSettings, vaultExists: Bool, now: Int64, username: String = "") {
        self.settings = settings
        self.now = now
        self.lastInputAt = now
        route = vaultExists ? .login : .setup
        login.username = TextField(username, limit: 64)
        login.focus = username.isEmpty ? .username : .password
    }

    public var isTooSmall: Bool { width < settings.minWidth || height < settings.minHeight }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
