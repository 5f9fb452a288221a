"""Certificates tests share the records tests' module world (one started Hallmark per module and
database, on the session's shared chain)."""

from tests.records.conftest import module_database_url, world

__all__ = ["module_database_url", "world"]
