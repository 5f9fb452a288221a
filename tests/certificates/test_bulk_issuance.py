"""An order issues its complete products from rows read for the whole chunk at once: each
certificate document is exactly the one `issue` builds for that product alone (materials from
split and recycled lots, several draws, a corrected step, GTIN and edition), only products that
`issue` would certify are taken that way, and an order's certificates verify."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from hallmark.services.access.keys import Actor
from hallmark.services.certificates import issuance
from hallmark.services.records import provenance
from hallmark.store.models import LotDraw, MaterialLot, Organisation, Product, Record
from tests.certificates.builders import anchor_all, check, complete_product, fetch
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    add_step,
    create_lot,
    create_product,
    held_lot,
    unique,
)


def _brand(world: World, name: str = BRAND) -> Actor:
    return Actor(
        organisation_id=world.organisations[name].id,
        organisation_kind="brand",
        principal_id="",
        api_key_id="",
        role="brand",
    )


def _draw(world: World, serial: str, lot: str, grams: str) -> None:
    world.http.post(
        f"/api/v1/products/{serial}/materials",
        json={"materials": [{"lot": lot, "quantity": grams, "unit": "g"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()


def _intricate_product(world: World, *, split: bool = True) -> str:
    """A product with a GTIN and an edition, drawing from a lot split off a recycled lot (which
    came from another lot and an earlier product; without `split`, from the recycled lot itself)
    and from a second lot, in two additions, with a QC inspection corrected from fail to pass.
    (A lot split by the factory is a record its account may not anchor.)"""
    earlier = create_product(world)["serial"]
    source = create_lot(world, quantity="50")
    recycled = held_lot(
        world,
        quantity="40",
        recycled=True,
        recycled_from=[{"lot": source["id"]}, {"product": earlier}],
    )
    child = recycled
    if split:
        children = world.http.post(
            f"/api/v1/lots/{recycled['id']}/split",
            json={"children": [{"quantity": "20"}]},
            headers=world.headers(FACTORY),
        )
        children.raise_for_status()
        child = children.json()["data"][0]
    serial: str = create_product(
        world, gtin="4006381333931", edition={"series": unique("Lune"), "number": 3, "size": 50}
    )["serial"]
    _draw(world, serial, child["id"], "5.5")
    _draw(world, serial, held_lot(world, carbon_kg_co2e="7.25")["id"], "1.25")
    add_step(world, serial, "casting")
    qc = add_step(world, serial, "qc_inspection", result="fail")
    world.http.post(
        f"/api/v1/steps/{qc['id']}/corrections",
        json={
            "kind": "qc_inspection",
            "occurred_at": "2026-11-20T10:00:00.5+01:00",
            "result": "pass",
        },
        headers=world.headers(FACTORY),
    ).raise_for_status()
    add_step(world, serial, "packaging")
    return serial


def _single(world: World, actor: Actor, serial: str, **fixed: Any) -> dict[str, Any]:
    """The document `issue` builds for the product alone."""
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        brand = session.get(Organisation, actor.organisation_id)
        assert brand is not None
        view = provenance.build(session, product, actor.organisation_id)
        return issuance.build_document(
            session, product=product, brand=brand, view=issuance.Story.of(view), **fixed
        )


def test_documents_read_for_a_chunk_equal_those_read_one_by_one(world: World) -> None:
    brand = _brand(world)
    plain_serial = complete_product(world)
    intricate = _intricate_product(world)
    failed_qc = complete_product(world, qc="fail")
    not_drawn = create_product(world)["serial"]
    add_step(world, not_drawn, "qc_inspection", result="pass")
    other_brand = create_product(world, org=BRAND_2)["serial"]
    serials = [plain_serial, failed_qc, intricate, "SN-NO-SUCH", not_drawn, other_brand]
    fixed: dict[str, Any] = {
        "certificate_id": "0190c3a0-0000-7000-8000-000000000001",
        "number": "HM-20261204-0A1B2C3D4E",
        "issuance_id": "0x" + "ab" * 32,
        "valid_from": datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
        "issuer": world.runtime.certificate_issuer(),
        "personal_commitment": None,
        "engraving_summary": None,
        "supersedes": None,
    }
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        stories, known = issuance._chunk_stories(session, brand, serials)
        # Only what `issue` would certify is taken from the chunk's rows; the rest goes to
        # `issue`, which refuses it with its reason.
        assert sorted(stories) == sorted([plain_serial, intricate])
        bulk = {
            serial: issuance.build_document(
                session,
                product=product,
                brand=known.organisations[brand.organisation_id],
                view=story,
                known=known,
                **fixed,
            )
            for serial, (product, story) in stories.items()
        }
    for serial in (plain_serial, intricate):
        assert bulk[serial] == _single(world, brand, serial, **fixed)
    subject = bulk[intricate]["credentialSubject"]
    assert len(subject["materials"]) == 2 and subject["product"]["edition"]["number"] == 3
    assert subject["production"]["finalQc"]["result"] == "pass"
    assert subject["production"]["links"] == 4 and subject["production"]["steps"] == 3


def test_an_order_issues_in_bulk_what_verifies_and_refuses_the_rest(world: World) -> None:
    serials = [
        complete_product(world),
        _intricate_product(world, split=False),
        complete_product(world),
    ]
    incomplete = complete_product(world, qc="fail")
    response = world.http.post(
        "/api/v1/certificate-orders",
        json={"serials": [serials[0], incomplete, *serials[1:], serials[0] + "-X"]},
        headers=world.headers(BRAND),
    )
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while (
        order := world.http.get(
            f"/api/v1/certificate-orders/{order_id}", headers=world.headers(BRAND)
        ).json()
    )["status"] != "done":
        assert time.monotonic() < deadline, order
        time.sleep(0.2)
    assert [r["row"] for r in order["results"]] == [1, 2, 3, 4, 5]
    assert [r["status"] for r in order["results"]] == [
        "issued",
        "refused",
        "issued",
        "issued",
        "refused",
    ]
    assert order["results"][1]["error"]["code"] == "production_incomplete"
    assert "final QC inspection did not pass" in order["results"][1]["error"]["message"]
    assert order["results"][4]["error"]["code"] == "not_found"
    assert (order["issued"], order["failed"]) == (3, 2)
    # Outcomes in pages: the progress alone (as the CLI polls), then any slice of them.
    url, brand = f"/api/v1/certificate-orders/{order_id}", world.headers(BRAND)
    progress = world.http.get(url + "?results_limit=0", headers=brand).json()
    assert progress["results"] == [] and progress["processed"] == progress["total"] == 5
    assert {k: v for k, v in progress.items() if k != "results"} == {
        k: v for k, v in order.items() if k != "results"
    }
    page = world.http.get(url + "?results_from=1&results_limit=3", headers=brand).json()
    assert page["results_from"] == 1 and page["results"] == order["results"][1:4]
    assert world.http.get(url + "?results_from=9", headers=brand).json()["results"] == []
    for bad in ("results_from=-1", "results_limit=-1", "results_limit=50001", "results_from=x"):
        refused = world.http.get(f"{url}?{bad}", headers=brand)
        assert refused.status_code == 422 and refused.json()["error"]["code"], bad
    # Another brand learns nothing of the order, in pages or whole, and cannot revoke it.
    hostile = world.headers(BRAND_2)
    for path in (url, url + "?results_limit=0", url + "?results_from=1&results_limit=3"):
        assert world.http.get(path, headers=hostile).status_code == 404
    revoking = world.http.post(url + "/revocation", json={"reason": "fraud"}, headers=hostile)
    assert revoking.status_code == 404, revoking.text
    issued = [r["certificate"] for r in order["results"] if r["status"] == "issued"]
    anchor_all(world, issued)
    for certificate in issued:
        document, bundle = fetch(world, certificate)
        assert check(world, document, bundle).ok
        assert document["credentialStatus"]["issuanceId"] == order["issuance_id"]
    # A product certified by the order is refused by a second order, one by one.
    again = world.http.post(
        "/api/v1/certificate-orders", json={"serials": serials[:1]}, headers=world.headers(BRAND)
    )
    assert again.status_code == 202, again.text
    deadline = time.monotonic() + 60
    while (
        second := world.http.get(
            f"/api/v1/certificate-orders/{again.json()['id']}", headers=world.headers(BRAND)
        ).json()
    )["status"] != "done":
        assert time.monotonic() < deadline, second
        time.sleep(0.2)
    assert second["results"][0]["status"] == "refused"
    assert "already certified" in second["results"][0]["error"]["message"]


def _order(world: World, serials: list[str]) -> dict[str, Any]:
    response = world.http.post(
        "/api/v1/certificate-orders", json={"serials": serials}, headers=world.headers(BRAND)
    )
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while True:
        order: dict[str, Any] = world.http.get(
            f"/api/v1/certificate-orders/{response.json()['id']}", headers=world.headers(BRAND)
        ).json()
        if order["status"] == "done":
            return order
        assert time.monotonic() < deadline, order
        time.sleep(0.2)


def test_a_record_failing_its_check_refuses_only_its_product(world: World) -> None:
    """A stored lot record whose text no longer hashes to its hash makes the chunk's shared read
    fail: every product is then issued or refused alone, so only the product relying on that
    record is refused, with the integrity error."""
    sound, damaged = complete_product(world), complete_product(world)
    assert world.runtime.sessions is not None
    with world.runtime.sessions.begin() as session:
        product = session.scalars(select(Product).where(Product.serial == damaged)).one()
        draw = session.scalars(select(LotDraw).where(LotDraw.product_id == product.id)).one()
        lot = session.get(MaterialLot, draw.lot_id)
        assert lot is not None
        record = session.get(Record, lot.record_id)
        assert record is not None
        original, record_id = record.canonical, record.id
        record.canonical = original.replace('"gold"', '"silver"')
    try:
        order = _order(world, [sound, damaged])
    finally:
        with world.runtime.sessions.begin() as session:
            restored = session.get(Record, record_id)
            assert restored is not None
            restored.canonical = original
    assert [r["status"] for r in order["results"]] == ["issued", "refused"]
    assert order["results"][1]["error"]["code"] == "record_integrity"
