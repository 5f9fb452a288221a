"""`hallmark serve` end to end, as scripts/run starts it: ready, then a clean stop."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.factories import process_alive

from hallmark.core import processes
from hallmark.core.ports import free_port


def _serve_env(tmp_path: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a `hallmark serve` of a test: its own data, port and local chain (the
    chain's port chosen at start; API processes learn it from serve)."""
    return {
        **os.environ,
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(tmp_path / "data"),
        "HALLMARK_PORT": str(port),
        "HALLMARK_ANVIL_PORT": "0",
        "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
        **settings,
    }


@contextlib.contextmanager
def _served(
    tmp_path: Path, port: int, *arguments: str, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`hallmark serve ARGUMENTS` on `port` while the block runs; then SIGTERM, and it must stop
    cleanly: exit status 0, its local chain stopped."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hallmark", "serve", *arguments],
        env=_serve_env(tmp_path, port, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=90)[0].decode()
    assert process.returncode == 0, output
    assert "anvil.stopped" in output


def test_python_m_hallmark_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hallmark", "version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip().startswith("hallmark 0.")


def test_serve_becomes_ready_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with _served(tmp_path, port) as process:
        deadline = time.monotonic() + 270
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
    assert (tmp_path / "data" / "chain" / "anvil-state.json").stat().st_size > 0
    assert (tmp_path / "data" / "deployment.json").exists()


def test_serve_with_several_api_processes(tmp_path: Path) -> None:
    """Two API processes on one port, sharing the chain the serving process runs."""
    port = free_port()
    env = _serve_env(tmp_path, port, HALLMARK_WORKER_IN_SERVE="false")
    process = subprocess.Popen(
        [sys.executable, "-m", "hallmark", "serve", "--processes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    answered: set[int] = set()
    try:
        answered |= _ready_api_processes(process, port, 2)
        assert process.pid not in answered  # the serving process itself runs no API
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hallmark",
                "admin",
                "org",
                "create",
                "Atelier",
                "--kind",
                "factory",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        key = subprocess.run(
            [
                sys.executable,
                "-m",
                "hallmark",
                "admin",
                "key",
                "create",
                "Atelier",
                "--role",
                "factory",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}
        serial = "SN-MULTI-1"
        created = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/products",
            json={"serial": serial, "name": "Ring", "category": "ring"},
            headers=headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        # Steps through new connections land on either process; the chain stays one chain.
        for kind in ("wax_3d_print", "casting", "polishing", "qc_inspection"):
            step = {"product_serial": serial, "kind": kind, "occurred_at": "2026-11-20T09:30:00Z"}
            if kind == "qc_inspection":
                step["result"] = "pass"
            answer = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/steps", json=step, headers=headers, timeout=30
            )
            assert answer.status_code == 201, answer.text
        chain = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/products/{serial}/chain", headers=headers, timeout=30
        ).json()
        assert chain["intact"] is True and chain["steps_checked"] == 4
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=90)[0].decode()
    assert process.returncode == 0, output
    assert "anvil.stopped" in output
    for pid in answered:  # the API processes are gone with it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"API process {pid} outlived hallmark serve")


@pytest.mark.skipif(not processes.supported(), reason="SO_REUSEPORT and /proc are Linux's")
def test_serve_spreads_connections_over_its_api_processes(tmp_path: Path) -> None:
    """Each API process listens on a socket of its own on the one port, and a burst of new
    connections is answered by both processes: with one shared socket, whichever process woke
    first took nearly all of a burst. The kernel hashes each connection to a socket: of 64,
    fewer than 8 on one process has a chance of about 1 in 10^9."""
    port = free_port()
    with _served(tmp_path, port, "--processes", "2", HALLMARK_WORKER_IN_SERVE="false") as process:
        ready = _ready_api_processes(process, port, 2)
        assert _listening_sockets(port) == 2
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(64)]
        for connection in connections:  # all opened before any request: one burst
            connection.connect()

        def process_of(connection: http.client.HTTPConnection) -> int:
            connection.request("GET", "/readyz")
            answer = connection.getresponse()
            body = json.loads(answer.read())
            connection.close()
            return int(body["process"])

        with ThreadPoolExecutor(8) as pool:
            answered = Counter(pool.map(process_of, connections))
        assert set(answered) == ready, answered
        assert min(answered.values()) >= 8, answered
        # A dead API process is replaced, and its replacement listens on the socket it left.
        victim = min(ready)
        os.kill(victim, signal.SIGKILL)
        replaced = _ready_api_processes(process, port, 2, ignoring={victim})
        assert replaced - ready and _listening_sockets(port) == 2


@pytest.mark.skipif(not processes.supported(), reason="SO_REUSEPORT and /proc are Linux's")
def test_serve_adds_and_retires_an_api_process_with_its_socket(tmp_path: Path) -> None:
    """SIGTTIN adds an API process listening on a socket of its own; SIGTTOU retires it and
    closes its socket."""
    port = free_port()
    with _served(tmp_path, port, "--processes", "2", HALLMARK_WORKER_IN_SERVE="false") as process:
        first = _ready_api_processes(process, port, 2)
        process.send_signal(signal.SIGTTIN)
        added = _ready_api_processes(process, port, 1, ignoring=first)
        assert _listening_sockets(port) == 3
        process.send_signal(signal.SIGTTOU)  # the last one added goes
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (
            _listening_sockets(port) != 2 or any(process_alive(pid) for pid in added)
        ):
            time.sleep(0.1)
        assert _listening_sockets(port) == 2
        assert not any(process_alive(pid) for pid in added)
        assert all(process_alive(pid) for pid in first)


def test_a_busy_port_is_refused_with_several_api_processes(tmp_path: Path) -> None:
    """The sockets of several API processes share their port only among themselves: a port
    another socket listens on is refused, as with one API process."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "hallmark", "serve", "--processes", "2"],
            env=_serve_env(tmp_path, port, HALLMARK_WORKER_IN_SERVE="false"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode != 0
    assert "in use" in result.stdout + result.stderr


@pytest.mark.skipif(not processes.supported(), reason="the parent death signal is Linux's")
def test_serve_killed_leaves_no_process_behind(tmp_path: Path) -> None:
    """SIGKILL gives `serve` no chance to stop anything: its API processes, its worker process
    and anvil stop by themselves."""
    port = free_port()
    env = _serve_env(tmp_path, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "hallmark", "serve", "--processes", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answered = _ready_api_processes(process, port, 2)
        left = _descendants(process.pid)
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in left}
        assert answered <= left, commands
        assert any(c[0].rsplit(b"/", 1)[-1] == b"anvil" for c in commands.values()), commands
        assert any(b"worker" in c for c in commands.values()), commands
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and any(process_alive(pid) for pid in left):
            time.sleep(0.1)
        assert not [pid for pid in left if process_alive(pid)], "outlived hallmark serve"
    finally:
        if process.poll() is None:
            process.kill()
    with httpx.Client() as client, pytest.raises(httpx.TransportError):
        client.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def _ready_api_processes(
    process: subprocess.Popen[bytes],
    port: int,
    count: int,
    ignoring: frozenset[int] | set[int] = frozenset(),
) -> set[int]:
    """The pids of `count` API processes of `serve` that answered /readyz with 200 (answers of
    the processes `ignoring` not counted)."""
    answered: set[int] = set()
    deadline = time.monotonic() + 360
    while time.monotonic() < deadline and process.poll() is None and len(answered) < count:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            if response.status_code == 200 and response.json()["process"] not in ignoring:
                answered.add(response.json()["process"])
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    assert len(answered) == count, f"ready API processes: {answered}"
    return answered


def _listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` (IPv4 and IPv6), from /proc/net."""
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError):
                for child in (task / "children").read_text().split():
                    if int(child) not in found:
                        found.add(int(child))
                        todo.append(int(child))
    return found
