"""Engine and sessions for SQLite (default) and PostgreSQL, with migrations applied by Alembic.

Raises:
    DatabaseUnavailableError: the database does not answer or cannot be migrated.
"""

from __future__ import annotations

import functools
import os
import socket
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import DatabaseUnavailableError, ServiceUnavailableError
from hallmark.store import conflicts, sqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, lock_timeout: float | None = None, **kwargs: Any) -> Engine:
    """An engine with the per-dialect settings Hallmark relies on; a unique violation raises
    `UniqueViolationError` (409, see `conflicts`). PostgreSQL: `lock_timeout` seconds bound
    every wait for a lock (then the statement fails: OperationalError)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lock_path = None
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            lock_path = Path(parsed.database + ".lock")
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", sqlite.configure_connection)
        sqlite.serialise_transactions(engine, lock_path)
    else:
        connect_args: dict[str, Any] = {"connect_timeout": 5}
        if lock_timeout is not None:
            connect_args["options"] = f"-c lock_timeout={max(1, round(lock_timeout * 1000))}"
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "do_connect", _name_session)
        event.listen(engine, "connect", _close_with_pool_entry)
    event.listen(engine, "handle_error", conflicts.handle_error)
    return engine


def _close_with_pool_entry(dbapi_connection: Any, record: Any) -> None:
    """Close a PostgreSQL connection when its pool entry (a `_ConnectionRecord`) is garbage.

    SQLAlchemy checks in a connection whose holder was dropped, but a pool that becomes garbage
    with connections in it (its engine dropped without a disposal) leaves them to be collected
    open: a server session kept until then, and psycopg's ResourceWarning wherever the
    collector happens to run."""
    weakref.finalize(record, dbapi_connection.close)


def session_name(pid: int | None = None, host: str | None = None) -> str:
    """The `application_name` of a PostgreSQL session of Hallmark's process `pid` on `host`
    (by default this one): `pg_stat_activity` tells whose each session is, and a standby that
    ends a frozen leader ends every session of its process (see `anchoring.leadership`)."""
    return f"hallmark pid={pid or os.getpid()} host={host or socket.gethostname()}"


def _name_session(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    params.setdefault("application_name", session_name())


def make_read_engine(url: str) -> Engine | None:
    """SQLite: a second engine on the same file for reads (`sqlite.make_read_engine`), which
    never queue for the write lock. None for other databases, whose ordinary transactions
    already read without blocking writers."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return sqlite.make_read_engine(url)


def dispose(engine: Engine) -> None:
    """Close the engine's connections: those in its pool now, and those still in use as their
    holders give them back.

    `Engine.dispose` closes only the connections in the pool and puts a new pool in its place.
    A connection in use at that moment (a thread that outlived its stop) goes back later to
    the old pool, which nothing refers to: it stays open until the garbage collector finds the
    pool (on PostgreSQL a server session kept for nothing, and psycopg's ResourceWarning
    wherever the collector happens to run). The old pool now closes what comes back to it.
    """
    old = engine.pool
    engine.dispose()
    event.listen(old, "checkin", _close_given_back)
    old.dispose()  # one given back between the two lines above


def _close_given_back(_dbapi_connection: Any, record: Any) -> None:
    record.close()  # a _ConnectionRecord: closes its DBAPI connection, as the pool's dispose does


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


#: How often a bounded wait tries SQLite's write lock again.
LOCK_RETRY = 0.005


@contextmanager
def transaction(factory: sessionmaker[Session], *, wait: float | None = None) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error.

    `wait`: on SQLite, wait at most that many seconds for the write lock (held by another
    process or thread), then raise `ServiceUnavailableError` (503, retry after 1 s) with
    nothing done; without it the transaction waits as long as the lock is held.
    """
    bind = factory.kw.get("bind")
    lock = sqlite.write_lock(bind) if wait is not None and isinstance(bind, Engine) else None
    if lock is None:
        with factory() as session, session.begin():
            yield session
        return
    assert wait is not None
    deadline = time.monotonic() + wait
    # Polled: the lock offers no timed wait (flock has none), as in the group commit.
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            raise ServiceUnavailableError(
                f"the database is busy with another writer for over {wait:g} s; "
                "nothing was changed, retry shortly",
                details={"retry_after_seconds": 1},
            )
        time.sleep(LOCK_RETRY)
    try:  # the lock is re-entrant: the transaction's BEGIN takes it again at once
        with factory() as session, session.begin():
            yield session
    finally:
        lock.release()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, *, reads: Engine | None = None) -> None:
    """Apply every pending migration (idempotent).

    `reads`: an engine that reads without taking the write lock (SQLite's read engine, see
    `make_read_engine`). A database it finds current is left alone, and no lock is taken: a
    process starting while another holds the write lock (a worker frozen inside a
    transaction, which a standby is to end) starts without waiting for it.
    """
    if reads is not None and current_revision(reads) == head_revision():
        return
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(f"cannot migrate the database: {_reason(exc)}") from exc


def current_revision(engine: Engine) -> str | None:
    """The database's migration revision (None before the first migration)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(f"database unreachable: {_reason(exc)}") from exc


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code knows. Read once: Alembic compiles every migration script
    to find it (about 20 ms of CPU, holding the GIL), which /readyz paid on each call; and a
    process compares the database with the migrations of the code it runs, not with files
    replaced under it since it started."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def check(engine: Engine) -> dict[str, Any]:
    """Probe the database: reachable, and migrations current. Raises when unreachable."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(f"database unreachable: {_reason(exc)}") from exc
    head = head_revision()
    return {
        "backend": engine.dialect.name,
        "revision": current,
        "head": head,
        "migrations_current": current == head,
    }


def _reason(exc: SQLAlchemyError) -> str:
    """The driver's first line, without SQLAlchemy's background link."""
    original = getattr(exc, "orig", None) or exc
    return (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )
