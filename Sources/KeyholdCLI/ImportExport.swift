import ArgumentParser
import KeyholdCore

/// `keyhold import` (to be filled in).
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Import secrets from .env, JSON, a pass store or KeePassXC XML.")
}

/// `keyhold export` (to be filled in).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export secrets to .env, JSON, a pass store or KeePassXC XML.")
}
