// keyhold-fuzz: one libFuzzer binary for every parser of input.
//
//     keyhold-fuzz TARGET [libFuzzer options and corpus directories]
//
// TARGET is one of `Targets.all` (`keyhold-fuzz list` prints them). Each target hands the
// fuzzer's bytes to one parser and checks what must hold whatever the input: no crash,
// no trap, no hang, and the properties the target names (a value that parses prints back
// to the same value). `make fuzz` runs each for FUZZ_SECONDS; `make test` runs a short pass.
#if canImport(Glibc)
import Glibc
#endif
import CFuzzer

/// One fuzz target: a name, a sentence, and what to do with one input.
struct Target: Sendable {
    let name: String
    let about: String
    /// Runs one input; a throw is only ever guarded memory that could not be had, not a finding.
    let run: @Sendable ([UInt8]) throws -> Void
}

enum Targets {
    static let all: [Target] = [
        Target(name: "json-entries", about: "import --format json (JSONEntries.parse)", run: FuzzFormats.jsonEntries),
        Target(name: "accounts-json", about: "user import --format json (UserJSON.parse)", run: FuzzFormats.accountsJSON),
        Target(name: "accounts-csv", about: "user import --format csv (UserCSV.parse)", run: FuzzFormats.accountsCSV),
        Target(name: "dotenv", about: "import --format dotenv (DotEnv)", run: FuzzFormats.dotenv),
        Target(name: "pass-names", about: "pass store file names and files (PassStoreNames)", run: FuzzFormats.passNames),
        Target(name: "keepass-xml", about: "import --format keepassxc (KeePassXML.parse)", run: FuzzFormats.keePassXML),
        Target(name: "dates", about: "every date typed (Validate.date, Validate.day)", run: FuzzValues.dates),
        Target(name: "recovery-key", about: "the recovery key's typed form (RecoveryKey.parse)", run: FuzzValues.recoveryKey),
        Target(name: "cli-options", about: "numeric option values (Validate.number)", run: FuzzValues.numbers),
    ]
}

/// The target this process runs, chosen before the fuzzer starts.
nonisolated(unsafe) var selected: Target?

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    try? selected?.run(bytes)
    return 0
}

func usage() -> Never {
    var text = "usage: keyhold-fuzz TARGET [libFuzzer options] [corpus directories]\ntargets:\n"
    for t in Targets.all { text += "  \(t.name)\(String(repeating: " ", count: max(1, 14 - t.name.count)))\(t.about)\n" }
    printError(text)
    exit(64)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { usage() }
if arguments[1] == "list" {
    for t in Targets.all { print(t.name) }
    exit(0)
}
guard let target = Targets.all.first(where: { $0.name == arguments[1] }) else { usage() }
selected = target

// libFuzzer reads argv itself: hand it the program name and everything after TARGET.
var argc = CommandLine.argc - 1
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv + 1
argv?[0] = CommandLine.unsafeArgv[0]
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
