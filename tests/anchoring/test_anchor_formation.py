"""How batches are formed: records put in their batch with it, proofs shown once it is on chain,
entries claimed by an earlier version of the worker, a failed store, the WAL checkpointer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select
from sqlalchemy.exc import OperationalError

from conftest import Harness, wait_for
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.anchoring import outbox as the_outbox
from hallmark.services.anchoring.batches import BatchStatus
from hallmark.services.anchoring.readiness import anchoring_report
from hallmark.services.anchoring.status import batch_proofs, records_status
from hallmark.store.db import transaction
from hallmark.store.models import AnchorQueueEntry, RecordAnchor
from hallmark.store.sqlite import WalCheckpointer


def test_records_get_their_proofs_with_their_batch_and_show_them_once_it_is_on_chain(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=10)
    sessions, chain = h.runtime.sessions, h.runtime.chain
    assert sessions is not None and chain is not None
    stored = h.add("factory", 20)
    ids = [s.id for s in stored]
    chain.retrieve("evm_setAutomine", [False])
    worker = h.worker()
    worker.run_once()  # two batches signed, stored and sent; none mined
    assert [b.status for b in h.batches()] == [BatchStatus.SENT, BatchStatus.SENT]
    assert h.outbox() == 0, "the batches' entries left the outbox with them"
    by_batch = {b.id: b for b in h.batches()}
    with sessions() as session:
        batch_of = dict(
            session.execute(
                select(RecordAnchor.record_id, RecordAnchor.batch_id).where(
                    RecordAnchor.record_id.in_(ids)
                )
            ).all()
        )
        statuses = records_status(session=session, record_ids=ids)
        assert set(batch_of) == set(ids), "each record in its batch, stored with the batch"
        for batch_id, batch in by_batch.items():  # the proofs of each batch's root, already
            proofs = batch_proofs(session, batch_id, batch.root)
            members = [s for s in stored if batch_of[s.id] == batch_id]
            assert sorted(proofs) == sorted(s.record_hash.lower() for s in members)
            assert sorted(index for index, _ in proofs.values()) == list(range(len(members)))
            for record in members:
                _, proof = proofs[record.record_hash.lower()]
                assert StandardMerkleTree.verify(batch.root, record.record_hash, proof)
    for status in statuses.values():  # but not shown before the root is on chain
        assert status.status == "anchoring"
        assert status.batch_id in by_batch
        assert (status.proof, status.leaf_index, status.block_number) == (None, None, None)
    outbox = anchoring_report(sessions=sessions, worker=worker)["outbox"]
    assert (outbox["pending"], outbox["in_batches"]) == (20, 20)
    assert outbox["oldest_pending_age_seconds"] >= 0

    chain.retrieve("evm_mine", [])
    chain.retrieve("evm_setAutomine", [True])
    worker.run_once()
    with sessions() as session:
        statuses = records_status(session=session, record_ids=ids)
    for record in stored:
        status = statuses[record.id]
        assert status.status == "confirmed" and status.proof is not None
        assert status.root is not None
        assert StandardMerkleTree.verify(status.root, record.record_hash, status.proof)
    h.assert_anchored_exactly_once()
    outbox = anchoring_report(sessions=sessions, worker=worker)["outbox"]
    assert (outbox["pending"], outbox["in_batches"]) == (0, 0)


def test_entries_claimed_by_an_earlier_worker_get_their_proofs_when_mined(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=10)
    sessions, chain = h.runtime.sessions, h.runtime.chain
    assert sessions is not None and chain is not None
    stored = h.add("supplier", 10)
    chain.retrieve("evm_setAutomine", [False])
    worker = h.worker()
    worker.run_once()
    [batch] = h.batches()
    assert batch.status == BatchStatus.SENT
    # As the previous version of the worker left a sent batch: its entries still in the outbox,
    # claimed by the batch, and its records without proofs.
    supplier = h.orgs["supplier"]
    with transaction(sessions) as session:
        session.execute(
            insert(AnchorQueueEntry),
            [
                {
                    "record_id": s.id,
                    "record_hash": s.record_hash,
                    "organisation_id": supplier.id,
                    "kind": s.kind,
                    "batch_id": batch.id,
                    "enqueued_at": s.recorded_at,
                }
                for s in stored
            ],
        )
        session.execute(delete(RecordAnchor))
    assert h.outbox() == 10
    outbox = anchoring_report(sessions=sessions, worker=worker)["outbox"]
    assert (outbox["pending"], outbox["in_batches"]) == (10, 10)

    chain.retrieve("evm_mine", [])
    chain.retrieve("evm_setAutomine", [True])
    h.drain(worker)
    h.assert_anchored_exactly_once()
    assert [b.id for b in h.batches()] == [batch.id], "anchored in its own batch, not again"


def _database_error() -> None:
    raise OperationalError("UPDATE records", {}, Exception("disk I/O error"))


@pytest.mark.parametrize("accounts", [1, 2], ids=["one account", "two accounts"])
@pytest.mark.parametrize("function", ["claim_entries", "write_anchors"])
def test_a_failed_store_sends_nothing_more_and_hands_its_nonces_out_again(
    harness: Callable[..., Harness],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    function: str,
    accounts: int,
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=10)
    h.add("supplier", 30 if accounts == 1 else 10)
    if accounts == 2:
        h.add("factory", 10)
    worker = h.worker()
    signed: list[Any] = []  # in the order the worker signs them
    sign_batches = worker.former._signed_batches

    def signed_batches(due: Any) -> Iterator[Any]:
        for batch in sign_batches(due):
            signed.append(batch)
            yield batch

    real = getattr(the_outbox, function)
    failures: list[str] = []

    def failing(session: Any, *args: Any) -> Any:
        """The store of the first batch signed fails, once: its entries were claimed
        elsewhere, or the database fails while its records are put in the batch."""
        target = signed[0] if signed and not failures else None
        if target is not None and function == "claim_entries" and args[2] is target.seqs:
            failures.append(function)
            return False
        if target is not None and function == "write_anchors" and args[1] is target.record_ids:
            failures.append(function)
            _database_error()
        return real(session, *args)

    monkeypatch.setattr(worker.former, "_signed_batches", signed_batches)
    monkeypatch.setattr(the_outbox, function, failing)
    worker.step()
    assert failures == [function]
    # One store at a time on SQLite: the batches signed meanwhile were dropped. Two on
    # PostgreSQL: unless the failure was known before, the other one was stored too, `signed`;
    # the same cycle sends it with the nonce handed out again, or, when the cycle failed, the
    # next one does.
    stored = h.batches()
    assert len(stored) in ((0,) if database_url.startswith("sqlite") else (0, 1))
    assert h.outbox() == (30 if accounts == 1 else 20) - 10 * len(stored)
    if stored and function == "claim_entries":
        # Sent in the same cycle: re-signed with the nonce handed out again, or sent with its
        # own while the freed nonce below it is filled by a transfer of nothing to itself.
        assert stored[0].nonce in (0, 1) and stored[0].status != BatchStatus.SIGNED
    elif stored:
        assert stored[0].status == BatchStatus.SIGNED
    h.drain(worker)
    h.assert_anchored_exactly_once()
    chain = h.runtime.chain
    assert chain is not None
    for org in h.orgs.values():  # no nonce used twice, none left open below the last one
        nonces = sorted(b.nonce for b in h.batches() if b.organisation_id == org.id)
        assert len(set(nonces)) == len(nonces), org.kind
        mined = chain.retrieve_nonce(org.account_address, "latest")
        assert mined == chain.retrieve_nonce(org.account_address, "pending"), org.kind
        assert not nonces or nonces[-1] < mined, org.kind


def test_the_wal_checkpointer_checkpoints_instead_of_the_commits(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_batch_size=500)
    engine = h.runtime.engine
    assert engine is not None
    database = Path(engine.url.database or "")
    # Every process that writes to a SQLite file runs one (API processes and the worker).
    checkpointer = h.runtime.checkpointer
    assert isinstance(checkpointer, WalCheckpointer)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        time.sleep(0.5)
        before, done = database.stat().st_size, checkpointer.checkpoints
        h.add("supplier", 3000)
        h.drain(h.worker())
        # The records reach the database file only through a checkpoint: this thread's.
        wait_for(lambda: database.stat().st_size > before, 30, "a checkpoint")
        assert checkpointer.checkpoints > done
    finally:
        checkpointer.stop()
    assert not event.contains(engine, "commit", checkpointer._commit)
