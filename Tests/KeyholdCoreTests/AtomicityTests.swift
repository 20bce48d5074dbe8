import Foundation
import Synchronization
import KeyholdTestSupport
import Testing
@testable import KeyholdCore
import KeyholdStore

// Every Session operation is one transaction: a failure
// injected after the work, or after the audit event, leaves every table as it
// was, byte for byte. Validation and guard failures write nothing either.

// MARK: - Shared helpers (also used by UserLifecycleTests)

/// Every row of every table of a vault, rendered deterministically. Compared,
/// never printed: the rows hold password hashes and ciphertexts.
struct TableDump: Equatable, CustomStringConvertible, CustomTestStringConvertible {
    /// (table, rows) in sqlite_master order; each row is its columns sorted by name.
    let tables: [(name: String, rows: [String])]

    static func == (a: TableDump, b: TableDump) -> Bool {
        a.tables.count == b.tables.count && zip(a.tables, b.tables).allSatisfy { $0.name == $1.name && $0.rows == $1.rows }
    }

    init(_ store: Store) throws {
        let names = try store.unsafeQuery("SELECT name FROM sqlite_master WHERE type = 'table'")
            .compactMap { $0["name", default: nil] as? String }
        tables = try names.map { name in
            // Every declared column, in order: unsafeQuery leaves NULL columns out of its dictionaries.
            let columns = try store.unsafeQuery("SELECT name FROM pragma_table_info(?) ORDER BY cid", arguments: [name])
                .compactMap { $0["name", default: nil] as? String }
            let quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            let rows = try store.unsafeQuery("SELECT * FROM \(quoted)").map { row in
                precondition(Set(row.keys).isSubset(of: columns), "a column of \(name) is missing from its table_info")
                return columns.map { column in "\(column)=\(TableDump.render(row[column, default: nil]))" }.joined(separator: "|")
            }
            return (name, rows)
        }
    }

    init(_ f: Fixture) throws { try self.init(f.vault.store) }

    private static func render(_ value: (any Sendable)?) -> String {
        switch value {
        case nil: "NULL"
        case let i as Int64: "i:\(i)"
        case let d as Double: "r:\(d.bitPattern)"
        case let s as String: "t:" + Array(s.utf8).map { String(format: "%02x", $0) }.joined()
        case let b as [UInt8]: "x:" + b.map { String(format: "%02x", $0) }.joined()
        case let other?: "?:\(type(of: other))"
        }
    }

    /// Which tables differ from `other` and how many rows each has (never the rows themselves).
    func differences(from other: TableDump) -> String {
        let mine = Dictionary(tables.map { ($0.name, $0.rows) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.tables.map { ($0.name, $0.rows) }, uniquingKeysWith: { a, _ in a })
        let names = Set(mine.keys).union(theirs.keys).sorted()
        let diffs = names.filter { mine[$0] != theirs[$0] }
            .map { "\($0) (\(theirs[$0]?.count ?? 0) rows -> \(mine[$0]?.count ?? 0) rows)" }
        return diffs.isEmpty ? "no difference" : "changed: " + diffs.joined(separator: ", ")
    }

    var rowCount: Int { tables.reduce(0) { $0 + $1.rows.count } }

    /// Never the rows: they hold hashes and ciphertexts.
    var description: String { "TableDump(\(tables.count) tables, \(rowCount) rows)" }
    var testDescription: String { description }
}

/// The error a test's fault hook throws.
struct InjectedFault: Error, Equatable {
    let point: FaultPoint
}

/// A thread-safe switch for `Fixture(fault:)`: throws at the armed point, records every point reached.
final class FaultSwitch: Sendable {
    private let state = Mutex<(armed: FaultPoint?, hits: [FaultPoint])>((nil, []))

    func arm(_ point: FaultPoint?) { state.withLock { $0.armed = point } }
    var hits: [FaultPoint] { state.withLock { $0.hits } }
    func clearHits() { state.withLock { $0.hits = [] } }

    /// The hook itself.
    func reach(_ point: FaultPoint) throws {
        let armed = state.withLock { s -> Bool in
            s.hits.append(point)
            return s.armed == point
        }
        if armed { throw InjectedFault(point: point) }
    }
}

// MARK: - The operations under test

/// A vault with an admin, an operator (bob, key holder), a helpdesk user
/// (dave), an unused custom role and a secret with two versions.
struct AtomicitySetup {
    let faults = FaultSwitch()
    let f: Fixture
    let bob: Session

    init() throws {
        let faults = self.faults
        f = try Fixture(fault: { try faults.reach($0) })
        bob = try f.user("bob", roles: ["operator"])
        _ = try f.user("dave", roles: ["helpdesk"], password: "lilac giraffes hum softly")
        try f.admin.createRole("custom", description: "unused", permissions: [.usersRead])
        try f.admin.createSecret("app/db", .value(pw("first value of app db")))
        try f.admin.addVersion("app/db", .value(pw("second value of app db")))
    }
}

enum AtomicOp: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case createUser, editUser, lockUser, resetPassword, deleteUser, grantRole, revokeRole
    case createRole, editRole, deleteRole
    case createSecret, addVersion, setSecret, reveal, deleteSecret, deleteVersion, setRotateBy, editSecret
    case changePassword, updateSettings

    var testDescription: String { rawValue }

    func run(_ s: AtomicitySetup) throws {
        let admin = s.f.admin
        switch self {
        case .createUser: _ = try admin.createUser(username: "newbie", email: "newbie@example.com", roles: ["operator"])
        case .editUser: try admin.editUser("bob", email: .some("bob@example.com"), displayName: "Bob Builder")
        case .lockUser: try admin.lockUser("bob")
        case .resetPassword: _ = try admin.resetPassword("bob")
        case .deleteUser: _ = try admin.deleteUser("bob")
        case .grantRole: try admin.grantRole("dave", role: "operator")  // confers key access: seals a grant
        case .revokeRole: try admin.revokeRole("bob", role: "operator")  // removes key access: grant + warning
        case .createRole: try admin.createRole("newrole", description: "new", permissions: [.auditRead, .usersRead])
        case .editRole: try admin.editRole("operator", description: "changed", permissions: [.usersRead, .secretsList])
        case .deleteRole: try admin.deleteRole("custom")
        case .createSecret: try admin.createSecret("app/new", .generated(length: 32, alphabet: .alnum))
        case .addVersion: try admin.addVersion("app/db", .value(pw("third value of app db")))
        // A new version with a new description and rotate-by date: all or nothing.
        case .setSecret:
            try admin.setSecret(
                "app/db", .value(pw("third value of app db")), description: "the database",
                rotateBy: s.f.clock.now + Clock.day)
        case .reveal: _ = try admin.reveal("app/db")
        case .deleteSecret: _ = try admin.deleteSecret("app/db")
        case .deleteVersion: _ = try admin.deleteVersion("app/db", version: 1)
        case .setRotateBy: try admin.setRotateBy("app/db", at: s.f.clock.now + Clock.day)
        case .editSecret:
            // Description, date and a lower history limit (which deletes a version) in one transaction.
            try admin.editSecret("app/db", description: "edited", rotateBy: .some(s.f.clock.now + Clock.day), historyLimit: .some(1))
        case .changePassword: try s.bob.changePassword(current: pw(userPassword), new: pw("mauve otters juggle quietly"))
        case .updateSettings:
            try admin.updateSettings(
                passwordMinLength: 14, historyLimit: 5,
                kdf: KDFCost(opslimit: 2, memlimit: KDFCost.insecureMinimumForTests.memlimit))
        }
    }
}

@Suite struct AtomicityTests {

    @Test(arguments: AtomicOp.allCases)
    func faultLeavesEveryTableUnchanged(_ op: AtomicOp) throws {
        let s = try AtomicitySetup()
        for point in FaultPoint.allCases {
            let before = try TableDump(s.f)
            s.faults.clearHits()
            s.faults.arm(point)
            let error = #expect(throws: InjectedFault.self, "\(op) with a fault \(point)") { try op.run(s) }
            s.faults.arm(nil)
            #expect(error?.point == point, "\(op): the fault \(point) was reached")
            let after = try TableDump(s.f)
            #expect(after == before, "\(op) with a fault \(point): \(after.differences(from: before))")
        }
        // Disarmed, the same operation goes through and changes the vault: the fault was what stopped it.
        let before = try TableDump(s.f)
        s.faults.clearHits()
        try op.run(s)
        #expect(s.faults.hits.starts(with: [.beforeAudit, .beforeCommit]), "\(op) passed both fault points")
        let after = try TableDump(s.f)
        #expect(after != before, "\(op) changed nothing when it succeeded")
        let events = { (d: TableDump) in d.tables.first { $0.name == "audit_events" }?.rows.count ?? -1 }
        #expect(events(after) == events(before) + 1, "\(op) appended its one audit event")
        #expect(try s.f.login("admin", adminPassword).verifyAudit().ok)
    }

    @Test func theDumpSeesEveryKindOfChange() throws {
        // The comparison above would pass vacuously if the dump missed tables; it holds them all.
        let s = try AtomicitySetup()
        let dump = try TableDump(s.f)
        let names = Set(dump.tables.map(\.name))
        for table in [
            "vault", "data_keys", "roles", "role_permissions", "users", "user_roles", "user_keys", "grants",
            "secrets", "secret_versions", "audit_events"
        ] {
            #expect(names.contains(table), "dump holds \(table)")
        }
        for t in dump.tables where ["users", "user_keys", "grants", "secret_versions", "audit_events"].contains(t.name) {
            #expect(!t.rows.isEmpty, "\(t.name) has rows in the setup")
        }
        // A change to one value of one row shows.
        try s.f.vault.store.unsafeExecute("UPDATE grants SET created_at = created_at + 1 WHERE user_id = 1")
        #expect(try TableDump(s.f) != dump)
    }

    @Test func failuresBeforeOrInsideTheTransactionWriteNothing() throws {
        let s = try AtomicitySetup()
        let admin = s.f.admin
        let big = try SecureBytes(utf8: String(repeating: "v", count: 64 * 1024 + 1))
        // (what, the field an .invalid error must name, or nil for another KeyholdError)
        let cases: [(String, String?, () throws -> Void)] = [
            ("short username", "username", { _ = try admin.createUser(username: "x") }),
            ("bad email", "email", { _ = try admin.createUser(username: "okname", email: "someone@nodot") }),
            ("bidi display name", "display name", { _ = try admin.createUser(username: "okname", displayName: "evil\u{202E}name") }),
            ("edit with bad email", "email", { try admin.editUser("bob", email: .some("no at sign")) }),
            ("secret name with ..", "secret name", { try admin.createSecret("app/../etc", .value(pw("some value here"))) }),
            ("secret value too big", "secret value", { try admin.createSecret("app/big", .value(big)) }),
            ("zero-length token", "length", { try admin.addVersion("app/db", .generated(length: 0, alphabet: .alnum)) }),
            ("role name with space", "role name", { try admin.createRole("bad role", permissions: [.usersRead]) }),
            ("history limit 0", "history limit", { try admin.setHistoryLimit("app/db", 0) }),
            ("password minimum 3", "minimum password length", { try admin.updateSettings(passwordMinLength: 3) }),
            ("weak new password", "password", { try s.bob.changePassword(current: pw(userPassword), new: pw("short")) }),
            // Refused inside the transaction, after some work was done:
            ("lower KDF", "kdf", { try admin.updateSettings(historyLimit: 3, kdf: KDFCost(opslimit: 4, memlimit: 4096)) }),
            ("unknown role after insert", nil, { _ = try admin.createUser(username: "okname", roles: ["operator", "no-such-role"]) }),
            ("duplicate name", nil, { _ = try admin.createUser(username: "BOB") }),
            ("orphaning revoke", nil, { try admin.revokeRole("admin", role: "admin") }),
            ("self delete", nil, { _ = try admin.deleteUser("admin") }),
            ("missing version", nil, { _ = try admin.deleteVersion("app/db", version: 9) })
        ]
        for (what, field, body) in cases {
            let before = try TableDump(s.f)
            s.faults.clearHits()
            do {
                try body()
                Issue.record("\(what): expected an error")
            } catch KeyholdError.invalid(let e) {
                #expect(field == e.field, "\(what): field \(e.field)")
            } catch let e as KeyholdError {
                #expect(field == nil, "\(what): expected .invalid naming \(field ?? "-"), got \(e)")
            }
            #expect(s.faults.hits.isEmpty, "\(what) never reached the audit step")
            let after = try TableDump(s.f)
            #expect(after == before, "\(what): \(after.differences(from: before))")
        }
        // The revoke above would have removed the admin's grant; it is still there and still works.
        #expect(try admin.reveal("app/db").utf8String() == "second value of app db")
        #expect(try s.f.admin.keyStatus().revocationWarning == nil)
        #expect(try s.f.admin.verifyAudit().ok)
    }
}
