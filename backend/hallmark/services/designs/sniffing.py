"""What a design file is, told from its content, never from its name.

`sniff` reads the leading bytes (and, for a ZIP, the member names) and returns a `FileKind`. A
name or media type that claims a design kind the content is not is refused with
`MislabelledFileError`; content of no design kind is `FileKind.OTHER` (registered by exact hash
only).

Raises:
    MislabelledFileError: the name or media type claims a kind the content is not.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from enum import StrEnum

from hallmark.core.errors import MislabelledFileError


class FileKind(StrEnum):
    """The kinds of design file Hallmark fingerprints beyond their exact hash."""

    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    SVG = "svg"
    STL = "stl"
    OBJ = "obj"
    THREE_MF = "3mf"
    PLY = "ply"
    OTHER = "other"

    @property
    def is_image(self) -> bool:
        """Raster or vector image: fingerprinted with Image-Codes and local features."""
        return self in _IMAGES

    @property
    def is_mesh(self) -> bool:
        """3D model: fingerprinted with a shape descriptor."""
        return self in _MESHES


_IMAGES = frozenset({FileKind.PNG, FileKind.JPEG, FileKind.WEBP, FileKind.SVG})
_MESHES = frozenset({FileKind.STL, FileKind.OBJ, FileKind.THREE_MF, FileKind.PLY})

_BY_EXTENSION = {
    "png": FileKind.PNG,
    "jpg": FileKind.JPEG,
    "jpeg": FileKind.JPEG,
    "jpe": FileKind.JPEG,
    "webp": FileKind.WEBP,
    "svg": FileKind.SVG,
    "stl": FileKind.STL,
    "obj": FileKind.OBJ,
    "3mf": FileKind.THREE_MF,
    "ply": FileKind.PLY,
}
_BY_MEDIA_TYPE = {
    "image/png": FileKind.PNG,
    "image/jpeg": FileKind.JPEG,
    "image/webp": FileKind.WEBP,
    "image/svg+xml": FileKind.SVG,
    "model/stl": FileKind.STL,
    "model/x.stl-binary": FileKind.STL,
    "model/x.stl-ascii": FileKind.STL,
    "model/obj": FileKind.OBJ,
    "model/3mf": FileKind.THREE_MF,
    "application/vnd.ms-package.3dmanufacturing-3dmodel+xml": FileKind.THREE_MF,
    "model/ply": FileKind.PLY,
}

_HEAD = 65536
_SVG_ROOT = re.compile(
    r"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*<svg[\s>/]",
    re.DOTALL,
)
_OBJ_KEYWORDS = frozenset(
    {"v", "vt", "vn", "vp", "f", "l", "p", "o", "g", "s", "usemtl", "mtllib", "cstype", "deg"}
)


def claimed_kind(filename: str | None, media_type: str | None) -> FileKind | None:
    """The design kind a name's extension or a media type claims, if it claims one."""
    if media_type:
        media = media_type.split(";", 1)[0].strip().lower()
        if media in _BY_MEDIA_TYPE:
            return _BY_MEDIA_TYPE[media]
    if filename and "." in filename:
        return _BY_EXTENSION.get(filename.rsplit(".", 1)[1].strip().lower())
    return None


def detect_kind(data: bytes) -> FileKind:
    """The kind of a file's content, from its magic numbers and structure."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if data.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FileKind.WEBP
    if data.startswith((b"ply\n", b"ply\r\n")):
        return FileKind.PLY
    if data.startswith(b"PK\x03\x04"):
        return FileKind.THREE_MF if _is_3mf(data) else FileKind.OTHER
    if len(data) >= 84 and 84 + 50 * struct.unpack_from("<I", data, 80)[0] == len(data):
        return FileKind.STL
    text = _text_head(data)
    if text is None:
        return FileKind.OTHER
    if _SVG_ROOT.match(text):
        return FileKind.SVG
    stripped = text.lstrip()
    if stripped.startswith("solid") and "facet" in stripped[:4096] and "vertex" in stripped:
        return FileKind.STL
    if _looks_like_obj(text):
        return FileKind.OBJ
    return FileKind.OTHER


def sniff(data: bytes, *, filename: str | None = None, media_type: str | None = None) -> FileKind:
    """The content's kind, checked against what the name and media type claim.

    Raises:
        MislabelledFileError: a claimed design kind differs from the content's kind.
    """
    detected = detect_kind(data)
    claimed = claimed_kind(filename, media_type)
    if claimed is not None and claimed is not detected:
        raise MislabelledFileError(claimed=claimed.value, detected=detected.value)
    return detected


def _text_head(data: bytes) -> str | None:
    head = data[:_HEAD]
    if b"\x00" in head:
        return None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    # A multi-byte character may be cut at the end of the head: ignore only that.
    text = head.decode("utf-8", errors="ignore")
    if len(text.encode("utf-8")) < len(head) - 4:
        return None
    return text


def _looks_like_obj(text: str) -> bool:
    vertices = faces = 0
    lines = [line.strip() for line in text.splitlines()[:2000]]
    for line in lines[:-1] if len(text) >= _HEAD else lines:
        if not line or line.startswith("#"):
            continue
        keyword = line.split(None, 1)[0]
        if keyword not in _OBJ_KEYWORDS:
            return False
        vertices += keyword == "v"
        faces += keyword == "f"
    return vertices >= 3 and (faces > 0 or len(text) >= _HEAD)


def _is_3mf(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = {name.lower() for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "3d/3dmodel.model" in names
