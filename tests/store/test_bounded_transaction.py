"""`db.transaction(..., wait=)`: on SQLite a write transaction waits for the write lock a
bounded time, then is refused (503, retry after 1 s) with nothing written."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import text

from hallmark.core.errors import ServiceUnavailableError
from hallmark.store import db
from tests.store.test_stalls import _hold_write_lock


def test_a_bounded_write_transaction_is_refused_while_another_process_holds_the_lock(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bounded.sqlite3'}"
    engine = db.make_engine(url)
    sessions = db.session_factory(engine)
    try:
        with db.transaction(sessions, wait=1.0) as session:
            session.execute(text("CREATE TABLE notes (body TEXT)"))
        context = multiprocessing.get_context("spawn")
        held, release = context.Event(), context.Event()
        # Until released (60 s at most): a loaded machine cannot outlast it before the checks.
        holder = context.Process(target=_hold_write_lock, args=(url, held, 60.0, release))
        holder.start()
        assert held.wait(180)  # a spawned process starts slowly on a busy machine
        with (
            pytest.raises(ServiceUnavailableError) as refused,
            db.transaction(sessions, wait=0.2) as session,
        ):
            session.execute(text("INSERT INTO notes VALUES ('refused')"))
        assert refused.value.http_status == 503
        assert refused.value.details == {"retry_after_seconds": 1}
        assert holder.is_alive(), "refused only once the lock was free"
        release.set()
        holder.join(30)
        assert holder.exitcode == 0
        with db.transaction(sessions, wait=0.2) as session:  # free again: it goes ahead
            session.execute(text("INSERT INTO notes VALUES ('kept')"))
        with sessions() as session:
            assert session.execute(text("SELECT body FROM notes")).scalars().all() == ["kept"]
    finally:
        engine.dispose()
