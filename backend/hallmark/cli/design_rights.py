"""`hallmark designs assign|licence|rights` (through the HTTP API, as a registrar),
`hallmark designs departure`, `reassign`, `rescue` and `rotate-key` (operator commands, on this
installation's database, file store and, for `rescue`, the ledger admin's key)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from hallmark.cli.api_client import ApiClient, send_json
from hallmark.cli.console import (
    ApiKeyOption,
    ApiUrlOption,
    fail,
    load_settings,
    out,
    reported,
    require_api_key,
)

assign_app = typer.Typer(
    help="Two-step assignments of final registrations, on chain.", no_args_is_help=True
)
licence_app = typer.Typer(help="Licences of final registrations, on chain.", no_args_is_help=True)

DesignArgument = Annotated[str, typer.Argument(help="Registration number or fingerprint")]
WaitOption = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for the transaction to be mined (0: do not)"),
]
DocumentOption = Annotated[
    str, typer.Option("--document", help="SHA-256 (hex) of the signed document")
]


def add_commands(designs_app: typer.Typer) -> None:
    """Put the rights commands under `hallmark designs`."""
    designs_app.add_typer(assign_app, name="assign")
    designs_app.add_typer(licence_app, name="licence")
    designs_app.command("rights")(rights_show)
    designs_app.command("departure")(departure)
    designs_app.command("reassign")(reassign)
    designs_app.command("rescue")(rescue)
    designs_app.command("rotate-key")(rotate_key)


def _print(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False)
    out.print(text, markup=False, highlight=False, soft_wrap=True)  # JSON is never re-wrapped


def _act(api_url: str, api_key: str | None, path: str, body: Any, wait: float) -> None:
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        action = send_json(api, "POST", path, body)
        deadline = time.monotonic() + wait
        while action["status"] in ("requested", "sending") and time.monotonic() < deadline:
            time.sleep(0.5)
            action = send_json(api, "GET", f"/api/v1/designs/rights/actions/{action['id']}")
    _print(action)
    if action["status"] == "failed":
        fail(f"the registry refused: {action['failure']}")
    if wait and action["status"] != "done":
        fail(f"not mined within {wait:g} s: action {action['id']} is {action['status']}")


@assign_app.command("propose")
def assign_propose(
    design: DesignArgument,
    *,
    to: Annotated[str, typer.Option("--to", help="The new registrant organisation (id or name)")],
    owner: Annotated[str, typer.Option("--owner", help="The new owner's reference")],
    document: DocumentOption,
    owner_organisation: Annotated[
        str | None, typer.Option("--owner-organisation", help="The owning organisation")
    ] = None,
    wait: WaitOption = 60.0,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Propose to assign a final registration to another registrar organisation."""
    body = {
        "new_registrant": to,
        "new_owner_ref": owner,
        "document_sha256": document,
        "new_owner_organisation": owner_organisation,
    }
    _act(api_url, api_key, f"/api/v1/designs/{design}/assignments", body, wait)


@assign_app.command("accept")
def assign_accept(
    design: DesignArgument,
    *,
    document: DocumentOption,
    wait: WaitOption = 60.0,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Accept, as the named new registrant, the pending assignment under the same document."""
    body = {"document_sha256": document}
    _act(api_url, api_key, f"/api/v1/designs/{design}/assignments/accept", body, wait)


@assign_app.command("cancel")
def assign_cancel(
    design: DesignArgument,
    *,
    wait: WaitOption = 60.0,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Cancel a pending assignment (its proposer, or the named new registrant declining)."""
    _act(api_url, api_key, f"/api/v1/designs/{design}/assignments/cancel", None, wait)


@licence_app.command("grant")
def licence_grant(
    design: DesignArgument,
    *,
    licensee: Annotated[str, typer.Option("--licensee", help="The licensee's reference")],
    document: DocumentOption,
    valid_from: Annotated[
        datetime, typer.Option("--from", help="Start of the licence (UTC)", formats=["%Y-%m-%d"])
    ],
    valid_until: Annotated[
        datetime | None,
        typer.Option(
            "--until",
            help="End of the licence (UTC); open-ended when left out",
            formats=["%Y-%m-%d"],
        ),
    ] = None,
    wait: WaitOption = 60.0,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Record a licence of a final registration."""
    body = {
        "licensee_ref": licensee,
        "document_sha256": document,
        "valid_from": valid_from.strftime("%Y-%m-%dT00:00:00Z"),
        "valid_until": valid_until.strftime("%Y-%m-%dT00:00:00Z") if valid_until else None,
    }
    _act(api_url, api_key, f"/api/v1/designs/{design}/licences", body, wait)


@licence_app.command("terminate")
def licence_terminate(
    design: DesignArgument,
    *,
    document: DocumentOption,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="A code 1-65535 or breach, non_payment, mutual_agreement, rights_dispute, "
            "licensee_ceased, other",
        ),
    ],
    wait: WaitOption = 60.0,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Terminate a licence, finally, with a reason."""
    path = f"/api/v1/designs/{design}/licences/{document}/terminate"
    _act(api_url, api_key, path, {"reason": reason}, wait)


def rights_show(
    design: DesignArgument,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Show a registration's rights: holder, pending assignment, licences, actions (JSON)."""
    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        _print(send_json(api, "GET", f"/api/v1/designs/{design}/rights"))


def departure(
    principal: Annotated[
        str,
        typer.Argument(help="The designer principal: id, API key id or prefix, or username"),
    ],
    report_only: Annotated[
        bool, typer.Option("--report-only", help="Only report; deactivate nothing")
    ] = False,
) -> None:
    """Deactivate a designer principal at once; print the JSON report of its registrations.

    Its API keys are revoked and its console accounts disabled (sessions ended); the report
    lists every registration it registered or is named in as a designer."""
    from hallmark.cli.admin import started_runtime
    from hallmark.services.access.keys import forget_cached_keys
    from hallmark.services.designs import departure as departures
    from hallmark.store.db import transaction

    with started_runtime() as runtime, reported(), transaction(runtime.sessions) as session:
        if report_only:
            found = departures.find_principal(session, principal)
            done = None
        else:
            found, done = departures.deactivate_principal(session=session, ref=principal)
        report = departures.departure_report(session, found)
        answer = {
            "principal": departures.principal_public(found),
            "deactivated": done,
            "registrations": report,
            "count": len(report),
        }
    forget_cached_keys()  # committed (other processes refuse the keys within their cache time)
    _print(answer)


def reassign(
    principal: Annotated[
        str,
        typer.Argument(help="The disabled registrar principal: id, API key id or prefix, username"),
    ],
    *,
    to: Annotated[
        str, typer.Option("--to", help="Another active registrar principal of its organisation")
    ],
    registration: Annotated[
        list[str] | None,
        typer.Option("--registration", help="Only this registration (repeat; default: all)"),
    ] = None,
) -> None:
    """Hand a departed registrar's registrations to another registrar of its organisation.

    Audited; nothing changes on chain (the registrant is the organisation's account)."""
    from hallmark.cli.admin import started_runtime
    from hallmark.services.designs import departure as departures
    from hallmark.store.db import transaction

    with started_runtime() as runtime, reported(), transaction(runtime.sessions) as session:
        answer = departures.reassign_registrations(
            session=session, source=principal, target=to, registrations=registration
        )
    _print(answer)


def rescue(
    design: Annotated[str, typer.Argument(help="Registration number or fingerprint")],
    *,
    to: Annotated[str, typer.Option("--to", help="The new registrant organisation (id or name)")],
    owner: Annotated[str, typer.Option("--owner", help="The new owner's reference")],
    document: DocumentOption,
    owner_organisation: Annotated[
        str | None, typer.Option("--owner-organisation", help="The owning organisation")
    ] = None,
) -> None:
    """As the ledger admin, propose to assign a design whose registrant lost its role.

    Only a registrant account that lost REGISTRAR_ROLE (a disabled organisation, a compromised
    account): the new registrant organisation accepts it with `designs assign accept`."""
    from hallmark.chain.registry import DesignRights
    from hallmark.cli.admin import started_runtime
    from hallmark.services.designs import departure as departures

    with started_runtime() as runtime, reported():
        row = departures.propose_rescue(
            sessions=runtime.sessions,
            rights=DesignRights(runtime.registry),
            admin=runtime.keys.admin,
            ref=design,
            new_registrant=to,
            new_owner_ref=owner,
            document_sha256=document,
            new_owner_organisation=owner_organisation,
        )
    _print(
        {
            "action": row.id,
            "registration": design,
            "proposed_by": row.sender,
            "new_registrant": row.new_registrant,
            "document_sha256": row.document_sha256,
            "tx_hash": row.tx_hash,
            "block_number": row.block_number,
            "next": "the new registrant accepts: hallmark designs assign accept",
        }
    )


def rotate_key(
    check: Annotated[
        bool, typer.Option("--check", help="Only count the files not yet under the new key")
    ] = False,
) -> None:
    """Re-seal every stored file under the new key; crash-safe and resumable.

    Files are read under HALLMARK_FILE_KEY or HALLMARK_FILE_KEYS_PREVIOUS and written under
    HALLMARK_FILE_KEY; run it again after a crash."""
    from hallmark.store.files import EncryptedFileStore

    settings = load_settings()
    with reported():
        store = EncryptedFileStore(
            settings.effective_files_dir, settings.file_key_bytes, settings.previous_file_keys
        )
        if check:
            left = store.remaining()
            out.print(f"{left} file(s) not under the current key")
            if left:
                raise typer.Exit(1)
            return
        if not store.previous_keys:
            fail("set HALLMARK_FILE_KEYS_PREVIOUS to the old key(s), HALLMARK_FILE_KEY to the new")
        report = store.rotate()
    out.print(
        f"{report.resealed} file(s) re-sealed, {report.current} already under the current key"
        + (f", {len(report.unreadable)} opened by no key" if report.unreadable else "")
    )
    if report.unreadable:
        fail("files no key opens: " + ", ".join(report.unreadable[:10]))
