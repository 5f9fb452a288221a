"""Flags and compromise from the backend: a batch flagged by its own organisation (API and
CLI), an account declared compromised by the admin (CLI); the record views say so, the chain
holds it, the audit log records it."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from tests.api.test_admin_cli import _admin, _reason
from tests.conftest import World
from tests.records.factories import BRAND, SUPPLIER, SUPPLIER_2, create_lot

from hallmark.services.anchoring.flags import REASONS
from hallmark.services.records.views import anchoring_of
from hallmark.store.db import transaction
from hallmark.store.models import AuditEntry, Record
from hallmark.store.records import NewRecord, add_records


def _anchored(world: World, org: str, record_id: str) -> dict[str, Any]:
    """The record's anchoring once its batch is on chain."""
    deadline = time.monotonic() + 180
    while True:
        view = world.http.get(f"/api/v1/records/{record_id}", headers=world.headers(org))
        anchoring: dict[str, Any] = view.json()["anchoring"]
        if anchoring["status"] in ("anchored", "confirmed"):
            return anchoring
        assert time.monotonic() < deadline, anchoring
        time.sleep(0.2)


def test_an_organisation_flags_its_own_batch_and_nobody_else_can(world: World) -> None:
    lot = create_lot(world)
    record_id = lot["record"]["id"]
    world.runtime.start_worker()
    anchoring = _anchored(world, SUPPLIER, record_id)
    assert anchoring["flag"] is None
    batch_id = anchoring["batch_id"]
    url = f"/api/v1/anchor-batches/{batch_id}/flag"

    reader = world.http.post(
        url, json={"reason": "data_error"}, headers=world.headers(SUPPLIER, "reader")
    )
    assert reader.status_code == 403
    other = world.http.post(url, json={"reason": "data_error"}, headers=world.headers(SUPPLIER_2))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    unknown = world.http.post(url, json={"reason": "bored"}, headers=world.headers(SUPPLIER))
    assert unknown.status_code == 422
    assert "unknown reason 'bored'" in unknown.json()["error"]["message"]

    read = f"/api/v1/anchor-batches/{batch_id}"
    before = world.http.get(read, headers=world.headers(SUPPLIER, "reader"))
    assert before.status_code == 200, before.text
    assert before.json() | {"at": None} == {
        "batch_id": batch_id,
        "kind": "material_lot",
        "root": anchoring["root"],
        "record_count": 1,
        "status": anchoring["status"],
        "anchorer": anchoring["anchorer"],
        "transaction": anchoring["transaction"],
        "block": anchoring["block"],
        "ledger": world.runtime.ledger.address,
        "contracts_version": 2,
        "anchored": True,
        "state": "valid",
        "cause": "none",
        "reason": None,
        "at": None,
    }
    assert world.http.get(read, headers=world.headers(SUPPLIER_2)).status_code == 404

    flagged = world.http.post(url, json={"reason": "data_error"}, headers=world.headers(SUPPLIER))
    assert flagged.status_code == 200, flagged.text
    body = flagged.json()
    assert body["cause"] == "flagged" and body["reason"] == "data_error"
    assert body["reason_code"] == REASONS["data_error"] and body["transaction"]
    ledger = world.runtime.ledger
    standing = ledger.retrieve_batch_status(anchoring["anchorer"], anchoring["root"])
    assert (standing.state, standing.cause, standing.reason) == (
        "flagged",
        "batch_flagged",
        REASONS["data_error"],
    )
    assert not ledger.retrieve_verify_record(
        anchoring["root"],
        lot["record"]["record_hash"],
        anchoring["proof"],
        anchorer=anchoring["anchorer"],
        kind=0,
    )
    view = world.http.get(f"/api/v1/records/{record_id}", headers=world.headers(SUPPLIER))
    flag = view.json()["anchoring"]["flag"]
    assert flag["state"] == "flagged" and flag["cause"] == "flagged"
    assert flag["reason"] == "data_error" and flag["reason_code"] == REASONS["data_error"]

    after = world.http.get(read, headers=world.headers(SUPPLIER)).json()
    assert (after["state"], after["cause"], after["reason"]) == (
        "flagged",
        "batch_flagged",
        "data_error",
    )

    again = world.http.post(url, json={"reason": "other"}, headers=world.headers(SUPPLIER))
    assert again.status_code == 200 and again.json()["transaction"] is None
    assert again.json()["reason"] == "data_error"  # what the chain holds
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "batch.flag")
        ).all()
    assert len(actions) == 2

    # The command line flags with the batch's own organisation's account too.
    second = create_lot(world, SUPPLIER_2)
    batch_2 = _anchored(world, SUPPLIER_2, second["record"]["id"])["batch_id"]
    flagged_cli = _admin(world, "batch", "flag", str(batch_2), "--reason", "withdrawn")
    assert flagged_cli.exit_code == 0, flagged_cli.output
    assert f"batch {batch_2}" in flagged_cli.stdout and "(withdrawn)" in flagged_cli.stdout
    missing = _admin(world, "batch", "flag", "99999", "--reason", "withdrawn")
    assert missing.exit_code == 1 and _reason(missing) == "error: batch 99999 not found"


def test_an_account_declared_compromised_flags_its_batches_from_that_block(world: World) -> None:
    runtime = world.runtime
    assert runtime.sessions is not None and runtime.chain is not None
    before = create_lot(world)
    worker = runtime.start_worker()
    early = _anchored(world, SUPPLIER, before["record"]["id"])
    brand = world.organisations[BRAND]
    with transaction(runtime.sessions) as session:  # a certificate, as the brand issues it
        [certificate] = add_records(session, [NewRecord("certificate", brand.id, {"n": 1})])
    after = create_lot(world)
    late = _anchored(world, SUPPLIER, after["record"]["id"])
    assert late["block"] > early["block"]

    account = world.organisations[SUPPLIER].account_address
    done = _admin(
        world,
        "account",
        "compromise",
        account,
        "--from-block",
        str(late["block"]),
        "--reason",
        "key_compromised",
        "--note",
        "laptop stolen",
    )
    assert done.exit_code == 0, done.output
    assert f"compromised from block {late['block']}" in done.stdout
    future = _admin(world, "account", "compromise", account, "--from-block", "999999")
    assert future.exit_code == 1 and "InvalidCompromiseBlock" in _reason(future)
    runtime.chain.retrieve("anvil_mine", [1])
    later = _admin(world, "account", "compromise", account, "--from-block", str(late["block"] + 1))
    assert later.exit_code == 1 and "CompromiseCannotMoveLater" in _reason(later)

    ledger = runtime.ledger
    assert ledger.retrieve_batch_status(account, late["root"]).cause == "anchorer_compromised"
    read = world.http.get(
        f"/api/v1/anchor-batches/{late['batch_id']}", headers=world.headers(SUPPLIER)
    ).json()
    assert (read["state"], read["cause"], read["reason"]) == (
        "flagged",
        "anchorer_compromised",
        "key_compromised",
    )
    assert ledger.retrieve_batch_status(account, early["root"]).state == "valid"
    assert not ledger.retrieve_has_role("SUPPLIER_ROLE", account)
    views = {
        record_id: world.http.get(
            f"/api/v1/records/{record_id}", headers=world.headers(SUPPLIER)
        ).json()["anchoring"]
        for record_id in (before["record"]["id"], after["record"]["id"])
    }
    assert views[before["record"]["id"]]["flag"] is None
    flag = views[after["record"]["id"]]["flag"]
    assert flag["state"] == "flagged" and flag["cause"] == "compromised"
    assert flag["reason"] == "key_compromised"
    # Moved earlier (never later): the earlier batch reads flagged too.
    moved = _admin(world, "account", "compromise", account, "--from-block", str(early["block"]))
    assert moved.exit_code == 0, moved.output
    assert "2 batch(es)" in moved.stdout
    earlier_view = world.http.get(
        f"/api/v1/records/{before['record']['id']}", headers=world.headers(SUPPLIER)
    ).json()["anchoring"]
    assert earlier_view["flag"]["cause"] == "compromised"

    # The brand's certificate is untouched; compromising the brand's account revokes it.
    deadline = time.monotonic() + 180
    while True:
        with runtime.sessions() as session:
            record = session.get(Record, certificate.id)
            assert record is not None
            shown = anchoring_of(session, [record])[certificate.id]
        if shown.status in ("anchored", "confirmed"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert shown.flag is None and shown.block is not None
    worker.stop()
    runtime.worker = None
    # Sent, then the command died before recording it: the view does not know yet; running the
    # command again records the declaration the chain holds (the ledger refuses a second one).
    assert runtime.keys is not None
    sent = runtime.ledger.send_mark_compromised(
        runtime.keys.admin, brand.account_address, from_block=shown.block, reason=3
    )
    with runtime.sessions() as session:
        record = session.get(Record, certificate.id)
        assert record is not None
        assert anchoring_of(session, [record])[certificate.id].flag is None
    revoked = _admin(
        world, "account", "compromise", brand.account_address, "--from-block", str(shown.block)
    )
    assert revoked.exit_code == 0, revoked.output
    assert f"transaction {sent.tx_hash}" in revoked.stdout
    with runtime.sessions() as session:
        record = session.get(Record, certificate.id)
        assert record is not None
        shown = anchoring_of(session, [record])[certificate.id]
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "account.compromise")
        ).all()
    assert shown.flag is not None and shown.flag.state == "revoked"
    assert shown.flag.cause == "compromised"
    assert [e.object_id for e in entries] == [account, account, brand.account_address]
    assert entries[0].details["note"] == "laptop stolen"
