"""Alembic environment: runs on the engine Hallmark hands over (never reads a URL of its own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from hallmark.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through hallmark.store.db.migrate(engine)")


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """A PRAGMA straight through the driver, outside any transaction (SQLAlchemy would BEGIN)."""
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("no driver connection")
    driver.execute(f"PRAGMA {pragma}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds a table to change its constraints (Alembic's batch mode); dropping
        # the old table would trip the foreign keys of the tables that refer to it. SQLite's
        # documented procedure: foreign keys off outside the transaction, a foreign_key_check
        # before the commit, on again after.
        _sqlite_pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _sqlite_pragma(connection, "foreign_keys=ON")
