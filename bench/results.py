"""What every benchmark shares: percentiles, the machine, and one JSON result per run.

A benchmark builds a `Result`, adds its figures and any failure, and ends with `finish()`: the
result goes to stdout and, with `--json PATH`, to that file; the exit status is 1 when anything
failed (a non-2xx answer, an expired deadline, a crash), so a figure is never quoted from a run
that did not do all its work. `bench/run.py` gathers the files; `bench/report.py` writes the
tables of docs/BENCHMARKS.md from them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p % of the values at or
    below it (p95 of 101 values is the 96th smallest; a truncated index would give the 95th)."""
    if not values:
        raise ValueError("no values")
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[rank - 1]


def distribution(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p95, p99 and max of `values` (nearest rank); {"count": 0} when empty."""
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def port_setting(name: str, host: str = "127.0.0.1") -> tuple[int, str]:
    """The port named by the environment variable `name`, else a free one (passed on by the
    benchmark to what it starts); with where it came from."""
    value = os.environ.get(name)
    if value:
        return int(value), f"setting {name}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1]), "free port"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_times() -> list[int] | None:
    """The "cpu" line of /proc/stat (user nice system idle iowait irq softirq steal ...)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(v) for v in first[1:]]


def machine() -> dict[str, Any]:
    """Cores, CPU model, load averages and system, as the result records them."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "model": _cpu_model(),
        "load_average": [round(v, 2) for v in load],
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def commit() -> str:
    """The checked-out commit, "+dirty" when files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


@dataclass
class Result:
    """One run of one benchmark: what it measured and what went wrong."""

    benchmark: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    _cpu_start: list[int] | None = field(default_factory=_cpu_times)
    _machine: dict[str, Any] = field(default_factory=machine)

    def fail(self, reason: str) -> None:
        self.failures.append(reason)
        print(f"FAILED: {reason}", file=sys.stderr, flush=True)

    def check(self, condition: bool, reason: str) -> None:
        """Record `reason` as a failure unless `condition` holds."""
        if not condition:
            self.fail(reason)

    def to_json(self) -> dict[str, Any]:
        cpu_end = _cpu_times()
        steal = None
        if self._cpu_start and cpu_end and len(cpu_end) > 7:
            spent = [b - a for a, b in zip(self._cpu_start, cpu_end, strict=False)]
            total = sum(spent[:8])
            steal = round(100 * spent[7] / total, 2) if total else 0.0
        return {
            "benchmark": self.benchmark,
            "kind": self.kind,
            "ok": not self.failures,
            "failures": self.failures,
            "date": self.started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - self.started).total_seconds(), 1),
            "commit": commit(),
            "command": " ".join(["python", "-m", f"bench.{self.benchmark}", *sys.argv[1:]]),
            "machine": {**self._machine, "cpu_steal_percent": steal},
            "settings": self.settings,
            "figures": self.figures,
        }

    def finish(self, output: Path | None) -> int:
        """Write the result (stdout, and `output` when given); 1 when anything failed."""
        document = self.to_json()
        text = json.dumps(document, indent=2, sort_keys=True, default=str)
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text + "\n")
        print(f"result: {'ok' if document['ok'] else 'FAILED'}", flush=True)
        for failure in self.failures:
            print(f"  failure: {failure}", flush=True)
        return 0 if document["ok"] else 1


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, default=None, help="write the result to this file")


@contextmanager
def guarded(result: Result) -> Iterator[None]:
    """Turn an exception in a benchmark into a recorded failure (with its last lines)."""
    try:
        yield
    except Exception as exc:  # every failure is reported, whatever its type
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"  # no path of the machine
        result.fail(f"{type(exc).__name__}: {exc} (at {where})")


def run_main(
    result_factory: Callable[[argparse.Namespace], Result],
    body: Callable[..., None],
    args: argparse.Namespace,
) -> None:
    """Build the result, run `body(args, result)` guarded, write the result, exit with its
    status."""
    result = result_factory(args)
    with guarded(result):
        body(args, result)
    sys.exit(result.finish(args.json))
