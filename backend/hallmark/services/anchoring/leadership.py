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

A leader that holds the lock but no longer leads (a process hung in a deadlock, frozen, or
orphaned by a crash) would keep every standby waiting forever. So the leader beats at every
step (`beat()`: its lock file's mtime; on PostgreSQL its session's last query, which `held()`
runs), and a standby that finds the holder silent for `worker_takeover_after` seconds ends it
(`take_over()`): `pg_terminate_backend` of the holder's sessions (the lock's, and every other
of its process, whose open transaction would keep the row locks the next leader needs), or
SIGTERM and then SIGKILL to the holder's process (SIGKILL at once to a stopped one, which would
handle SIGTERM only once continued), checked to be a Hallmark process on this host. The lock
is then free, and so is whatever the holder froze in the middle of.

Raises:
    DatabaseUnavailableError: never; a lost or unreachable database means "not the leader".
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import IO, Protocol

import structlog
from eth_utils.crypto import keccak
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from hallmark.core import locks
from hallmark.store.db import session_name

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

    def beat(self) -> None:
        """The holder's heartbeat: it still leads."""
        ...

    def stalled_holder(self, after: float) -> str | None:
        """The holder, when another process holds the lock and has not beaten for `after`
        seconds; None otherwise."""
        ...

    def take_over(self) -> bool:
        """End the stalled holder found by `stalled_holder` and take the lock; whether it is
        held now."""
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

    def beat(self) -> None:
        """`held()` runs a query on the lock's session at every step: that is the heartbeat."""

    #: The session holding the advisory lock (key split as PostgreSQL stores it), idle since.
    _HOLDER = text(
        "SELECT a.pid, a.application_name, "
        "EXTRACT(EPOCH FROM (now() - a.state_change)) AS silent "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = :high AND l.objid = :low AND l.objsubid = 1 "
        "AND a.pid <> pg_backend_pid() AND a.state = 'idle'"
    )

    def _holder(self) -> tuple[int, str, float] | None:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        try:
            with self.engine.connect() as connection:
                row = connection.execute(
                    self._HOLDER, {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}
                ).first()
        except SQLAlchemyError:
            return None
        return None if row is None else (int(row[0]), str(row[1]), float(row[2]))

    def stalled_holder(self, after: float) -> str | None:
        holder = self._holder()
        if self._connection is not None or holder is None or holder[2] < after:
            return None
        return f"{holder[1] or 'unknown'} (session {holder[0]}, silent {holder[2]:.0f} s)"

    #: Every session of the holder's process: the lock's, and the others (named by
    #: `session_name`), whose transaction a frozen process may have left open holding row
    #: locks the next leader waits for.
    _END_HOLDER = text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND (pid = :session OR application_name = :process)"
    )

    #: Seconds a takeover waits for the ended sessions' locks to go.
    SESSIONS_END_WAIT = 10.0

    def take_over(self) -> bool:
        holder = self._holder()
        if holder is not None:
            session, name, _silent = holder
            found = re.search(r"pid=(\d+) host=(\S+)", name)
            process = session_name(int(found[1]), found[2]) if found else None
            try:
                with self.engine.connect() as connection:
                    connection.execute(self._END_HOLDER, {"session": session, "process": process})
                    connection.commit()
            except SQLAlchemyError as exc:
                log.warning("leader.takeover_failed", error=str(exc).splitlines()[0])
                return False
            # pg_terminate_backend only signals the sessions: their locks go when they have
            # exited, a moment later (a single try lost the race and left the lead to a later
            # step, logged as an ordinary start of leading).
            deadline = time.monotonic() + self.SESSIONS_END_WAIT
            while not self.acquire():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
            return True
        return self.acquire()


class FileLock:
    """An exclusive, non-blocking `flock` on a file; the kernel drops it with the process."""

    kind = "file lock"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> bool:
        if self._handle is None:
            self._handle = locks.try_lock(self.path, holder_name())
        return self._handle is not None

    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            locks.unlock(handle)

    def beat(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def _holder_pid(self) -> int | None:
        try:
            found = re.search(r"pid=(\d+)", self.path.read_text("utf-8"))
        except OSError:
            return None
        return int(found.group(1)) if found else None

    def stalled_holder(self, after: float) -> str | None:
        if self._handle is not None:
            return None
        try:
            silent = time.time() - self.path.stat().st_mtime
        except OSError:
            return None
        pid = self._holder_pid()
        if silent < after or pid is None:
            return None
        return f"pid={pid} (silent {silent:.0f} s)"

    def take_over(self, grace: float = 10.0) -> bool:
        pid = self._holder_pid()
        if pid is None or pid == os.getpid() or not _is_hallmark(pid):
            return self.acquire()  # nothing this process may end: take it only if it is free
        for signum in (signal.SIGTERM, signal.SIGKILL):  # SIGTERM: it stops cleanly if it can
            if signum == signal.SIGTERM and _stopped(pid):
                continue  # stopped, it would handle SIGTERM only once continued: maybe never
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self.acquire():
                    return True
                time.sleep(0.1)
        return self.acquire()


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped (by SIGSTOP, a terminal or a tracer): its state in
    /proc/<pid>/stat is T or t. False where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


def _is_hallmark(pid: int) -> bool:
    """Whether `pid` is a Hallmark process (never signal a process the pid was reused for)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"hallmark" in cmdline.read()
    except OSError:
        return False


def leader_lock(engine: Engine, data_dir: Path) -> LeaderLock:
    """The lock for this database: an advisory lock on PostgreSQL, a file lock on SQLite."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(engine)
    if url.database and url.database != ":memory:":
        database = Path(url.database)
        return FileLock(database.with_name(database.name + ".anchoring.lock"))
    return FileLock(data_dir / "anchoring.lock")
