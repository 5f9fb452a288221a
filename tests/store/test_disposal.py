"""Stopping closes every database connection, those still in use included: a thread that
outlives its stop (a join that timed out, a request finishing late) gives its connection back
after the engine was disposed, to a pool nothing refers to any more. SQLAlchemy then leaves it
open until the garbage collector finds the pool: on PostgreSQL a server session kept for
nothing, and psycopg's ResourceWarning at whatever moment the collector runs."""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from hallmark.store import db
from tests.conftest import POSTGRES_URL, World, fresh_postgres_database


def is_closed(raw: Any) -> bool:
    """Whether a DBAPI connection (psycopg or sqlite3) is closed."""
    if isinstance(raw, psycopg.Connection):
        return raw.closed
    assert isinstance(raw, sqlite3.Connection)
    try:
        raw.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_a_connection_in_use_when_the_engine_is_disposed_is_closed_when_given_back(
    database_url: str,
) -> None:
    engine = db.make_engine(database_url)
    idle, connection = engine.connect(), engine.connect()  # each opens its DBAPI connection
    idle_raw = idle.connection.dbapi_connection
    raw = connection.connection.dbapi_connection
    idle.close()  # back in the pool: Engine.dispose closes it
    db.dispose(engine)
    assert is_closed(idle_raw)
    assert not is_closed(raw), "a connection in use is closed under its holder"
    connection.close()
    assert is_closed(raw), "a connection given back after the disposal was kept open"
    # The engine still works after a disposal (a new pool), and keeps its connections.
    with engine.connect() as again:
        assert again.execute(text("SELECT 1")).scalar() == 1
        reused = again.connection.dbapi_connection
    assert not is_closed(reused)
    db.dispose(engine)
    assert is_closed(reused)


def test_a_session_still_open_when_the_runtime_stops_leaves_no_connection_behind(
    world: World,
) -> None:
    # A thread with a session open while the runtime stops, which closes it afterwards. (A
    # reading session: on SQLite a writing one would hold the write lock the stop's last
    # flushes wait for.)
    runtime = world.runtime
    assert runtime.read_sessions is not None
    opened, stopped, done = threading.Event(), threading.Event(), threading.Event()
    raws: list[Any] = []

    def late() -> None:
        with runtime.read_sessions() as session:  # type: ignore[misc]
            session.execute(text("SELECT 1"))
            raws.append(session.connection().connection.dbapi_connection)
            opened.set()
            stopped.wait(30)
        done.set()

    thread = threading.Thread(target=late, daemon=True)
    thread.start()
    assert opened.wait(30)
    runtime.stop()  # its HTTP client and the fixture stop it again: nothing left to do
    stopped.set()
    assert done.wait(30)
    thread.join(30)
    assert is_closed(raws[0]), "the session's connection outlived the runtime"


@pytest.mark.skipif(not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)")
def test_a_connection_whose_pool_is_dropped_undisposed_is_closed() -> None:
    # An engine dropped without a disposal leaves its pooled connections to the garbage
    # collector: each is closed as its pool entry goes, not left to psycopg's warning.
    with fresh_postgres_database() as url:
        _drop_undisposed(url)


def _drop_undisposed(url: str) -> None:
    # Kept by the test: closed when its pool goes.
    engine = db.make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        raw = connection.connection.dbapi_connection
    assert isinstance(raw, psycopg.Connection)
    assert not raw.closed  # idle in the pool
    del engine, connection
    gc.collect()
    assert raw.closed, "the connection of a dropped pool was left open"
    # Referred to by nothing: collected closed, where psycopg's __del__ warned of it (an
    # unraisable exception, which the collector reports and never raises).
    unraisable: list[str] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: unraisable.append(str(u.exc_value))
    try:
        engine = db.make_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        del engine, connection
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert not unraisable, unraisable
