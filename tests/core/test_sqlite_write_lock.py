"""SQLite writers of several processes take turns on Hallmark's lock, not SQLite's busy sleeps."""

from __future__ import annotations

import fcntl
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from hallmark.store.db import make_engine, session_factory, transaction

_METADATA = MetaData()
_ROWS = Table(
    "rows",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("writer", String(16)),
    Column("value", Integer),
)


def _write(url: str, writer: str, count: int, hold: float) -> None:
    engine = make_engine(url)
    sessions = session_factory(engine)
    for value in range(count):
        with transaction(sessions) as session:
            # Read, then write: the read-modify-write a stale snapshot would break.
            current = session.scalar(select(func.count()).select_from(_ROWS)) or 0
            time.sleep(hold)
            session.execute(insert(_ROWS).values(writer=writer, value=current + value))
    engine.dispose()


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    setup = make_engine(url)
    _METADATA.create_all(setup)
    setup.dispose()
    return url


def test_processes_take_turns_without_lock_errors(tmp_path: Path) -> None:
    url = _database(tmp_path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write, args=(url, f"w{i}", 25, 0.002)) for i in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert [p.exitcode for p in writers] == [0, 0, 0]
    check = make_engine(url)
    with session_factory(check)() as session:
        counts = dict(
            session.execute(select(_ROWS.c.writer, func.count()).group_by(_ROWS.c.writer)).all()
        )
    check.dispose()
    assert counts == {"w0": 25, "w1": 25, "w2": 25}


def _hold(url: str, inside: Any, leave: Any) -> None:
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        session.execute(insert(_ROWS).values(writer="holder", value=1))
        inside.set()
        leave.wait(30)
    engine.dispose()


def test_an_open_transaction_holds_the_lock_file_until_it_ends(tmp_path: Path) -> None:
    url = _database(tmp_path)
    context = multiprocessing.get_context("spawn")
    inside, leave = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(url, inside, leave))
    holder.start()
    try:
        assert inside.wait(60)
        with (tmp_path / "shared.db.lock").open("a+b") as file:
            with pytest.raises(BlockingIOError):  # another process's writer waits here
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            leave.set()
            holder.join(60)
            assert holder.exitcode == 0
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the commit
            fcntl.flock(file, fcntl.LOCK_UN)
    finally:
        leave.set()
        holder.join(10)
