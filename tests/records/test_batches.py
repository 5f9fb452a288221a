"""Batch endpoints: JSON and CSV, all-or-nothing and per row, idempotent replays, size limits."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from hallmark.store.models import AnchorQueueEntry, MaterialLot, ProductionStep, Record
from tests.conftest import World
from tests.records.factories import (
    BRAND,
    FACTORY,
    SUPPLIER,
    create_lot,
    create_product,
    lot_body,
    step_body,
    unique,
)


def _count(world: World, model: type) -> int:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _counts(world: World) -> tuple[int, ...]:
    return tuple(_count(world, m) for m in (Record, AnchorQueueEntry, MaterialLot, ProductionStep))


def test_json_lot_batch_all_or_nothing_stores_nothing_of_a_bad_batch(world: World) -> None:
    rows = [lot_body(), lot_body(quantity="-3"), lot_body(), lot_body(origin={"country": "QQ"})]
    before = _counts(world)
    response = world.http.post("/api/v1/lots/batch", json=rows, headers=world.headers(SUPPLIER))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "batch_rejected"
    failing = error["details"]["rows"]
    assert [r["row"] for r in failing] == [2, 4]
    assert failing[0]["errors"][0]["field"] == "quantity"
    assert failing[1]["errors"][0]["field"] == "origin.country"
    assert _counts(world) == before


def test_json_lot_batch_per_row_stores_the_good_rows(world: World) -> None:
    number = unique("B")
    rows = [lot_body(lot_number=number), lot_body(lot_number=number), {"material": "gold"}]
    before = _count(world, MaterialLot)
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row", json=rows, headers=world.headers(SUPPLIER)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["rejected"]) == (1, 2)
    first, duplicate, incomplete = body["results"]
    assert first["status"] == "created" and first["record_hash"].startswith("0x")
    assert duplicate["status"] == "rejected"
    assert duplicate["errors"] == [
        {"field": "lot_number", "message": duplicate["errors"][0]["message"], "type": "conflict"}
    ]
    assert {e["field"] for e in incomplete["errors"]} >= {"lot_number", "quantity", "unit"}
    assert _count(world, MaterialLot) == before + 1
    got = world.http.get(f"/api/v1/lots/{first['id']}", headers=world.headers(SUPPLIER))
    assert got.status_code == 200


LOTS_CSV = (
    "lot_number,material,grade,quantity,unit,origin.name,origin.country,origin.latitude,"
    "origin.longitude,certificates,ethics.conflict_free,extra.batch,private.price\n"
    "{n1},gold,Au999.9,250.000,g,Witwatersrand,ZA,-26.2,28.04,"
    '"[{{""kind"": ""assay_report"", ""number"": ""AR-9""}}]",true,7,61.2\n'
    "{n2},platinum,Pt950,100,g,Bushveld,XX,,,,,,\n"
    '{n3},diamond,1.02 ct F VS1,1.02,ct,Jwaneng,BW,,,"[not json",,,\n'
    "{n4},silver,925,500,g,Potosi,BO,,,,false,,\n"
)


def test_csv_lot_batch_per_row_reports_cells_and_fields(world: World) -> None:
    numbers = [unique("CSV") for _ in range(4)]
    text = LOTS_CSV.format(n1=numbers[0], n2=numbers[1], n3=numbers[2], n4=numbers[3])
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row",
        content=text.encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "created"]
    assert results[1]["errors"][0]["field"] == "origin.country"
    assert results[2]["errors"][0]["field"] == "certificates"
    assert results[2]["errors"][0]["type"] == "json_invalid"
    lot = world.http.get(f"/api/v1/lots/{results[0]['id']}", headers=world.headers(SUPPLIER)).json()
    assert lot["quantity"] == "250.000"
    assert lot["extra"] == {"batch": 7}
    assert lot["private"] == {"price": 61.2}
    assert lot["ethics"]["conflict_free"] == {"attested": True, "evidence": None}
    assert lot["certificates"] == [{"kind": "assay_report", "number": "AR-9", "document": None}]


def test_csv_all_or_nothing_rejects_and_stores_nothing(world: World) -> None:
    numbers = [unique("CSV") for _ in range(4)]
    text = LOTS_CSV.format(n1=numbers[0], n2=numbers[1], n3=numbers[2], n4=numbers[3])
    before = _counts(world)
    response = world.http.post(
        "/api/v1/lots/batch",
        content=text.encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 422
    assert [r["row"] for r in response.json()["error"]["details"]["rows"]] == [2, 3]
    assert _counts(world) == before


def test_csv_upload_as_multipart(world: World) -> None:
    text = f"lot_number,material,quantity,unit,origin.country\n{unique('MP')},silver,10,g,PE\n"
    response = world.http.post(
        "/api/v1/lots/batch",
        files={"file": ("lots.csv", text.encode(), "text/csv")},
        headers=world.headers(SUPPLIER),
    )
    assert response.status_code == 201, response.text
    assert response.json()["created"] == 1


def test_product_batch_with_dotted_materials_columns(world: World) -> None:
    lot = create_lot(world, quantity="10")
    world.http.post(
        f"/api/v1/lots/{lot['id']}/transfer",
        json={"to_organisation": world.organisations[FACTORY].id},
        headers=world.headers(SUPPLIER),
    ).raise_for_status()
    s1, s2 = unique("SN"), unique("SN")
    text = (
        "serial,name,category,edition.series,edition.number,edition.size,"
        "materials.0.lot,materials.0.quantity,materials.0.unit\n"
        f"{s1},Ring,ring,Nova,1,10,{lot['id']},6,g\n"
        f"{s2},Ring,ring,Nova,2,10,{lot['id']},6,g\n"
    )
    response = world.http.post(
        "/api/v1/products/batch?mode=per_row",
        content=text.encode(),
        headers=world.headers(FACTORY, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == "created"
    assert second["errors"][0]["type"] == "mass_balance_exceeded"
    assert second["errors"][0]["field"] == "materials.0.quantity"


def test_step_batch_chains_many_steps_per_product(world: World) -> None:
    serials = [create_product(world)["serial"] for _ in range(3)]
    rows = [step_body(serials[i % 3], "polishing") for i in range(30)]
    rows.append(step_body(serials[0], "shipping"))  # no passing QC: refused
    rows.append(step_body("NOPE", "polishing"))
    response = world.http.post(
        "/api/v1/steps/batch?mode=per_row", json=rows, headers=world.headers(FACTORY)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 30
    assert body["results"][30]["errors"][0]["type"] == "step_order"
    assert body["results"][31]["errors"][0] == {
        "field": "product_serial",
        "message": "product NOPE not found",
        "type": "not_found",
    }
    for serial in serials:
        chain = world.http.get(
            f"/api/v1/products/{serial}/chain", headers=world.headers(BRAND)
        ).json()
        assert chain == {"intact": True, "steps_checked": 10, "first_broken": None}
    steps = world.http.get(
        f"/api/v1/products/{serials[1]}/steps", headers=world.headers(FACTORY)
    ).json()["data"]
    assert [s["sequence"] for s in steps] == list(range(1, 11))
    for previous, current in itertools.pairwise(steps):
        assert current["previous_step"] == previous["record"]["record_hash"]


def test_step_batch_csv_with_json_and_dotted_cells(world: World) -> None:
    serial = create_product(world)["serial"]
    text = (
        "product_serial,kind,occurred_at,result,parameters.layer_height_mm,measurements,responsible\n"
        f'{serial},wax_3d_print,2026-11-20T09:00:00+08:00,,0.025,"{{""mass_g"": ""3.2""}}",emp-1\n'
        f"{serial},qc_inspection,2026-11-20T10:00:00+08:00,pass,,,emp-2\n"
    )
    response = world.http.post(
        "/api/v1/steps/batch",
        content=text.encode(),
        headers=world.headers(FACTORY, **{"Content-Type": "text/csv; charset=utf-8"}),
    )
    assert response.status_code == 201, response.text
    steps = world.http.get(
        f"/api/v1/products/{serial}/steps", headers=world.headers(FACTORY)
    ).json()
    first = steps["data"][0]
    assert first["parameters"] == {"layer_height_mm": 0.025}
    assert first["measurements"] == {"mass_g": "3.2"}
    assert steps["data"][1]["result"] == "pass"


def test_idempotent_replay_returns_the_first_answer_once(world: World) -> None:
    body = lot_body()
    key = unique("idem")
    headers = world.headers(SUPPLIER, **{"Idempotency-Key": key})
    before = _count(world, MaterialLot)
    first = world.http.post("/api/v1/lots", json=body, headers=headers)
    second = world.http.post("/api/v1/lots", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert _count(world, MaterialLot) == before + 1
    other = world.http.post("/api/v1/lots", json=lot_body(), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_idempotent_batch_replay(world: World) -> None:
    serial = create_product(world)["serial"]
    rows = json.dumps([step_body(serial) for _ in range(5)]).encode()
    headers = world.headers(
        FACTORY, **{"Idempotency-Key": unique("idem"), "Content-Type": "application/json"}
    )
    first = world.http.post("/api/v1/steps/batch", content=rows, headers=headers)
    second = world.http.post("/api/v1/steps/batch", content=rows, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    steps = world.http.get(f"/api/v1/products/{serial}/steps", headers=world.headers(FACTORY))
    assert steps.json()["count"] == 5


@pytest.fixture
def small_limits(world: World) -> Iterator[None]:
    settings = world.runtime.settings
    saved = settings.batch_max_bytes, settings.batch_max_rows
    settings.batch_max_bytes, settings.batch_max_rows = 4096, 3
    yield
    settings.batch_max_bytes, settings.batch_max_rows = saved


@pytest.mark.usefixtures("small_limits")
def test_oversize_batches_are_413(world: World) -> None:
    big = world.http.post(
        "/api/v1/lots/batch",
        content=b"[" + b" " * 5000 + b"]",
        headers=world.headers(SUPPLIER, **{"Content-Type": "application/json"}),
    )
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "payload_too_large"
    anonymous = world.http.post(
        "/api/v1/lots/batch",
        content=b"[" + b" " * 5000 + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert anonymous.status_code == 401  # the caller is checked before the body is read
    rows = world.http.post(
        "/api/v1/lots/batch", json=[{}, {}, {}, {}], headers=world.headers(SUPPLIER)
    )
    assert rows.status_code == 413
    assert rows.json()["error"]["details"] == {"rows": 4, "max_rows": 3}
    csv_rows = world.http.post(
        "/api/v1/lots/batch",
        content=b"lot_number\na\nb\nc\nd\n",
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert csv_rows.status_code == 413


def test_a_batch_is_a_json_array_or_csv(world: World) -> None:
    not_array = world.http.post(
        "/api/v1/lots/batch", json={"lot_number": "x"}, headers=world.headers(SUPPLIER)
    )
    assert not_array.status_code == 422
    assert not_array.json()["error"]["details"]["field"] == "body"
    garbage = world.http.post(
        "/api/v1/lots/batch",
        content=b"{nope",
        headers=world.headers(SUPPLIER, **{"Content-Type": "application/json"}),
    )
    assert garbage.status_code == 422


def test_openapi_documents_the_batch_bodies(world: World) -> None:
    spec = world.http.get("/openapi.json").json()
    batch = spec["paths"]["/api/v1/steps/batch"]["post"]
    content = batch["requestBody"]["content"]
    assert set(content) == {"application/json", "text/csv", "multipart/form-data"}
    assert content["application/json"]["schema"]["items"]["$ref"].endswith("/StepCreate")
    assert batch["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/BatchResult"
    )
    lots = spec["paths"]["/api/v1/lots"]
    assert lots["post"]["description"].startswith("Create a material lot")
    assert lots["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/LotsPublic")
