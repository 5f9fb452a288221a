"""Deploy Hallmark's contracts, record where they are, and check the chain still holds them.

The deployment record (chain id, deployment block, contracts' version, every contract's address,
the keccak of its on-chain code and of the artifact it came from) is written to the data
directory and the database. Every deployment is kept: `deployment.json` holds the current
record and the history of the earlier ones (oldest first), the database one row each; batches
anchored on an earlier deployment stay readable and verifiable on it. `check_deployment`
compares a record with a live chain and lists every difference; callers refuse to start on any
difference — Hallmark never redeploys silently.

Version 2 (`deploy_contracts`): the ledger is deployed with the administrator's transfer delay
and the admin account, the design registry on the ledger; the service account is bound to the
platform's organisation (`PLATFORM_ORGANISATION`) and then granted its roles. Organisations'
accounts are bound and granted by `hallmark.services.access.organisations`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from hallmark.chain.artifacts import CURRENT_VERSION, VERSIONS
from hallmark.chain.client import ChainClient
from hallmark.chain.compiler import artifact_hash
from hallmark.chain.keys import KeyRing
from hallmark.chain.ledger import Ledger
from hallmark.core.errors import ChainError, ConfigurationError

#: Deployment order; each entry names its constructor arguments.
DEPLOY_ORDER = ("ProvenanceLedger", "DesignRegistry")
#: Roles the service account receives on the ledger at deployment.
SERVICE_ROLES = ("REGISTRAR_ROLE", "REVOKER_ROLE")
#: The platform operator's organisation identifier on a version 2 ledger (the service account's
#: organisation): UUID 00000000-0000-0000-0000-000000000001, of version 0, which no
#: organisation's UUID (random, version 4) can be.
PLATFORM_ORGANISATION = uuid.UUID(int=1)


@dataclass(frozen=True, slots=True)
class ContractRecord:
    address: str
    code_hash: str
    artifact_hash: str
    transaction: str


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    chain_id: int
    deployment_block: int
    admin_address: str
    service_address: str
    contracts: dict[str, ContractRecord]
    deployed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    #: The contracts' `version()`. Records written before versions were recorded are version 1
    #: and keep their JSON (and so their hash): the field is written only for later versions.
    version: str = VERSIONS[0]

    def address_of(self, name: str) -> str:
        return self.contracts[name].address

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.version == VERSIONS[0]:
            del data["version"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentRecord:
        try:
            return cls(
                chain_id=int(data["chain_id"]),
                deployment_block=int(data["deployment_block"]),
                admin_address=str(data["admin_address"]),
                service_address=str(data["service_address"]),
                contracts={k: ContractRecord(**v) for k, v in data["contracts"].items()},
                deployed_at=str(data["deployed_at"]),
                version=str(data.get("version", VERSIONS[0])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"malformed deployment record: {exc}") from exc

    @property
    def record_hash(self) -> str:
        """keccak-256 of the record's sorted JSON: the identity of this deployment."""
        return "0x" + keccak(json.dumps(self.to_json(), sort_keys=True).encode()).hex()


def code_hash(code: bytes) -> str:
    return "0x" + keccak(code).hex()


def deploy_contracts(
    client: ChainClient,
    keys: KeyRing,
    artifacts: dict[str, dict[str, Any]],
    *,
    version: str = CURRENT_VERSION,
    admin_transfer_delay: int = 0,
) -> DeploymentRecord:
    """Deploy every contract of `version` (its `artifacts`) in order with the admin key, bind
    the service account (version 2) and grant it the service roles."""
    if version not in VERSIONS:
        raise ConfigurationError(f"unknown contracts version {version!r}")
    missing = [name for name in DEPLOY_ORDER if name not in artifacts]
    if missing:
        raise ConfigurationError(
            f"artifacts missing for {', '.join(missing)}: run `hallmark contracts build`"
        )
    chain_id = client.retrieve_chain_id()
    # Ensure that the admin can pay: a clear reason beats the node's "insufficient funds".
    if client.retrieve_balance(keys.admin.address) == 0:
        raise ChainError(
            f"the admin account {keys.admin.address} has no funds on chain {chain_id}: "
            "fund it, then deploy again",
            details={"account": keys.admin.address, "chain_id": chain_id},
        )
    records: dict[str, ContractRecord] = {}
    first_block: int | None = None
    for name in DEPLOY_ORDER:
        artifact = artifacts[name]
        args: list[Any]
        if name != "ProvenanceLedger":
            args = [records["ProvenanceLedger"].address]
        elif version == VERSIONS[0]:
            args = [keys.admin.address]
        else:
            args = [admin_transfer_delay, keys.admin.address]
        sent = client.send_deployment(keys.admin, artifact["abi"], artifact["bytecode"], args)
        assert sent.contract_address is not None  # checked by send_deployment
        first_block = sent.block_number if first_block is None else first_block
        records[name] = ContractRecord(
            address=sent.contract_address,
            code_hash=code_hash(client.retrieve_code(sent.contract_address)),
            artifact_hash=artifact_hash(artifact),
            transaction=sent.tx_hash,
        )
    ledger = Ledger(
        client, records["ProvenanceLedger"].address, artifacts["ProvenanceLedger"]["abi"]
    )
    if ledger.version == 2:
        ledger.send_bind_account(keys.admin, keys.service.address, PLATFORM_ORGANISATION.bytes)
    for role_name in SERVICE_ROLES:
        ledger.send_grant_role(keys.admin, role_name, keys.service.address)
    assert first_block is not None
    return DeploymentRecord(
        chain_id=chain_id,
        deployment_block=first_block,
        admin_address=keys.admin.address,
        service_address=keys.service.address,
        contracts=records,
        version=version,
    )


def check_deployment(
    client: ChainClient, record: DeploymentRecord, artifacts: dict[str, dict[str, Any]]
) -> list[str]:
    """Every way the live chain (and the artifacts) differ from the record; empty if none."""
    differences: list[str] = []
    chain_id = client.retrieve_chain_id()
    if chain_id != record.chain_id:
        return [
            f"the node serves chain id {chain_id}, the deployment is on chain id {record.chain_id}"
        ]
    latest = client.retrieve_block_number()
    if latest < record.deployment_block:
        differences.append(
            f"the chain is at block {latest}, before the deployment block "
            f"{record.deployment_block} (a wiped chain or an older state)"
        )
    for name, contract in record.contracts.items():
        code = client.retrieve_code(contract.address)
        if not code:
            differences.append(f"no contract code at {contract.address} where {name} was deployed")
        elif code_hash(code) != contract.code_hash:
            differences.append(f"the code at {contract.address} is not the deployed {name}")
        if name in artifacts and artifact_hash(artifacts[name]) != contract.artifact_hash:
            differences.append(
                f"the {name} artifact changed since it was deployed; deploy the new version "
                "explicitly with `hallmark deploy`"
            )
    return differences


def read_history_file(path: Path) -> list[DeploymentRecord]:
    """Every deployment the file records, oldest first, the current one last (empty: none).

    The file is the current record, with the earlier ones under `history` (oldest first); a
    file written before deployments had a history is the current record alone."""
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise ConfigurationError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"malformed deployment record in {path.name}")
    history = data.pop("history", [])
    if not isinstance(history, list):
        raise ConfigurationError(f"malformed deployment history in {path.name}")
    return [DeploymentRecord.from_json(item) for item in [*history, data]]


def read_record_file(path: Path) -> DeploymentRecord | None:
    """The current deployment the file records, or None."""
    history = read_history_file(path)
    return history[-1] if history else None


def write_history_file(path: Path, records: list[DeploymentRecord]) -> None:
    """Write every deployment, oldest first (the last is current), atomically."""
    if not records:
        raise ValueError("no deployment to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    data = {**records[-1].to_json(), "history": [record.to_json() for record in records[:-1]]}
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)


def write_record_file(path: Path, record: DeploymentRecord) -> None:
    """Record `record` as the current deployment, keeping every earlier one in the history."""
    history = [r for r in read_history_file(path) if r.record_hash != record.record_hash]
    write_history_file(path, [*history, record])
