"""Material lots through the API: create, read, list, private fields, split, transfer,
corrections."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from hallmark.core.canonical import canonical_bytes
from hallmark.store.models import Record
from tests.conftest import World
from tests.records.factories import (
    FACTORY,
    FACTORY_2,
    SUPPLIER,
    SUPPLIER_2,
    create_lot,
    create_product,
    lot_body,
    unique,
)


def _document(world: World, record_id: str) -> dict:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        record = session.get(Record, record_id)
        assert record is not None
        return json.loads(record.canonical)


def test_create_lot_stores_a_hashed_record_with_decimal_strings(world: World) -> None:
    lot = create_lot(
        world,
        quantity="12.500",
        transport=[{"from": "Mine", "to": "Refinery", "mode": "road", "date": "2026-10-01"}],
    )
    assert lot["quantity"] == "12.500"
    assert lot["remaining"] == "12.5"
    assert lot["owner"] == lot["custodian"] == world.organisations[SUPPLIER].id
    assert lot["origin"]["country"] == "ZA"
    assert lot["transport"][0]["from"] == "Mine"
    document = _document(world, lot["id"])
    assert document["type"] == "material_lot"
    assert document["data"]["quantity"] == "12.500"
    assert document["data"]["origin"]["latitude"] == "-26.2"
    assert lot["record"]["record_hash"].startswith("0x")
    again = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(SUPPLIER, "reader"))
    assert again.status_code == 200
    assert [r["id"] for r in again.json()["history"]] == [lot["id"]]


def test_private_fields_are_committed_not_stored_in_the_record(world: World) -> None:
    private = {"price_per_g": "61.20", "buyer_contract": "C-77"}
    lot = create_lot(world, private=private)
    assert lot["private"] == private
    document = _document(world, lot["id"])
    assert "61.20" not in json.dumps(document)
    assert "private" not in document["data"]
    expected = hashlib.sha256(lot["private_salt"].encode() + canonical_bytes(private)).hexdigest()
    assert document["data"]["privateCommitment"] == expected == lot["private_commitment"]
    # The custodian sees the lot but not its private fields.
    world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY].id},
        headers=world.headers(SUPPLIER),
    ).raise_for_status()
    seen = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY)).json()
    assert seen["private"] is None and seen["private_salt"] is None
    assert seen["private_commitment"] == expected


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"origin": {"country": "XX"}}, "body.origin.country"),
        ({"origin": {"country": "ZA", "latitude": "91", "longitude": "0"}}, "body.origin.latitude"),
        ({"origin": {"country": "ZA", "latitude": "10"}}, "body.origin"),
        ({"quantity": "-1"}, "body.quantity"),
        ({"quantity": 1.5e300}, "body.quantity"),
        ({"unit": "kg"}, "body.unit"),
        ({"material": "unobtainium"}, "body.material"),
        (
            {"certificates": [{"kind": "gia_report", "number": "1", "document": "xyz"}]},
            "body.certificates.0.document",
        ),
        ({"recycled_from": [{"lot": "abc"}]}, "body"),
        ({"colour": "yellow"}, "body.colour"),
        ({"extra": {"big": 2**60}}, "body.extra"),
    ],
)
def test_bad_lot_fields_are_named(world: World, overrides: dict, field: str) -> None:
    response = world.http.post(
        "/api/v1/lots", json=lot_body(**overrides), headers=world.headers(SUPPLIER)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    fields = [f["field"] for f in error["details"]["fields"]]
    assert any(f.startswith(field) for f in fields), fields


def test_lot_numbers_are_unique_per_supplier(world: World) -> None:
    number = unique("DUP")
    create_lot(world, lot_number=number)
    again = world.http.post(
        "/api/v1/lots", json=lot_body(lot_number=number), headers=world.headers(SUPPLIER)
    )
    assert again.status_code == 409
    assert again.json()["error"]["details"]["lot_number"] == number
    create_lot(world, org=SUPPLIER_2, lot_number=number)  # another supplier may use it


def test_lots_are_listed_for_owner_and_custodian_only(world: World) -> None:
    mine = create_lot(world)
    listed = world.http.get("/api/v1/lots?limit=1000", headers=world.headers(SUPPLIER)).json()
    assert mine["id"] in {lot["id"] for lot in listed["data"]}
    assert listed["count"] >= 1
    other = world.http.get("/api/v1/lots?limit=1000", headers=world.headers(SUPPLIER_2)).json()
    assert mine["id"] not in {lot["id"] for lot in other["data"]}
    assert (
        world.http.get(f"/api/v1/lots/{mine['id']}", headers=world.headers(SUPPLIER_2)).status_code
        == 404
    )
    page = world.http.get("/api/v1/lots?skip=0&limit=1", headers=world.headers(SUPPLIER)).json()
    assert len(page["data"]) == 1


def test_transfer_moves_custody_and_visibility(world: World) -> None:
    lot = create_lot(world)
    to_factory = world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY].id, "note": "AWB 123"},
        headers=world.headers(SUPPLIER),
    )
    assert to_factory.status_code == 200
    assert to_factory.json()["custodian"] == world.organisations[FACTORY].id
    onward = world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY_2].id},
        headers=world.headers(FACTORY),
    )
    assert onward.status_code == 200
    # The first factory no longer holds it; the owner and the new custodian see it.
    assert (
        world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY)).status_code
        == 404
    )
    assert (
        world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY_2)).status_code
        == 200
    )
    owner_view = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(SUPPLIER)).json()
    assert len(owner_view["history"]) == 3
    unknown = world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": "no-such-org"},
        headers=world.headers(SUPPLIER),
    )
    assert unknown.status_code == 404


def test_split_children_inherit_origin_and_count_against_the_parent(world: World) -> None:
    parent = create_lot(world, quantity="10.000", carbon_kg_co2e="20")
    split = world.http.post(
        f"/api/v1/lots/{parent['id']}/split",
        json={"children": [{"quantity": "4"}, {"quantity": "3.5", "lot_number": unique("C")}]},
        headers=world.headers(SUPPLIER),
    )
    assert split.status_code == 201, split.text
    children = split.json()["data"]
    assert [c["quantity"] for c in children] == ["4", "3.5"]
    assert children[0]["lot_number"] == f"{parent['lot_number']}-1"
    for child in children:
        assert child["parent_lot"] == parent["id"]
        assert child["origin"] == parent["origin"]
        assert child["material"] == parent["material"]
    assert children[0]["carbon_kg_co2e"] == "8"
    after = world.http.get(f"/api/v1/lots/{parent['id']}", headers=world.headers(SUPPLIER)).json()
    assert after["remaining"] == "2.5"
    over = world.http.post(
        f"/api/v1/lots/{parent['id']}/split",
        json={"children": [{"quantity": "2.6"}]},
        headers=world.headers(SUPPLIER),
    )
    assert over.status_code == 409
    details = over.json()["error"]["details"]
    assert (details["lot"], details["remaining"], details["unit"]) == (parent["id"], "2.5", "g")


def test_corrections_replace_the_view_and_keep_the_history(world: World) -> None:
    lot = create_lot(world, grade="Au999")
    body = lot_body(lot_number=lot["lot_number"], grade="Au999.9", quantity="101")
    corrected = world.http.post(
        f"/api/v1/lots/{lot['id']}/corrections", json=body, headers=world.headers(SUPPLIER)
    )
    assert corrected.status_code == 201, corrected.text
    view = corrected.json()
    assert view["grade"] == "Au999.9"
    assert view["quantity"] == "101"
    assert view["id"] == lot["id"]
    history = view["history"]
    assert [h["id"] for h in history] == [lot["id"], view["record"]["id"]]
    assert history[1]["corrects"] == lot["id"]
    assert _document(world, view["record"]["id"])["corrects"] == lot["id"]
    unit_change = world.http.post(
        f"/api/v1/lots/{lot['id']}/corrections",
        json=lot_body(lot_number=lot["lot_number"], unit="ct"),
        headers=world.headers(SUPPLIER),
    )
    assert unit_change.status_code == 422
    assert unit_change.json()["error"]["details"]["field"] == "unit"


def test_correction_cannot_go_below_what_was_drawn(world: World) -> None:
    lot = create_lot(world, quantity="10")
    world.http.post(
        f"/api/v1/lots/{lot['id']}/split",
        json={"children": [{"quantity": "6"}]},
        headers=world.headers(SUPPLIER),
    ).raise_for_status()
    too_small = world.http.post(
        f"/api/v1/lots/{lot['id']}/corrections",
        json=lot_body(lot_number=lot["lot_number"], quantity="5"),
        headers=world.headers(SUPPLIER),
    )
    assert too_small.status_code == 409
    assert too_small.json()["error"]["details"]["allocated"] == "6"


def test_recycled_lot_names_its_sources(world: World) -> None:
    source = create_lot(world)
    old_ring = create_product(world)["serial"]
    recycled = create_lot(
        world, recycled=True, recycled_from=[{"lot": source["id"]}, {"product": old_ring}]
    )
    assert recycled["recycled_from"] == [
        {"lot": source["id"], "product": None},
        {"lot": None, "product": old_ring},
    ]
    foreign = create_lot(world, org=SUPPLIER_2)
    refused = world.http.post(
        "/api/v1/lots",
        json=lot_body(recycled=True, recycled_from=[{"lot": foreign["id"]}]),
        headers=world.headers(SUPPLIER),
    )
    assert refused.status_code == 404
    not_recycled = world.http.post(
        "/api/v1/lots",
        json=lot_body(recycled_from=[{"lot": source["id"]}]),
        headers=world.headers(SUPPLIER),
    )
    assert not_recycled.status_code == 422


def test_unknown_lot_is_404(world: World) -> None:
    for method, path, body in [
        ("GET", "/api/v1/lots/nope", None),
        ("POST", "/api/v1/lots/nope/split", {"children": [{"quantity": "1"}]}),
        ("POST", "/api/v1/lots/nope/transfer", {"to_organisation": "x"}),
        ("POST", "/api/v1/lots/nope/corrections", lot_body()),
    ]:
        response = world.http.request(method, path, json=body, headers=world.headers(SUPPLIER))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_anchoring_status_is_pending_until_the_worker_runs(world: World) -> None:
    lot = create_lot(world)
    url = f"/api/v1/lots/{lot['id']}"
    assert lot["record"]["anchoring"]["status"] == "pending"
    waiting = world.http.get(url, headers=world.headers(SUPPLIER)).json()["record"]["anchoring"]
    assert waiting == {**waiting, "status": "pending", "root": None, "transaction": None}
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 180
        while True:
            anchoring = world.http.get(url, headers=world.headers(SUPPLIER)).json()["record"][
                "anchoring"
            ]
            if anchoring["status"] != "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        worker.stop()
        world.runtime.worker = None
    assert anchoring["status"] in ("anchoring", "anchored", "confirmed"), anchoring
    assert anchoring["root"] is not None and anchoring["transaction"] is not None
