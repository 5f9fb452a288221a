"""Evidence reports end to end on a real chain: the bundle re-verified by a third party's code
(tests/designs/reverify.py: hashlib, iscc-core, web3, no Hallmark import), tampered fields
caught, the PDF rendered and read with poppler (Chinese text, embedded fonts), comparison
evidence for a near-copy, refusals, and the command line."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update
from typer.testing import CliRunner
from web3 import HTTPProvider, Web3

from hallmark.cli import app
from hallmark.core.fonts import PdfFontMissingError
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.designs.evidence import Evidence
from hallmark.services.designs.evidence_pdf import render_pdf
from hallmark.store.models import DesignRegistration
from tests.conftest import World, cli_environment
from tests.designs.corpus import (
    draw_design,
    encode,
    export,
    image_variant,
    mesh_variant,
    ring_model,
)
from tests.designs.reverify import reverify
from tests.designs.test_registry import LEGAL, file_all, register, workers

__all__ = ["workers"]  # the fixture, used by name

SIGNED = hashlib.sha256(b"signed copyright confirmation").hexdigest()
LICENCE = hashlib.sha256(b"museum licence").hexdigest()


def third_party_web3(world: World) -> Web3:
    assert world.runtime.chain is not None
    return Web3(HTTPProvider(world.runtime.chain.url))


def registered(world: World, workers: list[AnchorWorker], data: bytes, **fields: Any) -> str:
    answer = register(
        world,
        data,
        authorization="signed_confirmation",
        authorization_document=SIGNED,
        licences=[{"ref": "Palace Museum motif 7", "document_sha256": LICENCE}],
        designers=["Lin Yue"],
        owner_ref="customer:8821",
        **fields,
    )
    assert answer.status_code == 201, answer.text
    file_all(world, workers)
    return str(answer.json()["design"]["number"])


def evidence(world: World, number: str, fmt: str = "json", org: str = LEGAL) -> Any:
    return world.http.get(
        f"/api/v1/designs/{number}/evidence", params={"format": fmt}, headers=world.headers(org)
    )


def poppler(tool: str, *args: str) -> str:
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


@pytest.fixture(scope="module")
def design() -> np.ndarray:
    return draw_design(7301)


def test_bundle_is_reverified_from_the_chain_and_tampering_is_caught(
    world: World, workers: list[AnchorWorker], design: np.ndarray
) -> None:
    data = encode(design)
    number = registered(world, workers, data)
    answer = evidence(world, number)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["kind"] == "registration"
    assert bundle["registration"]["number"] == number
    assert bundle["authorization"] == {"level": "signed_confirmation", "document_sha256": SIGNED}
    assert bundle["documents"]["licences"] == [
        {"ref": "Palace Museum motif 7", "document_sha256": LICENCE}
    ]
    assert bundle["owner"]["reference"] == "customer:8821"
    assert len(bundle["fingerprint"]["iscc"]["image"]) == 8
    assert bundle["priority"]["verify_record"] is True
    assert "never a verdict" in bundle["note"]["en"]

    # This design's Image-Code has its top bit set: the filed perceptual code must keep all 64
    # bits (a NUMERIC column above 2**63 - 1 comes back from SQLite as a float).
    assert int(bundle["fingerprint"]["perceptual_code"], 16) >= 2**63
    shown = world.http.get(f"/api/v1/designs/{number}", headers=world.headers(LEGAL)).json()
    assert shown["perceptual_code"] == bundle["fingerprint"]["perceptual_code"]
    w3 = third_party_web3(world)
    assert reverify(bundle, data, w3) == []

    tampered_fields: list[tuple[str, Any]] = [
        ("fingerprint.sha256", "00" * 32),
        ("fingerprint.iscc.data", "ISCC:GAD2Q2FQUZQFOXYK"),
        ("owner.reference", "customer:8822"),
        ("owner.salt", "11" * 32),
        ("chain.block_hash", "0x" + "22" * 32),
        ("chain.block_timestamp", 1),
        ("chain.transaction", None),  # another transaction of the chain: the anchoring one
        ("metadata.document", None),  # one character changed
        ("priority.salt", "0x" + "33" * 32),
        ("priority.proof", ["0x" + "44" * 32]),
        ("priority.filed_block", 1),
        ("authorization.document_sha256", "55" * 32),
    ]
    for path, given in tampered_fields:
        altered = copy.deepcopy(bundle)
        *parents, leaf = path.split(".")
        target = altered
        for key in parents:
            target = target[key]
        value = given
        if path == "chain.transaction":
            value = bundle["priority"]["anchor_transaction"]
        if path == "metadata.document":
            value = target[leaf].replace("customer:8821", "customer:8829")
        target[leaf] = value
        assert reverify(altered, data, w3), f"tampering {path} was not caught"
    # The wrong file is caught too.
    assert "sha256 of the file" in reverify(bundle, data + b"\0", w3)


def test_pdf_renders_chinese_with_embedded_fonts(
    world: World, workers: list[AnchorWorker], design: np.ndarray, tmp_path: Path
) -> None:
    number = registered(world, workers, encode(design), title="莲花吊坠 Lotus pendant")
    answer = evidence(world, number, "pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "evidence.pdf"
    pdf.write_bytes(answer.content)
    bundle = evidence(world, number).json()

    text = poppler("pdftotext", "-enc", "UTF-8", str(pdf), "-")
    flat = "".join(text.split())
    for expected in (
        "设计登记证据报告",
        "优先权证据",
        "第三方复核步骤",
        "莲花吊坠",
        number,
        bundle["fingerprint"]["sha256"],
        bundle["chain"]["transaction"],
        bundle["chain"]["block_hash"],
        bundle["priority"]["commitment"],
        "neveraverdict",
    ):
        assert expected in flat, expected
    fonts = poppler("pdffonts", str(pdf)).splitlines()[2:]
    assert fonts, "the PDF names no font"
    for line in fonts:
        columns = line.split()
        # name type encoding emb sub uni object ID: every font embedded (a subset).
        assert columns[-5] == "yes", line
    poppler("pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page"))
    [page] = list(tmp_path.glob("page*.png"))
    with Image.open(page) as picture:
        grey = np.asarray(picture.convert("L"))
    # The page is not blank: text was drawn.
    assert (grey < 128).mean() > 0.01


def test_comparison_evidence_for_a_near_copy(
    world: World, workers: list[AnchorWorker], design: np.ndarray, tmp_path: Path
) -> None:
    number = registered(world, workers, encode(design))
    copy_ = image_variant(design, "rotation", np.random.default_rng(11), 11)
    answer = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        headers=world.headers(LEGAL),
        files={"file": ("suspect.png", copy_, "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["kind"] == "comparison"
    comparison = bundle["comparison"]
    assert comparison["suspect"]["sha256"] == hashlib.sha256(copy_).hexdigest()
    assert comparison["distances"]["identical"] is False
    engine = comparison["engine"]
    assert engine["flagged"] is True
    assert engine["coverage"] >= engine["thresholds"]["min_coverage"]
    assert engine["inliers"] >= engine["thresholds"]["min_inliers"]
    assert "never a verdict" in comparison["note"]["en"]
    assert len(comparison["distances"]["image_code_bits_per_orientation"]) == 8
    # The registration's part still re-verifies (with the registered file, not the suspect).
    w3 = third_party_web3(world)
    original = world.http.get(
        f"/api/v1/designs/{number}/original", headers=world.headers(LEGAL)
    ).content
    assert reverify(bundle, original, w3) == []

    unrelated = encode(draw_design(7399))
    distinct = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        headers=world.headers(LEGAL),
        files={"file": ("other.png", unrelated, "application/octet-stream")},
    ).json()["comparison"]
    assert distinct["engine"]["flagged"] is False
    assert distinct["engine"]["coverage"] < distinct["engine"]["thresholds"]["min_coverage"]

    pdf = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        params={"format": "pdf"},
        headers=world.headers(LEGAL),
        files={"file": ("suspect.png", copy_, "application/octet-stream")},
    )
    assert pdf.status_code == 200, pdf.text
    path = tmp_path / "comparison.pdf"
    path.write_bytes(pdf.content)
    flat = "".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())
    assert "设计比对证据报告" in flat and "被比对文件" in flat and "覆盖率" in flat
    # Both pictures, side by side.
    listed = poppler("pdfimages", "-list", str(path)).splitlines()[2:]
    assert len([line for line in listed if " image " in line]) >= 2


def test_refusals(world: World, workers: list[AnchorWorker], design: np.ndarray) -> None:
    # Not on chain yet: 409, nothing to prove.
    pending = register(world, encode(draw_design(7302)), title="pending")
    assert pending.status_code == 201
    number = pending.json()["design"]["number"]
    answer = evidence(world, number)
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["status"] == "committed"
    assert evidence(world, "D-2026-NOSUCH").status_code == 404
    file_all(world, workers)
    # Evidence names the owner: legal and the owner's organisation only.
    denied = evidence(world, number, org="Maison Lune")
    assert denied.status_code == 403, denied.text
    # A refused suspect file: 4xx, with the error shape.
    bad = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        headers=world.headers(LEGAL),
        files={"file": ("suspect.png", b"not a png at all", "application/octet-stream")},
    )
    assert 400 <= bad.status_code < 500
    assert set(bad.json()["error"]) >= {"code", "message", "details"}


def test_a_stored_fact_that_disagrees_with_the_chain_gives_no_evidence(
    world: World, workers: list[AnchorWorker], design: np.ndarray
) -> None:
    number = registered(world, workers, encode(design))
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        session.execute(
            update(DesignRegistration)
            .where(DesignRegistration.number == number)
            .values(owner_ref="customer:0000")
        )
        session.commit()
    answer = evidence(world, number)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "evidence_mismatch"
    assert any("ownerRef" in d for d in error["details"]["differences"])


def test_cli_writes_bundle_and_pdf(
    world: World, workers: list[AnchorWorker], design: np.ndarray, tmp_path: Path
) -> None:
    number = registered(world, workers, encode(design))
    suspect = tmp_path / "suspect.png"
    suspect.write_bytes(image_variant(design, "mirror", np.random.default_rng(3), 3))
    environment = cli_environment(world)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["designs", "evidence", number, "--compare", str(suspect), "--out", str(out)],
        env=environment,
    )
    assert result.exit_code == 0, result.output
    bundle = json.loads((out / f"{number}-comparison-evidence.json").read_text())
    assert bundle["comparison"]["engine"]["flagged"] is True
    assert (out / f"{number}-comparison-evidence.pdf").read_bytes().startswith(b"%PDF")
    missing = CliRunner().invoke(
        app, ["designs", "evidence", "D-2026-NOSUCH", "--out", str(out)], env=environment
    )
    assert missing.exit_code != 0
    assert "not found" in missing.stderr.strip().splitlines()[-1]


def test_model_evidence_and_a_reposed_copy(
    world: World, workers: list[AnchorWorker], tmp_path: Path
) -> None:
    ring = ring_model(7311)
    data = export(ring, "stl")
    number = registered(world, workers, data, filename="ring.stl")
    bundle = evidence(world, number).json()
    assert bundle["fingerprint"]["kind"] == "stl"
    assert "image" not in bundle["fingerprint"]["iscc"]
    assert reverify(bundle, data, third_party_web3(world)) == []

    reposed = mesh_variant(ring, "pose", np.random.default_rng(5))
    answer = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        params={"format": "pdf"},
        headers=world.headers(LEGAL),
        files={"file": (reposed.name, reposed.data, "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    path = tmp_path / "model.pdf"
    path.write_bytes(answer.content)
    flat = "".join(poppler("pdftotext", "-enc", "UTF-8", str(path), "-").split())
    assert "无图像" in flat and "形状距离" in flat
    comparison = world.http.post(
        f"/api/v1/designs/{number}/evidence/compare",
        headers=world.headers(LEGAL),
        files={"file": (reposed.name, reposed.data, "application/octet-stream")},
    ).json()["comparison"]
    engine = comparison["engine"]
    assert engine["flagged"] is True
    assert engine["shape_distance"] <= engine["thresholds"]["shape_radius"]
    assert "image_code_bits" not in comparison["distances"]


def test_the_reverification_imports_nothing_from_hallmark() -> None:
    source = Path(__file__).with_name("reverify.py").read_text()
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "hashlib", "io", "json", "typing", "iscc_core", "PIL", "web3"}


def test_a_missing_font_is_named(tmp_path: Path) -> None:
    with pytest.raises(PdfFontMissingError, match="fonts-wqy-microhei"):
        render_pdf(Evidence({}), font=tmp_path / "no-such-font.ttf")


def test_an_unknown_format_is_refused(world: World) -> None:
    answer = world.http.get(
        "/api/v1/designs/D-2026-NOSUCH/evidence",
        params={"format": "docx"},
        headers=world.headers(LEGAL),
    )
    assert answer.status_code == 422
    assert set(answer.json()["error"]) >= {"code", "message", "details"}
