"""Design files: kinds told from content, fingerprints, and unsafe or mislabelled files refused."""

from __future__ import annotations

import io
import math
import struct
import zipfile

import iscc_core
import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from hallmark.core.errors import (
    DecompressionBombError,
    DesignFileError,
    MalformedFileError,
    MislabelledFileError,
)
from hallmark.services.designs import images, meshes
from hallmark.services.designs.fingerprints import (
    DesignFingerprint,
    Limits,
    fingerprint_file,
    probe_file,
)
from hallmark.services.designs.images import ImageLimits
from hallmark.services.designs.meshes import MeshLimits
from hallmark.services.designs.sniffing import FileKind, detect_kind, sniff
from tests.designs.corpus import draw_design, encode, export, pendant_model, ring_model

SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 100">'
    b'<circle cx="50" cy="50" r="40" fill="none" stroke="black" stroke-width="4"/>'
    b'<path d="M110 10 L190 90 M110 90 L190 10" stroke="black" stroke-width="4"/></svg>'
)


@pytest.fixture(scope="module")
def design() -> np.ndarray:
    return draw_design(4242)


@pytest.fixture(scope="module")
def ring() -> trimesh.Trimesh:
    return ring_model(77, plain_band=True, head=0)


def test_detect_kind_every_format(design: np.ndarray, ring: trimesh.Trimesh) -> None:
    assert detect_kind(encode(design)) is FileKind.PNG
    assert detect_kind(encode(design, "JPEG", quality=80)) is FileKind.JPEG
    assert detect_kind(encode(design, "WEBP", quality=80)) is FileKind.WEBP
    assert detect_kind(SVG) is FileKind.SVG
    assert detect_kind(export(ring, "stl")) is FileKind.STL
    assert detect_kind(export(ring, "stl_ascii")) is FileKind.STL
    assert detect_kind(export(ring, "obj")) is FileKind.OBJ
    assert detect_kind(export(ring, "ply")) is FileKind.PLY
    assert detect_kind(export(ring, "3mf")) is FileKind.THREE_MF
    assert detect_kind(b"%PDF-1.7 a contract") is FileKind.OTHER
    assert detect_kind(b"just some notes\nv is not a vertex\n") is FileKind.OTHER


def test_sniff_refuses_a_png_named_as_a_model(design: np.ndarray) -> None:
    with pytest.raises(MislabelledFileError) as caught:
        sniff(encode(design), filename="ring.stl")
    assert caught.value.http_status == 415
    assert caught.value.details["claimed"] == "stl"
    assert caught.value.details["detected"] == "png"


def test_sniff_refuses_a_media_type_that_lies(ring: trimesh.Trimesh) -> None:
    with pytest.raises(MislabelledFileError):
        sniff(export(ring, "obj"), media_type="image/png")


def test_sniff_refuses_bytes_named_as_an_image() -> None:
    with pytest.raises(MislabelledFileError) as caught:
        sniff(b"not an image at all", filename="pendant.jpg")
    assert caught.value.details["detected"] == "other"


def test_sniff_trusts_content_when_the_name_claims_nothing(design: np.ndarray) -> None:
    assert sniff(encode(design), filename="scan", media_type="application/octet-stream") is (
        FileKind.PNG
    )


def test_fingerprint_image_codes_match_the_reference(design: np.ndarray) -> None:
    data = encode(design)
    fingerprint = fingerprint_file(data, filename="design.png")
    grey = Image.open(io.BytesIO(data)).convert("L")
    expected = []
    for turned in (grey, grey.transpose(Image.Transpose.ROTATE_90)):
        pixels = list(turned.resize((32, 32), Image.Resampling.BICUBIC).tobytes())
        expected.append(iscc_core.gen_image_code_v0(pixels, bits=64)["iscc"])
    assert list(fingerprint.image_codes[:2]) == expected
    assert len(fingerprint.image_codes) == 8 and len(fingerprint.search_codes) == 8
    assert fingerprint.instance_code == iscc_core.gen_instance_code_v0(io.BytesIO(data))["iscc"]
    assert fingerprint.data_code == iscc_core.gen_data_code_v0(io.BytesIO(data))["iscc"]
    assert fingerprint.features is not None and len(fingerprint.features) > 100


def test_fingerprint_of_a_quarter_turn_is_among_the_orientations(design: np.ndarray) -> None:
    registered = fingerprint_file(encode(design))
    turned = probe_file(encode(np.ascontiguousarray(np.rot90(design)))).fingerprint
    distances = [bin(turned.search_codes[0] ^ code).count("1") for code in registered.search_codes]
    assert min(distances) <= 2


def test_fingerprint_roundtrips_through_its_dict(design: np.ndarray) -> None:
    fingerprint = fingerprint_file(encode(design))
    again = DesignFingerprint.from_dict(fingerprint.to_dict())
    assert again.search_codes == fingerprint.search_codes
    assert again.image_codes == fingerprint.image_codes
    assert fingerprint.features is not None and again.features is not None
    assert np.array_equal(again.features.descriptors, fingerprint.features.descriptors)
    assert np.array_equal(again.features.points, fingerprint.features.points)
    model = fingerprint_file(export(ring_model(3), "stl"))
    assert model.shape is not None
    restored = DesignFingerprint.from_dict(model.to_dict()).shape
    assert restored is not None and np.array_equal(restored, model.shape)


def test_fingerprint_other_file_by_hash_only() -> None:
    fingerprint = fingerprint_file(b"%PDF-1.7 signed copyright confirmation", filename="a.pdf")
    assert fingerprint.kind is FileKind.OTHER
    assert fingerprint.features is None and fingerprint.shape is None
    assert not fingerprint.image_codes


def test_decompression_bomb_image_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, format="PNG")  # 36 MP in a few kilobytes
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(DecompressionBombError) as caught:
        fingerprint_file(buffer.getvalue(), filename="bomb.png")
    assert caught.value.http_status == 413


def test_truncated_image_refused(design: np.ndarray) -> None:
    data = encode(design)
    with pytest.raises(MalformedFileError) as caught:
        fingerprint_file(data[: len(data) // 2])
    assert caught.value.http_status == 422


def test_tiny_image_refused() -> None:
    with pytest.raises(MalformedFileError):
        fingerprint_file(encode(np.zeros((8, 8, 3), np.uint8)))


def test_svg_rasterised(design: np.ndarray) -> None:
    fingerprint = fingerprint_file(SVG, filename="logo.svg")
    assert fingerprint.kind is FileKind.SVG
    assert fingerprint.features is not None and len(fingerprint.features) > 10


@pytest.mark.parametrize(
    "svg",
    [
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<image xlink:href="http://example.invalid/x.png" width="10" height="10"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><image href="/etc/hosts" width="9"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="9" height="9" '
        b'style="fill:url(http://example.invalid/p)"/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import "http://x.invalid/a.css";'
        b"</style></svg>",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="1"><rect/></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><unclosed></svg>',
    ],
    ids=[
        "external-entity",
        "entity-expansion",
        "remote-image",
        "local-file",
        "css-url",
        "css-import",
        "extreme-aspect",
        "not-well-formed",
    ],
)
def test_unsafe_svg_refused(svg: bytes) -> None:
    with pytest.raises(MalformedFileError) as caught:
        fingerprint_file(svg, filename="logo.svg")
    assert caught.value.details["kind"] == "svg"


def test_oversized_svg_refused() -> None:
    limits = Limits(image=ImageLimits(max_svg_bytes=len(SVG) - 1))
    with pytest.raises(DecompressionBombError):
        fingerprint_file(SVG, limits=limits)


def _binary_stl(triangles: np.ndarray) -> bytes:
    body = b"".join(
        struct.pack("<12fH", 0, 0, 0, *triangle.ravel().tolist(), 0) for triangle in triangles
    )
    return b"\0" * 80 + struct.pack("<I", len(triangles)) + body


def test_mesh_with_non_finite_coordinates_refused() -> None:
    triangles = np.array([[[0, 0, 0], [1, 0, 0], [0, math.nan, 0]]], dtype=np.float32)
    with pytest.raises(MalformedFileError) as caught:
        fingerprint_file(_binary_stl(triangles), filename="broken.stl")
    assert caught.value.details["kind"] == "stl"


def test_mesh_without_area_refused() -> None:
    triangles = np.zeros((3, 3, 3), dtype=np.float32)
    with pytest.raises(MalformedFileError):
        fingerprint_file(_binary_stl(triangles))


def test_obj_naming_missing_vertices_refused() -> None:
    with pytest.raises(MalformedFileError):
        fingerprint_file(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", filename="ring.obj")


def test_stl_with_too_many_triangles_refused(ring: trimesh.Trimesh) -> None:
    limits = Limits(mesh=MeshLimits(max_faces=100))
    with pytest.raises(DecompressionBombError) as caught:
        fingerprint_file(export(ring, "stl"), limits=limits)
    assert caught.value.details["what"] == "triangles"
    with pytest.raises(DecompressionBombError):
        fingerprint_file(export(ring, "ply"), limits=limits)


def test_3mf_zip_bomb_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("3D/3dmodel.model", b"<model>" + b" " * 50_000_000 + b"</model>")
    with pytest.raises(DecompressionBombError) as caught:
        fingerprint_file(buffer.getvalue(), filename="ring.3mf")
    assert caught.value.details["what"] == "uncompressed bytes"


def test_every_refusal_is_a_design_file_error() -> None:
    for error in (MislabelledFileError, MalformedFileError, DecompressionBombError):
        assert issubclass(error, DesignFileError)


@settings(max_examples=15, deadline=None)
@given(
    angles=st.tuples(*[st.floats(0, 2 * math.pi)] * 3),
    scale=st.floats(0.01, 100),
    shift=st.tuples(*[st.floats(-1000, 1000)] * 3),
)
def test_shape_descriptor_invariant_to_pose_and_scale(
    angles: tuple[float, float, float], scale: float, shift: tuple[float, float, float]
) -> None:
    mesh = pendant_model(5)
    moved = mesh.copy()
    moved.apply_transform(trimesh.transformations.euler_matrix(*angles))
    moved.apply_scale(scale)
    moved.apply_translation(shift)
    assert np.allclose(meshes.shape_descriptor(moved), meshes.shape_descriptor(mesh), atol=2e-3)


def test_structure_map_ignores_polarity_and_colour(design: np.ndarray) -> None:
    original = images.structure(Image.fromarray(design))
    inverted = images.structure(Image.fromarray(255 - design))
    tinted = design.astype(np.float32) * np.array([0.2, 0.5, 0.9]) + np.array([40, 10, 0])
    recoloured = images.structure(Image.fromarray(tinted.astype(np.uint8)))
    for other in (inverted, recoloured):
        difference = np.abs(original.astype(int) - other.astype(int))
        assert np.mean(difference) < 6
