"""`python -m hallmark` runs the command line."""

from hallmark.cli import app

if __name__ == "__main__":
    app(prog_name="hallmark")
