import KeyholdCore

/// The users screen: its keys, and what comes back from the core for it (its dialogs and forms
/// are `UserDialogs.swift` and `UserForms.swift`).
extension Model {
    // MARK: Keys

    mutating func usersKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        if users.focus == .detail && !users.rows.filtering {
            let detailWidth = Layout.split(width: width, height: height).detail.width - 4
            let lines = users.rows.selectedItem.map { UserDetail.lines($0, now: now, width: detailWidth).count } ?? 0
            let room = Layout.detailRows(width: width, height: height)
            let maxOffset = max(0, lines - room)
            switch key {
            case .char("j"), .down: users.detailOffset = min(users.detailOffset + 1, maxOffset); return true
            case .char("k"), .up: users.detailOffset = max(0, users.detailOffset - 1); return true
            case .pageDown: users.detailOffset = min(users.detailOffset + room, maxOffset); return true
            case .pageUp: users.detailOffset = max(0, users.detailOffset - room); return true
            case .char("g"), .home: users.detailOffset = 0; return true
            case .char("G"), .end: users.detailOffset = maxOffset; return true
            default: break
            }
        }
        let before = users.rows.selectedItem?.id
        if let handled = Self.listKey(key, &users.rows, page: listPage) {
            if users.rows.selectedItem?.id != before { users.detailOffset = 0 }
            return handled
        }
        let selected = users.rows.selectedItem
        switch key {
        case .tab: users.focus = users.focus == .list ? .detail : .list
        case .enter: users.focus = .detail
        case .escape:
            if Self.back(&users.rows, focus: &users.focus) { go(.dashboard, &fx) }
        case .char("r"): reload(.users, &fx)
        case .char("l"), .char("u"), .char("x"), .char("e"):
            guard let u = selected else { return true }
            let change: UserChange = key == .char("l") ? .lock : key == .char("u") ? .unlock : key == .char("x") ? .disable : .enable
            fx.append(.users(.change(change, u.username)))
        case .char("n"): openNewUser(&fx)
        case .char("a"):
            guard let u = selected else { return true }
            openUserRoles(u, &fx)
        case .char("A"):
            guard let u = selected else { return true }
            guard u.keyAccess == .pending else { toast("\(u.username) has no key request waiting", error: true); return true }
            overlay = .confirm(
                ConfirmState(
                    title: "Approve key access of \(u.username)?",
                    message:
                        "The root key is sealed to \(u.username)'s key. Ask them to read you the fingerprint their login shows, on a channel you trust, and type it here: approve only the key they hold.",
                    expected: "", pending: .approveKey(u.username), prompt: "Fingerprint \(u.username) reads to you:"))
        case .char("R"):
            guard let u = selected else { return true }
            confirm(
                .resetPassword(u.username), title: "Reset the password of \(u.username)?",
                message:
                    "Their password stops working and their key pair is replaced. A temporary password is shown once, to be changed at their next login.",
                expected: u.username)
        case .char("D"):
            guard let u = selected else { return true }
            confirmDeletion(
                .user, u.username,
                message: "The account, its roles and its key grant are deleted for good. Events they signed stay verifiable.")
        case .char("E"):
            guard let u = selected else { return true }
            openEditUser(u)
        case .char("t"):
            guard let u = selected else { return true }
            openExpiry(u)
        default: return false
        }
        return true
    }

    // MARK: Results

    mutating func usersResult(_ result: UsersResult, _ fx: inout [Effect]) {
        switch result {
        case .page(let read):
            let before = users.rows.selectedKey
            if users.rows.apply(read, page: Layout.listRows(.users, width: width, height: height)),
                users.rows.selectedKey != before
            {
                users.detailOffset = 0
            }
        case .counted(let c):
            _ = users.rows.apply(c, page: Layout.listRows(.users, width: width, height: height))
        case .changed(let change, let name):
            toast("\(name) \(change.pastTense)")
            reload(.users, &fx)
        case .keyApproved(let name):
            toast("\(name): key access approved")
            dashboard.data = nil
            reload(.users, &fx)
        case .passwordReset(let name, let temp):
            overlay = .notice(
                NoticeState(
                    title: "Temporary password for \(name)",
                    message:
                        "Shown this once. Give it to \(name) over a safe channel; it must be changed at the first login and expires in 24 hours.",
                    secret: Sensitive(temp)))
            reload(.users, &fx)
        case .deleted(let name, let checkpointed):
            deleted(.user, name, checkpointed: checkpointed)
            reload(.users, &fx)
        case .rolesLoaded(let roles):
            rolesLoaded(roles)
        case .created(let name, let temp):
            userCreated(name, temporary: temp, &fx)
        case .rolesSet(let name, _, let refusal):
            rolesSet(name, stoppedBy: refusal, &fx)
        case .edited, .expirySet:
            userFormSaved(result, &fx)
        }
    }

    /// The list shows a failed read; a dialog or form still open shows its call's refusal; else a toast.
    mutating func usersFailed(_ effect: UsersEffect, _ message: String) {
        switch effect {
        case .page: users.rows.failed(message)
        case .count(let c): users.rows.countFailed(id: c.id, message)
        case .change, .resetPassword, .approveKey, .delete: toast(message, error: true)
        case .loadRoles, .create, .setRoles: dialogFailed(effect, message)
        case .edit, .setExpiry: formFailed(message)
        }
    }
}
