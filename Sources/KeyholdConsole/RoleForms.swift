import KeyholdCore

/// The role dialog: a new custom role, or the description and permissions of an existing one.
public struct RoleFormState: Equatable, Sendable {
    /// The name (of a new role only), the description, then the permission checklist.
    public enum Field: FormField, Sendable { case name, description, permissions }

    /// The role being edited; nil for a new role.
    public var original: RoleInfo?
    public var name = TextField(limit: 64)
    /// Above the rule's limit, so that too long shows the rule instead of cutting silently.
    public var description = TextField(limit: Validate.descriptionMaxLength + 20)
    public var chosen: Set<Permission> = []
    public var focus = Field.name
    /// Row of the checklist, an index into `Permission.allCases`.
    public var cursor = 0
    /// Problems of empty fields show only after a first Enter.
    public var submitted = false
    /// The core's refusal, or why a permission cannot be ticked.
    public var error: String?
    public var busy = false

    /// An empty form for a new role.
    public init() {}

    /// The form for editing `role`, filled in with its description and permissions.
    public init(editing role: RoleInfo) {
        original = role
        description = TextField(role.description, limit: Validate.descriptionMaxLength + 20)
        chosen = role.permissions
        focus = .description
    }

    var isNew: Bool { original == nil }

    /// The fields shown, top to bottom: an existing role keeps its name.
    var fields: [Field] { isNew ? Field.allCases : [.description, .permissions] }

    /// Messages for the fields, in order, from the core's validators.
    func problems() -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        if isNew && (submitted || !name.isEmpty) {
            do { _ = try Validate.roleName(name.text) } catch { out.append((.name, error.message)) }
        }
        do { _ = try Validate.description(description.text, field: "role description") } catch {
            out.append((.description, error.message))
        }
        return out
    }
}

extension Model {
    /// Whether the session may manage roles; else a toast says why.
    mutating func mayManageRoles() -> Bool {
        guard let account else { return false }
        if !account.can(.rolesManage) {
            toast("Managing roles needs roles.manage", error: true)
            return false
        }
        return true
    }

    /// Permissions of `role` beyond the session's: the core refuses to edit or delete such a role.
    func beyondAccount(_ role: RoleInfo) -> [String] {
        role.permissions.subtracting(account?.permissions ?? []).sorted().map(\.rawValue)
    }

    mutating func openNewRole() {
        guard mayManageRoles() else { return }
        overlay = .roleForm(RoleFormState())
    }

    mutating func openEditRole(_ role: RoleInfo) {
        guard mayManageRoles() else { return }
        let beyond = beyondAccount(role)
        if !beyond.isEmpty {
            toast(
                "You cannot edit role \(role.name): it carries \(beyond.joined(separator: ", ")), which you do not hold",
                error: true)
            return
        }
        overlay = .roleForm(RoleFormState(editing: role))
    }

    mutating func askDeleteRole(_ role: RoleInfo) {
        guard mayManageRoles() else { return }
        let beyond = beyondAccount(role)
        if !beyond.isEmpty {
            toast(
                "You cannot delete role \(role.name): it carries \(beyond.joined(separator: ", ")), which you do not hold",
                error: true)
            return
        }
        if role.members > 0 {
            toast("Role \(role.name) is held by \(Fmt.plural(role.members, "user")): revoke it from them first", error: true)
            return
        }
        confirmDeletion(
            .role, role.name,
            message: (role.builtin ? "It is a built-in role; nobody holds it. " : "Nobody holds it. ")
                + "The role and its permissions are deleted; past events that name it stay as they are.")
    }

    mutating func roleFormKey(_ key: Key, _ form: RoleFormState, _ fx: inout [Effect]) {
        var f = form
        if f.busy { return }
        let fields = f.fields
        let count = Permission.allCases.count
        switch key {
        case .escape:
            cancelOverlay()
            return
        case .tab: f.focus = f.focus.next(in: fields)
        case .backTab: f.focus = f.focus.previous(in: fields)
        case .down where f.focus != .permissions: f.focus = f.focus.next(in: fields)
        case .up where f.focus != .permissions: f.focus = f.focus.previous(in: fields, wrapping: false)
        case .down where f.focus == .permissions, .char("j") where f.focus == .permissions: f.cursor = min(f.cursor + 1, count - 1)
        case .up where f.focus == .permissions, .char("k") where f.focus == .permissions:
            if f.cursor == 0 { f.focus = .description } else { f.cursor -= 1 }
        case .char(" ") where f.focus == .permissions:
            let p = Permission.allCases[f.cursor]
            if f.chosen.contains(p) {
                f.chosen.remove(p)
                f.error = nil
            } else if account?.can(p) == true {
                f.chosen.insert(p)
                f.error = nil
            } else {
                f.error = "\(p.rawValue): you do not hold it, so you cannot give it"
            }
        case .enter:
            submitRole(&f, &fx)
            if overlay == nil { return }
        default:
            f.error = nil
            switch f.focus {
            case .name: f.name.handle(key)
            case .description: f.description.handle(key)
            case .permissions: break
            }
        }
        overlay = .roleForm(f)
    }

    /// Checks the form, then asks the core for only what changed; an unchanged form just closes.
    mutating func submitRole(_ f: inout RoleFormState, _ fx: inout [Effect]) {
        f.submitted = true
        if let problem = f.problems().first {
            f.focus = problem.field
            return
        }
        guard let role = f.original else {
            f.busy = true
            f.error = nil
            fx.append(.roles(.create(f.name.text, description: f.description.text, permissions: f.chosen)))
            return
        }
        let description = f.description.text == role.description ? nil : f.description.text
        let permissions = f.chosen == role.permissions ? nil : f.chosen
        if description == nil && permissions == nil {
            overlay = nil
            toast("Role \(role.name) unchanged")
            return
        }
        f.busy = true
        f.error = nil
        fx.append(.roles(.edit(role.name, description: description, permissions: permissions)))
    }

    /// A role change landed: close the form, say so, reload the roles (and the users, whose permissions follow).
    mutating func roleSaved(_ name: String, created: Bool, _ acct: Account, _ fx: inout [Effect]) {
        if case .roleForm = overlay { overlay = nil }
        account = acct
        toast(created ? "Created role \(name)" : "Role \(name) updated")
        if created { roles.select = name }
        reload(.roles, &fx)
        // Members' permissions (and key access) follow the role.
        if users.rows.loaded { reload(.users, &fx) }
    }

    /// The role form's core call was refused: the form stays open with the reason.
    mutating func roleFormFailed(_ message: String) {
        if case .roleForm(var f) = overlay {
            f.busy = false
            f.error = message
            overlay = .roleForm(f)
        } else {
            toast(message, error: true)
        }
    }
}
