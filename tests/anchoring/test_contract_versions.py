"""Contracts version 2 in the backend: batches anchored on version 1 stay verifiable after
`deploy --new`, each batch on its own deployment; a root squatted by another account is never
taken as the batch's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import structlog
from fastapi.testclient import TestClient
from hexbytes import HexBytes
from sqlalchemy import select

from conftest import FAST, Harness
from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.core.errors import ConflictError
from hallmark.core.merkle import StandardMerkleTree
from hallmark.runtime import Runtime
from hallmark.services.access.audit import SYSTEM
from hallmark.services.access.organisations import (
    create_api_key,
    create_organisation,
    organisation_account,
    set_organisation_enabled,
)
from hallmark.services.anchoring import flags, transactions
from hallmark.services.anchoring.batches import BatchStatus, batch_tree
from hallmark.services.anchoring.status import records_status
from hallmark.store.models import AnchorBatch, OrganisationGrant
from hallmark.store.records import RECORD_KINDS


def _v1_runtime(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> Runtime:
    """A Hallmark whose recorded deployment is version 1 (as every one was before v2)."""
    settings = make_settings(**FAST)
    first = Runtime(settings)
    try:
        first.start_for_deploy()
        first.deploy(version="1.0.0")
    finally:
        first.stop()
    return start_runtime(settings)


def _harness(runtime: Runtime, kinds: tuple[str, ...] = ("supplier", "brand")) -> Harness:
    assert runtime.sessions is not None
    chain = runtime.chain_access()
    orgs = {
        kind: create_organisation(
            sessions=runtime.sessions, chain=chain, name=f"{kind.title()} Co", kind=kind
        )
        for kind in kinds
    }
    return Harness(runtime=runtime, orgs=orgs)


def test_batches_on_version_1_stay_verifiable_after_version_2_is_deployed(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    runtime = _v1_runtime(make_settings, start_runtime)
    assert runtime.deployment is not None and runtime.deployment.version == "1.0.0"
    h = _harness(runtime)
    try:
        old_records = h.add("supplier", 5) + h.add("brand", 3)
        first = h.worker()
        h.drain(first)
        first.stop()  # as `hallmark serve` is restarted after `deploy --new`
        first.leader.release()
        v1_id, v1_ledger = runtime.deployment_id, runtime.ledger
        assert v1_ledger.version == 1

        record = runtime.deploy()  # `hallmark deploy --new`
        assert record.version == "2.0.0" and runtime.deployment_id != v1_id
        v2_ledger = runtime.ledger
        assert v2_ledger.version == 2 and v2_ledger.address != v1_ledger.address
        # Every organisation is bound and granted on the new ledger.
        for org in h.orgs.values():
            binding = v2_ledger.retrieve_account(org.account_address)
            assert binding.bound and binding.roles != 0
        assert runtime.sessions is not None
        with runtime.sessions() as session:
            grants = session.scalars(
                select(OrganisationGrant).where(
                    OrganisationGrant.deployment_id == runtime.deployment_id
                )
            ).all()
        assert {g.status for g in grants} == {"applied"} and len(grants) == 2

        new_records = h.add("supplier", 4) + h.add("brand", 2)
        h.drain(h.worker())
    finally:
        for worker in h.workers:
            worker.stop()
            worker.leader.release()

    batches = h.batches()
    assert {b.deployment_id for b in batches} == {v1_id, runtime.deployment_id}
    with runtime.sessions() as session:
        statuses = records_status(
            session=session, record_ids=[r.id for r in old_records + new_records]
        )
    for stored, version, ledger in [
        *((r, "1.0.0", v1_ledger) for r in old_records),
        *((r, "2.0.0", v2_ledger) for r in new_records),
    ]:
        status = statuses[stored.id]
        assert status.status == "confirmed"
        assert status.contracts_version == version and status.ledger == ledger.address
        assert status.root is not None and status.proof is not None
        assert StandardMerkleTree.verify(status.root, stored.record_hash, status.proof)
        kind = RECORD_KINDS[next(b.kind for b in batches if b.id == status.batch_id)]
        assert ledger.retrieve_verify_record(
            status.root, stored.record_hash, status.proof, anchorer=status.anchorer, kind=kind
        )
    # A v1 proof does not verify on the v2 ledger: reads must use the batch's deployment.
    old = statuses[old_records[0].id]
    assert old.root is not None and old.proof is not None
    assert not v2_ledger.retrieve_verify_record(
        old.root, old_records[0].record_hash, old.proof, anchorer=old.anchorer, kind=0
    )

    # The deployment history is kept in deployment.json and survives a restart.
    data = json.loads(runtime.settings.deployment_path.read_text())
    assert data["version"] == "2.0.0"
    assert [d["contracts"]["ProvenanceLedger"]["address"] for d in data["history"]] == [
        v1_ledger.address
    ]
    runtime.stop()
    again = start_runtime(runtime.settings)
    assert again.deployment is not None and again.deployment.version == "2.0.0"
    assert sorted(again.recorded_deployments()) == sorted({v1_id, again.deployment_id})
    assert again.ledger_for(v1_id).address == v1_ledger.address

    # The API's record view names the ledger and anchorer to verify with.
    assert again.sessions is not None
    supplier = h.orgs["supplier"]
    _, key = create_api_key(
        sessions=again.sessions, organisation_ref=supplier.id, principal_name="r", role="reader"
    )
    with TestClient(create_app(again)) as http:
        for stored, version in ((old_records[0], "1.0.0"), (new_records[0], "2.0.0")):
            view = http.get(
                f"/api/v1/records/{stored.id}", headers={"Authorization": f"Bearer {key}"}
            )
            assert view.status_code == 200, view.text
            anchoring = view.json()["anchoring"]
            assert anchoring["contracts_version"] == version
            assert anchoring["anchorer"] == supplier.account_address
            ledger = again.ledger_for(v1_id if version == "1.0.0" else again.deployment_id)
            assert anchoring["ledger"] == ledger.address
            batch = http.get(
                f"/api/v1/anchor-batches/{anchoring['batch_id']}",
                headers={"Authorization": f"Bearer {key}"},
            ).json()
            assert batch["ledger"] == ledger.address and batch["anchored"]
            assert batch["contracts_version"] == int(version[0]) and batch["state"] == "valid"
            assert ledger.retrieve_verify_record(
                anchoring["root"],
                stored.record_hash,
                anchoring["proof"],
                anchorer=anchoring["anchorer"],
                kind=RECORD_KINDS["material_lot"],
            )


def _squat(h: Harness, *, victim: str, squatter: str, records: list[str]) -> str:
    """Another organisation's account anchors the victim's pending root first, as `Other`
    with another count (as if copied from the mempool); the root."""
    tree, _ = batch_tree(records)
    root = HexBytes(tree.root).to_0x_hex()
    account = organisation_account(h.orgs[squatter], h.settings.passphrase)
    ledger = h.runtime.ledger
    ledger.client.send_function(
        account, ledger.address, ledger.abi, "anchor", [HexBytes(root), RECORD_KINDS["other"], 1]
    )
    assert h.orgs[victim]
    return root


def test_a_squatted_root_on_version_1_is_formed_again_and_anchored_by_its_organisation(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # structlog caches a module's logger at its first use with the processors configured then
    # (`cache_logger_on_first_use`); a later `configure_logging` (a runtime's start) configures
    # new ones, which `capture_logs` replaces, so a logger an earlier test of this process used
    # is never captured. A logger not used yet, for this test only.
    monkeypatch.setattr(transactions, "log", structlog.get_logger(transactions.__name__))
    runtime = _v1_runtime(make_settings, start_runtime)
    h = _harness(runtime)
    stored = h.add("brand", 4)
    squatted = _squat(
        h, victim="brand", squatter="supplier", records=[s.record_hash for s in stored]
    )
    worker = h.worker()
    deadline = time.monotonic() + 90
    with structlog.testing.capture_logs() as logs:
        # Signed, sent, reverted (RootAlreadyAnchored), formed again, sent.
        while not (h.batches() and h.batches()[0].salt is not None):
            assert time.monotonic() < deadline, h.describe()
            time.sleep(min(worker.run_once(), 0.05))
    [batch] = h.batches()
    assert batch.root != squatted and batch.salt is not None
    assert batch.last_error is not None
    assert "formed again with a salt leaf" in batch.last_error
    assert h.orgs["supplier"].account_address in batch.last_error
    [reformed] = [e for e in logs if e["event"] == "anchoring.reformed"]
    assert reformed["root"] == squatted and reformed["new_root"] == batch.root
    h.drain(worker)
    worker.stop()
    worker.leader.release()

    [batch] = h.batches()
    assert batch.last_error is not None and "formed again" in batch.last_error  # kept: why
    brand = h.orgs["brand"].account_address
    on_chain = runtime.ledger.retrieve_batch(batch.root)
    assert on_chain.anchorer == brand
    assert on_chain.kind == RECORD_KINDS["product"] and on_chain.record_count == 4
    assert runtime.ledger.retrieve_batch(squatted).anchorer == h.orgs["supplier"].account_address
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        statuses = records_status(session=session, record_ids=[s.id for s in stored])
    for record in stored:
        status = statuses[record.id]
        assert status.root == batch.root and status.anchorer == brand
        assert status.proof is not None
        assert runtime.ledger.retrieve_verify_record(batch.root, record.record_hash, status.proof)
    # A version 1 ledger has no flags: refused before anything is sent.
    with pytest.raises(ConflictError, match="is version 1, which has no flagBatch"):
        flags.flag_batch(
            sessions=runtime.sessions,
            ledger_of=lambda row: runtime.ledger_for(row.deployment_id),
            passphrase=runtime.settings.passphrase,
            actor=SYSTEM,
            organisation_id=h.orgs["brand"].id,
            batch_id=batch.id,
            reason="withdrawn",
        )


def test_a_squatted_root_on_version_2_is_no_threat_and_never_adopted(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    stored = h.add("brand", 3)
    squatted = _squat(
        h, victim="brand", squatter="supplier", records=[s.record_hash for s in stored]
    )
    worker = h.worker()
    h.drain(worker)
    [batch] = h.batches()
    brand = h.orgs["brand"].account_address
    supplier = h.orgs["supplier"].account_address
    ledger = h.runtime.ledger
    assert batch.root == squatted and batch.salt is None  # a batch is (anchorer, root)
    assert batch.status == BatchStatus.CONFIRMED
    mine = ledger.retrieve_batch(batch.root, anchorer=brand)
    assert mine.kind == RECORD_KINDS["product"] and mine.record_count == 3
    theirs = ledger.retrieve_batch(batch.root, anchorer=supplier)
    assert theirs.kind == RECORD_KINDS["other"] and theirs.record_count == 1
    found = ledger.retrieve_anchor_log(batch.root, anchorer=brand)
    assert found is not None and found.tx_hash == batch.tx_hash
    assert h.runtime.sessions is not None
    with h.runtime.sessions() as session:
        statuses = records_status(session=session, record_ids=[s.id for s in stored])
    for record in stored:
        status = statuses[record.id]
        assert status.anchorer == brand and status.proof is not None
        assert ledger.retrieve_verify_record(
            batch.root, record.record_hash, status.proof, anchorer=brand, kind=1
        )
        # The squatter's batch proves nothing about the brand's products.
        assert not ledger.retrieve_verify_record(
            batch.root, record.record_hash, status.proof, anchorer=supplier, kind=1
        )


def test_the_worker_never_adopts_an_anchoring_of_another_kind_or_count(
    harness: Callable[..., Harness],
) -> None:
    """Its own account anchored the root (a stolen key, say) as another kind: formed again."""
    h = harness()
    stored = h.add("brand", 3)
    tree, _ = batch_tree([s.record_hash for s in stored])
    root = HexBytes(tree.root).to_0x_hex()
    account = organisation_account(h.orgs["brand"], h.settings.passphrase)
    ledger = h.runtime.ledger
    ledger.client.send_function(
        account, ledger.address, ledger.abi, "anchor", [HexBytes(root), RECORD_KINDS["other"], 3]
    )
    worker = h.worker()
    h.drain(worker)
    [batch] = h.batches()
    assert batch.root != root and batch.salt is not None
    mine = ledger.retrieve_batch(batch.root, anchorer=account.address)
    assert mine.kind == RECORD_KINDS["product"] and mine.record_count == 3
    assert h.runtime.sessions is not None
    with h.runtime.sessions() as session:
        rows = session.scalars(select(AnchorBatch)).all()
        statuses = records_status(session=session, record_ids=[s.id for s in stored])
    assert len(rows) == 1
    for record in stored:
        proof = statuses[record.id].proof
        assert proof is not None
        assert ledger.retrieve_verify_record(
            batch.root, record.record_hash, proof, anchorer=account.address, kind=1
        )


def test_a_batch_refused_on_version_1_is_anchored_on_version_2_once_deployed(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    runtime = _v1_runtime(make_settings, start_runtime)
    h = _harness(runtime, kinds=("supplier",))
    assert runtime.sessions is not None
    supplier = h.orgs["supplier"]
    set_organisation_enabled(
        sessions=runtime.sessions, chain=runtime.chain_access(), ref=supplier.id, enabled=False
    )
    stored = h.add("supplier", 2)
    worker = h.worker()
    deadline = time.monotonic() + 30
    while [b.status for b in h.batches()] != [BatchStatus.FAILED]:
        assert time.monotonic() < deadline, h.describe()
        time.sleep(min(worker.step(), 0.05))
    v1_id = runtime.deployment_id
    [failed] = h.batches()
    assert failed.deployment_id == v1_id
    worker.stop()
    worker.leader.release()

    runtime.deploy()  # a disabled organisation is bound on the new ledger, without its role
    v2 = runtime.ledger
    assert v2.retrieve_account(supplier.account_address).bound
    assert not v2.retrieve_has_role("SUPPLIER_ROLE", supplier.account_address)
    set_organisation_enabled(
        sessions=runtime.sessions, chain=runtime.chain_access(), ref=supplier.id, enabled=True
    )
    assert v2.retrieve_has_role("SUPPLIER_ROLE", supplier.account_address)
    assert not runtime.ledger_for(v1_id).retrieve_has_role(
        "SUPPLIER_ROLE", supplier.account_address
    ), "grants go to the current deployment only"
    h.drain(h.worker())
    [batch] = h.batches()
    assert batch.id == failed.id and batch.root == failed.root
    assert batch.deployment_id == runtime.deployment_id != v1_id
    with runtime.sessions() as session:
        status = records_status(session=session, record_ids=[stored[0].id])[stored[0].id]
    assert status.contracts_version == "2.0.0" and status.proof is not None
    assert v2.retrieve_verify_record(
        batch.root,
        stored[0].record_hash,
        status.proof,
        anchorer=supplier.account_address,
        kind=RECORD_KINDS["material_lot"],
    )
    for started in h.workers:
        started.stop()
        started.leader.release()
