import KeyholdCore

extension Console {
    /// The pure heart of the console: the next model and the core calls to make.
    public static func update(_ model: Model, _ action: Action) -> (Model, [Effect]) {
        var m = model
        var fx: [Effect] = []
        m.apply(action, &fx)
        return (m, fx)
    }
}

extension Model {
    /// One action, routed: a key to the shown screen's `…Key` (it may append effects), an
    /// effect's result to its feature's `…Result`, a failure to its feature's `…Failed` (each
    /// in `Update<Feature>.swift`); then the page reads the lists want.
    mutating func apply(_ action: Action, _ fx: inout [Effect]) {
        if stopped != nil {
            // Stopped: the screen says why; only quitting is left (and the window may change size).
            switch action {
            case .key(let key):
                if key == .char("q") || key == .ctrl("c") { quit = true }
                if key == .ctrl("c") { interrupted = true }
            case .resize(let w, let h): width = max(0, w); height = max(0, h)
            case .tick(let t): now = t
            default: break
            }
            return
        }
        switch action {
        case .key(let key): handleKey(key, &fx)
        case .resize(let w, let h):
            width = max(0, w)
            height = max(0, h)
            clampLists()
        case .tick(let t): tick(t, &fx)
        case .noticeShown: login.holdingKeys = false
        case .session(let result): sessionResult(result, &fx)
        case .failed(let effect, let message): failed(effect, message, &fx)
        case .sessionEnded(let why): lock("Your session ended: \(why).", failed: true, &fx)
        case .vaultReplaced(let why): stop(why, &fx)
        // Data that arrives after a lock (its call was already queued) is dropped, not kept in memory.
        case _ where account == nil: break
        case .dashboard(let result): dashboardResult(result, &fx)
        case .users(let result): usersResult(result, &fx)
        case .roles(let result): rolesResult(result, &fx)
        case .secrets(let result): secretsResult(result, &fx)
        case .keys(let result): keysResult(result, &fx)
        case .audit(let result): auditResult(result, &fx)
        }
        sendPageReads(&fx)
    }

    /// An effect failed: its feature decides where the message lands.
    mutating func failed(_ effect: Effect, _ message: String, _ fx: inout [Effect]) {
        switch effect {
        case .session(let e): sessionFailed(e, message)
        case .dashboard: dashboardFailed(message)
        case .users(let e): usersFailed(e, message)
        case .roles(let e): rolesFailed(e, message)
        case .secrets(let e): secretsFailed(e, message)
        case .keys(let e): keysFailed(e, message, &fx)
        case .audit(let e): auditFailed(e, message)
        }
    }

    /// Sends the page read each list wants, unless one of its reads is still on its way, and
    /// after it the whole list's count when one is wanted (opening, refreshing).
    mutating func sendPageReads(_ fx: inout [Effect]) {
        guard account != nil else { return }
        func side(_ route: Route) -> Int {
            // Two screens each way: a page key stays inside the window while the next read comes.
            min(Session.pageLimitRange.upperBound, max(16, 2 * Layout.listRows(route, width: width, height: height)))
        }
        Self.sendReads(&users.rows, side: side(.users), ids: &pageReads, &fx, page: { .users(.page($0)) }, count: { .users(.count($0)) })
        Self.sendReads(
            &secrets.rows, side: side(.secrets), ids: &pageReads, &fx, page: { .secrets(.page($0)) }, count: { .secrets(.count($0)) })
        Self.sendReads(&audit.rows, side: side(.audit), ids: &pageReads, &fx, page: { .audit(.page($0)) }, count: { .audit(.count($0)) })
    }

    /// One list's wanted page read, then its wanted count, each numbered by `ids` (`pageReads`).
    static func sendReads<T>(
        _ rows: inout PagedList<T>, side: Int, ids: inout Int, _ fx: inout [Effect],
        page: (PageQuery<T.Key>) -> Effect, count: (ListCount) -> Effect
    ) {
        if rows.wanted != nil, let q = rows.nextQuery(id: ids + 1, side: side) {
            ids += 1
            fx.append(page(q))
        }
        if let c = rows.nextCount(id: ids + 1) {
            ids += 1
            fx.append(count(c))
        }
    }

    // MARK: Time

    mutating func tick(_ t: Int64, _ fx: inout [Effect]) {
        now = t
        toasts.removeAll { $0.until <= t }
        if let r = secrets.revealed, r.until <= t { secrets.revealed = nil }
        if settings.idleLock > 0, isSignedIn, t - lastInputAt >= settings.idleLock {
            let idle = "after \(Fmt.duration(settings.idleLock)) without a key press"
            lock(settings.viaAgent ? "The console closed \(idle)." : "Locked \(idle). Log in again.", &fx)
        }
    }

    /// Logged in, or half-way (a forced password change, a recovery key on screen).
    var isSignedIn: Bool { account != nil || route == .changePassword }

    /// Closes the form or dialog on top, leaving everything as it was (Esc).
    mutating func cancelOverlay() {
        overlay = nil
        toast("Cancelled")
    }

    mutating func toast(_ text: String, error: Bool = false) {
        toasts.append(Toast(text: text, isError: error, until: now + settings.toastFor * (error ? 2 : 1)))
        if toasts.count > 3 { toasts.removeFirst(toasts.count - 3) }
    }

    /// Empties the login form and every screen's loaded state (at login and at lock).
    mutating func resetScreens() {
        login = LoginState()
        changePassword = ChangePasswordState()
        dashboard = DashboardState()
        users = UsersState()
        secrets = SecretsState()
        audit = AuditState()
        keys = KeysState()
        roles = RolesState()
    }

    /// Forgets the session and everything loaded with it; back to the login screen. Through an
    /// agent there is no login here: the console leaves, saying why (`failed`: the session ended).
    mutating func lock(_ notice: String, failed: Bool = false, _ fx: inout [Effect]) {
        guard isSignedIn else { return }
        if settings.viaAgent {
            account = nil
            overlay = nil
            recovery = RecoveryState()
            resetScreens()
            leaving = Leaving(
                message: failed ? notice : notice + " The agent still serves the vault (`keyhold lock` ends it).",
                failed: failed)
            quit = true
            return
        }
        let name = account?.username ?? changePassword.username
        let hadRecoveryKey = route == .recovery && recovery.key != nil
        account = nil
        overlay = nil
        recovery = RecoveryState()
        resetScreens()
        login.username = TextField(name, limit: 64)
        login.focus = .password
        login.holdingKeys = true
        login.notice =
            hadRecoveryKey
            ? notice + " The recovery key was hidden unconfirmed: rotate the root key to get a new one."
            : notice
        route = .login
        fx.append(.session(.logout))
    }

    /// The vault's file was replaced: forget everything loaded from it and stop.
    mutating func stop(_ why: String, _ fx: inout [Effect]) {
        account = nil
        overlay = nil
        toasts = []
        recovery = RecoveryState()
        resetScreens()
        stopped = why
        fx.append(.session(.logout))
    }

    // MARK: Keys

    mutating func handleKey(_ key: Key, _ fx: inout [Effect]) {
        lastInputAt = now
        if key == .ctrl("c") { quit = true; interrupted = true; return }
        // Typed before the notice of an ended session was on screen: meant for the screen that is gone.
        if route == .login && login.holdingKeys { return }
        if isTooSmall {
            if key == .char("q") || (route.isForm && key == .escape) { quit = true }
            return
        }
        if overlay != nil { overlayKey(key, &fx); return }
        switch route {
        case .setup: setupKey(key, &fx)
        case .recovery: recoveryKey(key, &fx)
        case .login: loginKey(key, &fx)
        case .changePassword: changePasswordKey(key, &fx)
        case .dashboard, .users, .secrets, .audit, .keys, .roles:
            if !screenKey(key, &fx) { globalKey(key, &fx) }
        }
    }

    /// A key for the logged-in screen shown; false when it is not one of the screen's own.
    mutating func screenKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        switch route {
        case .dashboard: dashboardKey(key, &fx)
        case .users: usersKey(key, &fx)
        case .secrets: secretsKey(key, &fx)
        case .keys: keysKey(key, &fx)
        case .roles: rolesKey(key, &fx)
        case .audit: auditKey(key, &fx)
        case .setup, .recovery, .login, .changePassword: false
        }
    }

    /// Keys every logged-in screen shares.
    mutating func globalKey(_ key: Key, _ fx: inout [Effect]) {
        switch key {
        case .char("1"): go(.dashboard, &fx)
        case .char("2"): go(.users, &fx)
        case .char("3"): go(.secrets, &fx)
        case .char("4"): go(.audit, &fx)
        case .char("5"): go(.keys, &fx)
        case .char("6"): go(.roles, &fx)
        case .char(":"): overlay = .palette(PaletteState())
        case .char("?"), .f(1): overlay = .help(HelpState())
        case .char("q"): quit = true
        default: break
        }
    }

    /// Switches screens, loading what the new one shows.
    mutating func go(_ target: Route, _ fx: inout [Effect]) {
        guard account != nil, Route.tabs.contains(target) else { return }
        if route == .secrets && target != .secrets { secrets.revealed = nil }
        let entering = route != target
        route = target
        switch target {
        case .dashboard:
            if entering || dashboard.data == nil { reload(.dashboard, &fx) }
        case .users, .secrets, .audit:
            let loaded = target == .users ? users.rows.loaded : target == .secrets ? secrets.rows.loaded : audit.rows.loaded
            if !loaded { reload(target, &fx) }
        case .keys:
            if entering || keys.status == nil { reload(.keys, &fx) }
        case .roles:
            if !roles.rows.loaded { reload(.roles, &fx) }
        default: break
        }
    }

    /// Loads (again) what a screen shows, if the session may see it.
    mutating func reload(_ target: Route, _ fx: inout [Effect]) {
        guard let account else { return }
        switch target {
        case .dashboard:
            dashboard.loading = true
            fx.append(.dashboard(.load(dueWithin: settings.dueSoon)))
            fx.append(.dashboard(.count))
            if account.can(.auditRead), audit.check != .running {
                audit.check = .running
                fx.append(.audit(.verify))
            }
        case .users where account.can(.usersRead):
            users.rows.refresh()
        case .secrets where account.can(.secretsList):
            secrets.rows.refresh()
        case .audit where account.can(.auditRead):
            audit.rows.refresh()
        case .keys where account.can(.keysManage):
            keys.loading = true
            fx.append(.keys(.load))
        case .roles where account.can(.usersRead):
            roles.rows.loading = true
            fx.append(.roles(.load))
        default: break
        }
    }

    // MARK: Overlays

    mutating func overlayKey(_ key: Key, _ fx: inout [Effect]) {
        switch overlay {
        case .help(var h):
            let count = Console.helpLines(self).count
            let maxOffset = max(0, count - (min(Layout.body(width: width, height: height).height, count + 2) - 2))
            switch key {
            case .escape, .char("?"), .f(1), .char("q"), .enter: overlay = nil; return
            case .char("j"), .down: h.offset += 1
            case .char("k"), .up: h.offset -= 1
            case .pageDown, .char(" "): h.offset += 10
            case .pageUp: h.offset -= 10
            case .char("g"), .home: h.offset = 0
            case .char("G"), .end: h.offset = maxOffset
            default: break
            }
            h.offset = max(0, min(h.offset, maxOffset))
            overlay = .help(h)
        case .palette(var p):
            switch key {
            case .escape: overlay = nil
            case .enter:
                let matches = p.matches
                overlay = nil
                if matches.indices.contains(p.selected) { run(matches[p.selected], &fx) }
            case .down, .tab: p.selected = min(p.selected + 1, max(0, p.matches.count - 1)); overlay = .palette(p)
            case .up, .backTab: p.selected = max(0, p.selected - 1); overlay = .palette(p)
            default:
                if p.input.handle(key) { p.selected = 0 }
                overlay = .palette(p)
            }
        case .confirm(var c):
            switch key {
            case .escape:
                cancelOverlay()
            case .enter:
                if c.prompt != nil, !c.input.text.isEmpty {
                    overlay = nil
                    confirmed(c.pending, typed: c.input.text, &fx)
                } else if c.prompt == nil, c.input.text == c.expected {
                    overlay = nil
                    confirmed(c.pending, &fx)
                } else if c.input.text.isEmpty {
                    cancelOverlay()
                } else {
                    c.error = "That is not \"\(c.expected)\". Type it exactly, or Esc to cancel."
                    overlay = .confirm(c)
                }
            default:
                if c.input.handle(key) { c.error = nil }
                overlay = .confirm(c)
            }
        case .notice:
            if key == .enter || key == .escape { overlay = nil }
        case .newUser(let f):
            newUserKey(key, f, &fx)
        case .userRoles(let r):
            userRolesKey(key, r, &fx)
        case .secretForm(let f):
            secretFormKey(key, f, &fx)
        case .editUser(let f):
            editUserKey(key, f, &fx)
        case .expiry(let f):
            expiryKey(key, f, &fx)
        case .roleForm(let f):
            roleFormKey(key, f, &fx)
        case nil:
            break
        }
    }

    mutating func run(_ command: Command, _ fx: inout [Effect]) {
        // An action: its screen, then its key, as if pressed there.
        if let binding = command.binding {
            go(binding.route, &fx)
            if route == binding.route { _ = screenKey(binding.key, &fx) }
            return
        }
        switch command {
        case .dashboard: go(.dashboard, &fx)
        case .users: go(.users, &fx)
        case .secrets: go(.secrets, &fx)
        case .audit: go(.audit, &fx)
        case .keys: go(.keys, &fx)
        case .roles: go(.roles, &fx)
        case .newUser, .newSecret, .newVersion, .newRole, .rotate, .resume, .rotateRoot:
            break  // actions, run above
        case .refresh: reload(route, &fx)
        case .verify: verifyAudit(&fx)
        case .lock: lock("Locked.", &fx)
        case .help: overlay = .help(HelpState())
        case .quit: quit = true
        }
    }

    mutating func confirmed(_ pending: Pending, typed: String = "", _ fx: inout [Effect]) {
        switch pending {
        case .approveKey(let name): fx.append(.users(.approveKey(name, fingerprint: typed)))
        case .delete(.user, let name): fx.append(.users(.delete(name)))
        case .delete(.secret, let name): fx.append(.secrets(.delete(name)))
        case .delete(.role, let name): fx.append(.roles(.delete(name)))
        case .resetPassword(let name): fx.append(.users(.resetPassword(name)))
        case .rotateRootKey:
            keys.rotatingRoot = true
            fx.append(.keys(.rotateRootKey))
        case .skipRecoveryCheck:
            finishRecovery(&fx)
            toast("Recovery key not checked: keep the copy you made")
        case .deleteVersion(let name, let version): fx.append(.secrets(.deleteVersion(name, version: version)))
        case .editSecret(let name, let edit): fx.append(.secrets(.edit(name, edit)))
        }
    }

    /// Asks for the name before a destructive action.
    mutating func confirm(_ pending: Pending, title: String, message: String, expected: String) {
        overlay = .confirm(ConfirmState(title: title, message: message, expected: expected, pending: pending))
    }

    /// Asks for the name of a user, secret or role before deleting it.
    mutating func confirmDeletion(_ kind: DeletionKind, _ name: String, message: String) {
        confirm(.delete(kind, name), title: "Delete \(kind.rawValue) \(name)?", message: message, expected: name)
    }

    /// A deletion landed: the toast names what went, and says when a copy of its bytes may
    /// still be in the WAL (another process kept the checkpoint from truncating it).
    mutating func deleted(_ what: String, checkpointed: Bool) {
        toast(
            checkpointed
                ? "Deleted \(what)"
                : "Deleted \(what); the WAL checkpoint is pending (another process has the vault open)")
    }

    mutating func deleted(_ kind: DeletionKind, _ name: String, checkpointed: Bool) {
        deleted("\(kind.rawValue) \(name)", checkpointed: checkpointed)
    }

    /// Rows of the list on the current screen.
    var listPage: Int { Layout.listRows(route, width: width, height: height) }

    mutating func clampLists() {
        for route in [Route.users, .secrets, .audit] {
            let page = Layout.listRows(route, width: width, height: height)
            switch route {
            case .users: users.rows.clampOffset(page: page); users.rows.fill(page: page)
            case .secrets: secrets.rows.clampOffset(page: page); secrets.rows.fill(page: page)
            default: audit.rows.clampOffset(page: page); audit.rows.fill(page: page)
            }
        }
        roles.rows.list.clampOffset(count: roles.rows.count, page: Layout.listRows(.roles, width: width, height: height))
        clampDashboard()
    }
}

/// Scroll position of the help overlay.
public struct HelpState: Equatable, Sendable {
    public var offset = 0
}
