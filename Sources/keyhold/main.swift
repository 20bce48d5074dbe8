import KeyholdCLI
import KeyholdConsole

// A reader that goes away (a closed pipe) is a failed write, exit 72, never a silent death.
ProcessSetup.start()
// A vault an agent serves (`keyhold unlock`): the command runs there, without a login.
KeyholdCommand.exitThroughAgentIfServed(CommandLine.arguments)
// `keyhold` alone opens the console on a terminal; everything else is the command line.
KeyholdCommand.console = { path, options, useAgent in
    Console.hasTerminal ? Console.run(vaultPath: path, options: options, useAgent: useAgent) : nil
}
// The agent (`keyhold unlock`) serves the console too: each effect run with its session.
KeyholdCommand.consoleAgent = { session in
    let agent = ConsoleAgent(session: session)
    return { request, progress in agent.serve(request, progress: progress) }
}
KeyholdCommand.runAndExit()
