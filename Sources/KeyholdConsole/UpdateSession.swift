import KeyholdCore

/// Whether a password rule holds yet.
public enum RuleState: Equatable, Sendable { case pending, ok, failed }

/// The password rules shown beside a new-password form, checked as you type
/// with the core's own validator (so the screen and the core agree), on the bytes
/// typed into guarded memory (`Validate.passwordFacts`: no String of the password).
public enum PasswordRules {
    public struct Rule: Equatable, Sendable {
        public var text: String
        public var state: RuleState
    }

    /// The rules' states for `password` (nil: nothing typed yet).
    public static func check(_ password: SecureBytes?, username: String, minimumLength: Int) -> [Rule] {
        let minimum = max(minimumLength, Validate.passwordMinimumFloor)
        // Facts that cannot be had (out of guarded memory) leave every rule pending; creating
        // the account checks again, and refuses.
        let facts = password.flatMap { try? Validate.passwordFacts($0, username: username) }
        let empty = (password?.count ?? 0) == 0
        var length = RuleState.pending, common = RuleState.pending, name = RuleState.pending
        if let facts, !empty {
            length = facts.isUTF8 && facts.characters >= minimum && facts.bytes <= Validate.passwordMaxBytes ? .ok : .failed
            if facts.characters >= Validate.passwordMinimumFloor {
                // As the validator with the floor and no username would judge it: only "common",
                // "repeated" and "sequence" fail this rule (a control character is another rule).
                let reachesCommon = facts.isUTF8 && facts.bytes <= Validate.passwordMaxBytes && !facts.hasControl
                common = reachesCommon && (facts.isCommon || facts.isRepeated || facts.isSequence) ? .failed : .ok
            }
            name = facts.containsUsername ? .failed : .ok
        }
        return [
            Rule(text: "at least \(minimum) characters", state: length),
            Rule(text: "not a common password, repeat, sequence or keyboard row", state: common),
            Rule(text: "does not contain the username", state: name)
        ]
    }

    /// A length-based strength word and a 0...10 bar: with no composition
    /// rules (NIST SP 800-63B), length is what makes a password strong.
    public static func strength(_ password: SecureBytes?, valid: Bool) -> (label: String, bars: Int) {
        let n = password.flatMap { try? Validate.passwordFacts($0, username: "").characters } ?? 0
        let bars = min(10, n * 10 / 24)
        if n == 0 { return ("", 0) }
        if !valid { return ("not accepted", bars) }
        if n >= 24 { return ("strong", bars) }
        if n >= 16 { return ("good", bars) }
        return ("fair: longer is stronger", bars)
    }

    /// The validator's message, or nil if the password is accepted.
    public static func problem(_ password: SecureBytes?, username: String, minimumLength: Int) -> String? {
        do {
            try Validate.password(try password ?? SecureBytes(count: 0) { _ in }, username: username, minimumLength: minimumLength)
            return nil
        } catch let error as ValidationError {
            return error.message
        } catch {
            return "password: could not be checked (out of memory)"
        }
    }
}

extension SetupState {
    /// Messages for the fields, in order.
    func problems(minimumLength: Int) -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        if submitted || !username.isEmpty {
            do { _ = try Validate.username(username.text) } catch { out.append((.username, error.message)) }
        }
        if submitted || !password.isEmpty,
            let p = PasswordRules.problem(password.bytes, username: username.text, minimumLength: minimumLength)
        {
            out.append((.password, p))
        }
        if (submitted || !repeated.isEmpty) && !repeated.matches(password) {
            out.append((.repeated, "repeat: does not match the password"))
        }
        return out
    }
}

extension ChangePasswordState {
    func problems(minimumLength: Int) -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        if submitted || !password.isEmpty,
            let p = PasswordRules.problem(password.bytes, username: username, minimumLength: minimumLength)
        {
            out.append((.password, "new " + p))
        }
        if (submitted || !repeated.isEmpty) && !repeated.matches(password) {
            out.append((.repeated, "repeat: does not match the new password"))
        }
        return out
    }
}

extension Model {
    // MARK: First run

    mutating func setupKey(_ key: Key, _ fx: inout [Effect]) {
        if setup.busy { return }
        switch key {
        case .escape: quit = true
        case .f(1): overlay = .help(HelpState())
        case .tab, .down: setup.focus = setup.focus.next()
        case .backTab, .up: setup.focus = setup.focus.previous()
        case .enter:
            // A filled field whose next one is empty: Enter goes there rather than submitting.
            let onward =
                switch setup.focus {
                case .username: !setup.username.isEmpty && setup.password.isEmpty
                case .password: !setup.password.isEmpty && setup.repeated.isEmpty
                case .repeated: false
                }
            if onward {
                setup.focus = setup.focus.next()
                return
            }
            submitSetup(&fx)
        default:
            setup.error = nil
            switch setup.focus {
            case .username: setup.username.handle(key)
            case .password: setup.password.handle(key)
            case .repeated: setup.repeated.handle(key)
            }
        }
    }

    mutating func submitSetup(_ fx: inout [Effect]) {
        setup.submitted = true
        let problems = setup.problems(minimumLength: settings.passwordMinLength)
        if let first = problems.first {
            setup.focus = first.field
            return
        }
        setup.busy = true
        setup.error = nil
        // The fields keep what was typed until the vault exists: a failure (an unsafe directory
        // mode, a full disk) leaves the form as it was, masked, so Enter tries again once the cause
        // is fixed. Success empties the whole form (`vaultCreated`).
        guard let password = setup.password.value else { return }
        fx.append(.session(.createVault(username: setup.username.text, password: password)))
    }

    // MARK: Recovery key

    mutating func recoveryKey(_ key: Key, _ fx: inout [Effect]) {
        switch key {
        case .f(1): overlay = .help(HelpState())
        case .f(2):
            confirm(
                .skipRecoveryCheck, title: "Continue without typing the key back?",
                message: "Keyhold will not show this recovery key again. Continue only if you have stored it safely.",
                expected: "written down")
        case .enter: checkRecoveryKey(&fx)
        case .escape:
            toast("The vault exists now: type the recovery key back, or F2")
        default:
            if recovery.typed.handle(key) { recovery.error = nil }
        }
    }

    mutating func checkRecoveryKey(_ fx: inout [Effect]) {
        guard let shown = recovery.key else { finishRecovery(&fx); return }
        guard let typed = recovery.typed.bytes, typed.withBytes({ $0.contains { $0 != 0x20 } }) else {
            recovery.error = "Type the recovery key shown above (or F2 if you have stored it)."
            return
        }
        do {
            let parsed = try RecoveryKey.parse(typed: typed)
            let expected = try RecoveryKey.parse(typed: shown.bytes)
            if parsed.constantTimeEquals(expected) {
                finishRecovery(&fx)
                toast("Recovery key confirmed")
            } else {
                recovery.error =
                    "recovery key: does not match the key shown\(Self.firstDifferingGroup(typed, shown).map { " (group \($0) differs)" } ?? "")"
            }
        } catch {
            recovery.error = error.description
        }
    }

    /// The first group (1-based) where two typed forms of a recovery key differ, compared
    /// symbol by symbol in guarded memory (upper case, O as 0, I and L as 1, dashes and spaces dropped).
    static func firstDifferingGroup(_ a: SecureBytes, _ b: Sensitive) -> Int? {
        func symbols(_ s: SecureBytes) throws -> SecureBuffer {
            let out = try SecureBuffer(capacity: s.count)
            try s.withBytes { bytes in
                for var c in bytes where c != UInt8(ascii: "-") && c != 0x20 && c != 0x09 {
                    if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) { c -= 0x20 }
                    switch c {
                    case UInt8(ascii: "O"): c = UInt8(ascii: "0")
                    case UInt8(ascii: "I"), UInt8(ascii: "L"): c = UInt8(ascii: "1")
                    default: break
                    }
                    try out.append(c)
                }
            }
            return out
        }
        // Without guarded memory to compare in (out of memory), no group is named.
        guard let x = try? symbols(a), let y = try? symbols(b.bytes) else { return nil }
        for g in 0..<13 {
            let r = (g * 5)..<(g * 5 + 5)
            let xa = x.count >= r.upperBound ? x.bytes[r] : nil
            let ya = y.count >= r.upperBound ? y.bytes[r] : nil
            switch (xa, ya) {
            case (nil, nil): continue
            case (let p?, let q?) where p.elementsEqual(q): continue
            default: return g + 1
            }
        }
        return nil
    }

    mutating func finishRecovery(_ fx: inout [Effect]) {
        recovery = RecoveryState()
        route = .dashboard
        reload(.dashboard, &fx)
    }

    // MARK: Login

    mutating func loginKey(_ key: Key, _ fx: inout [Effect]) {
        if login.busy {
            if login.typedAhead.count < LoginState.typedAheadLimit { login.typedAhead.append(key) }
            return
        }
        switch key {
        case .escape: quit = true
        case .f(1): overlay = .help(HelpState())
        case .tab, .down: login.focus = login.focus.next()
        case .backTab, .up: login.focus = login.focus.previous()
        case .enter:
            if login.focus == .username && login.password.isEmpty {
                login.focus = .password
                return
            }
            guard !login.username.text.trimmingSpaces.isEmpty else {
                login.failure = .other("username: type your username")
                login.focus = .username
                return
            }
            guard !login.password.isEmpty else {
                login.failure = .other("password: type your password")
                login.focus = .password
                return
            }
            login.busy = true
            login.failure = nil
            login.notice = nil
            guard let password = login.password.value else { return }
            fx.append(.session(.login(username: login.username.text.trimmingSpaces, password: password)))
            login.password.wipe()
        default:
            switch login.focus {
            case .username: login.username.handle(key)
            case .password: login.password.handle(key)
            }
        }
    }

    // MARK: Forced password change

    mutating func changePasswordKey(_ key: Key, _ fx: inout [Effect]) {
        if changePassword.busy { return }
        switch key {
        case .escape:
            let name = changePassword.username
            changePassword = ChangePasswordState()
            login = LoginState()
            login.username = TextField(name, limit: 64)
            login.focus = .password
            login.notice = "Password not changed. Log in again to change it."
            route = .login
            fx.append(.session(.logout))
        case .f(1): overlay = .help(HelpState())
        case .tab, .down: changePassword.focus = changePassword.focus.next()
        case .backTab, .up: changePassword.focus = changePassword.focus.previous()
        case .enter:
            if changePassword.focus == .password && changePassword.repeated.isEmpty && !changePassword.password.isEmpty {
                changePassword.focus = .repeated
                return
            }
            changePassword.submitted = true
            if let first = changePassword.problems(minimumLength: settings.passwordMinLength).first {
                changePassword.focus = first.field
                return
            }
            changePassword.busy = true
            changePassword.error = nil
            guard let password = changePassword.password.value else { return }
            fx.append(.session(.completePasswordChange(password)))
            changePassword.password.wipe()
            changePassword.repeated.wipe()
        default:
            changePassword.error = nil
            switch changePassword.focus {
            case .password: changePassword.password.handle(key)
            case .repeated: changePassword.repeated.handle(key)
            }
        }
    }
}

extension Model {
    // MARK: Results

    mutating func sessionResult(_ result: SessionResult, _ fx: inout [Effect]) {
        switch result {
        case .vaultCreated(let acct, let key):
            account = acct
            setup = SetupState()
            recovery = RecoveryState(key: Sensitive(key))
            route = .recovery
        case .loggedIn(let acct):
            let ahead = login.typedAhead
            account = acct
            resetScreens()
            route = .dashboard
            reload(.dashboard, &fx)
            toast(settings.viaAgent ? "Logged in as \(acct.username) (through the agent)" : "Logged in as \(acct.username)")
            // The next open finishes a rotation that was interrupted.
            if acct.can(.keysManage) && acct.hasKeyAccess {
                keys.finishingInterrupted = true
                fx.append(.keys(.finishInterruptedRotation))
            }
            // Keys typed while the login was checked act on the dashboard, as if typed now.
            for key in ahead { handleKey(key, &fx) }
        case .mustChangePassword(let name):
            login.busy = false
            login.typedAhead = []
            login.password.wipe()
            changePassword = ChangePasswordState()
            changePassword.username = name
            route = .changePassword
        case .loginFailed(let error):
            loginFailed(error)
        case .loggedOut:
            break
        }
    }

    mutating func loginFailed(_ error: KeyholdError) {
        login.busy = false
        login.typedAhead = []
        login.password.wipe()
        login.focus = .password
        switch error {
        case .authenticationFailed: login.failure = .wrongCredentials
        default: login.failure = .other(error.description)
        }
    }

    mutating func sessionFailed(_ effect: SessionEffect, _ message: String) {
        switch effect {
        case .createVault:
            // Nothing typed is lost: the username, both (masked) passwords and the focus stay.
            setup.busy = false
            setup.error = message
        case .completePasswordChange:
            changePassword.busy = false
            changePassword.submitted = false
            changePassword.error = message
            changePassword.focus = .password
        case .login:
            // The runner answers a refused login with `.loginFailed`; anything else lands there too.
            loginFailed(.refused(message))
        case .logout:
            break
        }
    }
}
