"""`hallmark import` and `hallmark product show` against a real Hallmark over HTTP (uvicorn on a
free loopback port, serving this module's world)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hallmark.cli import app
from tests.conftest import World
from tests.records.factories import (
    FACTORY,
    SUPPLIER,
    add_step,
    create_lot,
    create_product,
    held_lot,
    unique,
)
from tests.serving import served_api


@pytest.fixture(scope="module")
def api_url(world: World) -> Iterator[str]:
    with served_api(world.runtime, log_level="warning") as url:
        yield url


def _write_lots(path: Path, rows: int, bad: set[int]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lot_number", "material", "quantity", "unit", "origin.country"])
        for row in range(1, rows + 1):
            country = "XX" if row in bad else "ZA"
            writer.writerow([unique("CLI"), "gold", "10.5", "g", country])


def test_import_lots_in_chunks_with_an_error_report(
    world: World, api_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "lots.csv"
    _write_lots(source, rows=7, bad={2, 6})
    report = tmp_path / "errors.csv"
    result = CliRunner().invoke(
        app,
        [
            "import",
            "lots",
            str(source),
            "--api-url",
            api_url,
            "--chunk",
            "3",
            "--errors",
            str(report),
        ],
        env={"HALLMARK_API_KEY": world.keys[f"{SUPPLIER}/supplier"]},
    )
    assert result.exit_code == 1, result.output
    assert "5 of 7 lots imported, 2 rejected" in result.output
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["row"], r["field"]) for r in rows] == [
        ("2", "origin.country"),
        ("6", "origin.country"),
    ]
    assert "ISO 3166-1" in rows[0]["message"]
    # A re-run sends the same chunks with the same Idempotency-Keys: nothing is stored twice.
    listed = world.http.get("/api/v1/lots?limit=1000", headers=world.headers(SUPPLIER)).json()
    again = CliRunner().invoke(
        app,
        ["import", "lots", str(source), "--api-url", api_url, "--chunk", "3"],
        env={"HALLMARK_API_KEY": world.keys[f"{SUPPLIER}/supplier"]},
    )
    assert again.exit_code == 1
    after = world.http.get("/api/v1/lots?limit=1000", headers=world.headers(SUPPLIER)).json()
    assert after["count"] == listed["count"]


def _import_steps(source: Path, api_url: str, api_key: str) -> Result:
    return CliRunner().invoke(
        app, ["import", "steps", str(source), "--api-url", api_url, "--api-key", api_key]
    )


def _show_product(serial: str, api_url: str, api_key: str) -> Result:
    return CliRunner().invoke(
        app,
        ["product", "show", serial, "--api-url", api_url, "--api-key", api_key],
        env={"COLUMNS": "200"},
    )


def test_import_steps_all_good_exits_zero(world: World, api_url: str, tmp_path: Path) -> None:
    serial = create_product(world)["serial"]
    source = tmp_path / "steps.csv"
    source.write_text(
        "product_serial,kind,occurred_at,result\n"
        f"{serial},casting,2026-11-20T09:00:00+08:00,\n"
        f"{serial},qc_inspection,2026-11-20T10:00:00+08:00,pass\n"
    )
    result = _import_steps(source, api_url, world.keys[f"{FACTORY}/factory"])
    assert result.exit_code == 0, result.output
    assert "2 of 2 steps imported, 0 rejected" in result.output


def test_cli_failures_are_one_line(world: World, api_url: str, tmp_path: Path) -> None:
    source = tmp_path / "steps.csv"
    source.write_text("product_serial,kind\nX,casting\n")
    refused = _import_steps(source, api_url, world.keys[f"{SUPPLIER}/supplier"])
    assert refused.exit_code == 1
    assert "answered 403" in refused.output
    missing_key = CliRunner().invoke(
        app, ["import", "steps", str(source), "--api-url", api_url], env={"HALLMARK_API_KEY": ""}
    )
    assert missing_key.exit_code == 1
    assert "API key is required" in missing_key.output
    unreachable = CliRunner().invoke(
        app,
        ["product", "show", "X", "--api-url", "http://127.0.0.1:9", "--api-key", "hm_x_y"],
    )
    assert unreachable.exit_code == 1
    assert "unreachable" in unreachable.output


def test_product_show_prints_the_provenance(world: World, api_url: str) -> None:
    earlier = create_product(world)["serial"]
    source = create_lot(world, quantity="50")
    recycled = held_lot(
        world,
        quantity="40",
        recycled=True,
        recycled_from=[{"lot": source["id"]}, {"product": earlier}],
    )
    split = world.http.post(
        f"/api/v1/lots/{recycled['id']}/split",
        json={"children": [{"quantity": "20"}]},
        headers=world.headers(FACTORY),
    )
    split.raise_for_status()
    child = split.json()["data"][0]
    serial = create_product(
        world, org=FACTORY, materials=[{"lot": child["id"], "quantity": "5", "unit": "g"}]
    )["serial"]
    add_step(world, serial, "casting")
    result = _show_product(serial, api_url, world.keys[f"{FACTORY}/reader"])
    assert result.exit_code == 0, result.output
    assert serial in result.output
    assert "casting" in result.output
    assert "step chain intact" in result.output
    assert f"5 g from gold Au999.9 lot {child['lot_number']}" in result.output
    assert "split from" in result.output
    assert f"lot {recycled['lot_number']}" in result.output
    assert f"lot {source['lot_number']}" in result.output
    assert f"recycled from product {earlier}" in result.output
    unknown = _show_product("NOPE", api_url, world.keys[f"{FACTORY}/reader"])
    assert unknown.exit_code == 1
    assert "answered 404" in unknown.output


def test_product_show_prints_record_text_as_text(world: World, api_url: str) -> None:
    """Names, grades and origins are shown as written: never read as terminal markup."""
    lot = held_lot(
        world,
        grade="[red]18K[/red]",
        origin={"name": "[link=https://evil.example]Mine[/link]", "country": "ZA"},
    )
    serial = create_product(
        world,
        org=FACTORY,
        name="Ring [/]",
        materials=[{"lot": lot["id"], "quantity": "5", "unit": "g"}],
    )["serial"]
    result = _show_product(serial, api_url, world.keys[f"{FACTORY}/reader"])
    assert result.exit_code == 0, result.output
    assert "Ring [/]" in result.output
    assert "[red]18K[/red]" in result.output
    assert "[link=https://evil.example]Mine[/link]" in result.output


def test_terminal_escapes_in_record_text_are_shown_escaped() -> None:
    from hallmark.cli.products import visible

    assert visible("Ring\x1b[31m red\u202e\u200b") == "Ring\\x1b[31m red\\u202e\\u200b"
    assert visible("Bague Étoile 星") == "Bague Étoile 星"
