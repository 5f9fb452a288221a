"""Hostile and malformed input: every request gets a clear 4xx (or its answer), never a crash or
a 500, and nothing unrepresentable is stored."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.conftest import World
from tests.records.factories import (
    SUPPLIER,
    lot_body,
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
