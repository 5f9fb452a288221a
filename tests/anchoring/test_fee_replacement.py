"""A transaction that waits unmined is replaced by one with higher fees, same nonce; whichever of
the two is mined, every record is anchored exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hexbytes import HexBytes
from sqlalchemy import update

from conftest import Harness
from hallmark.chain.fees import fees_of
from hallmark.core.errors import TransactionRejectedError
from hallmark.services.anchoring import transactions
from hallmark.services.anchoring import worker as anchoring_worker
from hallmark.services.anchoring.batches import BatchStatus
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch

#: How long a transaction waits before it is replaced. Long, and the clock the worker measures
#: the wait by is moved on instead of waited for (`_look_again`): however slowly a busy machine
#: runs a cycle, no transaction is replaced before the test lets it be, and never twice.
BUMP_AFTER = 600.0


class _MovedTime:
    """The `time` of the worker and its transactions, its monotonic clock ahead of the real one
    by `offset`."""

    offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_clock = _MovedTime()


@pytest.fixture(autouse=True)
def _moved_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    _clock.offset = 0.0
    monkeypatch.setattr(transactions, "time", _clock)
    monkeypatch.setattr(anchoring_worker, "time", _clock)


def _sent_unmined(h: Harness, worker: AnchorWorker) -> list[AnchorBatch]:
    """Records of the supplier, signed and broadcast while the node mines nothing."""
    chain = h.runtime.chain
    assert chain is not None
    chain.retrieve("evm_setAutomine", [False])
    h.add("supplier", 5)
    time.sleep(h.settings.anchor_interval)
    worker.run_once()
    sent = h.batches()
    assert [b.status for b in sent] == [BatchStatus.SENT]
    return sent


def _mine_and_drain(h: Harness, worker: AnchorWorker) -> AnchorBatch:
    """Mine what the node holds, anchor everything; the one batch, checked, as it ends."""
    chain = h.runtime.chain
    assert chain is not None
    chain.retrieve("evm_mine", [])
    chain.retrieve("evm_setAutomine", [True])
    h.drain(worker)
    h.assert_anchored_exactly_once()
    (batch,) = h.batches()
    return batch


def _look_again(h: Harness, worker: AnchorWorker) -> None:
    """Let the transaction wait past `fee_bump_after` (the worker's clock moved on), then run a
    cycle."""
    _clock.offset += h.settings.fee_bump_after + 1
    time.sleep(0.05)  # the real clock moves too: backoffs after a refusal end
    worker.run_once()


def _sent_then_replaced(h: Harness, worker: AnchorWorker) -> tuple[AnchorBatch, AnchorBatch]:
    """The batch as first sent, and as it is once its transaction was replaced."""
    (first,) = _sent_unmined(h, worker)
    _look_again(h, worker)
    (replaced,) = h.batches()
    assert replaced.tx_hash != first.tx_hash
    return first, replaced


def test_a_waiting_transaction_is_replaced_with_higher_fees_and_the_replacement_mined(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, fee_bump_after=BUMP_AFTER)
    worker = h.worker()
    first, replaced = _sent_then_replaced(h, worker)
    assert replaced.nonce == first.nonce and replaced.root == first.root
    assert replaced.attempts == first.attempts + 1
    old, new = fees_of(HexBytes(first.raw_tx)), fees_of(HexBytes(replaced.raw_tx))
    assert old.max_fee_per_gas and new.max_fee_per_gas and new.max_priority_fee_per_gas
    assert old.max_priority_fee_per_gas is not None
    assert new.max_fee_per_gas * 8 >= old.max_fee_per_gas * 9
    assert new.max_priority_fee_per_gas * 8 >= old.max_priority_fee_per_gas * 9
    chain = h.runtime.chain
    assert chain is not None
    pool = chain.retrieve("txpool_content", [])["pending"]
    (account_pool,) = pool.values()
    assert [tx["hash"] for tx in account_pool.values()] == [replaced.tx_hash]  # the node swapped

    assert _mine_and_drain(h, worker).tx_hash == replaced.tx_hash
    assert chain.retrieve_receipt(first.tx_hash) is None


def test_the_replaced_transaction_mined_after_all_is_adopted(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, fee_bump_after=BUMP_AFTER)
    worker = h.worker()
    first, replaced = _sent_then_replaced(h, worker)
    chain = h.runtime.chain
    assert chain is not None
    # Another node of the network mines the first transaction: the replacement never will.
    chain.retrieve("anvil_dropTransaction", [replaced.tx_hash])
    chain.w3.eth.send_raw_transaction(HexBytes(first.raw_tx))
    assert _mine_and_drain(h, worker).tx_hash == first.tx_hash
    assert chain.retrieve_receipt(replaced.tx_hash) is None


def test_no_replacement_beyond_the_fee_cap(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, fee_bump_after=BUMP_AFTER)
    worker = h.worker()
    (first,) = _sent_unmined(h, worker)
    old = fees_of(HexBytes(first.raw_tx))
    assert old.max_fee_per_gas is not None
    capped = h.worker(max_fee_gwei=old.max_fee_per_gas / 10**9)  # the fee it pays already
    worker.stop()
    worker.leader.release()
    capped.run_once()
    _look_again(h, capped)
    (waiting,) = h.batches()
    assert (waiting.tx_hash, waiting.attempts, waiting.status) == (
        first.tx_hash,
        1,
        BatchStatus.SENT,
    )
    assert waiting.last_error is not None and "HALLMARK_MAX_FEE_GWEI" in waiting.last_error
    assert _mine_and_drain(h, capped).tx_hash == first.tx_hash


def test_replacement_is_off_with_zero(harness: Callable[..., Harness], database_url: str) -> None:
    h = harness(database_url=database_url, fee_bump_after=0)
    worker = h.worker()
    (first,) = _sent_unmined(h, worker)
    _look_again(h, worker)
    (waiting,) = h.batches()
    assert (waiting.tx_hash, waiting.attempts) == (first.tx_hash, 1)


def test_a_refused_replacement_is_replaced_again_later(
    harness: Callable[..., Harness], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(database_url=database_url, fee_bump_after=BUMP_AFTER)
    worker = h.worker()
    (first,) = _sent_unmined(h, worker)
    real_send = worker.client.send_raw_transaction
    refused: list[str] = []

    def send_refusing_the_first_replacement(raw_tx: str) -> None:
        """A node that never takes the first replacement (as when its pool holds a dearer one)."""
        if raw_tx != first.raw_tx and refused in ([], [raw_tx]):
            refused[:] = [raw_tx]
            raise TransactionRejectedError("0x", "replacement transaction underpriced")
        real_send(raw_tx)

    monkeypatch.setattr(worker.client, "send_raw_transaction", send_refusing_the_first_replacement)
    _look_again(h, worker)
    (second,) = h.batches()
    assert refused == [second.raw_tx] and second.attempts == 2
    assert second.last_error is not None and "underpriced" in second.last_error
    deadline = time.monotonic() + 360
    while h.batches()[0].attempts < 3 and time.monotonic() < deadline:
        _look_again(h, worker)  # after the backoff and `fee_bump_after` of the refused one
    (third,) = h.batches()
    assert third.attempts == 3 and third.nonce == first.nonce
    second_fees, third_fees = fees_of(HexBytes(second.raw_tx)), fees_of(HexBytes(third.raw_tx))
    assert second_fees.max_fee_per_gas and third_fees.max_fee_per_gas
    assert third_fees.max_fee_per_gas * 8 >= second_fees.max_fee_per_gas * 9
    assert _mine_and_drain(h, worker).tx_hash == third.tx_hash


def test_a_replacement_is_not_sent_when_the_batch_moved_on_meanwhile(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness(fee_bump_after=BUMP_AFTER)
    worker = h.worker()
    (first,) = _sent_unmined(h, worker)
    real_build = worker.ledger.build_anchor
    moved_to = "0x" + "77" * 32

    def build_while_another_writer_moves_the_batch(*args: Any, **kwargs: Any) -> Any:
        signed = real_build(*args, **kwargs)
        assert h.runtime.sessions is not None
        with transaction(h.runtime.sessions) as session:
            session.execute(
                update(AnchorBatch).where(AnchorBatch.id == first.id).values(tx_hash=moved_to)
            )
        return signed

    monkeypatch.setattr(worker.ledger, "build_anchor", build_while_another_writer_moves_the_batch)
    sent: list[str] = []
    monkeypatch.setattr(worker.client, "send_raw_transaction", sent.append)
    _look_again(h, worker)
    (batch,) = h.batches()
    assert (batch.tx_hash, batch.raw_tx, batch.attempts) == (moved_to, first.raw_tx, 1)
    # The waiting transaction may be re-broadcast as it is; the replacement went nowhere.
    assert all(raw == first.raw_tx for raw in sent)
