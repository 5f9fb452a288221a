"""What Hallmark does differently on SQLite: connection settings, one writer at a time, and the
write-ahead log checkpointed in the background.

* `configure_connection`: WAL journal (readers never block the writer), the log synced at every
  commit (`synchronous=FULL`), foreign keys, a large page cache; SQLAlchemy emits BEGIN itself.
* `serialise_transactions`: every write transaction queues on a lock (this process's threads,
  then other processes on the same file) and then takes SQLite's write lock at BEGIN
  (`write_lock` gives it to callers that want to try it without waiting).
* `make_read_engine`: a second engine whose transactions read a snapshot and never queue.
* `WalCheckpointer`: checkpoints the write-ahead log from a thread instead of inside commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import weakref
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, create_engine, event

from hallmark.core.errors import first_line

log = structlog.get_logger(__name__)


def configure_connection(dbapi_connection: Any, _record: Any) -> None:
    """The settings of every new SQLite connection (an engine `connect` listener)."""
    # Let SQLAlchemy emit BEGIN itself (pysqlite's own deferred BEGIN is not what we want).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    # An answered write is a durable one: in WAL mode NORMAL skips the fsync of the log at each
    # commit, so a power loss could take back a record whose hash the client already holds as
    # its receipt. FULL syncs the log at every commit (one per group of creates, see
    # group_commit.py); docs/DEPLOYMENT.md quotes what it costs.
    cursor.execute("PRAGMA synchronous=FULL")
    # Batches insert thousands of rows into indexes with random keys (UUIDs, hashes): a 64 MiB
    # page cache (SQLite's default is 2 MiB) and memory-mapped reads keep those pages at hand.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.close()


def make_read_engine(url: str) -> Engine:
    """A second engine on the same file for reads, without the write serialisation.

    A read transaction starts with a plain (deferred) BEGIN: it reads a WAL snapshot while the
    writer works and never queues for the write lock.
    """
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", configure_connection)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    return engine


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


def serialise_transactions(engine: Engine, lock_path: Path | None) -> None:
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


class WalCheckpointer:
    """Checkpoints a SQLite write-ahead log from a thread of its own, in every Hallmark process
    that writes to SQLite (API processes, the worker).

    SQLite checkpoints inside the commit that takes the log past 1,000 pages (copying the log
    into the database file, with two fsyncs): the worker's every batch paid for a checkpoint
    while it held the write lock, and an API process paid for one on its event loop every few
    dozen group commits, which every waiting request felt. Here this process's connections do
    not checkpoint at commit; a PASSIVE checkpoint (it never waits for readers or writers) runs
    on a connection of its own after commits, at most every `min_gap` seconds, while the
    process goes on: SQLite releases the GIL for the copy.

    Hand-written: neither SQLAlchemy nor the sqlite3 module offers a background checkpoint.
    """

    def __init__(self, engine: Engine, *, interval: float = 1.0, min_gap: float = 0.25) -> None:
        self.engine = engine
        self.interval = interval
        self.min_gap = min_gap
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        event.listen(self.engine, "checkout", self._no_checkpoint_at_commit)
        event.listen(self.engine, "commit", self._commit)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._due.set()
        self._thread.join(30)
        self._thread = None
        event.remove(self.engine, "checkout", self._no_checkpoint_at_commit)
        event.remove(self.engine, "commit", self._commit)

    @staticmethod
    def _no_checkpoint_at_commit(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not record.info.get("hallmark.no_checkpoint_at_commit"):
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
            record.info["hallmark.no_checkpoint_at_commit"] = True

    def _commit(self, _connection: Any) -> None:
        self._due.set()

    def _run(self) -> None:
        connection = None
        try:
            while not self._stop.is_set():
                self._due.wait(self.interval)
                self._due.clear()
                try:
                    if connection is None:
                        connection = self.engine.raw_connection()
                    connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    self._stop.wait(self.min_gap)  # commits meanwhile wait for the next one
                except Exception as exc:  # a failed checkpoint is retried after the next commit
                    log.warning("sqlite.checkpoint_failed", error=first_line(exc))
                    if connection is not None:
                        with contextlib.suppress(Exception):
                            connection.invalidate()
                        connection = None
                    self._stop.wait(self.interval)
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
