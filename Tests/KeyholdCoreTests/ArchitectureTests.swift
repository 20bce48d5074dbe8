import Foundation
import KeyholdTestSupport
import Testing

/// The layering rules of docs/ARCHITECTURE.md, checked on the source tree:
/// only the crypto layer imports libsodium, only the store imports GRDB,
/// the formats see only the core and do no I/O, and the front ends see
/// nothing but the core (the CLI also the formats).
@Suite struct ArchitectureTests {
    static let sources = Repository.root.appendingPathComponent("Sources")

    /// Every `import X` in every Swift file of a target folder.
    static func imports(of target: String) throws -> Set<String> {
        let dir = sources.appendingPathComponent(target)
        var found = Set<String>()
        let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ").map(String.init)
                guard let i = words.firstIndex(of: "import"), words[..<i].allSatisfy({ $0.hasPrefix("@") }),
                    i + 1 < words.count
                else { continue }
                // `import class M.T` names the module after the kind keyword.
                let name =
                    ["class", "struct", "enum", "protocol", "func", "var", "typealias"].contains(words[i + 1])
                    ? words[i + 2] : words[i + 1]
                found.insert(String(name.split(separator: ".")[0]))
            }
        }
        return found
    }

    /// No product target may import KeyholdTestSupport (Tests/KeyholdTestSupport): only the benchmark has it.
    static let allowed: [String: Set<String>] = [
        "KeyholdCrypto": ["CSodium", "Glibc"],
        // CSQLiteShim: the one SQLite call Swift cannot make (variadic sqlite3_db_config).
        "KeyholdStore": ["GRDB", "GRDBSQLite", "CSQLiteShim", "Foundation", "Synchronization"],
        "KeyholdCore": ["KeyholdCrypto", "KeyholdStore", "Foundation", "Synchronization"],
        // FoundationXML: XMLParser for KeePassXC files lives there on Linux.
        "KeyholdFormats": ["KeyholdCore", "Foundation", "FoundationXML"],
        "KeyholdCLI": ["KeyholdCore", "KeyholdFormats", "KeyholdAgent", "ArgumentParser", "Foundation"],
        // Only its Backend imports CNcurses (the ncursesw shim); the rest is pure Swift over the core.
        "KeyholdConsole": ["KeyholdCore", "CNcurses", "Foundation", "Synchronization"],
        // The console through the agent: the one target that knows both.
        "KeyholdConsoleAgent": ["KeyholdConsole", "KeyholdAgent", "KeyholdCore", "Foundation", "Synchronization"],
        // The agent calls the crypto layer only for Sodium.wipe of relayed bytes and SecureBytes for
        // the console's values (never libsodium itself).
        "KeyholdAgent": ["KeyholdCore", "KeyholdCrypto", "Foundation", "Synchronization"],
        "keyhold": ["KeyholdCLI", "KeyholdConsole", "KeyholdConsoleAgent", "Foundation"],
        // The console for its model, update and view over a large vault (not its Backend); the test
        // support for the cheap KDF its vaults are made with (the benchmark is no product).
        "KeyholdBench": ["KeyholdCore", "KeyholdStore", "KeyholdConsole", "KeyholdTestSupport", "Foundation", "Glibc"]
    ]

    @Test(arguments: allowed.keys.sorted())
    func targetImportsOnlyItsLayer(_ target: String) throws {
        let extra = try Self.imports(of: target).subtracting(Self.allowed[target]!)
        #expect(extra.isEmpty, "\(target) imports \(extra.sorted()), which its layer may not")
    }

    /// The formats are pure functions from bytes to entries and back: the CLI reads and writes
    /// the files, walks the pass store, runs gpg and talks to the terminal. Neither do they
    /// reach past the core's values into a session or a vault.
    @Test func formatsDoNoInputOrOutput() throws {
        let dir = Self.sources.appendingPathComponent("KeyholdFormats")
        let forbidden = [
            "FileManager", "FileHandle", "Process", "Pipe", "ProcessInfo", "fileURLWithPath", "contentsOfFile",
            "fopen", "O_RDONLY", "O_WRONLY", "STDIN_FILENO", "STDOUT_FILENO", "STDERR_FILENO", "isatty",
            "print", "getenv", "mkdir", "unlink", "Session", "Vault"
        ]
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count >= 5, "the formats' sources are where this test looks")
        for file in files {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            for word in forbidden {
                #expect(
                    text.range(of: "\\b\(word)\\b", options: .regularExpression) == nil,
                    "KeyholdFormats/\(file) uses \(word): I/O belongs to the CLI")
            }
        }
    }

    @Test func everyTargetIsChecked() throws {
        let dirs = try FileManager.default.contentsOfDirectory(atPath: Self.sources.path)
            .filter { !["CSodium", "CNcurses", "CNcursesw", "CSQLiteShim", "EmbedTool"].contains($0) }
        #expect(Set(dirs) == Set(Self.allowed.keys), "a new target needs its layer rule here")
    }
}
