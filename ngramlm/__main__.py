from ngramlm.cli import main

if __name__ == "__main__":  # a guard: sweep workers are spawned processes that import this
    main()
