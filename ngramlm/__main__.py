from ngramlm.cli import main

main()
