"""`python -m hallmark` (and the `hallmark` program) runs the command line.

`hallmark verify` runs the offline verifier alone: it must not load the database layer, which
the other commands' modules import; everything else runs the full app (`hallmark.cli`).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["verify"]:
        import typer

        from hallmark.verify_command import verify

        command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        command.command(name="verify")(verify)
        command(args=sys.argv[2:], prog_name="hallmark verify")
        return
    from hallmark.cli import app

    app(prog_name="hallmark")


if __name__ == "__main__":
    main()
