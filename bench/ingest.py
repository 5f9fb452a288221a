"""Ingestion benchmark: production steps through the batch endpoint and the single-step endpoint.

Runs Hallmark as a user does: `hallmark serve` in its own process group (local anvil, SQLite in
a temporary data directory by default, `--database-url` for PostgreSQL; `--processes` API
processes; its anchoring worker unless `--no-worker`), a factory and its key made with
`hallmark admin`, then measures over real HTTP on loopback:

1. the batch endpoint: `--requests` requests of `--batch` steps each, sent by `--clients`
   concurrent clients (several factory systems, each with its share of the `--products`
   products): sustained steps/s and the median request;
2. the single-step endpoint: autocannon (bench/single_load.mjs, a Node process) for
   `--single-seconds` over `--connections` keep-alive connections: requests/s, p50/p99;
3. accepted → anchored, once every record's batch is mined: per record, its `created_at` to
   its batch's `mined_at`, p50/p95/max, over all records of the run.

Every loop is bounded in count and time. Nothing is asserted: the figures go to
docs/BENCHMARKS.md.

    python bench/ingest.py
    python bench/ingest.py --database-url postgresql://postgres@127.0.0.1:5432/bench
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
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from hallmark.config import Settings
from hallmark.core.ports import free_port
from hallmark.core.times import utc
from hallmark.store.db import make_engine, session_factory
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor

FACTORY = "Bench Factory"


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
        raise RuntimeError(f"hallmark {' '.join(args)} failed: {completed.stderr.strip()}")
    return completed.stdout


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"hallmark serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"hallmark serve was not ready within {timeout:.0f} s")


def make_products(client: httpx.Client, count: int) -> list[str]:
    serials = [f"B-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for start in range(0, count, 5000):
        chunk = serials[start : start + 5000]
        response = client.post(
            "/api/v1/products/batch",
            json=[{"serial": s, "name": "Bench ring", "category": "ring"} for s in chunk],
        )
        response.raise_for_status()
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


def bench_batch(
    base_url: str,
    key: str,
    serials: list[str],
    requests: int,
    size: int,
    clients: int,
    rate: float = 0.0,
) -> dict[str, Any]:
    """`requests` batch requests from `clients` clients: as fast as they are answered, or, with
    `rate` (steps/s), each sent at its time on a fixed schedule (open loop: a late answer does
    not delay the next request's time, as factory systems do not wait for each other)."""
    # Encoded up front: the clients' own JSON encoding is not the server's time. Each client
    # writes for its own products (as each factory line records its own pieces).
    shares = [serials[c::clients] for c in range(clients)]
    payloads = [
        json.dumps(steps_payload(shares[r % clients], size, r * size)).encode()
        for r in range(requests)
    ]
    timings: list[float] = []
    answered: list[tuple[str, datetime]] = []  # (record id, when its answer arrived)
    interval = size / rate if rate > 0 else 0.0  # seconds between two requests, all clients
    started = time.perf_counter()

    def send(client_index: int, share: list[bytes]) -> None:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300
        ) as client:
            for number, payload in enumerate(share):
                if interval:
                    due = started + (number * clients + client_index) * interval
                    time.sleep(max(0.0, due - time.perf_counter()))
                t0 = time.perf_counter()
                response = client.post(
                    "/api/v1/steps/batch",
                    content=payload,
                    headers={"Content-Type": "application/json"},
                )
                timings.append(time.perf_counter() - t0)
                at = datetime.now(UTC)
                answered.extend((row["id"], at) for row in response.json()["results"])
                response.raise_for_status()
                assert response.json()["created"] == size, response.text[:300]

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(send, c, payloads[c::clients]) for c in range(clients)]:
            future.result()
    total = time.perf_counter() - started
    achieved = requests * size / total
    paced = f" (offered {rate:,.0f} steps/s)" if rate > 0 else ""
    print(
        f"batch endpoint{paced}: {requests} requests x {size} steps from {clients} clients in "
        f"{total:.2f} s: {achieved:,.0f} steps/s sustained; median request "
        f"{statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms"
    )
    return {
        "steps_per_second": achieved,
        "median_request_s": statistics.median(timings),
        "answered": dict(answered),
    }


def bench_single(
    base_url: str, key: str, serials: list[str], connections: int, seconds: float
) -> dict[str, Any]:
    """Single-step requests from autocannon (bench/single_load.mjs) in its own Node process."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(serials))
        listing.flush()
        completed = subprocess.run(
            [
                "node",
                str(Path(__file__).with_name("single_load.mjs")),
                base_url,
                key,
                listing.name,
                "--connections",
                str(connections),
                "--seconds",
                str(seconds),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    print(
        f"single-step endpoint: {result['requests']} requests, {connections} connections, "
        f"{result['seconds']:.0f} s: {result['requests_per_second']:,.0f} requests/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"non-2xx {result['non_2xx']}, errors {result['errors']}"
    )
    return result


def _unanchored(session: Any) -> int:
    """Records not in a mined batch yet: outbox entries, and batches formed but not mined."""
    queued = session.scalar(select(func.count()).select_from(AnchorQueueEntry)) or 0
    unmined = (
        session.scalar(
            select(func.count()).select_from(AnchorBatch).where(AnchorBatch.mined_at.is_(None))
        )
        or 0
    )
    return int(queued + unmined)


def anchoring_latency(
    database_url: str,
    phases: dict[str, tuple[datetime, datetime]],
    answered: dict[str, datetime],
    timeout: float = 300.0,
) -> dict[str, dict[str, float]]:
    """Wait until every record is mined; per phase (its records by `created_at`), accepted →
    anchored (mined) seconds: p50, p95, max. "accepted" is the record's `created_at` (set when
    its request began to be prepared, before the commit: the request's own time counts), and,
    for the batch phase, also the moment the client had the answer (`answered`: record id →
    that moment)."""
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            deadline = time.monotonic() + timeout
            while _unanchored(session):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
                session.rollback()
            rows = session.execute(
                select(Record.id, Record.created_at, AnchorBatch.mined_at)
                .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
            ).all()
            pending = _unanchored(session)
    finally:
        engine.dispose()
    results: dict[str, dict[str, float]] = {}
    for phase, (start, end) in phases.items():
        mined_in_phase = [
            (id_, utc(created), utc(mined))
            for id_, created, mined in rows
            if mined and start <= utc(created) <= end
        ]
        measures = {"from created_at": [(m - c).total_seconds() for _, c, m in mined_in_phase]}
        if phase == "batch" and answered:
            measures["from the answer"] = [
                (m - answered[id_]).total_seconds()
                for id_, _, m in mined_in_phase
                if id_ in answered
            ]
        for measure, values in measures.items():
            delays = sorted(values)
            if delays:
                results[f"{phase} phase, {measure}"] = {
                    "records": len(delays),
                    "pending": pending,
                    "p50": statistics.median(delays),
                    "p95": delays[int(len(delays) * 0.95) - 1],
                    "max": delays[-1],
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--processes", type=int, default=2, help="API processes of the server")
    parser.add_argument("--requests", type=int, default=20, help="batch requests")
    parser.add_argument("--batch", type=int, default=5000, help="steps per batch request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent batch clients")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="batch steps/s offered (0: as fast as answered)"
    )
    parser.add_argument("--products", type=int, default=1000, help="products the steps go to")
    parser.add_argument(
        "--single-seconds", type=float, default=20.0, help="single-step phase (0: skip it)"
    )
    parser.add_argument("--connections", type=int, default=32, help="single-step connections")
    parser.add_argument("--no-worker", action="store_true", help="serve without its worker")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hallmark-bench-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "HALLMARK_ENVIRONMENT": "test",
            "HALLMARK_DATA_DIR": tmp,
            "HALLMARK_HOST": "127.0.0.1",
            "HALLMARK_PORT": str(port),
            "HALLMARK_ANVIL_PORT": str(free_port()),
            "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
            "HALLMARK_LOG_LEVEL": "WARNING",
            "HALLMARK_WORKER_IN_SERVE": "false" if args.no_worker else "true",
        }
        if args.database_url:
            env["HALLMARK_DATABASE_URL"] = args.database_url
        database_url = Settings(
            environment="test",
            data_dir=Path(tmp),
            database_url=args.database_url,
            _env_file=None,
        ).effective_database_url
        base_url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(  # its own process group: stopped with everything it started
            [sys.executable, "-m", "hallmark", "serve", "--processes", str(args.processes)],
            env=env,
            start_new_session=True,
        )
        try:
            wait_ready(base_url, server)
            hallmark(env, "admin", "org", "create", FACTORY, "--kind", "factory")
            key = hallmark(env, "admin", "key", "create", FACTORY, "--role", "factory").strip()
            backend = "postgresql" if args.database_url else "sqlite"
            print(
                f"hallmark serve at {base_url}: {backend}, {args.processes} API processes, "
                f"worker {'off' if args.no_worker else 'on'}"
            )
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300
            ) as client:
                serials = make_products(client, args.products)
            phases: dict[str, tuple[datetime, datetime]] = {}
            answered: dict[str, datetime] = {}
            if args.requests > 0:
                start = datetime.now(UTC)
                answered = bench_batch(
                    base_url, key, serials, args.requests, args.batch, args.clients, args.rate
                )["answered"]
                phases["batch"] = (start, datetime.now(UTC))
            if args.single_seconds > 0:
                start = datetime.now(UTC)
                bench_single(base_url, key, serials, args.connections, args.single_seconds)
                phases["single-step"] = (start, datetime.now(UTC))
            if not args.no_worker:
                latencies = anchoring_latency(database_url, phases, answered)
                for phase, latency in latencies.items():
                    print(
                        f"accepted -> anchored, {phase}, over {latency['records']:.0f} "
                        f"records ({latency['pending']:.0f} still pending): "
                        f"p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, "
                        f"max {latency['max']:.2f} s"
                    )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)


if __name__ == "__main__":
    main()
