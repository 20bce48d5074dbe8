import Foundation
import KeyholdTestSupport
import Testing

/// No user data can be spliced into SQL: in the store's sources, no SQL
/// string literal contains a string interpolation, apart from an exact
/// allow-list (PRAGMA names from a constant table, and `?` placeholder lists).
///
/// A small Swift lexer finds string literals (single-line, multi-line, raw)
/// outside comments and reports each interpolation in a literal that is
///   - part of an `sql:` argument (up to the `,` or `)` that ends it), or
///   - assigned to a variable named `sql` (`sql = ...`, `sql += ...`), or
///   - written with an upper-case SQL keyword (caught wherever it is built).
enum SQLInterpolationScanner {
    struct Finding: Equatable, CustomStringConvertible {
        var line: Int
        var text: String  // the trimmed source line holding the interpolation
        var description: String { "line \(line): \(text)" }
    }

    static let keywords = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "PRAGMA", "WHERE", "FROM", "VALUES", "LIKE",
        "ORDER BY", "GROUP BY", "LIMIT", "CREATE", "DROP", "ALTER", "VACUUM", "ATTACH", "JOIN", "SET",
        "IN", "AND", "OR"
    ]

    static func hasSQLKeyword(_ s: String) -> Bool {
        let words = s.split { !($0.isLetter || $0 == "_") }.map(String.init)
        let joined = " " + words.joined(separator: " ") + " "
        return keywords.contains { joined.contains(" " + $0 + " ") }
    }

    static func scan(_ source: String) -> [Finding] {
        let chars = Array(source)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var findings: [Finding] = []
        var i = 0, line = 1
        var depth = 0  // ( and [ nesting in code
        var sqlArgumentDepth: [Int] = []  // depths at which an `sql:` argument is open
        var sqlAssignment = false  // inside `sql = ...` / `sql += ...` until end of line

        func at(_ s: String, _ j: Int) -> Bool {
            let t = Array(s)
            return j + t.count <= chars.count && Array(chars[j..<j + t.count]) == t
        }
        func isIdent(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" }

        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; sqlAssignment = false; i += 1; continue }
            if at("//", i) { while i < chars.count && chars[i] != "\n" { i += 1 }; continue }
            if at("/*", i) {
                var nest = 0
                repeat {
                    if at("/*", i) {
                        nest += 1; i += 2
                    } else if at("*/", i) {
                        nest -= 1; i += 2
                    } else {
                        if chars[i] == "\n" { line += 1 }; i += 1
                    }
                } while nest > 0 && i < chars.count
                continue
            }
            // String literal, possibly raw (#...) and/or multi-line (""").
            var hashes = 0
            while i + hashes < chars.count && chars[i + hashes] == "#" { hashes += 1 }
            if i + hashes < chars.count && chars[i + hashes] == "\"" {
                let multi = at("\"\"\"", i + hashes)
                let close = (multi ? "\"\"\"" : "\"") + String(repeating: "#", count: hashes)
                let escape = "\\" + String(repeating: "#", count: hashes)
                var j = i + hashes + (multi ? 3 : 1)
                var literalLines: [Int] = []  // lines of interpolations in this literal
                var content = ""
                var l = line
                while j < chars.count && !at(close, j) {
                    if at(escape, j) {
                        let k = j + escape.count
                        if k < chars.count && chars[k] == "(" {
                            literalLines.append(l)
                            // Skip the balanced interpolated expression.
                            var d = 0
                            var m = k
                            repeat {
                                if chars[m] == "(" { d += 1 } else if chars[m] == ")" { d -= 1 }
                                if chars[m] == "\n" { l += 1 }
                                m += 1
                            } while d > 0 && m < chars.count
                            content += " "
                            j = m
                            continue
                        }
                        // Any other escape: skip the escaped character.
                        if k < chars.count { content.append(chars[k]); if chars[k] == "\n" { l += 1 } }
                        j = k + 1
                        continue
                    }
                    if chars[j] == "\n" { l += 1 }
                    content.append(chars[j])
                    j += 1
                }
                let isSQLContext = !sqlArgumentDepth.isEmpty || sqlAssignment || hasSQLKeyword(content)
                if isSQLContext {
                    for ln in literalLines { findings.append(Finding(line: ln, text: lines[ln - 1])) }
                }
                line = l
                i = j + close.count
                continue
            }
            if c == "(" || c == "[" { depth += 1; i += 1; continue }
            if c == ")" || c == "]" {
                depth -= 1
                while let d = sqlArgumentDepth.last, depth < d { sqlArgumentDepth.removeLast() }
                i += 1
                continue
            }
            if c == ",", let d = sqlArgumentDepth.last, d == depth { sqlArgumentDepth.removeLast(); i += 1; continue }
            if at("sql", i), i == 0 || !isIdent(chars[i - 1]), i + 3 >= chars.count || !isIdent(chars[i + 3]) {
                var k = i + 3
                while k < chars.count && (chars[k] == " " || chars[k] == "\t") { k += 1 }
                if at(":", k) && !at("::", k) {
                    // An argument label inside a call; at depth 0 it is a declaration (`var sql: String?`).
                    if depth > 0 { sqlArgumentDepth.append(depth) }
                } else if at("+=", k) || (at("=", k) && !at("==", k)) {
                    sqlAssignment = true
                }
                i = k
                continue
            }
            i += 1
        }
        return findings
    }
}

@Suite struct ParameterizationTests {
    static let storeSources = Repository.root.appendingPathComponent("Sources/KeyholdStore")

    /// The only interpolations allowed in SQL, by file and exact (trimmed) line.
    static let allowed: Set<String> = [
        // Store.swift: the PRAGMA-name loops over the constant Store.requiredPragmas table.
        "Store.swift: try db.execute(sql: \"PRAGMA \\(name) = \\(v)\")",
        "Store.swift: out[name] = try String.fetchOne(db, sql: \"PRAGMA \\(name)\")?.lowercased()",
        // Tx+Roles.swift: a list of `?` placeholders, one per bound permission.
        "Tx+Roles.swift: SELECT user_id FROM user_permissions WHERE permission IN (\\(marks))",
        // Tx+SecretBatch.swift: rows of `?` placeholders for the multi-row INSERTs of a batch.
        "Tx+SecretBatch.swift: \"INSERT INTO secrets (id, name, description, current_version, last_version, history_limit, rotate_by, created_at, updated_at, name_tag) VALUES \\(marks) ON CONFLICT(name) DO NOTHING\"",
        "Tx+SecretBatch.swift: return \"INSERT INTO secret_versions (secret_id, version, key_version, ciphertext, created_at, created_by) VALUES \\(marks)\""
    ]

    @Test func noStoreSQLLiteralInterpolatesAValue() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.storeSources.path)
            .filter { $0.hasSuffix(".swift") }.sorted()
        #expect(files.contains("Store.swift") && files.contains("Tx.swift"), "store sources not found at \(Self.storeSources.path)")
        var seenAllowed = Set<String>()
        for file in files {
            let text = try String(contentsOf: Self.storeSources.appendingPathComponent(file), encoding: .utf8)
            for finding in SQLInterpolationScanner.scan(text) {
                let key = "\(file): \(finding.text)"
                if Self.allowed.contains(key) {
                    seenAllowed.insert(key)
                } else {
                    Issue.record("\(file) \(finding): string interpolation in SQL; bind the value with ? instead")
                }
            }
        }
        // The scanner really sees the known interpolations (so an empty result means something).
        #expect(seenAllowed == Self.allowed, "allow-listed lines not found: \(Self.allowed.subtracting(seenAllowed).sorted())")
    }

    // MARK: The scanner itself

    static func lines(_ source: String) -> [Int] { SQLInterpolationScanner.scan(source).map(\.line) }

    @Test func scannerFlagsInterpolationInAnSQLArgument() {
        #expect(Self.lines(#"try db.execute(sql: "SELECT * FROM users WHERE name = '\(name)'")"#) == [1])
        #expect(Self.lines(#"try Row.fetchAll(db, sql: "x" + "\(clause)", arguments: [a])"#) == [1])
        #expect(Self.lines(#"try Row.fetchAll(db, sql: Tx.base + " WHERE id = \(id)")"#) == [1])
        #expect(Self.lines(#"try db.execute(sql : "DROP TABLE \(t)")"#) == [1])
    }

    @Test func scannerFlagsInterpolationInMultiLineSQL() {
        let source = "let a = 1\ntry db.execute(sql: \"\"\"\n    SELECT *\n    FROM t WHERE x = \\(x)\n    \"\"\", arguments: [])\n"
        #expect(Self.lines(source) == [4])
    }

    @Test func scannerFlagsRawStringInterpolationButNotRawBackslashes() {
        #expect(Self.lines("db.execute(sql: #\"SELECT \\#(x)\"#)") == [1])
        #expect(Self.lines("db.execute(sql: #\"SELECT '\\(x)'\"#)").isEmpty)
    }

    @Test func scannerFlagsSQLBuiltInAVariable() {
        #expect(Self.lines("var sql = \"SELECT \\(cols) FROM t\"") == [1])
        #expect(Self.lines("var sql = base\nsql += \" WHERE \\(cond)\"") == [2])
        #expect(Self.lines("sql = prefix + \"\\(rest)\"") == [1])
    }

    @Test func scannerFlagsSQLKeywordsAnywhere() {
        #expect(Self.lines("clauses.append(\"name = '\\(n)' AND x = 1\")") == [1])
        #expect(Self.lines("let q = \"DELETE FROM \\(table)\"") == [1])
    }

    @Test func scannerIgnoresWhatIsNotInterpolatedSQL() {
        #expect(Self.lines(#"try db.execute(sql: "SELECT * FROM t WHERE a LIKE ? ESCAPE '\\'", arguments: [p])"#).isEmpty)
        #expect(Self.lines(#"try db.execute(sql: "SELECT '\\(' FROM t")"#).isEmpty, "an escaped backslash is not interpolation")
        #expect(Self.lines(#"// try db.execute(sql: "SELECT \(x)")"#).isEmpty, "comments")
        #expect(Self.lines("/* sql: \"\\(x)\" /* nested */ */ let y = 1").isEmpty, "block comments")
        #expect(Self.lines(#"throw StoreError.io("cannot create \(path): \(reason)")"#).isEmpty, "messages")
        #expect(Self.lines(#"let sqlite = "\(x)""#).isEmpty, "an identifier that merely starts with sql")
        #expect(Self.lines(#"if sql == "\(x)" {}"#).isEmpty, "a comparison is not an assignment")
        #expect(
            Self.lines("public var sql: String?\nvar description: String { \"\\(type) \\(name)\" }").isEmpty,
            "a property named sql is not an sql: argument")
        #expect(
            Self.lines("try db.execute(sql: \"SELECT 1\", arguments: [\"\\(x)\"])").isEmpty,
            "arguments after the sql: argument are bound, not spliced")
    }

    @Test func scannerFindsTheRightLineAfterMultiLineLiterals() {
        let source = "let doc = \"\"\"\n  one\n  two\n  \"\"\"\ntry db.execute(sql: \"SELECT \\(x)\")\n"
        #expect(Self.lines(source) == [5])
    }
}
