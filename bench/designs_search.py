"""Design search benchmark: stage 1 at 100k and 1M image registrations, exact lookup, stage 2.

1. Stage 1 (the orientation-code table, codes.py): `--sizes` registrations x 8 orientation codes
   each. The codes are SYNTHETIC (uniform random 64-bit values, seeded): generating and
   fingerprinting a million real images is not practical here, and uniform codes are the
   worst case for bucket sizes only in being balanced (real perceptual codes cluster, which
   makes some buckets fuller). Queries are registered codes with 0-10 bits flipped (all must be
   found) and random codes. p50/p95 per query at the index's radius; the 1M/100k p95 ratio.
2. Exact lookup by SHA-256 at the same sizes (registrations of non-image files: the same table
   an image's hash goes to).
3. Stage 2 (local features, geometric check, coverage): a registry of `--designs` generated
   designs, queried with crops embedded in other designs and with photos; p50/p95 of the search
   (the probe's fingerprint is timed apart: it is the same work as registering a file).

Goals (exit 1 if one is missed; wall-clock times): stage 1 p95 <= 5 ms at the largest size,
largest/smallest p95 <= 3, stage 2 p95 <= 200 ms, exact lookup p95 <= 1 ms at every size, every
near code found. The CPU time of the measuring thread is printed beside: on a shared, loaded
machine a query that is descheduled shows a wall time of a scheduler slice (`--clock cpu`
checks the goals on CPU time).

    python bench/designs_search.py                      # 100k and 1M, 60 designs
    python bench/designs_search.py --sizes 100000 --designs 30 --queries 200
    python bench/designs_search.py --designs 0          # stage 1 and exact lookup only
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time

import numpy as np
from tests.designs.corpus import crop_embed, draw_design, encode, image_variant

from hallmark.services.designs.codes import CodeTable
from hallmark.services.designs.fingerprints import DesignFingerprint, fingerprint_file, probe_file
from hallmark.services.designs.images import LocalFeatures
from hallmark.services.designs.index import DesignIndex, SearchSettings
from hallmark.services.designs.sniffing import FileKind

ORIENTATIONS = 8


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def stage1(size: int, queries: int, radius: int, rng: np.random.Generator) -> dict[str, float]:
    codes = rng.integers(0, 2**63, size * ORIENTATIONS, dtype=np.int64).astype(np.uint64)
    codes = codes * np.uint64(2) + rng.integers(0, 2, len(codes)).astype(np.uint64)
    owners = np.repeat(np.arange(size, dtype=np.int64), ORIENTATIONS)
    table = CodeTable()
    started = time.perf_counter()
    table.add_many(codes, owners)
    build = time.perf_counter() - started
    picks = rng.integers(0, len(codes), queries)
    timings, cpu, missed = [], [], 0
    for pick in picks.tolist():
        query = int(codes[pick])
        for bit in rng.choice(64, int(rng.integers(0, radius + 1)), replace=False).tolist():
            query ^= 1 << bit
        started, started_cpu = time.perf_counter(), time.thread_time()
        found, _ = table.within(query, radius)
        timings.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
        missed += int(owners[pick]) not in set(found.tolist())
    for _ in range(queries):
        query = int(rng.integers(0, 2**63)) * 2
        started, started_cpu = time.perf_counter(), time.thread_time()
        table.within(query, radius)
        timings.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - started_cpu)
    return {
        "build_s": build,
        "p50_ms": statistics.median(timings) * 1000,
        "p95_ms": p95(timings) * 1000,
        "cpu_p95_ms": p95(cpu) * 1000,
        "missed": missed,
    }


def exact(size: int, queries: int, rng: np.random.Generator) -> dict[str, float]:
    index = DesignIndex()
    hashes = []
    for number in range(size):
        sha = hashlib.sha256(number.to_bytes(8, "big")).hexdigest()
        hashes.append(sha)
        index.add(
            f"r{number}",
            DesignFingerprint(
                kind=FileKind.OTHER, size=8, sha256=sha, instance_code="", data_code=""
            ),
        )
    timings = []
    for pick in rng.integers(0, size, queries).tolist():
        started = time.perf_counter()
        found = index.lookup_exact(hashes[pick])
        timings.append(time.perf_counter() - started)
        assert found == (f"r{pick}",)
    return {"p50_ms": statistics.median(timings) * 1000, "p95_ms": p95(timings) * 1000}


def stage2(designs: int, filler: int, rng: np.random.Generator) -> tuple[dict[str, float], str]:
    """Crop and photo queries against generated designs, among `filler` synthetic registrations
    (random keypoints and descriptors: they make the vote index as large as a real registry
    of that size); wall and CPU (this thread) times."""
    index = DesignIndex(SearchSettings())
    for number in range(filler):
        features = LocalFeatures(
            rng.uniform(0, 512, (700, 2)).astype(np.float32),
            rng.integers(0, 256, (700, 32), dtype=np.uint8),
            512,
            512,
        )
        codes = rng.integers(0, 2**63, 8, dtype=np.int64).tolist()
        index.add(
            f"filler-{number}",
            DesignFingerprint(
                kind=FileKind.PNG,
                size=1,
                sha256=f"{number:064x}",
                instance_code="",
                data_code="",
                search_codes=tuple(int(code) for code in codes),
                features=features,
            ),
        )
    drawings = [draw_design(70_000 + number, claw=number % 3 == 1) for number in range(designs)]
    for number, rgb in enumerate(drawings):
        index.add(str(number), fingerprint_file(encode(rgb)))
    searches, cpu, probes, found = [], [], [], 0
    for number, rgb in enumerate(drawings):
        for kind in ("crop_embed", "photo"):
            if kind == "crop_embed":
                data = encode(crop_embed(rgb, rng, 80_000 + number))
            else:
                data = image_variant(rgb, kind, rng, 80_000 + number)
            started = time.perf_counter()
            probe = probe_file(data)
            probes.append(time.perf_counter() - started)
            started, started_cpu = time.perf_counter(), time.thread_time()
            result = index.search(probe)
            searches.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - started_cpu)
            found += str(number) in {r.registration for r in result.flagged}
    return {
        "search_p50_ms": statistics.median(searches) * 1000,
        "search_p95_ms": p95(searches) * 1000,
        "cpu_p50_ms": statistics.median(cpu) * 1000,
        "cpu_p95_ms": p95(cpu) * 1000,
        "probe_p50_ms": statistics.median(probes) * 1000,
        "probe_p95_ms": p95(probes) * 1000,
        "found": found,
        "queries": len(searches),
    }, index.vote_index_kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--designs", type=int, default=60)
    parser.add_argument(
        "--filler", type=int, default=0, help="synthetic registrations added to stage 2's registry"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="time the goals are checked on (cpu: the measuring thread's CPU time)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    radius = SearchSettings().code_radius
    failures: list[str] = []
    stage1_p95 = {}
    for size in args.sizes:
        figures = stage1(size, args.queries, radius, rng)
        stage1_p95[size] = figures["p95_ms" if args.clock == "wall" else "cpu_p95_ms"]
        print(
            f"stage 1, {size:>9,} registrations x {ORIENTATIONS} codes, radius {radius}: "
            f"p50 {figures['p50_ms']:.2f} ms, p95 {figures['p95_ms']:.2f} ms "
            f"(CPU p95 {figures['cpu_p95_ms']:.2f} ms), "
            f"built in {figures['build_s']:.1f} s, near codes missed {figures['missed']}"
        )
        if figures["missed"]:
            failures.append(f"stage 1 missed {figures['missed']} near codes at {size}")
        lookup = exact(size, args.queries, rng)
        print(
            f"exact lookup, {size:>9,} registrations: p50 {lookup['p50_ms'] * 1000:.1f} us, "
            f"p95 {lookup['p95_ms'] * 1000:.1f} us"
        )
        if lookup["p95_ms"] > 1.0:
            failures.append(f"exact lookup p95 {lookup['p95_ms']:.3f} ms at {size}")
    largest, smallest = max(stage1_p95), min(stage1_p95)
    if stage1_p95[largest] > 5.0:
        failures.append(
            f"stage 1 p95 {stage1_p95[largest]:.2f} ms ({args.clock}) > 5 ms at {largest}"
        )
    if largest != smallest:
        ratio = stage1_p95[largest] / stage1_p95[smallest]
        print(f"stage 1 p95 ratio {largest:,} / {smallest:,}: {ratio:.2f}")
        if ratio > 3.0:
            failures.append(f"stage 1 cost ratio {ratio:.2f} > 3")
    if args.designs <= 0:
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1 if failures else 0
    second, vote_index = stage2(args.designs, args.filler, rng)
    print(
        f"stage 2, {args.designs} registered designs + {args.filler} synthetic "
        f"({vote_index} vote index), {second['queries']} crop and photo "
        f"queries: search p50 {second['search_p50_ms']:.0f} ms, p95 "
        f"{second['search_p95_ms']:.0f} ms; CPU p50 {second['cpu_p50_ms']:.0f} ms, p95 "
        f"{second['cpu_p95_ms']:.0f} ms (probe fingerprint p50 {second['probe_p50_ms']:.0f} ms,"
        f" p95 {second['probe_p95_ms']:.0f} ms); found {second['found']} of {second['queries']}"
    )
    stage2_p95 = second["search_p95_ms" if args.clock == "wall" else "cpu_p95_ms"]
    if stage2_p95 > 200:
        failures.append(f"stage 2 p95 {stage2_p95:.0f} ms ({args.clock}) > 200 ms")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
