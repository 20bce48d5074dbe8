import Foundation
import PackagePlugin

/// Embeds root-level text files into the targets that need them:
/// schema.sql into the store, the common-password list into the core.
@main
struct Embed: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let files: [(input: String, symbol: String)]
        switch target.name {
        case "KeyholdStore": files = [("schema.sql", "embeddedSchemaSQL")]
        case "KeyholdCore": files = [("data/common-passwords.txt", "embeddedCommonPasswords")]
        default: files = []
        }
        let tool = try context.tool(named: "EmbedTool")
        return files.map { file in
            let input = context.package.directoryURL.appending(path: file.input)
            let output = context.pluginWorkDirectoryURL.appending(path: "\(file.symbol).swift")
            return .buildCommand(
                displayName: "Embedding \(file.input)",
                executable: tool.url,
                arguments: [input.path, output.path, file.symbol],
                inputFiles: [input],
                outputFiles: [output]
            )
        }
    }
}
