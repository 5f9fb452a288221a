"""Ingestion benchmark: production steps through the batch endpoint and the single-step endpoint.

Starts Hallmark in a child process (Runtime + uvicorn on a free loopback port, SQLite in a
temporary data directory by default, `--database-url` for PostgreSQL), creates a factory with
products, then measures over real HTTP from this process:

1. the batch endpoint: `--requests` sequential requests of `--batch` steps each, spread over
   `--products` products (sustained steps/s, median per request);
2. the single-step endpoint: autocannon (bench/single_load.mjs, a Node process) for
   `--single-seconds` over `--connections` keep-alive connections (requests/s, p50/p99).

Loopback only; every loop is bounded in count and time.

    python bench/ingest.py
    python bench/ingest.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.services.organisations import create_api_key, create_organisation
from hallmark.services.runtime import Runtime
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(runtime: Runtime) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def setup_world(runtime: Runtime) -> str:
    """A factory with a key; returns the key."""
    assert runtime.sessions is not None
    chain = runtime.chain_access()
    create_organisation(
        sessions=runtime.sessions, chain=chain, name="Bench Factory", kind="factory"
    )
    _, key = create_api_key(
        sessions=runtime.sessions,
        organisation_ref="Bench Factory",
        principal_name="bench",
        role="factory",
    )
    return key


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


def bench_batch(client: httpx.Client, serials: list[str], requests: int, size: int) -> None:
    timings: list[float] = []
    # Encoded up front: the client's own JSON encoding is not the server's time.
    payloads = [
        json.dumps(steps_payload(serials, size, r * size)).encode() for r in range(requests)
    ]
    headers = {"Content-Type": "application/json"}
    started = time.perf_counter()
    for payload in payloads:
        t0 = time.perf_counter()
        response = client.post("/api/v1/steps/batch", content=payload, headers=headers)
        timings.append(time.perf_counter() - t0)
        response.raise_for_status()
        body = response.json()
        assert body["created"] == size, body
    total = time.perf_counter() - started
    per_request = statistics.median(timings)
    print(
        f"batch endpoint: {requests} requests x {size} steps in {total:.2f} s: "
        f"{requests * size / total:,.0f} steps/s sustained; "
        f"median request {per_request * 1000:.0f} ms = {size / per_request:,.0f} steps/s"
    )


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


def anchoring_latency(runtime: Runtime, timeout: float = 180.0) -> dict[str, float]:
    """Wait for the outbox to drain, then accepted → anchored (mined) seconds per record."""
    assert runtime.sessions is not None
    deadline = time.monotonic() + timeout
    with runtime.sessions() as session:
        while session.scalar(select(func.count()).select_from(AnchorQueueEntry)):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            session.rollback()
        rows = session.execute(
            select(Record.created_at, AnchorBatch.mined_at).join(
                AnchorBatch, AnchorBatch.id == Record.batch_id
            )
        ).all()
    delays = sorted(
        (_utc(mined) - _utc(created)).total_seconds() for created, mined in rows if mined
    )
    if not delays:
        return {}
    return {
        "records": len(delays),
        "p50": statistics.median(delays),
        "p95": delays[int(len(delays) * 0.95) - 1],
        "max": delays[-1],
    }


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def serve(
    conn: Connection, database_url: str | None, data_dir: str, with_worker: bool = True
) -> None:
    """The server process: Runtime + uvicorn; sends (url, key) to the parent, runs until told."""
    settings = Settings(
        environment="test",  # type: ignore[arg-type]
        data_dir=Path(data_dir),
        anvil_port=0,
        keystore_scrypt_n=1024,
        database_url=database_url,
        log_level="WARNING",
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = Runtime(settings)
    runtime.start()
    server = None
    try:
        key = setup_world(runtime)
        if with_worker:
            runtime.start_worker()  # as `hallmark serve` does: anchoring competes for the CPU
        gc.freeze()  # as `hallmark serve` does
        server, thread, base_url = start_server(runtime)
        database = runtime.engine.dialect.name if runtime.engine else "?"
        conn.send((base_url, key, database))
        conn.recv()  # ingestion finished
        conn.send(anchoring_latency(runtime) if with_worker else None)
        conn.recv()  # stop
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=10)
        runtime.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--requests", type=int, default=20, help="batch requests")
    parser.add_argument("--batch", type=int, default=5000, help="steps per batch request")
    parser.add_argument("--products", type=int, default=1000, help="products the steps go to")
    parser.add_argument(
        "--single-seconds", type=float, default=20.0, help="single-step phase (0: skip it)"
    )
    parser.add_argument("--connections", type=int, default=32, help="single-step connections")
    parser.add_argument(
        "--no-worker", action="store_true", help="no anchoring worker in the server process"
    )
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="hallmark-bench-") as tmp:
        parent, child = context.Pipe()
        # The server runs in its own process: the load generator never competes for its GIL.
        process = context.Process(
            target=serve, args=(child, args.database_url, tmp, not args.no_worker)
        )
        process.start()
        try:
            if not parent.poll(120):
                raise RuntimeError("the Hallmark process did not start within 120 s")
            base_url, key, database = parent.recv()
            print(f"Hallmark at {base_url} on {database} (server in its own process)")
            with httpx.Client(
                base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=300
            ) as client:
                serials = make_products(client, args.products)
                bench_batch(client, serials, args.requests, args.batch)
            if args.single_seconds > 0:
                bench_single(base_url, key, serials, args.connections, args.single_seconds)
            parent.send("done")
            latency = parent.recv()
            if latency:
                print(
                    f"accepted -> anchored over {latency['records']:.0f} records: "
                    f"p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, "
                    f"max {latency['max']:.2f} s"
                )
        finally:
            parent.send("stop")
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()


if __name__ == "__main__":
    main()
