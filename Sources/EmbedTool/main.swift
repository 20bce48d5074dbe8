// Writes a Swift source file that holds one text file as a string constant,
// so files such as schema.sql stay single-sourced at the package root and the
// binary needs no resource bundle at run time.
// Usage: EmbedTool INPUT OUTPUT SYMBOL
import Foundation

let args = CommandLine.arguments
guard args.count == 4 else {
    FileHandle.standardError.write(Data("usage: EmbedTool INPUT OUTPUT SYMBOL\n".utf8))
    exit(2)
}
let text = try String(contentsOfFile: args[1], encoding: .utf8)
var hashes = "#"
while text.contains("\"\"\"" + hashes) { hashes += "#" }
let source = """
    // Generated from \((args[1] as NSString).lastPathComponent) at build time. Do not edit.
    let \(args[3]): String = \(hashes)\"\"\"
    \(text)
    \"\"\"\(hashes)

    """
try Data(source.utf8).write(to: URL(fileURLWithPath: args[2]), options: .atomic)
