"""What a record may name: lots go only to organisations that can hold material, and a recycled
source must exist."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    LEGAL,
    SUPPLIER,
    SUPPLIER_2,
    create_lot,
    create_product,
    lot_body,
    unique,
)


def test_a_lot_cannot_be_transferred_to_a_legal_organisation(world: World) -> None:
    lot = create_lot(world)
    response = world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[LEGAL].id},
        headers=world.headers(SUPPLIER),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "to_organisation"
    again = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(SUPPLIER))
    assert again.json()["custodian"] == world.organisations[SUPPLIER].id


@pytest.mark.parametrize("org", [FACTORY, BRAND, SUPPLIER_2])
def test_lots_go_to_organisations_that_hold_material(world: World, org: str) -> None:
    lot = create_lot(world)
    response = world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[org].id},
        headers=world.headers(SUPPLIER),
    )
    assert response.status_code == 200, response.text


def test_a_recycled_product_must_exist(world: World) -> None:
    missing = unique("SN")
    body = lot_body(recycled=True, recycled_from=[{"product": missing}])
    response = world.http.post("/api/v1/lots", json=body, headers=world.headers(SUPPLIER))
    assert response.status_code == 404, response.text
    assert response.json()["error"]["details"]["field"] == "recycled_from.0.product"
    product = create_product(world)
    lot = create_lot(world, recycled=True, recycled_from=[{"product": product["serial"]}])
    assert lot["recycled_from"] == [{"lot": None, "product": product["serial"]}]


def test_a_recycled_product_in_a_batch_row_is_checked(world: World) -> None:
    rows = [lot_body(), lot_body(recycled=True, recycled_from=[{"product": unique("SN")}])]
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row", json=rows, headers=world.headers(SUPPLIER)
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["created", "rejected"]


def _factory_product_for(world: World, brand: str) -> str:
    serial: str = create_product(world, org=FACTORY, brand=world.organisations[brand].id)["serial"]
    return serial


def test_a_brand_sees_a_factory_product_only_once_it_accepts_it(world: World) -> None:
    serial = _factory_product_for(world, BRAND)
    for path in (f"/api/v1/products/{serial}", f"/api/v1/products/{serial}/provenance"):
        assert world.http.get(path, headers=world.headers(BRAND)).status_code == 404
    listed = world.http.get("/api/v1/products?limit=1000", headers=world.headers(BRAND)).json()
    assert serial not in {p["serial"] for p in listed["data"]}
    offers = world.http.get(
        "/api/v1/products?offered=true&limit=1000", headers=world.headers(BRAND)
    )
    offered = {p["serial"]: p for p in offers.json()["data"]}
    assert offered[serial]["brand_accepted_at"] is None
    # Another brand, a reader of the brand and the factory cannot accept it.
    for org, role in ((BRAND_2, None), (BRAND, "reader"), (FACTORY, None)):
        refused = world.http.post(
            f"/api/v1/products/{serial}/acceptance", headers=world.headers(org, role)
        )
        assert refused.status_code in (403, 404), refused.text
    accepted = world.http.post(
        f"/api/v1/products/{serial}/acceptance", headers=world.headers(BRAND)
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["brand_accepted_at"] is not None
    again = world.http.post(f"/api/v1/products/{serial}/acceptance", headers=world.headers(BRAND))
    assert again.json()["brand_accepted_at"] == accepted.json()["brand_accepted_at"]
    for path in (f"/api/v1/products/{serial}", f"/api/v1/products/{serial}/provenance"):
        assert world.http.get(path, headers=world.headers(BRAND)).status_code == 200
    offers = world.http.get(
        "/api/v1/products?offered=true&limit=1000", headers=world.headers(BRAND)
    )
    assert serial not in {p["serial"] for p in offers.json()["data"]}


def test_a_brand_product_is_its_own_at_creation(world: World) -> None:
    product = create_product(world)
    assert product["brand_accepted_at"] is not None
    response = world.http.get(f"/api/v1/products/{product['serial']}", headers=world.headers(BRAND))
    assert response.status_code == 200
