"""`hallmark certificates issue` (one product, and an order with its progress bar and the refused
products' reasons), `certificates document` and `certificates revoke` against a real Hallmark
over HTTP."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hallmark.cli import app
from hallmark.cli import certificates as certificates_cli
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


def test_issue_an_order_shows_its_progress_bar(
    world: World, api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the order's progress is a bar counting processed products up to all of
    them, then gone; then the counts, the refused rows with their reasons, and exit 1."""
    serials = [complete_product(world) for _ in range(4)]
    order = tmp_path / "order.txt"
    order.write_text("\n".join([serials[0], serials[1], "SN-MISSING-2", serials[2], serials[3]]))
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100, color_system=None)
    monkeypatch.setattr(certificates_cli, "out", terminal)
    code, _ = _run(world, api_url, "certificates", "issue", "--order", str(order), "--poll", "0.05")
    shown = screen.getvalue()
    assert code == 1, shown
    # Each redraw erases the line and draws "issuing <bar> done/total <time left>".
    summary = shown.index("4 issued, 1 refused of 5")
    erased = shown.rindex("\x1b[1A", 0, summary)  # the cursor goes up: the bar is erased
    bar_area = re.sub(r"\x1b\[\??[0-9;]*[hl]", "", shown[:erased])  # cursor hidden, shown
    frames = [
        re.fullmatch(r"issuing ([━╸╺ ]+) (\d+)/(\d+) \S+", frame.strip())
        for frame in bar_area.split("\x1b[2K")[1:]
    ]
    assert frames and all(frames), shown  # only the bar was drawn before the result
    drawn = [(m.group(1).count("━"), int(m.group(2)), int(m.group(3))) for m in frames if m]
    assert all(total == 5 for _, _, total in drawn), drawn
    assert [done for _, done, _ in drawn] == sorted(done for _, done, _ in drawn), drawn
    assert [full for full, _, _ in drawn] == sorted(full for full, _, _ in drawn), drawn
    assert all(full == 0 for full, done, _ in drawn if done == 0), drawn
    assert drawn[-1][1] == 5 and drawn[-1][0] == 40, drawn  # every product, a full bar
    # Then the bar is gone (transient) and the result follows, with each refused row's reason.
    assert "issuing" not in shown[summary:]
    assert "row 3 SN-MISSING-2:" in shown[summary:] and "not found" in shown[summary:].lower()
    # Piped (not a terminal), no bar is drawn: only the result.
    code, piped = _run(
        world, api_url, "certificates", "issue", "--order", str(order), "--poll", "0.05"
    )
    assert code == 1 and "━" not in piped and "issuing" not in piped
