"""Anchoring benchmark: accepted → anchored under sustained load, drain rate from a backlog, and
gas per record.

    python -m bench.anchoring latency [--rate 5000] [--seconds 10] [--database-url URL]
    python -m bench.anchoring backlog [--records 500000] [--min-seconds 10]
    python -m bench.anchoring gas [--sizes 1 100 1000]

Each starts Hallmark's runtime on a fresh data directory (its local anvil on HALLMARK_ANVIL_PORT
when set, on a free port otherwise; SQLite unless --database-url) and creates organisations.

`latency` runs the anchoring worker as its own process (`Runtime.start_worker_process()`, as
`hallmark serve` does) and, once it has started, inserts records through
`hallmark.store.records.add_records` in bulk transactions at --rate records per second for
--seconds from --writers processes (standing in for API processes). It reports the rate
achieved, accepted → anchored per record (its `created_at`, set in the inserting transaction, to
its batch's `mined_at`), the lag from the end of the load to the last record mined, and the gas
per record of the batches formed under that load.

`backlog` inserts --records first, then starts the worker process and times the drain from the
worker's start (its start-up counts) to the last batch mined: the worker's capacity. A drain
shorter than --min-seconds is a failure: its rate would be a start-up artefact.

`gas` anchors batches of each size and reports receipt gasUsed per record.

A deadline that expires with records not anchored is a failure (exit status 1), never a figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.results import Result, add_output_argument, distribution, run_main
from bench.runtime import start_runtime
from hallmark.core.times import utc
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation
from hallmark.services.anchoring.leadership import leader_lock
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.db import make_engine, session_factory, transaction
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor
from hallmark.store.records import NewRecord, add_records

ORGS = {"supplier": "material_lot", "factory": "production_step", "brand": "product"}


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


def _wait_anchored(runtime: Runtime, timeout: float) -> int:
    """Wait until every record is anchored or `timeout` passes; how many are not."""
    deadline = time.monotonic() + timeout
    while (pending := _pending(runtime)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pending


def _gas(runtime: Runtime, after_batch: int = 0) -> dict[str, Any] | None:
    """Gas per record of the mined batches with ids above `after_batch`."""
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        used = session.execute(
            select(AnchorBatch.gas_used, AnchorBatch.record_count).where(
                AnchorBatch.id > after_batch, AnchorBatch.gas_used.is_not(None)
            )
        ).all()
    batches = [(int(g), int(c)) for g, c in used if g is not None and c]
    per_record = [g / c for g, c in batches]
    if not per_record:
        return None
    return {
        "batches": len(batches),
        "records_per_batch": statistics.mean(c for _, c in batches),
        "overall": sum(g for g, _ in batches) / sum(c for _, c in batches),
        "min": min(per_record),
        "median": statistics.median(per_record),
        "max": max(per_record),
    }


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


_barrier: Any = None


def _join(barrier: Any) -> None:
    """A writer process's initializer: keep the barrier every writer meets at start."""
    global _barrier  # noqa: PLW0603 - one per process, set once by the pool
    _barrier = barrier


def _ready(_: int) -> None:
    """Wait until every writer process is up (each call blocks one process until all are)."""
    _barrier.wait(120)


def latency(args: argparse.Namespace, result: Result) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = start_runtime(data_dir, args.database_url)
    try:
        assert runtime.sessions is not None and runtime.chain is not None
        orgs = _organisations(runtime, args.organisations)
        worker = runtime.start_worker_process()
        if not worker.wait_started(120):
            raise RuntimeError("the worker process did not start within 120 s")
        url = runtime.settings.effective_database_url
        share = args.rate / args.writers
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(args.writers)
        with context.Pool(args.writers, initializer=_join, initargs=(barrier,)) as pool:
            # Every writer process started and its imports done before the clock starts.
            pool.map(_ready, range(args.writers), chunksize=1)
            start = time.time() + 0.2
            results = [
                pool.apply_async(_writer, (url, orgs, share, args.seconds, start))
                for _ in range(args.writers)
            ]
            inserted = sum(r.get() for r in results)
        load_end = time.time()
        offered = args.rate * args.seconds
        result.check(
            inserted >= 0.9 * offered,
            f"the writers inserted {inserted} of {offered:.0f} records offered: the load "
            "generator fell behind, so the latency is not at the rate offered",
        )
        pending = _wait_anchored(runtime, args.anchor_timeout)
        result.check(
            not pending,
            f"{pending} records not anchored within {args.anchor_timeout:.0f} s of the load's end",
        )
        worker.stop()
        with runtime.sessions() as session:
            rows = session.execute(
                select(Record.created_at, AnchorBatch.mined_at)
                .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
                .where(AnchorBatch.mined_at.is_not(None))
            ).all()
        pairs = [(utc(created), utc(mined)) for created, mined in rows if mined is not None]
        waits = [(mined - created).total_seconds() for created, mined in pairs]
        last_mined = max((mined for _, mined in pairs), default=None)
        load_seconds = load_end - start
        result.figures.update(
            {
                "database": runtime.settings.effective_database_url.split(":")[0],
                "organisations": len(orgs),
                "inserted": inserted,
                "insert_seconds": load_seconds,
                "inserted_per_second": inserted / load_seconds,
                "offered_per_second": args.rate,
                "anchored": len(rows),
                "from_creation_s": distribution(waits),
                "lag_after_load_s": (
                    last_mined - datetime.fromtimestamp(load_end, UTC)
                ).total_seconds()
                if last_mined
                else None,
                "gas_per_record": _gas(runtime),
            }
        )
        f = result.figures
        print(
            f"inserted {inserted} records in {load_seconds:.1f} s "
            f"({f['inserted_per_second']:,.0f}/s, offered {args.rate:,}/s); anchored "
            f"{len(rows)}, {pending} not anchored in time"
        )
        if waits:
            d = f["from_creation_s"]
            print(
                f"accepted -> anchored from creation: p50 {d['p50']:.2f} s, p95 {d['p95']:.2f} s, "
                f"max {d['max']:.2f} s; last mined {f['lag_after_load_s']:.2f} s after the load"
            )
    finally:
        runtime.stop()


def backlog(args: argparse.Namespace, result: Result) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = start_runtime(data_dir, args.database_url)
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
        worker_start = datetime.now(UTC)  # the drain clock starts with the worker
        worker = runtime.start_worker_process()
        pending = _wait_anchored(runtime, args.anchor_timeout)
        result.check(
            not pending,
            f"{pending} of {args.records} records not anchored within {args.anchor_timeout:.0f} s",
        )
        worker.stop()
        with runtime.sessions() as session:
            first, last, batches = session.execute(
                select(
                    func.min(AnchorBatch.created_at), func.max(AnchorBatch.mined_at), func.count()
                )
            ).one()
        if last is None:
            raise RuntimeError("no batch was mined")
        seconds = (utc(last) - worker_start).total_seconds()
        anchored = args.records - pending
        result.check(
            seconds >= args.min_seconds,
            f"the drain took {seconds:.1f} s, under {args.min_seconds:.0f} s: "
            "the backlog is too small for a rate",
        )
        result.figures.update(
            {
                "database": runtime.settings.effective_database_url.split(":")[0],
                "records": args.records,
                "anchored": anchored,
                "organisations": len(orgs),
                "seconds": seconds,
                "startup_seconds": (utc(first) - worker_start).total_seconds(),
                "records_per_second": anchored / seconds,
                "batches": batches,
                "transactions_per_second": batches / seconds,
                "gas_per_record": _gas(runtime),
            }
        )
        print(
            f"drained {anchored} of {args.records} records in {seconds:.2f} s from the worker's "
            f"start ({result.figures['startup_seconds']:.2f} s to its first batch), {batches} "
            f"batches: {anchored / seconds:,.0f} records/s, {batches / seconds:,.1f} tx/s"
        )
    finally:
        runtime.stop()


def gas(args: argparse.Namespace, result: Result) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="hallmark-bench-")) / "data"
    runtime = start_runtime(data_dir, args.database_url, anchor_interval=0.05)
    try:
        assert runtime.sessions is not None and runtime.engine is not None
        assert runtime.deployment is not None
        [(org_id, kind)] = _organisations(runtime, 1)[:1]
        sizes: dict[str, Any] = {}
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
            deadline = time.monotonic() + args.anchor_timeout
            while _pending(runtime) and time.monotonic() < deadline:
                time.sleep(min(worker.step(), 0.02))
            worker.leader.release()
            pending = _pending(runtime)
            result.check(not pending, f"batch size {size}: {pending} records not anchored")
            figures = _gas(runtime, first)
            if figures is None:
                result.fail(f"batch size {size}: no batch mined")
                continue
            sizes[str(size)] = figures
            print(
                f"batch of {size:>5}: {figures['overall'] * figures['records_per_batch']:>9,.0f} "
                f"gas per tx, {figures['overall']:>9,.1f} gas per record "
                f"({figures['batches']} batches)"
            )
        result.figures["sizes"] = sizes
    finally:
        runtime.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument(
        "--anchor-timeout", type=float, default=600.0, help="seconds for the anchoring to finish"
    )
    add_output_argument(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("latency", help="accepted → anchored under sustained load")
    load.add_argument("--rate", type=int, default=5_000, help="records per second")
    load.add_argument("--seconds", type=float, default=10.0)
    load.add_argument("--organisations", type=int, default=1, help="copies of each org kind")
    load.add_argument("--writers", type=int, default=2, help="inserting processes")
    load.set_defaults(run=latency)
    drain = commands.add_parser("backlog", help="how fast the worker drains a backlog")
    drain.add_argument("--records", type=int, default=500_000)
    drain.add_argument("--organisations", type=int, default=1, help="copies of each org kind")
    drain.add_argument(
        "--min-seconds", type=float, default=10.0, help="shortest drain that gives a rate"
    )
    drain.set_defaults(run=backlog)
    cost = commands.add_parser("gas", help="gas per record by batch size")
    cost.add_argument("--sizes", type=int, nargs="+", default=[1, 100, 1000])
    cost.set_defaults(run=gas)
    return parser.parse_args(argv)


def new_result(args: argparse.Namespace) -> Result:
    settings = {
        k: v for k, v in vars(args).items() if k not in {"run", "json", "database_url", "command"}
    }
    settings["database"] = "postgresql" if args.database_url else "sqlite"
    return Result(benchmark="anchoring", kind=f"anchoring.{args.command}", settings=settings)


if __name__ == "__main__":
    arguments = parse_args()
    run_main(new_result, arguments.run, arguments)
