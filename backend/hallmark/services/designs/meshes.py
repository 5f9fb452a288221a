"""3D models: safe loading (STL, OBJ, 3MF, PLY with trimesh) and a shape descriptor.

The descriptor is invariant to rotation, translation, uniform scale and mesh resolution, so a
re-exported, re-meshed, decimated, rotated or scaled model still matches:

* points are sampled on the surface in proportion to area (so the triangulation does not
  matter), with a fixed seed (so the same file always gives the same descriptor);
* they are centred on their centroid and scaled to unit RMS radius;
* D2 shape distribution: the histogram of distances between random pairs of points;
* radial distribution: the histogram of distances from the centroid;
* moment invariants: the eigenvalues of the points' second-moment matrix, as shares of their sum.

Histograms enter as square roots, so the Euclidean distance between two descriptors is the
Hellinger distance between the distributions (plus the weighted moment difference).

Raises:
    MalformedFileError: a file trimesh cannot read, or a mesh with no area or non-finite points.
    DecompressionBombError: more triangles, or (for 3MF) more uncompressed bytes, than allowed.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from hallmark.core.errors import DecompressionBombError, MalformedFileError
from hallmark.services.designs.sniffing import FileKind

if TYPE_CHECKING:
    # trimesh takes a noticeable share of every API process's start-up: it is imported when a
    # model is first read, not when the app is.
    import trimesh

#: Points sampled on the surface, and random pairs drawn for the D2 distribution.
SAMPLES = 32_768
PAIRS = 500_000
D2_BINS = 48
D2_RANGE = 4.0
RADIAL_BINS = 24
RADIAL_RANGE = 3.0
MOMENT_WEIGHT = 2.0
SEED = 20_241_015
#: Length of a shape descriptor.
DESCRIPTOR_LENGTH = D2_BINS + RADIAL_BINS + 3

_FILE_TYPES = {
    FileKind.STL: "stl",
    FileKind.OBJ: "obj",
    FileKind.THREE_MF: "3mf",
    FileKind.PLY: "ply",
}


@dataclass(frozen=True)
class MeshLimits:
    """What a model may decode to."""

    max_faces: int = 2_000_000
    max_unpacked_bytes: int = 400_000_000
    max_zip_ratio: int = 200


def load(data: bytes, kind: FileKind, limits: MeshLimits) -> trimesh.Trimesh:
    """One triangle mesh (all bodies of a scene together) from a model file.

    Raises:
        MalformedFileError, DecompressionBombError.
    """
    if kind is FileKind.THREE_MF:
        _check_archive(data, limits)
    elif kind is FileKind.STL and len(data) >= 84 and not data.lstrip().startswith(b"solid"):
        faces = int.from_bytes(data[80:84], "little")
        if faces > limits.max_faces:
            raise DecompressionBombError(
                kind.value, what="triangles", size=faces, limit=limits.max_faces
            )
    import trimesh

    try:
        loaded = trimesh.load(
            io.BytesIO(data), file_type=_FILE_TYPES[kind], force="mesh", process=False
        )
    except DecompressionBombError:
        raise
    except Exception as exc:  # trimesh's loaders raise anything from ValueError to KeyError
        raise MalformedFileError(kind.value, f"cannot be read ({type(exc).__name__})") from exc
    if not isinstance(loaded, trimesh.Trimesh):
        raise MalformedFileError(kind.value, "holds no triangle mesh")
    return _checked(loaded, kind, limits)


def _check_archive(data: bytes, limits: MeshLimits) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise MalformedFileError("3mf", "not a readable ZIP archive") from exc
    limit = min(limits.max_unpacked_bytes, max(1, len(data)) * limits.max_zip_ratio)
    if unpacked > limit:
        raise DecompressionBombError("3mf", what="uncompressed bytes", size=unpacked, limit=limit)


def _checked(mesh: trimesh.Trimesh, kind: FileKind, limits: MeshLimits) -> trimesh.Trimesh:
    faces = np.asarray(mesh.faces)
    vertices = np.asarray(mesh.vertices)
    if len(faces) > limits.max_faces:
        raise DecompressionBombError(
            kind.value, what="triangles", size=len(faces), limit=limits.max_faces
        )
    if len(faces) == 0 or len(vertices) < 3:
        raise MalformedFileError(kind.value, "the model has no triangles")
    if not np.all(np.isfinite(vertices)):
        raise MalformedFileError(kind.value, "the model has non-finite coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MalformedFileError(kind.value, "a triangle names a vertex that does not exist")
    areas = np.asarray(mesh.area_faces)
    if not np.isfinite(areas).all() or areas.sum() <= 0:
        raise MalformedFileError(kind.value, "the model has no surface area")
    return mesh


def shape_descriptor(mesh: trimesh.Trimesh) -> npt.NDArray[np.float32]:
    """The resolution-, pose- and scale-invariant descriptor of a mesh (`DESCRIPTOR_LENGTH`)."""
    rng = np.random.default_rng(SEED)
    areas = np.asarray(mesh.area_faces, dtype=np.float64)
    keep = areas > 0
    triangles = np.asarray(mesh.triangles, dtype=np.float64)[keep]
    chosen = rng.choice(len(triangles), size=SAMPLES, p=areas[keep] / areas[keep].sum())
    # Uniform points in each chosen triangle (the square-root trick for barycentric weights).
    first, second = rng.random(SAMPLES), rng.random(SAMPLES)
    root = np.sqrt(first)
    corners = triangles[chosen]
    points = (
        (1 - root)[:, None] * corners[:, 0]
        + (root * (1 - second))[:, None] * corners[:, 1]
        + (root * second)[:, None] * corners[:, 2]
    )
    points -= points.mean(axis=0)
    radii = np.linalg.norm(points, axis=1)
    scale = float(np.sqrt(np.mean(radii**2)))
    if not np.isfinite(scale) or scale <= 0:
        raise MalformedFileError("mesh", "the model has no extent")
    points /= scale
    radii /= scale
    left, right = rng.integers(0, SAMPLES, PAIRS), rng.integers(0, SAMPLES, PAIRS)
    distances = np.linalg.norm(points[left] - points[right], axis=1)
    d2, _ = np.histogram(distances, bins=D2_BINS, range=(0.0, D2_RANGE))
    radial, _ = np.histogram(radii, bins=RADIAL_BINS, range=(0.0, RADIAL_RANGE))
    moments = np.sort(np.linalg.eigvalsh(points.T @ points / SAMPLES))[::-1]
    return np.concatenate(
        [
            np.sqrt(d2 / d2.sum()),
            np.sqrt(radial / radial.sum()),
            MOMENT_WEIGHT * moments / moments.sum(),
        ]
    ).astype(np.float32)
