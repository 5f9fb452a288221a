"""Design import benchmark: `hallmark designs import DIR` of --designs generated designs through
a served Hallmark, then their filing on chain, and the gas per design.

    python -m bench.designs_import --designs 1000

Hallmark's runtime starts on a fresh data directory (its own anvil; SQLite unless
--database-url), serves its API with uvicorn on a loopback port, and creates a legal
organisation with a registrar key. --designs distinct line drawings (PNG, the seeded corpus
generator) are written to a directory and imported with the real command (`python -m hallmark
designs import --jobs J`, in a process of its own; one HTTP request per file: sniff, fingerprint,
near-duplicate search, store). The anchoring
worker (with its filing step) then anchors the commitments in batches and files each design
with `register`.

Figures: import wall time and designs per second; the time from the end of the import to the
last design filed; gas per design = (gas of the DesignCommitment batches + gas of the register
transactions) / designs, with its two parts: the commitments amortise over a batch, the
register transaction is one per design. A design not filed by the deadline is a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.designs.corpus import draw_design, encode

from bench.results import Result, add_output_argument, run_main
from bench.runtime import serve_in_thread, start_runtime
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_api_key, create_organisation
from hallmark.store.models import AnchorBatch, DesignRegistration


def _statuses(runtime: Runtime) -> dict[str, int]:
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        return {
            status: int(count)
            for status, count in session.execute(
                select(DesignRegistration.status, func.count()).group_by(DesignRegistration.status)
            )
        }


def run(args: argparse.Namespace, result: Result) -> None:
    base = Path(tempfile.mkdtemp(prefix="hallmark-bench-designs-"))
    folder = base / "designs"
    folder.mkdir()
    for n in range(args.designs):
        (folder / f"design-{n:05d}.png").write_bytes(encode(draw_design(90_000 + n, side=320)))
    runtime = start_runtime(base / "data", args.database_url, anchor_interval=0.5)
    server = None
    try:
        assert runtime.sessions is not None
        create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name="Legal", kind="legal"
        )
        _, key = create_api_key(
            sessions=runtime.sessions,
            organisation_ref="Legal",
            principal_name="registrar",
            role="legal",
        )
        server, _thread, url = serve_in_thread(runtime)
        report = base / "report.json"
        command = [
            sys.executable,
            "-m",
            "hallmark",
            "designs",
            "import",
            str(folder),
            "--owner",
            "bench:owner",
            "--jobs",
            str(args.jobs),
            "--report",
            str(report),
            "--api-url",
            url,
        ]
        started = time.perf_counter()
        # The command a user runs, in a process of its own (not sharing the server's GIL).
        answer = subprocess.run(
            command,
            env={**os.environ, "HALLMARK_API_KEY": key, "COLUMNS": "120"},
            capture_output=True,
            text=True,
            check=False,
        )
        imported = time.perf_counter() - started
        result.check(
            answer.returncode == 0,
            f"import exited {answer.returncode}: {(answer.stdout + answer.stderr)[-500:]}",
        )
        files = json.loads(report.read_text()) if report.exists() else []
        registered = sum(1 for f in files if f.get("ok"))
        result.check(registered == args.designs, f"{registered} of {args.designs} registered")
        result.figures["flagged"] = sum(1 for f in files if f.get("flagged"))
        runtime.start_worker()
        deadline = time.monotonic() + args.file_timeout
        filing_started = time.perf_counter()
        while time.monotonic() < deadline:
            statuses = _statuses(runtime)
            if not statuses.get("committed") and not statuses.get("filing"):
                break
            time.sleep(0.2)
        filed_after = time.perf_counter() - filing_started
        statuses = _statuses(runtime)
        result.check(
            statuses.get("registered", 0) == args.designs,
            f"{statuses} after {args.file_timeout} s; {args.designs} should be registered",
        )
        with runtime.sessions() as session:
            anchor_gas = int(
                session.scalar(
                    select(func.coalesce(func.sum(AnchorBatch.gas_used), 0)).where(
                        AnchorBatch.kind == "design_commitment"
                    )
                )
                or 0
            )
            batches = int(
                session.scalar(
                    select(func.count())
                    .select_from(AnchorBatch)
                    .where(AnchorBatch.kind == "design_commitment")
                )
                or 0
            )
            register_gas = int(
                session.scalar(select(func.coalesce(func.sum(DesignRegistration.gas_used), 0))) or 0
            )
        designs = max(args.designs, 1)
        result.figures.update(
            {
                "designs": args.designs,
                "import_seconds": round(imported, 2),
                "designs_per_second": round(args.designs / imported, 2),
                "jobs": args.jobs,
                "filing_seconds": round(filed_after, 2),
                "commitment_batches": batches,
                "commitment_gas_per_design": round(anchor_gas / designs, 1),
                "register_gas_per_design": round(register_gas / designs, 1),
                "gas_per_design": round((anchor_gas + register_gas) / designs, 1),
            }
        )
        f = result.figures
        print(
            f"imported {args.designs} designs in {imported:.1f} s "
            f"({f['designs_per_second']} per s); all filed {filed_after:.1f} s later; "
            f"gas per design {f['gas_per_design']:,.0f} = commitment "
            f"{f['commitment_gas_per_design']:,.0f} ({batches} batches) + register "
            f"{f['register_gas_per_design']:,.0f}"
        )
    finally:
        if server is not None:
            server.should_exit = True
        runtime.stop()
        shutil.rmtree(base, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--designs", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--file-timeout", type=float, default=900.0)
    parser.add_argument("--jobs", type=int, default=2, help="`designs import --jobs`")
    add_output_argument(parser)
    return parser.parse_args(argv)


def new_result(args: argparse.Namespace) -> Result:
    settings = {k: v for k, v in vars(args).items() if k not in {"json", "database_url"}}
    settings["database"] = "postgresql" if args.database_url else "sqlite"
    return Result(benchmark="designs_import", kind="designs.import", settings=settings)


if __name__ == "__main__":
    arguments = parse_args()
    run_main(new_result, run, arguments)
