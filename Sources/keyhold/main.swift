import KeyholdCLI
import KeyholdConsole

// A reader that goes away (a closed pipe) is a failed write, exit 72, never a silent death.
ProcessSetup.start()
// A vault an agent serves (`keyhold unlock`): the command runs there, without a login.
KeyholdCommand.exitThroughAgentIfServed(CommandLine.arguments)
// `keyhold` alone opens the console on a terminal; everything else is the command line.
KeyholdCommand.console = { path, options in
    Console.hasTerminal ? Console.run(vaultPath: path, options: options) : nil
}
KeyholdCommand.runAndExit()
