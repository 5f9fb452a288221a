"""The chain boundary under faults: every transport failure of the node mapped at the client
with one retry policy; a production process refuses a development chain."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from tests.stub_node import StubNode
from typer.testing import CliRunner

from hallmark.api.app import create_app
from hallmark.chain.client import NO_RETRY, ChainClient, RetryPolicy
from hallmark.chain.node import AnvilNode, find_anvil
from hallmark.cli import app
from hallmark.config import Settings
from hallmark.core.errors import (
    ChainBadResponseError,
    ChainRateLimitedError,
    ChainUnavailableError,
    ConfigurationError,
)
from hallmark.core.ports import free_port
from hallmark.runtime import Runtime
from hallmark.runtime.runtime import READINESS_CHAIN_DEADLINE, READINESS_RPC_TIMEOUT

PRODUCTION = {
    "environment": "production",
    "key_passphrase": "a real passphrase of some length",
    "file_key": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
}


def test_production_without_rpc_url_refuses_a_local_chain(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    runtime = Runtime(make_settings(**PRODUCTION))
    with pytest.raises(ConfigurationError, match="HALLMARK_RPC_URL must name"):
        runtime.start()
    # Refused before anything is created: no node, no keys, no database.
    assert runtime.supervisor is None and runtime.chain is None
    assert not (tmp_path / "data").exists()


# --- the chain client's boundary: every transport failure mapped, one retry policy -----------

QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


def _client(node: StubNode, *, timeout: float = 2.0, retry: RetryPolicy = QUICK) -> ChainClient:
    return ChainClient.for_url(node.url, timeout=timeout, retry=retry)


CALLS: dict[str, Callable[[ChainClient], object]] = {
    "single": lambda client: client.retrieve_block_number(),
    "batch": lambda client: client.retrieve_receipts(["0x" + "ab" * 32, "0x" + "cd" * 32]),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("429", ChainRateLimitedError),
        ("limit", ChainRateLimitedError),
        ("503", ChainUnavailableError),
        ("garbage", ChainBadResponseError),
    ],
)
def test_a_failing_endpoint_is_asked_again_by_one_policy_then_refused(
    call: str, answer: str, error: type[ChainUnavailableError]
) -> None:
    with StubNode([answer]) as node:
        with pytest.raises(error) as raised:
            CALLS[call](_client(node))
        # Three tries of ours and no hidden ones of web3's under them.
        assert node.requests == QUICK.attempts
    assert raised.type is error
    assert raised.value.code == error.code
    assert node.url in raised.value.message


def test_a_rate_limit_keeps_what_retry_after_asks() -> None:
    with StubNode(["429"]) as node, pytest.raises(ChainRateLimitedError) as raised:
        _client(node, retry=NO_RETRY).retrieve_block_number()
    assert node.requests == 1
    assert raised.value.retry_after == 0
    assert raised.value.details["retry_after_seconds"] == 1  # what an API answer passes on
    asked = ChainRateLimitedError("http://node", "HTTP 429", retry_after=1.5)
    assert RetryPolicy(base_delay=0.1, max_delay=2.0).delay(1, asked) == 1.5
    assert RetryPolicy(base_delay=0.1, max_delay=1.0).delay(1, asked) == 1.0
    assert RetryPolicy(base_delay=0.1, max_delay=1.0).delay(3, ChainUnavailableError("u", "r")) == (
        pytest.approx(0.4)
    )


@pytest.mark.parametrize("call", CALLS)
def test_a_stalled_node_is_given_its_timeout_once(call: str) -> None:
    with StubNode(["stall"], stall_seconds=5) as node:
        with pytest.raises(ChainUnavailableError) as raised:
            CALLS[call](_client(node, timeout=0.3))
        assert node.requests == 1
    assert raised.type is ChainUnavailableError
    assert not raised.value.retryable


def test_a_passing_failure_is_retried_through() -> None:
    with StubNode(["429", "503", "ok"]) as node:
        assert _client(node).retrieve_block_number() == 16
        assert node.requests == 3
    with StubNode(["garbage", "ok"]) as node:
        receipts = _client(node).retrieve_receipts(["0x" + "ab" * 32])
        assert receipts == {"0x" + "ab" * 32: None}


def test_a_signed_transaction_is_never_sent_twice_by_a_retry() -> None:
    account = Account.create()
    with StubNode(["503"]) as node, pytest.raises(ChainUnavailableError):
        _client(node).send_function(account, account.address, [], "f", [])
    assert node.requests == 1


@pytest.mark.parametrize(("answer", "said"), [("429", "rate limiting"), ("garbage", "no valid")])
def test_the_cli_names_a_failing_endpoint_in_one_line(
    answer: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLMARK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HALLMARK_ENVIRONMENT", "test")
    with StubNode([answer]) as node:
        monkeypatch.setenv("HALLMARK_RPC_URL", node.url)
        result = CliRunner().invoke(app, ["chain", "status"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    [line] = [line for line in result.output.splitlines() if "reachable" in line]
    assert said in line


# --- readiness: an answer within its deadline whatever the node does -------------------------


@pytest.fixture
def configured_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = AnvilNode(
        binary=find_anvil(), state_path=tmp_path_factory.mktemp("node") / "s.json", port=0
    )
    node.start()
    yield node
    node.stop()


def _deployed(settings: Settings) -> None:
    deployer = Runtime(settings)
    deployer.start_for_deploy()
    try:
        assert deployer.chain is not None and deployer.keys is not None
        deployer.chain.set_local_balance(deployer.keys.admin.address, 10**20)
        deployer.deploy()
    finally:
        deployer.stop()


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_readyz_answers_within_its_deadline_whatever_the_node_does(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    configured_node: AnvilNode,
) -> None:
    with StubNode(["ok"], upstream=configured_node.url, stall_seconds=60) as stub:
        settings = make_settings(rpc_url=stub.url, rpc_timeout=30, anchor_retry_max=0.2)
        worker_settings = settings.model_copy(update={"rpc_timeout": 2.0})
        _deployed(settings)
        runtime = start_runtime(settings)
        runtime.settings = worker_settings  # the worker's own client gives up sooner
        worker = runtime.start_worker()
        runtime.settings = settings
        with TestClient(create_app(runtime)) as http:
            assert http.get("/readyz").status_code == 200

            stub.script = ["stall"]  # the node hangs: every request waits a minute
            hanging = http.get("/readyz")
            again = http.get("/readyz")  # the check in flight is shared, not piled up
            assert hanging.status_code == again.status_code == 503
            for answer in (hanging, again):
                [problem] = answer.json()["problems"]
                # Its own request timed out first, or the deadline came: either way, at once.
                assert problem.startswith("chain: ")
                # (not after the configured rpc_timeout of 30 s: readiness has its own)
                assert f"read timeout={READINESS_RPC_TIMEOUT}" in problem or (
                    f"did not answer within {READINESS_CHAIN_DEADLINE:g} s" in problem
                )

            stub.script = ["429"]  # rate limited: not ready, named, never a 500
            _wait_for(
                lambda: "rate limiting" in " ".join(http.get("/readyz").json()["problems"]),
                "the rate limit named",
            )
            _wait_for(lambda: worker.report()["last_error"] is not None, "the worker's error")

            stub.script = ["ok"]  # recovered: ready, and the worker's last error is gone
            _wait_for(lambda: http.get("/readyz").status_code == 200, "ready again")
            _wait_for(
                lambda: http.get("/readyz").json()["anchoring"]["last_error"] is None,
                "no stale last_error",
            )


# --- the data directory's node belongs to one process -------------------------------------


def test_a_command_never_starts_a_second_node_where_a_running_process_owns_one(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    settings = make_settings(anvil_port=free_port())
    serving = start_runtime(settings)  # as `hallmark serve`: it runs the data directory's node
    assert serving.supervisor is not None
    node = serving.supervisor.node
    assert node.pid is not None
    os.kill(node.pid, signal.SIGSTOP)  # the node hangs: it takes connections, answers nothing
    try:
        command = Runtime(settings)  # an admin command meanwhile
        with pytest.raises(ChainUnavailableError, match=r"belongs to a running Hallmark process"):
            command.start()
        assert command.supervisor is None
    finally:
        os.kill(node.pid, signal.SIGCONT)
    assert node.is_running()
    assert serving.supervisor.restarts == 0
    # Once it answers again, commands share it.
    shared = start_runtime(settings)
    assert shared.supervisor is None
    assert shared.chain is not None and shared.chain.url == node.url
