"""What a record may name: lots go only to organisations that can hold material, and a recycled
source must exist."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.records.factories import (
    BRAND,
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
