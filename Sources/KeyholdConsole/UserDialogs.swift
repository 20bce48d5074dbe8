import KeyholdCore

extension Model {
    /// Roles this session may give: it needs roles.manage and every permission of the role.
    func assignable(_ roles: [RoleInfo]) -> [RoleInfo] {
        guard let account, account.can(.rolesManage) else { return [] }
        return roles.filter { $0.permissions.isSubset(of: account.permissions) }
    }

    // MARK: New user

    mutating func openNewUser(_ fx: inout [Effect]) {
        guard let account else { return }
        guard account.can(.usersWrite) else {
            toast("Creating users needs users.write", error: true)
            return
        }
        var form = NewUserState()
        if account.can(.rolesManage) {
            fx.append(.users(.loadRoles))
        } else {
            form.roles = []
        }
        overlay = .newUser(form)
    }

    mutating func newUserKey(_ key: Key, _ form: NewUserState, _ fx: inout [Effect]) {
        var f = form
        if f.busy { return }
        let roles = f.roles ?? []
        switch key {
        case .escape:
            cancelOverlay()
            return
        case .tab: f.focus = f.focus.next()
        case .backTab: f.focus = f.focus.previous()
        case .down where f.focus != .roles: f.focus = f.focus.next()
        case .up where f.focus != .roles: f.focus = f.focus.previous(wrapping: false)
        case .down: f.roleCursor = min(f.roleCursor + 1, max(0, roles.count - 1))
        case .up:
            if f.roleCursor == 0 { f.focus = .displayName } else { f.roleCursor -= 1 }
        case .char(" ") where f.focus == .roles:
            if roles.indices.contains(f.roleCursor) {
                let name = roles[f.roleCursor].name
                if f.chosen.contains(name) { f.chosen.remove(name) } else { f.chosen.insert(name) }
            }
        case .enter:
            f.submitted = true
            if let first = f.problems().first {
                f.focus = first.field
            } else {
                f.busy = true
                f.error = nil
                let email = f.email.text.trimmingSpaces
                fx.append(
                    .users(
                        .create(
                            username: f.username.text, email: email.isEmpty ? nil : email,
                            displayName: f.displayName.text,
                            roles: roles.map(\.name).filter { f.chosen.contains($0) })))
            }
        default:
            f.error = nil
            switch f.focus {
            case .username: f.username.handle(key)
            case .email: f.email.handle(key)
            case .displayName: f.displayName.handle(key)
            case .roles: break
            }
        }
        overlay = .newUser(f)
    }

    // MARK: Roles of a user

    mutating func openUserRoles(_ user: UserInfo, _ fx: inout [Effect]) {
        guard let account else { return }
        guard account.can(.rolesManage) else {
            toast("Changing roles needs roles.manage", error: true)
            return
        }
        overlay = .userRoles(
            UserRolesState(
                username: user.username, current: Set(user.roles), roles: nil,
                chosen: Set(user.roles)))
        fx.append(.users(.loadRoles))
    }

    mutating func userRolesKey(_ key: Key, _ state: UserRolesState, _ fx: inout [Effect]) {
        var r = state
        if r.busy { return }
        let roles = r.roles ?? []
        switch key {
        case .escape:
            overlay = nil
            toast("Roles unchanged")
            return
        case .down, .char("j"): r.cursor = min(r.cursor + 1, max(0, roles.count - 1))
        case .up, .char("k"): r.cursor = max(0, r.cursor - 1)
        case .char(" "):
            if roles.indices.contains(r.cursor) {
                let name = roles[r.cursor].name
                if r.chosen.contains(name) { r.chosen.remove(name) } else { r.chosen.insert(name) }
                r.error = nil
            }
        case .enter:
            let names = roles.map(\.name)
            let add = names.filter { r.chosen.contains($0) && !r.current.contains($0) }
            let remove = names.filter { !r.chosen.contains($0) && r.current.contains($0) }
            if add.isEmpty && remove.isEmpty {
                overlay = nil
                toast("Roles unchanged")
                return
            }
            r.busy = true
            fx.append(.users(.setRoles(r.username, add: add, remove: remove)))
        default: break
        }
        overlay = .userRoles(r)
    }

    // MARK: Results

    mutating func rolesLoaded(_ roles: [RoleInfo]) {
        switch overlay {
        case .newUser(var f):
            f.roles = assignable(roles)
            overlay = .newUser(f)
        case .userRoles(var r):
            r.roles = assignable(roles)
            overlay = .userRoles(r)
        default: break
        }
    }

    mutating func userCreated(_ name: String, temporary: SecureBytes, _ fx: inout [Effect]) {
        overlay = .notice(
            NoticeState(
                title: "User \(name) created",
                message:
                    "Their temporary password, shown this once. Give it to \(name) over a safe channel; it must be changed at the first login and expires in 24 hours.",
                secret: Sensitive(temporary)))
        toast("Created user \(name)")
        reload(.users, &fx)
    }

    /// Some or all of the changes landed (each is its own transaction); a refusal that stopped
    /// the rest follows the toast.
    mutating func rolesSet(_ name: String, stoppedBy refusal: String?, _ fx: inout [Effect]) {
        if case .userRoles = overlay { overlay = nil }
        toast("Roles of \(name) changed")
        reload(.users, &fx)
        if let refusal { toast(refusal, error: true) }
    }

    /// A dialog's core call failed: show it in the dialog if it is still open.
    mutating func dialogFailed(_ effect: UsersEffect, _ message: String) {
        switch (effect, overlay) {
        case (.create, .newUser(var f)):
            f.busy = false
            f.submitted = false
            f.error = message
            overlay = .newUser(f)
        case (.setRoles, .userRoles(var r)):
            r.busy = false
            r.error = message
            overlay = .userRoles(r)
        case (.loadRoles, .newUser(var f)):
            f.roles = []
            f.error = message
            overlay = .newUser(f)
        case (.loadRoles, .userRoles(var r)):
            r.roles = []
            r.error = message
            overlay = .userRoles(r)
        default:
            toast(message, error: true)
        }
    }
}
