"""Anchoring fixtures: a started Hallmark with one organisation per anchoring kind, records
written straight through the store (as the API does), workers built or run as processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from tests.conftest import anchor_worker, uses_shared_chain
from tests.database_templates import DatabaseTemplates
from tests.shared_chain import HARNESS_ORGANISATIONS, SharedChain
from web3 import Web3

from hallmark.config import Settings
from hallmark.core.merkle import StandardMerkleTree
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation
from hallmark.services.anchoring import forming
from hallmark.services.anchoring.batches import BatchStatus
from hallmark.services.anchoring.status import records_status
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.db import transaction
from hallmark.store.models import (
    AnchorBatch,
    AnchorQueueEntry,
    Organisation,
    Record,
    RecordAnchor,
)
from hallmark.store.records import RECORD_KINDS, NewRecord, StoredRecord, add_records

#: Organisation kind → the record kind it anchors in these tests.
ANCHORING_ORGS = {"supplier": "material_lot", "factory": "production_step", "brand": "product"}

#: Settings that keep the suite fast: short interval, quick retries, quick takeover.
FAST = {
    "anchor_interval": 0.3,
    "anchor_retry_max": 0.5,
    "worker_standby_interval": 0.2,
}


@dataclass
class Harness:
    """A started runtime with a supplier, a factory and a brand, and helpers around anchoring."""

    runtime: Runtime
    orgs: dict[str, Organisation]
    #: The chain's first block after the harness was built: what this test anchored is at or
    #: after it (on the shared chain, what came before belongs to the session).
    first_block: int = 0
    workers: list[AnchorWorker] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def add(
        self, org_kind: str, count: int, record_kind: str | None = None, *, wait: float = 60.0
    ) -> list[StoredRecord]:
        """Accept `count` records of an organisation (records and outbox in one transaction).

        On SQLite it waits at most `wait` seconds for the write lock (another process may hold
        it: a worker frozen inside a transaction holds it until it is ended), then raises
        `ServiceUnavailableError` with nothing added, as the API answers 503."""
        assert self.runtime.sessions is not None
        kind = record_kind or ANCHORING_ORGS[org_kind]
        org = self.orgs[org_kind]
        stored: list[StoredRecord] = []
        with transaction(self.runtime.sessions, wait=wait) as session:
            for start in range(0, count, 5000):
                stored += add_records(
                    session,
                    [
                        NewRecord(kind, org.id, {"n": start + i})
                        for i in range(min(5000, count - start))
                    ],
                )
        return stored

    def worker(self, **overrides: Any) -> AnchorWorker:
        """A worker of this runtime (not started: drive it with `step()`/`run_once()`)."""
        worker = anchor_worker(self.runtime, **overrides)
        self.workers.append(worker)
        return worker

    def reads(self) -> Session:
        """A session that only reads: on SQLite it reads a snapshot and never queues for the
        write lock (which a frozen process may hold for ever); elsewhere an ordinary one."""
        sessions = self.runtime.read_sessions or self.runtime.sessions
        assert sessions is not None
        return sessions()

    def outbox(self) -> int:
        with self.reads() as session:
            return int(session.scalar(select(func.count()).select_from(AnchorQueueEntry)) or 0)

    def batches(self) -> list[AnchorBatch]:
        with self.reads() as session:
            return list(session.scalars(select(AnchorBatch).order_by(AnchorBatch.id)).all())

    def drained(self) -> bool:
        """Nothing waits: the outbox is empty and every batch is confirmed."""
        return self.outbox() == 0 and all(b.status == BatchStatus.CONFIRMED for b in self.batches())

    def drain(self, worker: AnchorWorker, timeout: float = 120.0) -> None:
        """Step the worker until everything is anchored and confirmed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(worker.step(), 0.05))
            if self.drained():
                return
        raise AssertionError(f"not drained in {timeout} s: {self.describe()}")

    def wait_drained(self, timeout: float = 180.0) -> None:
        """Wait for workers running elsewhere (threads, processes) to anchor everything."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.drained():
                return
            time.sleep(0.1)
        raise AssertionError(f"not drained in {timeout} s: {self.describe()}")

    def describe(self) -> str:
        statuses: dict[str, int] = {}
        errors = set()
        for b in self.batches():
            statuses[b.status] = statuses.get(b.status, 0) + 1
            if b.last_error:
                errors.add(b.last_error)
        return f"outbox {self.outbox()}, batches {statuses}, errors {sorted(errors)[:3]}"

    def anchor_logs(self) -> list[Any]:
        """Every BatchAnchored log of the ledger on the chain as it is now, since the harness
        was built."""
        ledger = self.runtime.ledger
        assert self.runtime.deployment is not None
        return list(
            ledger.contract.events.BatchAnchored.get_logs(
                from_block=max(self.runtime.deployment.deployment_block, self.first_block)
            )
        )

    def assert_anchored_exactly_once(self, *, verify_on_chain: int = 20) -> None:
        """Every record in exactly one batch, each root anchored once, counts and proofs right.

        Every proof is checked with Python's StandardMerkleTree.verify; `verify_on_chain` proofs
        per batch with the ledger's verifyRecord.
        """
        runtime = self.runtime
        ledger = runtime.ledger
        accounts = {org.id: org.account_address for org in self.orgs.values()}
        with self.reads() as session:
            records = session.scalars(select(Record)).all()
            batches = {b.id: b for b in session.scalars(select(AnchorBatch))}
            batch_of = dict(
                session.execute(select(RecordAnchor.record_id, RecordAnchor.batch_id)).all()
            )
            statuses = records_status(session=session, record_ids=[r.id for r in records])
        assert self.outbox() == 0
        assert records, "no records"
        per_batch: dict[int, list[Record]] = {}
        for record in records:
            assert record.id in batch_of, f"record {record.id} not anchored"
            status = statuses[record.id]
            assert status.batch_id == batch_of[record.id]
            assert status.proof is not None and status.leaf_index is not None
            per_batch.setdefault(batch_of[record.id], []).append(record)
        assert set(per_batch) == set(batches), "a batch without records, or records elsewhere"
        roots = [b.root for b in batches.values()]
        assert len(set(roots)) == len(roots)
        logs = self.anchor_logs()
        logged_roots = [Web3.to_hex(log["args"]["root"]) for log in logs]
        strangers = [  # what anchored a root this test's batches do not hold, and when
            {**log["args"], "block": log["blockNumber"], "tx": log["transactionHash"].hex()}
            for log in logs
            if Web3.to_hex(log["args"]["root"]) not in roots
        ]
        assert sorted(logged_roots) == sorted(roots), ("a root anchored twice or not", strangers)
        for batch_id, members in per_batch.items():
            batch = batches[batch_id]
            assert batch.status == BatchStatus.CONFIRMED, batch.status
            assert batch.record_count == len(members)
            on_chain = ledger.retrieve_batch(batch.root, anchorer=batch.account_address)
            assert on_chain.anchorer == accounts[batch.organisation_id]
            assert on_chain.record_count == len(members)
            assert on_chain.kind == RECORD_KINDS[batch.kind]
            indexes = sorted(statuses[r.id].leaf_index or 0 for r in members)
            assert indexes == list(range(len(members)))
            for record in members:
                assert record.kind == batch.kind
                assert record.organisation_id == batch.organisation_id
                proof = statuses[record.id].proof
                assert StandardMerkleTree.verify(batch.root, record.record_hash, proof or [])
            for record in members[:verify_on_chain]:
                proof = statuses[record.id].proof
                assert ledger.retrieve_verify_record(
                    batch.root,
                    record.record_hash,
                    proof,
                    anchorer=batch.account_address,
                    kind=RECORD_KINDS[batch.kind],
                )
        assert sum(len(m) for m in per_batch.values()) == len(records)


@pytest.fixture
def harness(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    chain_checkpoint: SharedChain,
    database_templates: DatabaseTemplates,
) -> Iterator[Callable[..., Harness]]:
    """Build a Harness: `harness(database_url=..., anchor_batch_size=..., ...)`.

    It runs on the session's shared chain with the organisations made for it there, unless the
    test is marked `private_chain` or sets the node's settings: then on an anvil of its own,
    with the organisations created afresh."""
    made: list[Harness] = []

    def factory(**overrides: Any) -> Harness:
        shared = uses_shared_chain(request, overrides)
        if shared:
            overrides = {"anvil_port": chain_checkpoint.port, "anvil_attach": True, **overrides}
        settings = make_settings(**{**FAST, **overrides})
        if not shared:
            runtime = start_runtime(settings)
            assert runtime.sessions is not None
            chain = runtime.chain_access()
            for name, kind in HARNESS_ORGANISATIONS.items():
                create_organisation(sessions=runtime.sessions, chain=chain, name=name, kind=kind)
        else:
            chain_checkpoint.fill_data_dir(settings.data_dir)
            if settings.database_url is None:  # SQLite in the data directory
                database_templates.sqlite_copy(settings.data_dir / "hallmark.sqlite3")
            runtime = start_runtime(settings)
            assert runtime.engine is not None
            chain_checkpoint.harness.install(runtime.engine)
        assert runtime.sessions is not None
        with runtime.sessions() as session:
            orgs = {
                org.kind: org
                for org in session.scalars(
                    select(Organisation).where(Organisation.name.in_(HARNESS_ORGANISATIONS))
                )
            }
        head = runtime.ledger.contract.w3.eth.block_number
        built = Harness(runtime=runtime, orgs=orgs, first_block=head + 1)
        made.append(built)
        return built

    yield factory
    for built in made:
        for worker in built.workers:
            # A loop still running after the shared chain is reverted would send its batches
            # again into the next test's chain: fail here, in the test that left it.
            assert worker.stop(), "an anchoring worker of this test did not stop"
            worker.leader.release()


@dataclass
class Process:
    """A Hallmark subprocess (`hallmark worker` or `hallmark serve`) of a test."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def spawn(tmp_path: Path, chain_checkpoint: SharedChain) -> Iterator[Callable[..., Process]]:
    """Start `python -m hallmark <args>` against a harness's data directory, database and chain;
    every process still running at the end is stopped (before the shared chain is reverted)."""
    processes: list[Process] = []

    def factory(h: Harness, *args: str, **env: str) -> Process:
        settings = h.settings
        assert h.runtime.chain is not None
        port = h.runtime.chain.url.rsplit(":", 1)[1]
        values = {
            "HALLMARK_ENVIRONMENT": "test",
            "HALLMARK_DATA_DIR": str(settings.data_dir),
            "HALLMARK_DATABASE_URL": settings.effective_database_url,
            "HALLMARK_ANVIL_PORT": port,
            "HALLMARK_ANVIL_ATTACH": "true" if settings.anvil_attach else "false",
            "HALLMARK_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
            "HALLMARK_ANCHOR_INTERVAL": str(settings.anchor_interval),
            "HALLMARK_ANCHOR_BATCH_SIZE": str(settings.anchor_batch_size),
            "HALLMARK_ANCHOR_RETRY_MAX": str(settings.anchor_retry_max),
            "HALLMARK_WORKER_STANDBY_INTERVAL": str(settings.worker_standby_interval),
            **env,
        }
        log_path = tmp_path / f"process-{len(processes)}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "hallmark", *args],
                env={**os.environ, **values},
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = Process(popen, log_path, settings.data_dir)
        processes.append(process)
        return process

    yield factory
    for process in processes:
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # a frozen process could not stop
                os.kill(process.pid, signal.SIGCONT)
            process.popen.terminate()
            try:
                process.popen.wait(15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                try:
                    process.popen.wait(30)
                except subprocess.TimeoutExpired:
                    raise AssertionError(
                        f"process {process.pid} outlived SIGKILL by 30 s"
                    ) from None
    # What those processes started (serve's worker process, in a session of its own) may
    # outlive them: on the shared chain it would send its batches again after the revert.
    for data_dir in {str(p.data_dir) for p in processes}:
        _stop_processes_of(data_dir)


def _stop_processes_of(data_dir: str, timeout: float = 15.0) -> None:
    """SIGTERM, then after `timeout` SIGKILL, every process of this user running Hallmark on
    `data_dir` (found by its HALLMARK_DATA_DIR), and wait until none is left (at most 30 s
    after the SIGKILL, then fail naming them)."""
    marker = f"HALLMARK_DATA_DIR={data_dir}".encode()

    # /proc is read directly: no process library is a dependency of Hallmark's tests.
    def running() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    deadline = time.monotonic() + timeout
    sig = signal.SIGTERM
    while pids := running():
        if time.monotonic() > deadline + 30:
            raise AssertionError(f"processes on {data_dir} outlived SIGKILL by 30 s: {pids}")
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                if sig == signal.SIGTERM:  # a frozen process handles SIGTERM once it runs
                    os.kill(pid, signal.SIGCONT)
        time.sleep(0.1)


class FormingClock:
    """The clock by which the worker judges the age of outbox entries (`forming`'s
    `datetime.now`), moved on by the test instead of waiting: a check of "not before the
    interval, then at it" holds however slowly a busy machine runs the test."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def forming_clock(monkeypatch: pytest.MonkeyPatch) -> FormingClock:
    clock = FormingClock()

    class MovedDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> MovedDatetime:  # type: ignore[override]
            moved = datetime.now(tz) + clock.offset
            return cls.fromtimestamp(moved.timestamp(), tz)

    monkeypatch.setattr(forming, "datetime", MovedDatetime)
    return clock


def holds_write_lock(pid: int, database_url: str) -> bool:
    """Whether process `pid` holds a SQLite database's write lock: the `flock` every Hallmark
    writer takes, beside the database file, before it begins a transaction (`store/sqlite.py`).
    Read from the kernel's table of locks, `/proc/locks` (Linux)."""
    database = make_url(database_url).database
    assert database, database_url
    try:
        stat = Path(database + ".lock").stat()
    except FileNotFoundError:
        return False
    file = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    for line in Path("/proc/locks").read_text().splitlines():
        # "1: FLOCK  ADVISORY  WRITE 4242 08:01:131090 0 EOF"; a waiter's line has "->" after
        # the number, and is never a holder.
        fields = line.split()
        if fields[1:4] == ["FLOCK", "ADVISORY", "WRITE"] and fields[4:6] == [str(pid), file]:
            return True
    return False


def _inside_a_write_transaction(h: Harness, pid: int) -> bool:
    """Whether process `pid`, a worker of `h`'s database, is inside a write transaction:
    SQLite, it holds the write lock (`holds_write_lock`); PostgreSQL, a session of the
    database other than the test's own has written in a transaction still open (holding its
    row locks). Only the worker writes to the test's database while it runs."""
    url = h.settings.effective_database_url
    if url.startswith("sqlite"):
        return holds_write_lock(pid, url)
    assert h.runtime.engine is not None
    with h.runtime.engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                )
            ).scalar()
        )


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped by a signal (its state in /proc/<pid>/stat is T)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def freeze_inside_a_write_transaction(h: Harness, process: Process, timeout: float = 120.0) -> None:
    """SIGSTOP the anchoring worker `process` at a moment it is inside a write transaction
    (on SQLite holding the write lock every other writer queues on; on PostgreSQL the locks
    of the rows it wrote), and leave it so.

    The test adds records for it to anchor, and stops it the moment the kernel says it holds
    the lock; stopped outside a transaction (it finished meanwhile), it goes on and is caught
    at a later one."""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, (
            f"process {process.pid} was never caught inside a write transaction in {timeout} s"
        )
        h.add("brand", 1)  # work for it: forming, sending, confirming write
        watch = time.monotonic() + 2.0
        while time.monotonic() < watch:
            if not _inside_a_write_transaction(h, process.pid):
                continue
            os.kill(process.pid, signal.SIGSTOP)
            wait_for(lambda: _stopped(process.pid), 30, f"process {process.pid} to stop")
            if _inside_a_write_transaction(h, process.pid):
                return
            os.kill(process.pid, signal.SIGCONT)  # it committed before it stopped: again


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def readyz(port: int, timeout: float = 180) -> dict[str, Any]:
    """The API's readiness report, once it listens (its worker may report before it does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
                report: dict[str, Any] = json.loads(response.read())
                return report
        except urllib.error.HTTPError as exc:  # 503 still carries the report
            report = json.loads(exc.read())
            return report
        except OSError:
            assert time.monotonic() < deadline, "the API never listened"
            time.sleep(0.2)
