"""The similarity index: stage-1 code table, exact lookup, search, persistence and rebuild."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallmark.services.designs import codes as code_module
from hallmark.services.designs import matching
from hallmark.services.designs.codes import CodeTable
from hallmark.services.designs.fingerprints import fingerprint_file, probe_file
from hallmark.services.designs.index import DesignIndex, SearchSettings, rebuild
from tests.designs.corpus import (
    crop_embed,
    draw_design,
    encode,
    export,
    image_variant,
    pendant_model,
    ring_model,
)


@settings(max_examples=25, deadline=None)
@given(
    stored=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=150),
    query=st.integers(0, 2**64 - 1),
    flips=st.lists(st.integers(0, 63), max_size=14),
    radius=st.integers(0, 16),
    merge_at=st.sampled_from([60, 100_000]),
)
def test_code_table_finds_exactly_what_a_full_scan_finds(
    stored: list[int], query: int, flips: list[int], radius: int, merge_at: int
) -> None:
    near = stored[0]
    for bit in flips:
        near ^= 1 << bit
    stored = [*stored, near]
    table = CodeTable()
    original, code_module.MERGE_AT = code_module.MERGE_AT, merge_at
    try:
        for owner, code in enumerate(stored):
            table.add([code], owner)
    finally:
        code_module.MERGE_AT = original
    for probe in (query, stored[0]):
        owners, distances = table.within(probe, radius)
        expected = {
            (owner, bin(code ^ probe).count("1"))
            for owner, code in enumerate(stored)
            if bin(code ^ probe).count("1") <= radius
        }
        assert set(zip(owners.tolist(), distances.tolist(), strict=True)) == expected


def test_code_table_bulk_and_incremental_agree() -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    bulk, incremental = CodeTable(), CodeTable()
    bulk.add_many(values, np.arange(len(values)))
    for owner, value in enumerate(values.tolist()):
        incremental.add([value], owner)
    for value in values[:50].tolist():
        a, b = bulk.within(value ^ 0b1011, 6), incremental.within(value ^ 0b1011, 6)
        assert sorted(a[0].tolist()) == sorted(b[0].tolist())
        assert len(bulk) == len(incremental) == 5000


@pytest.fixture(scope="module")
def registry() -> tuple[DesignIndex, list[bytes]]:
    index = DesignIndex()
    files = [encode(draw_design(9000 + number, claw=number == 1)) for number in range(4)]
    files += [
        export(ring_model(9100, plain_band=True, head=0), "stl"),
        export(pendant_model(9101), "stl"),
    ]
    for number, data in enumerate(files):
        index.add(f"reg-{number}", fingerprint_file(data))
    return index, files


def test_exact_lookup_by_sha256(registry: tuple[DesignIndex, list[bytes]]) -> None:
    index, files = registry
    fingerprint = fingerprint_file(files[2])
    assert index.lookup_exact(fingerprint.sha256) == ("reg-2",)
    assert index.lookup_exact(fingerprint.sha256.upper()) == ("reg-2",)
    assert index.lookup_exact("0" * 64) == ()
    result = index.search(probe_file(files[2]))
    assert result.exact == ("reg-2",)
    assert "reg-2" not in {similar.registration for similar in result.similar}


def test_search_finds_a_rotated_copy_first(registry: tuple[DesignIndex, list[bytes]]) -> None:
    index, _ = registry
    rgb = draw_design(9000 + 3)
    rotated = image_variant(rgb, "rotation", np.random.default_rng(1), 1)
    result = index.search(probe_file(rotated))
    assert result.exact == ()
    assert [similar.registration for similar in result.flagged] == ["reg-3"]
    best = result.flagged[0]
    assert best.coverage >= 0.5 and best.inliers >= 12


def test_search_finds_a_crop_and_reports_its_share(
    registry: tuple[DesignIndex, list[bytes]],
) -> None:
    index, _ = registry
    cropped = encode(crop_embed(draw_design(9000), np.random.default_rng(3), 77))
    flagged = index.search(probe_file(cropped)).flagged
    assert [similar.registration for similar in flagged] == ["reg-0"]
    assert 0.3 <= flagged[0].coverage < 0.95


def test_search_does_not_flag_a_shared_claw_setting(
    registry: tuple[DesignIndex, list[bytes]],
) -> None:
    index, _ = registry
    lookalike = encode(draw_design(9500, claw=True))
    result = index.search(probe_file(lookalike))
    assert result.flagged == ()


def test_search_models_by_shape(registry: tuple[DesignIndex, list[bytes]]) -> None:
    index, _ = registry
    moved = ring_model(9100, plain_band=True, head=0)
    moved.apply_scale(3.0)
    moved.apply_translation([5, -2, 40])
    result = index.search(probe_file(export(moved.subdivide(), "ply")))
    assert [similar.registration for similar in result.flagged] == ["reg-4"]
    other = index.search(probe_file(export(ring_model(9200, plain_band=True, head=3), "obj")))
    assert other.flagged == ()
    assert other.similar and all(r.shape_distance is not None for r in other.similar)


def test_search_excludes_named_registrations(registry: tuple[DesignIndex, list[bytes]]) -> None:
    index, files = registry
    result = index.search(probe_file(files[1]), exclude=["reg-1"])
    assert result.exact == () and result.flagged == ()


def test_index_deleted_and_rebuilt_answers_the_same(
    tmp_path: Path, registry: tuple[DesignIndex, list[bytes]]
) -> None:
    index, files = registry
    index.save(tmp_path / "designs")
    loaded = DesignIndex.load(tmp_path / "designs")
    rotated = image_variant(draw_design(9003), "rotation", np.random.default_rng(2), 2)
    probe = probe_file(rotated)
    assert loaded.search(probe) == index.search(probe)
    (tmp_path / "designs" / "index.json").unlink()
    assert len(DesignIndex.load(tmp_path / "designs")) == 0
    stored = [(f"reg-{number}", fingerprint_file(data)) for number, data in enumerate(files)]
    rebuilt = rebuild(iter(stored))
    assert len(rebuilt) == len(files)
    assert rebuilt.search(probe) == index.search(probe)
    assert rebuilt.lookup_exact(stored[5][1].sha256) == ("reg-5",)


def test_vote_index_turns_inverted_and_still_finds_copies() -> None:
    drawings = [draw_design(9300 + number, claw=number % 2 == 0) for number in range(8)]
    flat, inverted = DesignIndex(), DesignIndex(SearchSettings(vote_ivf_above=1000))
    for number, rgb in enumerate(drawings):
        fingerprint = fingerprint_file(encode(rgb))
        flat.add(str(number), fingerprint)
        inverted.add(str(number), fingerprint)
    assert flat.vote_index_kind == "flat"
    assert inverted.vote_index_kind == "inverted"
    rng = np.random.default_rng(8)
    for number in (1, 6):
        for data in (
            image_variant(drawings[number], "rotation", rng, 1),
            encode(crop_embed(drawings[number], rng, 90 + number)),
        ):
            probe = probe_file(data)
            assert [r.registration for r in inverted.search(probe).flagged] == [str(number)]
            assert [r.registration for r in flat.search(probe).flagged] == [str(number)]


@pytest.fixture(scope="module")
def framed() -> tuple[DesignIndex, dict[str, np.ndarray]]:
    """Designs that share the frame; the first two covered each other at 0.35 when every
    keypoint counted (found on an unseen corpus), and two registered versions of one of them."""
    drawings = {str(number): draw_design(41_000 + number, frame=True) for number in (2, 8, 26, 29)}
    index = DesignIndex()
    for registration, rgb in drawings.items():
        index.add(registration, fingerprint_file(encode(rgb)))
    rng = np.random.default_rng(4)
    for registration, kind in (("26-v2", "resize"), ("26-v3", "jpeg")):
        index.add(registration, fingerprint_file(image_variant(drawings["26"], kind, rng, 4)))
    return index, drawings


def test_a_frame_several_registrations_share_does_not_flag(
    framed: tuple[DesignIndex, dict[str, np.ndarray]],
) -> None:
    index, drawings = framed
    for registration, rgb in drawings.items():
        result = index.search(probe_file(encode(rgb)), exclude=[registration])
        others = {r.registration for r in result.flagged} - {"26", "26-v2", "26-v3"}
        assert others == set(), registration
    lookalike = index.search(probe_file(encode(draw_design(41_900, frame=True))))
    assert lookalike.flagged == ()


def test_copies_of_a_design_sharing_a_frame_are_still_found(
    framed: tuple[DesignIndex, dict[str, np.ndarray]],
) -> None:
    index, drawings = framed
    rng = np.random.default_rng(6)
    for registration in ("2", "8"):
        for data in (
            image_variant(drawings[registration], "photo", rng, 7),
            encode(crop_embed(drawings[registration], rng, 70)),
        ):
            flagged = [r.registration for r in index.search(probe_file(data)).flagged]
            assert flagged == [registration]
    # Registered versions of a design (drafts, here resized and re-compressed) are not a shared
    # motif: a copy of the design flags all three registrations.
    copy = image_variant(drawings["26"], "rotation", rng, 8)
    flagged = {r.registration for r in index.search(probe_file(copy)).flagged}
    assert flagged == {"26", "26-v2", "26-v3"}


def test_saved_index_keeps_what_registrations_share(
    tmp_path: Path,
    framed: tuple[DesignIndex, dict[str, np.ndarray]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index, drawings = framed
    index.save(tmp_path / "designs")

    def no_matching(*_: object, **__: object) -> None:
        raise AssertionError("a saved index is loaded without matching its designs again")

    with monkeypatch.context() as patched:
        patched.setattr(matching.QueryMatcher, "verify", no_matching)
        loaded = DesignIndex.load(tmp_path / "designs")
    rng = np.random.default_rng(9)
    for data in (
        encode(drawings["2"]),
        image_variant(drawings["8"], "photo", rng, 9),
        encode(crop_embed(drawings["29"], rng, 71)),
    ):
        probe = probe_file(data)
        assert loaded.search(probe, exclude=["2"]) == index.search(probe, exclude=["2"])
