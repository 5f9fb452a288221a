"""Images: safe decoding, the structure map, Image-Codes in 8 orientations, local features.

Flow for an image file: `decode` (PNG, JPEG, WebP with Pillow; SVG checked for entities and
external references, then rasterised by resvg with no file or network access) gives RGB pixels
within the pixel limit; `image_codes` are the ISO 24138 Image-Codes (iscc-core) of the picture as
decoded, in its 8 rotations and mirrors, as a third party recomputes them with Pillow and
iscc-core; `structure` maps the picture to dark strokes on a light ground whatever its colours,
polarity (light-on-dark), lighting gradient or noise, and `search_codes` are the Image-Codes of
that map in 8 orientations (what the index compares); `local_features` are ORB keypoints of the
map (rotation and scale invariant), which the second search stage matches with a RANSAC
homography to find rotated, photographed and partial copies.

Raises:
    MalformedFileError: undecodable image; an SVG with a DTD, entities or external references.
    DecompressionBombError: more pixels than the limit.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException
from PIL import Image, ImageOps
from resvg_py import svg_to_bytes

from hallmark.core.errors import DecompressionBombError, MalformedFileError, MislabelledFileError
from hallmark.services.designs.sniffing import FileKind

Pixels = npt.NDArray[np.uint8]

#: Side of the structure map (longest side, pixels) the codes and features are computed on.
STRUCTURE_SIDE = 512
#: Side an SVG is rasterised to (longest side, pixels).
SVG_SIDE = 1024
_SVG_MAX_ASPECT = 16.0
_PIL_FORMATS = {FileKind.PNG: "PNG", FileKind.JPEG: "JPEG", FileKind.WEBP: "WEBP"}
_URL_REFERENCE = re.compile(r"url\(\s*['\"]?\s*([^)'\"\s]*)", re.IGNORECASE)
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px)?\s*$")


@dataclass(frozen=True)
class ImageLimits:
    """What an image may decode to."""

    max_pixels: int = 25_000_000
    max_svg_bytes: int = 4_000_000
    min_side: int = 16


def decode(data: bytes, kind: FileKind, limits: ImageLimits) -> Image.Image:
    """An RGB picture from an image file of `kind`, refused if unsafe or too large.

    Raises:
        MalformedFileError, DecompressionBombError, MislabelledFileError.
    """
    if kind is FileKind.SVG:
        data = rasterise_svg(data, limits)
        kind = FileKind.PNG
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]]) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise DecompressionBombError(
                    kind.value, what="pixels", size=width * height, limit=limits.max_pixels
                )
            if min(width, height) < limits.min_side:
                raise MalformedFileError(
                    kind.value, f"{width}x{height} pixels; at least {limits.min_side} a side"
                )
            image.seek(0)
            oriented = ImageOps.exif_transpose(image)
            return _flatten(oriented)
    except (DecompressionBombError, MalformedFileError):
        raise
    except Image.DecompressionBombError as exc:
        raise DecompressionBombError(
            kind.value, what="pixels", size=-1, limit=limits.max_pixels
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise MalformedFileError(kind.value, f"cannot be decoded ({type(exc).__name__})") from exc


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, transparency composited on white (as a printed design is seen)."""
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    return image.convert("RGB")


def rasterise_svg(data: bytes, limits: ImageLimits) -> bytes:
    """PNG bytes of an SVG, after refusing entities, DTDs and any external reference.

    resvg reads no network; references to files are refused here before it sees the text, so
    nothing outside the upload is ever read.
    """
    if len(data) > limits.max_svg_bytes:
        raise DecompressionBombError(
            "svg", what="bytes", size=len(data), limit=limits.max_svg_bytes
        )
    try:
        root = SafeElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise MalformedFileError("svg", "DTDs and entities are not accepted") from exc
    except SafeElementTree.ParseError as exc:
        raise MalformedFileError("svg", f"not well-formed XML ({exc})") from exc
    if not root.tag.endswith("svg"):
        raise MislabelledFileError(claimed="svg", detected="xml")
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.endswith("href") and not value.strip().startswith(("#", "data:")):
                raise MalformedFileError("svg", f"external reference {value[:80]!r} refused")
            _check_urls(value)
        if element.tag.endswith("style") and element.text:
            if "@import" in element.text:
                raise MalformedFileError("svg", "@import in a style sheet refused")
            _check_urls(element.text)
    width, height = _svg_aspect(root)
    if max(width / height, height / width) > _SVG_MAX_ASPECT:
        raise MalformedFileError("svg", f"aspect ratio {width:g}:{height:g} refused")
    wide = width >= height
    try:
        rendered = svg_to_bytes(
            svg_string=data.decode("utf-8"),
            skip_system_fonts=True,
            background="#ffffff",
            width=SVG_SIDE if wide else None,
            height=None if wide else SVG_SIDE,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedFileError("svg", f"cannot be rendered ({exc})") from exc
    return bytes(rendered)


def _check_urls(text: str) -> None:
    for target in _URL_REFERENCE.findall(text):
        if target and not target.startswith(("#", "data:")):
            raise MalformedFileError("svg", f"external reference {target[:80]!r} refused")


def _svg_aspect(root: SafeElementTree.Element) -> tuple[float, float]:
    box = root.attrib.get("viewBox", "").replace(",", " ").split()
    if len(box) == 4:
        try:
            width, height = float(box[2]), float(box[3])
        except ValueError as exc:
            raise MalformedFileError("svg", "malformed viewBox") from exc
    else:
        width_match = _LENGTH.match(root.attrib.get("width", "100"))
        height_match = _LENGTH.match(root.attrib.get("height", "100"))
        width = float(width_match.group(1)) if width_match else 100.0
        height = float(height_match.group(1)) if height_match else 100.0
    if not (width > 0 and height > 0 and np.isfinite(width) and np.isfinite(height)):
        raise MalformedFileError("svg", "the drawing has no area")
    return width, height


def orientations(image: Image.Image) -> list[Image.Image]:
    """The 8 rotations and mirrors: 0, 90, 180, 270 degrees, then the same mirrored."""
    mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    turns = [
        None,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_180,
        Image.Transpose.ROTATE_270,
    ]
    return [
        base if turn is None else base.transpose(turn)
        for base in (image, mirrored)
        for turn in turns
    ]


def image_code(image: Image.Image) -> str:
    """ISO 24138 Image-Code (64 bits): grey, 32x32 bicubic with Pillow, then iscc-core."""
    import iscc_core  # when first used, not in every process's start-up (as trimesh)

    pixels = image.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return str(iscc_core.gen_image_code_v0(list(pixels.tobytes()), bits=64)["iscc"])


def image_codes(image: Image.Image) -> tuple[str, ...]:
    """The Image-Codes of the picture as decoded, in its 8 orientations."""
    return tuple(image_code(turned) for turned in orientations(image))


def code_value(iscc: str) -> int:
    """The 64-bit body of an ISCC unit, as an unsigned integer."""
    import iscc_core

    return int(iscc_core.Code(iscc).hash_uint)


def structure(image: Image.Image) -> Pixels:
    """Dark strokes on a light ground, whatever the colours, polarity, lighting and noise.

    Colours are projected on their principal axis (a recolouring keeps the strokes' contrast
    even when the new colours share a brightness), the lighting gradient is divided out against
    a wide blur, and the polarity is set so the strokes (the minority) are dark.
    """
    rgb: npt.NDArray[np.float32] = np.asarray(image, dtype=np.float32)
    scale = STRUCTURE_SIDE / max(rgb.shape[:2])
    if scale < 1:
        size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
        rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.float32)
    flat = rgb.reshape(-1, 3)
    centred = flat - flat.mean(axis=0)
    covariance = centred.T @ centred / max(1, len(centred) - 1)
    values, vectors = np.linalg.eigh(covariance)
    axis = vectors[:, -1] if values[-1] > 1e-6 else np.array([0.299, 0.587, 0.114])
    grey = (centred @ axis).reshape(rgb.shape[:2]).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 0.8)
    residual = grey - _background(grey)
    low, high = np.percentile(residual, [2, 98])
    if abs(low) < abs(high):
        residual = -residual
        low = -high
    depth = abs(float(low))
    if depth < 1e-3:
        return np.full(grey.shape, 255, dtype=np.uint8)
    mapped = 255.0 * (1.0 + residual / (2.0 * depth))
    return np.asarray(np.clip(mapped, 0, 255), dtype=np.uint8)


def _background(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The lighting: a blur 1/16 of the picture wide, computed at 1/8 scale (15x faster)."""
    height, width = grey.shape
    small = cv2.resize(
        grey, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA
    )
    blurred = cv2.GaussianBlur(small, (0, 0), max(width, height) / 128)
    return np.asarray(
        cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32
    )


def search_codes(mapped: Pixels, *, turns: int = 8) -> tuple[int, ...]:
    """Image-Code bodies of the structure map in its first `turns` orientations (the index's
    keys: 8 for a registration, 1 for a probe)."""
    picture = Image.fromarray(mapped)
    return tuple(code_value(image_code(turned)) for turned in orientations(picture)[:turns])


@dataclass(frozen=True)
class LocalFeatures:
    """ORB keypoints of a structure map: positions (n, 2) and 256-bit descriptors (n, 32)."""

    points: npt.NDArray[np.float32]
    descriptors: Pixels
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.points)


#: Keypoints kept per image (strongest first).
MAX_KEYPOINTS = 700


def local_features(mapped: Pixels) -> LocalFeatures:
    """ORB keypoints and descriptors of a structure map (fixed settings: reproducible)."""
    orb = cv2.ORB.create(
        nfeatures=MAX_KEYPOINTS, scaleFactor=1.2, nlevels=8, edgeThreshold=19, patchSize=31
    )
    keypoints, descriptors = orb.detectAndCompute(mapped, None)
    height, width = mapped.shape[:2]
    if descriptors is None or not keypoints:
        return LocalFeatures(
            np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), width, height
        )
    # Strongest first: the vote index takes a registration's leading keypoints only.
    order = np.argsort([-keypoint.response for keypoint in keypoints], kind="stable")
    points = np.array([keypoints[i].pt for i in order], dtype=np.float32).reshape(-1, 2)
    return LocalFeatures(points, descriptors[order].astype(np.uint8), width, height)
