"""`hallmark designs evidence REG [--compare FILE] --out DIR`: a registration's evidence (or a
comparison's), read from the chain this machine's Hallmark uses, written as a JSON bundle and a
PDF in Chinese and English (docs/EVIDENCE.md: how a third party re-checks them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hallmark.chain.ledger import Ledger
from hallmark.chain.registry import DesignRegistryContract
from hallmark.cli.console import fail, out, reported


def evidence(
    registration: Annotated[str, typer.Argument(help="Registration number (D-…) or fingerprint")],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write the JSON bundle and the PDF to")
    ],
    compare: Annotated[
        Path | None,
        typer.Option("--compare", help="A suspect file to compare with the registration"),
    ] = None,
) -> None:
    """Write the evidence report of a registration (or of a comparison): JSON bundle and PDF."""
    from hallmark.cli.admin import started_runtime
    from hallmark.services.designs.evidence import Suspect, evidence_for
    from hallmark.services.designs.evidence_pdf import render_pdf
    from hallmark.store.files import EncryptedFileStore

    if compare is not None and not compare.is_file():
        fail(f"{compare} is not a file")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir} is not a directory")
    suspect = Suspect(compare.read_bytes(), compare.name) if compare is not None else None
    with started_runtime() as runtime, reported():
        assert runtime.sessions is not None
        settings = runtime.settings
        store = EncryptedFileStore(settings.effective_files_dir, settings.file_key_bytes)

        def contracts(deployment_id: int | None) -> tuple[DesignRegistryContract, Ledger]:
            return runtime.registry_for(deployment_id), runtime.ledger_for(deployment_id)

        found = evidence_for(
            sessions=runtime.sessions,
            store=store,
            contracts=contracts,
            ref=registration,
            suspect=suspect,
        )
        pdf = render_pdf(found, font=settings.evidence_font)
    number = found.bundle["registration"]["number"]
    stem = f"{number}-{'comparison-' if suspect is not None else ''}evidence"
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle_path = out_dir / f"{stem}.json"
    pdf_path = out_dir / f"{stem}.pdf"
    bundle_path.write_bytes(found.json_bytes())
    pdf_path.write_bytes(pdf)
    out.print(f"bundle {bundle_path}", markup=False, highlight=False)
    out.print(f"report {pdf_path}", markup=False, highlight=False)
    out.print(
        f"block {found.bundle['chain']['block_number']} tx {found.bundle['chain']['transaction']}",
        markup=False,
        highlight=False,
    )
