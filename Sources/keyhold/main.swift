import KeyholdCLI
import KeyholdConsole

// `keyhold` alone opens the console on a terminal; everything else is the command line.
KeyholdCommand.console = { path, options in
    Console.hasTerminal ? Console.run(vaultPath: path, options: options) : nil
}
KeyholdCommand.main()
