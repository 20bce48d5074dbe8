import ArgumentParser
import KeyholdCore

/// `keyhold secret ...` (to be filled in).
struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "secret", abstract: "Store, generate, show and delete secrets.")
}
