"""The `hallmark` command line: `hallmark.cli.app` builds it from one module per command group.

`main` is the program's entry: `hallmark verify` runs the offline verifier alone (it must not
load the database layer, which the other commands import); everything else runs the full app.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    if sys.argv[1:2] == ["verify"]:
        import typer

        from hallmark.cli.verify import verify

        command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        command.command(name="verify")(verify)
        command(args=sys.argv[2:], prog_name="hallmark verify")
        return
    from hallmark.cli.app import app

    app(prog_name="hallmark")


def __getattr__(name: str) -> Any:
    # The full app is built only when asked for (`from hallmark.cli import app`).
    if name == "app":
        from hallmark.cli.app import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
