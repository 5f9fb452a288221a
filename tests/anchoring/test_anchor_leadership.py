"""Exactly one worker anchors at a time; another takes over when the leader dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from tests.conftest import POSTGRES_URL

from conftest import Harness, Process, readyz, wait_for
from hallmark.core.ports import free_port
from hallmark.services.anchoring.leadership import FileLock


def test_one_worker_leads_on_sqlite_and_another_takes_over(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_batch_size=10)
    first, second = h.worker(), h.worker()
    first.step()
    second.step()
    assert (first.state.role, second.state.role) == ("leader", "standby")
    h.add("supplier", 30)
    h.add("factory", 5)
    deadline = time.monotonic() + 30
    while not h.drained():
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(first.step(), second.step(), 0.05))
    assert second.state.role == "standby"
    assert (first.state.batches_sent, second.state.batches_sent) == (4, 0)

    first.leader.release()  # the leader dies: the kernel drops its lock
    h.add("brand", 3)
    h.drain(second)
    assert second.state.role == "leader"
    assert second.state.batches_sent == 1
    h.assert_anchored_exactly_once()


def _leader_pid(database_url: str) -> int | None:
    """The process holding the anchoring lock, from its connection's application_name."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
        ).fetchone()
    if row is None:
        return None
    found = re.search(r"pid=(\d+)", row[0])
    return int(found.group(1)) if found else None


@pytest.mark.skipif(not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)")
def test_two_processes_on_one_postgresql_anchor_once_and_take_over(
    harness: Callable[..., Harness], spawn: Callable[..., Process], postgres_database: str
) -> None:
    h = harness(database_url=postgres_database, anchor_batch_size=50)
    port = free_port()
    api = spawn(h, "serve", HALLMARK_PORT=str(port))  # runs a worker process (worker_in_serve)
    alone = spawn(h, "worker")
    wait_for(lambda: readyz(port)["anchoring"]["process"]["pid"] is not None, 180, "its worker")
    api_worker = readyz(port)["anchoring"]["process"]["pid"]
    worker_pids = {api_worker: api, alone.pid: alone}
    wait_for(lambda: _leader_pid(postgres_database) in worker_pids, 180, "a leader")
    h.add("supplier", 400)
    h.add("factory", 120)
    h.wait_drained(180)

    leader = worker_pids[_leader_pid(postgres_database) or 0]
    standby = alone if leader is api else api
    standby_pid = alone.pid if standby is alone else api_worker
    # The standby may still be starting (a loaded machine): wait for it to report its role.
    wait_for(lambda: "anchoring.standby" in standby.log(), 180, "the standby to stand by")
    assert "anchoring.signed" not in standby.log(), "the standby anchored"
    wait_for(lambda: readyz(port)["anchoring"]["role"] != "starting", 90, "the worker's report")
    report = readyz(port)
    assert report["anchoring"]["role"] == ("leader" if leader is api else "standby")
    assert report["anchoring"]["lock"] == "postgresql advisory lock"
    assert report["anchoring"]["process"]["pid"] == api_worker
    assert report["anchoring"]["outbox"]["pending"] == 0

    # The leader dies: `hallmark worker`, or `hallmark serve` (its worker process goes with it).
    os.kill(leader.pid, signal.SIGKILL)
    leader.popen.wait(30)  # SIGKILL: it ends at once (TimeoutExpired otherwise)
    h.add("supplier", 60)
    h.add("brand", 10)
    wait_for(lambda: _leader_pid(postgres_database) == standby_pid, 90, "the takeover")
    h.wait_drained(180)
    assert "anchoring.leader" in standby.log()
    h.assert_anchored_exactly_once(verify_on_chain=2)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_frozen_holder_of_the_file_lock_is_killed_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    # A stopped process handles SIGTERM only once continued, which may be never: the standby
    # must not wait out its grace for it.
    path = tmp_path / "anchoring.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, pathlib, sys, time; from hallmark.core import locks; "
            "held = locks.try_lock(pathlib.Path(sys.argv[1]), f'pid={os.getpid()}'); "
            "assert held; print('held', flush=True); time.sleep(3600)",
            str(path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        os.kill(holder.pid, signal.SIGSTOP)
        wait_for(lambda: _state(holder.pid) == "T", 30, "the holder to stop")
        lock = FileLock(path)
        assert not lock.acquire()
        taken: list[bool] = []
        taking = threading.Thread(
            target=lambda: taken.append(lock.take_over(grace=3600)), daemon=True
        )
        taking.start()
        taking.join(60)
        assert taken == [True], "the standby waited for a stopped process to handle SIGTERM"
        assert holder.wait(30) == -signal.SIGKILL, "it was not killed (or not by SIGKILL)"
        lock.release()
    finally:
        holder.kill()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
