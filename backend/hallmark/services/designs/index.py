"""The similarity index: exact lookup, image codes, local features and shape descriptors.

Search flow for a probe (fingerprints.probe_file):

1. exact: the SHA-256 → registrations table (a dict: independent of the registry's size);
2. images, stage 1: the probe's structure-map Image-Code against the 8 orientation codes of
   every registered image (codes.py: an exact multi-index hash table, within `code_radius`);
3. images, stage 2: candidates are the stage-1 hits plus the registrations whose ORB
   descriptors the probe's (and its mirror's) descriptors hit most often in a FAISS binary
   index of all registered descriptors; each candidate is verified geometrically and its
   coverage measured (matching.py) over the registration's distinctive keypoints only (those
   not also explained in `motif_registrations` other registrations, counted when each design
   is added: a shared frame or setting does not count). Arbitrary rotations, photos and crops
   that defeat a global code are found here;
4. models: the nearest shape descriptors (Euclidean, FAISS) within `shape_radius`.

An image registration is flagged when a geometric match covers at least `min_coverage` of it
(the code distance ranks and explains, it never flags alone: a global code of line art is close
for unrelated drawings that share a frame); a model when its descriptor lies within
`shape_radius`. Flags are prompts for a person, never a verdict.

The index persists to a directory (`save`, `load`) and is rebuilt from stored fingerprints by
`rebuild` (an iterable of (registration, fingerprint) pairs, e.g. from chain logs + metadata).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import numpy.typing as npt

from hallmark.services.designs import matching
from hallmark.services.designs.codes import CodeTable
from hallmark.services.designs.fingerprints import DesignFingerprint, Probe
from hallmark.services.designs.images import LocalFeatures
from hallmark.services.designs.meshes import DESCRIPTOR_LENGTH

#: 2: each image registration also carries its keypoints' sharing counts.
_FORMAT = 2

# One query is a small scan: on shared cores OpenMP's thread team costs more than it gives
# (measured: 4x slower with 2 threads on a loaded 2-core machine).
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class SearchSettings:
    """Thresholds of the similarity search (docs/DESIGNS.md gives their measured effect)."""

    #: Largest Hamming distance (of 64 bits) between Image-Codes for a stage-1 candidate.
    code_radius: int = 10
    #: Inliers a geometric match needs.
    min_inliers: int = 12
    #: Share of a registered design a geometric match must cover to be flagged.
    min_coverage: float = 0.35
    #: Registrations re-ranked by local features per probe (besides the stage-1 hits).
    candidates: int = 12
    #: A registration's strongest keypoints that enter the vote index (the geometric check
    #: uses all of them): the vote scan costs in proportion.
    vote_keypoints: int = 300
    #: Largest descriptor distance (of 256 bits) that counts as a vote for a registration.
    vote_distance: int = 64
    #: Registered descriptors beyond which the vote index turns from a flat scan into an
    #: inverted file (FAISS IndexBinaryIVF, about 2 sqrt(n) lists), probing `vote_probes` lists;
    #: it is trained again on every descriptor each time their number has grown `vote_retrain`
    #: times. (A flat scan of 1,400 query descriptors took 0.47 s over 30,000 registered ones
    #: and 2.4 s over 300,000, the inverted file 0.03 s: docs/BENCHMARKS.md.)
    vote_ivf_above: int = 30_000
    vote_retrain: float = 4.0
    vote_probes: int = 16
    #: Largest distance between shape descriptors for a model to be flagged.
    shape_radius: float = 0.06
    #: A registered keypoint that a geometric match explains in at least this many other
    #: registrations belongs to a shared motif (a frame, a setting) and coverage leaves it out.
    motif_registrations: int = 2
    #: Two registrations that cover at least this share of each other are versions of one
    #: design (drafts, a registered copy), not a shared motif: they mark nothing shared.
    versions_coverage: float = 0.6


@dataclass(frozen=True)
class SimilarDesign:
    """One ranked result: the registration, how close it is, and whether it is flagged."""

    registration: str
    flagged: bool
    code_distance: int | None = None
    inliers: int = 0
    coverage: float = 0.0
    shape_distance: float | None = None


@dataclass(frozen=True)
class SearchResult:
    """Exact matches (same SHA-256) and similar registrations, best first."""

    exact: tuple[str, ...]
    similar: tuple[SimilarDesign, ...]

    @property
    def flagged(self) -> tuple[SimilarDesign, ...]:
        """The similar registrations that need a person's review."""
        return tuple(result for result in self.similar if result.flagged)

    def merged(self, other: SearchResult) -> SearchResult:
        """Both answers as one (`other`'s entry for a registration wins), best first."""
        theirs = {result.registration for result in other.similar}
        similar = [r for r in self.similar if r.registration not in theirs] + list(other.similar)
        exact = self.exact + tuple(r for r in other.exact if r not in self.exact)
        return SearchResult(exact, tuple(sorted(similar, key=_rank)))


@dataclass
class _Entries:
    registrations: list[str] = field(default_factory=list)
    fingerprints: list[DesignFingerprint] = field(default_factory=list)


class DesignIndex:
    """In-memory index of registered designs; `save`/`load` persist it, `rebuild` remakes it."""

    def __init__(self, settings: SearchSettings | None = None) -> None:
        self.settings = settings or SearchSettings()
        self._entries = _Entries()
        self._by_sha: dict[str, list[str]] = {}
        self._codes = CodeTable()
        self._descriptors: faiss.IndexBinary = faiss.IndexBinaryFlat(256)
        self._quantizer: faiss.IndexBinaryFlat | None = None
        self._trained_on = 0
        self._descriptor_slots: list[npt.NDArray[np.int64]] = []
        self._shapes = faiss.IndexFlatL2(DESCRIPTOR_LENGTH)
        self._shape_slots: list[int] = []
        #: Per registration slot: for each keypoint, how many other registrations share it.
        self._sharing: dict[int, npt.NDArray[np.int32]] = {}

    def __len__(self) -> int:
        return len(self._entries.registrations)

    def add(
        self,
        registration: str,
        fingerprint: DesignFingerprint,
        *,
        sharing: npt.NDArray[np.int32] | None = None,
    ) -> None:
        """Index one registration's fingerprint. `sharing` (from a saved index: how many other
        registrations share each keypoint) spares matching it against the others again; the
        counts of those already indexed are then taken as saved too."""
        slot = len(self._entries.registrations)
        self._entries.registrations.append(registration)
        self._entries.fingerprints.append(fingerprint)
        self._by_sha.setdefault(fingerprint.sha256, []).append(registration)
        self._codes.add(fingerprint.search_codes, slot)
        features = fingerprint.features
        if features is not None and len(features):
            if sharing is not None and len(sharing) == len(features):
                self._sharing[slot] = sharing.astype(np.int32)
            else:
                self._mark_shared(slot, fingerprint)
            voters = features.descriptors[: self.settings.vote_keypoints]
            self._descriptors.add(np.ascontiguousarray(voters))
            self._descriptor_slots.append(np.full(len(voters), slot, dtype=np.int64))
            total = self._descriptors.ntotal
            if (
                isinstance(self._descriptors, faiss.IndexBinaryFlat)
                and total > self.settings.vote_ivf_above
            ) or (
                not isinstance(self._descriptors, faiss.IndexBinaryFlat)
                and total > self.settings.vote_retrain * self._trained_on
            ):
                self._descriptors = self._inverted(self._descriptors)
        if fingerprint.shape is not None:
            self._shapes.add(fingerprint.shape.reshape(1, -1).astype(np.float32))
            self._shape_slots.append(slot)

    def lookup_exact(self, sha256: str) -> tuple[str, ...]:
        """Registrations of a file with this SHA-256 (lower-case hex)."""
        return tuple(self._by_sha.get(sha256.lower(), ()))

    def search(
        self, probe: Probe, *, exclude: Iterable[str] = (), since: int | None = None
    ) -> SearchResult:
        """Exact matches and ranked similar registrations for a probe. `since`: only among the
        registrations indexed after the first `since` (a registration's check against the few
        stored after its search, `RegistryIndex.confirm`): their descriptors are voted on
        alone, so none of them misses the candidates for votes of older ones."""
        fingerprint = probe.fingerprint
        excluded = set(exclude)
        if since is not None:
            excluded |= set(self._entries.registrations[:since])
        exact = tuple(r for r in self.lookup_exact(fingerprint.sha256) if r not in excluded)
        found: list[SimilarDesign] = []
        if fingerprint.features is not None:
            found = self._search_image(probe, since=since)
        elif fingerprint.shape is not None:
            found = self._search_shape(fingerprint.shape)
        similar = [
            result
            for result in found
            if result.registration not in excluded and result.registration not in exact
        ]
        similar.sort(key=_rank)
        return SearchResult(exact, tuple(similar))

    def code_hits(self, code: int) -> dict[int, int]:
        """Stage 1: registration slot → smallest Hamming distance within `code_radius`."""
        owners, distances = self._codes.within(code, self.settings.code_radius)
        hits: dict[int, int] = {}
        for slot, distance in zip(owners.tolist(), distances.tolist(), strict=True):
            hits[slot] = min(distance, hits.get(slot, 64))
        return hits

    def _search_image(self, probe: Probe, *, since: int | None = None) -> list[SimilarDesign]:
        fingerprint = probe.fingerprint
        settings = self.settings
        code_hits = self.code_hits(fingerprint.search_codes[0]) if fingerprint.search_codes else {}
        views = [features for features in (fingerprint.features, probe.mirrored) if features]
        if since is None:
            candidates = set(code_hits) | self._voted(views)
        else:
            code_hits = {slot: d for slot, d in code_hits.items() if slot >= since}
            candidates = set(code_hits) | self._voted_since(views, since)
        matchers = [matching.QueryMatcher(view) for view in views]
        results = []
        for slot in candidates:
            registered = self._entries.fingerprints[slot].features
            best: matching.Verification | None = None
            if registered is not None:
                distinctive = self._distinctive(slot)
                for matcher in matchers:
                    verified = matcher.verify(
                        registered, min_inliers=settings.min_inliers, distinctive=distinctive
                    )
                    if verified and (best is None or verified.coverage > best.coverage):
                        best = verified
            distance = code_hits.get(slot)
            flagged = best is not None and best.coverage >= settings.min_coverage
            if best is None and distance is None:
                continue
            results.append(
                SimilarDesign(
                    registration=self._entries.registrations[slot],
                    flagged=flagged,
                    code_distance=distance,
                    inliers=best.inliers if best else 0,
                    coverage=round(best.coverage, 4) if best else 0.0,
                )
            )
        return results

    def _mark_shared(self, slot: int, fingerprint: DesignFingerprint) -> None:
        """Count, on both sides, the keypoints a new registration shares with those already
        indexed (a geometric match each way). The inverse-document-frequency idea of image
        retrieval, over matched keypoints rather than a visual vocabulary: ORB descriptors of
        one motif differ with what surrounds it, the geometric match does not."""
        features = fingerprint.features
        assert features is not None
        settings = self.settings
        self._sharing[slot] = np.zeros(len(features), dtype=np.int32)
        code_hits = self.code_hits(fingerprint.search_codes[0]) if fingerprint.search_codes else {}
        # Its strongest keypoints vote (as its own enter the vote index): a shared motif is
        # among them, and the scan costs in proportion.
        top = settings.vote_keypoints
        strongest = LocalFeatures(
            features.points[:top], features.descriptors[:top], features.width, features.height
        )
        candidates = set(code_hits) | self._voted([strongest])
        if not candidates:
            return
        new = matching.QueryMatcher(features)
        for other in sorted(candidates):
            theirs = self._entries.fingerprints[other].features
            if theirs is None or other not in self._sharing:
                continue
            onto_new = new.verify(theirs, min_inliers=settings.min_inliers)
            onto_theirs = matching.QueryMatcher(theirs).verify(
                features, min_inliers=settings.min_inliers
            )
            if onto_new is None or onto_theirs is None:
                continue
            if min(onto_new.coverage, onto_theirs.coverage) >= settings.versions_coverage:
                continue
            self._sharing[other] += onto_new.explained
            self._sharing[slot] += onto_theirs.explained

    def _distinctive(self, slot: int) -> npt.NDArray[np.bool_] | None:
        """The registration's keypoints outside motifs shared with other registrations."""
        sharing = self._sharing.get(slot)
        if sharing is None:
            return None
        return np.asarray(sharing < self.settings.motif_registrations)

    def _voted(self, views: list[LocalFeatures]) -> set[int]:
        """Registrations whose descriptors the probe's descriptors hit most often."""
        if not self._descriptor_slots:
            return set()
        owners = np.concatenate(self._descriptor_slots)
        votes: Counter[int] = Counter()
        for view in views:
            distances, labels = self._descriptors.search(np.ascontiguousarray(view.descriptors), 1)
            close = (distances[:, 0] <= self.settings.vote_distance) & (labels[:, 0] >= 0)
            votes.update(owners[labels[close, 0]].tolist())
        return {
            slot
            for slot, count in votes.most_common(self.settings.candidates)
            if count >= self.settings.min_inliers
        }

    def _voted_since(self, views: list[LocalFeatures], since: int) -> set[int]:
        """`_voted` among the registrations from slot `since` on (a small flat index of theirs)."""
        index = faiss.IndexBinaryFlat(256)
        owners: list[npt.NDArray[np.int64]] = []
        for slot in range(since, len(self._entries.fingerprints)):
            features = self._entries.fingerprints[slot].features
            if features is not None and len(features):
                voters = features.descriptors[: self.settings.vote_keypoints]
                index.add(np.ascontiguousarray(voters))
                owners.append(np.full(len(voters), slot, dtype=np.int64))
        if not owners:
            return set()
        slots = np.concatenate(owners)
        votes: Counter[int] = Counter()
        for view in views:
            distances, labels = index.search(np.ascontiguousarray(view.descriptors), 1)
            close = (distances[:, 0] <= self.settings.vote_distance) & (labels[:, 0] >= 0)
            votes.update(slots[labels[close, 0]].tolist())
        return {
            slot
            for slot, count in votes.most_common(self.settings.candidates)
            if count >= self.settings.min_inliers
        }

    def _inverted(self, current: faiss.IndexBinary) -> faiss.IndexBinaryIVF:
        """The same descriptors in an inverted file, trained on them: a vote probes a few
        lists, not all."""
        rows = current.reconstruct_n(0, current.ntotal)
        lists = int(min(65_536, max(16, 2 * np.sqrt(len(rows)))))
        rng = np.random.default_rng(len(rows))
        sample = rows[rng.choice(len(rows), size=min(len(rows), 32 * lists), replace=False)]
        # The inverted file keeps a raw pointer to its quantizer: hold it for the index's life.
        self._quantizer = faiss.IndexBinaryFlat(256)
        inverted = faiss.IndexBinaryIVF(self._quantizer, 256, lists)
        inverted.train(np.ascontiguousarray(sample))
        inverted.make_direct_map()  # so that it can be read back when trained again
        inverted.add(rows)
        inverted.nprobe = self.settings.vote_probes
        self._trained_on = len(rows)
        return inverted

    @property
    def vote_index_kind(self) -> str:
        """`flat` or `inverted`: how the stage-2 votes are found."""
        return "flat" if isinstance(self._descriptors, faiss.IndexBinaryFlat) else "inverted"

    def _search_shape(self, shape: npt.NDArray[np.float32]) -> list[SimilarDesign]:
        if not self._shape_slots:
            return []
        count = min(len(self._shape_slots), self.settings.candidates)
        squared, labels = self._shapes.search(shape.reshape(1, -1).astype(np.float32), count)
        results = []
        for value, label in zip(squared[0].tolist(), labels[0].tolist(), strict=True):
            if label < 0:
                continue
            distance = float(np.sqrt(max(value, 0.0)))
            results.append(
                SimilarDesign(
                    registration=self._entries.registrations[self._shape_slots[label]],
                    flagged=distance <= self.settings.shape_radius,
                    shape_distance=round(distance, 5),
                )
            )
        return results

    # --- persistence ---------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the index to `directory` (atomically: a reader sees the old or the new one)."""
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "entries": [
                {
                    "registration": registration,
                    "fingerprint": fingerprint.to_dict(),
                    "sharing": _encoded(self._sharing.get(slot)),
                }
                for slot, (registration, fingerprint) in enumerate(
                    zip(self._entries.registrations, self._entries.fingerprints, strict=True)
                )
            ],
        }
        descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".index-", suffix=".json")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, directory / "index.json")

    @classmethod
    def load(cls, directory: Path, settings: SearchSettings | None = None) -> DesignIndex:
        """The index `save` wrote to `directory` (an empty index when there is none)."""
        path = directory / "index.json"
        if not path.exists():
            return cls(settings)
        payload = json.loads(path.read_text(encoding="utf-8"))
        index = cls(settings)
        for entry in payload["entries"]:
            index.add(
                entry["registration"],
                DesignFingerprint.from_dict(entry["fingerprint"]),
                sharing=_decoded(entry.get("sharing")),  # absent in format 1: counted again
            )
        return index


def rebuild(
    entries: Iterable[tuple[str, DesignFingerprint]], settings: SearchSettings | None = None
) -> DesignIndex:
    """A fresh index of these registrations (e.g. read from chain logs and stored metadata)."""
    index = DesignIndex(settings)
    for registration, fingerprint in entries:
        index.add(registration, fingerprint)
    return index


def _encoded(sharing: npt.NDArray[np.int32] | None) -> str | None:
    return None if sharing is None else base64.b64encode(sharing.astype("<i4").tobytes()).decode()


def _decoded(text: str | None) -> npt.NDArray[np.int32] | None:
    if text is None:
        return None
    return np.frombuffer(base64.b64decode(text), dtype="<i4").astype(np.int32)


def _rank(result: SimilarDesign) -> tuple[bool, float, int, float]:
    return (
        not result.flagged,
        -result.coverage,
        result.code_distance if result.code_distance is not None else 65,
        result.shape_distance if result.shape_distance is not None else float("inf"),
    )
