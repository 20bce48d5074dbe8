import KeyholdCLI

KeyholdCommand.main()
