import Foundation
import KeyholdTestSupport
import Testing

/// When a new version is made and when not, through the built binary: a re-import of the
/// current value adds none (and says how many were unchanged), a new version clears a
/// rotate-by date that has passed, and `secret generate` never replaces a value by accident.
@Suite struct SecretVersionTests {
    let v: SecretsFixture
    init() throws { v = try SecretsFixture() }

    func versions(_ name: String) throws -> [Int] {
        let r = try v.run(["secret", "versions", name, "--json"])
        return (try SecretsFixture.json(r.stdout)["versions"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? Int }
    }

    func rotateBy(_ name: String) throws -> Any? {
        let list = try SecretsFixture.json(try v.run(["secret", "list", "--json"]).stdout)["secrets"] as? [[String: Any]] ?? []
        return list.first { $0["name"] as? String == name }?["rotate_by"] ?? nil
    }

    func file(_ name: String, _ json: String) -> String {
        let path = v.scratch.file(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(json.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    @Test func reimportingTheCurrentValueAddsNoVersion() throws {
        let first = file("first.json", #"{"app/a": "value a", "app/b": "value b", "app/c": "value c"}"#)
        #expect(try v.run(["import", "--format", "json", first]).status == 0)

        let again = try v.run(["import", "--format", "json", "--on-existing", "update", first])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(
            again.stdout.contains("Imported: 0 created, 0 updated, 3 unchanged (same value: no new version), 0 skipped"),
            "\(again.stdout)")
        for name in ["app/a", "app/b", "app/c"] { #expect(try versions(name) == [1], "\(name) got a version") }

        // One value changed (same length, so the values themselves are compared), one secret new.
        let second = file("second.json", #"{"app/a": "value a", "app/b": "value B", "app/c": "value c", "app/d": "value d"}"#)
        let mixed = try v.run(["import", "--format", "json", "--on-existing", "update", "--json", second])
        #expect(mixed.status == 0, "\(mixed.stderr)")
        let counts = try SecretsFixture.json(mixed.stdout)
        #expect(
            counts["created"] as? Int == 1 && counts["updated"] as? Int == 1 && counts["unchanged"] as? Int == 2
                && counts["skipped"] as? Int == 0, "\(mixed.stdout)")
        #expect(try versions("app/b") == [1, 2] && versions("app/a") == [1])
        quietExpect(try v.show("app/b") == Data("value B".utf8), "app/b does not hold the imported value")
        // The audit event counts the unchanged ones; its digest covers only what was written.
        let events = try v.audit("secret.import").events
        let details = events.last?["details"] as? [String: Any]
        #expect(
            details?["unchanged"] as? Int == 2 && details?["count"] as? Int == 2 && details?["updated"] as? Int == 1,
            "\(String(describing: details))")
    }

    @Test func aNewVersionClearsARotateByDateThatHasPassed() throws {
        try v.set("app/past", "first value", ["--rotate-by", "2020-01-01"])
        try v.set("app/future", "first value", ["--rotate-by", "2999-01-01"])
        try v.set("app/given", "first value", ["--rotate-by", "2020-01-01"])
        try v.set("app/imported", "first value", ["--rotate-by", "2020-01-01"])
        try v.set("app/same", "first value", ["--rotate-by", "2020-01-01"])

        let past = try v.set("app/past", "second value")
        #expect(try rotateBy("app/past") is NSNull, "a past rotate-by date survived the new version")
        #expect(
            past.stderr.contains("app/past: the new version is the rotation that was due 2020-01-01T00:00:00Z, so that date is cleared"),
            "\(past.stderr)")
        try v.set("app/future", "second value")
        #expect(try rotateBy("app/future") as? String == "2999-01-01T00:00:00Z", "a future date was cleared")
        // A date given with the new version is the one kept, even a past one.
        try v.set("app/given", "second value", ["--rotate-by", "2021-01-01"])
        #expect(try rotateBy("app/given") as? String == "2021-01-01T00:00:00Z")
        // generate --new-version does the same.
        try v.set("app/gen", "first value", ["--rotate-by", "2020-01-01"])
        #expect(try v.run(["secret", "generate", "app/gen", "--new-version"]).status == 0)
        #expect(try rotateBy("app/gen") is NSNull)

        // An import that adds a version clears it; one that adds none (the same value) leaves it.
        let source = file("rotate.json", #"{"app/imported": "second value", "app/same": "first value"}"#)
        let imported = try v.run(["import", "--format", "json", "--on-existing", "update", source])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try rotateBy("app/imported") is NSNull)
        #expect(try rotateBy("app/same") as? String == "2020-01-01T00:00:00Z")
        let events = try v.audit("secret.update").events
        let cleared = events.first { $0["target"] as? String == "secret:app/past" }?["details"] as? [String: Any]
        #expect(cleared?["rotate_by_cleared"] as? Int != nil, "the event does not record the cleared date: \(String(describing: cleared))")
    }

    @Test func generateRefusesAnExistingNameUnlessNewVersion() throws {
        #expect(try v.run(["secret", "generate", "app/key", "--length", "40"]).status == 0)
        let before = try v.show("app/key")
        let refused = try v.run(["secret", "generate", "app/key", "--length", "40"])
        #expect(refused.status == 68)
        #expect(
            refused.stderr.contains(
                "a secret named app/key already exists, and a generated value would replace the one in use; "
                    + "give --new-version"), "\(refused.stderr)")
        #expect(try versions("app/key") == [1])
        quietExpect(try v.show("app/key") == before, "the refused generate changed the value")

        let added = try v.run(["secret", "generate", "app/key", "--length", "40", "--new-version"])
        #expect(added.status == 0)
        #expect(added.stdout == "generated app/key version 2\n")
        #expect(try versions("app/key") == [1, 2])
        quietExpect(try v.show("app/key") != before, "the new version has the old value")
        // --new-version on a name that does not exist yet simply creates it.
        #expect(try v.run(["secret", "generate", "app/new", "--new-version"]).stdout == "generated app/new version 1\n")
    }
}
