import KeyholdCore

/// A secret value typed into a masked field. Each key goes straight into
/// guarded memory (a Swift String could not be wiped); only the end of the
/// value can be edited, and only bullets are ever drawn.
public struct SecretValueField: Equatable, Sendable {
    /// What was typed; nil while empty.
    public private(set) var value: Sensitive?
    /// Characters (Unicode scalars) typed: one bullet each.
    public private(set) var length = 0
    /// More than `limit` bytes were typed (or pasted); the rest was dropped.
    public private(set) var overflowed = false
    /// The most bytes it takes: what the core accepts.
    var limit = Validate.secretValueMaxBytes

    public init() {}

    /// A field that takes at most `limit` bytes.
    public init(limit: Int) { self.limit = limit }

    /// A password field: a byte more than the longest password, so that one too long is
    /// refused by the rules rather than cut short without a word.
    public static func password() -> SecretValueField { SecretValueField(limit: Validate.passwordMaxBytes + 1) }

    /// The bytes typed, nil while empty.
    public var bytes: SecureBytes? { value?.bytes }

    /// Whether two fields hold the same bytes (compared in constant time).
    public func matches(_ other: SecretValueField) -> Bool {
        switch (bytes, other.bytes) {
        case (nil, nil): true
        case (let a?, let b?): a.constantTimeEquals(b)
        default: false
        }
    }

    /// What a masked field shows: one bullet per character typed.
    var masked: TextField { TextField(String(repeating: "•", count: length), masked: true) }

    public var isEmpty: Bool { value == nil }
    /// Bytes held.
    public var count: Int { value?.bytes.count ?? 0 }

    /// Applies an editing key: a character, Backspace, Ctrl-U (clear). Returns false for other keys.
    @discardableResult
    public mutating func handle(_ key: Key) -> Bool {
        switch key {
        case .char(let c): append(c)
        case .backspace: dropLast()
        case .ctrl("u"): wipe()
        default: return false
        }
        return true
    }

    /// Forgets the value (its guarded memory is zeroed when the last reference goes).
    public mutating func wipe() {
        value = nil
        length = 0
        overflowed = false
    }

    private mutating func append(_ c: Character) {
        let old = value?.bytes
        let oldCount = old?.count ?? 0
        let added = c.utf8
        guard oldCount + added.count <= limit else {
            overflowed = true
            return
        }
        // Out of guarded memory: the character is not taken (and never held anywhere else).
        guard
            let next = try? SecureBytes(
                count: oldCount + added.count,
                fill: { out in
                    old?.withBytes { out.copyMemory(from: $0) }
                    var i = oldCount
                    for b in added { out[i] = b; i += 1 }
                })
        else { return }
        value = Sensitive(next)
        length += added.count(where: { $0 & 0xC0 != 0x80 })
    }

    /// Removes the last Unicode scalar.
    private mutating func dropLast() {
        guard let old = value?.bytes else { return }
        let keep = old.withBytes { b in
            var i = b.count - 1
            while i > 0 && b[i] & 0xC0 == 0x80 { i -= 1 }
            return i
        }
        if keep == 0 {
            wipe()
            return
        }
        // Out of guarded memory for the shorter value: the field is emptied rather than left as it was.
        guard
            let shorter = try? SecureBytes(
                count: keep,
                fill: { out in
                    old.withBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<keep])) }
                })
        else { return wipe() }
        value = Sensitive(shorter)
        length -= 1
    }
}

/// Where a new secret value comes from.
public enum NewValue: Equatable, Sendable, Codable {
    case typed(Sensitive)
    case generated(length: Int, alphabet: Token.Alphabet)

    var input: SecretInput {
        switch self {
        case .typed(let v): .value(v.bytes)
        case .generated(let length, let alphabet): .generated(length: length, alphabet: alphabet)
        }
    }
}

/// The metadata changes of one secret; nil leaves a field as it is.
public struct SecretEdit: Equatable, Sendable, Codable {
    public var description: String?
    /// `.clear`: no rotate-by date.
    public var rotateBy: FieldEdit<Int64>
    /// `.clear`: the vault's default applies.
    public var historyLimit: FieldEdit<Int>

    public init(description: String? = nil, rotateBy: FieldEdit<Int64> = .keep, historyLimit: FieldEdit<Int> = .keep) {
        self.description = description; self.rotateBy = rotateBy; self.historyLimit = historyLimit
    }

    var isEmpty: Bool { description == nil && rotateBy == .keep && historyLimit == .keep }

    /// The changed fields, named for the toast.
    var changedFields: [String] {
        (description != nil ? ["description"] : []) + (rotateBy != .keep ? ["rotate-by date"] : [])
            + (historyLimit != .keep ? ["history limit"] : [])
    }
}

/// What a secret form saved.
public enum SecretSaved: Equatable, Sendable, Codable {
    case created(String)
    case versionAdded(String, version: Int)
    /// The fields saved, in order ("description", "rotate-by date", "history limit").
    case edited(String, [String])
}

/// The new-secret, new-version and edit dialogs of the secrets screen: one
/// form whose fields depend on its kind.
public struct SecretFormState: Equatable, Sendable {
    /// Which dialog: a new secret, a new version of one, or its metadata.
    public enum Kind: Equatable, Sendable {
        case create
        case newVersion(SecretInfo)
        case edit(SecretInfo)
    }

    /// The fields, each shown only where its kind and value source need it.
    public enum Field: FormField, Sendable {
        case name, source, value, length, alphabet, description, rotateBy, historyLimit
    }

    /// Bounds of a per-secret history limit (the core checks the same).
    static let historyRange = 1...1000
    static let defaultLength = 32

    public var kind: Kind
    public var name = TextField(limit: 255)
    /// A random value instead of a typed one.
    public var generated = false
    public var value = SecretValueField()
    public var length = TextField(String(SecretFormState.defaultLength), limit: 4)
    public var alphabet = Token.Alphabet.urlsafe
    public var description = TextField(limit: Validate.descriptionMaxLength)
    public var rotateBy = TextField(limit: 10)
    public var historyLimit = TextField(limit: 4)
    public var focus: Field
    /// Problems are shown for empty fields only after a first attempt.
    public var submitted = false
    public var error: String?
    public var busy = false

    public init(_ kind: Kind) {
        self.kind = kind
        switch kind {
        case .create:
            focus = .name
        case .newVersion:
            focus = .value
        case .edit(let s):
            focus = .description
            description = TextField(s.description, limit: Validate.descriptionMaxLength)
            rotateBy = TextField(s.rotateBy.map(Fmt.date) ?? "", limit: 10)
            historyLimit = TextField(s.historyLimit.map(String.init) ?? "", limit: 4)
        }
    }

    /// The secret a version or an edit is for.
    public var secret: SecretInfo? {
        switch kind {
        case .create: nil
        case .newVersion(let s), .edit(let s): s
        }
    }

    /// The fields shown, top to bottom.
    public var fields: [Field] {
        let source: [Field] = generated ? [.source, .length, .alphabet] : [.source, .value]
        switch kind {
        case .create: return [.name] + source + [.description, .rotateBy, .historyLimit]
        case .newVersion: return source
        case .edit: return [.description, .rotateBy, .historyLimit]
        }
    }

    /// Messages for the fields, in order. `exists` tells whether a secret of that name is listed.
    func problems(exists: (String) -> Bool = { _ in false }) -> [(field: Field, message: String)] {
        var out: [(Field, String)] = []
        let shown = fields
        if shown.contains(.name), submitted || !name.isEmpty {
            do {
                let n = try Validate.secretName(name.text)
                if exists(n) { out.append((.name, "secret name: \(n) exists already (N on the list adds a version)")) }
            } catch { out.append((.name, error.message)) }
        }
        if shown.contains(.value) {
            if value.overflowed {
                out.append(
                    (
                        .value,
                        "secret value: must be at most \(value.limit) bytes (more was typed; for a file use keyhold secret set --from-file)"
                    ))
            } else if submitted || !value.isEmpty {
                do { try Validate.secretValueSize(value.count) } catch { out.append((.value, error.message)) }
            }
        }
        if shown.contains(.length), generatedLength == nil {
            out.append((.length, "length: must be a whole number from 1 to \(Session.maxGeneratedLength)"))
        }
        if shown.contains(.description) {
            do { _ = try Validate.description(description.text, field: "description") } catch { out.append((.description, error.message)) }
        }
        if shown.contains(.rotateBy), rotateByTime == nil {
            out.append((.rotateBy, "rotate by: must be a date as YYYY-MM-DD (UTC), or empty for none"))
        }
        if shown.contains(.historyLimit), historyLimitValue == nil {
            out.append((.historyLimit, "history limit: must be a whole number from 1 to 1000, or empty for the vault's default"))
        }
        return out
    }

    /// The generated value's length; nil when not a number in range.
    var generatedLength: Int? {
        Int(length.text.trimmingSpaces).flatMap { (1...Session.maxGeneratedLength).contains($0) ? $0 : nil }
    }

    /// The rotate-by time: `.some(nil)` when empty, nil when malformed.
    var rotateByTime: Int64?? {
        let t = rotateBy.text.trimmingSpaces
        if t.isEmpty { return .some(nil) }
        return (try? Fmt.day(t, field: "rotate by")).map { .some($0) }
    }

    /// The history limit: `.some(nil)` when empty, nil when malformed.
    var historyLimitValue: Int?? {
        let t = historyLimit.text.trimmingSpaces
        if t.isEmpty { return .some(nil) }
        return Int(t).flatMap { Self.historyRange.contains($0) ? .some($0) : nil }
    }

    /// What the edit form changes: fields whose text differs from what it was opened with.
    func edit(of s: SecretInfo) -> SecretEdit {
        var e = SecretEdit()
        if description.text != s.description { e.description = description.text }
        if rotateBy.text.trimmingSpaces != (s.rotateBy.map(Fmt.date) ?? ""), let time = rotateByTime { e.rotateBy = FieldEdit(time) }
        if historyLimit.text.trimmingSpaces != (s.historyLimit.map(String.init) ?? ""), let limit = historyLimitValue {
            e.historyLimit = FieldEdit(limit)
        }
        return e
    }

    /// The new value, taken out of the form (the typed one is wiped from it).
    mutating func takeValue() -> NewValue? {
        if generated { return generatedLength.map { .generated(length: $0, alphabet: alphabet) } }
        guard let v = value.value else { return nil }
        value.wipe()
        return .typed(v)
    }
}

extension Token.Alphabet {
    /// The characters in short, for the form.
    var summary: String {
        switch self {
        case .urlsafe: "A-Z a-z 0-9 - _"
        case .hex: "0-9 a-f"
        case .alnum: "A-Z a-z 0-9"
        case .base64: "A-Z a-z 0-9 + /"
        case .alpha: "A-Z a-z"
        case .numeric: "0-9"
        case .ascii: "printable ASCII, no space"
        }
    }

    /// The next (or previous) alphabet, round the list.
    func step(_ by: Int) -> Token.Alphabet {
        let all = Token.Alphabet.allCases
        let i = all.firstIndex(of: self)!
        return all[(i + by + all.count) % all.count]
    }
}

extension Model {
    // MARK: Opening the forms

    /// Whether the session may write secrets, with a toast naming what is missing.
    mutating func mayWriteSecrets(_ what: String, needsKey: Bool) -> Bool {
        guard let account else { return false }
        guard account.can(.secretsWrite) else {
            toast("\(what) needs secrets.write", error: true)
            return false
        }
        if needsKey && !account.hasKeyAccess {
            toast("\(what) needs key access: you hold no key grant yet", error: true)
            return false
        }
        return true
    }

    mutating func openNewSecret() {
        guard mayWriteSecrets("Adding a secret", needsKey: true) else { return }
        overlay = .secretForm(SecretFormState(.create))
    }

    mutating func openNewVersion(_ s: SecretInfo) {
        guard mayWriteSecrets("Adding a version", needsKey: true) else { return }
        overlay = .secretForm(SecretFormState(.newVersion(s)))
    }

    mutating func openEditSecret(_ s: SecretInfo) {
        guard mayWriteSecrets("Editing a secret", needsKey: false) else { return }
        overlay = .secretForm(SecretFormState(.edit(s)))
    }

    /// X: asks to delete the version under the cursor of the details pane.
    mutating func askDeleteVersion(_ s: SecretInfo) {
        guard mayWriteSecrets("Deleting a version", needsKey: false) else { return }
        guard secrets.focus == .detail else {
            secrets.focus = .detail
            toast("Choose a version with j/k, then X")
            return
        }
        guard let versions = secrets.versions[s.name] else {
            toast("The versions are still loading")
            return
        }
        let newestFirst = Array(versions.reversed())
        guard newestFirst.indices.contains(secrets.versionCursor) else { return }
        guard versions.count > 1 else {
            toast("v\(newestFirst[0].version) is the only version of \(s.name): D deletes the secret", error: true)
            return
        }
        let v = newestFirst[secrets.versionCursor].version
        let next = versions.map(\.version).filter { $0 != v }.max()!
        let current = v == s.currentVersion ? " It is the current version: v\(next) becomes current." : ""
        confirm(
            .deleteVersion(s.name, v), title: "Delete version v\(v) of \(s.name)?",
            message: "This version's value is deleted for good and scrubbed from the vault's files.\(current)",
            expected: "v\(v)")
    }

    /// The existing secret of that name, if the list holds it.
    func secretListed(_ name: String) -> Bool { secrets.rows.items.contains { $0.name == name } }

    // MARK: Keys of the form

    mutating func secretFormKey(_ key: Key, _ form: SecretFormState, _ fx: inout [Effect]) {
        var f = form
        if f.busy { return }
        let fields = f.fields
        switch key {
        case .escape:
            f.value.wipe()
            cancelOverlay()
            return
        case .tab, .down: f.focus = f.focus.next(in: fields)
        case .backTab, .up: f.focus = f.focus.previous(in: fields)
        case .enter:
            submitSecretForm(&f, &fx)
            // A confirmation may have taken the overlay's place.
            if case .secretForm = overlay { overlay = .secretForm(f) }
            return
        case .char(" ") where f.focus == .source, .left where f.focus == .source, .right where f.focus == .source:
            f.generated.toggle()
            f.error = nil
        case .char(let c) where f.focus == .source && c != " ":
            // Typing on the typed/generated line types the value (or the generated length):
            // nothing typed there is lost, and nothing meant as the value lands in the next field.
            f.error = nil
            f.focus = f.generated ? .length : .value
            if f.generated { f.length.handle(key) } else { f.value.handle(key) }
        case .char(" ") where f.focus == .alphabet, .right where f.focus == .alphabet:
            f.alphabet = f.alphabet.step(1)
        case .left where f.focus == .alphabet:
            f.alphabet = f.alphabet.step(-1)
        default:
            f.error = nil
            switch f.focus {
            case .name: f.name.handle(key)
            case .value: f.value.handle(key)
            case .length: f.length.handle(key)
            case .description: f.description.handle(key)
            case .rotateBy: f.rotateBy.handle(key)
            case .historyLimit: f.historyLimit.handle(key)
            case .source, .alphabet: break
            }
        }
        overlay = .secretForm(f)
    }

    /// Enter: the first field with a problem gets the focus; otherwise the core call goes out.
    mutating func submitSecretForm(_ f: inout SecretFormState, _ fx: inout [Effect]) {
        f.submitted = true
        if let first = f.problems(exists: secretListed).first {
            f.focus = first.field
            return
        }
        switch f.kind {
        case .create:
            guard let value = f.takeValue(), let rotateBy = f.rotateByTime, let limit = f.historyLimitValue else { return }
            f.busy = true
            f.error = nil
            fx.append(
                .secrets(
                    .create(
                        name: f.name.text, value: value, description: f.description.text,
                        rotateBy: rotateBy, historyLimit: limit)))
        case .newVersion(let s):
            guard let value = f.takeValue() else { return }
            f.busy = true
            f.error = nil
            fx.append(.secrets(.addVersion(s.name, value)))
        case .edit(let s):
            let edit = f.edit(of: s)
            if edit.isEmpty {
                overlay = nil
                toast("Nothing changed")
                return
            }
            if let warning = pruneWarning(s, edit) {
                confirm(
                    .editSecret(s.name, edit), title: "Delete old versions of \(s.name)?", message: warning,
                    expected: s.name)
                return
            }
            f.busy = true
            f.error = nil
            fx.append(.secrets(.edit(s.name, edit)))
        }
    }

    /// What a new history limit deletes at once, if anything may go.
    func pruneWarning(_ s: SecretInfo, _ edit: SecretEdit) -> String? {
        guard let change = edit.historyLimit.change else { return nil }
        guard let limit = change else {
            return s.versionCount > 1
                ? "With no limit of its own the vault's default applies: versions beyond it are deleted now, oldest first, for good."
                : nil
        }
        guard s.versionCount > limit else { return nil }
        var which = ""
        if let versions = secrets.versions[s.name] {
            // As the core prunes: the oldest versions other than the current one.
            let dropped = versions.map(\.version).filter { $0 != s.currentVersion }.dropLast(max(limit - 1, 0))
            which = " (" + dropped.map { "v\($0)" }.joined(separator: ", ") + ")"
        }
        let count = s.versionCount - limit
        let oldest = count == 1 ? "the oldest version" : "the \(count) oldest versions"
        return "Keeping at most \(Fmt.plural(limit, "version")) deletes \(oldest)\(which) now, for good."
    }

    // MARK: Results

    /// A form's call landed: close the form, say so, read the list again (around a new secret).
    mutating func secretSaved(_ saved: SecretSaved, _ fx: inout [Effect]) {
        if case .secretForm = overlay { overlay = nil }
        switch saved {
        case .created(let name):
            toast("Created secret \(name)")
        case .versionAdded(let name, let version):
            toast("Added v\(version) of \(name)")
        case .edited(let name, let fields):
            toast("Saved \(fields.joined(separator: ", ")) of \(name)")
        }
        reload(.secrets, &fx)
        if case .created(let name) = saved { selectSecret(name) }
    }

    /// A form's core call was refused: the form stays open with the reason.
    mutating func secretFormFailed(_ message: String) {
        if case .secretForm(var f) = overlay {
            f.busy = false
            f.submitted = false
            f.error = message
            overlay = .secretForm(f)
        } else {
            toast(message, error: true)
        }
    }

    /// Selects a secret by name: the list is read around it, without a filter that hides it
    /// (the filter matches names by substring, without regard to ASCII case, as the store does).
    mutating func selectSecret(_ name: String) {
        guard account?.can(.secretsList) == true else { return }
        let text = secrets.rows.filter.text
        if !text.isEmpty, !Self.asciiLowercased(name).contains(Self.asciiLowercased(text)) { secrets.rows.filter.clear() }
        secrets.rows.selectedKey = name
        secrets.rows.refresh()
    }

    static func asciiLowercased(_ s: String) -> String {
        String(decoding: s.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
