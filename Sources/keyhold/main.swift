import KeyholdCLI
KeyholdMain.main()
