"""Durability: a crashed or killed worker, a node that goes down, reorgs and a node restored
from an older state never lose a record nor anchor one twice."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from conftest import Harness, Process, wait_for
from hallmark.services.access.organisations import organisation_account
from hallmark.services.anchoring.batches import BatchStatus
from hallmark.services.anchoring.status import record_status, records_status
from hallmark.store.models import Record


def test_a_crashed_worker_is_resumed_by_rebroadcast_and_resigning(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=5)
    h.add("supplier", 15)
    h.add("factory", 10)
    chain = h.runtime.chain
    assert chain is not None
    chain.retrieve("evm_setAutomine", [False])
    time.sleep(h.settings.anchor_interval)
    crashed = h.worker()
    crashed.run_once()  # signs, stores and broadcasts every batch; nothing is mined
    crashed.leader.release()  # ... and dies here, before any receipt
    sent = h.batches()
    assert [b.status for b in sent] == [BatchStatus.SENT] * 5
    supplier = h.orgs["supplier"]
    ours = sorted((b for b in sent if b.organisation_id == supplier.id), key=lambda b: b.nonce)
    assert [b.nonce for b in ours] == [0, 1, 2]

    # The node loses the supplier's transactions 1 and 2 (dropped from its pool, as if never
    # received), and nonce 1 goes to another transaction of that account.
    chain.retrieve("anvil_dropTransaction", [ours[1].tx_hash])
    account = organisation_account(supplier, h.settings.passphrase)
    fees = chain.retrieve_fees()
    other = account.sign_transaction(
        {
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "nonce": 1,
            "chainId": 31337,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
    )
    chain.w3.eth.send_raw_transaction(other.raw_transaction)
    chain.retrieve("evm_mine", [])
    chain.retrieve("evm_setAutomine", [True])
    assert chain.retrieve_nonce(account.address, "latest") == 2

    h.drain(h.worker())
    h.assert_anchored_exactly_once()
    after = {b.id: b for b in h.batches()}
    mined_from_pool, consumed, rebroadcast = (after[b.id] for b in ours)
    assert (mined_from_pool.tx_hash, mined_from_pool.attempts) == (ours[0].tx_hash, 1)
    assert (rebroadcast.tx_hash, rebroadcast.nonce, rebroadcast.attempts) == (ours[2].tx_hash, 2, 1)
    assert consumed.root == ours[1].root
    assert consumed.tx_hash != ours[1].tx_hash
    assert (consumed.nonce, consumed.attempts) == (3, 2)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    harness: Callable[..., Harness], spawn: Callable[..., Process], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=20)
    h.add("supplier", 1200)
    h.add("factory", 400)
    first = spawn(h, "worker")
    deadline = time.monotonic() + 180
    while not h.batches():
        assert first.popen.poll() is None, first.log()
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGKILL)  # between signing the first batches and their receipts
    first.popen.wait(30)  # SIGKILL: it ends at once (TimeoutExpired otherwise)
    assert h.outbox() > 0, "the worker finished before it was killed"

    second = spawn(h, "worker")
    h.wait_drained(270)
    assert second.popen.poll() is None, second.log()
    h.assert_anchored_exactly_once(verify_on_chain=2)
    assert len(h.batches()) == 80


@pytest.mark.private_chain
def test_records_stay_pending_while_the_node_is_down_then_are_anchored(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    supervisor = h.runtime.supervisor
    assert supervisor is not None and h.runtime.sessions is not None
    worker = h.worker()
    worker.start()
    h.add("supplier", 5)
    h.wait_drained(30)

    supervisor.stop()  # the node is down
    stored = h.add("factory", 6) + h.add("supplier", 4)
    due = datetime.now(UTC) + timedelta(seconds=h.settings.anchor_interval)

    def failed_since_due() -> bool:  # the worker tried the due records, not merely not yet
        at = worker.state.last_error_at
        return at is not None and at > due and "unreachable" in (worker.state.last_error or "")

    wait_for(failed_since_due, 90, "the worker's failure with the records due")
    assert h.outbox() == 10
    with h.runtime.sessions() as session:
        assert record_status(session=session, record_id=stored[0].id).status == "pending"
    assert worker.state.last_error is not None
    assert "unreachable" in worker.state.last_error
    assert worker.state.role == "leader"

    supervisor.start()  # back, with its state
    h.wait_drained(60)
    h.assert_anchored_exactly_once()


@pytest.mark.private_chain
def test_a_reorg_that_drops_the_anchors_gets_the_same_batches_anchored_again(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_batch_size=10)
    h.add("supplier", 25)
    h.add("factory", 5)
    worker = h.worker()
    h.drain(worker)
    before = {b.id: b for b in h.batches()}
    assert h.runtime.sessions is not None and h.runtime.chain is not None
    proofs = _proofs(h)
    chain = h.runtime.chain
    head = chain.retrieve_block_number()
    depth = head - min(b.block_number or head for b in before.values()) + 1
    chain.retrieve("anvil_reorg", [depth, []])
    assert chain.retrieve_block_number() == head
    assert not any(
        h.runtime.ledger.retrieve_batch(b.root, anchorer=b.account_address).anchored
        for b in before.values()
    )

    h.drain(worker)
    h.assert_anchored_exactly_once()
    after = {b.id: b for b in h.batches()}
    assert after.keys() == before.keys()
    for batch_id, batch in after.items():
        assert batch.root == before[batch_id].root
        assert batch.block_hash != before[batch_id].block_hash
    assert _proofs(h) == proofs


def _proofs(h: Harness) -> dict[str, tuple[int | None, int | None, list[str] | None]]:
    """Each record's batch, leaf index and proof, as the provenance view shows them."""
    assert h.runtime.sessions is not None
    with h.runtime.sessions() as session:
        ids = list(session.scalars(select(Record.id)))
        statuses = records_status(session=session, record_ids=ids)
    return {i: (s.batch_id, s.leaf_index, s.proof) for i, s in statuses.items()}


@pytest.mark.private_chain
def test_a_node_restored_from_an_older_state_gets_the_batches_anchored_again(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_batch_size=10)
    supervisor = h.runtime.supervisor
    assert supervisor is not None and h.runtime.chain is not None
    node = supervisor.node
    saved_at = time.time()
    assert node.wait_for_state_dump(after=saved_at)
    older = node.state_path.with_name("older-state.json")
    shutil.copy(node.state_path, older)  # a backup taken before any anchoring

    h.add("supplier", 15)
    h.add("brand", 5)
    worker = h.worker()
    h.drain(worker)
    head = h.runtime.chain.retrieve_block_number()
    before = {b.id: b.root for b in h.batches()}
    anchorers = {b.root: b.account_address for b in h.batches()}

    supervisor.stop()
    shutil.copy(older, node.state_path)
    supervisor.start()
    assert h.runtime.chain.retrieve_block_number() < head, "the node did not go back"
    assert not any(
        h.runtime.ledger.retrieve_batch(root, anchorer=anchorers[root]).anchored
        for root in before.values()
    )

    h.drain(worker)
    h.assert_anchored_exactly_once()
    assert {b.id: b.root for b in h.batches()} == before


@pytest.mark.private_chain
@pytest.mark.parametrize("depth", [1])
def test_a_shallow_reorg_below_the_head_is_noticed_without_a_restart(
    harness: Callable[..., Harness], depth: int
) -> None:
    h = harness()
    h.add("brand", 3)
    worker = h.worker()
    h.drain(worker)
    chain = h.runtime.chain
    assert chain is not None
    chain.retrieve("anvil_mine", [3])  # the anchor is 3 blocks deep now
    worker.run_once()
    [batch] = h.batches()
    chain.retrieve("anvil_reorg", [3 + depth, []])
    assert not h.runtime.ledger.retrieve_batch(batch.root, anchorer=batch.account_address).anchored
    h.drain(worker)
    [again] = h.batches()
    assert again.block_hash != batch.block_hash
    h.assert_anchored_exactly_once()
