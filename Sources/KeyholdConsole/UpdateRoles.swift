import KeyholdCore

/// The roles screen: its keys, and what comes back from the core for it (its form is
/// `RoleForms.swift`).
extension Model {
    // MARK: Keys

    mutating func rolesKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        if let handled = Self.listKey(key, &roles.rows, page: listPage) { return handled }
        switch key {
        case .escape:
            var focus = Pane.list
            if Self.back(&roles.rows, focus: &focus, page: listPage) { go(.dashboard, &fx) }
        case .char("r"): reload(.roles, &fx)
        case .char("n"): openNewRole()
        case .char("e"):
            guard let r = roles.rows.selectedItem else { return true }
            openEditRole(r)
        case .char("D"):
            guard let r = roles.rows.selectedItem else { return true }
            askDeleteRole(r)
        default: return false
        }
        return true
    }

    // MARK: Results

    mutating func rolesResult(_ result: RolesResult, _ fx: inout [Effect]) {
        switch result {
        case .loaded(let list):
            let page = Layout.listRows(.roles, width: width, height: height)
            roles.rows.setItems(list, page: page, id: \.name) { r in
                r.name + "\u{1}" + r.description
            }
            if let name = roles.select {
                roles.select = nil
                if let i = roles.rows.visible.firstIndex(where: { roles.rows.items[$0].name == name }) {
                    roles.rows.list.select(i, count: roles.rows.count, page: page)
                }
            }
        case .saved(let name, let created, let acct):
            roleSaved(name, created: created, acct, &fx)
        case .deleted(let name):
            deleted(.role, name, checkpointed: true)
            reload(.roles, &fx)
        }
    }

    mutating func rolesFailed(_ effect: RolesEffect, _ message: String) {
        switch effect {
        case .load:
            roles.rows.loading = false
            roles.rows.error = message
        case .create, .edit:
            roleFormFailed(message)
        case .delete:
            toast(message, error: true)
        }
    }
}
