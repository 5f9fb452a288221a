"""Anchoring benchmark: accepted → anchored latency under sustained load, and gas per record.

    python bench/anchoring.py latency [--rate 10000] [--seconds 10] [--database-url URL]
    python bench/anchoring.py backlog [--records 50000]
    python bench/anchoring.py gas [--sizes 1 100 1000]

`latency` starts Hallmark on a fresh data directory (local anvil, SQLite unless
--database-url), creates organisations, runs the anchoring worker as its own process
(`Runtime.start_worker_process()`, as `hallmark serve` does: API processes accept, one worker
anchors) and, once it leads, inserts records through
`hallmark.store.records.add_records` in bulk transactions at --rate records per second for
--seconds, from --writers processes (one Python process canonicalises and hashes about 5,000
records per second, so several stand in for several API processes). It reports the rate
achieved, p50/p95/max of accepted → anchored (record created_at → its batch's mined_at, when
the proofs are written), and the anchoring throughput.

`backlog` accepts --records first, then starts the worker process and reports how fast it
drains them (first batch signed → last batch mined, once every record is anchored): the
worker's capacity.

`gas` anchors batches of each size and reports receipt gasUsed / records.

Nothing is asserted: the figures go to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hallmark.config import Settings
from hallmark.core.logging import configure_logging
from hallmark.core.times import utc
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation
from hallmark.services.anchoring.leadership import leader_lock
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.db import make_engine, session_factory, transaction
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor
from hallmark.store.records import NewRecord, add_records

ORGS = {"supplier": "material_lot", "factory": "production_step", "brand": "product"}


def _runtime(data_dir: Path, database_url: str | None, **overrides: Any) -> Runtime:
    settings = Settings(
        environment="test",
        data_dir=data_dir,
        database_url=database_url,
        anvil_port=0,
        keystore_scrypt_n=1024,
        log_level="WARNING",
        _env_file=None,  # type: ignore[call-arg]
        **overrides,
    )
    configure_logging("WARNING", json=False)
    runtime = Runtime(settings)
    runtime.start()
    return runtime


def _organisations(runtime: Runtime, copies: int) -> list[tuple[str, str]]:
    """(organisation id, record kind) for `copies` organisations of each anchoring kind."""
    assert runtime.sessions is not None
    chain = runtime.chain_access()
    made = []
    for copy in range(copies):
        for kind, record_kind in ORGS.items():
            org = create_organisation(
                sessions=runtime.sessions, chain=chain, name=f"{kind} {copy}", kind=kind
            )
            made.append((org.id, record_kind))
    return made


def _pending(runtime: Runtime) -> int:
    """Records not anchored yet: in the outbox, or in a batch that is not mined."""
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        waiting = session.scalar(select(func.count()).select_from(AnchorQueueEntry)) or 0
        in_batches = session.scalar(
            select(func.coalesce(func.sum(AnchorBatch.record_count), 0)).where(
                AnchorBatch.mined_at.is_(None)
            )
        )
        return int(waiting) + int(in_batches or 0)


def _writer(
    url: str, orgs: list[tuple[str, str]], rate: float, seconds: float, start: float
) -> int:
    """Insert at `rate` records per second from `start` (wall clock) for `seconds`."""
    sessions = session_factory(make_engine(url))
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    time.sleep(max(0.0, start - time.time()))
    inserted = 0
    pid = os.getpid()
    while time.time() < start + seconds:
        with transaction(sessions) as session:
            add_records(
                session,
                [
                    NewRecord(kind, org_id, {"n": inserted + i, "writer": pid})
                    for i in range(per_tick)
                    for org_id, kind in [orgs[(inserted + i) % len(orgs)]]
                ],
            )
        inserted += per_tick
        time.sleep(max(0.0, start + inserted / rate - time.time()))
    return inserted


def latency(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = _runtime(data_dir, args.database_url)
    try:
        assert runtime.sessions is not None and runtime.chain is not None
        orgs = _organisations(runtime, args.organisations)
        worker = runtime.start_worker_process()
        if not worker.wait_started(120):
            raise SystemExit("the worker process did not start")
        start = time.time() + 1  # the writer processes' start-up
        url = runtime.settings.effective_database_url
        share = args.rate / args.writers
        with multiprocessing.get_context("spawn").Pool(args.writers) as pool:
            results = [
                pool.apply_async(_writer, (url, orgs, share, args.seconds, start))
                for _ in range(args.writers)
            ]
            inserted = sum(r.get() for r in results)
        load_seconds = time.time() - start
        while _pending(runtime) and time.time() < start + args.seconds + 300:
            time.sleep(0.1)
        drained = time.time() - start
        worker.stop()
        with runtime.sessions() as session:
            rows = session.execute(
                select(Record.created_at, AnchorBatch.mined_at, AnchorBatch.gas_used)
                .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
                .where(AnchorBatch.mined_at.is_not(None))
            ).all()
            batches = session.scalar(select(func.count()).select_from(AnchorBatch)) or 0
        waits = sorted((utc(mined) - utc(created)).total_seconds() for created, mined, _ in rows)
        quantiles = statistics.quantiles(waits, n=100)
        print(f"database        {runtime.settings.effective_database_url.split(':')[0]}")
        print(f"organisations   {len(orgs)} (each anchors with its own account)")
        print(
            f"inserted        {inserted} records in {load_seconds:.1f} s "
            f"({inserted / load_seconds:,.0f}/s, target {args.rate:,}/s)"
        )
        print(
            f"anchored        {len(rows)} records in {batches} batches, all anchored "
            f"{drained:.1f} s after the load began ({len(rows) / drained:,.0f} records/s)"
        )
        print(
            f"accepted → anchored  p50 {quantiles[49]:.2f} s   p95 {quantiles[94]:.2f} s   "
            f"max {waits[-1]:.2f} s"
        )
    finally:
        runtime.stop()


def backlog(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = _runtime(data_dir, args.database_url)
    try:
        assert runtime.sessions is not None
        orgs = _organisations(runtime, args.organisations)
        for start in range(0, args.records, 5000):
            with transaction(runtime.sessions) as session:
                add_records(
                    session,
                    [
                        NewRecord(kind, org_id, {"n": start + i, "bench": "backlog"})
                        for i in range(min(5000, args.records - start))
                        for org_id, kind in [orgs[(start + i) % len(orgs)]]
                    ],
                )
        worker = runtime.start_worker_process()
        deadline = time.time() + 600
        while _pending(runtime) and time.time() < deadline:
            time.sleep(0.2)
        worker.stop()
        with runtime.sessions() as session:
            first, last, batches = session.execute(
                select(
                    func.min(AnchorBatch.created_at), func.max(AnchorBatch.mined_at), func.count()
                )
            ).one()
        seconds = (utc(last) - utc(first)).total_seconds()
        print(f"database        {runtime.settings.effective_database_url.split(':')[0]}")
        print(f"backlog         {args.records} records, {len(orgs)} organisations")
        print(
            f"drained         in {seconds:.2f} s, {batches} batches: "
            f"{args.records / seconds:,.0f} records/s, {batches / seconds:,.1f} tx/s"
        )
    finally:
        runtime.stop()


def gas(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = _runtime(data_dir, args.database_url, anchor_interval=0.05)
    try:
        assert runtime.sessions is not None and runtime.engine is not None
        assert runtime.deployment is not None
        [(org_id, kind)] = _organisations(runtime, 1)[:1]
        for size in args.sizes:
            settings = runtime.settings.model_copy(update={"anchor_batch_size": size})
            worker = AnchorWorker(
                sessions=runtime.sessions,
                ledger=runtime.ledger,
                leader=leader_lock(runtime.engine, data_dir),
                settings=settings,
                chain_id=runtime.deployment.chain_id,
                deployment_block=runtime.deployment.deployment_block,
                deployment_id=runtime.deployment_id,
                ledgers=runtime.ledger_for,
            )
            with runtime.sessions() as session:
                first = session.scalar(select(func.max(AnchorBatch.id))) or 0
            with transaction(runtime.sessions) as session:
                add_records(
                    session,
                    [NewRecord(kind, org_id, {"n": i, "size": size}) for i in range(size * 3)],
                )
            deadline = time.monotonic() + 120
            while _pending(runtime) and time.monotonic() < deadline:
                time.sleep(min(worker.step(), 0.02))
            worker.leader.release()
            with runtime.sessions() as session:
                used = session.execute(
                    select(AnchorBatch.gas_used, AnchorBatch.record_count).where(
                        AnchorBatch.id > first
                    )
                ).all()
            per_record = [g / c for g, c in used if g]
            print(
                f"batch of {size:>5}: {statistics.mean(g for g, _ in used):>9,.0f} gas per tx, "
                f"{statistics.mean(per_record):>9,.1f} gas per record ({len(used)} batches)"
            )
    finally:
        runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("latency", help="accepted → anchored under sustained load")
    load.add_argument("--rate", type=int, default=10_000, help="records per second")
    load.add_argument("--seconds", type=float, default=10.0)
    load.add_argument("--organisations", type=int, default=1, help="copies of each org kind")
    load.add_argument("--writers", type=int, default=4, help="inserting processes")
    load.set_defaults(run=latency)
    drain = commands.add_parser("backlog", help="how fast the worker drains a backlog")
    drain.add_argument("--records", type=int, default=50_000)
    drain.add_argument("--organisations", type=int, default=1, help="copies of each org kind")
    drain.set_defaults(run=backlog)
    cost = commands.add_parser("gas", help="gas per record by batch size")
    cost.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    cost.set_defaults(run=gas)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
