"""Plain factory functions for records tests (through the HTTP API)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import World

SUPPLIER = "Lotus Gold Refinery"
SUPPLIER_2 = "Cape Diamonds"
BRAND = "Maison Lune"
BRAND_2 = "Atelier Rivoli"
FACTORY = "Shenzhen Atelier"
FACTORY_2 = "Antwerp Setters"
LEGAL = "Lune Legal"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def lot_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lot_number": unique("LOT"),
        "material": "gold",
        "grade": "Au999.9",
        "quantity": "100.000",
        "unit": "g",
        "origin": {
            "name": "Witwatersrand",
            "country": "ZA",
            "latitude": "-26.2",
            "longitude": "28.04",
        },
        "certificates": [{"kind": "assay_report", "number": "AR-1"}],
        "carbon_kg_co2e": "50.0",
        "ethics": {"conflict_free": True, "fair_trade": {"attested": False}},
    }
    body.update(overrides)
    return body


def create_lot(world: World, org: str = SUPPLIER, **overrides: Any) -> dict[str, Any]:
    response = world.http.post(
        "/api/v1/lots", json=lot_body(**overrides), headers=world.headers(org)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def held_lot(
    world: World, org: str = SUPPLIER, factory: str = FACTORY, **overrides: Any
) -> dict[str, Any]:
    """A supplier's lot, handed to a factory (its custodian from then on)."""
    lot = create_lot(world, org=org, **overrides)
    world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[factory].id},
        headers=world.headers(org),
    ).raise_for_status()
    return lot


def product_body(world: World, factory: str = FACTORY, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serial": unique("SN"),
        "name": "Lune ring",
        "category": "ring",
        "assigned_factory": world.organisations[factory].id,
    }
    body.update(overrides)
    return body


def create_product(
    world: World, org: str = BRAND, factory: str = FACTORY, **overrides: Any
) -> dict[str, Any]:
    body = product_body(world, factory, **overrides)
    if world.organisations[org].kind == "factory":
        body.pop("assigned_factory", None)
    response = world.http.post("/api/v1/products", json=body, headers=world.headers(org))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def step_body(serial: str, kind: str = "polishing", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_serial": serial,
        "kind": kind,
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "parameters": {"compound": "rouge", "speed_rpm": 3000},
    }
    if kind == "qc_inspection":
        body["result"] = "pass"
    body.update(overrides)
    return body


def add_step(
    world: World, serial: str, kind: str = "polishing", org: str = FACTORY, **overrides: Any
) -> dict[str, Any]:
    response = world.http.post(
        "/api/v1/steps", json=step_body(serial, kind, **overrides), headers=world.headers(org)
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result
