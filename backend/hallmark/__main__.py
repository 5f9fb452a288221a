"""`python -m hallmark` runs the command line."""

from hallmark.cli import app

app(prog_name="hallmark")
