"""The anchoring worker end to end: batching, per-organisation accounts, proofs, status,
confirmations, refused batches, roots anchored already, and the pieces it relies on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from hexbytes import HexBytes

from conftest import FormingClock, Harness
from hallmark.api.app import create_app
from hallmark.chain.errors import ContractErrors
from hallmark.core.errors import (
    ContractRevertError,
    RootAlreadyAnchoredError,
    UnauthorisedAnchorerError,
)
from hallmark.services.access.organisations import organisation_account, set_organisation_enabled
from hallmark.services.anchoring.batches import BatchStatus, batch_tree
from hallmark.services.anchoring.nonces import NonceAllocator
from hallmark.services.anchoring.status import record_status, records_status
from hallmark.store.records import RECORD_KINDS


def test_records_are_anchored_with_proofs_that_verify_on_chain(
    harness: Callable[..., Harness], database_url: str
) -> None:
    h = harness(database_url=database_url, anchor_batch_size=40)
    h.add("supplier", 100)
    h.add("factory", 30)
    h.add("brand", 7)
    h.add("factory", 3, record_kind="product")  # a factory may anchor products too
    worker = h.worker()
    h.drain(worker)
    h.assert_anchored_exactly_once(verify_on_chain=1000)
    sizes = sorted((b.kind, b.record_count) for b in h.batches())
    assert sizes == [
        ("material_lot", 20),
        ("material_lot", 40),
        ("material_lot", 40),
        ("product", 3),
        ("product", 7),
        ("production_step", 30),
    ]
    # Each organisation anchors with its own account, and its nonces count its own batches.
    for kind, org in h.orgs.items():
        mine = [b for b in h.batches() if b.organisation_id == org.id]
        assert {b.account_address for b in mine} == {org.account_address}, kind
        assert sorted(b.nonce for b in mine) == list(range(len(mine)))
        assert all(b.gas_used and b.gas_used < 60_000 for b in mine)


def test_a_full_batch_goes_at_once_and_a_partial_one_waits_for_the_interval(
    harness: Callable[..., Harness], forming_clock: FormingClock
) -> None:
    h = harness(anchor_batch_size=10, anchor_interval=3600)
    h.add("supplier", 23)
    worker = h.worker()
    assert worker.step() <= worker.poll
    assert [b.record_count for b in h.batches()] == [10, 10]
    assert h.outbox() == 3
    waited = worker.step()
    assert [b.record_count for b in h.batches()] == [10, 10], "anchored before its time"
    assert 0 < waited <= worker.poll
    forming_clock.advance(3600)
    h.drain(worker, timeout=120)
    assert [b.record_count for b in h.batches()] == [10, 10, 3]
    forming_clock.advance(-3600)  # the clock as it was: a new record starts a new wait
    h.add("supplier", 1)
    worker.step()
    assert h.outbox() == 1
    assert len(h.batches()) == 3


def test_a_record_waits_at_most_the_anchor_interval(
    harness: Callable[..., Harness], forming_clock: FormingClock
) -> None:
    """The worker looks again within a poll, and a group falls due a poll before its oldest
    record is `anchor_interval` old: so no record waits longer than the interval (the clock is
    moved, not waited for, so a busy machine cannot make it look late or early)."""
    h = harness(anchor_interval=3600)
    worker = h.worker()
    stored = h.add("supplier", 3)
    assert worker.step() <= worker.poll
    assert h.batches() == []
    forming_clock.advance(3600 - worker.poll)
    worker.step()
    assert [b.record_count for b in h.batches()] == [3]
    h.drain(worker, timeout=120)
    assert h.runtime.sessions is not None
    with h.runtime.sessions() as session:
        assert record_status(session=session, record_id=stored[0].id).status == "confirmed"


def test_status_goes_pending_anchored_confirmed(harness: Callable[..., Harness]) -> None:
    h = harness(confirmations=2)
    stored = h.add("factory", 5)
    assert h.runtime.sessions is not None and h.runtime.chain is not None
    with h.runtime.sessions() as session:
        before = record_status(session=session, record_id=stored[0].id)
    assert before.status == "pending"
    assert before.root is None and before.proof is None
    worker = h.worker()
    time.sleep(h.settings.anchor_interval)
    worker.run_once()
    with h.runtime.sessions() as session:
        statuses = records_status(session=session, record_ids=[s.id for s in stored])
    assert {s.status for s in statuses.values()} == {"anchored"}
    anchored = statuses[stored[0].id]
    assert anchored.proof is not None and anchored.root is not None
    assert anchored.anchorer == h.orgs["factory"].account_address
    assert h.runtime.ledger.retrieve_verify_record(
        anchored.root,
        stored[0].record_hash,
        anchored.proof,
        anchorer=anchored.anchorer,
        kind=RECORD_KINDS["production_step"],
    )
    assert [b.status for b in h.batches()] == [BatchStatus.MINED]
    h.runtime.chain.retrieve("anvil_mine", [2])
    worker.run_once()
    with h.runtime.sessions() as session:
        confirmed = record_status(session=session, record_id=stored[0].id)
    assert confirmed.status == "confirmed"
    assert confirmed.block_number == anchored.block_number
    assert [b.status for b in h.batches()] == [BatchStatus.CONFIRMED]


def test_a_revoked_role_fails_the_batch_with_the_decoded_error_then_it_is_anchored(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    assert h.runtime.sessions is not None
    factory = h.orgs["factory"]
    chain = h.runtime.chain_access()
    set_organisation_enabled(
        sessions=h.runtime.sessions, chain=chain, ref=factory.id, enabled=False
    )
    stored = h.add("factory", 4)
    h.add("supplier", 2)  # other organisations are not held up
    worker = h.worker()
    deadline = time.monotonic() + 5
    while sorted(b.status for b in h.batches()) != [BatchStatus.CONFIRMED, BatchStatus.FAILED]:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    failed = [b for b in h.batches() if b.organisation_id == factory.id]
    assert [b.status for b in failed] == [BatchStatus.FAILED]
    expected = f"UnauthorisedAnchorer(account={factory.account_address}, kind=2)"
    assert failed[0].last_error == expected
    assert worker.state.last_error == failed[0].last_error
    supplier_batches = [b for b in h.batches() if b.organisation_id == h.orgs["supplier"].id]
    assert [b.status for b in supplier_batches] == [BatchStatus.CONFIRMED]
    with h.runtime.sessions() as session:
        status = record_status(session=session, record_id=stored[0].id)
    assert status.status == "pending"
    assert status.last_error is not None and "UnauthorisedAnchorer" in status.last_error
    # Retried with backoff while the role is missing: still failed, no new transaction sent.
    nonce = failed[0].nonce
    for _ in range(3):
        time.sleep(min(worker.step(), 0.2))
    still = next(b for b in h.batches() if b.id == failed[0].id)
    assert still.status == BatchStatus.FAILED and still.nonce == nonce

    set_organisation_enabled(sessions=h.runtime.sessions, chain=chain, ref=factory.id, enabled=True)
    h.drain(worker)
    h.assert_anchored_exactly_once()
    again = next(b for b in h.batches() if b.id == failed[0].id)
    assert again.root == failed[0].root
    assert again.nonce == nonce + 1 and again.attempts == 2
    assert again.last_error is None


def test_a_root_anchored_already_counts_as_anchored(harness: Callable[..., Harness]) -> None:
    h = harness()
    stored = h.add("supplier", 3)
    tree, _ = batch_tree([s.record_hash for s in stored])
    root = HexBytes(tree.root).to_0x_hex()
    supplier = h.orgs["supplier"]
    account = organisation_account(supplier, h.settings.passphrase)
    ledger = h.runtime.ledger
    sent = ledger.client.send_function(
        account, ledger.address, ledger.abi, "anchor", [HexBytes(root), 0, 3]
    )
    worker = h.worker()
    h.drain(worker)
    [batch] = h.batches()
    assert batch.root == root
    assert batch.tx_hash == sent.tx_hash, "the batch adopts the anchoring that is on chain"
    assert batch.block_number == sent.block_number
    assert len(h.anchor_logs()) == 1
    h.assert_anchored_exactly_once()


def test_readyz_reports_the_worker_and_stays_ready_with_pending_records(
    harness: Callable[..., Harness],
) -> None:
    h = harness(anchor_interval=60)
    h.add("brand", 5)
    h.runtime.start_worker()
    deadline = time.monotonic() + 5
    with TestClient(create_app(h.runtime)) as http:
        while True:
            ready = http.get("/readyz")
            if ready.json()["anchoring"]["role"] == "leader" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert ready.status_code == 200
    anchoring = ready.json()["anchoring"]
    assert anchoring["role"] == "leader"
    assert anchoring["lock"] == "file lock"
    assert anchoring["last_error"] is None
    assert anchoring["outbox"]["pending"] == 5
    assert anchoring["outbox"]["in_batches"] == 0
    assert anchoring["outbox"]["oldest_pending_age_seconds"] >= 0
    assert anchoring["outbox"]["failed_batches"] == 0


def test_nonces_never_collide_across_threads_and_accounts() -> None:
    node_counts = {"0xA": 5, "0xB": 0}
    allocator = NonceAllocator(fetch_pending=lambda address: node_counts[address])
    handed: dict[str, list[int]] = {"0xA": [], "0xB": []}
    guard = threading.Lock()

    def take(address: str) -> None:
        for _ in range(200):
            nonce = allocator.allocate(address)
            with guard:
                handed[address].append(nonce)

    threads = [threading.Thread(target=take, args=(a,)) for a in ("0xA", "0xB") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a nonce allocation did not end in 60 s"
    assert sorted(handed["0xA"]) == list(range(5, 5 + 800))
    assert sorted(handed["0xB"]) == list(range(800))
    # A node that runs ahead wins; a released nonce is handed out again; reset forgets.
    node_counts["0xB"] = 1000
    assert allocator.allocate("0xB") == 1000
    allocator.release("0xB", 1000)
    assert allocator.allocate("0xB") == 1000
    node_counts["0xB"] = 7
    allocator.reset("0xB", 7)
    assert allocator.allocate("0xB") == 7


def test_every_custom_error_of_the_ledger_decodes_to_its_name_and_arguments(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    ledger = h.runtime.ledger
    errors = ContractErrors("ProvenanceLedger", ledger.abi)
    names = {e["name"] for e in ledger.abi if e["type"] == "error"}
    assert {spec.name for spec in errors.by_selector.values()} == names
    factory = h.orgs["factory"].account_address
    gas = h.settings.anchor_gas_limit
    with pytest.raises(UnauthorisedAnchorerError) as refused:
        ledger.retrieve_anchor_check(factory, root="0x" + "11" * 32, kind=0, count=1, gas=gas)
    assert refused.value.arguments == {"account": factory, "kind": 0}
    assert refused.value.code == "unauthorised_anchorer"
    with pytest.raises(ContractRevertError, match=r"ZeroCount\(\)"):
        ledger.retrieve_anchor_check(factory, root="0x" + "11" * 32, kind=2, count=0, gas=gas)
    stored = h.add("factory", 1)
    h.drain(h.worker())
    [batch] = h.batches()
    with pytest.raises(RootAlreadyAnchoredError) as twice:
        ledger.retrieve_anchor_check(factory, root=batch.root, kind=2, count=1, gas=gas)
    assert twice.value.arguments["root"] == batch.root
    assert twice.value.arguments["anchorer"] == factory
    assert stored
    assert errors.decode(b"\x12\x34\x56\x78") is None
