"""A certificate order left running when its API process is killed mid-order goes on from its
saved progress at the next start, with no product issued twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hallmark.core.ports import free_port
from hallmark.runtime.worker_process import worker_environment, worker_secrets
from hallmark.services.certificates.issuance import outcomes
from hallmark.store.models import Certificate, CertificateOrder, Product
from tests.certificates.builders import complete_product
from tests.conftest import World
from tests.records.factories import BRAND

PRODUCTS = 8


def _environment(world: World, port: int) -> dict[str, str]:
    """`hallmark serve` on the world's database, keys and chain, issuing one product per
    transaction (so an order spans several), without a worker."""
    settings = world.runtime.settings
    environment = worker_environment(settings, chain_url=None)
    for name, value in worker_secrets(settings).items():
        environment[f"HALLMARK_{name.upper()}"] = value
    environment |= {
        "HALLMARK_PORT": str(port),
        "HALLMARK_WORKER_IN_SERVE": "false",
        "HALLMARK_CERTIFICATE_ORDER_CHUNK": "1",
    }
    return environment


@contextmanager
def serving(world: World, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hallmark", "serve", "--no-worker"],
            env=_environment(world, port),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 360
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def order_row(world: World, order_id: str) -> CertificateOrder:
    # Read sessions: on SQLite a write session would wait for the stopped process's lock.
    assert world.runtime.read_sessions is not None
    with world.runtime.read_sessions() as session:
        order = session.get(CertificateOrder, order_id)
        assert order is not None
        session.expunge(order)
        return order


def order_results(world: World, order_id: str) -> list[dict[str, Any]]:
    """The order's outcome rows as the API answers them."""
    assert world.runtime.read_sessions is not None
    with world.runtime.read_sessions() as session:
        return [outcome.as_result() for outcome in outcomes(session, order_id)]


@pytest.mark.skipif(sys.platform != "linux", reason="stops and kills the process by signal")
def test_order_left_running_by_a_killed_process_resumes_at_the_next_start(
    world: World, tmp_path: Path
) -> None:
    serials = [complete_product(world) for _ in range(PRODUCTS)]
    port = free_port()
    log = tmp_path / "serve.log"
    with serving(world, port, log) as process:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/certificate-orders",
            json={"serials": serials, "reference": "PO-KILLED"},
            headers=world.headers(BRAND),
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        order_id = answer.json()["id"]
        # Let the process run in short slices until it has saved some progress, then kill it
        # while it is stopped: mid-order, between or inside a chunk's transaction.
        deadline = time.monotonic() + 360
        while True:
            os.kill(process.pid, signal.SIGSTOP)
            if order_row(world, order_id).processed >= 1:
                break
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            os.kill(process.pid, signal.SIGCONT)
            time.sleep(0.01)
        process.kill()
        process.wait(30)

    left = order_row(world, order_id)
    assert left.status == "running" and 1 <= left.processed < PRODUCTS, left.processed
    saved = order_results(world, order_id)
    assert left.issued == left.processed == len(saved)

    with serving(world, free_port(), log):
        deadline = time.monotonic() + 540
        while (order := order_row(world, order_id)).status != "done":
            assert time.monotonic() < deadline, (order.processed, log.read_text()[-3000:])
            time.sleep(0.2)

    assert (order.total, order.processed, order.issued, order.failed) == (
        PRODUCTS,
        PRODUCTS,
        PRODUCTS,
        0,
    )
    results = order_results(world, order_id)
    assert [r["row"] for r in results] == list(range(1, PRODUCTS + 1))
    assert [r["serial"] for r in results] == serials
    assert results[: left.processed] == saved  # the saved progress, kept as it was
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        issued = session.execute(
            select(Product.serial, Certificate.id, Certificate.order_id)
            .join(Product, Product.id == Certificate.product_id)
            .where(Product.serial.in_(serials))
        ).all()
    # One certificate per product, each the order's and the one its result names.
    assert sorted(serial for serial, _, _ in issued) == sorted(serials)
    assert {order for _, _, order in issued} == {order_id}
    assert {r["serial"]: r["certificate"] for r in results} == {s: c for s, c, _ in issued}
