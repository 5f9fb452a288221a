"""Ingestion benchmark: production steps through the batch endpoint or the single-step endpoint,
and how long the anchoring takes behind that intake.

Runs Hallmark as a user does: `hallmark serve` in its own process group (its local anvil, SQLite
in a temporary data directory or the PostgreSQL database of `--database-url`, `--processes` API
processes, its anchoring worker unless `--no-worker`), on the ports of HALLMARK_PORT and
HALLMARK_ANVIL_PORT when they are set and on free ports it passes on otherwise. A factory and its
key are made with `hallmark admin`; then, over real HTTP on loopback:

1. the batch endpoint (`--requests` > 0): `--requests` requests of `--batch` steps. Unpaced,
   `--clients` clients each send their next request when the previous one is answered (closed
   loop: the figure is the server's capacity). With `--rate` steps/s, every request has its due
   time on a fixed schedule and is sent then whether earlier ones are answered or not (open
   loop); its latency runs from its due time, so a server that falls behind shows as latency,
   not as a slower schedule;
2. the single-step endpoint (`--single-seconds` > 0): autocannon (bench/single_load.mjs) over
   `--connections` keep-alive connections; requests/s counts 2xx answers only;
3. with the worker on, every record of each phase must be anchored (mined) within
   `--anchor-timeout` seconds of the phase's end: accepted → anchored per record, from its
   `created_at` and from the moment its answer arrived; the lag from the end of the intake to
   the last record mined; and the gas per record of the batches that anchored the phase.

Every non-2xx answer, step not created, record not anchored in time or crash is a failure: it is
reported, the figures count only successful work, and the exit status is 1.

    python -m bench.ingest --requests 20 --batch 5000 --single-seconds 0
    python -m bench.ingest --rate 10000 --requests 40 --single-seconds 0
    python -m bench.ingest --requests 0 --single-seconds 20 --processes 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.results import Result, add_output_argument, distribution, port_setting, run_main
from hallmark.config import Settings
from hallmark.core.times import utc
from hallmark.store.db import make_engine, session_factory
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor

FACTORY = "Bench Factory"
#: Most requests in flight at once in the open-loop schedule (each has its own connection).
OPEN_LOOP_CONNECTIONS = 64


def hallmark(env: dict[str, str], *args: str) -> str:
    """Run a `hallmark` command; its standard output."""
    completed = subprocess.run(
        [sys.executable, "-m", "hallmark", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if completed.returncode != 0:
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"hallmark {' '.join(args)} failed: {reason}")
    return completed.stdout


def wait_ready(
    base_url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 240
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines() or ["no output"]
            raise RuntimeError(f"hallmark serve exited with {server.returncode}: {lines[-1]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"hallmark serve was not ready within {timeout:.0f} s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything it started (its process group), if still there."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    except ProcessLookupError:  # gone already, with its group
        process.wait(10)


@dataclass(frozen=True)
class Served:
    """A `hallmark serve` a benchmark started: its environment (for `hallmark` commands), its
    API and node addresses, the database it writes and its data directory."""

    env: dict[str, str]
    base_url: str
    rpc_url: str
    database_url: str
    data_dir: Path


@contextmanager
def served(
    result: Result, database_url: str | None, processes: int, *, worker: bool = True
) -> Iterator[Served]:
    """`hallmark serve` with `processes` API processes on a fresh data directory and its own
    anvil (on HALLMARK_PORT and HALLMARK_ANVIL_PORT when set, free ports otherwise: recorded in
    the result), SQLite unless `database_url`; ready when entered, stopped with all it started
    when left."""
    with tempfile.TemporaryDirectory(prefix="hallmark-bench-") as tmp:
        port, port_from = port_setting("HALLMARK_PORT")
        anvil_port, anvil_from = port_setting("HALLMARK_ANVIL_PORT")
        result.settings["ports"] = {
            "api": port,
            "api_from": port_from,
            "anvil": anvil_port,
            "anvil_from": anvil_from,
        }
        effective_url = Settings(
            environment="test", data_dir=Path(tmp), database_url=database_url, _env_file=None
        ).effective_database_url
        env = {
            **os.environ,
            "HALLMARK_ENVIRONMENT": "test",
            "HALLMARK_DATA_DIR": tmp,
            "HALLMARK_HOST": "127.0.0.1",
            "HALLMARK_PORT": str(port),
            "HALLMARK_ANVIL_PORT": str(anvil_port),
            "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
            "HALLMARK_LOG_LEVEL": "WARNING",
            "HALLMARK_WORKER_IN_SERVE": "true" if worker else "false",
            "HALLMARK_DATABASE_URL": effective_url,  # the one measured, whatever the shell says
            # the load comes from one address: a budget no run reaches, so the public
            # verification's limit is counted (its cost measured) but refuses nothing
            "HALLMARK_VERIFY_RATE_LIMIT": "1000000000/second",
        }
        env.pop("HALLMARK_RPC_URL", None)  # its own local chain, on the port above
        base_url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "serve.log"
        with log.open("wb") as output:  # the server's output, for the reason it failed
            server = subprocess.Popen(  # its own process group: stopped with all it started
                [sys.executable, "-m", "hallmark", "serve", "--processes", str(processes)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_ready(base_url, server, log)
            yield Served(env, base_url, f"http://127.0.0.1:{anvil_port}", effective_url, Path(tmp))
        finally:
            stop_group(server)


def make_products(client: httpx.Client, count: int) -> list[str]:
    serials = [f"B-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for start in range(0, count, 5000):
        chunk = serials[start : start + 5000]
        response = client.post(
            "/api/v1/products/batch",
            json=[{"serial": s, "name": "Bench ring", "category": "ring"} for s in chunk],
        )
        if not response.is_success:
            raise RuntimeError(f"products: HTTP {response.status_code}: {response.text[:200]}")
    return serials


def steps_payload(serials: list[str], size: int, offset: int) -> list[dict[str, Any]]:
    kinds = ("wax_3d_print", "casting", "stone_setting", "polishing", "laser_engraving")
    return [
        {
            "product_serial": serials[(offset + i) % len(serials)],
            "kind": kinds[i % len(kinds)],
            "occurred_at": "2026-11-20T09:30:00+08:00",
            "parameters": {"layer_height_mm": "0.05", "tool": "T3"},
            "measurements": {"mass_g": "12.345"},
            "responsible": f"emp-{i % 97:05d}",
        }
        for i in range(size)
    ]


@dataclass
class BatchOutcome:
    """What the batch phase saw: per request its latency, per record its answer's arrival."""

    latencies: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    answered: dict[str, datetime] = field(default_factory=dict)
    created: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, response: httpx.Response | None, size: int, latency: float, error: str = ""
    ) -> None:
        at = datetime.now(UTC)
        failure = ""
        rows: list[dict[str, Any]] = []
        if response is None:
            failure = f"batch request failed: {error}"
        elif not response.is_success:
            failure = f"batch request: HTTP {response.status_code}: {response.text[:200]}"
        else:
            body = response.json()  # parsed outside the lock: the other clients go on
            rows = [row for row in body.get("results", []) if row.get("id")]
            if body.get("created") != size or len(rows) != size:
                failure = f"batch request: {body.get('created')} of {size} steps created"
        with self.lock:
            if failure:
                self.failures.append(failure)
            if rows:
                self.created += len(rows)
                self.latencies.append(latency)
                self.answered.update((row["id"], at) for row in rows)


def bench_batch(
    base_url: str,
    key: str,
    serials: list[str],
    requests: int,
    size: int,
    clients: int,
    rate: float,
    transport: httpx.BaseTransport | None = None,
) -> tuple[BatchOutcome, float]:
    """The batch phase (see the module docstring): its outcome and its duration (start → last
    answer; paced, at least the schedule's length)."""
    # Encoded up front: the clients' JSON encoding is not the server's time. Each client writes
    # for its own products (as each factory line records its own pieces).
    shares = [serials[c::clients] for c in range(clients)]
    payloads = [
        json.dumps(steps_payload(shares[r % clients], size, r * size)).encode()
        for r in range(requests)
    ]
    outcome = BatchOutcome()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connections = OPEN_LOOP_CONNECTIONS if rate > 0 else clients
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    with httpx.Client(
        base_url=base_url, headers=headers, timeout=300, limits=limits, transport=transport
    ) as client:

        def post(payload: bytes, since: float) -> None:
            try:
                response = client.post("/api/v1/steps/batch", content=payload)
            except httpx.HTTPError as exc:
                outcome.answer(None, size, 0.0, f"{type(exc).__name__}: {exc}")
                return
            outcome.answer(response, size, time.perf_counter() - since)

        started = time.perf_counter()
        if rate > 0:
            interval = size / rate  # seconds between two requests' due times

            def send_due(number: int) -> None:
                due = started + number * interval
                time.sleep(max(0.0, due - time.perf_counter()))
                with outcome.lock:
                    outcome.lateness.append(max(0.0, time.perf_counter() - due))
                post(payloads[number], due)  # latency from the due time: lateness counts

            with ThreadPoolExecutor(min(requests, OPEN_LOOP_CONNECTIONS)) as pool:
                list(pool.map(send_due, range(requests)))
            # The schedule spans `requests` intervals: a rate is never above the one offered.
            return outcome, max(time.perf_counter() - started, requests * interval)
        else:

            def send_in_turn(client_index: int) -> None:
                for payload in payloads[client_index::clients]:
                    post(payload, time.perf_counter())

            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(send_in_turn, range(clients)))
        elapsed = time.perf_counter() - started
    return outcome, elapsed


def bench_single(
    base_url: str, key: str, serials: list[str], connections: int, seconds: float, answers: Path
) -> dict[str, Any]:
    """Single-step requests from autocannon (bench/single_load.mjs) in its own Node process;
    the answer times of the created records go to `answers` (record id, epoch ms per line)."""
    return node_load(
        "single_load.mjs",
        [base_url, key],
        serials,
        ["--connections", str(connections), "--seconds", str(seconds), "--answers", str(answers)],
        seconds,
    )


def node_load(
    script: str, before: list[str], lines: list[str], after: list[str], seconds: float
) -> dict[str, Any]:
    """Run a load script of bench/ in its own Node process (arguments `before`, a file of
    `lines`, `after`), allowed `seconds` and two minutes more; its summary, the last line it
    prints (JSON)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(lines))
        listing.flush()
        completed = subprocess.run(
            ["node", str(Path(__file__).with_name(script)), *before, listing.name, *after],
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 120,
        )
    if completed.returncode != 0:
        raise RuntimeError(f"{script} exited {completed.returncode}: {completed.stderr}")
    summary: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return summary


def _unanchored(session: Any) -> int:
    """Records not in a mined batch yet: outbox entries, and records of unmined batches."""
    queued = session.scalar(select(func.count()).select_from(AnchorQueueEntry)) or 0
    unmined = session.scalar(
        select(func.coalesce(func.sum(AnchorBatch.record_count), 0)).where(
            AnchorBatch.mined_at.is_(None)
        )
    )
    return int(queued) + int(unmined or 0)


def wait_anchored(database_url: str, timeout: float) -> int:
    """Wait until every record is in a mined batch or `timeout` passes; how many are not."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            deadline = time.monotonic() + timeout
            while (pending := _unanchored(session)) and time.monotonic() < deadline:
                time.sleep(0.25)
                session.rollback()
            return pending
    finally:
        engine.dispose()


def anchoring_figures(
    database_url: str,
    start: datetime,
    end: datetime,
    answered: dict[str, datetime],
) -> dict[str, Any]:
    """Accepted → anchored for the records created in [start, end]: from `created_at` and from
    the answer; the lag from `end` to the last of them mined; gas per record of their batches."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            every = session.execute(
                select(
                    Record.id,
                    Record.created_at,
                    AnchorBatch.id,
                    AnchorBatch.mined_at,
                    AnchorBatch.gas_used,
                    AnchorBatch.record_count,
                )
                .outerjoin(RecordAnchor, RecordAnchor.record_id == Record.id)
                .outerjoin(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
            ).all()
    finally:
        engine.dispose()
    # Filtered here: SQLite keeps the timestamps without their zone.
    rows = [row for row in every if start <= utc(row[1]) <= end]
    created = len(rows)
    mined = [(id_, utc(c), utc(m)) for id_, c, _, m, _, _ in rows if m is not None]
    batches = {batch: (gas, count) for _, _, batch, m, gas, count in rows if m is not None}
    gas_per_record = [gas / count for gas, count in batches.values() if gas and count]
    figures: dict[str, Any] = {
        "records": created,
        "anchored": len(mined),
        "from_creation_s": distribution([(m - c).total_seconds() for _, c, m in mined]),
        "from_answer_s": distribution(
            [(m - answered[id_]).total_seconds() for id_, _, m in mined if id_ in answered]
        ),
        "lag_after_intake_s": (max(m for _, _, m in mined) - end).total_seconds()
        if mined
        else None,
        "batches": len(batches),
        "records_per_batch": statistics.mean(c for _, c in batches.values()) if batches else None,
        "gas_per_record": {
            "overall": sum(g for g, _ in batches.values() if g)
            / max(1, sum(c for g, c in batches.values() if g)),
            "min": min(gas_per_record),
            "median": statistics.median(gas_per_record),
            "max": max(gas_per_record),
        }
        if gas_per_record
        else None,
    }
    return figures


def _read_answers(path: Path) -> dict[str, datetime]:
    answers: dict[str, datetime] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            id_, _, ms = line.partition(" ")
            if ms:
                answers[id_] = datetime.fromtimestamp(int(ms) / 1000, UTC)
    return answers


def _describe(figures: dict[str, Any]) -> str:
    created, answer = figures["from_creation_s"], figures["from_answer_s"]
    text = f"accepted -> anchored over {figures['anchored']} of {figures['records']} records"
    if created.get("count"):
        text += f": from creation p50 {created['p50']:.2f} s, p95 {created['p95']:.2f} s"
    if answer.get("count"):
        text += f"; from the answer p50 {answer['p50']:.2f} s, p95 {answer['p95']:.2f} s"
    if figures["lag_after_intake_s"] is not None:
        text += f"; last mined {figures['lag_after_intake_s']:.2f} s after the intake ended"
    if figures["gas_per_record"]:
        gas = figures["gas_per_record"]
        text += (
            f"; {figures['batches']} batches of {figures['records_per_batch']:.0f} records on "
            f"average, {gas['overall']:.1f} gas per record ({gas['min']:.1f}-{gas['max']:.1f})"
        )
    return text


def measure(args: argparse.Namespace, result: Result) -> None:
    with served(result, args.database_url, args.processes, worker=not args.no_worker) as server:
        env, base_url, database_url = server.env, server.base_url, server.database_url
        hallmark(env, "admin", "org", "create", FACTORY, "--kind", "factory")
        key = hallmark(env, "admin", "key", "create", FACTORY, "--role", "factory").strip()
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
            serials = make_products(client, args.products)
        if not args.no_worker:  # the products' records are not part of any phase
            pending = wait_anchored(database_url, args.anchor_timeout)
            result.check(not pending, f"{pending} product records not anchored in time")
        if args.requests > 0:
            batch_phase(args, result, base_url, key, serials, database_url)
        if args.single_seconds > 0:
            single_phase(args, result, base_url, key, serials, database_url, server.data_dir)


def _anchoring(
    args: argparse.Namespace,
    result: Result,
    phase: str,
    database_url: str,
    window: tuple[datetime, datetime],
    answered: dict[str, datetime],
) -> None:
    if args.no_worker:
        return
    pending = wait_anchored(database_url, args.anchor_timeout)
    result.check(
        not pending,
        f"{phase}: {pending} records not anchored within {args.anchor_timeout:.0f} s "
        "of the intake's end",
    )
    figures = anchoring_figures(database_url, *window, answered)
    result.figures[f"{phase}_anchoring"] = figures
    print(_describe(figures), flush=True)


def batch_phase(
    args: argparse.Namespace,
    result: Result,
    base_url: str,
    key: str,
    serials: list[str],
    database_url: str,
    transport: httpx.BaseTransport | None = None,
) -> None:
    start = datetime.now(UTC)
    outcome, elapsed = bench_batch(
        base_url, key, serials, args.requests, args.batch, args.clients, args.rate, transport
    )
    end = datetime.now(UTC)
    for failure in outcome.failures:
        result.fail(failure)
    figures: dict[str, Any] = {
        "steps": outcome.created,
        "steps_offered": args.requests * args.batch,
        "seconds": elapsed,
        "steps_per_second": outcome.created / elapsed,
        "request_latency_s": distribution(outcome.latencies),
        "paced": args.rate > 0,
    }
    if args.rate > 0:
        figures["offered_steps_per_second"] = args.rate
        figures["send_lateness_s"] = distribution(outcome.lateness)
    result.figures["batch"] = figures
    latency = figures["request_latency_s"]
    print(
        f"batch endpoint{f' (open loop, {args.rate:,.0f} steps/s offered)' if args.rate else ''}"
        f": {outcome.created} of {args.requests * args.batch} steps created in {elapsed:.2f} s: "
        f"{figures['steps_per_second']:,.0f} steps/s; request latency"
        f"{' from its due time' if args.rate else ''} p50 {latency.get('p50', 0) * 1000:.0f} ms, "
        f"p99 {latency.get('p99', 0) * 1000:.0f} ms; failures {len(outcome.failures)}",
        flush=True,
    )
    _anchoring(args, result, "batch", database_url, (start, end), outcome.answered)


def single_phase(
    args: argparse.Namespace,
    result: Result,
    base_url: str,
    key: str,
    serials: list[str],
    database_url: str,
    tmp: Path,
) -> None:
    answers_path = tmp / "single-answers.txt"
    start = datetime.now(UTC)
    load = bench_single(base_url, key, serials, args.connections, args.single_seconds, answers_path)
    end = datetime.now(UTC)
    for name in ("non_2xx", "errors", "timeouts"):
        result.check(not load[name], f"single-step endpoint: {load[name]} {name}")
    figures = {
        "requests_2xx": load["ok"],
        "seconds": load["seconds"],
        "requests_per_second": load["ok"] / load["seconds"],
        "latency_ms": {k: load[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "non_2xx": load["non_2xx"],
        "errors": load["errors"],
        "timeouts": load["timeouts"],
        "connections": args.connections,
    }
    result.figures["single"] = figures
    print(
        f"single-step endpoint: {load['ok']} 2xx answers over {args.connections} connections in "
        f"{load['seconds']:.0f} s: {figures['requests_per_second']:,.0f} requests/s, "
        f"p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms; non-2xx {load['non_2xx']}, "
        f"errors {load['errors']}, timeouts {load['timeouts']}",
        flush=True,
    )
    _anchoring(args, result, "single", database_url, (start, end), _read_answers(answers_path))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--processes", type=int, default=2, help="API processes of the server")
    parser.add_argument("--requests", type=int, default=20, help="batch requests")
    parser.add_argument("--batch", type=int, default=5000, help="steps per batch request")
    parser.add_argument("--clients", type=int, default=2, help="unpaced batch clients")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="batch steps/s, open loop (0: closed loop)"
    )
    parser.add_argument("--products", type=int, default=1000, help="products the steps go to")
    parser.add_argument(
        "--single-seconds", type=float, default=20.0, help="single-step phase (0: skip it)"
    )
    parser.add_argument("--connections", type=int, default=32, help="single-step connections")
    parser.add_argument("--no-worker", action="store_true", help="serve without its worker")
    parser.add_argument(
        "--anchor-timeout",
        type=float,
        default=300.0,
        help="seconds after a phase for every record to be anchored",
    )
    add_output_argument(parser)
    return parser.parse_args(argv)


def new_result(args: argparse.Namespace) -> Result:
    kind = "ingest.batch" if args.requests > 0 else "ingest.single"
    return Result(
        benchmark="ingest",
        kind=kind,
        settings={
            "database": "postgresql" if args.database_url else "sqlite",
            "processes": args.processes,
            "worker": not args.no_worker,
            "requests": args.requests,
            "batch": args.batch,
            "clients": args.clients,
            "rate": args.rate,
            "products": args.products,
            "single_seconds": args.single_seconds,
            "connections": args.connections,
        },
    )


if __name__ == "__main__":
    run_main(new_result, measure, parse_args())
