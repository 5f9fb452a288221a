"""An anchoring is looked up on chain in block ranges a hosted node accepts, newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from conftest import Harness


def _spy_get_logs(h: Harness, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every eth_getLogs request's (fromBlock, toBlock) from now on."""
    eth = h.runtime.ledger.client.w3.eth
    real = eth.get_logs
    ranges: list[tuple[int, int]] = []

    def get_logs(params: Any) -> Any:
        ranges.append((int(params["fromBlock"]), int(params["toBlock"])))
        return real(params)

    monkeypatch.setattr(eth, "get_logs", get_logs)
    return ranges


def test_anchor_log_found_through_ranges_no_wider_than_asked(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(anchor_batch_size=5)
    h.add("supplier", 5)
    h.drain(h.worker())
    (batch,) = h.batches()
    chain = h.runtime.chain
    assert chain is not None and h.runtime.deployment is not None
    chain.retrieve("anvil_mine", [hex(40)])
    head = chain.retrieve_block_number()
    ranges = _spy_get_logs(h, monkeypatch)

    found = h.runtime.ledger.retrieve_anchor_log(
        batch.root,
        anchorer=batch.account_address,
        from_block=h.runtime.deployment.deployment_block,
        block_range=7,
    )
    assert found is not None
    assert (found.tx_hash, found.block_number, found.block_hash) == (
        batch.tx_hash,
        batch.block_number,
        batch.block_hash,
    )
    assert found.anchorer == Web3.to_checksum_address(h.orgs["supplier"].account_address)
    assert ranges[0][1] == head  # newest first
    assert all(end - start + 1 <= 7 for start, end in ranges)
    assert ranges[-1][0] <= batch.block_number <= ranges[-1][1]  # stopped where it was found
    assert len(ranges) == (head - ranges[-1][0]) // 7 + 1


def test_a_root_never_anchored_is_looked_for_down_to_the_deployment_block(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness()
    chain = h.runtime.chain
    deployment = h.runtime.deployment
    assert chain is not None and deployment is not None
    chain.retrieve("anvil_mine", [hex(20)])
    head = chain.retrieve_block_number()
    ranges = _spy_get_logs(h, monkeypatch)
    ledger = h.runtime.ledger
    assert (
        ledger.retrieve_anchor_log(
            "0x" + "ab" * 32,
            anchorer=h.orgs["supplier"].account_address,
            from_block=deployment.deployment_block,
            block_range=6,
        )
        is None
    )
    covered = sorted(block for start, end in ranges for block in range(start, end + 1))
    assert covered == list(range(deployment.deployment_block, head + 1))  # no gap, no overlap
    with pytest.raises(ValueError, match="block_range"):
        ledger.retrieve_anchor_log(
            "0x" + "ab" * 32, anchorer=h.orgs["supplier"].account_address, block_range=0
        )
