"""`hallmark designs register|import|search|show` from the shell, through a served Hallmark:
what each prints, and every refusal a non-zero exit with a one-line reason, nothing stored."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from hallmark.cli.app import app
from hallmark.core.ports import free_port
from tests.conftest import World
from tests.designs.corpus import draw_design, encode, image_variant
from tests.designs.test_registry import LEGAL, api_url, counts

__all__ = ["api_url"]  # a fixture, shared with the registry's tests


def _run(world: World, *args: str, key: str | None = "legal") -> Any:
    env = {"HALLMARK_API_KEY": world.keys[f"{LEGAL}/{key}"] if key else ""}
    return CliRunner().invoke(app, ["designs", *args], env=env)


def _reason(result: Any) -> str:
    """The one line of reason a refusal ends with."""
    [line] = [x for x in result.output.strip().splitlines() if x.startswith("error:")]
    assert result.output.strip().endswith(line)
    return line


def test_register_prints_the_registration_and_flags_a_near_copy(
    world: World, api_url: str, tmp_path: Path
) -> None:
    rgb = draw_design(661)
    original = tmp_path / "ring.png"
    original.write_bytes(encode(rgb))
    document = tmp_path / "confirmation.pdf"
    document.write_bytes(b"%PDF-1.4 signed copyright confirmation")
    first = _run(
        world,
        "register",
        str(original),
        "--title",
        "Ring",
        "--owner",
        "customer:1",
        "--designer",
        "A. Chen",
        "--authorization",
        "signed_confirmation",
        "--document",
        str(document),
        "--notes",
        "from the moon series",
        "--api-url",
        api_url,
    )
    assert first.exit_code == 0, first.output
    found = re.search(r"(D-\d{4}-[0-9A-Z]+) ([0-9a-f]{64}) committed", first.stdout)
    assert found is not None, first.stdout
    number = found.group(1)
    shown_out = _run(world, "show", number, "--api-url", api_url).stdout
    shown = json.loads(shown_out[shown_out.index("{") :])
    assert shown["authorization"] == "signed_confirmation"
    assert shown["designers"] == ["A. Chen"]

    copy = tmp_path / "rotated.png"
    copy.write_bytes(image_variant(rgb, "rotation", np.random.default_rng(3), 3))
    second = _run(
        world,
        "register",
        str(copy),
        "--title",
        "Copy",
        "--owner",
        "customer:2",
        "--parent",
        number,
        "--api-url",
        api_url,
    )
    assert second.exit_code == 0, second.output
    assert f"flagged for review: like {number}" in second.output
    assert "never a verdict" in second.output

    # The same file again: refused, naming the registration; nothing more stored.
    stored = counts(world)
    again = _run(
        world,
        "register",
        str(original),
        "--title",
        "Ring",
        "--owner",
        "customer:1",
        "--api-url",
        api_url,
    )
    assert again.exit_code == 1
    assert "design_already_registered" in _reason(again) and number in _reason(again)
    assert counts(world) == stored

    similar = _run(world, "search", str(copy), "--api-url", api_url)
    assert similar.exit_code == 0, similar.output
    assert "exact" in similar.output and f"flagged {number}" in similar.output
    unrelated = tmp_path / "other.png"
    unrelated.write_bytes(encode(draw_design(662)))
    nothing = _run(world, "search", str(unrelated), "--api-url", api_url)
    assert nothing.exit_code == 0 and "no registration found" in nothing.output


def test_refusals_exit_non_zero_with_one_line_and_store_nothing(
    world: World, api_url: str, tmp_path: Path
) -> None:
    picture = tmp_path / "ring.png"
    picture.write_bytes(encode(draw_design(663)))
    stored = counts(world)
    missing = tmp_path / "missing.png"
    base = ["--title", "Ring", "--owner", "customer:1", "--api-url", api_url]
    cases = {
        "no such file": _run(world, "register", str(missing), *base),
        "no such document": _run(
            world,
            "register",
            str(picture),
            *base,
            "--authorization",
            "signed_confirmation",
            "--document",
            str(missing),
        ),
        "no document for a signed confirmation": _run(
            world, "register", str(picture), *base, "--authorization", "signed_confirmation"
        ),
        "an unknown parent": _run(world, "register", str(picture), *base, "--parent", "D-2026-X"),
        "no API key": _run(world, "register", str(picture), *base, key=None),
        "a key that may not register": _run(world, "register", str(picture), *base, key="reader"),
        "nothing listening": _run(
            world,
            "register",
            str(picture),
            "--title",
            "Ring",
            "--owner",
            "customer:1",
            "--api-url",
            f"http://127.0.0.1:{free_port()}",
        ),
        "search without a file": _run(world, "search", str(missing), "--api-url", api_url),
        "import of a file": _run(
            world, "import", str(picture), "--owner", "o", "--api-url", api_url
        ),
    }
    (tmp_path / "empty").mkdir()
    cases["import of a folder without designs"] = _run(
        world, "import", str(tmp_path / "empty"), "--owner", "o", "--api-url", api_url
    )
    reasons = {}
    for what, result in cases.items():
        assert result.exit_code == 1, (what, result.output)
        reasons[what] = _reason(result)
    assert "is not a file" in reasons["no such file"]
    assert "missing.png is not a file" in reasons["no such document"]
    assert (
        "signed copyright confirmation needs the SHA-256"
        in reasons["no document for a signed confirmation"]
    )
    assert "D-2026-X" in reasons["an unknown parent"]
    assert "an API key is required" in reasons["no API key"]
    assert "answered 403" in reasons["a key that may not register"]
    assert "http://127.0.0.1:" in reasons["nothing listening"]
    assert "is not a directory" in reasons["import of a file"]
    assert "no design files" in reasons["import of a folder without designs"]
    assert counts(world) == stored


def test_import_sends_files_at_once_and_compares_near_copies_among_them(
    world: World, api_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "designs"
    (folder / "nested").mkdir(parents=True)
    rgb = draw_design(671)
    (folder / "a.png").write_bytes(encode(rgb))
    (folder / "nested" / "b.png").write_bytes(
        image_variant(rgb, "rotation", np.random.default_rng(4), 4)
    )
    (folder / "c.png").write_bytes(encode(draw_design(672)))
    report = tmp_path / "report.json"
    result = _run(
        world,
        "import",
        str(folder),
        "--owner",
        "brand:lune",
        "--jobs",
        "3",
        "--report",
        str(report),
        "--api-url",
        api_url,
    )
    assert result.exit_code == 0, result.output
    assert "3 of 3 registered, 0 failed, 1 flagged for review" in result.output
    rows = json.loads(report.read_text())
    assert [Path(r["file"]).name for r in rows] == ["a.png", "c.png", "b.png"]
    flagged = [r for r in rows if r["flagged"]]
    assert len(flagged) == 1
    copies = {rows[0]["registration"], rows[2]["registration"]}
    assert {flagged[0]["registration"], *flagged[0]["flagged"]} == copies
    # Again: every file is answered from its first registration, nothing registered twice.
    stored = counts(world)
    again = _run(world, "import", str(folder), "--owner", "brand:lune", "--api-url", api_url)
    assert again.exit_code == 0, again.output
    assert counts(world) == stored
