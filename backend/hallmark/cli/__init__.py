"""The `hallmark` command line: `hallmark.cli.app` builds it from one module per command group."""

from hallmark.cli.app import app

__all__ = ["app"]
