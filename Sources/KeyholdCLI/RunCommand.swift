import ArgumentParser
import KeyholdCore

/// `keyhold run -- CMD ...` (to be filled in).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run a program with secrets in its environment.")
}
