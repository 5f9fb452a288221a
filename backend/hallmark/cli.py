"""The `hallmark` command line (Typer). Every failure is one line on stderr and a non-zero exit."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pydantic
import typer
from rich.console import Console
from rich.table import Table

from hallmark import __version__
from hallmark.config import Settings
from hallmark.core.errors import HallmarkError
from hallmark.core.logging import configure_logging

app = typer.Typer(
    name="hallmark",
    help="Hallmark: provenance and certificates for fine jewellery, anchored on an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
chain_app = typer.Typer(help="Inspect the chain Hallmark uses.", no_args_is_help=True)
contracts_app = typer.Typer(help="Build the Solidity contracts.", no_args_is_help=True)
app.add_typer(chain_app, name="chain")
app.add_typer(contracts_app, name="contracts")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn Hallmark's errors and bad settings into a one-line reason and exit code 1."""
    try:
        yield
    except HallmarkError as exc:
        fail(exc.message.replace("\n", " | "))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(f"invalid setting {where}: {first['msg']}")


def load_settings(**overrides: Any) -> Settings:
    with reported():
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure_logging(settings.log_level, json=_json_logs(settings))
    return settings


def _json_logs(settings: Settings) -> bool:
    if settings.log_json is not None:
        return settings.log_json
    return settings.environment.value == "production"


@app.command()
def version() -> None:
    """Print Hallmark's version."""
    out.print(f"hallmark {__version__}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (HALLMARK_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (HALLMARK_PORT)")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run an anchoring worker, as a supervised child process "
            "(HALLMARK_WORKER_IN_SERVE)",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(help="API processes on the one port (HALLMARK_API_PROCESSES)", min=1),
    ] = None,
) -> None:
    """Start the chain (or connect to HALLMARK_RPC_URL), migrate the database and serve the API."""
    from hallmark.api import serving
    from hallmark.services.runtime import Runtime

    settings = load_settings(host=host, port=port, worker_in_serve=worker, api_processes=processes)
    runtime = Runtime(settings)
    with reported():
        runtime.start()
        if settings.worker_in_serve:
            runtime.start_worker_process()
    # Everything loaded so far lives as long as the process: keep the collector from rescanning it
    # on every full collection (a 5,000-record batch allocates enough to trigger several).
    gc.freeze()
    try:
        err.print(
            f"Hallmark serving at http://{settings.host}:{settings.port} (API docs at /docs), "
            f"{settings.api_processes} API process{'es' if settings.api_processes > 1 else ''}"
        )
        serving.serve(
            runtime, host=settings.host, port=settings.port, processes=settings.api_processes
        )
    finally:
        runtime.stop()


@app.command("worker")
def worker_command(
    parent: Annotated[
        int | None,
        typer.Option(hidden=True, help="Pid of the process that supervises this worker"),
    ] = None,
    report_fd: Annotated[
        int | None,
        typer.Option(hidden=True, help="Pipe to report the worker's state on (JSON lines)"),
    ] = None,
) -> None:
    """Run the anchoring worker alone: one leader anchors, other workers stand by."""
    import threading

    from hallmark.services.runtime import Runtime
    from hallmark.services.worker_process import StateReporter, die_with_parent

    settings = load_settings()
    runtime = Runtime(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent is not None:  # the worker process of `hallmark serve`: never outlive it
        die_with_parent(parent, stop.set)
    with reported():
        runtime.start()
    gc.freeze()  # as in `serve`: what start-up loaded lives as long as the process
    reporter = None
    try:
        worker = runtime.start_worker()
        if report_fd is not None:
            reporter = StateReporter(report_fd, worker.report, stop.set)
            reporter.start()
        err.print("Hallmark anchoring worker running (SIGTERM or Ctrl-C stops it)")
        stop.wait()
    finally:
        runtime.stop()
        if reporter is not None:
            reporter.stop()  # its last report: stopped


@contracts_app.command("build")
def contracts_build(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when the committed artifacts are stale")
    ] = False,
) -> None:
    """Compile contracts/ into contracts/artifacts/ with the official Solidity compiler."""
    from hallmark.chain import compiler

    settings = load_settings()
    with reported():
        compiler_settings = compiler.load_settings()
        solc = compiler.find_compiler(compiler_settings.solc_version, settings.solc)
        err.print(
            f"compiling with solc {solc.version} ({solc.origin}: {solc.executable})", soft_wrap=True
        )
        artifacts = compiler.compile_contracts(solc, compiler_settings)
    if check:
        stale = compiler.stale_artifacts(artifacts)
        if stale:
            fail(f"stale artifacts: {', '.join(stale)} (run `hallmark contracts build`)")
        out.print(f"artifacts up to date: {', '.join(sorted(artifacts))}")
        return
    for path in compiler.write_artifacts(artifacts):
        out.print(f"wrote {path.relative_to(compiler.ARTIFACTS_DIR.parent.parent)}")


@chain_app.command("status")
def chain_status() -> None:
    """Show the chain Hallmark is configured for, its deployment, and whether they match."""
    from hallmark.chain import deployment
    from hallmark.chain.artifacts import load_artifacts
    from hallmark.chain.client import ChainClient

    settings = load_settings()
    url = settings.rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    table = Table(show_header=False, box=None)
    table.add_row("node", url if settings.rpc_url is None else "HALLMARK_RPC_URL")
    record = None
    with reported():
        record = deployment.read_record_file(settings.deployment_path)
    client = ChainClient.for_url(url, timeout=settings.rpc_timeout)
    try:
        table.add_row("chain id", str(client.retrieve_chain_id()))
        table.add_row("latest block", str(client.retrieve_block_number()))
        reachable = True
    except HallmarkError as exc:
        hint = (
            " (the local chain runs inside `hallmark serve`)" if settings.uses_local_chain else ""
        )
        table.add_row("reachable", f"no: {exc.message}{hint}")
        reachable = False
    if record is None:
        table.add_row("deployment", "none recorded")
    else:
        table.add_row("deployed on chain", str(record.chain_id))
        table.add_row("deployment block", str(record.deployment_block))
        for name, contract in record.contracts.items():
            table.add_row(name, contract.address)
    out.print(table)
    if reachable and record is not None:
        with reported():
            differences = deployment.check_deployment(client, record, load_artifacts())
        if differences:
            fail("; ".join(differences))
        out.print("deployment matches the chain")
    elif not reachable:
        raise typer.Exit(1)


@app.command()
def deploy(
    new: Annotated[
        bool,
        typer.Option("--new", help="Deploy a new version even though a deployment is recorded"),
    ] = False,
) -> None:
    """Deploy the contracts to HALLMARK_RPC_URL with the admin key and record the deployment."""
    from hallmark.chain import deployment
    from hallmark.services.runtime import Runtime

    settings = load_settings()
    if settings.rpc_url is None:
        fail("set HALLMARK_RPC_URL to the node to deploy to (the local chain deploys by itself)")
    runtime = Runtime(settings)
    with reported():
        runtime.start_for_deploy()
        try:
            existing = runtime.recorded_deployment()
            if existing is not None and not new:
                assert runtime.chain is not None
                differences = deployment.check_deployment(
                    runtime.chain, existing, runtime.artifacts
                )
                state = "matches the chain" if not differences else "; ".join(differences)
                fail(
                    f"a deployment is already recorded (chain {existing.chain_id}, "
                    f"{state}); pass --new to deploy a new version"
                )
            record = runtime.deploy()
        finally:
            runtime.stop()
    for name, contract in record.contracts.items():
        out.print(f"{name}: {contract.address}")
    out.print(f"deployed on chain {record.chain_id} at block {record.deployment_block}")


# --- administration ----------------------------------------------------------------------------

admin_app = typer.Typer(help="Organisations, principals, API keys, audit.", no_args_is_help=True)
org_app = typer.Typer(
    help="Organisations (brands, suppliers, factories, legal).", no_args_is_help=True
)
key_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
principal_app = typer.Typer(
    help="People and machines acting for an organisation.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
admin_app.add_typer(org_app, name="org")
admin_app.add_typer(key_app, name="key")
admin_app.add_typer(principal_app, name="principal")
admin_app.add_typer(audit_app, name="audit")


@contextmanager
def started_runtime() -> Iterator[Any]:
    """A runtime for one command (shares the local chain of a running `hallmark serve`)."""
    from hallmark.services.runtime import Runtime

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
) -> None:
    """Create an organisation with its own chain account and the ledger role of its kind."""
    from hallmark.services import organisations

    with started_runtime() as runtime:
        organisation = organisations.create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name=name, kind=kind
        )
    out.print(f"organisation {organisation.id} ({organisation.kind})")
    out.print(f"chain account {organisation.account_address}")


@org_app.command("disable")
def org_disable(organisation: str) -> None:
    """Disable an organisation: revoke its role on chain and every one of its API keys."""
    from hallmark.services import organisations

    with started_runtime() as runtime:
        org = organisations.set_organisation_enabled(
            sessions=runtime.sessions, chain=runtime.chain_access(), ref=organisation, enabled=False
        )
    out.print(f"organisation {org.name} disabled: role revoked on chain, API keys revoked")


@org_app.command("enable")
def org_enable(organisation: str) -> None:
    """Enable a disabled organisation again (its role is granted on chain; keys stay revoked)."""
    from hallmark.services import organisations

    with started_runtime() as runtime:
        org = organisations.set_organisation_enabled(
            sessions=runtime.sessions, chain=runtime.chain_access(), ref=organisation, enabled=True
        )
    out.print(f"organisation {org.name} enabled")


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    from sqlalchemy import select

    from hallmark.store.models import Organisation

    with started_runtime() as runtime, runtime.sessions() as session:
        rows = session.scalars(select(Organisation).order_by(Organisation.name)).all()
        table = Table("id", "name", "kind", "status", "account")
        for org in rows:
            table.add_row(org.id, org.name, org.kind, org.status, org.account_address)
    out.print(table)


@principal_app.command("create")
def principal_create(
    organisation: str,
    name: str,
    kind: Annotated[str, typer.Option(help="machine or person")] = "person",
) -> None:
    """Create a principal (a person or machine acting for an organisation)."""
    from hallmark.services import organisations

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
    from hallmark.services import organisations

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
    from hallmark.services import organisations

    with started_runtime() as runtime:
        row = organisations.revoke_api_key(sessions=runtime.sessions, key_ref=key)
    out.print(f"API key {row.id} revoked")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain from the first entry to the last."""
    from sqlalchemy import func, select

    from hallmark.services import audit
    from hallmark.store.models import AuditEntry

    with started_runtime() as runtime, runtime.sessions() as session:
        broken = audit.verify_chain(session)
        count = session.scalar(select(func.count()).select_from(AuditEntry))
    if broken is not None:
        fail(f"the audit log is broken at entry {broken}")
    out.print(f"audit log intact: {count} entries")


# --- records through the HTTP API --------------------------------------------------------------

import_app = typer.Typer(
    help="Import lots, products or steps from CSV through the HTTP API (docs/RECORDS.md).",
    no_args_is_help=True,
)
product_app = typer.Typer(help="Products, through the HTTP API.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(product_app, name="product")

ApiUrlOption = Annotated[
    str, typer.Option("--api-url", envvar="HALLMARK_API_URL", help="Hallmark's base URL")
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="HALLMARK_API_KEY", help="API key (HALLMARK_API_KEY)"),
]


def _api_key(api_key: str | None) -> str:
    if not api_key:
        fail("an API key is required: --api-key or HALLMARK_API_KEY")
    return api_key


def _import(
    kind: str,
    file: Path,
    *,
    api_url: str,
    api_key: str | None,
    chunk: int,
    errors: Path | None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from hallmark import client

    if chunk < 1:
        fail("--chunk must be at least 1")
    if not file.is_file():
        fail(f"{file} is not a file")
    key = _api_key(api_key)
    with reported(), client.HallmarkClient(api_url, key) as api:
        total = client.count_rows(file)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
            task = bar.add_task(f"importing {kind}", total=total)
            report = client.import_csv(
                api,
                kind=kind,
                path=file,
                chunk=chunk,
                progress=lambda rows: bar.advance(task, rows),
            )
    if errors is not None:
        client.write_error_report(errors, report.errors)
    out.print(
        f"{report.created} of {report.total} {kind} imported, {report.rejected_rows} rejected"
        + (f" (errors in {errors})" if errors is not None and report.errors else "")
    )
    if report.errors:
        for error in report.errors[:10]:
            err.print(f"row {error.row}: {error.field}: {error.message}", markup=False)
        if len(report.errors) > 10:
            err.print(f"... and {len(report.errors) - 10} more", markup=False)
        raise typer.Exit(1)


def _import_command(kind: str) -> None:
    @import_app.command(kind)
    def command(
        file: Annotated[Path, typer.Argument(help="CSV file with a header line")],
        api_url: ApiUrlOption = "http://127.0.0.1:8000",
        api_key: ApiKeyOption = None,
        chunk: Annotated[int, typer.Option(help="Rows per request")] = 1000,
        errors: Annotated[
            Path | None, typer.Option(help="Write every rejected row's errors to this CSV")
        ] = None,
    ) -> None:
        _import(kind, file, api_url=api_url, api_key=api_key, chunk=chunk, errors=errors)

    command.__doc__ = f"Import {kind} from a CSV file (per row; exit 1 when any row failed)."


for _kind in ("lots", "products", "steps"):
    _import_command(_kind)


@product_app.command("show")
def product_show(
    serial: str,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Show a product's provenance: materials tree, steps, record hashes, anchoring."""
    from rich.tree import Tree

    from hallmark import client

    with reported(), client.HallmarkClient(api_url, _api_key(api_key)) as api:
        view = api.retrieve_provenance(serial)
    product = view["product"]
    chain = "intact" if view["chain_intact"] else f"BROKEN: {view['chain']['first_broken']}"
    tree = Tree(
        f"[bold]{product['serial']}[/] {product['name']} ({product['category']}) "
        f"record {_short(view['record'])}; step chain {chain}"
    )
    materials = tree.add("materials")
    for node in view["materials"]:
        _material(materials, node)
    table = Table("#", "step", "occurred at", "result", "record", "anchoring")
    for item in view["steps"]:
        step, record = item["step"], item["records"][-1]
        table.add_row(
            str(step["sequence"]),
            step["kind"],
            step["occurred_at"],
            step["result"] or "",
            record["record_hash"][:18] + "…",
            record["anchoring"]["status"],
        )
    out.print(tree)
    out.print(table)
    out.print(
        f"recycled share {product['recycled_share'] or '-'}, "
        f"carbon {product['carbon_kg_co2e'] or '-'} kg CO2e"
    )


def _short(record: dict[str, Any]) -> str:
    return f"{record['record_hash'][:18]}… ({record['anchoring']['status']})"


def _material(parent: Any, node: dict[str, Any]) -> None:
    lot = node["lot"]
    if lot is None:
        parent.add(f"lot {node['lot_id']} (not known here)")
        return
    origin = lot["origin"]
    drawn = f"{node['quantity']} {node['unit']} from " if node.get("quantity") else ""
    branch = parent.add(
        f"{drawn}{lot['material']} {lot['grade'] or ''} lot {lot['lot_number']}, "
        f"{origin.get('name') or ''} {origin['country']}, record {_short(lot['record'])}"
    )
    if node.get("parent"):
        _material(branch.add("split from"), node["parent"])
    for source in node.get("recycled_from", []):
        _material(branch.add("recycled from"), source)
    for serial in node.get("recycled_products", []):
        branch.add(f"recycled from product {serial}")
