import Foundation
import KeyholdCLI
import KeyholdConsole
import KeyholdConsoleAgent

// A reader that goes away (a closed pipe) is a failed write, exit 72, never a silent death.
ProcessSetup.start()
// A vault an agent serves (`keyhold unlock`): the command runs there, without a login.
KeyholdCommand.exitThroughAgentIfServed(CommandLine.arguments)
// `keyhold` alone opens the console on a terminal; everything else is the command line.
KeyholdCommand.console = { path, options, useAgent in
    guard Console.hasTerminal else { return nil }
    // With `keyhold unlock` done (for this user, when KEYHOLD_USER names one), the console runs through the agent.
    let env = ProcessInfo.processInfo.environment
    let agent = useAgent ? AgentRunner(vault: path, environment: env, user: env["KEYHOLD_USER"]) : nil
    return Console.run(vaultPath: path, options: options, through: agent)
}
// The agent (`keyhold unlock`) serves the console too: each effect run with its session.
KeyholdCommand.consoleAgent = { session in
    let agent = ConsoleAgent(session: session)
    return { request, progress in agent.serve(request, progress: progress) }
}
KeyholdCommand.runAndExit()
