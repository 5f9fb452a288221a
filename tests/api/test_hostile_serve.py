"""A running `hallmark serve` survives hostile requests: it answers them with a 4xx and goes on
answering everyone else."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.foundation.test_serve import _serve_env

from hallmark.core.ports import free_port

DEPTH = 100_000


def _wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 270
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("hallmark serve never became ready")


def test_a_deeply_nested_body_does_not_stop_the_server(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "hallmark", "serve"],
        env=_serve_env(tmp_path, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(process, base)
        deep = b'{"children": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
        for path in ("/api/v1/lots/x/split", "/api/v1/steps/x/corrections", "/api/v1/lots/batch"):
            response = httpx.post(
                f"{base}{path}",
                content=deep,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "unauthenticated"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
