"""Reads check text → hash → proof → root: rows altered in the database are never served as data.

Each test alters stored rows directly (as someone with database access could), checks that every
read of the record answers the integrity error in the error envelope, that /readyz and
`hallmark admin check` report it, and puts the rows back (the module's world is shared).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from hallmark.api import reference
from hallmark.cli import app
from hallmark.core.errors import RecordIntegrityError
from hallmark.services.anchoring import integrity
from hallmark.services.anchoring.batches import batch_tree, root_hex
from hallmark.services.anchoring.integrity import text_hash
from hallmark.store.models import AnchorBatch, Record, RecordAnchor
from tests.conftest import World, cli_environment
from tests.records.factories import BRAND, FACTORY, SUPPLIER, add_step, create_lot, create_product


def _admin_check(world: World) -> Result:
    return CliRunner().invoke(app, ["admin", "check"], env=cli_environment(world))


@contextmanager
def _altered(world: World, record_id: str, **values: str) -> Iterator[dict[str, str]]:
    """The record's row with `values` written over it; restored afterwards."""
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        record = session.get(Record, record_id)
        assert record is not None
        before = {"canonical": record.canonical, "record_hash": record.record_hash}
        session.execute(update(Record).where(Record.id == record_id).values(**values))
    try:
        yield before
    finally:
        with world.runtime.sessions() as session, session.begin():
            session.execute(update(Record).where(Record.id == record_id).values(**before))


def _assert_integrity_error(response: Any, record_id: str | None = None) -> None:
    assert response.status_code == 500, response.text
    error = response.json()["error"]
    assert error["code"] == "record_integrity", error
    if record_id is not None:
        assert error["details"]["record"] == record_id
    assert "integrity" in error["message"]


def _anchor(world: World, record_id: str, org: str) -> dict[str, Any]:
    """Run the worker until the record is on chain; its record view."""
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 180
        while True:
            record: dict[str, Any] = world.http.get(
                f"/api/v1/records/{record_id}", headers=world.headers(org)
            ).json()
            if record["anchoring"]["status"] in ("anchored", "confirmed"):
                return record
            assert time.monotonic() < deadline, record
            time.sleep(0.2)
    finally:
        worker.stop()
        world.runtime.worker = None


def test_an_edited_step_text_is_never_served(world: World) -> None:
    serial = create_product(world)["serial"]
    step = add_step(world, serial, "polishing")
    edited = step["record"]["canonical"].replace("polishing", "plating")
    reads = [
        (f"/api/v1/steps/{step['id']}", FACTORY),
        (f"/api/v1/steps/{step['id']}", BRAND),
        (f"/api/v1/records/{step['id']}", FACTORY),
        (f"/api/v1/products/{serial}/steps", BRAND),
        (f"/api/v1/products/{serial}/provenance", BRAND),
        (f"/api/v1/products/{serial}/epcis", BRAND),
    ]
    with _altered(world, step["id"], canonical=edited):
        for url, org in reads:
            _assert_integrity_error(world.http.get(url, headers=world.headers(org)), step["id"])
        # The chain report still names the broken link (it is itself an integrity report).
        chain = world.http.get(f"/api/v1/products/{serial}/chain", headers=world.headers(BRAND))
        assert chain.json()["first_broken"]["step_id"] == step["id"]
        ready = world.http.get("/readyz")
        assert ready.status_code == 503
        assert any(step["id"] in p for p in ready.json()["problems"])
        checked = _admin_check(world)
        assert checked.exit_code == 1, checked.output
        assert step["id"] in checked.stderr
        assert "integrity failure" in checked.stderr.strip().splitlines()[-1]
    for url, org in reads:
        assert world.http.get(url, headers=world.headers(org)).status_code == 200, url
    assert world.http.get("/readyz").status_code == 200
    intact = _admin_check(world)
    assert intact.exit_code == 0, intact.output
    assert intact.stdout.startswith("intact: ")


def test_a_text_rewritten_with_its_hash_but_not_a_document_is_an_integrity_error(
    world: World,
) -> None:
    lot = create_lot(world)
    for text in ("not json", '["a list"]', '{"data": 1}'):
        with _altered(world, lot["id"], canonical=text, record_hash=text_hash(text)):
            response = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(SUPPLIER))
            _assert_integrity_error(response, lot["id"])
            assert "not a record document" in response.json()["error"]["message"]


def test_an_edited_lot_text_is_never_served(world: World) -> None:
    lot = create_lot(world)
    edited = lot["record"]["canonical"].replace('"100.000"', '"900.000"')
    assert edited != lot["record"]["canonical"]
    with _altered(world, lot["id"], canonical=edited):
        for url in (f"/api/v1/lots/{lot['id']}", "/api/v1/lots", f"/api/v1/records/{lot['id']}"):
            _assert_integrity_error(world.http.get(url, headers=world.headers(SUPPLIER)))


def test_an_anchored_record_is_checked_against_its_proof_and_root(world: World) -> None:
    lot = create_lot(world)
    anchored = _anchor(world, lot["id"], SUPPLIER)
    assert anchored["anchoring"]["proof"] is not None
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        batch = session.scalar(
            select(RecordAnchor.batch_id).where(RecordAnchor.record_id == lot["id"])
        )
    # Rewritten text with a matching hash: the text agrees with the hash, the hash is no leaf.
    forged_text = lot["record"]["canonical"].replace('"100.000"', '"900.000"')
    with _altered(world, lot["id"], canonical=forged_text, record_hash=text_hash(forged_text)):
        response = world.http.get(f"/api/v1/records/{lot['id']}", headers=world.headers(SUPPLIER))
        _assert_integrity_error(response)
        assert response.json()["error"]["details"]["batch"] == batch
        assert world.http.get("/readyz").status_code == 503
        assert _admin_check(world).exit_code == 1
    assert world.http.get("/readyz").status_code == 200
    assert _admin_check(world).exit_code == 0
    # Text, hash and the batch's root all rewritten to agree: only the chain can tell.
    with world.runtime.sessions() as session:
        hashes = session.scalars(
            select(Record.record_hash)
            .join(RecordAnchor, RecordAnchor.record_id == Record.id)
            .where(RecordAnchor.batch_id == batch, Record.id != lot["id"])
        ).all()
        root = session.scalar(select(AnchorBatch.root).where(AnchorBatch.id == batch))
    forged_root = root_hex(batch_tree([*hashes, text_hash(forged_text)])[0])
    with _altered(world, lot["id"], canonical=forged_text, record_hash=text_hash(forged_text)):
        _set_root(world, batch, forged_root)
        try:
            checked = _admin_check(world)
        finally:
            _set_root(world, batch, root)
    assert checked.exit_code == 1, checked.output
    assert f"anchoring batch {batch} failed its integrity check" in checked.stderr
    assert "not anchored on chain" in checked.stderr
    assert _admin_check(world).exit_code == 0


def _set_root(world: World, batch: int, root: str) -> None:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(update(AnchorBatch).where(AnchorBatch.id == batch).values(root=root))


def test_malformed_or_wrong_hashes_and_proofs_are_integrity_errors() -> None:
    hashes = [text_hash(str(i)) for i in range(5)]
    tree, ordered = batch_tree(hashes)
    root = root_hex(tree)
    assert integrity.check_batch(7, root, hashes)[1] == ordered
    for altered in ([*hashes[:4], "0x1234"], [*hashes[:4], text_hash("other")]):
        with pytest.raises(RecordIntegrityError) as caught:
            integrity.check_batch(7, root, altered)
        assert (caught.value.batch_id, caught.value.record_id) == (7, None)
    proof = ["0x" + node.hex() for node in tree.proof(hashes[0])]
    integrity.check_proof("r", hashes[0], root, proof)
    for bad in (proof[1:], ["0x12"], [*proof[:-1], hashes[1]]):
        with pytest.raises(RecordIntegrityError, match="proof does not lead to its root"):
            integrity.check_proof("r", hashes[0], root, bad)


def test_the_api_reference_says_what_is_missing_without_its_assets(tmp_path: Path) -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    reference.install(app, dist=tmp_path / "swagger-ui-dist")
    with TestClient(app) as client:
        response = client.get("/docs")
    assert response.status_code == 503
    assert "./scripts/install" in response.text
