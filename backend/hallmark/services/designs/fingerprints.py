"""A design file's fingerprint: what is registered on chain and what the index compares.

`fingerprint_file` sniffs the content (never trusting the name), then computes:

* every file: SHA-256 (the on-chain key), ISCC Instance-Code and Data-Code (iscc-core);
* images: the ISO 24138 Image-Codes of the picture as decoded in its 8 rotations and mirrors
  (re-computable by anyone with Pillow and iscc-core), the Image-Codes of its structure map in
  8 orientations (the index's keys) and its local features;
* 3D models: the shape descriptor (meshes.py).

`probe_file` does the same for a file to search with, adding the mirrored local features (ORB
descriptors are not mirror-invariant; the registered side keeps one set, the query brings both).

Raises:
    MislabelledFileError: name or media type claims a kind the content is not.
    MalformedFileError: an image or model that cannot be decoded safely.
    DecompressionBombError: a file that would decode to more than the limits allow.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from hallmark.services.designs import images, meshes
from hallmark.services.designs.images import ImageLimits, LocalFeatures
from hallmark.services.designs.meshes import MeshLimits
from hallmark.services.designs.sniffing import FileKind, sniff


@dataclass(frozen=True)
class Limits:
    """Decoding limits for images and models."""

    image: ImageLimits = field(default_factory=ImageLimits)
    mesh: MeshLimits = field(default_factory=MeshLimits)


@dataclass(frozen=True)
class DesignFingerprint:
    """Everything Hallmark derives from a design file (no personal data: file content only)."""

    kind: FileKind
    size: int
    sha256: str
    instance_code: str
    data_code: str
    image_codes: tuple[str, ...] = ()
    search_codes: tuple[int, ...] = ()
    features: LocalFeatures | None = None
    shape: npt.NDArray[np.float32] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (arrays as base64) that `from_dict` reads back exactly."""
        return {
            "kind": self.kind.value,
            "size": self.size,
            "sha256": self.sha256,
            "instance_code": self.instance_code,
            "data_code": self.data_code,
            "image_codes": list(self.image_codes),
            "search_codes": [f"{code:016x}" for code in self.search_codes],
            "features": None if self.features is None else _features_to_dict(self.features),
            "shape": None if self.shape is None else _b64(self.shape.astype("<f4").tobytes()),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignFingerprint:
        """The fingerprint `to_dict` wrote."""
        features = data.get("features")
        shape = data.get("shape")
        return cls(
            kind=FileKind(data["kind"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            instance_code=str(data["instance_code"]),
            data_code=str(data["data_code"]),
            image_codes=tuple(str(code) for code in data.get("image_codes", ())),
            search_codes=tuple(int(code, 16) for code in data.get("search_codes", ())),
            features=None if features is None else _features_from_dict(features),
            shape=None
            if shape is None
            else np.frombuffer(base64.b64decode(shape), dtype="<f4").astype(np.float32),
        )


@dataclass(frozen=True)
class Probe:
    """A file to search with: its fingerprint and its mirrored local features."""

    fingerprint: DesignFingerprint
    mirrored: LocalFeatures | None = None


def sha256_hex(data: bytes) -> str:
    """SHA-256 of the file, lower-case hex (as sha256sum prints it)."""
    return hashlib.sha256(data).hexdigest()


def fingerprint_file(
    data: bytes,
    *,
    filename: str | None = None,
    media_type: str | None = None,
    limits: Limits | None = None,
) -> DesignFingerprint:
    """The fingerprint of a design file (see the module docstring for what it holds)."""
    return _fingerprint(data, filename, media_type, limits or Limits(), mirrored=False).fingerprint


def probe_file(
    data: bytes,
    *,
    filename: str | None = None,
    media_type: str | None = None,
    limits: Limits | None = None,
) -> Probe:
    """The fingerprint of a file to search with, plus its mirrored local features."""
    return _fingerprint(data, filename, media_type, limits or Limits(), mirrored=True)


def _fingerprint(
    data: bytes, filename: str | None, media_type: str | None, limits: Limits, *, mirrored: bool
) -> Probe:
    import iscc_core  # when first used, not in every process's start-up (as trimesh)

    kind = sniff(data, filename=filename, media_type=media_type)
    base = DesignFingerprint(
        kind=kind,
        size=len(data),
        sha256=sha256_hex(data),
        instance_code=str(iscc_core.gen_instance_code_v0(io.BytesIO(data))["iscc"]),
        data_code=str(iscc_core.gen_data_code_v0(io.BytesIO(data))["iscc"]),
    )
    if kind.is_image:
        picture = images.decode(data, kind, limits.image)
        mapped = images.structure(picture)
        # A probe is compared as it is: the registered side holds the 8 orientations.
        turns = 1 if mirrored else 8
        fingerprint = replace(
            base,
            image_codes=images.image_codes(picture)
            if turns == 8
            else (images.image_code(picture),),
            search_codes=images.search_codes(mapped, turns=turns),
            features=images.local_features(mapped),
        )
        mirror = images.local_features(np.ascontiguousarray(mapped[:, ::-1])) if mirrored else None
        return Probe(fingerprint, mirror)
    if kind.is_mesh:
        mesh = meshes.load(data, kind, limits.mesh)
        return Probe(replace(base, shape=meshes.shape_descriptor(mesh)))
    return Probe(base)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _features_to_dict(features: LocalFeatures) -> dict[str, Any]:
    return {
        "width": features.width,
        "height": features.height,
        "points": _b64(features.points.astype("<f4").tobytes()),
        "descriptors": _b64(features.descriptors.tobytes()),
    }


def _features_from_dict(data: dict[str, Any]) -> LocalFeatures:
    points = np.frombuffer(base64.b64decode(data["points"]), dtype="<f4").reshape(-1, 2)
    descriptors = np.frombuffer(base64.b64decode(data["descriptors"]), dtype=np.uint8)
    return LocalFeatures(
        points.astype(np.float32),
        descriptors.reshape(-1, 32).copy(),
        int(data["width"]),
        int(data["height"]),
    )
