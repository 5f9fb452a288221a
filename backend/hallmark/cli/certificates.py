"""`hallmark certificates …`: issue, fetch, print, revoke certificates, through the HTTP API.

`issue SERIAL` issues one certificate; `issue --order FILE` (one serial a line, or several
serials) issues an order in the background on the server and shows its progress as a bar until
every product is processed, then lists the refused ones with their reasons. `qr` saves a
certificate's QR code (PNG or SVG), `pdf` its printable certificate (A5 or A4, zh or en).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from hallmark.cli.api_client import ApiClient
from hallmark.cli.console import (
    ApiKeyOption,
    ApiUrlOption,
    fail,
    out,
    reported,
    require_api_key,
)

certificates_app = typer.Typer(help="Certificates, through the HTTP API.", no_args_is_help=True)

DEFAULT_URL = "http://127.0.0.1:8000"


def _serials(serials: list[str], order_file: Path | None) -> list[str]:
    found = list(serials)
    if order_file is not None:
        try:
            text = order_file.read_text("utf-8")
        except OSError as exc:
            fail(f"cannot read {order_file}: {exc}")
        found.extend(line.strip() for line in text.splitlines() if line.strip())
    if not found:
        fail("name at least one product serial (or --order FILE)")
    return found


@certificates_app.command("issue")
def issue(
    serials: Annotated[list[str] | None, typer.Argument(help="Product serials")] = None,
    *,
    order_file: Annotated[
        Path | None, typer.Option("--order", help="A file of serials, one a line: one order")
    ] = None,
    reference: Annotated[str | None, typer.Option(help="Your order reference")] = None,
    design: Annotated[
        str | None,
        typer.Option(
            help="The registered design it was made from (number or fingerprint; default: the "
            "registration the product's design_reference names)"
        ),
    ] = None,
    design_licence: Annotated[
        str | None, typer.Option(help="SHA-256 of the signed licence you make the design under")
    ] = None,
    poll: Annotated[float, typer.Option(help="Seconds between progress reads")] = 0.5,
    api_url: ApiUrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Issue a certificate for one product, or for every product of an order."""
    wanted = _serials(serials or [], order_file)
    single = len(wanted) == 1 and order_file is None
    if not single and (design or design_licence):
        fail(
            "--design and --design-licence name one product's design; an order's products "
            "name theirs in their design_reference"
        )
    key = str(uuid.uuid4())
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        if single:
            request: dict[str, Any] = {"serial": wanted[0]}
            if design:
                request["design"] = design
            if design_licence:
                request["design_licence"] = design_licence
            answer = api.send_json("/api/v1/certificates", request, key=key)
            out.print(
                f"issued certificate {answer['number']} ({answer['id']}) for {wanted[0]}: "
                f"hash {answer['certificate_hash']}"
            )
            return
        body: dict[str, Any] = {"serials": wanted}
        if reference:
            body["reference"] = reference
        order = api.send_json("/api/v1/certificate-orders", body, key=key)
        order = _follow(api, order, poll)
    refused = [r for r in order["results"] if r["status"] != "issued"]
    out.print(
        f"order {order['id']}: {order['issued']} issued, {order['failed']} refused "
        f"of {order['total']} (issuance id {order['issuance_id']})"
    )
    for row in refused:
        out.print(f"  row {row['row']} {row['serial']}: {row['error']['message']}")
    if refused:
        raise typer.Exit(1)


def _follow(api: ApiClient, order: dict[str, Any], poll: float) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress("issuing", *columns, console=out, transient=True) as progress:
        task = progress.add_task("issuing", total=int(str(order["total"])))
        while True:
            progress.update(task, completed=int(str(order["processed"])))
            if order["status"] == "done":
                # Every product's outcome, read once: the progress reads leave them out.
                return api.retrieve_json(f"/api/v1/certificate-orders/{order['id']}")
            time.sleep(poll)
            order = api.retrieve_json(f"/api/v1/certificate-orders/{order['id']}?results_limit=0")


@certificates_app.command("document")
def document(
    ref: Annotated[str, typer.Argument(help="Certificate id or number")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Write it here")],
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Also write its provenance bundle here")
    ] = None,
    api_url: ApiUrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a certificate's signed document (and its provenance bundle) as JSON files."""
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        signed = api.retrieve_json(f"/api/v1/certificates/{ref}/document")
        provenance = api.retrieve_json(f"/api/v1/certificates/{ref}/bundle") if bundle else None
    output.write_text(json.dumps(signed, ensure_ascii=False, indent=2), "utf-8")
    if bundle is not None:
        bundle.write_text(json.dumps(provenance, ensure_ascii=False, indent=2), "utf-8")
    if signed["proof"]["anchor"] is None:
        out.print("note: the certificate is not anchored yet; fetch it again once it is")


@certificates_app.command("revoke")
def revoke(
    ref: Annotated[str, typer.Argument(help="Certificate id or number")],
    reason: Annotated[str, typer.Option(help="issued_in_error, lost_in_production, fraud, …")],
    api_url: ApiUrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Revoke one of your certificates on chain (final)."""
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        answer = api.send_json(f"/api/v1/certificates/{ref}/revocation", {"reason": reason})
    out.print(f"certificate {answer['number']} revoked (reason code {answer['revoke_reason']})")


QrFormOption = Annotated[
    str,
    typer.Option("--form", help="short (<base>/v/<number>) or gs1 (<base>/01/<GTIN>/21/<serial>)"),
]


@certificates_app.command("qr")
def qr_code(
    ref: Annotated[str, typer.Argument(help="Certificate id or number")],
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="Write it here (.png or .svg)")],
    form: QrFormOption = "short",
    image_format: Annotated[
        str | None, typer.Option("--format", help="png or svg (default: from the file name)")
    ] = None,
    scale: Annotated[int, typer.Option(help="PNG pixels per module")] = 10,
    api_url: ApiUrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a certificate's QR code (the link to its verify page) as PNG or SVG."""
    chosen = (image_format or output.suffix.removeprefix(".")).lower()
    if chosen not in ("png", "svg"):
        fail(f"say --format png or svg (or name the file .png or .svg), not {chosen or output}")
    if form not in ("short", "gs1"):
        fail(f"--form is short or gs1, not {form}")
    params = {"form": form, **({"scale": str(scale)} if chosen == "png" else {})}
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        answer = api.retrieve_file(f"/api/v1/certificates/{ref}/qr.{chosen}", params)
    output.write_bytes(answer.content)
    out.print(
        f"{output}: QR version {answer.headers.get('x-qr-version')} of "
        f"{answer.headers.get('x-qr-url')}",
        markup=False,
        highlight=False,
    )


@certificates_app.command("pdf")
def printable(
    ref: Annotated[str, typer.Argument(help="Certificate id or number")],
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="Write the PDF here")],
    size: Annotated[str, typer.Option(help="A5 or A4")] = "A5",
    lang: Annotated[str, typer.Option(help="zh or en")] = "en",
    api_url: ApiUrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
) -> None:
    """Save a certificate's printable PDF (A5 or A4, in Chinese or English)."""
    if size.upper() not in ("A5", "A4"):
        fail(f"--size is A5 or A4, not {size}")
    if lang not in ("zh", "en"):
        fail(f"--lang is zh or en, not {lang}")
    params = {"size": size.upper(), "lang": lang}
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        answer = api.retrieve_file(f"/api/v1/certificates/{ref}/pdf", params)
    output.write_bytes(answer.content)
    out.print(f"{output}: {size.upper()}, {lang}", markup=False, highlight=False)
