"""Leader election for the anchoring worker: exactly one process anchors at a time.

Several Hallmark processes may run a worker (`hallmark serve` runs one by default, `hallmark
worker` runs one alone); only the holder of the leader lock anchors, the others stand by and try
again every `worker_standby_interval` seconds, so killing the leader lets another take over.

* PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on a dedicated
  connection in autocommit mode (no transaction stays open). The server releases it when that
  session ends — a crashed or killed leader frees it as soon as its connection drops. The
  connection's `application_name` names the holder (`hallmark-worker pid=<pid> host=<host>`), so
  `pg_stat_activity` shows which process leads.
* SQLite: an exclusive `flock` on a lock file beside the database file (in the data directory
  by default); the kernel releases it when the holder's process dies.

Raises:
    DatabaseUnavailableError: never; a lost or unreachable database means "not the leader".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import IO, Protocol

import structlog
from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)

#: The advisory lock key: the first 8 bytes of keccak("hallmark.anchoring"), as a signed bigint.
ADVISORY_LOCK_KEY = int.from_bytes(keccak(text="hallmark.anchoring")[:8], "big", signed=True)


def holder_name() -> str:
    """Who holds the lock, for operators: process id and host name."""
    return f"hallmark-worker pid={os.getpid()} host={socket.gethostname()}"


class LeaderLock(Protocol):
    """A lock at most one process holds; `held()` is checked before every anchoring cycle."""

    kind: str

    def acquire(self) -> bool:
        """Try to take the lock without waiting; True when this process holds it now."""
        ...

    def held(self) -> bool:
        """Whether this process still holds the lock (a lost connection means no)."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...


class PostgresAdvisoryLock:
    """`pg_try_advisory_lock` on a dedicated autocommit connection."""

    kind = "postgresql advisory lock"

    def __init__(self, engine: Engine, key: int = ADVISORY_LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return self.held()
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            log.warning("leader.database_unreachable", error=str(exc).splitlines()[0])
            return False
        try:
            connection.execute(
                text("SELECT set_config('application_name', :n, false)"), {"n": holder_name()}
            )
            taken = bool(
                connection.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}
                ).scalar()
            )
        except SQLAlchemyError as exc:
            log.warning("leader.lock_failed", error=str(exc).splitlines()[0])
            taken = False
        if not taken:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()
            return False
        self._connection = connection
        return True

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            # The session is gone, and the server released its lock with it.
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.invalidate()
                connection.close()

    def release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._connection = None
        with contextlib.suppress(SQLAlchemyError):
            connection.close()


class FileLock:
    """An exclusive, non-blocking `flock` on a file; the kernel drops it with the process."""

    kind = "file lock"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(holder_name() + "\n")
        handle.flush()
        self._handle = handle
        return True

    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


def leader_lock(engine: Engine, data_dir: Path) -> LeaderLock:
    """The lock for this database: an advisory lock on PostgreSQL, a file lock on SQLite."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(engine)
    if url.database and url.database != ":memory:":
        database = Path(url.database)
        return FileLock(database.with_name(database.name + ".anchoring.lock"))
    return FileLock(data_dir / "anchoring.lock")
