"""The authorisation matrix: every API role against every records endpoint, on own and foreign
objects. 2xx where allowed, 403 for a role that may never do it, 404 where the object is not the
caller's to see (existence never leaks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import World
from tests.records.factories import (
    BRAND,
    BRAND_2,
    FACTORY,
    FACTORY_2,
    LEGAL,
    SUPPLIER,
    SUPPLIER_2,
    add_step,
    create_lot,
    create_product,
    lot_body,
    product_body,
    step_body,
    unique,
)

#: Callers: (organisation, role). Own objects belong to SUPPLIER (lot), BRAND and FACTORY.
ACTORS: dict[str, tuple[str, str]] = {
    "supplier": (SUPPLIER, "supplier"),
    "supplier_reader": (SUPPLIER, "reader"),
    "other_supplier": (SUPPLIER_2, "supplier"),
    "factory": (FACTORY, "factory"),
    "factory_reader": (FACTORY, "reader"),
    "other_factory": (FACTORY_2, "factory"),
    "brand": (BRAND, "brand"),
    "brand_reader": (BRAND, "reader"),
    "other_brand": (BRAND_2, "brand"),
    "legal": (LEGAL, "legal"),
    "legal_reader": (LEGAL, "reader"),
}


@dataclass
class Objects:
    lot: dict[str, Any]
    held_lot: dict[str, Any]  # owned by SUPPLIER, held by FACTORY
    product: dict[str, Any]
    step: dict[str, Any]


def _objects(world: World) -> Objects:
    lot = create_lot(world)
    held = create_lot(world)
    world.http.post(
        f"/api/v1/lots/{held['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY].id},
        headers=world.headers(SUPPLIER),
    ).raise_for_status()
    product = create_product(world)
    step = add_step(world, product["serial"], "casting")
    return Objects(lot=lot, held_lot=held, product=product, step=step)


def _supplier_or_holder_lot(world: World, o: Objects, actor: str) -> dict[str, Any]:
    return o.held_lot if actor.startswith("factory") else o.lot


ENDPOINTS: dict[str, Callable[[World, Objects, str], tuple[str, str, Any]]] = {
    "create lot": lambda w, o, a: ("POST", "/api/v1/lots", lot_body()),
    "lots batch": lambda w, o, a: ("POST", "/api/v1/lots/batch", [lot_body()]),
    "list lots": lambda w, o, a: ("GET", "/api/v1/lots", None),
    "get lot": lambda w, o, a: ("GET", f"/api/v1/lots/{o.lot['id']}", None),
    "get held lot": lambda w, o, a: ("GET", f"/api/v1/lots/{o.held_lot['id']}", None),
    "split lot": lambda w, o, a: (
        "POST",
        f"/api/v1/lots/{_supplier_or_holder_lot(w, o, a)['id']}/split",
        {"children": [{"quantity": "1"}]},
    ),
    "transfer lot": lambda w, o, a: (
        "POST",
        f"/api/v1/lots/{_supplier_or_holder_lot(w, o, a)['id']}/transfer",
        {"to_organisation": w.organisations[BRAND].id},
    ),
    "correct lot": lambda w, o, a: (
        "POST",
        f"/api/v1/lots/{_supplier_or_holder_lot(w, o, a)['id']}/corrections",
        lot_body(lot_number=_supplier_or_holder_lot(w, o, a)["lot_number"]),
    ),
    "create product": lambda w, o, a: (
        "POST",
        "/api/v1/products",
        product_body(w, FACTORY, serial=unique("SN"))
        if not a.startswith(("factory", "other_factory"))
        else {"serial": unique("SN"), "name": "x", "category": "ring"},
    ),
    "products batch": lambda w, o, a: (
        "POST",
        "/api/v1/products/batch",
        [{"serial": unique("SN"), "name": "x", "category": "ring"}]
        if a.startswith(("factory", "other_factory"))
        else [product_body(w, FACTORY)],
    ),
    "list products": lambda w, o, a: ("GET", "/api/v1/products", None),
    "get product": lambda w, o, a: ("GET", f"/api/v1/products/{o.product['serial']}", None),
    "add materials": lambda w, o, a: (
        "POST",
        f"/api/v1/products/{o.product['serial']}/materials",
        {"materials": [{"lot": o.held_lot["id"], "quantity": "1", "unit": "g"}]},
    ),
    "list steps": lambda w, o, a: ("GET", f"/api/v1/products/{o.product['serial']}/steps", None),
    "chain": lambda w, o, a: ("GET", f"/api/v1/products/{o.product['serial']}/chain", None),
    "provenance": lambda w, o, a: (
        "GET",
        f"/api/v1/products/{o.product['serial']}/provenance",
        None,
    ),
    "epcis": lambda w, o, a: ("GET", f"/api/v1/products/{o.product['serial']}/epcis", None),
    "create step": lambda w, o, a: ("POST", "/api/v1/steps", step_body(o.product["serial"])),
    "steps batch": lambda w, o, a: (
        "POST",
        "/api/v1/steps/batch",
        [step_body(o.product["serial"])],
    ),
    "get step": lambda w, o, a: ("GET", f"/api/v1/steps/{o.step['id']}", None),
    "correct step": lambda w, o, a: (
        "POST",
        f"/api/v1/steps/{o.step['id']}/corrections",
        {"kind": "casting", "occurred_at": "2026-11-20T10:00:00Z"},
    ),
}

OK, FORBIDDEN, MISSING = "ok", 403, 404

#: Expected outcome per endpoint and caller (absent: the default of the row).
MATRIX: dict[str, dict[str, int | str]] = {
    "create lot": {"supplier": OK, "other_supplier": OK, "*": FORBIDDEN},
    "lots batch": {"supplier": OK, "other_supplier": OK, "*": FORBIDDEN},
    "list lots": {"*": OK},
    "get lot": {"supplier": OK, "supplier_reader": OK, "*": MISSING},
    "get held lot": {
        "supplier": OK,
        "supplier_reader": OK,
        "factory": OK,
        "factory_reader": OK,
        "*": MISSING,
    },
    "split lot": {
        "supplier": OK,
        "factory": OK,
        "supplier_reader": FORBIDDEN,
        "factory_reader": FORBIDDEN,
        "brand_reader": FORBIDDEN,
        "legal": FORBIDDEN,
        "legal_reader": FORBIDDEN,
        "*": MISSING,
    },
    "transfer lot": {
        "supplier": OK,
        "factory": OK,
        "supplier_reader": FORBIDDEN,
        "factory_reader": FORBIDDEN,
        "brand_reader": FORBIDDEN,
        "legal": FORBIDDEN,
        "legal_reader": FORBIDDEN,
        "*": MISSING,
    },
    "correct lot": {"supplier": OK, "other_supplier": MISSING, "*": FORBIDDEN},
    "create product": {
        "brand": OK,
        "other_brand": OK,
        "factory": OK,
        "other_factory": OK,
        "*": FORBIDDEN,
    },
    "products batch": {
        "brand": OK,
        "other_brand": OK,
        "factory": OK,
        "other_factory": OK,
        "*": FORBIDDEN,
    },
    "list products": {"*": OK},
    "get product": {
        "brand": OK,
        "brand_reader": OK,
        "factory": OK,
        "factory_reader": OK,
        "*": MISSING,
    },
    "add materials": {"factory": OK, "other_factory": MISSING, "*": FORBIDDEN},
    "create step": {"factory": OK, "other_factory": MISSING, "*": FORBIDDEN},
    "steps batch": {"factory": OK, "other_factory": "rejected", "*": FORBIDDEN},
    "correct step": {"factory": OK, "other_factory": MISSING, "*": FORBIDDEN},
}
for _name in ("list steps", "chain", "provenance", "epcis", "get step"):
    MATRIX[_name] = MATRIX["get product"]


def expected(endpoint: str, actor: str) -> int | str:
    row = MATRIX[endpoint]
    return row.get(actor, row["*"])


CASES = [(e, a) for e in ENDPOINTS for a in ACTORS]


READS = frozenset(
    {
        "list lots",
        "get lot",
        "get held lot",
        "list products",
        "get product",
        "list steps",
        "chain",
        "provenance",
        "epcis",
        "get step",
    }
)


@pytest.fixture(scope="module")
def shared_objects(world: World) -> Objects:
    """Objects for the read-only endpoints (nothing changes them)."""
    return _objects(world)


@pytest.mark.parametrize(("endpoint", "actor"), CASES, ids=[f"{e}-{a}" for e, a in CASES])
def test_authorisation_matrix(
    world: World, shared_objects: Objects, endpoint: str, actor: str
) -> None:
    objects = shared_objects if endpoint in READS else _objects(world)
    org, role = ACTORS[actor]
    method, path, body = ENDPOINTS[endpoint](world, objects, actor)
    response = world.http.request(method, path, json=body, headers=world.headers(org, role))
    want = expected(endpoint, actor)
    if want == OK:
        assert 200 <= response.status_code < 300, response.text
    elif want == "rejected":  # a batch names a foreign product: that row is "not found"
        assert response.status_code == 422, response.text
        row = response.json()["error"]["details"]["rows"][0]
        assert row["errors"][0]["type"] == "not_found"
    else:
        assert response.status_code == want, response.text
        code = {403: "forbidden", 404: "not_found"}[int(want)]
        assert response.json()["error"]["code"] == code
