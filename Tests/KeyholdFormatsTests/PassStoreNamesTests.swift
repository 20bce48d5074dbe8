import KeyholdCore
import Testing
@testable import KeyholdFormats

@Suite struct PassStoreNamesTests {
    @Test func namesAndFiles() {
        #expect(PassStoreNames.isSecretFile("web/git.gpg"))
        #expect(!PassStoreNames.isSecretFile(".gpg"))
        #expect(!PassStoreNames.isSecretFile("notes.txt"))
        #expect(!PassStoreNames.isSecretFile(".gpg-id"))
        #expect(PassStoreNames.name(ofFile: "web/git.gpg") == "web/git")
        #expect(PassStoreNames.file(for: "web/git") == "web/git.gpg")
        #expect(PassStoreNames.directories(for: "a/b/c") == ["a", "a/b"])
        #expect(PassStoreNames.directories(for: "top").isEmpty)
        #expect(!PassStoreNames.walks(directory: ".git") && !PassStoreNames.walks(directory: ".extensions"))
        #expect(PassStoreNames.walks(directory: "web"))
        #expect(PassStoreNames.gpgIDFile("ops@example.org") == "ops@example.org\n")
    }

    @Test func aDecryptedFileLosesOneTrailingNewline() throws {
        var read = SourceRead()
        try PassStoreNames.add(file: "a.gpg", decrypted: Array("pw\n".utf8), to: &read)
        try PassStoreNames.add(file: "b.gpg", decrypted: Array("pw\nnotes\n\n".utf8), to: &read)
        try PassStoreNames.add(file: "c.gpg", decrypted: Array("no newline".utf8), to: &read)
        try PassStoreNames.add(file: "d/e.gpg", decrypted: [0x0A], to: &read)
        let got = entries(read)
        #expect(got.map(\.key) == ["a", "b", "c", "d/e"])
        #expect(got.map(\.value) == ["pw", "pw\nnotes\n", "no newline", ""])
        #expect(got.map(\.origin) == ["file a.gpg", "file b.gpg", "file c.gpg", "file d/e.gpg"])
    }

    @Test func aFileNameIsShownVisibly() {
        #expect(PassStoreNames.origin(ofFile: "x\u{1B}]0;title\u{7}.gpg") == "file x\u{241B}]0;title\u{2407}.gpg")
    }

    @Test func whatItWritesReadsBackTheSame() throws {
        let value: [UInt8] = Array("line one\nline two".utf8) + [0x00, 0xFF]
        let content = try value.withUnsafeBytes { try PassStoreNames.fileContent($0) }
        var read = SourceRead()
        try content.withBytes { try PassStoreNames.add(file: PassStoreNames.file(for: "n/v"), decrypted: Array($0), to: &read) }
        #expect(read.entries.map(\.key) == ["n/v"])
        #expect(read.entries.first.map { Array(read.value(of: $0)) } == value)
    }
}
