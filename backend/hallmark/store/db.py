"""Engine and sessions for SQLite (default) and PostgreSQL, with migrations applied by Alembic.

Raises:
    DatabaseUnavailableError: the database does not answer or cannot be migrated.
"""

from __future__ import annotations

import fcntl
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import DatabaseUnavailableError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the per-dialect settings Hallmark relies on."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        lock_path = None
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            lock_path = Path(parsed.database + ".lock")
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        _serialise_sqlite_transactions(engine, lock_path)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5}, **kwargs)


def make_read_engine(url: str) -> Engine | None:
    """SQLite: a second engine on the same file for reads, without the write serialisation.

    A read transaction starts with a plain (deferred) BEGIN: it reads a WAL snapshot while the
    writer works and never queues for the write lock. None for other databases, whose ordinary
    transactions already read without blocking writers.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's own deferred BEGIN is not what we want).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Batches insert thousands of rows into indexes with random keys (UUIDs, hashes): a 64 MiB
    # page cache (SQLite's default is 2 MiB) and memory-mapped reads keep those pages at hand.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()


class _WriteLock:
    """This process's threads in turn (a re-entrant lock), and processes in turn (an exclusive
    `flock` on a file beside the database, held while the outermost holder holds the lock)."""

    def __init__(self, path: Path | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._path = path
        self._file: Any = None

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            if self._depth == 0 and self._path is not None:
                if self._file is None:
                    self._file = self._path.open("a+b")
                fcntl.flock(self._file, fcntl.LOCK_EX)  # blocks without the GIL, wakes at once
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def try_acquire(self) -> bool:
        """Acquire without waiting; False when a thread here or another process holds it."""
        if not self._threads.acquire(blocking=False):
            return False
        try:
            if self._depth == 0 and self._path is not None:
                if self._file is None:
                    self._file = self._path.open("a+b")
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._threads.release()
            return False
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
        finally:
            self._threads.release()


def _serialise_sqlite_transactions(engine: Engine, lock_path: Path | None) -> None:
    """Queue transactions on a lock, then take SQLite's write lock at BEGIN.

    SQLite has one writer at a time. BEGIN IMMEDIATE makes a read-then-write transaction wait
    for the lock up front instead of failing when its snapshot goes stale. Waiting on our own
    lock first (threads of this process, then other Hallmark processes on the same file: API
    processes, the anchoring worker, the CLI) hands the database over the moment it is free,
    where SQLite's busy handler would poll in sleeps of up to 100 ms.
    """
    lock = _WriteLock(lock_path)
    _WRITE_LOCKS[engine] = lock

    def begin(connection: Any) -> None:
        lock.acquire()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            lock.release()
            raise

    def end(_connection: Any) -> None:
        lock.release()

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    event.listen(engine, "engine_disposed", lambda _engine: lock.close())


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, _WriteLock] = weakref.WeakKeyDictionary()


class WriteLock(Protocol):
    """The write lock of a SQLite engine: taken by every write transaction at BEGIN (re-entrant
    for the thread holding it); `try_acquire` lets a caller find out without waiting."""

    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...


def write_lock(engine: Engine) -> WriteLock | None:
    """The engine's write lock (SQLite), or None (databases that write concurrently)."""
    return _WRITE_LOCKS.get(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Apply every pending migration (idempotent)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(f"cannot migrate the database: {_reason(exc)}") from exc


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


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
