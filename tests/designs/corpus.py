"""A seeded generator of jewellery designs, their copies and unrelated look-alikes.

Line art: pendants and brooches drawn with an outline, a bail and random ornaments (gems with
facets, spirals, leaves, filigree curves, stars, zigzags); some designs share motifs (the same
claw setting, the same frame) with others that are not copies. Variants of a registered design,
one kind each: arbitrary rotation, mirror, resize, JPEG re-compression, recolour (light-on-dark
included), a photo of a print (perspective, lighting gradient, noise, blur), noise, blur, a
combination, and a crop of 40-70 % of the design embedded in a larger unrelated design.

Models: rings (a band with a head: claw setting, bezel, cluster, signet) and pendants (a bail and
a body), with variants: rotated + translated + scaled, re-exported in another format, re-meshed
(subdivided), decimated, and unrelated models sharing the band or the setting.

Everything depends only on the seed, so a corpus is reproducible; evaluate on a seed other than
the one the thresholds were chosen on.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import cv2
import numpy as np
import trimesh
from PIL import Image

SIDE = 480
INK = (20, 20, 20)
PAPER = (255, 255, 255)

IMAGE_KINDS = (
    "rotation",
    "mirror",
    "resize",
    "jpeg",
    "recolour",
    "light_on_dark",
    "photo",
    "noise",
    "blur",
    "combination",
    "crop_embed",
)
MESH_KINDS = ("pose", "reexport", "remesh", "decimate")


@dataclass(frozen=True)
class Sample:
    """A generated file: its bytes, a file name, and (for a variant) its source design."""

    name: str
    data: bytes
    source: int | None = None
    kind: str | None = None


# --- line art -------------------------------------------------------------------------------


def _poly(canvas: np.ndarray, points: np.ndarray, closed: bool, thickness: int) -> None:
    cv2.polylines(
        canvas, [np.round(points * 16).astype(np.int32)], closed, INK, thickness, cv2.LINE_AA, 4
    )


def _circle_points(cx: float, cy: float, r: float, n: int = 90, phase: float = 0.0) -> np.ndarray:
    angles = phase + np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1)


def _claw_setting(canvas: np.ndarray, cx: float, cy: float, scale: float) -> None:
    """The shared claw setting: a round gem, eight facets, six claws (always the same)."""
    r = 38 * scale
    _poly(canvas, _circle_points(cx, cy, r), True, 2)
    _poly(canvas, _circle_points(cx, cy, r * 0.55, 8, 0.2), True, 2)
    for k in range(8):
        a = 0.2 + k * math.pi / 4
        inner = (cx + r * 0.55 * math.cos(a), cy + r * 0.55 * math.sin(a))
        outer = (cx + r * math.cos(a + 0.3), cy + r * math.sin(a + 0.3))
        _poly(canvas, np.array([inner, outer]), False, 2)
    for k in range(6):
        a = k * math.pi / 3
        base = np.array(
            [
                [cx + r * math.cos(a - 0.18), cy + r * math.sin(a - 0.18)],
                [cx + (r + 14 * scale) * math.cos(a), cy + (r + 14 * scale) * math.sin(a)],
                [cx + r * math.cos(a + 0.18), cy + r * math.sin(a + 0.18)],
            ]
        )
        _poly(canvas, base, False, 2)


def _frame(canvas: np.ndarray) -> None:
    """The shared frame: a plain octagonal border with a round bail."""
    octagon = _circle_points(SIDE / 2, SIDE / 2 + 10, 200, 8, math.pi / 8)
    _poly(canvas, octagon, True, 3)
    _poly(canvas, _circle_points(SIDE / 2, 22, 14), True, 3)


def _ornament(canvas: np.ndarray, rng: np.random.Generator, cx: float, cy: float) -> None:
    kind = rng.integers(0, 7)
    size = rng.uniform(22, 55)
    if kind == 0:  # gem with facets
        n = int(rng.integers(5, 9))
        outer = _circle_points(cx, cy, size, n, rng.uniform(0, 6))
        inner = _circle_points(cx, cy, size * rng.uniform(0.3, 0.6), n, rng.uniform(0, 6))
        _poly(canvas, outer, True, 2)
        _poly(canvas, inner, True, 2)
        for a, b in zip(outer, inner, strict=True):
            _poly(canvas, np.array([a, b]), False, 1)
    elif kind == 1:  # spiral
        turns = rng.uniform(1.5, 3.5)
        t = np.linspace(0, turns * 2 * math.pi, 160)
        r = size * t / t[-1]
        phase = rng.uniform(0, 6)
        sign = rng.choice([-1, 1])
        _poly(
            canvas,
            np.stack([cx + r * np.cos(sign * t + phase), cy + r * np.sin(sign * t + phase)], 1),
            False,
            2,
        )
    elif kind == 2:  # leaf
        angle = rng.uniform(0, math.pi)
        t = np.linspace(0, math.pi, 40)
        left = np.stack([t / math.pi * 2 - 1, np.sin(t) * rng.uniform(0.25, 0.5)], 1)
        right = left * np.array([1, -1])
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        for half in (left, right[::-1]):
            _poly(canvas, half @ rot.T * size + [cx, cy], False, 2)
        _poly(canvas, np.array([[-1, 0], [1, 0]]) @ rot.T * size + [cx, cy], False, 1)
    elif kind == 3:  # filigree curve (cubic Bezier)
        control = rng.uniform(-1, 1, (4, 2)) * size * 1.6 + [cx, cy]
        t = np.linspace(0, 1, 60)[:, None]
        curve = (
            (1 - t) ** 3 * control[0]
            + 3 * (1 - t) ** 2 * t * control[1]
            + 3 * (1 - t) * t**2 * control[2]
            + t**3 * control[3]
        )
        _poly(canvas, curve, False, 2)
    elif kind == 4:  # star
        n = int(rng.integers(5, 9))
        outer = _circle_points(cx, cy, size, n, rng.uniform(0, 6))
        inner = _circle_points(cx, cy, size * 0.45, n, 0)
        angles = np.arctan2(outer[:, 1] - cy, outer[:, 0] - cx) + math.pi / n
        inner = np.stack([cx + size * 0.45 * np.cos(angles), cy + size * 0.45 * np.sin(angles)], 1)
        star = np.empty((2 * n, 2))
        star[0::2], star[1::2] = outer, inner
        _poly(canvas, star, True, 2)
    elif kind == 5:  # zigzag
        n = int(rng.integers(4, 8))
        xs = np.linspace(-size, size, n)
        ys = np.where(np.arange(n) % 2 == 0, -1, 1) * size * rng.uniform(0.2, 0.5)
        angle = rng.uniform(0, math.pi)
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        _poly(canvas, np.stack([xs, ys], 1) @ rot.T + [cx, cy], False, 2)
    else:  # dots
        for _ in range(int(rng.integers(3, 7))):
            offset = rng.uniform(-size, size, 2)
            cv2.circle(
                canvas,
                (int(cx + offset[0]), int(cy + offset[1])),
                int(rng.integers(3, 7)),
                INK,
                -1,
                cv2.LINE_AA,
            )


def draw_design(
    seed: int, *, claw: bool = False, frame: bool = False, side: int = SIDE
) -> np.ndarray:
    """One random jewellery line drawing (RGB), optionally with the shared motifs."""
    rng = np.random.default_rng(seed)
    canvas = np.full((side, side, 3), PAPER, dtype=np.uint8)
    centre = side / 2
    if frame:
        _frame(canvas)
    else:
        kind = rng.integers(0, 3)
        r = rng.uniform(170, 215)
        if kind == 0:
            outline = _circle_points(centre, centre + 10, r, 120)
        elif kind == 1:  # teardrop
            t = np.linspace(0, 2 * math.pi, 120)
            outline = np.stack(
                [centre + r * 0.8 * np.sin(t) * np.sin(t / 2) ** 1.2, centre + 10 - r * np.cos(t)],
                1,
            )
        else:
            outline = _circle_points(
                centre, centre + 10, r, int(rng.integers(5, 9)), rng.uniform(0, 1)
            )
        _poly(canvas, outline, True, 3)
        _poly(canvas, _circle_points(centre, 22, rng.uniform(10, 16)), True, 2)
    placed: list[tuple[float, float]] = []
    if claw:
        cx, cy = rng.uniform(centre - 90, centre + 90, 2)
        _claw_setting(canvas, cx, cy, 1.0)
        placed.append((cx, cy))
    for _ in range(int(rng.integers(7, 11))):
        for _attempt in range(30):
            cx, cy = rng.uniform(centre - 140, centre + 140, 2)
            if all(math.hypot(cx - px, cy - py) > 70 for px, py in placed):
                break
        placed.append((cx, cy))
        _ornament(canvas, rng, cx, cy)
    return canvas


# --- image variants --------------------------------------------------------------------------


def encode(rgb: np.ndarray, fmt: str = "PNG", **options: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _rotate(rgb: np.ndarray, angle: float, fill: tuple[int, int, int] = PAPER) -> np.ndarray:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[0, 2] += nw / 2 - w / 2
    matrix[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(
        rgb,
        matrix,
        (nw, nh),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


def _angle(rng: np.random.Generator) -> float:
    while True:
        angle = float(rng.uniform(3, 357))
        if min(abs(angle - q) for q in (90, 180, 270)) > 3:
            return angle


def _recolour(rgb: np.ndarray, ink: np.ndarray, paper: np.ndarray) -> np.ndarray:
    darkness = 1.0 - rgb.astype(np.float32).mean(axis=2, keepdims=True) / 255.0
    mixed = paper * (1 - darkness) + ink * darkness
    return np.asarray(np.clip(mixed, 0, 255), dtype=np.uint8)


def _photo(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    margin = int(w * rng.uniform(0.12, 0.25))
    paper = np.array([rng.uniform(215, 245)] * 3) - [0, rng.uniform(0, 10), rng.uniform(5, 25)]
    sheet = _recolour(rgb, np.array([35.0, 30.0, 30.0]), paper)
    big = np.zeros((h + 2 * margin, w + 2 * margin, 3), np.uint8)
    big[:] = (paper * 0.85).astype(np.uint8)
    big[margin : margin + h, margin : margin + w] = sheet
    size = big.shape[0]
    jitter = rng.uniform(-0.07, 0.07, (4, 2)) * size
    source = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    target = (source + jitter).astype(np.float32)
    target -= target.min(axis=0)
    out = (int(target[:, 0].max()), int(target[:, 1].max()))
    warped = cv2.warpPerspective(
        big,
        cv2.getPerspectiveTransform(source, target),
        out,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(90, 80, 70),
    )
    yy, xx = np.mgrid[0 : warped.shape[0], 0 : warped.shape[1]].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(direction) + yy * math.sin(direction)
    ramp = (ramp - ramp.min()) / max(1e-6, float(np.ptp(ramp)))
    light = rng.uniform(0.5, 0.7) + (1 - rng.uniform(0.0, 0.1) - rng.uniform(0.5, 0.7)) * ramp
    lit = warped.astype(np.float32) * light[..., None]
    lit = cv2.GaussianBlur(lit, (0, 0), rng.uniform(0.8, 1.4))
    lit += rng.normal(0, rng.uniform(4, 9), lit.shape)
    scale = rng.uniform(0.7, 1.3)
    lit = cv2.resize(
        np.clip(lit, 0, 255).astype(np.uint8),
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_AREA,
    )
    return np.asarray(lit)


def crop_embed(rgb: np.ndarray, rng: np.random.Generator, seed: int) -> np.ndarray:
    """A crop of 40-70 % of the design's area, placed into a larger unrelated design."""
    h, w = rgb.shape[:2]
    share = rng.uniform(0.42, 0.7)
    aspect = rng.uniform(0.7, 1.4)
    cw = int(min(w, math.sqrt(share * w * h * aspect)))
    ch = int(min(h, share * w * h / cw))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
    host = draw_design(seed, side=760)
    scale = rng.uniform(0.8, 1.2)
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ch, cw = crop.shape[:2]
    px = int(rng.integers(0, host.shape[1] - cw + 1))
    py = int(rng.integers(0, host.shape[0] - ch + 1))
    host[py : py + ch, px : px + cw] = crop
    return host


def image_variant(rgb: np.ndarray, kind: str, rng: np.random.Generator, seed: int) -> bytes:
    """A copy of a design of one variant kind, as a file's bytes."""
    if kind == "rotation":
        return encode(_rotate(rgb, _angle(rng)))
    if kind == "mirror":
        return encode(np.ascontiguousarray(rgb[:, ::-1] if rng.random() < 0.5 else rgb[::-1]))
    if kind == "resize":
        scale = rng.choice([rng.uniform(0.4, 0.8), rng.uniform(1.25, 2.2)])
        return encode(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    if kind == "jpeg":
        return encode(rgb, "JPEG", quality=int(rng.integers(12, 40)))
    if kind == "recolour":
        ink = rng.uniform(0, 200, 3)
        paper = np.clip(ink + rng.choice([-1, 1]) * rng.uniform(60, 150, 3), 0, 255)
        return encode(_recolour(rgb, ink, paper))
    if kind == "light_on_dark":
        ink = np.array([rng.uniform(190, 255), rng.uniform(150, 220), rng.uniform(40, 120)])
        paper = rng.uniform(0, 60, 3)
        return encode(_recolour(rgb, ink, paper), "WEBP", quality=90)
    if kind == "photo":
        return encode(_photo(rgb, rng), "JPEG", quality=int(rng.integers(70, 90)))
    if kind == "noise":
        noisy = rgb.astype(np.float32) + rng.normal(0, rng.uniform(12, 25), rgb.shape)
        return encode(np.clip(noisy, 0, 255).astype(np.uint8))
    if kind == "blur":
        return encode(cv2.GaussianBlur(rgb, (0, 0), rng.uniform(1.2, 2.2)))
    if kind == "combination":
        ink = np.array([rng.uniform(200, 255)] * 3)
        paper = rng.uniform(10, 80, 3)
        turned = _rotate(
            _recolour(rgb[:, ::-1], ink, paper),
            _angle(rng),
            (int(paper[0]), int(paper[1]), int(paper[2])),
        )
        scale = rng.uniform(0.6, 1.5)
        resized = cv2.resize(turned, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return encode(resized, "JPEG", quality=int(rng.integers(30, 60)))
    if kind == "crop_embed":
        return encode(crop_embed(rgb, rng, seed))
    raise ValueError(kind)


@dataclass(frozen=True)
class ImageCorpus:
    registered: list[Sample]
    variants: list[Sample]
    lookalikes: list[Sample]


def image_corpus(seed: int, *, designs: int = 24, lookalikes: int = 15) -> ImageCorpus:
    """Registered designs (a third with the shared claw, a third with the shared frame), one
    variant of every kind per design, and unrelated look-alikes sharing a motif."""
    rng = np.random.default_rng(seed)
    registered, variants, others = [], [], []
    for number in range(designs):
        design_seed = seed * 1000 + number
        rgb = draw_design(design_seed, claw=number % 3 == 1, frame=number % 3 == 2)
        registered.append(Sample(f"design-{number}.png", encode(rgb)))
        for kind in IMAGE_KINDS:
            data = image_variant(rgb, kind, rng, seed * 1000 + 500 + number)
            variants.append(Sample(f"design-{number}-{kind}", data, number, kind))
    for number in range(lookalikes):
        rgb = draw_design(seed * 1000 + 800 + number, claw=number % 2 == 0, frame=number % 2 == 1)
        others.append(Sample(f"lookalike-{number}.png", encode(rgb)))
    return ImageCorpus(registered, variants, others)


# --- models ----------------------------------------------------------------------------------


def _turn(angle: float, axis: list[int]) -> np.ndarray:
    matrix: np.ndarray = trimesh.transformations.rotation_matrix(angle, axis)  # type: ignore[no-untyped-call]
    return matrix


def _joined(parts: list[trimesh.Trimesh]) -> trimesh.Trimesh:
    joined = trimesh.util.concatenate(parts)
    assert isinstance(joined, trimesh.Trimesh)
    return joined


def _band(rng_params: tuple[float, float, float]) -> trimesh.Trimesh:
    inner, thickness, width = rng_params
    band: trimesh.Trimesh = trimesh.creation.annulus(
        r_min=inner, r_max=inner + thickness, height=width, sections=96
    )
    return band


PLAIN_BAND = (8.5, 1.6, 4.0)


def _head(kind: int, rng: np.random.Generator, top: float) -> list[trimesh.Trimesh]:
    parts: list[trimesh.Trimesh] = []
    if kind == 0:  # claw setting: a gem and prongs
        gem = trimesh.creation.icosphere(subdivisions=3, radius=rng.uniform(3.0, 4.5))
        gem.apply_translation([0, top + 3.5, 0])
        parts.append(gem)
        for k in range(int(rng.integers(4, 7))):
            a = 2 * math.pi * k / 6
            prong = trimesh.creation.cylinder(radius=0.45, height=6.0, sections=16)
            prong.apply_transform(_turn(math.pi / 2, [1, 0, 0]))
            prong.apply_translation([3.2 * math.cos(a), top + 3.0, 3.2 * math.sin(a)])
            parts.append(prong)
    elif kind == 1:  # bezel: a short cylinder and a dome
        bezel = trimesh.creation.cylinder(
            radius=rng.uniform(3.5, 5.5), height=rng.uniform(2.5, 4.5), sections=48
        )
        bezel.apply_transform(_turn(math.pi / 2, [1, 0, 0]))
        bezel.apply_translation([0, top + 1.5, 0])
        parts.append(bezel)
    elif kind == 2:  # cluster of small stones
        for _ in range(int(rng.integers(5, 10))):
            stone = trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(1.0, 2.0))
            stone.apply_translation(
                [rng.uniform(-5, 5), top + rng.uniform(0.5, 3), rng.uniform(-2, 2)]
            )
            parts.append(stone)
    else:  # signet: a flat box
        plate = trimesh.creation.box(
            extents=[rng.uniform(9, 14), rng.uniform(2, 4), rng.uniform(8, 12)]
        )
        plate.apply_translation([0, top + 1.0, 0])
        parts.append(plate)
    return parts


def ring_model(seed: int, *, plain_band: bool = False, head: int | None = None) -> trimesh.Trimesh:
    """A ring: a band (annulus about the z axis, lying in x-y) with a head on top."""
    rng = np.random.default_rng(seed)
    params = (
        PLAIN_BAND
        if plain_band
        else (rng.uniform(7.5, 10), rng.uniform(1.2, 3.0), rng.uniform(2.5, 9))
    )
    band = _band(params)
    band.apply_transform(_turn(math.pi / 2, [1, 0, 0]))
    top = params[0] + params[1]
    kind = int(rng.integers(0, 4)) if head is None else head
    return _joined([band, *_head(kind, rng, top)])


def pendant_model(seed: int) -> trimesh.Trimesh:
    """A pendant: a bail loop, a body (disc, drop or bar) and set stones placed at random, so
    two pendants differ by more than a uniform scale."""
    rng = np.random.default_rng(seed)
    bail = trimesh.creation.torus(
        major_radius=rng.uniform(1.5, 3.0), minor_radius=0.5, major_sections=48, minor_sections=16
    )
    bail.apply_translation([0, 0, rng.uniform(8, 14)])
    kind = int(rng.integers(0, 3))
    if kind == 0:
        body = trimesh.creation.cylinder(
            radius=rng.uniform(5, 9), height=rng.uniform(1, 2.5), sections=64
        )
        body.apply_transform(_turn(math.pi / 2, [1, 0, 0]))
    elif kind == 1:
        body = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
        body.apply_scale([rng.uniform(3, 5), rng.uniform(1, 2), rng.uniform(6, 10)])
    else:
        body = trimesh.creation.box(
            extents=[rng.uniform(2, 4), rng.uniform(1, 2), rng.uniform(12, 20)]
        )
    parts = [bail, body]
    for _ in range(int(rng.integers(2, 6))):
        stone = trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.8, 2.2))
        stone.apply_translation(rng.uniform([-6, -2.5, -8], [6, 2.5, 6]))
        parts.append(stone)
    return _joined(parts)


def export(mesh: trimesh.Trimesh, file_type: str) -> bytes:
    data = mesh.export(file_type=file_type)
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def mesh_variant(mesh: trimesh.Trimesh, kind: str, rng: np.random.Generator) -> Sample:
    if kind == "pose":
        moved = mesh.copy()
        moved.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
        moved.apply_scale(float(rng.uniform(0.3, 4.0)))  # type: ignore[no-untyped-call]
        moved.apply_translation(rng.uniform(-50, 50, 3))
        return Sample("pose.stl", export(moved, "stl"), kind=kind)
    if kind == "reexport":
        file_type = str(rng.choice(["obj", "ply", "3mf"]))
        return Sample(f"reexport.{file_type}", export(mesh, file_type), kind=kind)
    if kind == "remesh":
        finer = mesh.subdivide()
        return Sample("remesh.ply", export(finer, "ply"), kind=kind)
    if kind == "decimate":
        import fast_simplification

        points, faces = fast_simplification.simplify(
            np.asarray(mesh.vertices, np.float32), np.asarray(mesh.faces), target_reduction=0.6
        )
        coarse = trimesh.Trimesh(points, faces, process=False)
        return Sample("decimate.stl", export(coarse, "stl"), kind=kind)
    raise ValueError(kind)


@dataclass(frozen=True)
class MeshCorpus:
    registered: list[Sample]
    variants: list[Sample]
    unrelated: list[Sample]


def mesh_corpus(seed: int, *, models: int = 10, unrelated: int = 8) -> MeshCorpus:
    """Rings and pendants, one variant of every kind each, and unrelated models (some with the
    same plain band or the same kind of setting)."""
    rng = np.random.default_rng(seed)
    registered, variants, others = [], [], []
    for number in range(models):
        model_seed = seed * 1000 + number
        if number % 2 == 0:
            # Registered rings are distinct designs: the plain band carries a claw setting once
            # and a bezel once; the others have their own band (and any head).
            ring = number // 2
            if ring < 2:
                mesh = ring_model(model_seed, plain_band=True, head=ring)
            else:
                mesh = ring_model(model_seed, plain_band=False, head=ring % 4)
        else:
            mesh = pendant_model(model_seed)
        registered.append(Sample(f"model-{number}.stl", export(mesh, "stl")))
        for kind in MESH_KINDS:
            variant = mesh_variant(mesh, kind, rng)
            variants.append(Sample(f"model-{number}-{variant.name}", variant.data, number, kind))
    for number in range(unrelated):
        other_seed = seed * 1000 + 700 + number
        if number % 3 == 0:  # the same plain band, another kind of head (cluster, signet)
            mesh = ring_model(other_seed, plain_band=True, head=2 + number % 2)
        elif number % 3 == 1:  # the same kind of claw setting on another band
            mesh = ring_model(other_seed, plain_band=False, head=0)
        else:
            mesh = pendant_model(other_seed)
        others.append(Sample(f"unrelated-{number}.stl", export(mesh, "stl")))
    return MeshCorpus(registered, variants, others)
