// Input validation for everything a person types into Keyhold: usernames,
// e-mail addresses, display names, descriptions, role names, passwords,
// secret names and secret value sizes, numbers and dates.
//
// Every check throws a `ValidationError` whose message is safe to print: user
// input is quoted only through `Validate.visible(_:)` (and truncated), and a
// password or secret value is never quoted at all.

/// The rule a `ValidationError` names; its raw value is what `--json`, the application
/// service and the agent print.
public enum ValidationRule: String, Sendable, CaseIterable {
    /// An e-mail address needs exactly one @.
    case atSign = "at-sign"
    /// No bidirectional control characters.
    case bidiControl = "bidi-control"
    /// Only the characters the field allows.
    case charset
    /// A choice that was already made (e.g. a variable mapped twice).
    case chosen
    /// Not a commonly used password.
    case common
    /// A password must not contain the username.
    case containsUsername = "contains-username"
    /// No control characters.
    case controlCharacter = "control-character"
    /// A real calendar date in the allowed years.
    case date
    /// An e-mail address's domain part.
    case domain
    /// No `.` or `..` path segment.
    case dotSegment = "dot-segment"
    /// Must not be empty.
    case empty
    /// Valid UTF-8.
    case encoding
    /// The documented format (e.g. ISO 8601).
    case format
    /// An entry of an import that failed its own check.
    case importEntry = "import"
    /// No invisible characters.
    case invisibleCharacter = "invisible-character"
    /// Within the length bounds.
    case length
    /// A value that may only be raised (e.g. the KDF cost).
    case lower
    /// No NUL byte.
    case nul
    /// A number within its bounds.
    case range
    /// A password that is a short unit repeated.
    case repeated
    /// Must be given.
    case required
    /// A path segment of the allowed characters.
    case segment
    /// A password made of keyboard rows, alphabet or digit runs.
    case sequence
    /// A value within the size limit.
    case size
    /// No leading, trailing or repeated spaces.
    case spaces
    /// Must start with a letter.
    case start
    /// A time of day that exists.
    case time
    /// Must differ from the current value.
    case unchanged
    /// One of the known names.
    case unknown
    /// Options used together as documented.
    case usage
    /// The system ran out of memory while checking the input (not a fault of the input).
    case memory
}

/// A rejected input: which field, which rule, and a sentence for a person.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The field that was rejected, e.g. "username", "email", "password", "secret name".
    public let field: String
    /// The rule that was broken (printed as its raw value, e.g. "length", "charset").
    public let rule: ValidationRule
    /// A sentence for a person, starting with the field, e.g.
    /// "username: must be 3 to 32 characters (got 40)". Never holds a password or secret value.
    public let message: String

    /// Creates an error; `message` should start with "<field>: ".
    public init(field: String, rule: ValidationRule, message: String) {
        self.field = field
        self.rule = rule
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Validation rules for user input. Each function either returns the accepted
/// input (unchanged) or throws a `ValidationError`.
public enum Validate {
    /// The lowest minimum password length a vault may be configured with.
    public static let passwordMinimumFloor = 8
    /// The minimum password length of a new vault.
    public static let passwordDefaultMinimum = 12
    /// The longest password accepted, in UTF-8 bytes.
    public static let passwordMaxBytes = 1024
    /// The largest secret value accepted, in bytes.
    public static let secretValueMaxBytes = 65_536
    /// The longest display name accepted, in characters.
    public static let displayNameMaxLength = 100
    /// The longest description accepted, in characters.
    public static let descriptionMaxLength = 500

    /// The highest minimum password length a vault may be configured with.
    static let passwordMinimumCeiling = 1024
    static let identifierMinLength = 3
    static let identifierMaxLength = 32
    static let emailMaxBytes = 254
    /// The longest secret name accepted, in bytes.
    public static let secretNameMaxBytes = 255
    static let secretSegmentMaxLength = 64
    /// How many characters of user input an error message quotes.
    static let quoteLimit = 40

    // MARK: - Usernames and role names

    /// 3 to 32 of letters, digits, `.`, `_`, `-` (ASCII only), starting with a letter or digit.
    /// Returns it unchanged (uniqueness without regard to case is the store's job).
    public static func username(_ s: String) throws(ValidationError) -> String {
        try identifier(s, field: "username")
    }

    /// Custom role names: same rules as `username(_:)` but field "role name".
    public static func roleName(_ s: String) throws(ValidationError) -> String {
        try identifier(s, field: "role name")
    }

    private static func identifier(_ s: String, field: String) throws(ValidationError) -> String {
        let length = s.count
        guard (identifierMinLength...identifierMaxLength).contains(length) else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be \(identifierMinLength) to \(identifierMaxLength) characters (got \(length))")
        }
        if let bad = s.unicodeScalars.first(where: { !isIdentifierScalar($0) }) {
            throw ValidationError(
                field: field, rule: .charset,
                message: "\(field): may contain only ASCII letters, digits, \".\", \"_\" and \"-\" (found \(describe(bad)))")
        }
        if let first = s.unicodeScalars.first, !isASCIIAlphanumeric(first) {
            throw ValidationError(
                field: field, rule: .start,
                message: "\(field): must start with a letter or digit (not \(quote(String(first))))")
        }
        return s
    }

    // MARK: - E-mail

    /// Optional: empty or nil -> nil. Otherwise one `@`, a non-empty local part, a domain with a
    /// dot (no empty labels, not starting or ending with a dot), at most 254 bytes of UTF-8,
    /// and no whitespace, control, bidi or invisible formatting characters at all.
    public static func email(_ s: String?) throws(ValidationError) -> String? {
        guard let s, !s.isEmpty else { return nil }
        let field = "email"
        if let bad = s.unicodeScalars.first(where: { isControl($0) || isBidiControl($0) || isInvisible($0) }) {
            throw ValidationError(
                field: field, rule: .controlCharacter,
                message: "\(field): must not contain \(scalarKind(bad)) (\(codePoint(bad)))")
        }
        if s.unicodeScalars.contains(where: { $0.properties.isWhitespace }) {
            throw ValidationError(
                field: field, rule: .spaces,
                message: "\(field): must not contain spaces (\(quote(s)))")
        }
        let bytes = s.utf8.count
        guard bytes <= emailMaxBytes else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be at most \(emailMaxBytes) bytes (got \(bytes))")
        }
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ValidationError(
                field: field, rule: .atSign,
                message: "\(field): must contain exactly one \"@\" (\(quote(s)))")
        }
        let local = parts[0], domain = parts[1]
        guard !local.isEmpty else {
            throw ValidationError(
                field: field, rule: .empty,
                message: "\(field): needs a name before the \"@\" (\(quote(s)))")
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, !labels.contains(where: \.isEmpty) else {
            throw ValidationError(
                field: field, rule: .domain,
                message: "\(field): needs a domain such as example.com after the \"@\" (\(quote(s)))")
        }
        return s
    }

    // MARK: - Free text

    /// Bounded length (`displayNameMaxLength` characters; empty is allowed), no control characters
    /// (Unicode general category Cc, incl. DEL, C1), no bidi controls (U+061C, U+200E, U+200F,
    /// U+202A–U+202E, U+2066–U+2069), no zero-width / invisible formatting (U+200B–U+200D,
    /// U+2060–U+2064, U+FEFF, U+180E, U+00AD). Trims nothing silently; returns the input.
    public static func displayName(_ s: String) throws(ValidationError) -> String {
        try freeText(s, field: "display name", maxLength: displayNameMaxLength)
    }

    /// Same character rules as `displayName(_:)`, at most `descriptionMaxLength` characters;
    /// the field name is given by the caller so role and secret descriptions share it.
    public static func description(_ s: String, field: String = "description") throws(ValidationError) -> String {
        try freeText(s, field: field, maxLength: descriptionMaxLength)
    }

    private static func freeText(_ s: String, field: String, maxLength: Int) throws(ValidationError) -> String {
        for scalar in s.unicodeScalars {
            if isControl(scalar) {
                throw ValidationError(
                    field: field, rule: .controlCharacter,
                    message: "\(field): must not contain a control character (\(codePoint(scalar)))")
            }
            if isBidiControl(scalar) {
                throw ValidationError(
                    field: field, rule: .bidiControl,
                    message: "\(field): must not contain a bidirectional text control (\(codePoint(scalar)))")
            }
            if isInvisible(scalar) {
                throw ValidationError(
                    field: field, rule: .invisibleCharacter,
                    message: "\(field): must not contain an invisible character (\(codePoint(scalar)))")
            }
        }
        let length = s.count
        guard length <= maxLength else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be at most \(maxLength) characters (got \(length))")
        }
        return s
    }

    // MARK: - Passwords

    /// The common-password list (zxcvbn, MIT), lowercased, built once on first use.
    static let commonPasswords: Set<String> = {
        var set = Set<String>(minimumCapacity: 30_000)
        for line in embeddedCommonPasswords.split(whereSeparator: \.isNewline) {
            set.insert(line.lowercased())
        }
        return set
    }()

    /// The common-password list as one sorted table of bytes, for looking a password up
    /// without making a String of it (`isCommonPassword`).
    static let commonPasswordTable: (blob: [UInt8], spans: [Range<Int>]) = {
        var blob: [UInt8] = []
        var spans: [Range<Int>] = []
        for line in embeddedCommonPasswords.split(whereSeparator: \.isNewline) {
            let start = blob.count
            blob += line.lowercased().utf8
            spans.append(start..<blob.count)
        }
        spans.sort { a, b in blob[a].lexicographicallyPrecedes(blob[b]) }
        return (blob, spans)
    }()

    /// Whether `lowered` (a password, lower-cased, as UTF-8) is on the common-password list.
    static func isCommonPassword(_ lowered: UnsafeRawBufferPointer) -> Bool {
        let (blob, spans) = commonPasswordTable
        var low = 0, high = spans.count
        while low < high {
            let mid = (low + high) / 2
            let entry = blob[spans[mid]]
            if entry.elementsEqual(lowered) { return true }
            if entry.lexicographicallyPrecedes(lowered) { low = mid + 1 } else { high = mid }
        }
        return false
    }

    /// What the password rules look at, worked out from the password's bytes where they lie
    /// (guarded memory) rather than from a String, which cannot be wiped. Its lower-case form
    /// (for the common list and the username) is made in guarded memory too.
    public struct PasswordFacts: Equatable, Sendable {
        /// Well-formed UTF-8 (when false, nothing else was looked at).
        public var isUTF8 = true
        /// UTF-8 bytes.
        public var bytes = 0
        /// Characters (grapheme clusters, as Swift's `String.count`).
        public var characters = 0
        /// Holds a control character (C0, DEL, C1).
        public var hasControl = false
        /// On the common-password list, case-insensitively.
        public var isCommon = false
        /// Contains the username, case-insensitively (false for an empty username).
        public var containsUsername = false
        /// One character or a short pattern repeated, case-insensitively (`isRepeatedPattern`).
        public var isRepeated = false
        /// Made of keyboard rows, sequences and repeats but for `passwordPatternSlack`
        /// characters, case-insensitively (`simplePatternCoverage`).
        public var isSequence = false
    }

    /// The facts the password rules need; see `PasswordFacts`. Lower-casing is per Unicode
    /// scalar (`Unicode.Scalar.Properties.lowercaseMapping`), which is what `String.lowercased()` does.
    public static func passwordFacts(_ password: SecureBytes, username: String) throws -> PasswordFacts {
        try password.withBytes { try passwordFacts(bytes: $0, username: username) }
    }

    static func passwordFacts(bytes b: UnsafeRawBufferPointer, username: String) throws -> PasswordFacts {
        var facts = PasswordFacts()
        facts.bytes = b.count
        // One pass: check the encoding, count characters, find controls, size the lower-case form.
        var it = b.makeIterator()
        var decoder = UTF8()
        var recognizer = Unicode._CharacterRecognizer()
        var loweredBytes = 0
        decoding: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let scalar):
                if recognizer.hasBreak(before: scalar) { facts.characters += 1 }
                if isControl(scalar) { facts.hasControl = true }
                loweredBytes += scalar.isASCII ? 1 : scalar.properties.lowercaseMapping.utf8.count
            case .emptyInput: break decoding
            case .error:
                return PasswordFacts(isUTF8: false, bytes: b.count)
            }
        }
        let lowered = try SecureBytes(count: loweredBytes) { out in
            var n = 0
            var it = b.makeIterator()
            var decoder = UTF8()
            while case .scalarValue(let scalar) = decoder.decode(&it) {
                if scalar.isASCII {
                    let c = UInt8(scalar.value)
                    out[n] = (0x41...0x5A).contains(c) ? c + 0x20 : c
                    n += 1
                } else {
                    for c in scalar.properties.lowercaseMapping.utf8 { out[n] = c; n += 1 }
                }
            }
        }
        // The lower-case form's scalars, for the pattern rules: in guarded memory too (four bytes
        // each, a scalar's value), read through a view that makes them Unicode.Scalars again.
        var scalarCount = 0
        let scalars = try SecureBytes(count: loweredBytes * 4) { out in
            let values = out.bindMemory(to: UInt32.self)
            lowered.withBytes { low in
                var it = low.makeIterator()
                var decoder = UTF8()
                while case .scalarValue(let scalar) = decoder.decode(&it) {
                    values[scalarCount] = scalar.value
                    scalarCount += 1
                }
            }
        }
        scalars.withBytes { raw in
            let view = UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt32.self)[0..<scalarCount])
                .lazy.map { Unicode.Scalar($0) ?? " " }
            facts.isRepeated = isRepeatedPattern(view)
            facts.isSequence = view.count - simplePatternCoverage(view) <= passwordPatternSlack
        }
        lowered.withBytes { low in
            facts.isCommon = isCommonPassword(low)
            if !username.isEmpty {
                let name = Array(username.lowercased().utf8)
                facts.containsUsername =
                    name.count <= low.count
                    && (0...(low.count - name.count)).contains { i in
                        name.indices.allSatisfy { low[i + $0] == name[$0] }
                    }
            }
        }
        return facts
    }

    /// NIST SP 800-63B: at least `minimumLength` characters (Swift `Character` count;
    /// `minimumLength` is clamped up to `passwordMinimumFloor`), at most `passwordMaxBytes`
    /// UTF-8 bytes, no control characters, not in the common list (case-insensitive), not one
    /// character or a short pattern repeated (`repeated`), not made of keyboard rows,
    /// sequences and repeats (`sequence`, see `simplePatternCoverage`), not containing the
    /// username (case-insensitive, only when `username` is non-empty), and no composition
    /// rules. Messages never echo the password. Checked on the bytes where they lie
    /// (`passwordFacts`): no String of the password is made.
    public static func password(
        _ password: SecureBytes, username: String, minimumLength: Int = passwordDefaultMinimum
    ) throws(ValidationError) {
        let facts = try checkable { try passwordFacts(password, username: username) }
        try check(facts, minimumLength: minimumLength)
    }

    /// The same rules for a password given as a String (tests and tools; the product holds
    /// passwords in guarded memory and uses the `SecureBytes` form).
    public static func password(
        _ password: String, username: String, minimumLength: Int = passwordDefaultMinimum
    ) throws(ValidationError) {
        var copy = password
        let facts = try checkable { try copy.withUTF8 { try passwordFacts(bytes: UnsafeRawBufferPointer($0), username: username) } }
        try check(facts, minimumLength: minimumLength)
    }

    /// The facts, or, when guarded memory for the lower-case form could not be had (the system
    /// is out of memory), a refusal that says so: the password is not accepted unchecked.
    private static func checkable(_ facts: () throws -> PasswordFacts) throws(ValidationError) -> PasswordFacts {
        do { return try facts() } catch {
            throw ValidationError(field: "password", rule: .memory, message: "password: could not be checked (out of memory); try again")
        }
    }

    static func check(_ facts: PasswordFacts, minimumLength: Int) throws(ValidationError) {
        let field = "password"
        let minimum = max(minimumLength, passwordMinimumFloor)
        guard facts.isUTF8 else {
            throw ValidationError(field: field, rule: .encoding, message: "\(field): must be valid UTF-8 text")
        }
        guard facts.bytes <= passwordMaxBytes else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be at most \(passwordMaxBytes) bytes")
        }
        guard facts.characters >= minimum else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be at least \(minimum) characters")
        }
        if facts.hasControl {
            throw ValidationError(
                field: field, rule: .controlCharacter,
                message: "\(field): must not contain control characters (such as tab, newline or escape)")
        }
        if facts.isCommon {
            throw ValidationError(
                field: field, rule: .common,
                message: "\(field): is too common (found in the list of 30,000 common passwords)")
        }
        if facts.isRepeated {
            throw ValidationError(
                field: field, rule: .repeated,
                message: "\(field): must not be one character or a short pattern repeated (like aaaaaaaaaaaa or abcabcabcabc)")
        }
        if facts.isSequence {
            throw ValidationError(
                field: field, rule: .sequence,
                message: "\(field): must not be made of keyboard rows, sequences or repeats "
                    + "(like qwertyuiop12, abcdefgh1234 or aaaa1111zzzz); mix in words or characters of your own")
        }
        if facts.containsUsername {
            throw ValidationError(
                field: field, rule: .containsUsername,
                message: "\(field): must not contain the username")
        }
    }

    /// How many characters a password may have outside its runs (`simplePatternCoverage`)
    /// and still be refused as a pattern: `qwertyuiop12` is a row and two more.
    static let passwordPatternSlack = 2

    /// Keyboard rows (US layout, unshifted and shifted; passwords are compared lowercased),
    /// each walked in either direction.
    static let keyboardRows: [[Unicode.Scalar]] = [
        "`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",
        "~!@#$%^&*()_+", "qwertyuiop{}|", "asdfghjkl:\"", "zxcvbnm<>?"
    ].map { Array($0.unicodeScalars) }

    /// Each scalar's (row, column) on the keyboard, for the rows above.
    private static let keyPositions: [Unicode.Scalar: [(row: Int, column: Int)]] = {
        var out: [Unicode.Scalar: [(row: Int, column: Int)]] = [:]
        for (r, row) in keyboardRows.enumerated() { for (c, key) in row.enumerated() { out[key, default: []].append((r, c)) } }
        return out
    }()

    /// True when `s` is a short unit repeated (the last repetition may be cut short):
    /// `aaaaaaaaaaaa`, `abcabcabcabc`, `1a2b1a2b1a2b`. Short: at most half of `s` and shorter
    /// than the shortest password allowed, so the repeats are what make up the length. A long
    /// phrase said twice is left to the other rules.
    static func isRepeatedPattern<S: RandomAccessCollection<Unicode.Scalar>>(_ s: S) -> Bool where S.Index == Int {
        let longest = min(s.count / 2, passwordMinimumFloor - 1)
        guard longest >= 1 else { return false }
        for unit in 1...longest where (unit..<s.count).allSatisfy({ s[$0] == s[$0 - unit] }) { return true }
        return false
    }

    /// How many characters of `s` lie in a run of at least 3 that steps the same way each
    /// time: one character repeated (`aaa`), letters or digits in order either way (`abc`,
    /// `cba`, `123`, `987`), or neighbouring keys along a keyboard row either way (`qwe`,
    /// `poi`, `!@#`). A password these runs cover but for `passwordPatternSlack` characters
    /// is refused: it is typed by running a finger along the keys, whatever its length.
    static func simplePatternCoverage<S: RandomAccessCollection<Unicode.Scalar>>(_ s: S) -> Int where S.Index == Int {
        guard s.count >= 3 else { return 0 }
        /// The ways `a` then `b` step: 0 same, 1/2 alphabet up/down, 3/4 digits up/down, 5/6 keyboard right/left.
        func steps(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Set<Int> {
            var out: Set<Int> = []
            if a == b { out.insert(0) }
            let (x, y) = (Int(a.value), Int(b.value))
            let letters = Int(("a" as Unicode.Scalar).value)...Int(("z" as Unicode.Scalar).value)
            let digits = Int(("0" as Unicode.Scalar).value)...Int(("9" as Unicode.Scalar).value)
            if letters.contains(x) && letters.contains(y) { if y == x + 1 { out.insert(1) }; if y == x - 1 { out.insert(2) } }
            if digits.contains(x) && digits.contains(y) { if y == x + 1 { out.insert(3) }; if y == x - 1 { out.insert(4) } }
            for p in keyPositions[a] ?? [] {
                for q in keyPositions[b] ?? [] where p.row == q.row {
                    if q.column == p.column + 1 { out.insert(5) }
                    if q.column == p.column - 1 { out.insert(6) }
                }
            }
            return out
        }
        var covered = [Bool](repeating: false, count: s.count)
        var runs = [Int](repeating: 1, count: 7)  // per kind of step: the length of the run ending here
        for i in 1..<s.count {
            let kinds = steps(s[i - 1], s[i])
            for k in 0..<runs.count {
                runs[k] = kinds.contains(k) ? runs[k] + 1 : 1
                if runs[k] >= 3 { for j in (i - runs[k] + 1)...i { covered[j] = true } }
            }
        }
        return covered.filter { $0 }.count
    }

    /// Setting for the vault: the minimum password length must be between
    /// `passwordMinimumFloor` and 1024. Returns it unchanged.
    public static func passwordMinimumSetting(_ n: Int) throws(ValidationError) -> Int {
        guard (passwordMinimumFloor...passwordMinimumCeiling).contains(n) else {
            let field = "minimum password length"
            throw ValidationError(
                field: field, rule: .range,
                message: "\(field): must be between \(passwordMinimumFloor) and \(passwordMinimumCeiling) (got \(n))")
        }
        return n
    }

    // MARK: - Secrets

    /// Path segments of `[A-Za-z0-9._-]`, each 1 to 64 characters, joined by `/`, at most 255
    /// bytes in all, no `.` or `..` segment, no empty segment (so no leading, trailing or
    /// double slash). Returns it unchanged.
    public static func secretName(_ s: String) throws(ValidationError) -> String {
        // Bulk import checks many names: accept the common case in one pass over the bytes;
        // anything else takes the detailed checks below, which name the broken rule.
        if isPlainSecretName(s) { return s }
        let field = "secret name"
        guard !s.isEmpty else {
            throw ValidationError(field: field, rule: .empty, message: "\(field): must not be empty")
        }
        if let bad = s.unicodeScalars.first(where: { !isIdentifierScalar($0) && $0 != "/" }) {
            throw ValidationError(
                field: field, rule: .charset,
                message: "\(field): may contain only ASCII letters, digits, \".\", \"_\", \"-\" and \"/\" (found \(describe(bad)))")
        }
        // Only ASCII from here on, so bytes, scalars and characters agree.
        let bytes = s.utf8.count
        guard bytes <= secretNameMaxBytes else {
            throw ValidationError(
                field: field, rule: .length,
                message: "\(field): must be at most \(secretNameMaxBytes) bytes (got \(bytes))")
        }
        for (index, segment) in s.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if segment.isEmpty {
                throw ValidationError(
                    field: field, rule: .segment,
                    message: "\(field): segment \(number) is empty (no leading, trailing or double \"/\")")
            }
            if segment.elementsEqual(".".utf8) || segment.elementsEqual("..".utf8) {
                throw ValidationError(
                    field: field, rule: .dotSegment,
                    message: "\(field): segment \(number) is \"\(String(decoding: segment, as: UTF8.self))\", which is not allowed")
            }
            if segment.count > secretSegmentMaxLength {
                throw ValidationError(
                    field: field, rule: .length,
                    message: "\(field): segment \(number) must be at most \(secretSegmentMaxLength) characters (got \(segment.count))")
            }
        }
        return s
    }

    /// Whether `s` passes every rule of `secretName` (one pass, no allocation). False means
    /// "check in detail", not necessarily invalid.
    private static func isPlainSecretName(_ s: String) -> Bool {
        let utf8 = s.utf8
        guard !utf8.isEmpty, utf8.count <= secretNameMaxBytes else { return false }
        var segmentLength = 0, segmentDots = 0
        for b in utf8 {
            switch b {
            case UInt8(ascii: "/"):
                guard segmentLength > 0, segmentDots != segmentLength || segmentLength > 2 else { return false }
                segmentLength = 0
                segmentDots = 0
                continue
            case UInt8(ascii: "."):
                segmentDots += 1
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                break
            default:
                return false
            }
            segmentLength += 1
            if segmentLength > secretSegmentMaxLength { return false }
        }
        return segmentLength > 0 && (segmentDots != segmentLength || segmentLength > 2)
    }

    /// Secret values must be 1 byte to `secretValueMaxBytes` bytes. Takes only the byte count
    /// so values never pass through here.
    public static func secretValueSize(_ count: Int) throws(ValidationError) {
        let field = "secret value"
        if count == 0 {
            throw ValidationError(field: field, rule: .empty, message: "\(field): must not be empty")
        }
        guard (1...secretValueMaxBytes).contains(count) else {
            throw ValidationError(
                field: field, rule: .size,
                message: "\(field): must be 1 to \(secretValueMaxBytes) bytes (got \(count))")
        }
    }

    // MARK: - Numbers

    /// Rows per transaction for `--batch` (imports, key rotation).
    public static let batchSizeRange = 1...1_000_000
    /// A secret version number, as given to `--version`.
    public static let versionRange = 1...2_147_483_647
    /// How many audit events `audit list --limit` may ask for.
    public static let eventLimitRange = 0...2_147_483_647

    /// A number already parsed (an `Int` option), checked against `range`.
    /// The error (rule "range") names the field and the bounds.
    public static func number(_ n: Int, field: String, in range: ClosedRange<Int>) throws(ValidationError) -> Int {
        guard range.contains(n) else {
            throw ValidationError(
                field: field, rule: .range,
                message: "\(field): must be a whole number from \(grouped(range.lowerBound)) to \(grouped(range.upperBound)) (got \(n))")
        }
        return n
    }

    /// A whole number typed as text: ASCII digits only (no sign, no spaces, no `_` or `,`), then
    /// checked against `range` (rule "range"); anything else is rule "format". Never traps:
    /// digits beyond what fits an `Int` are out of range, not an overflow.
    public static func number(_ text: String, field: String, in range: ClosedRange<Int>) throws(ValidationError) -> Int {
        let utf8 = text.utf8
        guard !utf8.isEmpty, utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw ValidationError(
                field: field, rule: .format,
                message:
                    "\(field): expected a whole number from \(grouped(range.lowerBound)) to \(grouped(range.upperBound)) (got \(quote(text)))"
            )
        }
        var n = 0
        for b in utf8 {
            let (times, o1) = n.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int(b - 0x30))
            guard !o1, !o2 else {
                throw ValidationError(
                    field: field, rule: .range,
                    message:
                        "\(field): must be a whole number from \(grouped(range.lowerBound)) to \(grouped(range.upperBound)) (got \(quote(text)))"
                )
            }
            n = sum
        }
        return try number(n, field: field, in: range)
    }

    /// `1000000` as `1,000,000`, for messages.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    // MARK: - Dates

    /// The earliest instant a date may name: 1970-01-01T00:00:00Z, in Unix ms.
    public static let earliestDate: Int64 = 0
    /// The latest instant a date may name: 9999-12-31T23:59:59.999Z, in Unix ms.
    public static let latestDate: Int64 = 253_402_300_799_999

    /// A calendar day, `YYYY-MM-DD` exactly, as Unix ms of 00:00 UTC that day.
    /// The same rules as `date(_:field:)`, without the time forms.
    public static func day(_ text: String, field: String) throws(ValidationError) -> Int64 {
        try parseDate(text, field: field, timeAllowed: false)
    }

    /// Every date Keyhold reads, in one place: ISO 8601 (the RFC 3339 profile) as Unix ms.
    ///
    /// - `YYYY-MM-DD`: 00:00 UTC of that day;
    /// - `YYYY-MM-DDThh:mm:ssZ`, or with an offset `+hh:mm` / `-hh:mm` instead of `Z`, and an
    ///   optional fraction of a second after the seconds (`.5`, `.123456789`; kept to the millisecond).
    ///
    /// `T` and `Z` may be lower case. The date must exist in the calendar (no 2026-02-30), the
    /// time must be one of the day (hours 00-23, minutes and seconds 00-59), and the instant must
    /// lie from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z. Nothing may come before or after
    /// (no spaces). Rules in the error: "format", "date", "time", "range"; the field is named.
    public static func date(_ text: String, field: String) throws(ValidationError) -> Int64 {
        try parseDate(text, field: field, timeAllowed: true)
    }

    private static func parseDate(_ text: String, field: String, timeAllowed: Bool) throws(ValidationError) -> Int64 {
        let expected =
            timeAllowed
            ? "expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (ISO 8601; an offset such as +02:00 may stand for Z)"
            : "expected a date as YYYY-MM-DD, such as 2027-03-01"
        func format() -> ValidationError {
            ValidationError(field: field, rule: .format, message: "\(field): \(expected) (got \(quote(text)))")
        }
        // Longest accepted form: 2027-03-01T08:00:00.123456789+02:00 (35 bytes).
        let b = Array(text.utf8.prefix(64))
        guard text.utf8.count <= 40, b.count >= 10 else { throw format() }
        var i = 0
        /// `count` ASCII digits at the cursor, or nil.
        func digits(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var n = 0
            for k in i..<(i + count) {
                guard (0x30...0x39).contains(b[k]) else { return nil }
                n = n * 10 + Int(b[k] - 0x30)
            }
            i += count
            return n
        }
        func take(_ c: Character) -> Bool {
            guard i < b.count, let ascii = c.asciiValue, b[i] == ascii else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), take("-"), let month = digits(2), take("-"), let day = digits(2) else { throw format() }
        var hour = 0, minute = 0, second = 0, millis = 0, offsetMinutes = 0
        if i < b.count {
            guard timeAllowed, take("T") || take("t"),
                let h = digits(2), take(":"), let m = digits(2), take(":"), let s = digits(2)
            else { throw format() }
            (hour, minute, second) = (h, m, s)
            if take(".") {
                let start = i
                while i < b.count, (0x30...0x39).contains(b[i]), i - start < 9 { i += 1 }
                guard i > start else { throw format() }
                // The first three digits, padded: .5 is 500 ms, .123456 is 123 ms.
                for k in 0..<3 { millis = millis * 10 + (start + k < i ? Int(b[start + k] - 0x30) : 0) }
            }
            if take("Z") || take("z") {
                offsetMinutes = 0
            } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = digits(2), take(":"), let om = digits(2) else { throw format() }
                guard oh <= 23, om <= 59 else {
                    throw ValidationError(
                        field: field, rule: .time,
                        message: "\(field): \(quote(text)) has an offset outside -23:59 to +23:59")
                }
                offsetMinutes = sign * (oh * 60 + om)
            } else {
                throw format()
            }
            guard i == b.count else { throw format() }
        }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else {
            let detail =
                (1...12).contains(month)
                ? "\(monthNames[month - 1]) \(year) has \(daysIn(month: month, year: year)) days"
                : "months are 01 to 12"
            throw ValidationError(
                field: field, rule: .date,
                message: "\(field): \(quote(text)) is not a real date (\(detail))")
        }
        guard hour <= 23, minute <= 59, second <= 59 else {
            throw ValidationError(
                field: field, rule: .time,
                message: "\(field): \(quote(text)) is not a time of day (hours 00-23, minutes and seconds 00-59)")
        }
        // Bounded: a 4-digit year, so no arithmetic here can overflow.
        let ms =
            Clock.midnight(year: year, month: month, day: day)
            + Int64(hour) * Clock.hour + Int64(minute) * Clock.minute + Int64(second) * Clock.second + Int64(millis)
            - Int64(offsetMinutes) * Clock.minute
        guard (earliestDate...latestDate).contains(ms) else {
            throw ValidationError(
                field: field, rule: .range,
                message: "\(field): \(quote(text)) is outside the years 1970 to 9999 (UTC)")
        }
        return ms
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December"
    ]

    /// Days in a month of the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // MARK: - Display

    /// Makes control characters visible for display in a terminal or an error: C0 as
    /// U+2400-block pictures (U+2400 + code, DEL -> U+2421), C1, bidi controls, zero-width and
    /// invisible formatting characters and the line/paragraph separators U+2028/U+2029 as
    /// `\u{XXXX}`. Everything else is kept as is. Every string from the vault (names,
    /// usernames, descriptions, role names, audit details, messages quoting them) reaches a
    /// terminal through this function; `--json` escapes the same characters (`isHidden`).
    public static func visible(_ s: String) -> String {
        // Most text needs nothing: ASCII without controls is returned as it is.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 >= 0x7F }) { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            let v = scalar.value
            if v < 0x20 {
                out.append(Unicode.Scalar(0x2400 + v) ?? "?")  // U+2400 to U+241F: always a scalar
            } else if v == 0x7F {
                out.append("\u{2421}")
            } else if isHidden(scalar) {
                out.append(contentsOf: "\\u{\(hex(v))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Whether the bytes are well-formed UTF-8, checked where they lie (no String is made).
    public static func isUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&it) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// Whether `visible(_:)` escapes this character: C0, DEL and C1 controls, bidi controls,
    /// zero-width and invisible formatting characters, U+2028 and U+2029. Nothing of these
    /// may reach a terminal raw (it could move the cursor, retitle the window or reorder
    /// what is shown), in a table, a message or JSON.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        isControl(scalar) || isBidiControl(scalar) || isInvisible(scalar) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// A secret value made safe for a terminal: C0 controls other than tab and line feed,
    /// DEL, C1 controls and bidi controls as `\x1b`, `\x7f`, `\u009b`, `\u202e`, and every
    /// byte that is not part of valid UTF-8 as `\xNN`; everything else byte for byte. Nil
    /// when the value holds none of these (it can go out as it is). The escaped copy is made in
    /// guarded memory (sized for the worst case, every byte as `\xNN`), zeroed when released.
    public static func terminalSafeValue(_ bytes: UnsafeRawBufferPointer) throws -> SecureBuffer? {
        // The common case, printable ASCII (and tab, line feed): nothing to do, in one pass.
        if !bytes.contains(where: { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A) || $0 >= 0x7F }) { return nil }
        let out = try SecureBuffer(capacity: bytes.count * 4)
        var changed = false
        let hexDigits = Array("0123456789abcdef".utf8)
        func escapeByte(_ b: UInt8) throws {
            for c in [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(b >> 4)], hexDigits[Int(b & 15)]] { try out.append(c) }
            changed = true
        }
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x80 {
                if (b < 0x20 && b != 0x09 && b != 0x0A) || b == 0x7F { try escapeByte(b) } else { try out.append(b) }
                i += 1
                continue
            }
            guard let (scalar, length) = decodeUTF8(bytes, at: i) else {
                try escapeByte(b)
                i += 1
                continue
            }
            if isControl(scalar) || isBidiControl(scalar) {
                let digits = String(scalar.value, radix: 16)
                try out.append(contentsOf: Array("\\u\(String(repeating: "0", count: max(0, 4 - digits.count)))\(digits)".utf8))
                changed = true
            } else {
                try out.append(UnsafeRawBufferPointer(rebasing: bytes[i..<(i + length)]))
            }
            i += length
        }
        return changed ? out : nil
    }

    /// The scalar whose UTF-8 form starts at `i` and its length, or nil for bytes that are
    /// not well-formed UTF-8 there (overlong forms, surrogates and truncated sequences included).
    private static func decodeUTF8(_ bytes: UnsafeRawBufferPointer, at i: Int) -> (Unicode.Scalar, Int)? {
        let lead = bytes[i]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard i + length <= bytes.count else { return nil }
        var decoder = UTF8()
        var iterator = bytes[i..<(i + length)].makeIterator()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator), scalar.utf8.count == length else { return nil }
        return (scalar, length)
    }

    // MARK: - Helpers

    /// General category Cc: C0, DEL and C1.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069.
    static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// U+200B–U+200D, U+2060–U+2064, U+FEFF, U+180E, U+00AD.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200B...0x200D, 0x2060...0x2064, 0xFEFF, 0x180E, 0x00AD: true
        default: false
        }
    }

    private static func isASCIIAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": true
        default: false
        }
    }

    private static func isIdentifierScalar(_ scalar: Unicode.Scalar) -> Bool {
        isASCIIAlphanumeric(scalar) || scalar == "." || scalar == "_" || scalar == "-"
    }

    private static func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func codePoint(_ scalar: Unicode.Scalar) -> String {
        "U+" + hex(scalar.value)
    }

    private static func scalarKind(_ scalar: Unicode.Scalar) -> String {
        if isControl(scalar) { return "a control character" }
        if isBidiControl(scalar) { return "a bidirectional text control" }
        return "an invisible character"
    }

    /// One offending character, quoted and named: `" "`, `"é" (U+00E9)`, `"␛" (U+001B)`.
    private static func describe(_ scalar: Unicode.Scalar) -> String {
        let shown = quote(String(scalar))
        return scalar.isASCII && !isControl(scalar) ? shown : "\(shown) (\(codePoint(scalar)))"
    }

    /// User input for an error message: at most `quoteLimit` scalars, made visible, in quotes.
    static func quote(_ s: String) -> String {
        let scalars = s.unicodeScalars
        guard scalars.count > quoteLimit else { return "\"\(visible(s))\"" }
        let head = String(String.UnicodeScalarView(scalars.prefix(quoteLimit)))
        return "\"\(visible(head))…\""
    }
}
