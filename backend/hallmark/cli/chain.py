"""The chain and its contracts: `hallmark chain status`, `hallmark contracts build`,
`hallmark deploy`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hallmark.cli.console import err, fail, load_settings, out, reported
from hallmark.core.errors import HallmarkError

chain_app = typer.Typer(help="Inspect the chain Hallmark uses.", no_args_is_help=True)
contracts_app = typer.Typer(help="Build the Solidity contracts.", no_args_is_help=True)


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
    from hallmark.chain.artifacts import load_versioned_artifacts
    from hallmark.chain.client import ChainClient

    settings = load_settings()
    url = settings.rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
    table = Table(show_header=False, box=None)
    table.add_row("node", url if settings.rpc_url is None else "HALLMARK_RPC_URL")
    history: list[deployment.DeploymentRecord] = []
    with reported():
        history = deployment.read_history_file(settings.deployment_path)
    record = history[-1] if history else None
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
        table.add_row("contracts version", record.version)
        table.add_row("deployment block", str(record.deployment_block))
        for name, contract in record.contracts.items():
            table.add_row(name, contract.address)
        for earlier in reversed(history[:-1]):
            table.add_row(
                "earlier deployment",
                f"version {earlier.version}, block {earlier.deployment_block}, "
                f"ProvenanceLedger {earlier.address_of('ProvenanceLedger')} (read only)",
            )
    out.print(table)
    if reachable and record is not None:
        with reported():
            differences = deployment.check_deployment(
                client, record, load_versioned_artifacts()[record.version]
            )
        if differences:
            fail("; ".join(differences))
        out.print("deployment matches the chain")
    elif not reachable:
        raise typer.Exit(1)


def deploy(
    new: Annotated[
        bool,
        typer.Option("--new", help="Deploy a new version even though a deployment is recorded"),
    ] = False,
) -> None:
    """Deploy the contracts (version 2) with the admin key and record the deployment.

    With --new, the earlier deployments stay recorded (their batches are still read and verified
    on them) and every organisation's account is bound and granted its role on the new ledger.
    Restart `hallmark serve` afterwards: new batches are anchored on the new deployment."""
    from hallmark.chain import deployment
    from hallmark.runtime import Runtime
    from hallmark.services.access import organisations

    settings = load_settings()
    if settings.rpc_url is None and not new:
        fail("set HALLMARK_RPC_URL to the node to deploy to (the local chain deploys by itself)")
    runtime = Runtime(settings)
    with reported():
        runtime.start_for_deploy()
        try:
            existing = runtime.recorded_deployment()
            if existing is not None and not new:
                assert runtime.chain is not None
                differences = deployment.check_deployment(
                    runtime.chain, existing, runtime.versioned_artifacts[existing.version]
                )
                state = "matches the chain" if not differences else "; ".join(differences)
                fail(
                    f"a deployment is already recorded (chain {existing.chain_id}, "
                    f"{state}); pass --new to deploy a new version"
                )
            record = runtime.deploy()
            assert runtime.sessions is not None and runtime.deployment_id is not None
            pending = organisations.pending_grants(
                sessions=runtime.sessions, deployment_id=runtime.deployment_id
            )
        finally:
            runtime.stop()
    for name, contract in record.contracts.items():
        out.print(f"{name}: {contract.address}")
    out.print(
        f"deployed version {record.version} on chain {record.chain_id} "
        f"at block {record.deployment_block}"
    )
    if pending:
        err.print(
            f"{pending} organisation(s) not bound or granted on the new ledger yet: "
            "run `hallmark admin org sync`"
        )
