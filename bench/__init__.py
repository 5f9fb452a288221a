"""Hallmark's benchmarks: one module each, run by `scripts/bench` (see docs/BENCHMARKS.md)."""
