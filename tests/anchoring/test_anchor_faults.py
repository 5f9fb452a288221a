"""The worker under chain faults: forks found by block hash whatever the head does, a bounded
reorg check, one broken organisation or batch never stopping the others."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence

import pytest
from eth_account import Account
from hexbytes import HexBytes
from sqlalchemy import select
from web3.types import RPCEndpoint

from conftest import Harness, Process, freeze_inside_a_write_transaction, wait_for
from hallmark.runtime.worker_process import StopRequest
from hallmark.services.access.organisations import organisation_account
from hallmark.services.anchoring.batches import BatchStatus, batch_tree
from hallmark.services.anchoring.status import records_status
from hallmark.store.db import transaction
from hallmark.store.models import Organisation, Record


def _confirmed_on_a_block_the_chain_lacks(h: Harness) -> list[int]:
    """Batches the database calls confirmed whose block hash the chain does not hold."""
    chain = h.runtime.chain
    assert chain is not None
    confirmed = [b for b in h.batches() if b.status == BatchStatus.CONFIRMED]
    canonical = chain.retrieve_block_hashes(sorted({b.block_number or 0 for b in confirmed}))
    return [b.id for b in confirmed if canonical[b.block_number or 0] != b.block_hash]


def test_a_fork_longer_than_the_reorg_depth_is_found_by_block_hash(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(anchor_batch_size=10, database_url=database_url)
    chain = h.runtime.chain
    assert chain is not None and h.runtime.sessions is not None
    snapshot = chain.retrieve("evm_snapshot")
    h.add("supplier", 60)
    worker = h.worker()
    h.drain(worker)
    head = chain.retrieve_block_number()
    # In one JSON-RPC batch: the chain goes back before the anchors and 100 blocks past them,
    # as a node catching up from a minority fork would (its head only ever grows).
    answers = chain.w3.provider.make_batch_request(  # type: ignore[attr-defined]
        [(RPCEndpoint("evm_revert"), [snapshot]), (RPCEndpoint("anvil_mine"), ["0x64"])]
    )
    assert all("error" not in answer for answer in answers)
    assert chain.retrieve_block_number() > head + worker.settings.reorg_depth
    ledger = h.runtime.ledger
    assert not any(
        ledger.retrieve_batch(b.root, anchorer=b.account_address).anchored for b in h.batches()
    )

    worker.run_once()
    assert _confirmed_on_a_block_the_chain_lacks(h) == []
    h.drain(worker)
    h.assert_anchored_exactly_once()
    with h.runtime.sessions() as session:
        ids = list(session.scalars(select(Record.id)))
        statuses = records_status(session=session, record_ids=ids)
    assert {s.batch_id is not None for s in statuses.values()} == {True}


class _BlockHashSpy:
    """Counts the block heights the worker asks the node about."""

    def __init__(self, h: Harness, worker_client: object) -> None:
        self.heights: list[int] = []
        original = worker_client.retrieve_block_hashes  # type: ignore[attr-defined]

        def spy(numbers: Sequence[int]) -> dict[int, str | None]:
            self.heights += list(numbers)
            result: dict[int, str | None] = original(numbers)
            return result

        worker_client.retrieve_block_hashes = spy  # type: ignore[attr-defined]


def test_the_reorg_check_stays_bounded_after_errors_and_restarts(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(anchor_batch_size=1, database_url=database_url)
    chain = h.runtime.chain
    assert chain is not None
    worker = h.worker()
    for _ in range(12):  # twelve batches, each in a block of its own
        h.add("brand", 1)
        h.drain(worker)
    chain.retrieve("anvil_mine", [200])  # all of them far below the head (and finalized)
    spy = _BlockHashSpy(h, worker.client)

    worker.run_once()
    worker._cycle_failed(RuntimeError("a transient error"))  # as any failed cycle does
    spy.heights.clear()
    worker.run_once()
    # The last tip is still on the chain: one look at it, not one per batch ever mined.
    assert len(spy.heights) <= 1, spy.heights

    restarted = h.worker()
    restarted_spy = _BlockHashSpy(h, restarted.client)
    restarted.run_once()
    # A new leader checks newest first and stops at the first batch still on the chain.
    assert len(restarted_spy.heights) <= 2, restarted_spy.heights


def test_a_broken_organisation_key_never_stops_the_others(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(anchor_batch_size=5, database_url=database_url)
    assert h.runtime.sessions is not None
    supplier = h.orgs["supplier"]
    with transaction(h.runtime.sessions) as session:
        organisation = session.get(Organisation, supplier.id)
        assert organisation is not None
        # A keystore that does not open with Hallmark's passphrase (restored from elsewhere).
        organisation.keystore = json.loads(
            json.dumps(Account.encrypt(Account.create().key, "another passphrase", iterations=2))
        )
    h.add("supplier", 5)
    h.add("factory", 5)
    h.add("brand", 5)
    worker = h.worker()
    deadline = time.monotonic() + 60
    others = {h.orgs["factory"].id, h.orgs["brand"].id}
    while {b.organisation_id for b in h.batches() if b.status == BatchStatus.CONFIRMED} != others:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    # The supplier's records wait in the outbox; the worker says why.
    assert h.outbox() == 5
    assert worker.state.last_error is not None
    assert supplier.name in worker.state.last_error
    assert all(b.organisation_id != supplier.id for b in h.batches())
    # Still backing off (not retried every cycle), and the others keep anchoring meanwhile.
    h.add("brand", 5)
    deadline = time.monotonic() + 60
    while sum(b.status == BatchStatus.CONFIRMED for b in h.batches()) < 3:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    assert h.outbox() == 5


def test_a_burst_of_signals_stops_a_worker_cleanly_and_frees_the_lead(
    harness: Callable[..., Harness], spawn: Callable[..., Process]
) -> None:
    h = harness()
    worker = spawn(h, "worker")
    wait_for(lambda: "anchoring.leader" in worker.log(), 180, "the worker to lead")
    for _ in range(3):  # nested handlers: each arrives while the previous one may still run
        os.kill(worker.pid, signal.SIGTERM)
    assert worker.popen.wait(30) == 0, worker.log()
    assert "anchoring.stopped" in worker.log()
    successor = h.worker()
    successor.step()
    assert successor.state.role == "leader"


def test_a_stop_request_is_lock_free_and_survives_nested_signals() -> None:
    stop = StopRequest()
    nested: list[int] = []
    previous = signal.getsignal(signal.SIGUSR1)

    def handler(signum: int, frame: object) -> None:
        nested.append(signum)
        if len(nested) < 3:  # a signal arriving inside the handler of the one before
            os.kill(os.getpid(), signal.SIGUSR1)
        stop.request()

    signal.signal(signal.SIGUSR1, handler)
    try:
        assert not stop.wait(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.wait(10)
        assert len(nested) == 3
        # Threads ask the same way (the parent watch, the reporter), any number of times.
        threads = [threading.Thread(target=stop.request) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
            assert not thread.is_alive(), "a stop request did not return in 30 s"
        assert stop.wait(0)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        stop.close()


def test_the_gas_limit_a_batch_is_sent_with_is_the_one_it_is_simulated_with(
    harness: Callable[..., Harness],
) -> None:
    # Too little gas for anchor(): the transaction runs out of it on chain.
    h = harness(anchor_gas_limit=30_000)
    chain = h.runtime.chain
    assert chain is not None
    h.add("brand", 1)
    worker = h.worker()
    deadline = time.monotonic() + 60
    while [b.status for b in h.batches()] != [BatchStatus.FAILED]:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    [failed] = h.batches()
    account = h.orgs["brand"].account_address
    sent = chain.retrieve_nonce(account, "latest")
    # The retries simulate with that same limit: they fail as the transaction would, and no
    # transaction is signed again to run out of gas once more.
    for _ in range(10):
        time.sleep(min(worker.step(), 0.2))
    [still] = h.batches()
    assert still.status == BatchStatus.FAILED
    assert still.attempts == failed.attempts == 1
    assert chain.retrieve_nonce(account, "latest") == sent
    assert still.last_error is not None and "gas" in still.last_error.lower()


def test_a_nonce_gap_is_filled_and_no_queued_transaction_is_mined_twice(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_batch_size=2)
    chain = h.runtime.chain
    assert chain is not None
    address = h.orgs["supplier"].account_address
    first = h.worker()
    first.step()
    assert first.state.role == "leader"
    # A nonce handed out whose batch was never stored: the next batch waits behind a gap.
    gap = first.transactions.nonces.allocate(address)
    h.add("supplier", 2)
    deadline = time.monotonic() + 60
    while [b.status for b in h.batches()] != [BatchStatus.SENT]:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(first.step(), 0.05))
    [queued] = h.batches()
    assert queued.nonce == gap + 1
    assert chain.retrieve_nonce(address, "latest") == gap  # queued by the node, not mined
    first.stop()
    first.leader.release()  # as its process ending would

    restarted = h.worker()  # a new leader resolves every account's waiting transactions
    h.drain(restarted)
    h.add("supplier", 2)
    h.drain(restarted)
    h.assert_anchored_exactly_once()
    [again, later] = h.batches()
    # Every transaction the account sent was mined and succeeded: the filler of the gap and
    # the batches, no copy of a batch reverting as a duplicate.
    head = chain.retrieve_block_number()
    sent = [
        tx
        for number in range(head + 1)
        for tx in chain.w3.eth.get_block(number, full_transactions=True)["transactions"]
        if tx["from"] == address  # type: ignore[index]
    ]
    receipts = chain.retrieve_receipts([tx["hash"].to_0x_hex() for tx in sent])  # type: ignore[index]
    assert [r.status if r else None for r in receipts.values()] == [1] * len(sent)
    assert sorted(tx["nonce"] for tx in sent) == list(range(len(sent)))  # type: ignore[index]
    assert chain.retrieve_nonce(address, "latest") == later.nonce + 1
    assert (again.nonce, again.tx_hash) == (queued.nonce, queued.tx_hash)  # mined as it was


def test_a_standby_takes_over_from_a_leader_that_no_longer_leads(
    harness: Callable[..., Harness], spawn: Callable[..., Process], database_url: str
) -> None:
    h = harness(database_url=database_url)
    hung = spawn(h, "worker")
    wait_for(lambda: "anchoring.leader" in hung.log(), 180, "the worker to lead")
    # The worst moment: inside a write transaction, holding the locks of what it wrote (on
    # SQLite the lock every writer of the database queues on) until it is ended.
    freeze_inside_a_write_transaction(h, hung)
    try:
        standby = h.worker(worker_takeover_after=1.0)
        standby.step()
        assert standby.state.role == "standby"  # its lock is fresh: no takeover yet
        deadline = time.monotonic() + 90
        while standby.state.role != "leader":
            assert time.monotonic() < deadline, "no takeover"
            time.sleep(min(standby.step(), 0.2))
        h.add("brand", 3)
        h.drain(standby)
        h.assert_anchored_exactly_once()
        if database_url.startswith("sqlite"):
            # Its file lock goes only with the process; frozen, SIGTERM could not stop it.
            assert hung.popen.wait(10) == -signal.SIGKILL
        # (On PostgreSQL the server ended its session, and the advisory lock with it.)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung.pid, signal.SIGCONT)


def test_a_standby_started_while_the_leader_is_frozen_in_a_write_transaction_takes_over(
    harness: Callable[..., Harness], spawn: Callable[..., Process], database_url: str
) -> None:
    # As an operator starts one, or `hallmark serve` restarts its worker process: a standby
    # that starts while the leader, frozen, holds what it wrote locked (on SQLite the write
    # lock of the whole database) must still start, and take over.
    h = harness(database_url=database_url)
    hung = spawn(h, "worker")
    wait_for(lambda: "anchoring.leader" in hung.log(), 180, "the worker to lead")
    freeze_inside_a_write_transaction(h, hung)
    try:
        standby = spawn(h, "worker", HALLMARK_WORKER_TAKEOVER_AFTER="1")
        try:
            wait_for(lambda: "anchoring.took_over" in standby.log(), 120, "the takeover")
        except AssertionError:
            raise AssertionError(f"no takeover; the standby's log:\n{standby.log()}") from None
        if database_url.startswith("sqlite"):
            assert hung.popen.wait(10) == -signal.SIGKILL
        h.add("brand", 3)
        h.wait_drained()
        h.assert_anchored_exactly_once()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung.pid, signal.SIGCONT)


def test_a_live_leader_keeps_the_lead(harness: Callable[..., Harness]) -> None:
    h = harness()
    leader, standby = h.worker(), h.worker(worker_takeover_after=0.5)
    leader.step()
    for _ in range(6):
        time.sleep(0.2)
        leader.step()  # it beats at every step
        standby.step()
        assert standby.leader.stalled_holder(0.5) is None
    assert (leader.state.role, standby.state.role) == ("leader", "standby")
    time.sleep(0.7)  # the leader stops stepping: its heartbeat goes silent
    assert standby.leader.stalled_holder(0.5) is not None


def test_a_batch_whose_anchoring_log_is_gone_never_stops_the_others(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness()
    stored = h.add("supplier", 3)
    tree, _ = batch_tree([s.record_hash for s in stored])
    root = HexBytes(tree.root).to_0x_hex()
    account = organisation_account(h.orgs["supplier"], h.settings.passphrase)
    ledger = h.runtime.ledger
    # Anchored on chain already, so the batch's own transaction reverts (RootAlreadyAnchored)
    # and the batch must adopt that anchoring: but the node pruned its log.
    ledger.client.send_function(account, ledger.address, ledger.abi, "anchor", [root, 0, 3])
    h.add("factory", 2)
    worker = h.worker()
    real_find = worker.transactions.find_anchoring
    monkeypatch.setattr(
        worker.transactions,
        "find_anchoring",
        lambda batch: None if batch.root == root else real_find(batch),
    )
    factory = h.orgs["factory"].id
    deadline = time.monotonic() + 60
    while [b.status for b in h.batches() if b.organisation_id == factory] != ["confirmed"]:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    [stuck] = [b for b in h.batches() if b.organisation_id != factory]
    assert stuck.root == root and stuck.status != BatchStatus.CONFIRMED
    h.add("brand", 2)  # and later batches of others are anchored too
    deadline = time.monotonic() + 60
    while sum(b.status == BatchStatus.CONFIRMED for b in h.batches()) < 2:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
