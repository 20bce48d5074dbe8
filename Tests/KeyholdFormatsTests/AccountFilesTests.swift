import KeyholdCore
import Testing
@testable import KeyholdFormats

@Suite struct AccountFilesTests {
    static let argon = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
    static let bcrypt = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"

    // MARK: CSV

    @Test func csvColumnsInAnyOrderQuotedFieldsAndUnquotedArgon2() throws {
        let text =
            "\u{FEFF}password_hash,Username,email,display_name,roles\r\n"
            + "\(Self.argon),alice,alice@example.org,\"Alice, A.\",\"ops,user\"\r\n"
            + "\"\(Self.bcrypt)\",bob,,\"Bob \"\"B\"\"\",auditor; user\r\n"
            + "\r\n"
            + "\(Self.argon),carol,,,\n"
        let read = try UserCSV.parse(Array(text.utf8))
        #expect(read.bad.isEmpty, "\(read.bad)")
        #expect(
            read.entries == [
                AppUserEntry(
                    username: "alice", email: "alice@example.org", displayName: "Alice, A.", passwordHash: Self.argon,
                    roles: ["ops", "user"], origin: "line 2"),
                AppUserEntry(
                    username: "bob", email: nil, displayName: "Bob \"B\"", passwordHash: Self.bcrypt,
                    roles: ["auditor", "user"], origin: "line 3"),
                AppUserEntry(username: "carol", email: nil, displayName: "", passwordHash: Self.argon, roles: [], origin: "line 5")
            ])
        #expect(read.seqByOrigin == ["line 2": 0, "line 3": 1, "line 5": 2])
    }

    @Test func csvRecordsAreNamedByTheLineTheyStartOn() throws {
        let text =
            "username,password_hash,display_name\n"
            + "one,\(Self.bcrypt),\"two\nlines\"\n"
            + "short,\(Self.bcrypt)\n"
            + "ok,\(Self.bcrypt),x\n"
        let read = try UserCSV.parse(Array(text.utf8))
        #expect(read.entries.map(\.origin) == ["line 2", "line 5"])
        #expect(read.entries.first?.displayName == "two\nlines")
        #expect(read.bad.map { "\($0.origin): \($0.message)" } == ["line 4: has 2 fields, the header 3"])
        #expect(read.bad.map(\.seq) == [1])
    }

    @Test func csvThatCannotBeReadIsRefusedWhole() {
        func refusal(_ text: String) -> String? { sourceRefusal { _ = try UserCSV.parse(Array(text.utf8)) } }
        #expect(refusal("") == "CSV: the file is empty (it needs a header line)")
        #expect(
            refusal("username,password,email\n")
                == #"CSV line 1: unknown column "password" (known: username, email, display_name, password_hash, roles)"#)
        #expect(refusal("username,username,password_hash\n") == "CSV line 1: column username appears twice")
        #expect(refusal("username,email\n")?.hasPrefix("CSV line 1: the header needs a password_hash column") == true)
        #expect(refusal("username,password_hash\nab\"c,h\n")?.hasPrefix("CSV line 2: a quote inside an unquoted field") == true)
        #expect(refusal("username,password_hash\n\"a\"b,h\n") == "CSV line 2: text after a closing quote")
        #expect(refusal("username,password_hash\n\n\"open,h\n") == "CSV line 3: a quoted field is not closed")
        #expect(sourceRefusal { _ = try UserCSV.parse([0x75, 0xFF]) } == "CSV: the file is not UTF-8 text")
    }

    // MARK: JSON

    @Test func jsonUsers() throws {
        let text = """
            {"users": [
              {"username": "alice", "email": "alice@example.org", "display_name": "Alice", "password_hash": "\(Self.argon)",
               "roles": ["ops", "user"]},
              {"username": "bob", "email": null, "password_hash": "\(Self.bcrypt)", "roles": "auditor, user"},
              {"username": "carol", "email": "", "password_hash": "h", "roles": null}
            ]}
            """
        let read = try UserJSON.parse(Array(text.utf8))
        #expect(read.bad.isEmpty)
        #expect(
            read.entries == [
                AppUserEntry(
                    username: "alice", email: "alice@example.org", displayName: "Alice", passwordHash: Self.argon,
                    roles: ["ops", "user"], origin: #"users[0] (alice)"#),
                AppUserEntry(
                    username: "bob", email: nil, displayName: "", passwordHash: Self.bcrypt, roles: ["auditor", "user"],
                    origin: #"users[1] (bob)"#),
                AppUserEntry(username: "carol", email: nil, displayName: "", passwordHash: "h", roles: [], origin: #"users[2] (carol)"#)
            ])
    }

    @Test func jsonBadEntriesAreNamedByIndexAndUsername() throws {
        let text = #"""
            {"users": [
              7,
              {"username": "a", "password_hash": "h", "pasword": "typo"},
              {"password_hash": "h"},
              {"username": "b"},
              {"username": "c", "password_hash": "h", "email": 1},
              {"username": "d", "password_hash": "h", "display_name": false},
              {"username": "e", "password_hash": "h", "roles": [1]},
              {"username": "ok", "password_hash": "h"}
            ]}
            """#
        let read = try UserJSON.parse(Array(text.utf8))
        #expect(read.entries.map(\.username) == ["ok"])
        #expect(
            read.bad.map { "\($0.origin): \($0.message)" } == [
                "users[0]: must be an object with username and password_hash",
                #"users[1]: unknown key "pasword" (known: username, email, display_name, password_hash, roles)"#,
                "users[2]: username is missing or not a string",
                #"users[3] (b): password_hash is missing or not a string"#,
                #"users[4] (c): email must be a string or null"#,
                #"users[5] (d): display_name must be a string"#,
                #"users[6] (e): roles must be a list of strings (or one string, "a,b")"#
            ])
        #expect(read.seqByOrigin[#"users[7] (ok)"#] == 7)
    }

    @Test func jsonThatIsNotTheShapeIsRefusedWhole() {
        #expect(sourceRefusal { _ = try UserJSON.parse(Array("{".utf8)) }?.hasPrefix("not valid JSON (or not UTF-8): ") == true)
        #expect(
            sourceRefusal { _ = try UserJSON.parse(Array(#"{"accounts": []}"#.utf8)) }?.hasPrefix(#"JSON: the top level must be {"users""#)
                == true)
    }
}
