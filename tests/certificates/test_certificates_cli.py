"""`hallmark certificates issue` (one product, and an order with its progress bar and the refused
products' reasons), `certificates document` and `certificates revoke` against a real Hallmark
over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hallmark.cli import app
from tests.certificates.builders import complete_product
from tests.conftest import World
from tests.records.factories import BRAND
from tests.serving import served_api


@pytest.fixture(scope="module")
def api_url(world: World) -> Iterator[str]:
    with served_api(world.runtime, log_level="warning") as url:
        yield url


def _run(world: World, api_url: str, *args: str) -> tuple[int, str]:
    key = world.keys[f"{BRAND}/brand"]
    result = CliRunner().invoke(app, [*args, "--api-url", api_url, "--api-key", key])
    return result.exit_code, result.output


def test_issue_one_then_save_and_revoke(world: World, api_url: str, tmp_path: Path) -> None:
    serial = complete_product(world)
    code, output = _run(world, api_url, "certificates", "issue", serial)
    assert code == 0, output
    assert f"for {serial}" in output
    number = output.split("issued certificate ")[1].split()[0]
    target = tmp_path / "cert.json"
    code, output = _run(world, api_url, "certificates", "document", number, "-o", str(target))
    assert code == 0, output
    document = json.loads(target.read_text())
    assert document["credentialSubject"]["certificateNumber"] == number
    assert "not anchored yet" in output
    code, output = _run(world, api_url, "certificates", "revoke", number, "--reason", "nope")
    assert code == 1  # a reason the ledger does not know: refused, nothing sent
    code, output = _run(world, api_url, "certificates", "issue", serial)
    assert code == 1 and "already certified" in output


def test_issue_an_order_reports_each_refused_product(
    world: World, api_url: str, tmp_path: Path
) -> None:
    serials = [complete_product(world) for _ in range(3)]
    order = tmp_path / "order.txt"
    order.write_text("\n".join([serials[0], "SN-MISSING-1", serials[1], serials[2], ""]))
    code, output = _run(
        world, api_url, "certificates", "issue", "--order", str(order), "--poll", "0.05"
    )
    assert code == 1, output
    assert "3 issued, 1 refused of 4" in output
    assert "row 2 SN-MISSING-1:" in output
