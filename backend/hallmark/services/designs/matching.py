"""The second search stage: local features matched with a geometric check, and coverage.

`verify` matches the ORB descriptors of a query against those of one registered design (a
ratio test on the two nearest), fits a homography from the registered design to the query with
RANSAC (a rotated, scaled, photographed or embedded copy is one plane mapped onto another) and
measures how much of the registered design the agreeing keypoints cover. Coverage, not the
inlier count, decides: a shared claw setting or frame yields many inliers in a small part of the
design, a copy (even a crop of 40 %) covers a large part.

Coverage is the share of the registered design's keypoint-occupied grid cells that hold an
inlier, on a `GRID` x `GRID` grid over the design (a hand-written measure: no library offers
"share of a design matched"; the convex hull of the inliers would let two inliers at opposite
corners of a shared frame cover everything).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import faiss
import numpy as np
import numpy.typing as npt

from hallmark.services.designs.images import LocalFeatures

#: Grid over the registered design for the coverage measure.
GRID = 12
#: Lowe's ratio between the nearest and second-nearest descriptor distance.
RATIO = 0.8
#: Largest Hamming distance (of 256 bits) for a descriptor match.
MAX_DESCRIPTOR_DISTANCE = 80
#: Guided matching: a mapped keypoint within this share of the RANSAC threshold of a query
#: keypoint, with descriptors at most this far apart, counts as matched.
GUIDED_RADIUS = 0.5
GUIDED_DISTANCE = 48
#: RANSAC reprojection threshold, as a share of the query's longest side.
REPROJECTION = 0.012


@dataclass(frozen=True)
class Verification:
    """A geometric match of a query onto a registered design."""

    inliers: int
    coverage: float
    homography: npt.NDArray[np.float64]
    #: The registered design's keypoints the match explains (guided matching).
    explained: npt.NDArray[np.bool_]


class QueryMatcher:
    """A query's local features with a FAISS index over its descriptors, built once and matched
    against many registered designs (FAISS's Hamming scan is ~6x faster than OpenCV's brute
    force matcher here)."""

    def __init__(self, query: LocalFeatures) -> None:
        self.query = query
        self._index = faiss.IndexBinaryFlat(256)
        if len(query):
            self._index.add(np.ascontiguousarray(query.descriptors))

    def verify(
        self,
        registered: LocalFeatures,
        *,
        min_inliers: int,
        distinctive: npt.NDArray[np.bool_] | None = None,
    ) -> Verification | None:
        """The geometric match of `registered` onto the query, or None when there is none.

        `distinctive` marks the registered keypoints that coverage counts (all when None): the
        index leaves out those of a motif several other registrations share.
        """
        query = self.query
        if len(query) < 2 or len(query) < min_inliers or len(registered) < min_inliers:
            return None
        distances, labels = self._index.search(np.ascontiguousarray(registered.descriptors), 2)
        good = (
            (distances[:, 0] <= MAX_DESCRIPTOR_DISTANCE)
            & (distances[:, 0] < RATIO * distances[:, 1])
            & (labels[:, 0] >= 0)
        )
        if int(good.sum()) < min_inliers:
            return None
        source = registered.points[good]
        target = query.points[labels[good, 0]]
        threshold = REPROJECTION * max(query.width, query.height)
        homography, mask = cv2.findHomography(source, target, _usac(threshold))
        if homography is None or mask is None:
            return None
        inlying = mask.ravel().astype(bool)
        count = int(inlying.sum())
        if count < min_inliers or not _plausible(homography, registered):
            return None
        explained = self._explained(registered, homography, threshold)
        counted = explained if distinctive is None else explained & distinctive
        share = coverage(registered, registered.points[counted], among=distinctive)
        return Verification(count, share, homography, explained)

    def _explained(
        self, registered: LocalFeatures, homography: npt.NDArray[np.float64], threshold: float
    ) -> npt.NDArray[np.bool_]:
        """Registered keypoints the homography maps onto a query keypoint with a similar
        descriptor (guided matching: it recovers the matches a ratio test loses where a copy
        is embedded among other drawings)."""
        projected = cv2.perspectiveTransform(
            registered.points.reshape(-1, 1, 2).astype(np.float64), homography
        ).reshape(-1, 2)
        theirs_at = self.query.points.astype(np.float64)
        across = projected[:, 0, None] - theirs_at[None, :, 0]
        down = projected[:, 1, None] - theirs_at[None, :, 1]
        near = across * across + down * down <= (GUIDED_RADIUS * threshold) ** 2
        near_rows, near_columns = np.nonzero(near)
        explained = np.zeros(len(registered), dtype=bool)
        if len(near_rows):
            ours = registered.descriptors.view(np.uint64)[near_rows]
            theirs = self.query.descriptors.view(np.uint64)[near_columns]
            similar = np.bitwise_count(ours ^ theirs).sum(axis=1) <= GUIDED_DISTANCE
            explained[near_rows[similar]] = True
        return explained


def _usac(threshold: float) -> cv2.UsacParams:
    """OpenCV's USAC (accurate preset, fixed seed): deterministic, and ~30x faster than the
    classic RANSAC loop when most matches are outliers."""
    params = cv2.UsacParams()
    params.confidence = 0.995
    params.maxIterations = 2000
    params.threshold = threshold
    params.randomGeneratorState = 15
    params.sampler = cv2.SAMPLING_UNIFORM
    params.score = cv2.SCORE_METHOD_MAGSAC
    params.loMethod = cv2.LOCAL_OPTIM_SIGMA
    params.loIterations = 10
    params.loSampleSize = 14
    params.final_polisher = cv2.MAGSAC
    params.final_polisher_iterations = 10
    params.isParallel = False
    return params


def coverage(
    registered: LocalFeatures,
    inlier_points: npt.NDArray[np.float32],
    *,
    among: npt.NDArray[np.bool_] | None = None,
) -> float:
    """How much of the registered design the inliers cover: the smaller of two shares, each
    blind to one way a shared part could pose as a copy. `among` restricts the design to those
    of its keypoints (its distinctive ones); the inliers should be among them.

    * cells: the share of the design's keypoint-occupied grid cells holding an inlier (a shared
      frame spans the design but touches few cells);
    * hull: the area of the inliers' convex hull over that of all the design's keypoints (a
      dense shared setting fills many small cells but spans a small area).
    """
    points = registered.points if among is None else registered.points[among]
    if len(points) < 3 or len(inlier_points) < 3:
        return 0.0
    occupied = _cells(points, registered.width, registered.height)
    covered = _cells(inlier_points, registered.width, registered.height) & occupied
    cells = len(covered) / len(occupied)
    whole = cv2.contourArea(cv2.convexHull(points.astype(np.float32)))
    if whole <= 0:
        return 0.0
    hull = cv2.contourArea(cv2.convexHull(inlier_points.astype(np.float32))) / whole
    return float(min(cells, hull))


def _cells(points: npt.NDArray[np.float32], width: int, height: int) -> set[tuple[int, int]]:
    columns = np.clip((points[:, 0] * GRID / width).astype(int), 0, GRID - 1)
    rows = np.clip((points[:, 1] * GRID / height).astype(int), 0, GRID - 1)
    return set(zip(columns.tolist(), rows.tolist(), strict=True))


def _plausible(homography: npt.NDArray[np.float64], registered: LocalFeatures) -> bool:
    """A homography a copy can have: orientation kept, area scaled at most 30x, mild perspective."""
    corners = np.array(
        [
            [0, 0],
            [registered.width, 0],
            [registered.width, registered.height],
            [0, registered.height],
        ],
        dtype=np.float64,
    ).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(corners, homography).reshape(-1, 2)
    if not np.all(np.isfinite(mapped)):
        return False
    area = cv2.contourArea(mapped.astype(np.float32), oriented=True)
    reference = cv2.contourArea(corners.reshape(-1, 2).astype(np.float32), oriented=True)
    if area * reference <= 0:
        return False
    area, original = abs(area), abs(reference)
    if not (original / 30 <= area <= original * 30):
        return False
    if not cv2.isContourConvex(mapped.astype(np.float32)):
        return False
    perspective = abs(homography[2, 0]) + abs(homography[2, 1])
    return bool(perspective * max(registered.width, registered.height) < 1.0)
