"""Administration: `hallmark admin org|principal|key|account|batch|audit|staff`, run against the
database and the chain this machine's Hallmark uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from hallmark.cli.console import err, fail, load_settings, out, reported
from hallmark.cli.staff import staff_app

admin_app = typer.Typer(
    help="Organisations, principals, API keys, staff accounts, audit.", no_args_is_help=True
)
org_app = typer.Typer(
    help="Organisations (brands, suppliers, factories, legal).", no_args_is_help=True
)
key_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
principal_app = typer.Typer(
    help="People and machines acting for an organisation.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
account_app = typer.Typer(help="Chain accounts: declare one compromised.", no_args_is_help=True)
batch_app = typer.Typer(help="Anchored batches: flag one.", no_args_is_help=True)
admin_app.add_typer(org_app, name="org")
admin_app.add_typer(key_app, name="key")
admin_app.add_typer(principal_app, name="principal")
admin_app.add_typer(audit_app, name="audit")
admin_app.add_typer(account_app, name="account")
admin_app.add_typer(batch_app, name="batch")
admin_app.add_typer(staff_app, name="staff")


@contextmanager
def started_runtime() -> Iterator[Any]:
    """A runtime for one command (shares the local chain of a running `hallmark serve`)."""
    from hallmark.runtime import Runtime

    runtime = Runtime(load_settings())
    with reported():
        runtime.start()
        try:
            yield runtime
        finally:
            runtime.stop()


@org_app.command("create")
def org_create(
    name: str,
    kind: Annotated[str, typer.Option(help="brand, supplier, factory or legal")],
    gln: Annotated[str | None, typer.Option(help="GS1 Global Location Number (13 digits)")] = None,
) -> None:
    """Create an organisation with its own chain account and the ledger role of its kind."""
    from hallmark.core.errors import ChainError
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        try:
            organisation = organisations.create_organisation(
                sessions=runtime.sessions,
                chain=runtime.chain_access(),
                name=name,
                kind=kind,
                gln=gln,
            )
        except ChainError as exc:
            fail(
                f"{exc.message.replace(chr(10), ' | ')} (the organisation is stored; its binding "
                "and role are pending: run `hallmark admin org sync`)"
            )
    out.print(f"organisation {organisation.id} ({organisation.kind})")
    out.print(f"chain account {organisation.account_address}")


@org_app.command("disable")
def org_disable(organisation: str) -> None:
    """Disable an organisation: revoke its role on chain and every one of its API keys."""
    name = _set_enabled(organisation, enabled=False)
    out.print(f"organisation {name} disabled: role revoked on chain, API keys revoked")


@org_app.command("enable")
def org_enable(organisation: str) -> None:
    """Enable a disabled organisation again (its role is granted on chain; keys stay revoked)."""
    name = _set_enabled(organisation, enabled=True)
    out.print(f"organisation {name} enabled")


def _set_enabled(organisation: str, *, enabled: bool) -> str:
    """Enable or disable an organisation (on chain and here); its name."""
    from hallmark.core.errors import ChainError
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        try:
            org = organisations.set_organisation_enabled(
                sessions=runtime.sessions,
                chain=runtime.chain_access(),
                ref=organisation,
                enabled=enabled,
            )
        except ChainError as exc:
            fail(
                f"{exc.message.replace(chr(10), ' | ')} (the change is stored; its role change "
                "on chain is pending: run `hallmark admin org sync`)"
            )
    return org.name


@org_app.command("gln")
def org_gln(
    organisation: str,
    gln: Annotated[str, typer.Argument(help="13 digits, or 'none' to clear it")],
) -> None:
    """Record an organisation's GS1 Global Location Number (EPCIS readPoint and bizLocation)."""
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        org = organisations.set_gln(
            sessions=runtime.sessions, ref=organisation, gln=None if gln == "none" else gln
        )
    out.print(f"organisation {org.name}: GLN {org.gln or 'none'}", markup=False)


@org_app.command("sync")
def org_sync() -> None:
    """Bind and grant on chain what is still pending (after a chain failure or a crash)."""
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        applied = organisations.apply_grants(
            sessions=runtime.sessions, chain=runtime.chain_access()
        )
    out.print(f"{applied} pending grant(s) applied on chain")


@org_app.command("list")
def org_list() -> None:
    """List organisations, with whether the current ledger holds their binding and role yet."""
    from sqlalchemy import select

    from hallmark.store.models import Organisation, OrganisationGrant

    with started_runtime() as runtime, runtime.sessions() as session:
        rows = session.scalars(select(Organisation).order_by(Organisation.name)).all()
        grants = dict(
            session.execute(
                select(OrganisationGrant.organisation_id, OrganisationGrant.status).where(
                    OrganisationGrant.deployment_id == runtime.deployment_id
                )
            ).all()
        )
        lines = [
            "\t".join(
                (
                    o.id,
                    o.name,
                    o.kind,
                    o.status,
                    o.account_address,
                    grants.get(o.id, "none"),
                    o.gln or "-",
                )
            )
            for o in rows
        ]
    # Tab-separated lines, never a table: ids and chain accounts are printed whole on any
    # terminal width (readers copy them) and the output reads well in `cut` and spreadsheets.
    out.print("id\tname\tkind\tstatus\taccount\ton chain\tgln", markup=False, highlight=False)
    for line in lines:
        out.print(line, markup=False, highlight=False, soft_wrap=True)


@admin_app.command("check")
def check() -> None:
    """Check every stored record (its canonical text hashes to its record hash) and every
    anchored batch (its records' hashes make its Merkle root, which its deployment's ledger
    holds as anchored by its account); exit 1 naming each failure."""
    from hallmark.services.anchoring import integrity

    with started_runtime() as runtime, runtime.sessions() as session:
        report = integrity.scan(session, ledgers=runtime.ledger_for)
    for failure in report.failures:
        err.print(failure, markup=False, highlight=False)
    summary = f"{report.records} records, {report.batches} anchored batches"
    if not report.intact:
        fail(f"{len(report.failures)} integrity failure(s) in {summary}")
    out.print(f"intact: {summary}")


@principal_app.command("create")
def principal_create(
    organisation: str,
    name: str,
    kind: Annotated[str, typer.Option(help="machine or person")] = "person",
) -> None:
    """Create a principal (a person or machine acting for an organisation)."""
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        principal = organisations.create_principal(
            sessions=runtime.sessions, organisation_ref=organisation, name=name, kind=kind
        )
    out.print(f"principal {principal.id} ({principal.kind}) {principal.name}")


@key_app.command("create")
def key_create(
    organisation: str,
    role: Annotated[str, typer.Option(help="supplier, factory, brand, legal or reader")],
    principal: Annotated[str, typer.Option(help="Principal name (created if new)")] = "api",
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        key, secret = organisations.create_api_key(
            sessions=runtime.sessions,
            organisation_ref=organisation,
            principal_name=principal,
            role=role,
        )
    err.print(f"API key {key.id} (prefix {key.prefix}, role {key.role}); shown only now:")
    out.print(secret, markup=False, highlight=False)


@key_app.command("revoke")
def key_revoke(key: Annotated[str, typer.Argument(help="Key id or prefix")]) -> None:
    """Revoke an API key; the next request with it is refused."""
    from hallmark.services.access import organisations

    with started_runtime() as runtime:
        row = organisations.revoke_api_key(sessions=runtime.sessions, key_ref=key)
    out.print(f"API key {row.id} revoked")


@audit_app.command("verify")
def audit_verify(
    chain: Annotated[
        bool,
        typer.Option(
            "--chain/--no-chain", help="Check the anchored heads against the chain when it answers"
        ),
    ] = True,
) -> None:
    """Check the audit log from the database alone (its hash chain, and every anchored head
    still in it), then its anchored heads against the chain (when it answers)."""
    import json

    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from hallmark.chain.client import ChainClient
    from hallmark.chain.deployment import DeploymentRecord
    from hallmark.core.errors import ChainError
    from hallmark.services.access import audit_heads
    from hallmark.store import db

    settings = load_settings()
    client: ChainClient | None = None
    chain_id: int | None = None
    service: str | None = None
    note: str | None = None
    if chain:
        url = settings.rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
        try:
            client = ChainClient.for_url(url, timeout=min(settings.rpc_timeout, 5.0))
            chain_id = client.retrieve_chain_id()
        except ChainError as exc:
            client, note = None, f"the chain does not answer ({exc.message})"
        if settings.deployment_path.exists():
            with reported():
                record = json.loads(settings.deployment_path.read_text())
                service = DeploymentRecord.from_json(record).service_address
    url = settings.effective_database_url
    engine = db.make_read_engine(url) or db.make_engine(url)
    try:
        with Session(engine) as session, reported():
            report = audit_heads.verify(
                session, chain=client, chain_id=chain_id, account_address=service
            )
    except SQLAlchemyError as exc:
        fail(f"cannot read the audit log: {str(getattr(exc, 'orig', exc)).splitlines()[0]}")
    finally:
        db.dispose(engine)
    if report.problems:
        for problem in report.problems[:-1]:
            err.print(f"error: {problem}", markup=False, highlight=False)
        fail(f"the audit log was tampered with: {report.problems[-1]}")
    out.print(f"audit log intact: {report.entries} entries, {report.heads} anchored heads")
    if report.chain_checked:
        out.print("anchored heads match the chain")
    elif chain:
        err.print(f"anchored heads not checked: {note or report.chain_note}")


@account_app.command("compromise")
def account_compromise(
    account: Annotated[str, typer.Argument(help="The account's address")],
    from_block: Annotated[int, typer.Option("--from-block", help="First block it is distrusted")],
    reason: Annotated[
        str,
        typer.Option(help="issued_in_error, data_error, key_compromised, withdrawn or other"),
    ] = "key_compromised",
    note: Annotated[
        str | None, typer.Option(help="Free text kept in the audit log (never on chain)")
    ] = None,
) -> None:
    """Declare an account compromised from a block on (admin, version 2 ledger): its batches from
    that block read flagged (certificates revoked) and it loses its roles for good."""
    from hallmark.services.anchoring import flags

    with started_runtime() as runtime:
        done = flags.mark_compromised(
            sessions=runtime.sessions,
            ledger=runtime.ledger,
            deployment_id=runtime.deployment_id,
            admin=runtime.keys.admin,
            account=account,
            from_block=from_block,
            reason=reason,
            note=note,
        )
    out.print(
        f"account {done.account} compromised from block {done.from_block} ({done.reason}): "
        f"{done.batches} batch(es) of it read flagged; transaction {done.tx_hash}"
    )


@batch_app.command("flag")
def batch_flag(
    batch: Annotated[int, typer.Argument(help="The batch's id (a record's anchoring.batch_id)")],
    reason: Annotated[
        str, typer.Option(help="issued_in_error, data_error, key_compromised, withdrawn or other")
    ],
) -> None:
    """Flag an anchored batch on chain with its own organisation's account (for ever)."""
    from hallmark.services.access.audit import SYSTEM
    from hallmark.services.anchoring import flags
    from hallmark.store.models import AnchorBatch

    with started_runtime() as runtime:
        with runtime.sessions() as session:
            row = session.get(AnchorBatch, batch)
            organisation_id = row.organisation_id if row is not None else ""
        flagged = flags.flag_batch(
            sessions=runtime.sessions,
            ledger_of=lambda found: runtime.ledger_for(found.deployment_id),
            passphrase=runtime.settings.passphrase,
            actor=SYSTEM,
            organisation_id=organisation_id,
            batch_id=batch,
            reason=reason,
        )
    out.print(
        f"batch {flagged.batch_id} (root {flagged.root}) flagged ({flagged.reason}); "
        f"transaction {flagged.tx_hash or 'none: flagged before'}"
    )
