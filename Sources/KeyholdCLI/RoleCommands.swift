import ArgumentParser
import Foundation
import KeyholdCore

/// `keyhold role ...`
struct RoleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "role", abstract: "Manage roles and their permissions.",
        subcommands: [List.self, Show.self, Add.self, Edit.self, Delete.self])

    static func json(_ r: RoleInfo) -> [String: Any] {
        [
            "name": r.name, "description": r.description, "builtin": r.builtin,
            "permissions": r.permissions.sorted().map(\.rawValue), "members": r.members
        ]
    }

    static func permissions(_ names: [String]) throws -> Set<Permission> {
        var out = Set<Permission>()
        for n in names.flatMap({ $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }) where !n.isEmpty {
            do { out.insert(try Permission.parse(n)) } catch { throw KeyholdError.invalid(error) }
        }
        return out
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List roles with their permissions.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        func run() throws {
            try runReporting {
                let roles = try session.session().roles()
                if output.json { try Output.printJSON(["roles": roles.map(RoleCommand.json)]); return }
                try Terminal.out(
                    Output.table(
                        ["ROLE", "KIND", "MEMBERS", "PERMISSIONS"],
                        roles.map {
                            [
                                $0.name, $0.builtin ? "built-in" : "custom", String($0.members),
                                $0.permissions.sorted().map(\.rawValue).joined(separator: ",")
                            ]
                        }))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a role and its permission matrix.")
        @OptionGroup var session: SessionOptions
        @OptionGroup var output: JSONFlag
        @Argument(completion: .custom(Completions.roles)) var name: String
        func run() throws {
            try runReporting {
                let r = try session.session().role(named: name)
                if output.json { try Output.printJSON(RoleCommand.json(r)); return }
                try Terminal.out(
                    "\(Validate.visible(r.name)) (\(r.builtin ? "built-in" : "custom"), \(r.members) member(s)): \(Validate.visible(r.description))"
                )
                try Terminal.out(
                    Output.table(
                        ["PERMISSION", "GRANTED"],
                        Permission.allCases.map {
                            [$0.rawValue, r.permissions.contains($0) ? "yes" : "-"]
                        }))
            }
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a custom role.")
        @OptionGroup var session: SessionOptions
        @Argument var name: String
        @Option(name: .customLong("permission"), help: "A permission (repeatable, or comma-separated).") var permissions: [String] = []
        @Option var description: String = ""
        func run() throws {
            try runReporting {
                try session.session().createRole(name, description: description, permissions: try RoleCommand.permissions(permissions))
                Terminal.err("Role \(Validate.visible(name)) created.")
            }
        }
    }

    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a role's description or permissions.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.roles)) var name: String
        @Option(name: .customLong("permission"), help: "The complete new permission list (repeatable, or comma-separated).")
        var permissions: [String] = []
        @Flag(name: .customLong("no-permissions"), help: "Remove every permission.") var none = false
        @Option var description: String?
        func run() throws {
            try runReporting {
                let perms: Set<Permission>? = none ? [] : permissions.isEmpty ? nil : try RoleCommand.permissions(permissions)
                guard perms != nil || description != nil else {
                    throw ArgumentParser.ValidationError("nothing to change: give --permission, --no-permissions or --description")
                }
                try session.session().editRole(name, description: description, permissions: perms)
                Terminal.err("Role \(Validate.visible(name)) updated.")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a role nobody holds.")
        @OptionGroup var session: SessionOptions
        @Argument(completion: .custom(Completions.roles)) var name: String
        @Flag(help: "Do not ask to type the name back (needed without a terminal).") var yes = false
        func run() throws {
            try runReporting {
                try Confirm.typed(name, action: "delete role", skip: yes)
                try session.session().deleteRole(name)
                Terminal.err("Role \(Validate.visible(name)) deleted.")
            }
        }
    }
}
