"""`python -m hallmark` runs the command line."""

from hallmark.cli import main

if __name__ == "__main__":
    main()
