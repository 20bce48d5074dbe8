import Foundation
@testable import KeyholdCore
import KeyholdTestSupport
import Testing

/// Passwords are checked on their bytes where they lie (`Validate.passwordFacts`), with the
/// same verdicts as the String rules had, and leave no copy behind: neither the password nor
/// its lower-case form is anywhere in memory once the check, a vault's creation or a login
/// is done, and a recovery key's text is gone once released.
@Suite struct PasswordMemoryTests {
    /// A password nothing else holds, made in guarded memory (a String of it in this test
    /// would be a copy the scan finds): random letters and digits, upper case among them.
    static func freshPassword() throws -> SecureBytes { try Token.generate(length: 36, alphabet: .alnum) }

    /// Its lower-case form, made in guarded memory too.
    static func lowered(_ p: SecureBytes) throws -> SecureBytes {
        try SecureBytes(count: p.count) { out in
            p.withBytes { for (i, c) in $0.enumerated() { out[i] = (0x41...0x5A).contains(c) ? c + 0x20 : c } }
        }
    }

    /// A copy in guarded memory, the scan's needle (its own allocation is skipped).
    static func copy(_ p: SecureBytes) throws -> SecureBytes {
        try SecureBytes(count: p.count) { out in p.withBytes { out.copyMemory(from: $0) } }
    }

    /// The facts agree with what Swift's String says of the same text: characters (grapheme
    /// clusters), lower-case forms for the list and the username, controls.
    @Test(arguments: [
        "correct horse battery staple", "PASSWORD", "password", "Password1234", "🙂🙃🙂🙃🙂🙃🙂🙃🙂🙃🙂🙃",
        "🇫🇷🇩🇪🇮🇹🇪🇸🇵🇹🇬🇧🇳🇱🇧🇪", "e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}",
        "İSTANBUL-ΣΑΣ-straße-ADMIN", "tab\there and there", "a\r\nb\r\nc\r\nd\r\ne", "x\u{85}y\u{9B}z\u{7F}",
        "MyAdminPassword!", "ÅNGSTRÖM ångström", "QWERTYuiop12", "AbcAbcAbcAbc", "aaaa1111ZZZZ", ""
    ])
    func factsAgreeWithStrings(text: String) throws {
        let facts = try Validate.passwordFacts(try pw(text), username: "Admin")
        #expect(facts.isUTF8)
        #expect(facts.bytes == text.utf8.count)
        #expect(facts.characters == text.count, "characters of \(text.debugDescription)")
        #expect(facts.hasControl == text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        #expect(facts.isCommon == Validate.commonPasswords.contains(text.lowercased()))
        #expect(facts.containsUsername == text.lowercased().contains("admin"))
        let scalars = Array(text.lowercased().unicodeScalars)
        #expect(facts.isRepeated == Validate.isRepeatedPattern(scalars))
        #expect(facts.isSequence == (scalars.count - Validate.simplePatternCoverage(scalars) <= Validate.passwordPatternSlack))
    }

    @Test func factsOfBytesThatAreNotText() throws {
        let facts = try Validate.passwordFacts(try SecureBytes(copying: [0x61, 0xFF, 0x62]), username: "")
        #expect(!facts.isUTF8)
        let bytes = try SecureBytes(copying: [0x61, 0xFF, 0x62] + Array("long enough text".utf8))
        do {
            try Validate.password(bytes, username: "")
            Issue.record("accepted")
        } catch {
            #expect(error.rule.rawValue == "encoding")
        }
    }

    /// Every entry of the common list is found through the byte table, in any case.
    @Test func everyCommonPasswordIsFound() throws {
        var missed = 0
        for entry in Validate.commonPasswords where !(try Validate.passwordFacts(try pw(entry.uppercased()), username: "").isCommon) {
            missed += 1
        }
        #expect(missed == 0)
        #expect(try !Validate.passwordFacts(Self.freshPassword(), username: "").isCommon)
    }

    /// Checking a password makes no copy of it or of its lower-case form.
    @Test func checkingLeavesNoCopy() throws {
        let password = try Self.freshPassword()
        let lowered = try Self.lowered(password)
        try Validate.password(password, username: "someone")
        _ = try Validate.passwordFacts(password, username: "admin")
        let copies = MemoryScan.find(password), lowerCopies = MemoryScan.find(lowered)
        #expect(copies.isEmpty, "copies of the password: \(copies)")
        #expect(lowerCopies.isEmpty, "copies of its lower-case form: \(lowerCopies)")
        // The control: a copy the scan must see.
        let held = try Self.copy(password)
        #expect(MemoryScan.copies(MemoryScan.find(password)).count == 1, "control: a held copy was not found")
        _ = held
    }

    /// A vault made and logged into with a password: no copy of it is left once done; the
    /// recovery key's text, found while held (the control), is gone once released.
    @Test func creatingAndLoggingInLeaveNoCopy() throws {
        let dir = TempDir()
        let password = try Self.freshPassword()
        var recoveryText: SecureBytes?
        do {
            let (session, key) = try Vault.create(
                at: dir.file("vault.db"), admin: "admin", password: Self.copy(password),
                options: .insecureFastForTests())
            recoveryText = try Self.copy(key)
            #expect(
                MemoryScan.copies(MemoryScan.find(try #require(recoveryText))).count == 1, "control: the recovery key held was not found")
            _ = session
        }
        do {
            guard
                case .session = try Vault.open(at: dir.file("vault.db"), options: .insecureFastForTests())
                    .login(username: "admin", password: Self.copy(password))
            else { throw TestFailure("no session") }
        }
        let copies = MemoryScan.find(password)
        #expect(copies.isEmpty, "copies of the password after create and login: \(copies)")
        let keyCopies = MemoryScan.find(try #require(recoveryText))
        #expect(keyCopies.isEmpty, "copies of the recovery key's text after the vault was made: \(keyCopies)")
    }
}
