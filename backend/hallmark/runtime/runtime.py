"""Start and stop everything a Hallmark process needs, and say whether it is ready.

Start-up flow:
1. create the data directory; open the database and apply migrations;
2. open (or, first time, generate) the admin and service keystores;
3. without HALLMARK_RPC_URL: start and supervise a local anvil with persistent state and fund
   the keys on it (or share the one another Hallmark process already runs on that port); with
   it: connect to that node;
4. load the deployment record (data directory and database must agree); none on the local
   chain → deploy and record; none on a configured chain → refuse (`hallmark deploy` is explicit);
5. check that the chain holds the recorded code; any difference → refuse, naming it.
`start_worker_process()` then runs the anchoring worker as a supervised child process attached to
this process's database and chain (`hallmark serve` by default: anchoring never competes with the
API for the GIL); `start_worker()` runs it in a thread of this process (`hallmark worker`, tests).
Either anchors only while it holds the leader lock.

Raises:
    DeploymentMismatchError: the chain, the data directory or the database disagree.
    DeploymentMissingError: a configured chain has no recorded deployment.
    NodeStartError, ChainUnavailableError, DatabaseUnavailableError, KeystoreError.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hallmark import __version__
from hallmark.chain import deployment as deployments
from hallmark.chain.artifacts import load_artifacts
from hallmark.chain.client import ChainClient
from hallmark.chain.deployment import DeploymentRecord
from hallmark.chain.keys import KeyRing, load_or_create_keys
from hallmark.chain.ledger import Ledger
from hallmark.chain.node import AnvilNode, NodeStatus, NodeSupervisor, find_anvil, rpc_call
from hallmark.config import Settings
from hallmark.core.errors import (
    DatabaseUnavailableError,
    DeploymentMismatchError,
    DeploymentMissingError,
    HallmarkError,
)
from hallmark.runtime.worker_process import WorkerProcess, worker_environment
from hallmark.services.access.organisations import ChainAccess
from hallmark.services.anchoring.leadership import leader_lock
from hallmark.services.anchoring.readiness import anchoring_report
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.records.group_commit import GroupCommitter
from hallmark.store import db
from hallmark.store import deployments as deployment_rows
from hallmark.store.sqlite import WalCheckpointer, write_lock

log = structlog.get_logger(__name__)

#: Balance given to Hallmark's own keys on the local development chain (1,000 ether).
LOCAL_FUNDING_WEI = 1000 * 10**18


def _answers(url: str) -> bool:
    """Whether a JSON-RPC node already answers at url."""
    try:
        rpc_call(url, "eth_chainId", timeout=1.0)
    except (OSError, RuntimeError, ValueError):
        return False
    return True


@dataclass
class Runtime:
    """The live resources of one Hallmark process."""

    settings: Settings
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    #: Sessions for reads only (SQLite: a snapshot that never waits for the writer).
    read_sessions: sessionmaker[Session] | None = None
    read_engine: Engine | None = None
    committer: GroupCommitter | None = None
    supervisor: NodeSupervisor | None = None
    chain: ChainClient | None = None
    keys: KeyRing | None = None
    deployment: DeploymentRecord | None = None
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    worker: AnchorWorker | None = None
    worker_process: WorkerProcess | None = None
    checkpointer: WalCheckpointer | None = None
    started: bool = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Bring every resource up (see the module docstring); undo what was done on failure."""
        if self.started:
            return
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started = True

    def _start(self) -> None:
        self._connect()
        assert self.chain is not None
        self.deployment = self._ensure_deployment()
        log.info(
            "hallmark.started",
            version=__version__,
            chain=self.chain.url,
            chain_id=self.deployment.chain_id,
            contracts={k: v.address for k, v in self.deployment.contracts.items()},
        )

    def start_for_deploy(self) -> None:
        """Open the database, the keys and the chain, without requiring a deployment."""
        try:
            self._connect()
        except BaseException:
            self.stop()
            raise

    def _connect(self) -> None:
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = db.make_engine(settings.effective_database_url)
        self.sessions = db.session_factory(self.engine)
        db.migrate(self.engine)
        self.read_engine = db.make_read_engine(settings.effective_database_url)
        self.read_sessions = (
            db.session_factory(self.read_engine) if self.read_engine else self.sessions
        )
        self.committer = GroupCommitter(
            self.sessions,
            write_lock=write_lock(self.engine),
            idempotency_ttl=self.settings.idempotency_ttl,
        )
        if self.read_engine is not None:  # a SQLite file: see WalCheckpointer
            self.checkpointer = WalCheckpointer(self.engine)
            self.checkpointer.start()
        self.keys = load_or_create_keys(
            settings.keys_dir, settings.passphrase, scrypt_n=settings.keystore_scrypt_n
        )
        self.artifacts = load_artifacts()
        attach_url = f"http://127.0.0.1:{settings.anvil_port}"
        if settings.uses_local_chain and settings.anvil_port and _answers(attach_url):
            # Another Hallmark process (`hallmark serve`) runs the local chain: share it.
            self.chain = ChainClient.for_url(attach_url, timeout=settings.rpc_timeout)
            self._fund_local_keys()
        elif settings.uses_local_chain:
            node = AnvilNode(
                binary=find_anvil(settings.anvil_binary),
                state_path=settings.chain_state_path,
                port=settings.anvil_port,
                chain_id=settings.chain_id,
                state_interval=settings.anvil_state_interval,
                block_time=settings.anvil_block_time,
                log_path=settings.data_dir / "logs" / "anvil.log",
            )
            self.supervisor = NodeSupervisor(node, poll_interval=settings.anvil_watch_interval)
            self.supervisor.start()
            self.chain = ChainClient.for_url(node.url, timeout=settings.rpc_timeout)
            self._fund_local_keys()
        else:
            assert settings.rpc_url is not None
            self.chain = ChainClient.for_url(settings.rpc_url, timeout=settings.rpc_timeout)

    def start_worker(self) -> AnchorWorker:
        """Run the anchoring worker in a thread, on a chain client of its own."""
        assert self.sessions is not None and self.engine is not None
        assert self.chain is not None and self.deployment is not None
        if self.worker is None:
            ledger = Ledger(
                ChainClient.for_url(self.chain.url, timeout=self.settings.rpc_timeout),
                self.deployment.address_of("ProvenanceLedger"),
                self.artifacts["ProvenanceLedger"]["abi"],
            )
            self.worker = AnchorWorker(
                sessions=self.sessions,
                ledger=ledger,
                leader=leader_lock(self.engine, self.settings.data_dir),
                settings=self.settings,
                chain_id=self.deployment.chain_id,
                deployment_block=self.deployment.deployment_block,
                read_sessions=self.read_sessions,
            )
            self.worker.start()
        return self.worker

    def start_worker_process(self) -> WorkerProcess:
        """Run `hallmark worker` as a supervised child process (see `worker_process`): this
        process's settings, its database, its chain (the local node by URL, never a node of its
        own). Restarted when it exits; stopped with `stop()` or with
        this runtime; it never outlives this process. Call after `start()`."""
        assert self.chain is not None and self.deployment is not None, "start() first"
        if self.worker_process is None:
            self.worker_process = WorkerProcess(
                worker_environment(self.settings, chain_url=self.chain.url)
            )
            self.worker_process.start()
        return self.worker_process

    def stop(self) -> None:
        """Release everything (the local chain dumps its state on the way out)."""
        if self.worker_process is not None:
            self.worker_process.stop()  # before the chain and the database it works on
            self.worker_process = None
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        if self.committer is not None:
            self.committer.stop()
            self.committer = None
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        if self.read_engine is not None:
            self.read_engine.dispose()
            self.read_engine = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None
        self.started = False

    # --- deployment ------------------------------------------------------------------------
    def _fund_local_keys(self) -> None:
        assert self.chain is not None and self.keys is not None
        for account in (self.keys.admin, self.keys.service):
            if self.chain.retrieve_balance(account.address) < LOCAL_FUNDING_WEI // 2:
                self.chain.set_local_balance(account.address, LOCAL_FUNDING_WEI)

    def recorded_deployment(self) -> DeploymentRecord | None:
        """The record from the data directory and the database, which must agree."""
        assert self.sessions is not None
        from_file = deployments.read_record_file(self.settings.deployment_path)
        with db.transaction(self.sessions) as session:
            row = deployment_rows.current(session)
            from_db = DeploymentRecord.from_json(row) if row is not None else None
            if from_file is not None and from_db is None:
                deployment_rows.add(session, from_file.to_json(), from_file.record_hash)
                return from_file
        if from_db is not None and from_file is None:
            deployments.write_record_file(self.settings.deployment_path, from_db)
            return from_db
        if (
            from_file is not None
            and from_db is not None
            and from_file.record_hash != from_db.record_hash
        ):
            raise DeploymentMismatchError(
                [
                    f"the data directory records the deployment {from_file.record_hash} "
                    f"(chain {from_file.chain_id}), the database {from_db.record_hash} "
                    f"(chain {from_db.chain_id})"
                ]
            )
        return from_file

    def _ensure_deployment(self) -> DeploymentRecord:
        assert self.chain is not None and self.keys is not None
        record = self.recorded_deployment()
        if record is None:
            if not self.settings.uses_local_chain:
                raise DeploymentMissingError(
                    f"no deployment of Hallmark's contracts is recorded for {self.chain.url}: "
                    "deploy them explicitly with `hallmark deploy`"
                )
            record = self.deploy()
        differences = deployments.check_deployment(self.chain, record, self.artifacts)
        if differences:
            raise DeploymentMismatchError(differences)
        return record

    def deploy(self) -> DeploymentRecord:
        """Deploy the contracts and record the deployment as current."""
        assert self.chain is not None and self.keys is not None and self.sessions is not None
        started = time.time()
        record = deployments.deploy_contracts(self.chain, self.keys, self.artifacts)
        if self.supervisor is not None:
            # A crash right after deploying must not lose the contracts: wait for a state dump.
            self.supervisor.node.wait_for_state_dump(after=started)
        with db.transaction(self.sessions) as session:
            deployment_rows.add(session, record.to_json(), record.record_hash)
        deployments.write_record_file(self.settings.deployment_path, record)
        log.info("contracts.deployed", chain_id=record.chain_id, block=record.deployment_block)
        return record

    # --- collaborators for the use cases ---------------------------------------------------
    @property
    def ledger(self) -> Ledger:
        """The deployed ProvenanceLedger."""
        assert self.chain is not None
        assert self.deployment is not None
        return Ledger(
            self.chain,
            self.deployment.address_of("ProvenanceLedger"),
            self.artifacts["ProvenanceLedger"]["abi"],
        )

    def chain_access(self) -> ChainAccess:
        """What organisation changes need: the ledger, the admin key, keystore settings."""
        assert self.keys is not None
        chain = self.chain
        fund = None
        if self.settings.uses_local_chain and chain is not None:

            def fund(address: str) -> None:
                chain.set_local_balance(address, LOCAL_FUNDING_WEI)

        return ChainAccess(
            ledger=self.ledger,
            admin=self.keys.admin,
            passphrase=self.settings.passphrase,
            scrypt_n=self.settings.keystore_scrypt_n,
            fund=fund,
        )

    # --- readiness -------------------------------------------------------------------------
    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Check the chain and the database now; (ready, report naming what is wrong)."""
        problems: list[str] = []
        report: dict[str, Any] = {"version": __version__, "process": os.getpid()}
        report["chain"] = chain = self._chain_readiness(problems)
        if self.supervisor is not None:
            chain["node"] = {
                "status": self.supervisor.status.value,
                "restarts": self.supervisor.restarts,
                "last_error": self.supervisor.last_error,
            }
            if self.supervisor.status is not NodeStatus.RUNNING:
                problems.append(f"chain: local node {self.supervisor.status.value}")
        report["database"] = self._database_readiness(problems)
        if self.sessions is not None:
            # Informational: pending records never make Hallmark unready.
            report["anchoring"] = anchoring_report(
                sessions=self.sessions, worker=self.worker or self.worker_process
            )
        report["problems"] = problems
        return not problems, report

    def _chain_readiness(self, problems: list[str]) -> dict[str, Any]:
        if self.chain is None or self.deployment is None:
            problems.append("chain: not started")
            return {"reachable": False}
        info: dict[str, Any] = {
            "url": self.chain.url if self.settings.uses_local_chain else "configured",
            "contracts": {k: v.address for k, v in self.deployment.contracts.items()},
        }
        try:
            info["chain_id"] = self.chain.retrieve_chain_id()
            info["latest_block"] = self.chain.retrieve_block_number()
            info["reachable"] = True
            differences = deployments.check_deployment(self.chain, self.deployment, self.artifacts)
        except HallmarkError as exc:
            info["reachable"] = False
            problems.append(f"chain: {exc.message}")
            return info
        if differences:
            problems.extend(f"chain: {d}" for d in differences)
        info["deployment_matches"] = not differences
        return info

    def _database_readiness(self, problems: list[str]) -> dict[str, Any]:
        if self.engine is None:
            problems.append("database: not started")
            return {"reachable": False}
        try:
            info = db.check(self.engine)
        except DatabaseUnavailableError as exc:
            problems.append(f"database: {exc.message}")
            return {"reachable": False}
        info["reachable"] = True
        if not info["migrations_current"]:
            problems.append(
                f"database: migrations not current (at {info['revision']}, head {info['head']})"
            )
        return info
