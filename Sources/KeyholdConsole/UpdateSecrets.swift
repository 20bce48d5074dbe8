import KeyholdCore

/// The secrets screen: its keys, and what comes back from the core for it (its forms are
/// `SecretForms.swift`).
extension Model {
    // MARK: Keys

    mutating func secretsKey(_ key: Key, _ fx: inout [Effect]) -> Bool {
        let before = secrets.rows.selectedItem?.name
        if secrets.focus == .detail && !secrets.rows.filtering, let s = secrets.rows.selectedItem,
            secretDetailKey(key, s)
        {
            return true
        }
        if let handled = Self.listKey(key, &secrets.rows, page: listPage) {
            if secrets.rows.selectedItem?.name != before { secretSelectionChanged(&fx) }
            return handled
        }
        let selected = secrets.rows.selectedItem
        switch key {
        case .tab: secrets.focus = secrets.focus == .list ? .detail : .list
        case .char("v"), .enter:
            guard let s = selected, secrets.revealing == nil else { return true }
            guard let account, account.can(.secretsRead) else {
                toast("Revealing a value needs secrets.read", error: true)
                return true
            }
            secrets.revealing = s.name
            fx.append(.secrets(.reveal(s.name, version: s.currentVersion)))
        case .char("h"): secrets.revealed = nil
        case .escape:
            if secrets.revealed != nil {
                secrets.revealed = nil
            } else if Self.back(&secrets.rows, focus: &secrets.focus) {
                go(.dashboard, &fx)
            }
        case .char("r"): reload(.secrets, &fx)
        case .char("n"): openNewSecret()
        case .char("N"):
            guard let s = selected else { return true }
            openNewVersion(s)
        case .char("e"):
            guard let s = selected else { return true }
            openEditSecret(s)
        case .char("X"):
            guard let s = selected else { return true }
            askDeleteVersion(s)
        case .char("D"):
            guard let s = selected else { return true }
            confirmDeletion(
                .secret, s.name,
                message: "All \(Fmt.plural(s.versionCount, "version")) are deleted for good and scrubbed from the vault's files.")
        default: return false
        }
        return true
    }

    /// A new secret is selected: hide any value, load its versions once.
    mutating func secretSelectionChanged(_ fx: inout [Effect]) {
        secrets.detailOffset = 0
        secrets.versionCursor = 0
        let name = secrets.rows.selectedItem?.name
        if secrets.revealed != nil && secrets.revealed?.name != name { secrets.revealed = nil }
        if let name, secrets.versions[name] == nil { fx.append(.secrets(.loadVersions(name))) }
    }

    // MARK: Results

    mutating func secretsResult(_ result: SecretsResult, _ fx: inout [Effect]) {
        switch result {
        case .page(let read):
            let before = secrets.rows.selectedKey
            guard secrets.rows.apply(read, page: Layout.listRows(.secrets, width: width, height: height)) else { break }
            if read.query.count {
                // A refresh: versions are read again, and a value whose secret is gone is hidden.
                secrets.versions = [:]
                if let r = secrets.revealed, r.name != secrets.rows.selectedKey { secrets.revealed = nil }
                secretSelectionChanged(&fx)
            } else if secrets.rows.selectedKey != before {
                secretSelectionChanged(&fx)
            }
        case .counted(let c):
            _ = secrets.rows.apply(c, page: Layout.listRows(.secrets, width: width, height: height))
        case .versionsLoaded(let name, let versions):
            secrets.versions[name] = versions
        case .revealed(let name, let version, let value):
            if secrets.revealing == name { secrets.revealing = nil }
            if route == .secrets, secrets.rows.selectedItem?.name == name, account != nil {
                secrets.revealed = Revealed(
                    name: name, version: version, value: Sensitive(value),
                    until: now + settings.revealFor)
            }
        case .deleted(let name, let checkpointed):
            deleted(.secret, name, checkpointed: checkpointed)
            if secrets.revealed?.name == name { secrets.revealed = nil }
            secrets.versions[name] = nil
            reload(.secrets, &fx)
        case .saved(let saved):
            secretSaved(saved, &fx)
        case .versionDeleted(let name, let version, let checkpointed):
            deleted("v\(version) of \(name)", checkpointed: checkpointed)
            if let r = secrets.revealed, r.name == name, r.version == version { secrets.revealed = nil }
            reload(.secrets, &fx)
        }
    }

    /// A list read fails in the list, a form's call in the form still open; else a toast.
    mutating func secretsFailed(_ effect: SecretsEffect, _ message: String) {
        switch effect {
        case .page:
            secrets.rows.failed(message)
        case .count(let c):
            secrets.rows.countFailed(id: c.id, message)
        case .reveal:
            secrets.revealing = nil
            toast(message, error: true)
        case .create, .addVersion, .edit:
            secretFormFailed(message)
        case .loadVersions, .deleteVersion, .delete:
            toast(message, error: true)
        }
    }

    // MARK: The versions of the details pane

    /// j/k/g/G in the details pane: the version cursor moves, and the pane
    /// scrolls to keep it in view (past either end, it scrolls on).
    mutating func secretDetailKey(_ key: Key, _ s: SecretInfo) -> Bool {
        let detail = Layout.split(width: width, height: height, percent: 50).detail
        let lines = Console.secretDetail(self, s, width: detail.width - 4)
        let rows = detail.height - 2
        let maxOffset = max(0, lines.count - rows)
        let versions = secrets.versions[s.name]?.count ?? 0
        let first = lines.firstIndex { $0.version != nil }
        func show() {
            guard let first else { return }
            let line = first + secrets.versionCursor
            if line < secrets.detailOffset { secrets.detailOffset = line }
            if line >= secrets.detailOffset + rows { secrets.detailOffset = line - rows + 1 }
        }
        switch key {
        case .char("j"), .down:
            if secrets.versionCursor < versions - 1 {
                secrets.versionCursor += 1
                show()
            } else {
                secrets.detailOffset = min(secrets.detailOffset + 1, maxOffset)
            }
        case .char("k"), .up:
            if secrets.versionCursor > 0 {
                secrets.versionCursor -= 1
                show()
            } else {
                secrets.detailOffset = max(0, secrets.detailOffset - 1)
            }
        case .char("g"), .home:
            secrets.versionCursor = 0
            secrets.detailOffset = 0
        case .char("G"), .end:
            secrets.versionCursor = max(0, versions - 1)
            secrets.detailOffset = maxOffset
        default:
            return false
        }
        return true
    }
}
