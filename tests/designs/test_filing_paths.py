"""The filing step's failure paths on a real chain: a commitment past its reveal window, a
filing whose recorded block is not the chain's (a reorg as the filer sees it), a recorded
transaction that never reached the chain while its nonce was used — adopted from the chain's
log when the design is filed, signed again when it is not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from hallmark.services.anchoring.status import record_status
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.designs.filing import DesignFiler, NonceSource
from hallmark.store.models import DesignRegistration
from tests.conftest import World, anchor_worker
from tests.designs.corpus import draw_design, encode
from tests.designs.test_registry import FAST, register

DAY = 24 * 3600
NEVER_SENT = "0x" + "ab" * 32


@pytest.fixture
def anchoring(world: World) -> Iterator[AnchorWorker]:
    """An anchoring worker without the filing step (the tests file by hand)."""
    worker = anchor_worker(world.runtime, **FAST)
    yield worker
    assert worker.stop()
    worker.leader.release()


def _rows(world: World) -> dict[str, DesignRegistration]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        rows = list(session.scalars(select(DesignRegistration)))
        for row in rows:
            session.expunge(row)
    return {row.number: row for row in rows}


def _anchor_commitments(world: World, worker: AnchorWorker, timeout: float = 40.0) -> None:
    assert world.runtime.sessions is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        with world.runtime.sessions() as session:
            statuses = {
                record_status(session=session, record_id=row.commitment_record_id).status
                for row in _rows(world).values()
            }
        if statuses <= {"anchored", "confirmed"}:
            return
    raise AssertionError(f"commitments not anchored in {timeout} s: {worker.report()}")


def _filer(world: World, worker: AnchorWorker) -> DesignFiler:
    runtime = world.runtime
    assert runtime.sessions is not None and runtime.deployment is not None
    transactions = worker.transactions
    return DesignFiler(
        sessions=runtime.sessions,
        registry=runtime.registry,
        account_of=transactions.account,
        nonces=NonceSource(current=lambda: transactions.nonces),
        chain_id=runtime.deployment.chain_id,
        fees=transactions.fees_now,
        deployment_id=runtime.deployment_id,
    )


def _file_until(filer: DesignFiler, world: World, number: str, status: str) -> DesignRegistration:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        filer.run_once()
        row = _rows(world)[number]
        if row.status == status:
            return row
        time.sleep(0.05)
    raise AssertionError(f"{number} is {_rows(world)[number].status}, not {status}")


def _set(world: World, number: str, **values: object) -> None:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(
            update(DesignRegistration).where(DesignRegistration.number == number).values(**values)
        )


def test_a_commitment_past_its_reveal_window_fails_and_frees_the_file(
    world: World, anchoring: AnchorWorker
) -> None:
    data = encode(draw_design(681))
    answer = register(world, data)
    assert answer.status_code == 201, answer.text
    number = answer.json()["design"]["number"]
    _anchor_commitments(world, anchoring)
    chain = world.runtime.chain
    assert chain is not None
    chain.retrieve("evm_increaseTime", [DAY + 60])
    chain.retrieve("evm_mine", [])

    row = _file_until(_filer(world, anchoring), world, number, "failed")
    assert row.failure is not None
    assert "can no longer be revealed" in row.failure and "CommitmentExpired" in row.failure
    assert row.active_fingerprint is None and row.tx_hash is None
    # The fingerprint is free again: the same file is registered anew.
    again = register(world, data)
    assert again.status_code == 201, again.text
    assert again.json()["design"]["number"] != number


def test_a_filing_is_checked_against_the_chain_and_recovered_from_it(
    world: World, anchoring: AnchorWorker
) -> None:
    answer = register(world, encode(draw_design(682)))
    assert answer.status_code == 201, answer.text
    number = answer.json()["design"]["number"]
    _anchor_commitments(world, anchoring)
    filer = _filer(world, anchoring)
    registered = _file_until(filer, world, number, "registered")
    block_hash, tx_hash = registered.block_hash, registered.tx_hash
    assert registered.gas_used and registered.nonce is not None

    # Its recorded block is not the chain's (a reorg, as the filer sees it): it goes back to
    # filing, the recorded transaction's receipt is read again, and it is registered again.
    _set(world, number, block_hash="0x" + "00" * 32)
    assert filer.run_once() >= 1
    again = _rows(world)[number]
    assert again.status == "registered" and again.block_hash == block_hash

    # A recorded transaction that never reached the chain while its nonce was used: the design
    # is filed on chain by this registrant with this metadata, so it is adopted from the log.
    _set(world, number, status="filing", tx_hash=NEVER_SENT)
    row = _file_until(filer, world, number, "registered")
    assert row.tx_hash == tx_hash and row.block_hash == block_hash and row.gas_used is None

    # The same for a design that is not on chain: it is signed again with a fresh nonce.
    later = register(world, encode(draw_design(683)), title="Later")
    assert later.status_code == 201, later.text
    waiting = later.json()["design"]["number"]
    _anchor_commitments(world, anchoring)
    _set(world, waiting, status="filing", tx_hash=NEVER_SENT, raw_tx="0x00", nonce=registered.nonce)
    filer.run_once()
    resigned = _rows(world)[waiting]
    assert resigned.status in ("filing", "registered") and resigned.tx_hash != NEVER_SENT
    row = _file_until(filer, world, waiting, "registered")
    assert row.nonce is not None and row.nonce > registered.nonce
    design = world.runtime.registry.retrieve_design(row.fingerprint)
    assert design.registered and design.registrant.lower() == row.registrant.lower()


def test_a_filing_mined_after_its_reveal_window_fails_with_the_chain_s_reason(
    world: World, anchoring: AnchorWorker
) -> None:
    answer = register(world, encode(draw_design(684)))
    assert answer.status_code == 201, answer.text
    number = answer.json()["design"]["number"]
    _anchor_commitments(world, anchoring)
    chain = world.runtime.chain
    assert chain is not None
    filer = _filer(world, anchoring)
    # Signed and sent while the commitment could still be revealed, mined a day later.
    chain.retrieve("evm_setAutomine", [False])
    try:
        filer.run_once()
        sent = _rows(world)[number]
        assert sent.status == "filing" and sent.tx_hash is not None
        assert chain.retrieve_receipt(sent.tx_hash) is None
        chain.retrieve("evm_increaseTime", [DAY + 60])
        chain.retrieve("evm_mine", [])
    finally:
        chain.retrieve("evm_setAutomine", [True])
    receipt = chain.retrieve_receipt(sent.tx_hash)
    assert receipt is not None and int(receipt["status"]) == 0
    row = _file_until(filer, world, number, "failed")
    assert row.failure is not None and "CommitmentExpired" in row.failure
    assert row.active_fingerprint is None
