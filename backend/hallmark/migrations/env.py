"""Alembic environment: runs on the engine Hallmark hands over (never reads a URL of its own)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine, text

from hallmark.core.hashing import keccak256
from hallmark.store.models import Base

#: Advisory lock id of the migrations ("hallmark.migrations" as a 63-bit number).
MIGRATION_LOCK = int.from_bytes(keccak256(b"hallmark.migrations")[:8], "big") >> 1

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
            if connection.dialect.name == "postgresql":
                # Processes starting together on one database migrate in turn: the lock is held
                # to the end of this transaction, and the next holder finds the head in place.
                # (On SQLite the write lock taken at BEGIN does the same.)
                lock = text("SELECT pg_advisory_xact_lock(:id)")
                connection.execute(lock, {"id": MIGRATION_LOCK})
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
