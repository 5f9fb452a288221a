"""Durability: an answered SQLite commit is synced to disk, and processes starting together on a
fresh PostgreSQL database migrate it in turn."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hallmark.store import db
from tests.conftest import POSTGRES_URL, fresh_postgres_database

#: PRAGMA synchronous: 2 is FULL (the write-ahead log synced at every commit).
FULL = 2


def test_sqlite_connections_sync_every_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hallmark.sqlite3'}"
    engine = db.make_engine(url)
    read_engine = db.make_read_engine(url)
    assert read_engine is not None
    try:
        for each in (engine, read_engine):
            with each.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
    finally:
        engine.dispose()
        read_engine.dispose()


def _migrate(url: str, barrier: Any, results: Any) -> None:
    engine = db.make_engine(url)
    try:
        barrier.wait(30)
        db.migrate(engine)
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)")
def test_three_processes_migrate_a_fresh_postgres_database_together() -> None:
    context = multiprocessing.get_context("spawn")
    with fresh_postgres_database() as url:
        barrier = context.Barrier(3)
        results = context.Queue()
        processes = [
            context.Process(target=_migrate, args=(url, barrier, results)) for _ in range(3)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
        outcomes = sorted(results.get(timeout=5) for _ in processes)
        assert outcomes == ["ok", "ok", "ok"]
        assert [process.exitcode for process in processes] == [0, 0, 0]
        engine = db.make_engine(url)
        try:
            assert db.check(engine)["migrations_current"] is True
            with engine.connect() as connection:
                versions = connection.execute(text("SELECT count(*) FROM alembic_version"))
                assert versions.scalar() == 1
        finally:
            engine.dispose()
