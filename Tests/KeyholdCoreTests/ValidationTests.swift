import Testing
@testable import KeyholdCore

// MARK: - Helpers

/// Runs `body` and returns the `ValidationError` it threw, or nil if it threw nothing.
/// (Closures infer `any Error` as their thrown type, so the typed error is cast back here;
/// any other error would be a bug and is recorded as an issue.)
private func failure(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> ValidationError? {
    do {
        try body()
        return nil
    } catch let error as ValidationError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects `body` to throw a `ValidationError` with the given field and rule, whose message
/// starts with "<field>: " and is also its description. Returns the error for further checks.
@discardableResult
private func expectFailure(
    field: String, rule: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ValidationError? {
    let error = failure(sourceLocation: sourceLocation, body)
    #expect(error != nil, "expected a \"\(rule)\" failure for \(field)", sourceLocation: sourceLocation)
    guard let error else { return nil }
    #expect(error.field == field, sourceLocation: sourceLocation)
    #expect(error.rule.rawValue == rule, sourceLocation: sourceLocation)
    #expect(error.message.hasPrefix("\(field): "), sourceLocation: sourceLocation)
    #expect(error.description == error.message, sourceLocation: sourceLocation)
    return error
}

/// True when `s` holds a scalar a terminal would not show as itself.
private func hasUnsafeScalar(_ s: String) -> Bool {
    s.unicodeScalars.contains {
        Validate.isControl($0) || Validate.isBidiControl($0) || Validate.isInvisible($0)
    }
}

private func scalar(_ v: UInt32) -> String { String(Unicode.Scalar(v)!) }

/// C0 samples, DEL and C1 samples (incl. NEL U+0085).
private let controlScalars: [UInt32] = [0x00, 0x01, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F, 0x80, 0x85, 0x9B, 0x9F]
/// Every bidi control: ALM, LRM, RLM, LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI.
private let bidiScalars: [UInt32] = [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]
/// Every zero-width / invisible formatting character refused.
private let invisibleScalars: [UInt32] = [0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E, 0x00AD]

// MARK: - ValidationError

@Suite struct ValidationErrorTests {
    @Test func descriptionIsMessage() {
        let error = ValidationError(field: "username", rule: .length, message: "username: must be 3 to 32 characters (got 2)")
        #expect(error.description == "username: must be 3 to 32 characters (got 2)")
        #expect("\(error)" == error.message)
        #expect(error == ValidationError(field: "username", rule: .length, message: error.message))
        #expect(error != ValidationError(field: "username", rule: .charset, message: error.message))
    }
}

// MARK: - Usernames and role names

@Suite struct UsernameTests {
    @Test(arguments: ["abc", "alice", "Bob.Smith", "a_b-c.d", "0day", "x.y", "user-", String(repeating: "a", count: 32)])
    func valid(_ name: String) throws {
        #expect(try Validate.username(name) == name)
    }

    @Test func caseIsPreserved() throws {
        #expect(try Validate.username("AlIcE") == "AlIcE")
    }

    @Test(arguments: [0, 1, 2, 33, 40, 200])
    func wrongLength(_ length: Int) {
        let name = String(repeating: "a", count: length)
        let error = expectFailure(field: "username", rule: "length") { _ = try Validate.username(name) }
        #expect(error?.message == "username: must be 3 to 32 characters (got \(length))")
    }

    @Test(arguments: [".alice", "-alice", "_alice", "...", "-_-"])
    func badStart(_ name: String) {
        let error = expectFailure(field: "username", rule: "start") { _ = try Validate.username(name) }
        #expect(error?.message.hasPrefix("username: must start with a letter or digit") == true)
    }

    @Test(arguments: [
        "al ice", " alice", "alice ", "a\u{A0}lice",  // spaces, incl. no-break space
        "josé", "алиса", "名前です", "ａlice", "alice🙂",  // non-ASCII letters and symbols
        "al@ice", "al/ice", "al+ice", "al'ice"
    ])
    func badCharacters(_ name: String) {
        expectFailure(field: "username", rule: "charset") { _ = try Validate.username(name) }
    }

    @Test(arguments: controlScalars + bidiScalars + [0x200B, 0xFEFF])
    func controlCharacters(_ v: UInt32) {
        let name = "ali" + scalar(v) + "ce"
        let error = expectFailure(field: "username", rule: "charset") { _ = try Validate.username(name) }
        // The offending character is quoted, but only in visible form.
        if let error { #expect(!hasUnsafeScalar(error.message)) }
    }

    @Test func escapeIsShownAsPicture() {
        let error = failure { _ = try Validate.username("bad\u{1B}name") }
        #expect(error?.message.contains("\u{241B}") == true)
        #expect(error?.message.contains("\u{1B}") == false)
    }

    @Test(arguments: ["auditors", "ops-team", "read.only_2"])
    func validRoleName(_ name: String) throws {
        #expect(try Validate.roleName(name) == name)
    }

    @Test func roleNameFailuresNameTheirField() {
        let error = expectFailure(field: "role name", rule: "length") { _ = try Validate.roleName("ab") }
        #expect(error?.message == "role name: must be 3 to 32 characters (got 2)")
        expectFailure(field: "role name", rule: "start") { _ = try Validate.roleName("-ops") }
        expectFailure(field: "role name", rule: "charset") { _ = try Validate.roleName("ops team") }
    }
}

// MARK: - E-mail

@Suite struct EmailTests {
    @Test func absentIsNil() throws {
        #expect(try Validate.email(nil) == nil)
        #expect(try Validate.email("") == nil)
    }

    @Test(arguments: ["alice@example.com", "a.b+tag@mail.example.co.uk", "x@y.z", "jörg@exämple.de", "o'brien@example.ie"])
    func valid(_ email: String) throws {
        #expect(try Validate.email(email) == email)
    }

    @Test(arguments: ["a@b@example.com", "alice.example.com", "alice", "@@example.com"])
    func atSign(_ email: String) {
        expectFailure(field: "email", rule: "at-sign") { _ = try Validate.email(email) }
    }

    @Test func emptyLocalPart() {
        expectFailure(field: "email", rule: "empty") { _ = try Validate.email("@example.com") }
    }

    @Test(arguments: ["alice@localhost", "alice@", "alice@.example.com", "alice@example.com.", "alice@example..com", "alice@."])
    func badDomain(_ email: String) {
        expectFailure(field: "email", rule: "domain") { _ = try Validate.email(email) }
    }

    @Test(arguments: [
        "alice @example.com", " alice@example.com", "alice@example.com ", " ", "alice@exa\u{A0}mple.com", "alice@exa\u{3000}mple.com"
    ])
    func spaces(_ email: String) {
        expectFailure(field: "email", rule: "spaces") { _ = try Validate.email(email) }
    }

    @Test func length() throws {
        let domain = "@example.com"
        let longest = String(repeating: "a", count: 254 - domain.utf8.count) + domain
        #expect(longest.utf8.count == 254)
        #expect(try Validate.email(longest) == longest)

        let tooLong = "a" + longest
        #expect(tooLong.utf8.count == 255)
        let error = expectFailure(field: "email", rule: "length") { _ = try Validate.email(tooLong) }
        #expect(error?.message == "email: must be at most 254 bytes (got 255)")

        // Bytes, not characters: 127 "é" are 254 bytes before the domain.
        let wide = String(repeating: "é", count: 127) + domain
        expectFailure(field: "email", rule: "length") { _ = try Validate.email(wide) }
    }

    @Test(arguments: controlScalars + bidiScalars + invisibleScalars)
    func controlCharacters(_ v: UInt32) {
        let email = "alice" + scalar(v) + "@example.com"
        let error = expectFailure(field: "email", rule: "control-character") { _ = try Validate.email(email) }
        if let error { #expect(!hasUnsafeScalar(error.message)) }
    }

    @Test func trailingNewline() {
        expectFailure(field: "email", rule: "control-character") { _ = try Validate.email("alice@example.com\n") }
    }

    @Test func longInputIsQuotedTruncated() {
        let email = String(repeating: "b", count: 100) + "@localhost"
        let error = failure { _ = try Validate.email(email) }
        #expect(error?.rule.rawValue == "domain")
        #expect(error?.message.contains(String(repeating: "b", count: 40) + "…") == true)
        #expect(error?.message.contains(String(repeating: "b", count: 41)) == false)
    }
}

// MARK: - Display names and descriptions

@Suite struct FreeTextTests {
    @Test(arguments: ["Alice Smith", "", "José Müller-Łukasiewicz", "山田 太郎", "🙂 Alice", "  spaced  ", "O'Brien, Ph.D. (ops)"])
    func validDisplayName(_ name: String) throws {
        #expect(try Validate.displayName(name) == name)
        #expect(try Validate.description(name) == name)
    }

    @Test func displayNameLength() throws {
        let longest = String(repeating: "a", count: Validate.displayNameMaxLength)
        #expect(try Validate.displayName(longest) == longest)
        // Characters, not scalars or bytes: 100 "é" written as e + combining acute.
        let decomposed = String(repeating: "e\u{301}", count: 100)
        #expect(try Validate.displayName(decomposed) == decomposed)

        let error = expectFailure(field: "display name", rule: "length") { _ = try Validate.displayName(longest + "a") }
        #expect(error?.message == "display name: must be at most 100 characters (got 101)")
    }

    @Test func descriptionLength() throws {
        let longest = String(repeating: "ü", count: Validate.descriptionMaxLength)
        #expect(try Validate.description(longest) == longest)
        let error = expectFailure(field: "description", rule: "length") { _ = try Validate.description(longest + "x") }
        #expect(error?.message == "description: must be at most 500 characters (got 501)")
        expectFailure(field: "secret description", rule: "length") {
            _ = try Validate.description(longest + "x", field: "secret description")
        }
    }

    @Test(arguments: controlScalars)
    func controlCharacter(_ v: UInt32) {
        let text = "Alice" + scalar(v) + "Smith"
        let error = expectFailure(field: "display name", rule: "control-character") { _ = try Validate.displayName(text) }
        if let error { #expect(!hasUnsafeScalar(error.message)) }
        expectFailure(field: "description", rule: "control-character") { _ = try Validate.description(text) }
        expectFailure(field: "role description", rule: "control-character") {
            _ = try Validate.description(text, field: "role description")
        }
    }

    @Test(arguments: bidiScalars)
    func bidiControl(_ v: UInt32) {
        let text = "invoice" + scalar(v) + "fdp.exe"
        let error = expectFailure(field: "display name", rule: "bidi-control") { _ = try Validate.displayName(text) }
        if let error { #expect(!hasUnsafeScalar(error.message)) }
        expectFailure(field: "description", rule: "bidi-control") { _ = try Validate.description(text) }
    }

    @Test(arguments: invisibleScalars)
    func invisibleCharacter(_ v: UInt32) {
        let text = "ad" + scalar(v) + "min"
        let error = expectFailure(field: "display name", rule: "invisible-character") { _ = try Validate.displayName(text) }
        if let error { #expect(!hasUnsafeScalar(error.message)) }
        expectFailure(field: "description", rule: "invisible-character") { _ = try Validate.description(text) }
    }

    @Test func messageNamesTheCodePoint() {
        #expect(
            failure { _ = try Validate.displayName("a\u{202E}b") }?.message
                == "display name: must not contain a bidirectional text control (U+202E)")
        #expect(
            failure { _ = try Validate.displayName("a\u{85}b") }?.message
                == "display name: must not contain a control character (U+0085)")
        #expect(
            failure { _ = try Validate.displayName("a\u{AD}b") }?.message
                == "display name: must not contain an invisible character (U+00AD)")
    }

    @Test func nothingIsTrimmed() throws {
        #expect(try Validate.displayName(" Alice ") == " Alice ")
        expectFailure(field: "display name", rule: "control-character") { _ = try Validate.displayName("Alice\n") }
    }
}

// MARK: - Passwords

@Suite struct PasswordTests {
    @Test(arguments: [
        "correct horse battery staple",
        "Tr0ub4dor&3 is not enough",
        "mot de passe très très long",
        "🙂🙃😀😎🤔🐱🌵🎈🚀🍕🎲🌙",
        "kx9#mq2!pzrw"
    ])
    func goodPassphrase(_ password: String) {
        #expect(failure { try Validate.password(password, username: "alice") } == nil)
    }

    @Test func tooShort() {
        let password = "kx9#mq2!pzr"  // 11 characters
        #expect(password.count == 11)
        let error = expectFailure(field: "password", rule: "length") { try Validate.password(password, username: "alice") }
        #expect(error?.message == "password: must be at least 12 characters")
        #expect(failure { try Validate.password(password + "w", username: "alice") } == nil)
    }

    @Test func lengthCountsCharacters() {
        // 12 characters but 48 UTF-8 bytes; 11 flags are 88 bytes but only 11 characters.
        #expect(failure { try Validate.password("🙂🙃😀😎🤔🐱🌵🎈🚀🍕🎲🌙", username: "") } == nil)
        let flags = String(repeating: "🇫🇷", count: 11)
        expectFailure(field: "password", rule: "length") { try Validate.password(flags, username: "") }
    }

    @Test func configuredMinimumOfEight() {
        #expect(failure { try Validate.password("kx9#mq2!", username: "alice", minimumLength: 8) } == nil)
        let error = expectFailure(field: "password", rule: "length") {
            try Validate.password("kx9#mq2", username: "alice", minimumLength: 8)
        }
        #expect(error?.message == "password: must be at least 8 characters")
    }

    @Test(arguments: [0, 1, 6, 7, -5])
    func minimumIsClampedToFloor(_ minimum: Int) {
        let error = expectFailure(field: "password", rule: "length") {
            try Validate.password("kx9#mq2", username: "alice", minimumLength: minimum)  // 7 characters
        }
        #expect(error?.message == "password: must be at least 8 characters")
        #expect(failure { try Validate.password("kx9#mq2!", username: "alice", minimumLength: minimum) } == nil)
    }

    @Test func higherConfiguredMinimum() {
        let password = "kx9#mq2!pzrwvbn4tl7"  // 19 characters
        #expect(failure { try Validate.password(password, username: "alice") } == nil)
        expectFailure(field: "password", rule: "length") { try Validate.password(password, username: "alice", minimumLength: 20) }
        #expect(failure { try Validate.password(password + "q", username: "alice", minimumLength: 20) } == nil)
    }

    @Test func maximumBytes() {
        // A phrase said over and over: long enough, and no short pattern (which the repeat rule refuses).
        let longest = String(String(repeating: "correct horse battery staple ", count: 40).prefix(Validate.passwordMaxBytes))
        #expect(failure { try Validate.password(longest, username: "alice") } == nil)
        let error = expectFailure(field: "password", rule: "length") { try Validate.password(longest + "z", username: "alice") }
        #expect(error?.message == "password: must be at most 1024 bytes")
        // Bytes, not characters: 342 "€" are 1,026 bytes.
        let euros = String(repeating: "€", count: 342)
        expectFailure(field: "password", rule: "length") { try Validate.password(euros, username: "alice") }
    }

    @Test(arguments: [
        "aaaaaaaaaaaa", "AAAAAAAAAAAAAAAAAAAA", "abcabcabcabc", "abcabcabcabca", "1a2b1a2b1a2b", "!?!?!?!?!?!?", "éééééééééééé",
        "🙂🙃🙂🙃🙂🙃🙂🙃🙂🙃🙂🙃"
    ])
    func repeated(_ password: String) {
        #expect(!Validate.commonPasswords.contains(password.lowercased()), "\(password) is refused as common before this rule")
        let error = expectFailure(field: "password", rule: "repeated") { try Validate.password(password, username: "alice") }
        #expect(error?.message == "password: must not be one character or a short pattern repeated (like aaaaaaaaaaaa or abcabcabcabc)")
    }

    @Test(arguments: [
        "qwertyuiop89", "QWERTYUIOPASDF", "abcdefghijkl", "zyxwvutsrqpo", "1234567890ab", "9876543210zz",
        "asdfghjkl;'1", "!@#$%^&*()_+", "aaaa1111zzzz", "abcd1234wxyz", "poiuytrewq12", "mnbvcxz.,mnb",
        "abcdefgh"
    ])
    func keyboardRowsSequencesAndRunsAreRefused(_ password: String) {
        #expect(!Validate.commonPasswords.contains(password.lowercased()), "\(password) is refused as common before this rule")
        let error = expectFailure(field: "password", rule: "sequence") {
            try Validate.password(password, username: "alice", minimumLength: 8)
        }
        #expect(
            error?.message == "password: must not be made of keyboard rows, sequences or repeats "
                + "(like qwertyuiop12, abcdefgh1234 or aaaa1111zzzz); mix in words or characters of your own")
    }

    /// Passphrases and ordinary strong passwords pass, even with a short run inside, and so
    /// does a run with more than two characters of one's own around it.
    @Test(arguments: [
        "correct horse battery staple", "mossy granite under the bridge", "purple elephants dance at noon",
        "Tr0ub4dor&3xyzw", "abc correct def", "qwerty is my 1st kb", "x7#kQ2!mZp9$", "stuvpl8#qk3z", "1234 river 5678",
        "abcdefghi!k#m", "correct horse battery staple correct horse battery staple"
    ])
    func passphrasesWithShortRunsPass(_ password: String) {
        #expect(failure { try Validate.password(password, username: "alice") } == nil, "\(password) was refused")
    }

    @Test func commonListIsEmbedded() {
        #expect(Validate.commonPasswords.count == 30_000)
        #expect(Validate.commonPasswords.contains("password"))
        #expect(Validate.commonPasswords.contains("geekboy"))  // last line
        #expect(!Validate.commonPasswords.contains(""))
        #expect(Validate.commonPasswords.allSatisfy { $0 == $0.lowercased() })
    }

    @Test(arguments: [
        "password1234", "qwertyuiop123", "123qweasdzxc", "1qaz2wsx3edc",
        "qwerty123456", "leavemealone", "finalfantasy", "123456789987654321"
    ])
    func common(_ password: String) {
        #expect(password.count >= 12)
        #expect(Validate.commonPasswords.contains(password))
        let error = expectFailure(field: "password", rule: "common") { try Validate.password(password, username: "alice") }
        #expect(error?.message == "password: is too common (found in the list of 30,000 common passwords)")
    }

    @Test(arguments: ["PassWord1234", "QWERTYUIOP123", "LeaveMeAlone"])
    func commonIgnoresCase(_ password: String) {
        expectFailure(field: "password", rule: "common") { try Validate.password(password, username: "alice") }
    }

    @Test func commonWithLowerMinimum() {
        expectFailure(field: "password", rule: "common") { try Validate.password("password", username: "alice", minimumLength: 8) }
        expectFailure(field: "password", rule: "common") { try Validate.password("12345678", username: "alice", minimumLength: 8) }
    }

    @Test(arguments: [
        ("my alice password", "alice"),
        ("my ALICE password", "alice"),
        ("my alice password", "Alice"),
        ("bob.smith-rocks-2024", "Bob.Smith"),
        ("prefix-j.doe", "J.DOE")
    ])
    func containsUsername(_ password: String, _ username: String) {
        let error = expectFailure(field: "password", rule: "contains-username") { try Validate.password(password, username: username) }
        #expect(error?.message == "password: must not contain the username")
    }

    @Test func emptyUsernameIsNotChecked() {
        #expect(failure { try Validate.password("correct horse battery staple", username: "") } == nil)
    }

    @Test(arguments: [
        "correct horse\tbattery", "correct\nhorse battery", "\u{1B}[31mcorrect horse", "correct horse\u{7F}battery",
        "correct horse\u{85}battery"
    ])
    func controlCharacters(_ password: String) {
        expectFailure(field: "password", rule: "control-character") { try Validate.password(password, username: "alice") }
    }

    @Test(arguments: [
        ("kx9#mq2!pzr", "alice", 12),  // length
        (String(repeating: "Zq", count: 600), "alice", 12),  // over 1024 bytes
        ("password1234", "alice", 12),  // common
        ("SuperSecretAlice99!", "alice", 12),  // contains username
        ("Secret\tTab-Password", "alice", 12),  // control character
        ("hunter22", "bob", 12)  // length with a common-looking value
    ])
    func messageNeverContainsPassword(_ password: String, _ username: String, _ minimum: Int) {
        let error = failure { try Validate.password(password, username: username, minimumLength: minimum) }
        #expect(error != nil)
        guard let error else { return }
        #expect(!error.message.contains(password))
        #expect(!error.description.contains(password))
    }

    @Test(arguments: [8, 12, 64, 1024])
    func validMinimumSetting(_ n: Int) throws {
        #expect(try Validate.passwordMinimumSetting(n) == n)
    }

    @Test(arguments: [-1, 0, 6, 7, 1025, Int.max])
    func invalidMinimumSetting(_ n: Int) {
        let error = expectFailure(field: "minimum password length", rule: "range") { _ = try Validate.passwordMinimumSetting(n) }
        #expect(error?.message == "minimum password length: must be between 8 and 1024 (got \(n))")
    }
}

// MARK: - Secret names and values

@Suite struct SecretTests {
    @Test(arguments: ["a", "app/prod/db_password", "A-Z.0_9", "a/b/c/d", ".env", "config/.env", "...", "v1.2.3/x..y"])
    func validName(_ name: String) throws {
        #expect(try Validate.secretName(name) == name)
    }

    @Test func longestName() throws {
        let segment = String(repeating: "s", count: 64)
        #expect(try Validate.secretName(segment) == segment)
        // 3 × 64 + 60 + 3 slashes = 255 bytes
        let longest = [segment, segment, segment, String(repeating: "t", count: 60)].joined(separator: "/")
        #expect(longest.utf8.count == 255)
        #expect(try Validate.secretName(longest) == longest)

        let tooLong = longest + "t"
        let error = expectFailure(field: "secret name", rule: "length") { _ = try Validate.secretName(tooLong) }
        #expect(error?.message == "secret name: must be at most 255 bytes (got 256)")
    }

    @Test func segmentTooLong() {
        let name = "app/" + String(repeating: "x", count: 65)
        let error = expectFailure(field: "secret name", rule: "length") { _ = try Validate.secretName(name) }
        #expect(error?.message == "secret name: segment 2 must be at most 64 characters (got 65)")
    }

    @Test func empty() {
        expectFailure(field: "secret name", rule: "empty") { _ = try Validate.secretName("") }
    }

    @Test(arguments: [
        (".", 1, "."), ("..", 1, ".."), ("a/./b", 2, "."), ("a/../b", 2, ".."), ("../etc/passwd", 1, ".."), ("a/b/..", 3, "..")
    ])
    func dotSegment(_ name: String, _ segment: Int, _ dots: String) {
        let error = expectFailure(field: "secret name", rule: "dot-segment") { _ = try Validate.secretName(name) }
        #expect(error?.message == "secret name: segment \(segment) is \"\(dots)\", which is not allowed")
    }

    @Test(arguments: [("a//b", 2), ("/a", 1), ("a/", 2), ("/", 1), ("//", 1), ("a/b//", 3)])
    func emptySegment(_ name: String, _ segment: Int) {
        let error = expectFailure(field: "secret name", rule: "segment") { _ = try Validate.secretName(name) }
        #expect(error?.message.hasPrefix("secret name: segment \(segment) is empty") == true)
    }

    @Test(arguments: ["a b", "a*b", "café", "a\nb", "db\\password", "a:b", "a\u{202E}b", "a\u{200B}b", "ａ", " a", "a\u{0}"])
    func badCharacters(_ name: String) {
        let error = expectFailure(field: "secret name", rule: "charset") { _ = try Validate.secretName(name) }
        if let error { #expect(!hasUnsafeScalar(error.message)) }
    }

    @Test func badCharacterIsNamed() {
        #expect(
            failure { _ = try Validate.secretName("a*b") }?.message
                == "secret name: may contain only ASCII letters, digits, \".\", \"_\", \"-\" and \"/\" (found \"*\")")
        #expect(failure { _ = try Validate.secretName("a\nb") }?.message.contains("\"\u{240A}\" (U+000A)") == true)
    }

    @Test(arguments: [1, 2, 4096, 65_535, 65_536])
    func validValueSize(_ count: Int) {
        #expect(failure { try Validate.secretValueSize(count) } == nil)
    }

    @Test func emptyValue() {
        expectFailure(field: "secret value", rule: "empty") { try Validate.secretValueSize(0) }
    }

    @Test(arguments: [65_537, 1_000_000, -1])
    func oversizeValue(_ count: Int) {
        let error = expectFailure(field: "secret value", rule: "size") { try Validate.secretValueSize(count) }
        #expect(error?.message == "secret value: must be 1 to 65536 bytes (got \(count))")
    }
}

// MARK: - visible

@Suite struct VisibleTests {
    @Test(arguments: [
        ("\u{1B}[31mred", "\u{241B}[31mred"),
        ("a\nb", "a\u{240A}b"),
        ("\r\n", "\u{240D}\u{240A}"),
        ("\u{0}", "\u{2400}"),
        ("\u{7}\t", "\u{2407}\u{2409}"),
        ("\u{1F}", "\u{241F}"),
        ("\u{7F}", "\u{2421}"),
        ("\u{85}", "\\u{0085}"),
        ("\u{9B}31m", "\\u{009B}31m"),
        ("abc\u{202E}txt.exe", "abc\\u{202E}txt.exe"),
        ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
        ("\u{061C}", "\\u{061C}"),
        ("a\u{200B}b\u{200D}c\u{FEFF}", "a\\u{200B}b\\u{200D}c\\u{FEFF}"),
        ("soft\u{AD}hyphen", "soft\\u{00AD}hyphen"),
        ("line\u{2028}sep", "line\\u{2028}sep"),
        ("Grüße 🙂 山田", "Grüße 🙂 山田"),
        ("", "")
    ])
    func examples(_ input: String, _ expected: String) {
        #expect(Validate.visible(input) == expected)
    }

    @Test func everyUnsafeScalarIsEscaped() {
        let unsafe =
            (UInt32(0)...0x3000).compactMap(Unicode.Scalar.init).filter {
                Validate.isControl($0) || Validate.isBidiControl($0) || Validate.isInvisible($0)
            } + [Unicode.Scalar(0xFEFF)!]
        #expect(unsafe.count == 65 + 12 + 11)
        for s in unsafe {
            let shown = Validate.visible(String(s))
            #expect(!hasUnsafeScalar(shown), "U+\(String(s.value, radix: 16)) is still unsafe")
            #expect(!shown.isEmpty)
        }
    }

    @Test func quoteTruncatesLongInput() {
        #expect(Validate.quote("abc") == "\"abc\"")
        #expect(Validate.quote(String(repeating: "x", count: 40)) == "\"" + String(repeating: "x", count: 40) + "\"")
        #expect(Validate.quote(String(repeating: "x", count: 100)) == "\"" + String(repeating: "x", count: 40) + "…\"")
        #expect(Validate.quote("a\u{1B}b") == "\"a\u{241B}b\"")
    }
}
