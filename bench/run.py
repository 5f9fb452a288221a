"""Run the benchmarks: every scenario of every benchmark in bench/, or the ones named, each
`--runs` times, one JSON result per run under a results folder; then the tables.

    scripts/bench                                  # everything, 3 runs each (SQLite)
    scripts/bench ingest anchoring --runs 3        # named benchmarks (or scenarios)
    scripts/bench --postgres postgresql://postgres@127.0.0.1:5432/test   # PostgreSQL too
    scripts/bench --quick --runs 1                 # small sizes: a smoke check of the harness
    scripts/bench --docs                           # and write docs/BENCHMARKS.md's tables

Rounds are interleaved (round 1 runs every scenario in turn, then round 2, ...), so a change
in the machine's load spreads over all scenarios instead of landing on one. PostgreSQL
scenarios run only with `--postgres URL` (a server the runner may create databases on; every run
gets a fresh database, dropped afterwards). The exit status is 1 when any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.results import ROOT, commit, machine

#: Longest a single run may take before it is stopped and counted as failed.
RUN_TIMEOUT = 1800


@dataclass(frozen=True)
class Scenario:
    """One configuration of one benchmark: its arguments at full size and in quick mode."""

    name: str
    benchmark: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    database: str = "sqlite"  # "postgresql": needs --postgres


def _both(name: str, benchmark: str, args: str, quick: str) -> list[Scenario]:
    return [
        Scenario(f"{name}-{db}", benchmark, tuple(args.split()), tuple(quick.split()), db)
        for db in ("sqlite", "postgresql")
    ]


SMALL_INGEST = "--processes 1 --products 50 --anchor-timeout 120"
SCENARIOS: list[Scenario] = [
    *_both(
        "ingest-batch",
        "ingest",
        "--processes 2 --requests 20 --batch 5000 --single-seconds 0",
        f"{SMALL_INGEST} --requests 4 --batch 250 --single-seconds 0",
    ),
    *_both(
        "ingest-batch-paced",
        "ingest",
        "--processes 2 --rate 10000 --requests 40 --batch 5000 --single-seconds 0",
        f"{SMALL_INGEST} --rate 2000 --requests 4 --batch 250 --single-seconds 0",
    ),
    *_both(
        "ingest-single",
        "ingest",
        "--processes 1 --requests 0 --single-seconds 20 --connections 32",
        f"{SMALL_INGEST} --requests 0 --single-seconds 2 --connections 4",
    ),
    *_both(
        "anchoring-backlog",
        "anchoring",
        "backlog --records 500000",
        "backlog --records 3000 --min-seconds 0",
    ),
    *_both(
        "anchoring-latency",
        "anchoring",
        "latency --rate 5000 --seconds 10",
        "latency --rate 500 --seconds 2 --writers 1",
    ),
    Scenario(
        "anchoring-gas",
        "anchoring",
        ("gas", "--sizes", "1", "100", "1000"),
        ("gas", "--sizes", "1", "10"),
        "sqlite",
    ),
    *_both(
        "verify",
        "verify",
        "--certificates 10000 1000000 --real 300 --connections 32 --seconds 20 --block-seconds 40",
        "--certificates 1000 5000 --real 8 --connections 16 --seconds 3 --processes 1",
    ),
    *[
        Scenario(
            f"one-tx-per-record-{signing}",
            "one_tx_per_record",
            ("--records", "5000", "--window", "64", "--signing", signing),
            ("--records", "100", "--window", "16", "--signing", signing),
        )
        for signing in ("local", "node")
    ],
    Scenario(
        "designs-search",
        "designs_search",
        ("codes", "--sizes", "100000", "1000000", "--queries", "500"),
        ("codes", "--sizes", "10000", "100000", "--queries", "100"),
    ),
    Scenario(
        "designs-partial",
        "designs_search",
        ("partial", "--designs", "60", "--filler", "3000"),
        ("partial", "--designs", "6"),
    ),
    *_both(
        "designs-import",
        "designs_import",
        "--designs 1000",
        "--designs 10 --file-timeout 300",
    ),
    *_both(
        "certificates-issue",
        "certificates",
        "--certificates 40000 --verify-runs 0",
        "--certificates 200 --verify-runs 0 --anchor-timeout 300",
    ),
    Scenario(
        "certificates-verify",
        "certificates",
        ("--certificates", "0", "--bundle-records", "40", "--verify-runs", "10"),
        ("--certificates", "0", "--bundle-records", "40", "--verify-runs", "2"),
    ),
]
BENCHMARKS = sorted({s.benchmark for s in SCENARIOS})


def select(names: Sequence[str], postgres: bool) -> list[Scenario]:
    """The scenarios named (benchmarks or scenarios; none: all), PostgreSQL ones only when a
    server is given. An unknown name is an error."""

    def chosen_by(scenario: Scenario, name: str) -> bool:
        return name in (scenario.name, scenario.benchmark) or scenario.name == (
            f"{name}-{scenario.database}"
        )

    unknown = [n for n in names if not any(chosen_by(s, n) for s in SCENARIOS)]
    if unknown:
        raise SystemExit(
            f"unknown benchmark {', '.join(unknown)}; benchmarks: {', '.join(BENCHMARKS)}; "
            f"scenarios: {', '.join(s.name for s in SCENARIOS)}"
        )
    chosen = [s for s in SCENARIOS if not names or any(chosen_by(s, n) for n in names)]
    return [s for s in chosen if postgres or s.database != "postgresql"]


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of `server_url`, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"hallmark_bench_{uuid.uuid4().hex[:12]}"
    server = make_url(server_url)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')  # the name is ours: hex only
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def command(scenario: Scenario, output: Path, quick: bool, database_url: str | None) -> list[str]:
    """The benchmark's command line (options before a subcommand's own arguments)."""
    line = [sys.executable, "-m", f"bench.{scenario.benchmark}", "--json", str(output)]
    if database_url is not None:
        line += ["--database-url", database_url]
    return line + list(scenario.quick if quick else scenario.args)


def run_one(
    scenario: Scenario, run: int, runs: int, folder: Path, quick: bool, postgres: str | None
) -> bool:
    """Run one scenario once; its result file completed (scenario, run, exit status). Whether
    it succeeded."""
    output = folder / f"{scenario.name}-{run}.json"
    if output.is_relative_to(ROOT):  # the command recorded names the file as a user would
        output = output.relative_to(ROOT)
    print(f"\n== {scenario.name}, run {run} of {runs}", flush=True)
    started = time.monotonic()
    status: int | str
    database_url: str | None = None
    try:
        with (
            fresh_database(postgres)
            if scenario.database == "postgresql" and postgres
            else _nothing() as database_url
        ):
            status = _run_command(command(scenario, output, quick, database_url))
    except Exception as exc:  # no database, no process: this run failed, the others go on
        status = f"not run: {type(exc).__name__}: {exc}"
    result: dict[str, object]
    try:
        result = json.loads((ROOT / output).read_text())
    except (OSError, ValueError):
        result = {
            "benchmark": scenario.benchmark,
            "ok": False,
            "failures": [f"the benchmark wrote no result (exit status {status})"],
            "commit": commit(),
            "machine": machine(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "figures": {},
            "settings": {"database": scenario.database},
        }
    failures = list(result.get("failures") or [])  # type: ignore[call-overload]
    if status != 0 and not failures:
        failures.append(f"the benchmark exited with status {status}")
    result.update(
        scenario=scenario.name,
        run=run,
        quick=quick,
        exit_status=status,
        ok=not failures and status == 0,
        failures=failures,
        wall_seconds=round(time.monotonic() - started, 1),
    )
    if database_url is not None:  # the fresh database's name says nothing: say what it was
        result["command"] = str(result.get("command", "")).replace(
            database_url, "<a fresh PostgreSQL database>"
        )
    (ROOT / output).write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return bool(result["ok"])


def _run_command(line: list[str]) -> int | str:
    """Run a benchmark in a session of its own; its exit status, or why it was stopped."""
    process = subprocess.Popen(line, cwd=ROOT, start_new_session=True)
    try:
        return process.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"stopped after {RUN_TIMEOUT} s"
    except BaseException:  # Ctrl-C: the benchmark's own session would not get it
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
        raise


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Run the benchmarks in bench/ (all, or the ones named), one JSON result per "
        "run, then print their tables.",
    )
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks ({', '.join(BENCHMARKS)}) or scenarios; none: all"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each scenario (default 3)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("HALLMARK_BENCH_POSTGRES_URL"),
        help="PostgreSQL server for the PostgreSQL scenarios (default: "
        "HALLMARK_BENCH_POSTGRES_URL; unset: SQLite only)",
    )
    parser.add_argument("--results", type=Path, default=None, help="results folder")
    parser.add_argument(
        "--docs", action="store_true", help="write the tables into docs/BENCHMARKS.md"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    chosen = select(args.names, bool(args.postgres))
    if args.list:
        for s in chosen:
            print(f"{s.name:28} python -m bench.{s.benchmark} {' '.join(s.args)}")
        return 0
    if not chosen:
        parser.error("no scenario left (PostgreSQL scenarios need --postgres)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = args.results or (
        ROOT / ("build/bench-quick" if args.quick else "bench/results") / stamp
    )
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "command": shlex.join(["scripts/bench", *(argv if argv is not None else sys.argv[1:])]),
        "runs": args.runs,
        "quick": args.quick,
        "scenarios": [s.name for s in chosen],
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    failed = 0
    for run in range(1, args.runs + 1):
        for scenario in chosen:
            if not run_one(scenario, run, args.runs, folder, args.quick, args.postgres):
                failed += 1
    tables = report.render(report.load([folder]))
    print("\n" + tables)
    if args.docs:
        report.write_docs(ROOT / "docs" / "BENCHMARKS.md", tables)
        print("docs/BENCHMARKS.md: tables written")
    print(f"results: {folder}; {failed} of {args.runs * len(chosen)} runs failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
