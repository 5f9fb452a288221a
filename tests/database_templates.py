"""Databases for tests, migrated once per session and copied for each test.

Running Alembic from scratch costs about 0.3 s on SQLite and 0.7 s on PostgreSQL; a copy of a
database already at the migrations' head costs a file copy on SQLite and 0.2 s on PostgreSQL
(`CREATE DATABASE ... TEMPLATE`). Tests of the migrations themselves ask for an empty database
(`empty_database_url`).

`Blueprint` carries rows built once per session by the real use cases (organisations with
their encrypted keys, API keys, audit entries) into a test's database, so fixtures that need
the same organisations in every test do not create them, one chain transaction each, again.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, Integer, func, insert, select, text
from sqlalchemy.engine import make_url

from hallmark.store import db
from hallmark.store.models import Base

POSTGRES_URL = os.environ.get("HALLMARK_TEST_DATABASE_URL")


def admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database, a copy of the database `template` or else empty; dropped
    on exit."""
    assert POSTGRES_URL, "HALLMARK_TEST_DATABASE_URL is required for PostgreSQL tests"
    name = f"hallmark_test_{uuid.uuid4().hex[:12]}"
    admin = admin_dsn(POSTGRES_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate_url(url: str) -> None:
    """Apply every migration to the database at `url` and close every connection to it (a
    PostgreSQL template must have none; a SQLite file is whole, without a WAL, once the last
    connection closes)."""
    engine = db.make_engine(url)
    try:
        db.migrate(engine)
    finally:
        engine.dispose()


@dataclass
class DatabaseTemplates:
    """A SQLite file and (with HALLMARK_TEST_DATABASE_URL) a PostgreSQL database at the
    migrations' head, for copies."""

    sqlite_path: Path
    _postgres: str | None = field(default=None, init=False)
    _cleanup: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @classmethod
    def build(cls, folder: Path) -> DatabaseTemplates:
        path = folder / "template.sqlite3"
        migrate_url(f"sqlite:///{path}")
        assert not Path(f"{path}-wal").exists(), "the SQLite template kept a WAL"
        return cls(sqlite_path=path)

    def sqlite_copy(self, target: Path) -> str:
        """A copy of the SQLite template at `target` (kept if it exists); its URL."""
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.sqlite_path, target)
        return f"sqlite:///{target}"

    def postgres(self) -> str:
        """The name of the PostgreSQL template (made on first use)."""
        if self._postgres is None:
            url = self._cleanup.enter_context(fresh_postgres_database())
            migrate_url(url)
            self._postgres = str(make_url(url).database)
        return self._postgres

    def close(self) -> None:
        self._cleanup.close()
        self._postgres = None


#: Tables a blueprint never carries: each database records the deployment it starts on.
NOT_CARRIED = frozenset({"deployments"})


@dataclass(frozen=True)
class Blueprint:
    """Rows of a database, table by table in foreign-key order, to put into another."""

    rows: dict[str, list[dict[str, Any]]]

    @classmethod
    def of(cls, url: str) -> Blueprint:
        engine = db.make_engine(url)
        try:
            with engine.connect() as connection:
                rows = {
                    table.name: [dict(row) for row in connection.execute(select(table)).mappings()]
                    for table in Base.metadata.sorted_tables
                    if table.name not in NOT_CARRIED
                }
        finally:
            engine.dispose()
        return cls({name: found for name, found in rows.items() if found})

    def install(self, engine: Engine) -> None:
        """Insert the rows into `engine`'s database, whose tables must not hold any yet (the
        audit log's hash chain starts at its first entry). On PostgreSQL, each integer key's
        sequence then continues after the rows carried."""
        with engine.begin() as connection:
            for table in Base.metadata.sorted_tables:
                found = self.rows.get(table.name)
                if not found:
                    continue
                count = connection.scalar(select(func.count()).select_from(table))
                assert count == 0, f"{table.name} already holds rows"
                connection.execute(insert(table), found)
                if connection.dialect.name != "postgresql":
                    continue
                for column in table.primary_key.columns:
                    if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                        connection.execute(
                            text(
                                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                                f'(SELECT max("{column.name}") FROM "{table.name}"))'
                            ),
                            {"table": table.name, "column": column.name},
                        )
