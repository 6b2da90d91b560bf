from medmap.cli.main import main

main()
