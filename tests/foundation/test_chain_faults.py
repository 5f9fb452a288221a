"""The chain boundary under faults: every transport failure of the node mapped at the client
with one retry policy; a production process refuses a development chain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from tests.stub_node import StubNode

from hallmark.chain.client import NO_RETRY, ChainClient, RetryPolicy
from hallmark.config import Settings
from hallmark.core.errors import (
    ChainBadResponseError,
    ChainRateLimitedError,
    ChainUnavailableError,
    ConfigurationError,
)
from hallmark.runtime import Runtime

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
    assert raised.value.details["retry_after"] == 0
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
