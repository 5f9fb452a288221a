"""The supervised local chain: state survives restarts, a crashed node comes back."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import funded_account, process_alive, send_value

from hallmark.api.app import create_app
from hallmark.chain.client import ChainClient
from hallmark.chain.node import AnvilNode, NodeStatus, NodeSupervisor, find_anvil
from hallmark.config import Settings
from hallmark.core import processes
from hallmark.core.errors import NodeStartError
from hallmark.runtime import Runtime


def _node(tmp_path: Path, **kwargs: object) -> AnvilNode:
    return AnvilNode(binary=find_anvil(), state_path=tmp_path / "state.json", port=0, **kwargs)  # type: ignore[arg-type]


def test_state_survives_stop_and_start(tmp_path: Path) -> None:
    node = _node(tmp_path)
    node.start()
    try:
        client = ChainClient.for_url(node.url)
        sender = funded_account(client)
        receiver = funded_account(client, wei=0)
        tx_hash = send_value(client, sender, receiver.address, 12345)
        block = client.retrieve_block_number()
    finally:
        node.stop()  # SIGTERM: anvil dumps its state on the way out
    assert not node.is_running()

    node.start()
    try:
        client = ChainClient.for_url(node.url)
        receipt = client.retrieve_receipt(tx_hash)
        assert receipt is not None, "the transaction mined before the restart is gone"
        assert receipt["status"] == 1
        assert client.retrieve_balance(receiver.address) == 12345
        assert client.retrieve_block_number() == block
    finally:
        node.stop()


def test_supervisor_restarts_a_killed_node_with_its_saved_state(tmp_path: Path) -> None:
    node = _node(tmp_path, state_interval=1)
    supervisor = NodeSupervisor(node, poll_interval=0.1)
    supervisor.start()
    try:
        client = ChainClient.for_url(node.url)
        sender = funded_account(client)
        mined_at = time.time()
        tx_hash = send_value(client, sender, funded_account(client, wei=0).address, 7)
        assert node.wait_for_state_dump(after=mined_at + 0.01)
        first_pid = node.pid
        node.kill()  # SIGKILL: no dump at exit, only the interval dumps count
        deadline = time.monotonic() + 90
        while supervisor.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert supervisor.restarts == 1
        assert supervisor.status is NodeStatus.RUNNING
        assert node.pid != first_pid
        assert client.retrieve_receipt(tx_hash) is not None
    finally:
        supervisor.stop()
    assert supervisor.status is NodeStatus.STOPPED


def test_corrupt_state_file_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text('{"block": ')
    node = _node(tmp_path)
    with pytest.raises(NodeStartError, match=r"state\.json is not valid JSON"):
        node.start()


def test_readyz_not_ready_while_the_node_is_down_then_ready(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = start_runtime(make_settings(anvil_watch_interval=0.2))
    assert runtime.supervisor is not None
    node = runtime.supervisor.node
    # Hold the restart until the test has seen the node down (else a fast restart races it).
    observed = threading.Event()
    real_start = node.start

    def start_after_observed(timeout: float = 30.0) -> None:
        observed.wait(30)
        real_start(timeout)

    monkeypatch.setattr(node, "start", start_after_observed)
    with TestClient(create_app(runtime)) as http:
        assert http.get("/readyz").status_code == 200
        node.kill()
        down = http.get("/readyz")
        observed.set()
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "not ready"
        assert any(p.startswith("chain:") for p in body["problems"]), body["problems"]
        deadline = time.monotonic() + 90
        ready = http.get("/readyz")
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            ready = http.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["chain"]["node"]["restarts"] == 1
        assert ready.json()["chain"]["deployment_matches"] is True


def test_supervised_node_outlives_the_thread_that_started_the_supervisor(tmp_path: Path) -> None:
    """anvil is bound to the supervisor's own thread, not to the caller's (an app's start-up
    runs in a pool thread that ends when idle)."""
    node = _node(tmp_path)
    supervisor = NodeSupervisor(node, poll_interval=0.1)
    starter = threading.Thread(target=supervisor.start)
    starter.start()
    starter.join()
    try:
        pid = node.pid
        time.sleep(1.0)
        assert node.is_running() and node.pid == pid
        assert supervisor.restarts == 0
        assert ChainClient.for_url(node.url).retrieve_block_number() == 0
    finally:
        supervisor.stop()
    assert not node.is_running()


@pytest.mark.skipif(not processes.supported(), reason="the parent death signal is Linux's")
def test_node_stops_with_its_state_when_the_process_that_started_it_is_killed(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hallmark.chain.node import AnvilNode, NodeSupervisor, find_anvil\n"
        "node = AnvilNode(\n"
        "    binary=find_anvil(), state_path=Path(sys.argv[1]), port=0, state_interval=3600\n"
        ")\n"
        "NodeSupervisor(node).start()\n"
        "print('node', node.pid, node.url, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        line = ""
        while not line.startswith("node "):  # after the log lines of the start
            line = owner.stdout.readline()
            assert line, "the process never started its node"
        pid_text, url = line.split()[1:]
        pid = int(pid_text)
        client = ChainClient.for_url(url)
        tx_hash = send_value(client, funded_account(client), funded_account(client).address, 5)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 60
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(pid), "anvil outlived the process that started it"
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    node = AnvilNode(binary=find_anvil(), state_path=state, port=0)
    node.start()
    try:  # no interval dump ran: the transaction is there because anvil dumped on SIGTERM
        assert ChainClient.for_url(node.url).retrieve_receipt(tx_hash) is not None
    finally:
        node.stop()
