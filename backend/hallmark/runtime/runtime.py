"""Start and stop everything a Hallmark process needs, and say whether it is ready.

Start-up flow:
1. create the data directory; open the database and apply migrations;
2. open (or, first time, generate) the admin and service keystores;
3. without HALLMARK_RPC_URL (refused in production): start and supervise a local anvil with
   persistent state and fund the keys on it (or share the one another Hallmark process of this
   data directory already runs; a node nobody here started is refused unless
   HALLMARK_ANVIL_ATTACH); with it: connect to that node;
4. load the deployment record (data directory and database must agree); none on the local
   chain → deploy the current contracts' version and record; none on a configured chain →
   refuse (`hallmark deploy` is explicit);
5. check that the chain holds the recorded code; any difference → refuse, naming it.
Every deployment stays recorded (`deployment.json`'s history, one database row each); each batch
is read and verified on the ledger of its own deployment (`ledger_for`).
`start_worker_process()` then runs the anchoring worker as a supervised child process attached to
this process's database and chain (`hallmark serve` by default: anchoring never competes with the
API for the GIL); `start_worker()` runs it in a thread of this process (`hallmark worker`, tests).
Either anchors only while it holds the leader lock.

Raises:
    DeploymentMismatchError: the chain, the data directory or the database disagree.
    DeploymentMissingError: a configured chain has no recorded deployment.
    NodePortTakenError: a node this data directory's Hallmark did not start is on its port.
    NodeStartError, ChainUnavailableError, DatabaseUnavailableError, KeystoreError.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark import __version__
from hallmark.chain import deployment as deployments
from hallmark.chain.artifacts import CURRENT_VERSION, load_versioned_artifacts
from hallmark.chain.client import NO_RETRY, ChainClient
from hallmark.chain.deployment import DeploymentRecord
from hallmark.chain.keys import KeyRing, load_or_create_keys
from hallmark.chain.ledger import Ledger
from hallmark.chain.node import (
    AnvilNode,
    NodeLock,
    NodeStatus,
    NodeSupervisor,
    find_anvil,
    rpc_call,
    started_here,
)
from hallmark.chain.registry import DesignRegistryContract, DesignRights
from hallmark.config import Environment, Settings
from hallmark.core.errors import (
    ChainError,
    ChainUnavailableError,
    ConfigurationError,
    DatabaseUnavailableError,
    DeploymentMismatchError,
    DeploymentMissingError,
    HallmarkError,
    NodePortTakenError,
)
from hallmark.runtime.worker_process import (
    WorkerProcess,
    worker_environment,
    worker_secrets,
)
from hallmark.services.access import organisations
from hallmark.services.access.audit_heads import AuditHeadAnchorer, anchor_head
from hallmark.services.access.denials import DenialLog
from hallmark.services.access.keys import KeyCache
from hallmark.services.access.organisations import ChainAccess, organisation_account
from hallmark.services.anchoring import integrity
from hallmark.services.anchoring.leadership import leader_lock
from hallmark.services.anchoring.readiness import anchoring_report
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.certificates.issuance import Issuer, resume_orders
from hallmark.services.certificates.lifecycle import ChainWrite
from hallmark.services.designs.certification import certificate_design
from hallmark.services.designs.filing import DesignFiler
from hallmark.services.designs.registry import RegistryIndex
from hallmark.services.designs.rights import RightsSender
from hallmark.services.designs.sending import NonceSource
from hallmark.services.records.group_commit import GroupCommitter
from hallmark.store import db
from hallmark.store import deployments as deployment_rows
from hallmark.store.models import Organisation
from hallmark.store.sqlite import WalCheckpointer, write_lock

log = structlog.get_logger(__name__)

#: Balance given to Hallmark's own keys on the local development chain (1,000 ether).
LOCAL_FUNDING_WEI = 1000 * 10**18
#: /readyz waits this long for the node at most (a load balancer's probe must get an answer,
#: whatever the node does); each of its requests times out sooner and is not repeated.
READINESS_CHAIN_DEADLINE = 1.5
READINESS_RPC_TIMEOUT = 1.0


def _answers(url: str) -> bool:
    """Whether a JSON-RPC node already answers at url."""
    try:
        rpc_call(url, "eth_chainId", timeout=1.0)
    except (OSError, RuntimeError, ValueError):
        return False
    return True


class _Stoppable(Protocol):
    def stop(self) -> object: ...


@dataclass
class Runtime:
    """The live resources of one Hallmark process."""

    settings: Settings
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    #: Sessions for reads only (SQLite: a snapshot that never waits for the writer).
    read_sessions: sessionmaker[Session] | None = None
    read_engine: Engine | None = None
    #: PostgreSQL: the group commit's own connection (see `_commit_sessions`).
    commit_engine: Engine | None = None
    committer: GroupCommitter | None = None
    #: The API keys this process found valid, kept `key_cache_seconds` (`keys.KeyCache`).
    key_cache: KeyCache | None = None
    #: The audit entries of denied requests, queued and written in batches.
    denials: DenialLog | None = None
    supervisor: NodeSupervisor | None = None
    chain: ChainClient | None = None
    keys: KeyRing | None = None
    deployment: DeploymentRecord | None = None
    #: The current deployment's row id in the database.
    deployment_id: int | None = None
    #: The artifacts of every contracts' version: {version: {contract name: artifact}}.
    versioned_artifacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    worker: AnchorWorker | None = None
    #: Anchors the audit log's head while this process's worker leads.
    audit_heads: AuditHeadAnchorer | None = None
    worker_process: WorkerProcess | None = None
    checkpointer: WalCheckpointer | None = None
    started: bool = False
    #: The node as /readyz asks it: short timeouts, no retries, one check in flight at a time.
    _probe_pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _probe: Future[tuple[int, int, list[str]]] | None = field(default=None, repr=False)
    #: Organisations' signing accounts, decrypted once (`organisation_signer`).
    _signers: dict[str, LocalAccount] = field(default_factory=dict, repr=False)
    _signers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _probe_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _probe_client: ChainClient | None = field(default=None, repr=False)
    _design_index: RegistryIndex | None = field(default=None, repr=False)
    _design_index_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: Certificate orders left running by an earlier process, gone on with in the background.
    _order_resumer: threading.Thread | None = field(default=None, repr=False)
    _orders_stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _certificate_deployments: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

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
        self.deployment_id = self._deployment_id(self.deployment)
        log.info(
            "hallmark.started",
            version=__version__,
            chain=self.chain.url,
            chain_id=self.deployment.chain_id,
            contracts_version=self.deployment.version,
            contracts={k: v.address for k, v in self.deployment.contracts.items()},
        )

    @property
    def artifacts(self) -> dict[str, dict[str, Any]]:
        """The artifacts of the current deployment's version (the current version before one)."""
        version = self.deployment.version if self.deployment is not None else CURRENT_VERSION
        return self.versioned_artifacts[version]

    def _deployment_id(self, record: DeploymentRecord) -> int:
        assert self.read_sessions is not None
        with self.read_sessions() as session:
            found = deployment_rows.id_of(session, record.record_hash)
        if found is None:  # recorded_deployment() stores the record: a bug if not
            raise DeploymentMismatchError([f"deployment {record.record_hash} has no database row"])
        return found

    def start_for_deploy(self) -> None:
        """Open the database, the keys and the chain, without requiring a deployment."""
        try:
            self._connect()
        except BaseException:
            self.stop()
            raise

    def _connect(self) -> None:
        settings = self.settings
        if settings.uses_local_chain and settings.environment is Environment.PRODUCTION:
            # A private development chain no one else sees is no place for production anchors.
            raise ConfigurationError(
                "HALLMARK_RPC_URL must name the chain's JSON-RPC node in production "
                "(a local development chain is refused)"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = db.make_engine(settings.effective_database_url)
        self.sessions = db.session_factory(self.engine)
        self.key_cache = KeyCache(settings.key_cache_seconds)
        self.read_engine = db.make_read_engine(settings.effective_database_url)
        self.read_sessions = (
            db.session_factory(self.read_engine) if self.read_engine else self.sessions
        )
        # Start-up only reads what it finds in place (migrations, the deployment): it never
        # waits for the write lock another process holds (see `_deployment_id`).
        db.migrate(self.engine, reads=self.read_engine)
        self.committer = GroupCommitter(
            self._commit_sessions(),
            write_lock=write_lock(self.engine),
            write_wait=settings.write_wait,
            idempotency_ttl=settings.idempotency_ttl,
            key_cache=self.key_cache,
            # PostgreSQL: the loop goes on reading requests while a group waits for the server.
            in_thread=self.engine.dialect.name == "postgresql",
        )
        if self.read_engine is not None:  # a SQLite file: see WalCheckpointer
            self.checkpointer = WalCheckpointer(self.engine)
            self.checkpointer.start()
        self.keys = load_or_create_keys(
            settings.keys_dir, settings.passphrase, scrypt_n=settings.keystore_scrypt_n
        )
        self.versioned_artifacts = load_versioned_artifacts()
        if settings.uses_local_chain:
            self._connect_local_chain()
        else:
            assert settings.rpc_url is not None
            self.chain = ChainClient.for_url(settings.rpc_url, timeout=settings.rpc_timeout)

    def _connect_local_chain(self) -> None:
        """Share the data directory's node where another process runs it, else run it here.

        A node answering on HALLMARK_ANVIL_PORT, or at the URL the node lock's holder noted, is
        shared. Otherwise this process takes the node lock and starts the node; when another
        process holds the lock, its node does not answer now (it hangs, or restarts): a second
        node on the same state is never started.
        """
        settings = self.settings
        attach_url = f"http://127.0.0.1:{settings.anvil_port}" if settings.anvil_port else None
        lock = NodeLock(settings.chain_state_path)
        if attach_url is not None and _answers(attach_url):
            # A node nobody of this data directory started is shared only when told to.
            if not (
                settings.anvil_attach
                or started_here(settings.chain_state_path, settings.anvil_port)
                or lock.holder_url() == attach_url
            ):
                raise NodePortTakenError(settings.anvil_port)
        else:
            if lock.acquire():
                self._start_local_node(lock)
                return
            attach_url = lock.holder_url() or attach_url
            if attach_url is None or not _answers(attach_url):
                raise ChainUnavailableError(
                    attach_url or "the local chain",
                    f"the local chain belongs to a running Hallmark process ({lock.holder()}) "
                    "and does not answer; no second node is started on its state",
                )
        # Another Hallmark process (`hallmark serve`) runs the local chain: share it.
        self.chain = ChainClient.for_url(attach_url, timeout=settings.rpc_timeout)
        self._fund_local_keys()

    def _start_local_node(self, lock: NodeLock) -> None:
        settings = self.settings
        try:
            node = AnvilNode(
                binary=find_anvil(settings.anvil_binary),
                state_path=settings.chain_state_path,
                port=settings.anvil_port,
                chain_id=settings.chain_id,
                state_interval=settings.anvil_state_interval,
                block_time=settings.anvil_block_time,
                log_path=settings.data_dir / "logs" / "anvil.log",
            )
        except BaseException:
            lock.release()
            raise
        self.supervisor = NodeSupervisor(
            node, poll_interval=settings.anvil_watch_interval, lock=lock
        )
        self.supervisor.start()
        lock.note_url(node.url)
        self.chain = ChainClient.for_url(node.url, timeout=settings.rpc_timeout)
        self._fund_local_keys()

    def start_worker(self) -> AnchorWorker:
        """Run the anchoring worker in a thread, on a chain client of its own."""
        assert self.sessions is not None and self.engine is not None
        assert self.chain is not None and self.deployment is not None
        if self.worker is None:
            client = ChainClient.for_url(self.chain.url, timeout=self.settings.rpc_timeout)
            self.worker = AnchorWorker(
                sessions=self.sessions,
                ledger=self.ledger_for(self.deployment_id, client=client),
                ledgers=lambda deployment_id: self.ledger_for(deployment_id, client=client),
                deployment_id=self.deployment_id,
                leader=leader_lock(self.engine, self.settings.data_dir),
                settings=self.settings,
                chain_id=self.deployment.chain_id,
                deployment_block=self.deployment.deployment_block,
                read_sessions=self.read_sessions,
            )
            self.add_design_filer(self.worker, client)
            self.worker.start()
            self._start_audit_heads(self.worker)
        return self.worker

    def add_design_filer(self, worker: AnchorWorker, client: ChainClient) -> None:
        """The worker files committed designs after each cycle (on the same nonces)."""
        assert self.deployment is not None
        if "DesignRegistry" not in self.deployment.contracts:
            return
        transactions = worker.transactions
        assert self.sessions is not None
        filer = DesignFiler(
            sessions=self.sessions,
            registry=self.registry_for(self.deployment_id, client=client),
            account_of=transactions.account,
            nonces=NonceSource(current=lambda: transactions.nonces),
            chain_id=self.deployment.chain_id,
            fees=transactions.fees_now,
            deployment_id=self.deployment_id,
        )
        worker.add_step("design filing", filer.run_once)
        # Assignments and licences of registered designs, on the same nonces (after filings).
        rights = RightsSender(
            sessions=self.sessions,
            rights=DesignRights(filer.registry),
            account_of=transactions.account,
            nonces=NonceSource(current=lambda: transactions.nonces),
            chain_id=self.deployment.chain_id,
            fees=transactions.fees_now,
        )
        worker.add_step("design rights", rights.run_once)

    def _start_audit_heads(self, worker: AnchorWorker) -> None:
        assert self.sessions is not None and self.keys is not None and self.chain is not None
        assert self.deployment is not None
        sessions, account = self.sessions, self.keys.service
        chain = ChainClient.for_url(self.chain.url, timeout=self.settings.rpc_timeout)
        chain_id = self.deployment.chain_id
        self.audit_heads = AuditHeadAnchorer(
            lambda: anchor_head(sessions=sessions, chain=chain, account=account, chain_id=chain_id),
            interval=self.settings.audit_anchor_interval,
            leads=lambda: worker.state.role == "leader",
        )
        self.audit_heads.start()

    def start_worker_process(self) -> WorkerProcess:
        """Run `hallmark worker` as a supervised child process (see `worker_process`): this
        process's settings, its database, its chain (the local node by URL, never a node of its
        own). Restarted when it exits; stopped with `stop()` or with
        this runtime; it never outlives this process. Call after `start()`."""
        assert self.chain is not None and self.deployment is not None, "start() first"
        if self.worker_process is None:
            self.worker_process = WorkerProcess(
                worker_environment(self.settings, chain_url=self.chain.url),
                secrets=worker_secrets(self.settings),
            )
            self.worker_process.start()
        return self.worker_process

    def stop(self) -> None:
        """Release everything (the local chain dumps its state on the way out)."""
        self.stop_resuming_orders()
        if self._design_index is not None:
            self._design_index.stop_updates()
            # The next start loads it instead of indexing every registration again.
            try:
                self._design_index.save()
            except OSError as exc:
                log.warning("designs.index_not_saved", error=str(exc))
        # The worker process first: before the chain and the database it works on.
        first: tuple[_Stoppable | None, ...] = (
            self.worker_process,
            self.audit_heads,
            self.worker,
            self.checkpointer,
        )
        for part in first:
            if part is not None:
                part.stop()
        self.worker_process = self.audit_heads = self.worker = self.checkpointer = None
        if self._probe_pool is not None:
            self._probe_pool.shutdown(wait=False, cancel_futures=True)
            self._probe_pool, self._probe = None, None
        then: tuple[_Stoppable | None, ...] = (self.committer, self.denials, self.supervisor)
        for part in then:
            if part is not None:
                part.stop()
        self.committer = self.denials = self.supervisor = None
        for engine in (self.read_engine, self.commit_engine, self.engine):
            if engine is not None:
                db.dispose(engine)
        self.read_engine = self.commit_engine = self.engine = None
        self.started = False

    def _commit_sessions(self) -> sessionmaker[Session]:
        """The group commit's sessions. SQLite: the main engine's (its write lock bounds the
        wait). PostgreSQL: one connection of its own, so the event loop, which commits one group
        at a time, never waits for a pool the threads have taken; every lock wait bounded by
        `write_wait` (then 503); no ping before each group (a connection lost with a restarted
        server fails one group with 503, and the next one connects again)."""
        assert self.engine is not None and self.sessions is not None
        if self.engine.dialect.name != "postgresql":
            return self.sessions
        self.commit_engine = db.make_engine(
            self.settings.effective_database_url,
            lock_timeout=self.settings.write_wait,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=False,
        )
        return db.session_factory(self.commit_engine)

    def denial_log(self) -> DenialLog | None:
        """Where denials are audited (made on first use; None without a database)."""
        if self.denials is None and self.sessions is not None:
            self.denials = DenialLog(self.sessions)
        return self.denials

    # --- deployment ------------------------------------------------------------------------
    def _fund_local_keys(self) -> None:
        assert self.chain is not None and self.keys is not None
        for account in (self.keys.admin, self.keys.service):
            if self.chain.retrieve_balance(account.address) < LOCAL_FUNDING_WEI // 2:
                self.chain.set_local_balance(account.address, LOCAL_FUNDING_WEI)

    def recorded_deployment(self) -> DeploymentRecord | None:
        """The current record from the data directory and the database, which must agree; a
        history one of them lacks is copied from the other."""
        assert self.sessions is not None and self.read_sessions is not None
        path = self.settings.deployment_path
        from_file = deployments.read_history_file(path)
        # Read first, without the write lock: a process starting beside one that holds it (a
        # worker frozen inside a transaction, which this process may be the standby to end)
        # must not wait for it when there is nothing to write.
        with self.read_sessions() as session:
            from_db = [DeploymentRecord.from_json(r) for _, r in deployment_rows.history(session)]
        if from_file and not from_db:
            with db.transaction(self.sessions) as session:
                # Again under the lock: another process may have copied it meanwhile.
                if not deployment_rows.history(session):
                    for record in from_file:
                        deployment_rows.add(session, record.to_json(), record.record_hash)
            return from_file[-1]
        if from_db and not from_file:
            deployments.write_history_file(path, from_db)
            return from_db[-1]
        if from_file and from_db and from_file[-1].record_hash != from_db[-1].record_hash:
            file_current, db_current = from_file[-1], from_db[-1]
            raise DeploymentMismatchError(
                [
                    f"the data directory records the deployment {file_current.record_hash} "
                    f"(chain {file_current.chain_id}), the database {db_current.record_hash} "
                    f"(chain {db_current.chain_id})"
                ]
            )
        return from_file[-1] if from_file else None

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
        differences = deployments.check_deployment(
            self.chain, record, self.versioned_artifacts[record.version]
        )
        if differences:
            raise DeploymentMismatchError(differences)
        return record

    def deploy(self, version: str = CURRENT_VERSION) -> DeploymentRecord:
        """Deploy the contracts of `version`, record the deployment as current (the earlier
        ones stay in the history), then bind and grant every organisation on it.

        An organisation's grant the chain refuses stays pending (`hallmark admin org sync`).

        Raises:
            ChainError: deploying failed (nothing recorded).
        """
        assert self.chain is not None and self.keys is not None and self.sessions is not None
        started = time.time()
        record = deployments.deploy_contracts(
            self.chain,
            self.keys,
            self.versioned_artifacts[version],
            version=version,
            admin_transfer_delay=self.settings.admin_transfer_delay,
        )
        if self.supervisor is not None:
            # A crash right after deploying must not lose the contracts: wait for a state dump.
            self.supervisor.node.wait_for_state_dump(after=started)
        with db.transaction(self.sessions) as session:
            deployment_id = deployment_rows.add(session, record.to_json(), record.record_hash)
        deployments.write_record_file(self.settings.deployment_path, record)
        self._certificate_deployments = None
        log.info(
            "contracts.deployed",
            chain_id=record.chain_id,
            block=record.deployment_block,
            version=record.version,
        )
        self.deployment, self.deployment_id = record, deployment_id
        planned = organisations.plan_deployment_grants(
            sessions=self.sessions, deployment_id=deployment_id
        )
        if planned:
            try:
                organisations.apply_grants(sessions=self.sessions, chain=self.chain_access())
            except ChainError as exc:  # recorded per grant; `hallmark admin org sync` retries
                log.warning("contracts.grants_pending", error=exc.message)
        return record

    def recorded_deployments(self) -> dict[int, DeploymentRecord]:
        """Every recorded deployment by its row id, oldest first."""
        assert self.sessions is not None
        with self.sessions() as session:
            return {
                row_id: DeploymentRecord.from_json(record)
                for row_id, record in deployment_rows.history(session)
            }

    def _deployment_record(self, deployment_id: int | None) -> DeploymentRecord:
        """A recorded deployment (None: the current one).

        Raises:
            DeploymentMissingError: no such deployment is recorded.
        """
        record = self.deployment
        if deployment_id is not None and deployment_id != self.deployment_id:
            record = self.recorded_deployments().get(deployment_id)
            if record is None:
                raise DeploymentMissingError(f"no deployment {deployment_id} is recorded")
        assert record is not None
        return record

    def ledger_for(self, deployment_id: int | None, *, client: ChainClient | None = None) -> Ledger:
        """The ProvenanceLedger of a recorded deployment (None: the current one), with its
        version's ABI, on `client` (this runtime's by default)."""
        assert self.chain is not None
        record = self._deployment_record(deployment_id)
        return Ledger(
            client or self.chain,
            record.address_of("ProvenanceLedger"),
            self.versioned_artifacts[record.version]["ProvenanceLedger"]["abi"],
            deployment_block=record.deployment_block,
        )

    def registry_for(
        self, deployment_id: int | None, *, client: ChainClient | None = None
    ) -> DesignRegistryContract:
        """The DesignRegistry of a recorded deployment (None: the current one)."""
        assert self.chain is not None
        record = self._deployment_record(deployment_id)
        if "DesignRegistry" not in record.contracts:
            raise DeploymentMissingError(
                f"deployment {deployment_id} has no DesignRegistry: deploy version 2"
            )
        return DesignRegistryContract(
            client or self.chain,
            record.address_of("DesignRegistry"),
            self.versioned_artifacts[record.version]["DesignRegistry"]["abi"],
            deployment_block=record.deployment_block,
        )

    # --- collaborators for the use cases ---------------------------------------------------
    @property
    def design_index(self) -> RegistryIndex:
        """The registry's similarity index (loaded from `data_dir/designs/index` on first use,
        kept in step with the database by each search, and by a background thread after each
        registration)."""
        with self._design_index_lock:
            if self._design_index is None:
                index = RegistryIndex(self.settings.data_dir / "designs" / "index")
                sessions = self.read_sessions or self.sessions
                if sessions is not None:
                    index.start_updates(sessions)
                self._design_index = index
            return self._design_index

    @property
    def registry(self) -> DesignRegistryContract:
        """The current deployment's DesignRegistry."""
        return self.registry_for(None)

    @property
    def ledger(self) -> Ledger:
        """The current deployment's ProvenanceLedger."""
        return self.ledger_for(None)

    def chain_access(self) -> ChainAccess:
        """What organisation changes need: the ledger, the admin key, keystore settings."""
        assert self.keys is not None and self.deployment_id is not None
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
            deployment_id=self.deployment_id,
            fund=fund,
        )

    def organisation_signer(self, organisation: Organisation) -> LocalAccount:
        """An organisation's signing account, decrypted once per process (scrypt is slow)."""
        with self._signers_lock:
            account = self._signers.get(organisation.id)
            if account is None or account.address.lower() != organisation.account_address.lower():
                account = organisation_account(organisation, self.settings.passphrase)
                self._signers[organisation.id] = account
            return account

    def certificate_issuer(self) -> Issuer:
        """What issuing certificates needs: the current deployment and the brands' keys."""
        assert self.deployment is not None
        ledger = Web3.to_checksum_address(self.deployment.address_of("ProvenanceLedger"))
        return Issuer(
            chain_id=self.deployment.chain_id,
            ledger=ledger,
            deployment={
                "ledger": ledger,
                "designRegistry": Web3.to_checksum_address(
                    self.deployment.address_of("DesignRegistry")
                ),
                "contractsVersion": self.deployment.version,
            },
            account_of=self.organisation_signer,
            design_of=self._certificate_design
            if "DesignRegistry" in self.deployment.contracts
            else None,
        )

    def certificate_deployments(self) -> dict[str, dict[str, Any]]:
        """Every recorded deployment with a DesignRegistry, as a certificate's proof names it
        ({ledger, designRegistry, contractsVersion}), by its ledger's address (read once: a new
        deployment needs a restart anyway)."""
        if self._certificate_deployments is None:
            found: dict[str, dict[str, Any]] = {}
            for record in self.recorded_deployments().values():
                if "DesignRegistry" not in record.contracts:
                    continue
                ledger = Web3.to_checksum_address(record.address_of("ProvenanceLedger"))
                found[ledger] = {
                    "ledger": ledger,
                    "designRegistry": Web3.to_checksum_address(record.address_of("DesignRegistry")),
                    "contractsVersion": record.version,
                }
            self._certificate_deployments = found
        return self._certificate_deployments

    def _certificate_design(self, ref: str, licence: str | None) -> dict[str, Any]:
        """A certificate's design section, read from the registry and checked final on the
        chain's clock (the latest block's time; the tests' chains run ahead of the wall)."""
        assert self.read_sessions is not None and self.chain is not None
        registry = self.registry
        chain_time = self.chain.retrieve_call(
            lambda: int(registry.client.w3.eth.get_block("latest")["timestamp"])
        )
        with self.read_sessions() as session:
            return certificate_design(
                session=session,
                registry=registry,
                ref=ref,
                licence_document=licence,
                chain_time=chain_time,
            )

    def resume_certificate_orders(self) -> threading.Thread:
        """Go on, in a background thread, with the certificate orders an earlier process left
        running (stopped or killed mid-order), each from its saved progress."""
        assert self.sessions is not None
        if self._order_resumer is None or not self._order_resumer.is_alive():
            self._orders_stop.clear()
            sessions, issuer = self.sessions, self.certificate_issuer()
            chunk, stop = self.settings.certificate_order_chunk, self._orders_stop

            def resume() -> None:
                try:
                    finished = resume_orders(
                        sessions=sessions, issuer=issuer, chunk=chunk, stop=stop
                    )
                except Exception:  # logged with its traceback; the next start tries again
                    log.exception("certificates.orders_not_resumed")
                    return
                if finished:
                    log.info("certificates.orders_resumed", orders=finished)

            self._order_resumer = threading.Thread(
                target=resume, name="certificate-orders", daemon=True
            )
            self._order_resumer.start()
        return self._order_resumer

    def stop_resuming_orders(self, timeout: float = 30.0) -> None:
        """Stop the order resumer after its current chunk (the orders stay running)."""
        self._orders_stop.set()
        if self._order_resumer is not None:
            self._order_resumer.join(timeout)
            self._order_resumer = None

    def certificate_chain(self) -> ChainWrite:
        """What revoking and superseding certificates need."""
        assert self.keys is not None
        return ChainWrite(
            ledger=self.ledger, admin=self.keys.admin, account_of=self.organisation_signer
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
        if self.read_sessions is not None:
            # Informational: pending records never make Hallmark unready. Read sessions: a
            # readiness check never queues behind a writer.
            report["anchoring"] = anchoring_report(
                sessions=self.read_sessions, worker=self.worker or self.worker_process
            )
            report["integrity"] = self._integrity_readiness(problems)
            if self.deployment_id is not None:
                # Informational too: bindings and roles still to be sent to the current ledger
                # (after a chain failure or a crash; `hallmark admin org sync` sends them).
                report["organisations"] = {
                    "pending_grants": organisations.pending_grants(
                        sessions=self.read_sessions, deployment_id=self.deployment_id
                    )
                }
        report["problems"] = problems
        return not problems, report

    def _chain_readiness(self, problems: list[str]) -> dict[str, Any]:
        if self.chain is None or self.deployment is None:
            problems.append("chain: not started")
            return {"reachable": False}
        info: dict[str, Any] = {
            "url": self.chain.url if self.settings.uses_local_chain else "configured",
            "contracts": {k: v.address for k, v in self.deployment.contracts.items()},
            "contracts_version": self.deployment.version,
        }
        try:
            chain_id, latest, differences = self._probe_chain().result(READINESS_CHAIN_DEADLINE)
        except FutureTimeoutError:
            info["reachable"] = False
            problems.append(f"chain: the node did not answer within {READINESS_CHAIN_DEADLINE:g} s")
            return info
        except HallmarkError as exc:
            info["reachable"] = False
            problems.append(f"chain: {exc.message}")
            return info
        info["chain_id"], info["latest_block"], info["reachable"] = chain_id, latest, True
        if differences:
            problems.extend(f"chain: {d}" for d in differences)
        info["deployment_matches"] = not differences
        return info

    def _integrity_readiness(self, problems: list[str]) -> dict[str, Any] | None:
        """The newest records and batches, and those a read found altered (`integrity`)."""
        assert self.read_sessions is not None
        try:
            with self.read_sessions() as session:
                scan = integrity.readiness_scan(session)
        except SQLAlchemyError:
            return None  # the database section of the report says why
        problems.extend(f"integrity: {failure}" for failure in scan.failures)
        return {
            "records_checked": scan.records,
            "batches_checked": scan.batches,
            "failures": scan.failures,
        }

    def _probe_chain(self) -> Future[tuple[int, int, list[str]]]:
        """The node's chain id, head and deployment differences, asked in a thread of its own
        (a check still in flight is shared, so a hanging node never piles up threads)."""
        assert self.chain is not None and self.deployment is not None
        chain, deployment = self.chain, self.deployment
        with self._probe_lock:
            if self._probe is not None and not self._probe.done():
                return self._probe
            if self._probe_pool is None:
                self._probe_pool = ThreadPoolExecutor(1, thread_name_prefix="readiness-probe")
            if self._probe_client is None or self._probe_client.url != chain.url:
                self._probe_client = ChainClient.for_url(
                    chain.url, timeout=READINESS_RPC_TIMEOUT, retry=NO_RETRY
                )
            client = self._probe_client

            def probe() -> tuple[int, int, list[str]]:
                chain_id = client.retrieve_chain_id()
                latest = client.retrieve_block_number()
                differences = deployments.check_deployment(
                    client, deployment, self.versioned_artifacts[deployment.version]
                )
                return chain_id, latest, differences

            self._probe = self._probe_pool.submit(probe)
            return self._probe

    def _database_readiness(self, problems: list[str]) -> dict[str, Any]:
        if self.engine is None:
            problems.append("database: not started")
            return {"reachable": False}
        try:
            info = db.check(self.read_engine or self.engine)  # never waits for a writer
        except DatabaseUnavailableError as exc:
            problems.append(f"database: {exc.message}")
            return {"reachable": False}
        info["reachable"] = True
        if not info["migrations_current"]:
            problems.append(
                f"database: migrations not current (at {info['revision']}, head {info['head']})"
            )
        return info
