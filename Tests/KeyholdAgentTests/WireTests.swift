import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdTestSupport
import Testing
@testable import KeyholdConsole
import KeyholdConsoleAgent

/// The console's messages to and from the agent: every effect and result survives the trip,
/// and no secret value is ever inside the JSON.
@Suite struct WireTests {
    /// Encodes, decodes and encodes again: the same JSON, the same values.
    @discardableResult
    func roundTrip<T: Codable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws -> (T, AgentMessage) {
        let m = try AgentMessage.encode(value)
        let back = try m.decode(T.self)
        let again = try AgentMessage.encode(back)
        #expect(try canonical(again.json) == canonical(m.json), sourceLocation: sourceLocation)
        #expect(again.values.map { $0.unsafeArray() } == m.values.map { $0.unsafeArray() }, sourceLocation: sourceLocation)
        return (back, m)
    }

    /// The JSON with its keys sorted and its lists of strings too (a set's order is its own).
    func canonical(_ json: [UInt8]) throws -> String {
        func sort(_ v: Any) -> Any {
            if let d = v as? [String: Any] { return d.mapValues(sort) }
            if let a = v as? [String] { return a.sorted() }
            if let a = v as? [Any] { return a.map(sort) }
            return v
        }
        let object = sort(try JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed]))
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    func contains(_ json: [UInt8], _ secret: String) -> Bool {
        let needle = Array(secret.utf8)
        return json.indices.contains { json[$0...].starts(with: needle) }
    }

    static func q<K>(_ anchor: PageQuery<K>.Anchor) -> PageQuery<K> {
        PageQuery(id: 7, filter: "db", anchor: anchor, side: 12, count: true)
    }

    @Test func everyEffectRoundTrips() throws {
        let typed = Sensitive(try SecureBytes(utf8: "typed-secret-1"))
        let effects: [Effect] = [
            .session(.createVault(username: "admin", password: typed)), .session(.login(username: "admin", password: typed)),
            .session(.completePasswordChange(typed)), .session(.logout),
            .dashboard(.load(dueWithin: 86_400_000)), .dashboard(.count),
            .users(.page(Self.q(.first))), .users(.page(Self.q(.around("bob")))), .users(.count(ListCount(id: 8))),
            .users(.change(.disable, "bob")), .users(.loadRoles),
            .users(.create(username: "bob", email: nil, displayName: "Bob", roles: ["user"])),
            .users(.create(username: "bob", email: "b@x.example", displayName: "", roles: [])),
            .users(.setRoles("bob", add: ["operator"], remove: ["user"])), .users(.resetPassword("bob")),
            .users(.approveKey("bob", fingerprint: "ab:cd")), .users(.delete("bob")),
            .users(.edit("bob", email: .keep, displayName: "Robert")), .users(.edit("bob", email: .clear, displayName: nil)),
            .users(.edit("bob", email: .set("r@x.example"), displayName: nil)),
            .users(.setExpiry("bob", at: 1_700_000_000_000)), .users(.setExpiry("bob", at: nil)),
            .roles(.load), .roles(.create("ops", description: "d", permissions: [.secretsList, .usersRead])),
            .roles(.edit("ops", description: nil, permissions: [.auditRead])), .roles(.edit("ops", description: "x", permissions: nil)),
            .roles(.delete("ops")),
            .secrets(.page(Self.q(.last))), .secrets(.count(ListCount(id: 9))), .secrets(.loadVersions("db")),
            .secrets(.reveal("db", version: 3)),
            .secrets(.create(name: "db", value: .typed(typed), description: "d", rotateBy: 5, historyLimit: 10)),
            .secrets(.create(name: "db", value: .generated(length: 32, alphabet: .hex), description: "", rotateBy: nil, historyLimit: nil)),
            .secrets(.addVersion("db", .typed(typed))),
            .secrets(.edit("db", SecretEdit(description: "new", rotateBy: .clear, historyLimit: .set(4)))),
            .secrets(.edit("db", SecretEdit(rotateBy: .set(99), historyLimit: .clear))), .secrets(.edit("db", SecretEdit())),
            .secrets(.deleteVersion("db", version: 2)), .secrets(.delete("db")),
            .keys(.load), .keys(.rotateDataKey), .keys(.resumeRotation), .keys(.finishInterruptedRotation), .keys(.rotateRootKey),
            .audit(.page(Self.q(.around(Int64(42))))), .audit(.count(ListCount(id: 10))), .audit(.verify)
        ]
        for effect in effects {
            let (back, m) = try roundTrip(effect)
            // Sensitive values compare by identity: those effects are checked by their JSON and values.
            if m.values.isEmpty { #expect(back == effect) }
            #expect(!contains(m.json, "typed-secret-1"), "a typed value in the JSON of \(effect)")
        }
    }

    @Test func everyResultRoundTripsAndSecretsTravelBesideTheJSON() throws {
        let f = try Fixture()
        let s = f.admin
        _ = try f.user("carol", roles: ["user"])
        try s.createSecret("db/password", .value(try SecureBytes(utf8: "revealed-secret-2")), rotateBy: f.clock.now + 1000)
        let runner = CoreRunner(session: s)
        // Real results, read from the vault.
        var actions: [Action] = [
            .dashboard(.load(dueWithin: 86_400_000)), .users(.page(Self.q(.first))), .users(.loadRoles), .roles(.load),
            .secrets(.page(Self.q(.first))), .secrets(.loadVersions("db/password")), .secrets(.reveal("db/password", version: 1)),
            .keys(.load), .audit(.page(Self.q(.first))), .audit(.verify), .dashboard(.count),
            .users(.count(ListCount(id: 8))), .secrets(.count(ListCount(id: 9))), .audit(.count(ListCount(id: 10)))
        ].map { runner.run($0, progress: nil) }
        let temp = try SecureBytes(utf8: "temporary-secret-3"), recovery = try SecureBytes(utf8: "recovery-secret-4")
        let account = Account(username: "admin", permissions: [.secretsRead], hasKeyAccess: true, pendingKeyFingerprint: "ab")
        actions += [
            .users(.changed(.lock, "carol")), .users(.created("dan", temporary: temp)),
            .users(.rolesSet("carol", changed: 1, stoppedBy: "refused")), .users(.rolesSet("carol", changed: 2, stoppedBy: nil)),
            .users(.passwordReset("carol", temporary: temp)), .users(.keyApproved("carol")), .users(.deleted("carol", checkpointed: true)),
            .users(.edited("carol")), .users(.expirySet("carol", at: 5)), .users(.expirySet("carol", at: nil)),
            .roles(.saved("ops", created: true, account)), .roles(.deleted("ops")),
            .secrets(.saved(.created("a"))), .secrets(.saved(.versionAdded("a", version: 2))),
            .secrets(.saved(.edited("a", ["description"]))), .secrets(.versionDeleted("a", version: 1, checkpointed: false)),
            .secrets(.deleted("a", checkpointed: true)),
            .keys(.rotationProgress(done: 3, total: 9)),
            .keys(.rotationFinished(RotationResult(targetVersion: 2, resealed: 9, destroyed: [1], checkpointed: true))),
            .keys(.rotationFinished(nil)), .keys(.rotationElsewhere("another process")),
            .keys(.rootRotated(recoveryKey: recovery, rootVersion: 2)),
            .failed(.secrets(.reveal("x", version: 1)), "no secret x"), .sessionEnded("disabled"), .vaultReplaced("moved")
        ]
        var secrets = 0
        for action in actions {
            let wire = try #require(RunnerAction(action), "not a runner's action: \(action)")
            let (back, m) = try roundTrip(ConsoleReply.action(wire))
            guard case .action = back else { Issue.record("came back as something else"); continue }
            for secret in ["revealed-secret-2", "temporary-secret-3", "recovery-secret-4"] {
                #expect(!contains(m.json, secret), "\(secret) inside the JSON of \(action)")
            }
            secrets += m.values.count
        }
        #expect(secrets == 4, "the reveal, two temporary passwords and the recovery key went beside the JSON")
        // The revealed value arrives whole, in its own guarded memory.
        let m = try AgentMessage.encode(ConsoleReply.action(try #require(RunnerAction(actions[6]))))
        guard case .action(.secrets(.revealed("db/password", 1, let value))) = try m.decode(ConsoleReply.self) else {
            Issue.record("not a reveal"); return
        }
        #expect(value.utf8String() == "revealed-secret-2")
        // A list's count comes back with its id and the rows counted (admin and carol).
        let counted = try AgentMessage.encode(ConsoleReply.action(try #require(RunnerAction(actions[11]))))
        guard case .action(.users(.counted(let c))) = try counted.decode(ConsoleReply.self) else {
            Issue.record("not a count"); return
        }
        #expect(c == ListCount(id: 8, rows: 2))
        try roundTrip(ConsoleReply.account(account))
        try roundTrip(ConsoleRequest.account)
    }

    @Test func aSecretIsNeverEncodedIntoPlainJSON() throws {
        let value = try SecureBytes(utf8: "never-json-5")
        #expect(throws: EncodingError.self) { try JSONEncoder().encode([value]) }
        // An index with no value beside it is refused, not read as something else.
        #expect(throws: DecodingError.self) { try AgentMessage(json: Array("[0]".utf8)).decode([SecureBytes].self) }
    }
}
