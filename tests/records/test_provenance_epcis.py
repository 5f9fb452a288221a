"""The provenance view and the EPCIS 2.0 export of a product."""

from __future__ import annotations

import re
import time
from typing import Any

from hallmark.core.hashing import keccak256
from hallmark.store.records import RECORD_KINDS
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    FACTORY,
    SUPPLIER,
    SUPPLIER_2,
    add_step,
    create_lot,
    create_product,
    held_lot,
)

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


#: The steps of the product `_product_with_history` makes, in order.
STEP_KINDS = ("wax_3d_print", "casting", "stone_setting", "qc_inspection", "packaging", "shipping")


def _product_with_history(world: World) -> dict[str, Any]:
    """A ring from a split gold lot and a recycled lot, with a stone added later, and steps."""
    source = create_lot(world, quantity="50")
    gold = held_lot(world, quantity="100", private={"price": "PRIVATE-PRICE-61.2"})
    split = world.http.post(
        f"/api/v1/lots/{gold['id']}/split",
        json={"children": [{"quantity": "20"}]},
        headers=world.headers(FACTORY),
    )
    child = split.json()["data"][0]
    recycled = held_lot(world, recycled=True, recycled_from=[{"lot": source["id"]}])
    stone = held_lot(
        world,
        org=SUPPLIER_2,
        material="diamond",
        grade="1.02 ct F VS1",
        quantity="1.02",
        unit="ct",
        origin={"name": "Jwaneng", "country": "BW"},
        private={"cost": "PRIVATE-COST-9000"},
    )
    product = create_product(
        world,
        org=FACTORY,
        gtin="4006381333931",
        brand=world.organisations[BRAND].id,
        materials=[
            {"lot": child["id"], "quantity": "5", "unit": "g", "process_loss": "0.2"},
            {"lot": recycled["id"], "quantity": "1", "unit": "g"},
        ],
    )
    world.http.post(
        f"/api/v1/products/{product['serial']}/materials",
        json={"materials": [{"lot": stone["id"], "quantity": "1.02", "unit": "ct"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()
    for kind in STEP_KINDS:
        add_step(world, product["serial"], kind)
    return {
        "product": product,
        "gold": gold,
        "child": child,
        "recycled": recycled,
        "source": source,
        "stone": stone,
    }


def test_provenance_tree_timeline_and_anchoring(world: World) -> None:
    made = _product_with_history(world)
    serial = made["product"]["serial"]
    response = world.http.get(f"/api/v1/products/{serial}/provenance", headers=world.headers(BRAND))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["chain_intact"] is True
    assert [s["step"]["kind"] for s in view["steps"]] == list(STEP_KINDS)
    child_node, recycled_node, stone_node = view["materials"]
    assert child_node["lot"]["id"] == made["child"]["id"]
    assert (child_node["quantity"], child_node["process_loss"]) == ("5", "0.2")
    assert child_node["parent"]["lot"]["id"] == made["gold"]["id"]
    assert child_node["parent"]["lot"]["origin"]["country"] == "ZA"
    assert recycled_node["recycled_from"][0]["lot"]["id"] == made["source"]["id"]
    assert stone_node["lot"]["origin"] == {"name": "Jwaneng", "country": "BW"}
    assert len(view["material_records"]) == 1
    records = [view["record"], *view["material_records"], child_node["lot"]["record"]]
    records += [r for s in view["steps"] for r in s["records"]]
    for record in records:
        assert record["record_hash"].startswith("0x")
        assert record["anchoring"]["status"] == "pending"
    # Private fields of other organisations never appear (the commitments do).
    text = response.text
    assert "PRIVATE-" not in text  # random hashes may contain any digits: mark the values
    assert stone_node["lot"]["private_commitment"]
    assert view["product"]["recycled_share"] is not None


def test_private_fields_never_reach_the_product_side(world: World) -> None:
    made = _product_with_history(world)
    serial = made["product"]["serial"]
    view = world.http.get(f"/api/v1/products/{serial}/provenance", headers=world.headers(FACTORY))
    assert view.status_code == 200
    assert "PRIVATE-" not in view.text


def test_anchoring_status_follows_the_worker(world: World) -> None:
    product = create_product(world)
    add_step(world, product["serial"], "casting")
    url = f"/api/v1/products/{product['serial']}/provenance"
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 60
        while True:
            view = world.http.get(url, headers=world.headers(BRAND)).json()
            anchoring = view["steps"][0]["records"][0]["anchoring"]
            if anchoring["status"] in ("anchored", "confirmed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        worker.stop()
        world.runtime.worker = None
    assert anchoring["status"] in ("anchored", "confirmed"), anchoring
    assert anchoring["root"] and anchoring["transaction"] and anchoring["block"]
    assert anchoring["proof"] is not None


def _check_event(event: dict[str, Any]) -> None:
    """The fields the EPCIS 2.0 JSON schema requires of each event type."""
    assert event["type"] in ("ObjectEvent", "TransformationEvent")
    assert TIME.match(event["eventTime"]), event["eventTime"]
    assert OFFSET.match(event["eventTimeZoneOffset"])
    assert event["eventID"].startswith(("urn:uuid:", "ni:"))
    if event["type"] == "ObjectEvent":
        assert event["action"] in ("ADD", "OBSERVE", "DELETE")
        assert event["epcList"] or event.get("quantityList")
    else:
        assert "action" not in event
        assert event["inputEPCList"] or event.get("inputQuantityList")
        assert event["outputEPCList"] or event.get("outputQuantityList")
        for quantity in event.get("inputQuantityList", []):
            assert set(quantity) <= {"epcClass", "quantity", "uom"}
            assert isinstance(quantity["quantity"], float | int)
    for key in event:
        assert key in EPCIS_EVENT_FIELDS or key.startswith("hm:"), key


EPCIS_EVENT_FIELDS = {
    "type",
    "eventID",
    "eventTime",
    "eventTimeZoneOffset",
    "recordTime",
    "epcList",
    "action",
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "ilmd",
    "inputEPCList",
    "inputQuantityList",
    "outputEPCList",
    "outputQuantityList",
    "transformationID",
    "quantityList",
    "sourceList",
    "destinationList",
}


def test_epcis_document_shape(world: World) -> None:
    made = _product_with_history(world)
    serial = made["product"]["serial"]
    response = world.http.get(f"/api/v1/products/{serial}/epcis", headers=world.headers(BRAND))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    assert (
        document["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    )
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    assert TIME.match(document["creationDate"])
    events = document["epcisBody"]["eventList"]
    for event in events:
        _check_event(event)
    epc = f"https://id.gs1.org/01/04006381333931/21/{serial}"
    commissioning, creation, later = events[:3]
    assert (commissioning["bizStep"], commissioning["action"], commissioning["epcList"]) == (
        "commissioning",
        "ADD",
        [epc],
    )
    assert creation["type"] == later["type"] == "TransformationEvent"
    assert creation["outputEPCList"] == [epc]
    assert creation["inputEPCList"] == [
        f"urn:hallmark:lot:{made['child']['id']}",
        f"urn:hallmark:lot:{made['recycled']['id']}",
    ]
    assert creation["inputQuantityList"][0] == {
        "epcClass": f"urn:hallmark:lot:{made['child']['id']}",
        "quantity": 5.2,
        "uom": "GRM",
    }
    assert later["inputQuantityList"][0]["uom"] == "CTM"
    assert creation["ilmd"]["hm:category"] == "ring"
    steps = events[3:]
    assert [e["hm:stepKind"] for e in steps] == list(STEP_KINDS)
    assert [e.get("bizStep") for e in steps] == [
        None,
        None,
        "assembling",
        "inspecting",
        "packing",
        "shipping",
    ]
    assert steps[3]["disposition"] == "conformant"
    assert steps[0]["eventTimeZoneOffset"] == "+08:00"
    assert all(e["action"] == "OBSERVE" for e in steps)


def test_record_endpoint_gives_the_hashed_text_and_an_on_chain_proof(world: World) -> None:
    lot = create_lot(world)
    record_id = lot["record"]["id"]
    url = f"/api/v1/records/{record_id}"
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 60
        while True:
            record = world.http.get(url, headers=world.headers(SUPPLIER)).json()
            if record["anchoring"]["status"] in ("anchored", "confirmed"):
                break
            assert time.monotonic() < deadline, record
            time.sleep(0.2)
    finally:
        worker.stop()
        world.runtime.worker = None
    assert record["record_hash"] == lot["record"]["record_hash"]
    assert "0x" + keccak256(record["canonical"].encode()).hex() == record["record_hash"]
    assert record["document"]["data"]["lot_number"] == lot["lot_number"]
    anchoring = record["anchoring"]
    ledger = world.runtime.ledger.contract.functions
    assert ledger.verifyRecord(
        world.organisations[SUPPLIER].account_address,
        bytes.fromhex(anchoring["root"][2:]),
        RECORD_KINDS["material_lot"],
        bytes.fromhex(record["record_hash"][2:]),
        [bytes.fromhex(p[2:]) for p in anchoring["proof"]],
    ).call()
    # Another organisation's record does not exist for the caller; the owner's reader sees it.
    foreign = world.http.get(url, headers=world.headers(SUPPLIER_2))
    assert foreign.status_code == 404
    assert foreign.json()["error"]["code"] == "not_found"
    assert world.http.get(url, headers=world.headers(SUPPLIER, "reader")).status_code == 200
