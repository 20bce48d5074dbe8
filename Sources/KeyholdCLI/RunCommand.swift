import ArgumentParser
import Foundation
import KeyholdAgent
import KeyholdCore
import KeyholdFormats

/// `keyhold run [--prefix P [--exact-depth]] [--only NAME...] [--map NAME=VAR...] [--override] [--mask] -- CMD ARGS...`
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a program with secrets in its environment.",
        usage:
            "keyhold run [--prefix <prefix> [--exact-depth]] [--only <name> ...] [--map <name=VAR> ...] [--override] [--allow-env <VAR> ...] [--mask] -- <command> [<argument> ...]",
        discussion: """
            Chooses the secrets whose name starts with --prefix and those named with --only (both given: \
            the union; neither: every secret you may list). A prefix takes the names at any depth below \
            it: --prefix app/ takes app/SECRET_KEY and app/prod/SECRET_KEY; --exact-depth keeps only the \
            names directly under it (no further '/'). keyhold then reveals their current versions in one audited \
            hand-out (audit action secret.handout, naming the secrets, never their values) and starts \
            COMMAND with each as an environment variable. COMMAND is searched for in PATH unless it \
            contains a '/'. Without --mask keyhold replaces itself with COMMAND (execve), so signals, \
            the terminal and the exit status are the command's own.

            Variable names: the last path segment of the secret's name, upper-cased, with every character \
            other than A-Z and 0-9 replaced by '_', and a '_' put in front of a leading digit:
              app/prod/db-password  ->  DB_PASSWORD
              app/prod/2fa.seed     ->  _2FA_SEED
            --map NAME=VAR gives secret NAME the variable VAR instead. Two secrets on one variable are \
            refused (exit 68), and so is a variable that is already set in the environment, unless \
            --override lets the secret replace it; one refusal lists every such variable with the secrets \
            behind it.

            A secret is never put in a variable that changes how programs load or start (LD_*, DYLD_*, \
            BASH_ENV, ENV, PATH, IFS, PYTHON*, NODE_OPTIONS, PERL5*, RUBYOPT, GIT_SSH_COMMAND and the rest \
            of the list in docs/CLI.md): such a variable is refused (exit 66), named, before anything is \
            revealed, unless --allow-env VAR names it.

            The values never appear in the command's argv and nothing is written to disk. KEYHOLD_PASSWORD \
            and KEYHOLD_NEW_PASSWORD are removed from the command's environment. A value holding a NUL byte \
            cannot be put in an environment variable and is refused (exit 64).

            --mask runs COMMAND as a child whose standard output and standard error pass through keyhold, \
            every occurrence of an injected value replaced by <redacted:NAME>. SIGINT, SIGTERM, SIGHUP and \
            SIGQUIT sent to keyhold are forwarded to the child (those from the terminal reach it directly); \
            keyhold exits with the child's exit status, or 128+N when signal N ended it. Masking is a safety \
            net for logs, not a boundary: a value the command transforms (encodes, escapes, splits) is not \
            recognised.

            With or without --mask, the command starts with no signal blocked; a signal ignored when keyhold \
            started stays ignored.

            Exit status: the command's; 127 when COMMAND is not found; 126 when it cannot be executed.
            """)

    @OptionGroup var session: SessionOptions

    @Option(help: "Hand out the secrets whose name starts with this text (e.g. app/prod/), at any depth below it.")
    var prefix: String?

    @Flag(
        name: .customLong("exact-depth"),
        help: "With --prefix: only the names directly under it (app/SECRET_KEY for --prefix app/, not app/prod/SECRET_KEY).")
    var exactDepth = false

    @Option(
        name: .customLong("only"), parsing: .upToNextOption,
        help: ArgumentHelp("Hand out these secrets (repeatable; several names may follow one --only).", valueName: "name"),
        completion: .custom(Completions.secretNames))
    var only: [String] = []

    @Option(name: .customLong("map"), help: ArgumentHelp("Put secret NAME in variable VAR (repeatable).", valueName: "name=VAR"))
    var maps: [String] = []

    @Flag(help: "Let a secret replace a variable that is already set in the environment.")
    var override = false

    @Option(
        name: .customLong("allow-env"),
        help: ArgumentHelp(
            "Let a secret set this variable although it changes how programs load or start (repeatable).",
            valueName: "VAR"))
    var allowEnv: [String] = []

    @Flag(help: "Pass the command's output through keyhold with every injected value replaced by <redacted:NAME>.")
    var mask = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The command and its arguments, after --.", valueName: "command"))
    var command: [String] = []

    /// Variables never passed on to the command.
    static let withheld = AgentClient.withheld

    func validate() throws {
        guard let first = command.first, !first.isEmpty else {
            throw ArgumentParser.ValidationError("give the command to run after --, e.g. keyhold run --prefix app/prod/ -- env")
        }
        _ = try RunCommand.parseMaps(maps)
        if exactDepth && prefix == nil {
            throw ArgumentParser.ValidationError("--exact-depth: needs --prefix (it keeps only the names directly under the prefix)")
        }
        for name in allowEnv where !Handout.isVariableName(name) {
            throw ArgumentParser.ValidationError(
                "--allow-env \(Validate.visible(name)): not a variable name (letters, digits and '_', not starting with a digit)")
        }
    }

    func run() throws {
        var environment: Handout.Environment?
        var program = ""
        var plannedEntries: [Handout.Entry] = []
        try runReporting {
            let s = try session.session()
            let names = try chooseSecrets(s)
            let inherited = Handout.currentEnvironment().filter { !RunCommand.withheld.contains($0.name) }
            let plan = try Handout.plan(
                names: names, maps: try RunCommand.parseMaps(maps),
                existing: Set(inherited.map(\.name)), override: override, prefix: prefix)
            try Handout.refuseLoaderVariables(plan, allowed: Set(allowEnv))
            plannedEntries = plan
            program = try Handout.resolve(command[0])  // before the reveal: a missing command hands out nothing
            // One audited hand-out, streamed into one guarded buffer sized from the values' lengths.
            try s.revealEach(
                plan.map(\.name), purpose: .handout,
                sizes: { environment = try Handout.Environment(plan: plan, sizes: $0, inherited: inherited) },
                visit: { i, value in
                    guard let environment else { throw KeyholdError.integrity("hand-out: a value came before its size") }
                    try environment.set(i, value)
                })
        }
        guard let environment else { throw ExitCode(Exit.failure) }
        // Through an agent: the client starts the program, where the person and the terminal are.
        if let start = Terminal.io.start {
            try runReporting {
                var values = environment.values()
                defer { Bytes.wipe(&values) }
                environment.wipe()
                try start(
                    RunStart(
                        program: program, arguments: command, mask: mask, plan: plannedEntries, values: values,
                        sizes: environment.valueSizes))
            }
            return
        }
        if mask {
            throw ExitCode(try Handout.spawnMasked(program, arguments: command, environment: environment))
        }
        let error = Handout.exec(program, arguments: command, environment: environment)
        Terminal.err("keyhold: \(Validate.visible(command[0])): cannot execute: \(String(cString: strerror(error)))")
        throw ExitCode(error == ENOENT ? 127 : 126)
    }

    /// The names chosen by --prefix and --only (sorted, each once); all secrets when neither is given.
    private func chooseSecrets(_ s: Session) throws -> [String] {
        var names = Set(only)
        if let prefix {
            // The store matches the prefix without regard to case; a hand-out matches it exactly.
            names.formUnion(
                try s.secrets(prefix: prefix).map(\.name).filter {
                    $0.hasPrefix(prefix) && !(exactDepth && $0.dropFirst(prefix.count).contains("/"))
                })
            if names.isEmpty {
                Terminal.err(
                    "keyhold: no secret's name starts with \(Validate.visible(prefix))"
                        + (exactDepth ? " without a further / (--exact-depth)" : ""))
                throw ExitCode(Exit.notFound)
            }
        } else if only.isEmpty {
            names.formUnion(try s.secrets().map(\.name))
        }
        return names.sorted()
    }

    /// `NAME=VAR` pairs, each VAR a valid variable name and each NAME given once.
    static func parseMaps(_ maps: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for m in maps {
            guard let eq = m.firstIndex(of: "="), eq != m.startIndex else {
                throw ArgumentParser.ValidationError("--map \(Validate.visible(m)): expected NAME=VAR")
            }
            let name = String(m[..<eq]), variable = String(m[m.index(after: eq)...])
            guard Handout.isVariableName(variable) else {
                throw ArgumentParser.ValidationError(
                    "--map \(Validate.visible(m)): '\(Validate.visible(variable))' is not a variable name (letters, digits and '_', not starting with a digit)"
                )
            }
            guard out[name] == nil else { throw ArgumentParser.ValidationError("--map: \(Validate.visible(name)) is mapped twice") }
            out[name] = variable
        }
        return out
    }
}

/// The mechanics of `keyhold run`: naming, the environment, exec and the masking pipe.
enum Handout {
    struct Entry: Equatable, Codable { var name: String; var variable: String }

    /// `app/prod/db-password` -> `DB_PASSWORD`: the last path segment, upper-cased, every
    /// character other than A-Z and 0-9 replaced by `_`, and `_` before a leading digit.
    static func variableName(for secret: String) -> String {
        let segment = secret.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? secret
        var out = String(
            segment.unicodeScalars.map { c -> Character in
                switch c {
                case "a"..."z": Character(Unicode.Scalar(c.value - 32)!)
                case "A"..."Z", "0"..."9": Character(c)
                default: "_"
                }
            })
        if out.first?.isNumber ?? true { out = "_" + out }
        return out
    }

    static func isVariableName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Pairs each chosen secret with its variable; refuses clashes (between secrets always,
    /// with the environment unless `override`) and --map entries for secrets not chosen.
    /// Every clash is named in one refusal (each variable with the secrets behind it), so
    /// one run shows all there is to fix. `prefix` only shapes the advice given.
    static func plan(
        names: [String], maps: [String: String], existing: Set<String>, override: Bool,
        prefix: String? = nil
    ) throws -> [Entry] {
        let chosen = Set(names)
        if let stray = maps.keys.sorted().first(where: { !chosen.contains($0) }) {
            throw KeyholdError.invalid(
                KeyholdCore.ValidationError(
                    field: "--map", rule: .chosen,
                    message: "--map \(stray)=\(maps[stray]!): \(stray) is not among the chosen secrets (see --prefix and --only)"))
        }
        var byVariable: [String: [String]] = [:]
        var out: [Entry] = []
        for name in names {
            let variable = maps[name] ?? variableName(for: name)
            byVariable[variable, default: []].append(name)
            out.append(Entry(name: name, variable: variable))
        }
        let shared = byVariable.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
        let taken = override ? [] : byVariable.filter { existing.contains($0.key) }.sorted { $0.key < $1.key }
        guard shared.isEmpty && taken.isEmpty else {
            throw KeyholdError.conflict(clashReport(shared: shared, taken: taken, prefix: prefix))
        }
        return out
    }

    /// The refusal for clashing variables: one line per variable, naming the secrets behind
    /// it, then what to do about each kind.
    static func clashReport(
        shared: [(key: String, value: [String])], taken: [(key: String, value: [String])],
        prefix: String?
    ) -> String {
        var parts: [String] = []
        if !shared.isEmpty {
            parts.append("\(shared.count) variable\(shared.count == 1 ? "" : "s") would get more than one secret")
        }
        if !taken.isEmpty {
            parts.append("\(taken.count) variable\(taken.count == 1 ? " is" : "s are") already set in the environment")
        }
        var lines = [parts.joined(separator: ", and ") + "; nothing was revealed:"]
        let takenNames = Set(taken.map(\.key))
        let clashing = Dictionary((shared + taken).map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        for (variable, secrets) in clashing.sorted(by: { $0.key < $1.key }) {
            lines.append(
                "  \(variable) <- \(secrets.joined(separator: ", "))"
                    + (takenNames.contains(variable) ? " (already set in the environment)" : ""))
        }
        var advice: [String] = []
        if !shared.isEmpty {
            if let prefix,
                shared.contains(where: { $0.value.contains { $0.hasPrefix(prefix) && $0.dropFirst(prefix.count).contains("/") } })
            {
                advice.append("--prefix \(prefix) includes the names below it; --exact-depth takes only the names directly under it")
            }
            advice.append("give a secret its own variable with --map NAME=VAR")
        }
        if !taken.isEmpty { advice.append("rename with --map NAME=VAR, or let the secrets replace those variables with --override") }
        lines.append(advice.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }

    // MARK: Variables that change how programs load or start

    /// Variables a secret may not set unless named with --allow-env: each would let the value
    /// decide what code the command (or a program it starts) loads or runs. docs/CLI.md lists
    /// them; matched exactly (environment names are case-sensitive).
    static let loaderVariables: Set<String> = [
        // Shells
        "BASH_ENV", "ENV", "PATH", "IFS", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "ZDOTDIR", "GLOBIGNORE",
        // The C library (what glibc drops for setuid programs, and its tunables)
        "GCONV_PATH", "GETCONF_DIR", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF",
        "RES_OPTIONS", "TZDIR", "GLIBC_TUNABLES",
        // Interpreters and runtimes
        "NODE_OPTIONS", "NODE_PATH", "PERLLIB", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
        "CLASSPATH", "PHPRC", "PHP_INI_SCAN_DIR", "LUA_INIT", "LUA_PATH", "LUA_CPATH", "TCLLIBPATH", "R_PROFILE", "R_PROFILE_USER",
        "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
        // Git: what it runs, and where its configuration (and so its hooks and commands) comes from
        "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_ASKPASS", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_PAGER",
        "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF", "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT", "GIT_TEMPLATE_DIR", "GIT_DIR",
        // Programs other tools start
        "EDITOR", "VISUAL", "PAGER", "LESSOPEN", "LESSCLOSE", "SSH_ASKPASS", "SUDO_ASKPASS", "BROWSER"
    ]

    /// Prefixes of the same: every variable that starts with one of these.
    static let loaderPrefixes = [
        "LD_", "DYLD_", "PYTHON", "PERL5", "MALLOC_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_",
        "LUA_INIT_", "LUA_PATH_", "LUA_CPATH_"
    ]

    /// The rule that refuses `variable` (the name itself, or a prefix followed by `*`), or nil.
    static func loaderRule(_ variable: String) -> String? {
        if loaderVariables.contains(variable) { return variable }
        return loaderPrefixes.first { variable.hasPrefix($0) }.map { $0 + "*" }
    }

    /// Refuses a plan that puts a secret in a loader or interpreter variable not named in `allowed`,
    /// before anything is revealed.
    static func refuseLoaderVariables(_ plan: [Entry], allowed: Set<String>) throws {
        for entry in plan where !allowed.contains(entry.variable) {
            guard let rule = loaderRule(entry.variable) else { continue }
            let matched = rule == entry.variable ? "" : " (\(rule))"
            throw KeyholdError.refused(
                "secret \(entry.name) would set \(entry.variable)\(matched), which changes how programs load or start; "
                    + "nothing was revealed. Map it to another name with --map \(entry.name)=VAR, or, if the command "
                    + "should get it, allow it with --allow-env \(entry.variable)")
        }
    }

    // MARK: Environment

    /// The environment the command would inherit as raw entries: this process's (bytes kept
    /// as they are), or, for a command an agent runs, its client's.
    static func currentEnvironment() -> [(name: String, entry: [UInt8])] {
        if Terminal.io.start != nil {
            return Terminal.environment.sorted { $0.key < $1.key }.map { ($0.key, Array("\($0.key)=\($0.value)".utf8)) }
        }
        return processEnvironment()
    }

    /// This process's environment as raw entries.
    static func processEnvironment() -> [(name: String, entry: [UInt8])] {
        var out: [(String, [UInt8])] = []
        guard var p = environPointer() else { return [] }
        while let entry = p.pointee {
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self), count: strlen(entry)))
            let name =
                bytes.firstIndex(of: UInt8(ascii: "=")).map { String(decoding: bytes[..<$0], as: UTF8.self) }
                ?? String(decoding: bytes, as: UTF8.self)
            out.append((name, bytes))
            p += 1
        }
        return out
    }

    /// `environ`, read through the dynamic linker (Swift 6 refuses the mutable C global).
    private static func environPointer() -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "environ") else { return nil }  // RTLD_DEFAULT
        return symbol.assumingMemoryBound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self).pointee
    }

    /// The command's environment: the inherited variables (less the withheld and those a secret
    /// replaces) and then `VAR=value` for each secret. The secrets' entries lie one after another
    /// in one guarded buffer, never in ordinary memory, wiped as soon as the command has started
    /// (or failed to).
    final class Environment {
        private let inherited: [[UInt8]]
        private let plan: [Entry]
        /// Where each secret's entry starts in `block`, and its value's length.
        private let starts: [Int]
        private let sizes: [Int]
        private let block: GuardedBuffer

        init(plan: [Entry], sizes: [Int], inherited: [(name: String, entry: [UInt8])]) throws {
            let replaced = Set(plan.map(\.variable))
            self.inherited = inherited.filter { !replaced.contains($0.name) }.map(\.entry)
            self.plan = plan
            self.sizes = sizes
            var starts: [Int] = [], total = 0
            for (entry, size) in zip(plan, sizes) {
                starts.append(total)
                total += entry.variable.utf8.count + 1 + size + 1  // VAR=value and its NUL
            }
            self.starts = starts
            block = try GuardedBuffer(capacity: total)
            block.withUnsafeMutableBytes { raw in
                for (k, entry) in plan.enumerated() {
                    let name = Array((entry.variable + "=").utf8)
                    name.withUnsafeBytes {
                        raw.baseAddress!.advanced(by: starts[k]).copyMemory(from: $0.baseAddress!, byteCount: name.count)
                    }
                    raw[starts[k] + name.count + sizes[k]] = 0
                }
            }
        }

        /// Puts the value of the `i`-th secret of the plan in place. A value holding a NUL byte
        /// cannot be an environment variable.
        func set(_ i: Int, _ value: UnsafeRawBufferPointer) throws {
            guard value.count == sizes[i] else {
                throw KeyholdError.integrity("secret \(plan[i].name): its value is of another length than announced")
            }
            if value.contains(0) {
                throw KeyholdError.invalid(
                    KeyholdCore.ValidationError(
                        field: "secret value", rule: .nul,
                        message: "secret \(plan[i].name): its value contains a NUL byte, which an environment variable cannot hold"))
            }
            block.withUnsafeMutableBytes { raw in
                if value.count > 0 {
                    raw.baseAddress!.advanced(by: starts[i] + plan[i].variable.utf8.count + 1)
                        .copyMemory(from: value.baseAddress!, byteCount: value.count)
                }
            }
        }

        /// A redactor of every value (`--mask`), holding its own copy.
        func redactor() throws -> Redactor {
            try block.withUnsafeMutableBytes { raw in
                try Redactor(
                    plan.indices.map { k in
                        let at = starts[k] + plan[k].variable.utf8.count + 1
                        return (plan[k].name, UnsafeRawBufferPointer(rebasing: raw[at..<at + sizes[k]]))
                    })
            }
        }

        /// Calls `body` with a NULL-terminated `envp`, valid only during the call.
        func withEnvp<R>(_ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
            let copies = inherited.map { CStrings.copy($0) }
            let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: copies.count + starts.count + 1)
            defer {
                for p in copies { explicit_bzero(p, strlen(p)); p.deallocate() }
                envp.deallocate()
            }
            return block.withUnsafeMutableBytes { raw in
                for (k, p) in copies.enumerated() { envp[k] = p }
                for (k, start) in starts.enumerated() {
                    envp[copies.count + k] = raw.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self)
                }
                envp[copies.count + starts.count] = nil
                return body(envp)
            }
        }

        /// Zeroes every secret's entry.
        func wipe() { block.wipe() }

        /// The length of each secret's value, in plan order.
        var valueSizes: [Int] { sizes }

        /// Every secret's value, one after another in plan order (for a client to rebuild the
        /// environment where it starts the program); the caller wipes them.
        func values() -> [UInt8] {
            block.withUnsafeMutableBytes { raw in
                var out: [UInt8] = []
                out.reserveCapacity(sizes.reduce(0, +))
                for k in plan.indices {
                    let at = starts[k] + plan[k].variable.utf8.count + 1
                    out.append(contentsOf: raw[at..<at + sizes[k]])
                }
                return out
            }
        }
    }

    // MARK: Finding and starting the program

    /// The path to execute: `command` itself when it holds a '/', else the first executable
    /// regular file named so in PATH. Throws exit 127 (not found) or 126 (not executable).
    static func resolve(_ command: String) throws -> String {
        if command.contains("/") {
            var st = stat()
            guard stat(command, &st) == 0 else { throw notFound(command) }
            guard (st.st_mode & S_IFMT) != S_IFDIR, access(command, X_OK) == 0 else {
                Terminal.err("keyhold: \(Validate.visible(command)): permission denied")
                throw ExitCode(126)
            }
            return command
        }
        let path = Terminal.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var denied: String?
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + command
            var st = stat()
            guard stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return candidate }
            denied = denied ?? candidate
        }
        if let denied {
            Terminal.err("keyhold: \(Validate.visible(denied)): permission denied")
            throw ExitCode(126)
        }
        throw notFound(command)
    }

    private static func notFound(_ command: String) -> ExitCode {
        Terminal.err("keyhold: \(Validate.visible(command)): command not found")
        return ExitCode(127)
    }

    /// Replaces this process with the program. Returns only on failure, with errno (the values wiped).
    static func exec(_ path: String, arguments: [String], environment: Environment) -> Int32 {
        let argv = CStrings(arguments.map { CStrings.copy(Array($0.utf8)) })
        // The command starts with no signal blocked (a mask inherited by keyhold is the accident
        // of its parent, e.g. a thread of a Dispatch pool); ignored signals stay ignored, and
        // SIGPIPE and SIGXFSZ, which keyhold ignores for itself, are as keyhold found them.
        unblockAllSignals()
        ProcessSetup.restoreSignals()
        let error = environment.withEnvp { envp in
            execve(path, argv.pointer, envp)
            return errno
        }
        ProcessSetup.ignoreAgain()  // still keyhold: a failed write is an error again, not a death
        environment.wipe()
        argv.free()
        return error
    }

    // MARK: --mask

    /// Signals forwarded to the child.
    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    /// Runs the program as a child with its stdout and stderr piped through a `Redactor`;
    /// returns the exit code to leave with.
    static func spawnMasked(_ path: String, arguments: [String], environment: Environment) throws -> Int32 {
        let argv = CStrings(arguments.map { CStrings.copy(Array($0.utf8)) })
        defer { argv.free() }
        let redactor = try environment.redactor()
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            Terminal.err("keyhold: cannot create a pipe: \(String(cString: strerror(errno)))")
            environment.wipe()
            return Exit.failure
        }
        // Keyhold's ends stay out of the child (its ends are dup2'ed onto 1 and 2, which clears the flag there).
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // A reader of keyhold's output that goes away must not kill keyhold before the child's status is known
        // (SIGPIPE is ignored since the start: `ProcessSetup`).

        // Handlers first (a signal before the child exists is kept and forwarded once it does);
        // a signal this process was started ignoring stays ignored, for the child too.
        var handled: [Int32] = []
        for sig in forwarded {
            var old = sigaction()
            sigaction(sig, nil, &old)
            if unsafeBitCast(old.__sigaction_handler.sa_handler, to: Int.self) == 1 { continue }  // SIG_IGN
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = forwardSignal
            action.sa_flags = SA_SIGINFO | SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(sig, &action, nil)
            handled.append(sig)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], STDERR_FILENO)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        // SIGPIPE and SIGXFSZ as keyhold found them: back to the default unless ignored when keyhold started.
        for sig in handled + ProcessSetup.restoredForChildren { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let spawned = environment.withEnvp { posix_spawn(&pid, path, &actions, &attributes, argv.pointer, $0) }
        environment.wipe()  // the child has its copy; keyhold keeps the values only in the redactor's guarded memory
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0]); close(errPipe[0])
            Terminal.err("keyhold: \(Validate.visible(arguments[0])): cannot execute: \(String(cString: strerror(spawned)))")
            return spawned == ENOENT ? 127 : 126
        }
        ChildSignals.start(pid)
        unblockAllSignals()  // so the forwarded signals reach the handler (this thread may have inherited a mask)

        var streams = [
            MaskedStream(source: outPipe[0], sink: STDOUT_FILENO, redactor: redactor),
            MaskedStream(source: errPipe[0], sink: STDERR_FILENO, redactor: redactor)
        ]
        var status: Int32?
        var buffer = [UInt8](repeating: 0, count: 65_536)
        defer { Bytes.wipe(&buffer) }
        while streams.contains(where: \.open) {
            if status == nil { status = reap(pid, wait: false) }
            var fds = streams.map { pollfd(fd: $0.open ? $0.source : -1, events: Int16(POLLIN), revents: 0) }
            // While the child runs, wake now and then to notice its exit; once it is gone, a short
            // quiet spell ends the copy (a background process may still hold the pipes open).
            let ready = poll(&fds, nfds_t(fds.count), status == nil ? 100 : 250)
            if ready < 0 { if errno == EINTR { continue }; break }
            if ready == 0 { if status != nil { break }; continue }
            for i in streams.indices where streams[i].open && fds[i].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { b in b.baseAddress.map { read(streams[i].source, $0, b.count) } ?? 0 }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { streams[i].finish(); continue }
                buffer.withUnsafeBytes { streams[i].pass(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
        for i in streams.indices where streams[i].open { streams[i].finish() }
        // waitpid without WNOHANG always gives a status; were it not to, the run failed.
        let final = status ?? reap(pid, wait: true) ?? (Exit.failure << 8)
        ChildSignals.stop()
        for sig in handled { signal(sig, SIG_DFL) }
        if final & 0x7F == 0 { return (final >> 8) & 0xFF }  // exited
        return 128 + (final & 0x7F)  // killed by a signal
    }

    static func unblockAllSignals() {
        var none = sigset_t()
        sigemptyset(&none)
        sigprocmask(SIG_SETMASK, &none, nil)
    }

    /// waitpid; nil while the child still runs (when not waiting).
    private static func reap(_ pid: pid_t, wait: Bool) -> Int32? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, wait ? 0 : WNOHANG)
            if r == pid { ChildSignals.stop(); return status }
            if r == 0 { return nil }
            if errno == EINTR { continue }
            return status
        }
    }
}

/// The child's pid, for the signal handler (which may read only plain memory).
nonisolated(unsafe) private var childPID: pid_t = 0
/// A forwarded signal that arrived before the child existed.
nonisolated(unsafe) private var earlySignal: Int32 = 0

private enum ChildSignals {
    static func start(_ pid: pid_t) {
        childPID = pid
        let early = earlySignal
        if early != 0 { kill(pid, early) }
    }
    static func stop() { childPID = 0 }
}

/// Forwards a signal to the child. One from the terminal (si_code SI_KERNEL) is not sent
/// again: the terminal delivers it to the whole foreground process group, child included.
private func forwardSignal(_ sig: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    if let info, info.pointee.si_code == 0x80 { return }  // SI_KERNEL
    let pid = childPID
    if pid > 0 { kill(pid, sig) } else { earlySignal = sig }
}

/// One of the child's output streams, copied through a redactor.
struct MaskedStream {
    let source: Int32
    let sink: Int32
    var redactor: Redactor
    var open = true

    mutating func pass(_ bytes: UnsafeRawBufferPointer) {
        var out = redactor.feed(bytes, final: false)
        defer { Bytes.wipe(&out) }
        if !write(out) { stop() }
    }

    mutating func finish() {
        var out = redactor.feed(UnsafeRawBufferPointer(start: nil, count: 0), final: true)
        defer { Bytes.wipe(&out) }
        _ = write(out)
        stop()
    }

    private mutating func stop() {
        if open { close(source) }
        open = false
        redactor.clear()
    }

    /// Writes everything; false when the reader went away (the child then gets SIGPIPE, as in a pipeline).
    private func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Terminal.writeFD(all: $0, to: sink) == nil }
    }
}

/// Replaces every occurrence of any of the given values in a byte stream by
/// `<redacted:NAME>`, across chunk boundaries: bytes that could begin a value are held
/// back (never more than the longest value less one) until the next chunk decides.
/// Where values overlap, the longest match at the earliest position wins.
struct Redactor {
    /// All values, one after another, in guarded memory.
    private let store: SecureBytes
    /// Longest first.
    private let spans: [(offset: Int, count: Int, replacement: [UInt8])]
    private var starts = [Bool](repeating: false, count: 256)
    private var pending: [UInt8] = []

    /// A redactor of `values` (copied into its own guarded memory).
    init(_ values: [(name: String, value: UnsafeRawBufferPointer)]) throws {
        let ordered = values.filter { $0.value.count > 0 }.sorted { $0.value.count > $1.value.count }
        var offset = 0
        var spans: [(Int, Int, [UInt8])] = []
        for (name, value) in ordered {
            spans.append((offset, value.count, Array("<redacted:\(name)>".utf8)))
            offset += value.count
        }
        store = try SecureBytes(count: offset) { out in
            var at = 0
            for (_, value) in ordered {
                (out.baseAddress! + at).copyMemory(from: value.baseAddress!, byteCount: value.count)
                at += value.count
            }
        }
        self.spans = spans
        for (_, value) in ordered { starts[Int(value[0])] = true }
    }

    /// Takes the next chunk; returns what can be written now. `final` flushes everything held.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, final: Bool) -> [UInt8] {
        pending.append(contentsOf: chunk)
        var out: [UInt8] = []
        out.reserveCapacity(pending.count)
        let n = pending.count
        var i = 0
        store.withBytes { s in
            pending.withUnsafeBytes { p in
                scan: while i < n {
                    let byte = p[i]
                    if starts[Int(byte)] {
                        for span in spans {
                            let available = n - i
                            if span.count <= available {
                                if memcmp(p.baseAddress! + i, s.baseAddress! + span.offset, span.count) == 0 {
                                    out.append(contentsOf: span.replacement)
                                    i += span.count
                                    continue scan
                                }
                            } else if !final, memcmp(p.baseAddress! + i, s.baseAddress! + span.offset, available) == 0 {
                                break scan  // the rest may still become this value: wait for more
                            }
                        }
                    }
                    out.append(byte)
                    i += 1
                }
            }
        }
        var rest = Array(pending[i...])
        Bytes.wipe(&pending)
        swap(&pending, &rest)
        return out
    }

    /// Bytes currently held back.
    var held: Int { pending.count }

    mutating func clear() { Bytes.wipe(&pending) }
}

/// A NULL-terminated array of malloc'd C strings (argv, envp).
final class CStrings {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ entries: [UnsafeMutablePointer<CChar>?]) {
        count = entries.count
        pointer = .allocate(capacity: entries.count + 1)
        for (i, e) in entries.enumerated() { pointer[i] = e }
        pointer[entries.count] = nil
    }

    static func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        }
        p[bytes.count] = 0
        return p
    }

    /// Zeroes and frees every entry (they may hold secret values).
    func free() {
        for i in 0..<count {
            if let e = pointer[i] { explicit_bzero(e, strlen(e)); e.deallocate() }
            pointer[i] = nil
        }
        pointer.deallocate()
    }
}
