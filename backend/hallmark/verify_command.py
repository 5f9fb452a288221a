"""`hallmark verify CERT.json [--bundle BUNDLE.json] --rpc URL`: check a certificate offline.

Needs only the files and a JSON-RPC endpoint of the chain: it imports neither the database
layer nor the API (import-linter keeps it so), and runs without a Hallmark data directory. It
lives outside `hallmark.cli`, whose package builds the full app (every command group, and so
the database layer): `hallmark.__main__.main` runs it alone for `hallmark verify`, and the
full app registers it too (for `hallmark --help`).
Prints each check with what it found; exit 0 only when every check passes, 1 otherwise, 2 when
a file cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hallmark.chain.artifacts import ARTIFACTS_DIR, load_artifacts
from hallmark.core.errors import HallmarkError
from hallmark.services.certificates import verifier

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _read(path: Path, what: str) -> Any:
    try:
        return verifier.read_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        err.print(f"error: cannot read the {what} {path}: {exc}")
        raise typer.Exit(2) from None


def verify(
    certificate: Annotated[Path, typer.Argument(help="The certificate document (JSON)")],
    rpc: Annotated[str, typer.Option("--rpc", help="Any JSON-RPC endpoint of the chain")],
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Its provenance bundle (JSON)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Verify a certificate (and its provenance bundle) against the chain, without Hallmark."""
    document = _read(certificate, "certificate")
    provenance = _read(bundle, "bundle") if bundle is not None else None
    abis = load_artifacts(ARTIFACTS_DIR / "v2")
    try:
        report = verifier.verify_at(
            rpc,
            document=document,
            bundle=provenance,
            ledger_abi=abis["ProvenanceLedger"]["abi"],
            registry_abi=abis["DesignRegistry"]["abi"],
            has_bundle=bundle is not None,
        )
    except HallmarkError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(1) from None
    if as_json:
        out.print_json(json.dumps(report.as_json()))
    else:
        for check in report.checks:
            mark = "[green]PASS[/green]" if check.ok else "[red]FAIL[/red]"
            out.print(f"{mark} {check.name:<10} {check.detail}")
        out.print(f"verdict: {report.verdict}")
    raise typer.Exit(0 if report.ok else 1)
