"""`hallmark serve` end to end, as scripts/run starts it: ready, then a clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hallmark.chain.node import free_port


def test_python_m_hallmark_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hallmark", "version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip().startswith("hallmark 0.")


def test_serve_becomes_ready_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(tmp_path / "data"),
        "HALLMARK_PORT": str(port),
        "HALLMARK_ANVIL_PORT": "0",
        "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hallmark", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                status = response.status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert status == 200, "hallmark serve never became ready"
        assert response.json()["status"] == "ready"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    assert "anvil.stopped" in output
    assert (tmp_path / "data" / "chain" / "anvil-state.json").stat().st_size > 0
    assert (tmp_path / "data" / "deployment.json").exists()
