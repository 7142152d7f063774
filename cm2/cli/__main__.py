"""`python -m cm2.cli`: the `cm2` command (child processes of `cm2 experiment` start it this way)."""

from cm2.cli import main

if __name__ == "__main__":
    main()
