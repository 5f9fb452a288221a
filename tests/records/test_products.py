"""Products through the API: creation rules, editions, GTIN, materials under mass balance."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import select

from hallmark.store.db import transaction
from hallmark.store.models import Product
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    FACTORY_2,
    SUPPLIER,
    create_product,
    held_lot,
    product_body,
    unique,
)


def _drawing(
    world: World, *materials: dict[str, str], org: str = FACTORY, category: str = "ring"
) -> httpx.Response:
    """A factory's request for a new product that draws `materials` (lot, quantity, unit and
    process loss each)."""
    return world.http.post(
        "/api/v1/products",
        json={
            "serial": unique("SN"),
            "name": "x",
            "category": category,
            "materials": list(materials),
        },
        headers=world.headers(org),
    )


def test_brand_creates_for_its_assigned_factory(world: World) -> None:
    product = create_product(world, gtin="4006381333931", design_reference="DR-9")
    assert product["brand"] == world.organisations[BRAND].id
    assert product["assigned_factory"] == world.organisations[FACTORY].id
    assert product["gtin"] == "04006381333931"
    for viewer in (BRAND, FACTORY):
        got = world.http.get(
            f"/api/v1/products/{product['serial']}", headers=world.headers(viewer, "reader")
        )
        assert got.status_code == 200
    for outsider in (BRAND_2, FACTORY_2, SUPPLIER):
        got = world.http.get(
            f"/api/v1/products/{product['serial']}", headers=world.headers(outsider)
        )
        assert got.status_code == 404
    listed = world.http.get("/api/v1/products?limit=1000", headers=world.headers(FACTORY)).json()
    assert product["serial"] in {p["serial"] for p in listed["data"]}


def test_factory_creates_for_itself_with_an_optional_brand(world: World) -> None:
    product = create_product(world, org=FACTORY, brand=world.organisations[BRAND_2].id)
    assert product["brand"] == world.organisations[BRAND_2].id
    assert product["assigned_factory"] == world.organisations[FACTORY].id
    other = world.http.post(
        "/api/v1/products",
        json=product_body(world, FACTORY_2),
        headers=world.headers(FACTORY),
    )
    assert other.status_code == 422
    assert other.json()["error"]["details"]["field"] == "assigned_factory"
    no_factory = world.http.post(
        "/api/v1/products",
        json={"serial": unique("SN"), "name": "x", "category": "ring"},
        headers=world.headers(BRAND),
    )
    assert no_factory.status_code == 422
    not_a_factory = world.http.post(
        "/api/v1/products",
        json=product_body(world, assigned_factory=world.organisations[BRAND_2].id),
        headers=world.headers(BRAND),
    )
    assert not_a_factory.status_code == 404


def test_serial_is_globally_unique_and_gtin_checked(world: World) -> None:
    product = create_product(world)
    again = world.http.post(
        "/api/v1/products",
        json=product_body(world, serial=product["serial"]),
        headers=world.headers(BRAND_2),
    )
    assert again.status_code == 409
    bad_gtin = world.http.post(
        "/api/v1/products",
        json=product_body(world, gtin="4006381333932"),
        headers=world.headers(BRAND),
    )
    assert bad_gtin.status_code == 422
    assert bad_gtin.json()["error"]["details"]["fields"][0]["field"] == "body.gtin"


def test_edition_rules(world: World) -> None:
    series = unique("Eclipse")
    create_product(world, edition={"series": series, "number": 1, "size": 3})
    above = world.http.post(
        "/api/v1/products",
        json=product_body(world, edition={"series": series, "number": 4, "size": 3}),
        headers=world.headers(BRAND),
    )
    assert above.status_code == 422
    zero = world.http.post(
        "/api/v1/products",
        json=product_body(world, edition={"series": series, "number": 0, "size": 3}),
        headers=world.headers(BRAND),
    )
    assert zero.status_code == 422
    twice = world.http.post(
        "/api/v1/products",
        json=product_body(world, edition={"series": series, "number": 1, "size": 3}),
        headers=world.headers(BRAND),
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["details"]["number"] == 1
    # The same number in another brand's series of the same name is fine.
    create_product(world, org=BRAND_2, edition={"series": series, "number": 1, "size": 3})
    create_product(world, edition={"series": series, "number": 2, "size": 3})


def test_materials_draw_under_mass_balance(world: World) -> None:
    lot = held_lot(world, quantity="10", carbon_kg_co2e="30")
    recycled = held_lot(world, quantity="10", recycled=True, carbon_kg_co2e="3")
    product = create_product(
        world,
        org=FACTORY,
        materials=[
            {"lot": lot["id"], "quantity": "3", "unit": "g", "process_loss": "0.5"},
            {"lot": recycled["id"], "quantity": "1", "unit": "g"},
        ],
    )
    assert product["recycled_share"] == "0.25"
    # 30 * 3.5 / 10 + 3 * 1 / 10
    assert product["carbon_kg_co2e"] == "10.8"
    after = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY)).json()
    assert after["remaining"] == "6.5"
    over = _drawing(
        world,
        {"lot": lot["id"], "quantity": "6.5", "unit": "g", "process_loss": "0.1"},
        category="pendant",
    )
    assert over.status_code == 409
    error = over.json()["error"]
    assert error["code"] == "mass_balance_exceeded"
    assert error["details"]["lot"] == lot["id"]
    assert error["details"]["remaining"] == "6.5"
    assert error["details"]["unit"] == "g"
    assert lot["lot_number"] in error["message"]
    later = world.http.post(
        f"/api/v1/products/{product['serial']}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "6.5", "unit": "g"}]},
        headers=world.headers(FACTORY),
    )
    assert later.status_code == 201, later.text
    assert len(later.json()["materials"]) == 3
    empty = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY)).json()
    assert empty["remaining"] == "0"


def test_split_children_and_loss_count_against_the_parent(world: World) -> None:
    lot = held_lot(world, quantity="10")
    world.http.post(
        f"/api/v1/lots/{lot['id']}/split",
        json={"children": [{"quantity": "7"}]},
        headers=world.headers(FACTORY),
    ).raise_for_status()
    over = _drawing(
        world, {"lot": lot["id"], "quantity": "2.5", "unit": "g", "process_loss": "0.6"}
    )
    assert over.status_code == 409
    assert over.json()["error"]["details"]["remaining"] == "3"
    # Two draws of the same lot in one request add up.
    double = _drawing(
        world,
        {"lot": lot["id"], "quantity": "2", "unit": "g"},
        {"lot": lot["id"], "quantity": "1.5", "unit": "g"},
    )
    assert double.status_code == 409
    assert double.json()["error"]["details"]["remaining"] == "1"
    lot_after = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(FACTORY)).json()
    assert lot_after["remaining"] == "3"  # nothing of the refused requests was drawn


def test_units_must_match_and_only_holders_draw(world: World) -> None:
    lot = held_lot(world, quantity="10")
    wrong_unit = _drawing(world, {"lot": lot["id"], "quantity": "1", "unit": "ct"})
    assert wrong_unit.status_code == 422
    assert wrong_unit.json()["error"]["details"]["field"] == "materials.0.unit"
    not_held = _drawing(world, {"lot": lot["id"], "quantity": "1", "unit": "g"}, org=FACTORY_2)
    assert not_held.status_code == 404


@pytest.mark.parametrize(
    ("org", "role", "status"),
    [
        (BRAND, None, 403),
        (FACTORY_2, None, 404),
        (FACTORY, "reader", 403),
    ],
)
def test_only_the_assigned_factory_adds_materials(
    world: World, org: str, role: str | None, status: int
) -> None:
    product = create_product(world)
    lot = held_lot(world)
    response = world.http.post(
        f"/api/v1/products/{product['serial']}/materials",
        json={"materials": [{"lot": lot["id"], "quantity": "1", "unit": "g"}]},
        headers=world.headers(org, role),
    )
    assert response.status_code == status, response.text


def test_reads_do_not_wait_for_a_writer(world: World) -> None:
    """GET routes read a snapshot: a write transaction holding the write lock does not stop them."""
    serial = create_product(world)["serial"]
    assert world.runtime.sessions is not None
    sessions = world.runtime.sessions
    inside, leave = threading.Event(), threading.Event()
    released_by_timeout: list[bool] = []

    def hold_the_write_lock() -> None:
        with transaction(sessions) as session:
            session.execute(select(Product).where(Product.serial == serial).with_for_update())
            inside.set()
            released_by_timeout.append(not leave.wait(20))

    writer = threading.Thread(target=hold_the_write_lock)
    writer.start()
    try:
        assert inside.wait(20)
        response = world.http.get(f"/api/v1/products/{serial}", headers=world.headers(BRAND))
        assert writer.is_alive()  # answered while the writer still held the lock
    finally:
        leave.set()
        writer.join(30)
    assert response.status_code == 200 and response.json()["serial"] == serial
    assert released_by_timeout == [False]
