"""Deployment: once on first start, reused after, and never silently redone."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hallmark.chain.client import ChainClient
from hallmark.chain.node import AnvilNode, find_anvil
from hallmark.cli import app
from hallmark.config import Settings
from hallmark.core.errors import ChainError, DeploymentMismatchError, DeploymentMissingError
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation
from hallmark.store import db


@pytest.fixture
def external_node(tmp_path: Path) -> Iterator[AnvilNode]:
    """A chain Hallmark does not supervise, as a configured HALLMARK_RPC_URL would be."""
    node = AnvilNode(binary=find_anvil(), state_path=tmp_path / "external.json", port=0)
    node.start()
    yield node
    node.stop()


def test_first_start_deploys_and_later_starts_reuse(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    database_url: str,
) -> None:
    settings = make_settings(database_url=database_url)
    first = start_runtime(settings)
    assert first.deployment is not None
    assert first.chain is not None
    assert first.keys is not None
    record = first.deployment
    admin_nonce = first.chain.w3.eth.get_transaction_count(first.keys.admin.address)
    assert admin_nonce == 5  # two deployments, the service account bound, two role grants
    assert json.loads(settings.deployment_path.read_text())["contracts"]["ProvenanceLedger"][
        "address"
    ] == record.address_of("ProvenanceLedger")
    for contract in record.contracts.values():
        assert first.chain.retrieve_code(contract.address)
    first.stop()

    second = start_runtime(settings)
    assert second.deployment == record
    assert second.chain is not None
    assert second.keys is not None
    assert second.chain.w3.eth.get_transaction_count(second.keys.admin.address) == admin_nonce
    ready, report = second.readiness()
    assert ready, report["problems"]
    assert report["chain"]["contracts"] == {k: v.address for k, v in record.contracts.items()}
    assert report["database"]["backend"] == ("sqlite" if "sqlite" in database_url else "postgresql")


def test_wiped_chain_refuses_to_start(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    settings = make_settings()
    start_runtime(settings).stop()
    recorded = settings.deployment_path.read_bytes()
    settings.chain_state_path.unlink()  # the chain is gone, the record remains
    with pytest.raises(DeploymentMismatchError) as caught:
        start_runtime(settings)
    message = str(caught.value)
    assert "the chain does not match the recorded deployment" in message
    assert "no contract code at" in message
    assert "where ProvenanceLedger was deployed" in message
    # Never a silent redeploy: the record is untouched and nothing was deployed on the new chain.
    assert settings.deployment_path.read_bytes() == recorded
    node = AnvilNode(binary=find_anvil(), state_path=settings.chain_state_path, port=0)
    node.start()
    try:
        assert ChainClient.for_url(node.url).retrieve_block_number() == 0
    finally:
        node.stop()


def test_other_chain_id_refuses_to_start(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    start_runtime(make_settings()).stop()
    with pytest.raises(DeploymentMismatchError, match="serves chain id 4242, the deployment is on"):
        start_runtime(make_settings(chain_id=4242, anvil_state_interval=1))


def test_wrong_url_refuses_to_start(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    external_node: AnvilNode,
) -> None:
    settings = make_settings()
    start_runtime(settings).stop()
    # Same data directory, another (empty) chain of the same id behind a configured URL.
    with pytest.raises(DeploymentMismatchError, match="no contract code at"):
        start_runtime(make_settings(rpc_url=external_node.url))


def test_database_and_data_directory_disagreeing_refuses(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    settings = make_settings()
    start_runtime(settings).stop()
    data = json.loads(settings.deployment_path.read_text())
    data["deployment_block"] += 1
    settings.deployment_path.write_text(json.dumps(data))
    with pytest.raises(DeploymentMismatchError, match="the data directory records the deployment"):
        start_runtime(settings)


def test_configured_chain_without_deployment_asks_for_hallmark_deploy(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    external_node: AnvilNode,
) -> None:
    with pytest.raises(
        DeploymentMissingError, match="deploy them explicitly with `hallmark deploy`"
    ):
        start_runtime(make_settings(rpc_url=external_node.url))


def test_cli_deploy_to_a_configured_chain(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    external_node: AnvilNode,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(rpc_url=external_node.url)
    keys_runtime = Runtime(settings)
    keys_runtime.start_for_deploy()  # creates the keys; the operator funds them on a real chain
    assert keys_runtime.keys is not None
    with pytest.raises(ChainError, match=f"admin account {keys_runtime.keys.admin.address} has no"):
        keys_runtime.deploy()
    client = ChainClient.for_url(external_node.url)
    for account in (keys_runtime.keys.admin, keys_runtime.keys.service):
        client.set_local_balance(account.address, 10**20)
    keys_runtime.stop()

    for key, value in {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_RPC_URL": external_node.url,
        "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(app, ["deploy"])
    assert result.exit_code == 0, result.output
    assert "deployed version 2.0.0 on chain 31337" in result.output

    again = runner.invoke(app, ["deploy"])
    assert again.exit_code == 1
    assert "a deployment is already recorded (chain 31337, matches the chain)" in again.output

    status = runner.invoke(app, ["chain", "status"])
    assert status.exit_code == 0, status.output
    assert "deployment matches the chain" in status.output

    runtime = start_runtime(settings)  # a configured chain with a recorded deployment starts
    assert runtime.deployment is not None
    assert runtime.readiness()[0]
    assert runtime.engine is not None
    assert db.check(runtime.engine)["migrations_current"]


def test_cli_deploy_new_moves_a_version_1_installation_to_version_2(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    external_node: AnvilNode,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(rpc_url=external_node.url)
    first = Runtime(settings)
    first.start_for_deploy()
    assert first.keys is not None
    client = ChainClient.for_url(external_node.url)
    for account in (first.keys.admin, first.keys.service):
        client.set_local_balance(account.address, 10**20)
    v1 = first.deploy(version="1.0.0")
    first.stop()
    runtime = start_runtime(settings)
    assert runtime.sessions is not None
    supplier = create_organisation(
        sessions=runtime.sessions,
        chain=runtime.chain_access(),
        name="Old Refinery",
        kind="supplier",
    )
    runtime.stop()

    for key, value in {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_DATABASE_URL": settings.effective_database_url,
        "HALLMARK_RPC_URL": external_node.url,
        "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(app, ["deploy", "--new"])
    assert result.exit_code == 0, result.output
    assert "deployed version 2.0.0 on chain 31337" in result.output
    status = runner.invoke(app, ["chain", "status"], env={"COLUMNS": "250"})
    assert status.exit_code == 0, status.output
    assert re.search(r"contracts version +2\.0\.0", status.output)
    assert f"version 1.0.0, block {v1.deployment_block}" in status.output
    assert "deployment matches the chain" in status.output
    data = json.loads(settings.deployment_path.read_text())
    assert data["version"] == "2.0.0" and len(data["history"]) == 1
    assert data["history"][0]["contracts"] == json.loads(json.dumps(v1.to_json()))["contracts"]

    again = start_runtime(settings)
    assert again.deployment is not None and again.deployment.version == "2.0.0"
    binding = again.ledger.retrieve_account(supplier.account_address)
    assert binding.organisation == uuid.UUID(supplier.id).bytes
    assert again.ledger.retrieve_has_role("SUPPLIER_ROLE", supplier.account_address)
    assert again.readiness()[0]
