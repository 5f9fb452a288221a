"""Merkle tree benchmark: building a batch's tree and every proof (`hallmark.core.merkle`).

    python bench/merkle.py [--values 10000] [--rounds 5]

Builds a StandardMerkleTree over --values keccak-256 hashes and computes every proof, --rounds
times, and prints the best and median wall-clock time. Nothing is asserted: the figures go to
docs/BENCHMARKS.md (tests check what the tree computes, never how fast).
"""

from __future__ import annotations

import argparse
import statistics
import time

from hallmark.core.hashing import keccak256
from hallmark.core.merkle import StandardMerkleTree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    values = [keccak256(i.to_bytes(8, "big")) for i in range(args.values)]
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        tree = StandardMerkleTree.of(values)
        tree.proofs()
        times.append(time.perf_counter() - start)
    print(
        f"{args.values} values, tree and all proofs: best {min(times):.3f} s, "
        f"median {statistics.median(times):.3f} s over {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
