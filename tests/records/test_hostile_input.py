"""Hostile and malformed input: every request gets a clear 4xx (or its answer), never a crash or
a 500, and nothing unrepresentable is stored."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from hallmark.store.records import MAX_RECORD_BYTES
from tests.conftest import World
from tests.records.factories import (
    FACTORY,
    SUPPLIER,
    create_lot,
    create_product,
    lot_body,
    step_body,
    unique,
)

DEPTH = 100_000


def _deep(depth: int = DEPTH) -> bytes:
    return b'{"children": ' + b"[" * depth + b"]" * depth + b"}"


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def test_importing_hallmark_leaves_the_recursion_limit_alone() -> None:
    import eth_account  # noqa: F401  (py_ecc raises the limit at its first import)

    assert sys.getrecursionlimit() <= 10_000


@pytest.mark.parametrize(
    "path", ["/api/v1/lots/x/split", "/api/v1/steps/x/corrections", "/api/v1/lots/x/transfer"]
)
def test_a_deep_body_without_a_key_is_refused_unread(world: World, path: str) -> None:
    response = world.http.post(path, content=_deep(), headers={"Content-Type": "application/json"})
    assert _error(response, 401)["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/lots/x/split",
        "/api/v1/lots/x/corrections",
        "/api/v1/steps/x/corrections",
        "/api/v1/products/x/materials",
        "/api/v1/lots/batch",
        "/api/v1/lots",
    ],
)
def test_a_deep_body_with_a_key_is_a_clear_422(world: World, path: str) -> None:
    response = world.http.post(
        path,
        content=_deep(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "application/json"}),
    )
    error = _error(response, 422)
    assert "nest" in response.text or "recursion" in response.text, error
    assert world.http.get("/healthz").status_code == 200


def test_a_deep_batch_row_and_csv_cell_are_row_errors(world: World) -> None:
    row = lot_body()
    body = b"[" + (str(row).replace("'", '"').replace("True", "true").encode()) + b","
    body += b'{"extra": ' + _deep(5_000) + b"}]"
    response = world.http.post(
        "/api/v1/lots/batch",
        content=body,
        headers=world.headers(SUPPLIER, **{"Content-Type": "application/json"}),
    )
    _error(response, 422)
    deep_cell = '"{""v"": ' + "[" * 5000 + "]" * 5000 + '}"'
    csv = "lot_number,material,quantity,unit,origin.country,extra\n"
    csv += f"{unique('L')},gold,1,g,ZA,{deep_cell}\n"
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row",
        content=csv.encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 1


def _lot(world: World, **overrides: Any) -> Any:
    return world.http.post(
        "/api/v1/lots", json=lot_body(**overrides), headers=world.headers(SUPPLIER)
    )


def _count_lots(world: World) -> int:
    response = world.http.get("/api/v1/lots?limit=1", headers=world.headers(SUPPLIER))
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


@pytest.mark.parametrize(
    "number",
    [b"1e20", b"100000000000000000000", b"-1e17", b"9007199254740992", b"1e400", b"-1e400"],
)
def test_numbers_that_cannot_be_represented_are_refused_at_the_door(
    world: World, number: bytes
) -> None:
    before = _count_lots(world)
    body = orjson_body(lot_body(), extra=b'{"v": ' + number + b"}")
    response = world.http.post(
        "/api/v1/lots",
        content=body,
        headers=world.headers(SUPPLIER, **{"Content-Type": "application/json"}),
    )
    error = _error(response, 422)
    assert "extra" in str(error["details"])
    assert _count_lots(world) == before


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(world: World, literal: bytes) -> None:
    serial = create_product(world, org=FACTORY)["serial"]
    body = orjson_body(step_body(serial), parameters=b'{"x": ' + literal + b"}")
    response = world.http.post(
        "/api/v1/steps",
        content=body,
        headers=world.headers(FACTORY, **{"Content-Type": "application/json"}),
    )
    _error(response, 422)


def orjson_body(body: dict[str, Any], **raw: bytes) -> bytes:
    """`body` as JSON with some members' values given as raw JSON text."""
    import orjson

    text = orjson.dumps({k: v for k, v in body.items() if k not in raw})
    members = b"".join(b', "' + k.encode() + b'": ' + v for k, v in raw.items())
    return text[:-1] + members + b"}"


def test_a_large_but_safe_float_is_answered_everywhere(world: World) -> None:
    lot = create_lot(world, extra={"v": 1e15, "w": 9007199254740991, "x": 1.5e-300})
    assert lot["extra"] == {"v": 1e15, "w": 9007199254740991, "x": 1.5e-300}
    for path in (f"/api/v1/lots/{lot['id']}", "/api/v1/lots", f"/api/v1/records/{lot['id']}"):
        assert world.http.get(path, headers=world.headers(SUPPLIER)).status_code == 200


def test_csv_nan_cell_is_text_and_per_row_keeps_good_rows(world: World) -> None:
    good, nan, inf = unique("L"), unique("L"), unique("L")
    csv = "lot_number,material,quantity,unit,origin.country,extra.v\n"
    csv += f"{good},gold,1,g,ZA,12\n{nan},gold,1,g,ZA,NaN\n{inf},gold,1,g,ZA,1e400\n"
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row",
        content=csv.encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "rejected"]
    nan_lot = world.http.get(f"/api/v1/lots/{results[1]['id']}", headers=world.headers(SUPPLIER))
    assert nan_lot.json()["extra"] == {"v": "NaN"}


@pytest.mark.parametrize("field", ["number", "size"])
def test_huge_edition_numbers_are_422(world: World, field: str) -> None:
    edition = {"series": "S", "number": 1, "size": 10, field: 2**53}
    response = world.http.post(
        "/api/v1/products",
        json={"serial": unique("SN"), "name": "R", "category": "ring", "edition": edition},
        headers=world.headers(FACTORY),
    )
    _error(response, 422)


@pytest.mark.parametrize("path", ["/api/v1/lots", "/api/v1/products"])
def test_a_skip_beyond_any_list_is_422(world: World, path: str) -> None:
    response = world.http.get(f"{path}?skip=9223372036854775808", headers=world.headers(SUPPLIER))
    _error(response, 422)
    response = world.http.get(f"{path}?skip=1000000000", headers=world.headers(SUPPLIER))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", 1764000000, "1764000000"],
)
def test_step_times_out_of_range_or_not_rfc3339_are_422(world: World, occurred_at: Any) -> None:
    serial = create_product(world, org=FACTORY)["serial"]
    response = world.http.post(
        "/api/v1/steps",
        json=step_body(serial, occurred_at=occurred_at),
        headers=world.headers(FACTORY),
    )
    assert "occurred_at" in str(_error(response, 422)["details"])


def test_a_free_form_object_over_its_limit_is_422(world: World) -> None:
    before = _count_lots(world)
    response = _lot(world, extra={"blob": "x" * (300 * 1024)})
    error = _error(response, 422)
    assert "extra" in str(error["details"])
    assert _count_lots(world) == before


def _refining(chars: int) -> list[dict[str, Any]]:
    """100 refining passes (the most a lot holds) with `chars` three-byte characters of notes
    each: every field within its own limit, the record as large as wanted."""
    return [{"process": "refining", "notes": "金" * chars} for _ in range(100)]


#: Notes that make a lot's record larger than MAX_RECORD_BYTES (100 x 3 x 900 bytes).
TOO_LARGE = 900


def test_a_record_just_under_the_limit_is_stored(world: World) -> None:
    lot = create_lot(world, refining=_refining(800))
    record = world.http.get(f"/api/v1/records/{lot['id']}", headers=world.headers(SUPPLIER))
    size = len(record.json()["canonical"].encode())
    assert 200 * 1024 < size <= MAX_RECORD_BYTES


def test_a_single_record_over_the_size_limit_is_413_with_the_limit(world: World) -> None:
    before = _count_lots(world)
    error = _error(_lot(world, refining=_refining(TOO_LARGE)), 413)
    assert error["code"] == "record_too_large"
    assert error["details"]["limit"] == MAX_RECORD_BYTES
    assert error["details"]["size"] > MAX_RECORD_BYTES
    assert _count_lots(world) == before


def test_an_oversize_batch_row_is_a_row_error(world: World) -> None:
    before = _count_lots(world)
    rows = [lot_body(), lot_body(refining=_refining(TOO_LARGE))]
    response = world.http.post("/api/v1/lots/batch", json=rows, headers=world.headers(SUPPLIER))
    error = _error(response, 422)
    (bad,) = error["details"]["rows"]
    assert bad["row"] == 2 and bad["errors"][0]["type"] == "record_too_large"
    assert str(MAX_RECORD_BYTES) in bad["errors"][0]["message"]
    assert _count_lots(world) == before
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row", json=rows, headers=world.headers(SUPPLIER)
    )
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["created", "rejected"]
    assert _count_lots(world) == before + 1


def test_an_oversize_csv_row_is_a_row_error(world: World) -> None:
    import csv
    import io
    import json

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["lot_number", "material", "quantity", "unit", "origin.country", "refining"])
    writer.writerow([unique("L"), "gold", "1", "g", "ZA", "[]"])
    writer.writerow(
        [unique("L"), "gold", "1", "g", "ZA", json.dumps(_refining(TOO_LARGE), ensure_ascii=False)]
    )
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row",
        content=out.getvalue().encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected"]
    assert results[1]["errors"][0]["type"] == "record_too_large"


def test_an_oversize_correction_is_413_and_changes_nothing(world: World) -> None:
    lot = create_lot(world)
    body = lot_body(lot_number=lot["lot_number"], refining=_refining(TOO_LARGE))
    response = world.http.post(
        f"/api/v1/lots/{lot['id']}/corrections", json=body, headers=world.headers(SUPPLIER)
    )
    assert _error(response, 413)["details"]["limit"] == MAX_RECORD_BYTES
    after = world.http.get(f"/api/v1/lots/{lot['id']}", headers=world.headers(SUPPLIER)).json()
    assert after["record"]["record_hash"] == lot["record"]["record_hash"]
    assert len(after["history"]) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Ring\u202eevil",  # right-to-left override
        "Ring\u200bzero",  # zero-width space
        "Ring\u2066isolate",
        "Ring\x07bell",
        "Ring\x1b[31mred",
        "Ring\ufeff",
    ],
)
def test_control_bidi_and_zero_width_characters_are_refused_in_names(
    world: World, text: str
) -> None:
    response = world.http.post(
        "/api/v1/products",
        json={"serial": unique("SN"), "name": text, "category": "ring"},
        headers=world.headers(FACTORY),
    )
    assert "name" in str(_error(response, 422)["details"])
    response = _lot(world, certificates=[{"kind": "other", "number": text}])
    assert "number" in str(_error(response, 422)["details"])
    response = _lot(world, grade=text)
    assert "grade" in str(_error(response, 422)["details"])


def test_plain_unicode_names_are_kept() -> None:
    from hallmark.core.fields import plain_text

    assert plain_text("Bague Étoile 星") == "Bague Étoile 星"


@pytest.mark.parametrize(
    "quantity", ["\u0661\u0662", "\uff11\uff12", "12\u200b", " ", "", "1_000", "0x10"]
)
def test_quantities_are_ascii_decimals(world: World, quantity: str) -> None:
    response = _lot(world, quantity=quantity)
    assert "quantity" in str(_error(response, 422)["details"])


def test_duplicate_csv_columns_are_refused(world: World) -> None:
    csv = "lot_number,material,quantity,unit,origin.country,quantity\n"
    csv += f"{unique('L')},gold,1,g,ZA,2\n"
    response = world.http.post(
        "/api/v1/lots/batch?mode=per_row",
        content=csv.encode(),
        headers=world.headers(SUPPLIER, **{"Content-Type": "text/csv"}),
    )
    error = _error(response, 422)
    assert "quantity" in error["message"]


@pytest.mark.parametrize(
    "path", ["/api/v1/anchor-batches/864487493219", "/api/v1/anchor-batches/0"]
)
def test_a_batch_id_no_batch_can_have_is_422(world: World, path: str) -> None:
    _error(world.http.get(path, headers=world.headers(SUPPLIER)), 422)
