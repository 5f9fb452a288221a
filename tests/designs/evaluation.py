"""Evaluate the similarity search on a generated corpus and print the confusion per kind.

    python -m tests.designs.evaluation --seed 7 --designs 24

Per variant kind: found (its source flagged), missed, and wrong (another registration flagged).
Look-alikes (unrelated designs sharing a motif) and unrelated models: how many are flagged.
Registered designs: each searched against all the others (none may be flagged).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass, field

from hallmark.services.designs.fingerprints import fingerprint_file, probe_file
from hallmark.services.designs.index import DesignIndex, SearchSettings
from tests.designs.corpus import IMAGE_KINDS, MESH_KINDS, image_corpus, mesh_corpus


@dataclass
class Confusion:
    found: int = 0
    missed: int = 0
    wrong: int = 0
    missed_names: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.found + self.missed

    @property
    def rate(self) -> float:
        return self.found / self.total if self.total else 0.0


@dataclass
class Evaluation:
    kinds: dict[str, Confusion]
    lookalikes_flagged: int
    lookalikes: int
    registered_flagged: int
    registered: int
    seconds_per_query: float

    @property
    def overall(self) -> float:
        found = sum(c.found for c in self.kinds.values())
        total = sum(c.total for c in self.kinds.values())
        return found / total if total else 0.0

    def table(self, title: str) -> str:
        lines = [f"{title}", f"{'kind':<15}{'found':>7}{'missed':>8}{'wrong':>7}{'rate':>8}"]
        for kind, c in self.kinds.items():
            lines.append(f"{kind:<15}{c.found:>7}{c.missed:>8}{c.wrong:>7}{c.rate:>8.1%}")
        lines.append(f"{'overall':<15}{'':>7}{'':>8}{'':>7}{self.overall:>8.1%}")
        lines.append(f"look-alikes flagged: {self.lookalikes_flagged} of {self.lookalikes}")
        lines.append(
            f"registered flagged against another: {self.registered_flagged} of {self.registered}"
        )
        lines.append(f"mean time per search: {self.seconds_per_query * 1000:.0f} ms")
        return "\n".join(lines)


def evaluate_images(
    seed: int, designs: int, lookalikes: int, settings: SearchSettings
) -> Evaluation:
    corpus = image_corpus(seed, designs=designs, lookalikes=lookalikes)
    return _evaluate(corpus.registered, corpus.variants, corpus.lookalikes, IMAGE_KINDS, settings)


def evaluate_meshes(seed: int, models: int, unrelated: int, settings: SearchSettings) -> Evaluation:
    corpus = mesh_corpus(seed, models=models, unrelated=unrelated)
    return _evaluate(corpus.registered, corpus.variants, corpus.unrelated, MESH_KINDS, settings)


def _evaluate(registered, variants, others, kinds, settings) -> Evaluation:  # type: ignore[no-untyped-def]
    index = DesignIndex(settings)
    for number, sample in enumerate(registered):
        index.add(str(number), fingerprint_file(sample.data, filename=sample.name))
    confusion: dict[str, Confusion] = defaultdict(Confusion)
    for kind in kinds:
        confusion[kind] = Confusion()
    started, queries = time.perf_counter(), 0
    for sample in variants:
        result = index.search(probe_file(sample.data))
        queries += 1
        flagged = {r.registration for r in result.flagged}
        c = confusion[sample.kind]
        if str(sample.source) in flagged:
            c.found += 1
        else:
            c.missed += 1
            c.missed_names.append(sample.name)
        c.wrong += len(flagged - {str(sample.source)})
    lookalikes_flagged = 0
    for sample in others:
        queries += 1
        lookalikes_flagged += bool(index.search(probe_file(sample.data)).flagged)
    registered_flagged = 0
    for number, sample in enumerate(registered):
        queries += 1
        result = index.search(probe_file(sample.data), exclude=[str(number)])
        registered_flagged += bool(result.flagged)
    elapsed = (time.perf_counter() - started) / max(1, queries)
    return Evaluation(
        dict(confusion),
        lookalikes_flagged,
        len(others),
        registered_flagged,
        len(registered),
        elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--designs", type=int, default=24)
    parser.add_argument("--lookalikes", type=int, default=15)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--unrelated", type=int, default=8)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    settings = SearchSettings()
    images = evaluate_images(args.seed, args.designs, args.lookalikes, settings)
    print(images.table(f"images, seed {args.seed}, {args.designs} registered designs"))
    if args.verbose:
        for kind, c in images.kinds.items():
            if c.missed_names:
                print(kind, c.missed_names)
    meshes = evaluate_meshes(args.seed, args.models, args.unrelated, settings)
    print(meshes.table(f"models, seed {args.seed}, {args.models} registered models"))


if __name__ == "__main__":
    main()
