"""Records a reader can check with public tools: the views carry the exact hashed text, the proof
verifies with OpenZeppelin's library as docs/RECORDS.md writes the call, and every organisation
whose provenance shows a record can read it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hallmark.core.hashing import keccak256
from hallmark.store.models import Record, RecordAnchor
from hallmark.store.records import RECORD_KINDS
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    SUPPLIER,
    add_step,
    create_lot,
    create_product,
    held_lot,
)

REPO = Path(__file__).resolve().parents[2]


def _hash(text: str) -> str:
    return "0x" + keccak256(text.encode()).hex()


def _openzeppelin_verify(items: list[dict[str, Any]]) -> list[Any]:
    """`StandardMerkleTree.verify(root, ['bytes32'], [value], proof)` of @openzeppelin/merkle-tree
    on each item (tests/merkle/parity.mjs)."""
    node = shutil.which("node")
    assert node is not None, "node (>= 20) is needed"
    completed = subprocess.run(
        [node, str(REPO / "tests" / "merkle" / "parity.mjs")],
        input=json.dumps({"verify": items}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    result: list[Any] = json.loads(completed.stdout)["verify"]
    return result


def _anchor_all(world: World, url: str, org: str, records: Any) -> Any:
    """Run the worker until every record `records(view)` lists in the view at `url` is on chain."""
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 180
        while True:
            view = world.http.get(url, headers=world.headers(org)).json()
            if all(r["anchoring"]["status"] in ("anchored", "confirmed") for r in records(view)):
                return view
            assert time.monotonic() < deadline, view
            time.sleep(0.2)
    finally:
        worker.stop()
        world.runtime.worker = None


def test_every_step_hash_rebuilds_from_the_brand_provenance_view(world: World) -> None:
    serial = create_product(world)["serial"]
    # Values a re-rendering view would change: a UTC offset, a fraction of a second, decimals
    # with trailing zeros, nulls and nested numbers.
    first = add_step(
        world,
        serial,
        "casting",
        occurred_at="2026-11-20T09:30:00.5+00:00",
        parameters={"temperature_c": "1080.50", "flask": None, "ratio": 0.10},
    )
    add_step(world, serial, "polishing", occurred_at="2026-11-20T10:00:00.000001-05:30")
    add_step(world, serial, "qc_inspection", measurements={"mass_g": "3.200"})
    correction = world.http.post(
        f"/api/v1/steps/{first['id']}/corrections",
        json={
            "product_serial": serial,
            "kind": "casting",
            "occurred_at": "2026-11-20T09:31:00+00:00",
            "parameters": {"temperature_c": "1081.00"},
        },
        headers=world.headers(FACTORY),
    )
    assert correction.status_code == 201, correction.text
    view = world.http.get(f"/api/v1/products/{serial}/provenance", headers=world.headers(BRAND))
    assert view.status_code == 200, view.text
    steps = view.json()["steps"]
    rebuilt = 0
    for entry in steps:
        step = entry["step"]
        for record in [step["record"], *step["history"], *entry["records"]]:
            assert _hash(record["canonical"]) == record["record_hash"]
            rebuilt += 1
        data = json.loads(step["record"]["canonical"])["data"]
        assert (data["kind"], data["sequence"]) == (step["kind"], step["sequence"])
        assert data["previousStep"] == step["previous_step"]
    assert rebuilt == 3 * 4 - 1  # 4 versions, each in record, history and records, minus one
    corrected = json.loads(steps[0]["step"]["record"]["canonical"])
    assert corrected["corrects"] == first["record"]["id"]  # an id, not a hash
    assert corrected["data"]["occurred_at"] == "2026-11-20T09:31:00+00:00"
    assert corrected["data"]["parameters"] == {"temperature_c": "1081.00"}
    # The product, materials and lot records of the view carry their text as well.
    product_record = view.json()["record"]
    assert _hash(product_record["canonical"]) == product_record["record_hash"]


def test_a_step_correction_takes_product_serial_only_of_its_own_product(world: World) -> None:
    serial = create_product(world)["serial"]
    other = create_product(world)["serial"]
    step = add_step(world, serial, "casting")
    body = {"kind": "casting", "occurred_at": "2026-11-21T09:00:00+08:00"}
    refused = world.http.post(
        f"/api/v1/steps/{step['id']}/corrections",
        json={**body, "product_serial": other},
        headers=world.headers(FACTORY),
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["field"] == "product_serial"
    accepted = world.http.post(
        f"/api/v1/steps/{step['id']}/corrections",
        json={**body, "product_serial": serial},
        headers=world.headers(FACTORY),
    )
    assert accepted.status_code == 201, accepted.text
    assert "product_serial" not in json.loads(accepted.json()["record"]["canonical"])["data"]


def test_the_lot_view_shows_root_transaction_block_and_a_proof_openzeppelin_accepts(
    world: World,
) -> None:
    lots = [create_lot(world) for _ in range(3)]
    url = f"/api/v1/lots/{lots[0]['id']}"
    pending = world.http.get(url, headers=world.headers(SUPPLIER)).json()["record"]["anchoring"]
    assert pending["status"] == "pending"
    assert pending["root"] is None and pending["proof"] is None
    view = _anchor_all(world, url, SUPPLIER, lambda v: [v["record"], *v["history"]])
    record = view["record"]
    anchoring = record["anchoring"]
    assert anchoring["transaction"].startswith("0x") and anchoring["block"] >= 1
    assert _hash(record["canonical"]) == record["record_hash"]
    # leaf_index: the hash's position among the batch's record hashes sorted ascending.
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        hashes = session.scalars(
            select(Record.record_hash)
            .join(RecordAnchor, RecordAnchor.record_id == Record.id)
            .where(RecordAnchor.batch_id == anchoring["batch_id"])
        ).all()
    assert anchoring["leaf_index"] == sorted(h.lower() for h in hashes).index(record["record_hash"])
    verified = _openzeppelin_verify(
        [
            {
                "root": anchoring["root"],
                "value": record["record_hash"],
                "proof": anchoring["proof"],
            },
            {
                "root": anchoring["root"],
                "value": lots[1]["record"]["record_hash"],
                "proof": anchoring["proof"],
            },
        ]
    )
    assert verified[0] is True
    assert verified[1] is False
    assert anchoring["anchorer"] == world.organisations[SUPPLIER].account_address
    assert world.runtime.ledger.retrieve_verify_record(
        anchoring["root"],
        record["record_hash"],
        anchoring["proof"],
        anchorer=anchoring["anchorer"],
        kind=RECORD_KINDS["material_lot"],
    )


def test_whoever_sees_a_record_in_provenance_reads_it(world: World) -> None:
    source = create_lot(world, quantity="50")
    recycled = held_lot(world, recycled=True, recycled_from=[{"lot": source["id"]}])
    gold = held_lot(world, quantity="100")
    child = world.http.post(
        f"/api/v1/lots/{gold['id']}/split",
        json={"children": [{"quantity": "20"}]},
        headers=world.headers(FACTORY),
    ).json()["data"][0]
    product = create_product(
        world,
        org=FACTORY,
        brand=world.organisations[BRAND].id,
        materials=[
            {"lot": child["id"], "quantity": "5", "unit": "g"},
            {"lot": recycled["id"], "quantity": "1", "unit": "g"},
        ],
    )
    serial = product["serial"]
    world.http.post(  # the brand the factory named takes the product as its own
        f"/api/v1/products/{serial}/acceptance", headers=world.headers(BRAND)
    ).raise_for_status()
    step = add_step(world, serial, "casting")

    def read(record_id: str, org: str, **params: str) -> Any:
        return world.http.get(
            f"/api/v1/records/{record_id}", params=params, headers=world.headers(org)
        )

    # The brand reads its factory's step, the lots drawn and the lot they were split from.
    for record_id in (step["id"], child["record"]["id"], gold["record"]["id"]):
        response = read(record_id, BRAND)
        assert response.status_code == 200, (record_id, response.text)
        assert _hash(response.json()["canonical"]) == response.json()["record_hash"]
    assert read(step["id"], BRAND, product=serial).status_code == 200
    reader = world.http.get(f"/api/v1/records/{step['id']}", headers=world.headers(BRAND, "reader"))
    assert reader.status_code == 200
    # The custodian reads every record of the lot it holds, its transfer included.
    held = world.http.get(f"/api/v1/lots/{gold['id']}", headers=world.headers(FACTORY)).json()
    for version in held["history"]:
        assert read(version["id"], FACTORY).status_code == 200
    # A recycled source shows in the product's provenance: named by the product, it is readable.
    assert read(source["record"]["id"], BRAND).status_code == 404
    assert read(source["record"]["id"], BRAND, product=serial).status_code == 200
    # An organisation whose provenance does not show them reads none of them.
    for record_id in (step["id"], child["record"]["id"], source["record"]["id"]):
        assert read(record_id, BRAND_2).status_code == 404
        assert read(record_id, BRAND_2, product=serial).status_code == 404


def test_a_brand_acceptance_is_a_record_the_brand_anchors(world: World) -> None:
    product = create_product(world, org=FACTORY, brand=world.organisations[BRAND].id)
    serial = product["serial"]
    assert product["acceptance_record"] is None
    accepted = world.http.post(
        f"/api/v1/products/{serial}/acceptance", headers=world.headers(BRAND)
    )
    assert accepted.status_code == 200, accepted.text
    acceptance = accepted.json()["acceptance_record"]
    document = json.loads(acceptance["canonical"])
    assert _hash(acceptance["canonical"]) == acceptance["record_hash"]
    assert document["type"] == "product"
    assert document["organisation"] == world.organisations[BRAND].id
    assert document["data"] == {
        "schema": "hallmark/product-acceptance@1",
        "product": product["id"],
        "serial": serial,
        "productRecord": product["record"]["record_hash"],
        "brand": world.organisations[BRAND].id,
        "assigned_factory": world.organisations[FACTORY].id,
    }
    # Accepting again writes nothing new.
    again = world.http.post(f"/api/v1/products/{serial}/acceptance", headers=world.headers(BRAND))
    assert again.json()["acceptance_record"]["id"] == acceptance["id"]
    # Both sides see it in the product's provenance and read it as a record.
    for org in (BRAND, FACTORY):
        provenance = world.http.get(
            f"/api/v1/products/{serial}/provenance", headers=world.headers(org)
        ).json()
        assert provenance["acceptance_record"]["record_hash"] == acceptance["record_hash"]
        record = world.http.get(f"/api/v1/records/{acceptance['id']}", headers=world.headers(org))
        assert record.status_code == 200, record.text
        assert record.json()["canonical"] == acceptance["canonical"]
    assert (
        world.http.get(
            f"/api/v1/records/{acceptance['id']}", headers=world.headers(BRAND_2)
        ).status_code
        == 404
    )
    # The brand's own account anchors it, as a Product record, and the contract verifies it.
    view = _anchor_all(
        world,
        f"/api/v1/products/{serial}/provenance",
        BRAND,
        lambda v: [v["acceptance_record"]],
    )
    anchoring = view["acceptance_record"]["anchoring"]
    assert anchoring["anchorer"] == world.organisations[BRAND].account_address
    assert world.runtime.ledger.retrieve_verify_record(
        anchoring["root"],
        acceptance["record_hash"],
        anchoring["proof"],
        anchorer=anchoring["anchorer"],
        kind=RECORD_KINDS["product"],
    )
