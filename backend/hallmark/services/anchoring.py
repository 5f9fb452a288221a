"""Anchoring: drain the records outbox into Merkle roots anchored on chain, durably.

Accepting a record commits it and its outbox entry (`AnchorQueueEntry`) in one transaction
(`hallmark.store.records`). The worker turns the outbox into anchored batches. Only the leader
anchors (`hallmark.services.leadership`); every step below starts from what the database says,
so a worker killed at any point resumes where it stopped.

Flow of one cycle (`AnchorWorker.run_once`):
1. Reorgs: batches mined within `reorg_depth` blocks of the head — every batch after a start,
   an error, or when the head went backwards — are compared with the chain's block hashes. A
   batch whose block is gone is looked up again (its receipt, then `batchOf(root)` and its
   BatchAnchored log); if the root is no longer anchored the batch goes back to `signed`:
   same batch, same root, same records and proofs — only the transaction may change.
2. Unmined batches (`signed`, `sent`): receipts are fetched in one JSON-RPC batch. A batch
   never broadcast, or unmined for long, or any batch after a restart is resolved per account
   in nonce order: re-broadcast the same raw transaction (idempotent) while its nonce is the
   account's next one; re-sign it with a fresh nonce when its nonce was consumed without it
   (and `batchOf(root)` is empty) or sits behind a nonce gap; replace it (same nonce, fees
   12.5 % higher and at least today's, within `max_fee_gwei`) when it waited unmined longer
   than `fee_bump_after` (`hallmark.chain.fees`). Whichever transaction of a nonce is mined,
   the batch adopts it.
3. Failed batches whose backoff elapsed are simulated (`eth_call`); once `anchor` would pass
   they are re-signed with a fresh nonce and sent again.
4. Form: pending entries are grouped per (organisation, kind); a group is due at
   `anchor_batch_size` entries or when its oldest entry is about `anchor_interval` old. The
   batch's record hashes, sorted ascending, make a StandardMerkleTree; `anchor(root, kind,
   count)` is signed with the organisation's own key (fixed gas limit, EIP-1559 fees read once
   per cycle, a nonce from the per-account `NonceAllocator`), then ONE transaction stores the
   batch row (`signed`, raw tx, tx hash, nonce), takes the batch's entries out of the outbox (all
   of them or none: no record goes into two batches) and puts each record in the batch
   (`record_anchors`). A batch's records never change afterwards (retries, re-signing and
   reorgs keep its root), so neither do their leaf indexes (positions among the batch's sorted
   record hashes) and proofs, computed from those hashes when read (`batch_proofs`). Batches
   signed while a store waits for the database are stored together. Then the raw transactions
   are broadcast (`sent`). Every due batch is signed and sent before any receipt is awaited.
5. Receipts (`mined`): block number and hash, gas used — one transaction for all the batches
   mined. (Entries claimed by an earlier version of the worker, which kept them in the outbox
   until the receipt, join `record_anchors` and leave the outbox then.) A reverted receipt
   is replayed with `eth_call` and decoded: RootAlreadyAnchored counts as success (the batch
   adopts the anchoring log); anything else marks the batch `failed` with the error's name and
   arguments in `last_error`, retried with capped exponential backoff while its records stay
   pending.
6. `confirmed` once `confirmations` blocks are on top (at once with 0, the local default).

A node or database error ends the cycle; the worker backs off exponentially (capped at
`anchor_retry_max`) and the next cycle starts with a full check. Writes are accepted meanwhile
and shown as pending.

`record_status`/`records_status` give the provenance view a record's anchoring status (the
proof only once the batch is on chain); `anchoring_report` is the worker's part of /readyz.

Raises:
    NotFoundError: `record_status` for an unknown record.
    (The worker itself raises nothing: errors are logged, kept in `state.last_error` and
    retried.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import (
    BigInteger,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark.chain.client import Fees, Receipt
from hallmark.chain.fees import fees_of, replacement_fees
from hallmark.chain.ledger import Ledger
from hallmark.config import Settings
from hallmark.core.backoff import Backoff
from hallmark.core.errors import (
    ContractRevertError,
    HallmarkError,
    NotFoundError,
    RootAlreadyAnchoredError,
    TransactionRejectedError,
    first_line,
)
from hallmark.core.merkle import StandardMerkleTree
from hallmark.core.times import utc
from hallmark.services.leadership import LeaderLock
from hallmark.services.nonces import NonceAllocator
from hallmark.services.organisations import organisation_account
from hallmark.store.bulk import bulk_insert
from hallmark.store.db import transaction
from hallmark.store.models import (
    AnchorBatch,
    AnchorQueueEntry,
    Base,
    Organisation,
    Record,
    RecordAnchor,
)
from hallmark.store.records import RECORD_KINDS

log = structlog.get_logger(__name__)

SIGNED, SENT, MINED, CONFIRMED, FAILED = "signed", "sent", "mined", "confirmed", "failed"
UNMINED = (SIGNED, SENT)
ON_CHAIN = (MINED, CONFIRMED)

#: Seconds a broadcast transaction may stay unmined before it is checked and re-broadcast.
REBROADCAST_AFTER = 30.0
#: Longest pause between two cycles (new records, receipts and reorgs are noticed this fast).
MAX_POLL = 0.5
#: At most this many batches are stored in one transaction.
MAX_STORE_GROUP = 16


def batch_tree(record_hashes: Sequence[str]) -> tuple[StandardMerkleTree, list[str]]:
    """The batch's tree over its record hashes sorted ascending, and that order (leaf index).

    Sorting makes the tree a function of the set of records alone, so a batch rebuilt after a
    crash or a reorg has the same root and the same proofs.
    """
    ordered = sorted(h.lower() for h in record_hashes)
    return StandardMerkleTree.of(ordered), ordered


def claim_entries(session: Session, organisation_id: str, kind: str, seqs: Sequence[int]) -> bool:
    """Take these outbox entries out of the outbox: the first unclaimed entries of one
    organisation and kind, by ascending `seq`. False when not all of them were still there
    (and then nothing of the caller's transaction may be committed).

    One range delete on the outbox's (organisation, kind, seq) index. It takes exactly the
    given entries: they were the first ones, and on SQLite (one writer at a time, a new row's
    seq above every existing one) no other entry can enter their range. On PostgreSQL, whose
    sequence values can commit out of order, an entry may, so the entries are also matched by
    one array parameter (a list of `IN` parameters costs more than the delete itself); other
    databases get the `IN` list.
    """
    query = delete(AnchorQueueEntry).where(
        AnchorQueueEntry.organisation_id == organisation_id,
        AnchorQueueEntry.kind == kind,
        AnchorQueueEntry.batch_id.is_(None),
        AnchorQueueEntry.seq.between(seqs[0], seqs[-1]),
    )
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        query = query.where(
            AnchorQueueEntry.seq == any_(bindparam("claimed", list(seqs), type_=ARRAY(BigInteger)))
        )
    elif dialect != "sqlite":
        query = query.where(AnchorQueueEntry.seq.in_(seqs))
    claimed: int = session.execute(query).rowcount  # type: ignore[attr-defined]
    return claimed == len(seqs)


def write_anchors(session: Session, batch_id: int, record_ids: Sequence[str]) -> None:
    """Put records in a batch: one narrow `record_anchors` row each, through the driver's bulk
    path (their leaf indexes and proofs follow from the batch's record hashes: `batch_proofs`).
    """
    bulk_insert(
        session,
        _RECORD_ANCHORS,
        [{"record_id": record_id, "batch_id": batch_id} for record_id in record_ids],
    )


_RECORD_ANCHORS = Base.metadata.tables[RecordAnchor.__tablename__]


@dataclass
class WorkerState:
    """What the worker reports to /readyz."""

    role: str = "stopped"  # starting | leader | standby | stopped
    lock: str | None = None
    since: datetime | None = None
    last_cycle_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    batches_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "lock": self.lock,
            "since": self.since.isoformat() if self.since else None,
            "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "batches_sent": self.batches_sent,
        }


@dataclass(frozen=True, slots=True)
class _Unmined:
    """A batch row, detached, as the unmined steps need it."""

    id: int
    organisation_id: str
    kind: str
    root: str
    record_count: int
    status: str
    account_address: str
    nonce: int
    tx_hash: str
    raw_tx: str

    @classmethod
    def of(cls, batch: AnchorBatch) -> _Unmined:
        return cls(
            batch.id,
            batch.organisation_id,
            batch.kind,
            batch.root,
            batch.record_count,
            batch.status,
            batch.account_address,
            batch.nonce,
            batch.tx_hash,
            batch.raw_tx,
        )


@dataclass(frozen=True, slots=True)
class _DueGroup:
    """A group of outbox entries (one organisation, one kind) with batches due this cycle."""

    organisation_id: str
    kind: str
    account: LocalAccount
    time_due: bool
    batches: int


@dataclass(frozen=True, slots=True)
class _Signed:
    """A batch signed but not stored yet: its entries' seqs and its records' ids."""

    organisation_id: str
    kind: str
    account: LocalAccount
    root: str
    nonce: int
    tx_hash: str
    raw_tx: str
    seqs: list[int]
    record_ids: list[str]


@dataclass(frozen=True, slots=True)
class _Mined:
    """A batch's mining, as its receipt (or its BatchAnchored log) tells it."""

    batch_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int | None = None


def _adopt_legacy_entries(session: Session, batch_id: int, entries: list[tuple[str, str]]) -> None:
    """A batch whose entries an earlier version of the worker left in the outbox (claimed, not
    removed): its records join `record_anchors` now, and the entries leave the outbox."""
    root = session.scalar(select(AnchorBatch.root).where(AnchorBatch.id == batch_id))
    tree, ordered = batch_tree([h for _, h in entries])
    if len(ordered) != len(entries) or HexBytes(tree.root).to_0x_hex() != root:
        raise HallmarkError(f"batch {batch_id}: its records do not make its root")
    write_anchors(session, batch_id, [record_id for record_id, _ in entries])
    session.execute(delete(AnchorQueueEntry).where(AnchorQueueEntry.batch_id == batch_id))


class AnchorWorker:
    """Drains the outbox into anchored batches; `start()` runs it in a thread.

    Collaborators: `sessions` (the database; `read_sessions` for reads), `ledger` (on a chain
    client of its own), `leader`
    (the lock only one process holds), `settings` (intervals, sizes, confirmations, passphrase),
    `chain_id` and `deployment_block` from the deployment record.
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        ledger: Ledger,
        leader: LeaderLock,
        settings: Settings,
        chain_id: int,
        deployment_block: int = 0,
        read_sessions: sessionmaker[Session] | None = None,
    ) -> None:
        self.sessions = sessions
        #: Sessions for reads that precede no write of theirs (SQLite: a snapshot that does not
        #: queue for the write lock while the store thread writes).
        self.read_sessions = read_sessions or sessions
        self.ledger = ledger
        self.client = ledger.client
        self.leader = leader
        self.settings = settings
        self.chain_id = chain_id
        self.deployment_block = deployment_block
        self.state = WorkerState(lock=leader.kind)
        self.nonces = self._new_allocator()
        self.poll = min(settings.anchor_interval / 4, MAX_POLL)
        self._backoff = Backoff(base=0.5, cap=settings.anchor_retry_max)
        self._accounts: dict[str, LocalAccount] = {}
        self._broadcast_at: dict[int, float] = {}
        #: Batch id -> (its transaction, when that transaction was first broadcast).
        self._waiting_since: dict[int, tuple[str, float]] = {}
        self._last_head: int | None = None
        self._full_check = True
        self._fees: Fees | None = None
        #: Stores signed batches while the next one is signed (see `_sign_store_send`).
        self._store_pool: ThreadPoolExecutor | None = None
        self._forming = False
        self._pending_nonces: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def report(self) -> dict[str, Any]:
        """What /readyz shows of this worker (`WorkerState.to_json()`)."""
        return self.state.to_json()

    def _new_allocator(self) -> NonceAllocator:
        return NonceAllocator(fetch_pending=self._pending_nonce)

    def _pending_nonce(self, address: str) -> int:
        """The node's pending transaction count of the account, for the allocator. While the
        due batches are formed it is asked once per account: the allocator counts the nonces
        it hands out itself, and one round trip per batch was a fifth of a batch's work."""
        known = self._pending_nonces.get(address)
        if known is not None:
            return known
        count = self.client.retrieve_nonce(address, "pending")
        if self._forming:
            self._pending_nonces[address] = count
        return count

    # --- process ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run the worker in a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.state.role, self.state.since = "starting", datetime.now(UTC)
        self._thread = threading.Thread(target=self.run, name="anchoring-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the current cycle, give up the lead, stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._store_pool is not None:
            self._store_pool.shutdown(wait=True)
            self._store_pool = None

    def run(self) -> None:
        """The worker loop (blocks until `stop()`); never raises."""
        try:
            while not self._stop.is_set():
                self._stop.wait(self.step())
        finally:
            self.leader.release()
            self.state.role = "stopped"
            self.state.since = datetime.now(UTC)
            log.info("anchoring.stopped")

    def step(self) -> float:
        """Lead or stand by, then one cycle if leading; seconds to wait before the next step."""
        if not self.leader.held():
            if self.state.role == "leader":
                log.warning("anchoring.lead_lost", lock=self.leader.kind)
            if not self.leader.acquire():
                if self.state.role != "standby":
                    self.state.role, self.state.since = "standby", datetime.now(UTC)
                    log.info("anchoring.standby", lock=self.leader.kind)
                return self.settings.worker_standby_interval
            self.state.role, self.state.since = "leader", datetime.now(UTC)
            # Another leader may have used nonces and mined batches meanwhile: start afresh.
            self.nonces = self._new_allocator()
            self._full_check = True
            log.info("anchoring.leader", lock=self.leader.kind)
        try:
            wait = self.run_once()
        except (HallmarkError, SQLAlchemyError) as exc:
            return self._cycle_failed(exc)
        except Exception as exc:  # the worker must outlive any bug in one cycle
            log.exception("anchoring.cycle_crashed")
            return self._cycle_failed(exc)
        self._backoff.clear("cycle")
        return wait

    def _cycle_failed(self, exc: Exception) -> float:
        message = exc.message if isinstance(exc, HallmarkError) else first_line(exc)
        delay = self._backoff.fail("cycle")
        self.state.last_error, self.state.last_error_at = message, datetime.now(UTC)
        self._full_check = True
        log.warning("anchoring.cycle_failed", error=message, retry_in=round(delay, 2))
        return delay

    # --- one cycle -------------------------------------------------------------------------
    def run_once(self) -> float:
        """One cycle (see the module docstring); seconds until the next one is useful."""
        self._fees = None
        head = self.client.retrieve_block_number()
        full = self._full_check or (self._last_head is not None and head < self._last_head)
        lost_accounts = self._check_reorgs(head, full=full)
        self._advance_unmined(recover=full, accounts=lost_accounts)
        self._retry_failed()
        wait = self._form_batches()
        self._advance_unmined(recover=False)
        head = self.client.retrieve_block_number()
        self._confirm(head)
        self._last_head = head
        self._full_check = False
        self.state.last_cycle_at = datetime.now(UTC)
        return wait

    def _fees_now(self) -> Fees:
        if self._fees is None:
            self._fees = self.client.retrieve_fees()
        return self._fees

    def _account(self, organisation_id: str) -> LocalAccount:
        """The organisation's signing key (decrypted once per process: scrypt is slow)."""
        account = self._accounts.get(organisation_id)
        if account is None:
            with self.sessions() as session:
                organisation = session.get(Organisation, organisation_id)
                if organisation is None:
                    raise NotFoundError("organisation", organisation_id)
                account = organisation_account(organisation, self.settings.passphrase)
            self._accounts[organisation_id] = account
        return account

    # --- forming and signing ---------------------------------------------------------------
    def _form_batches(self) -> float:
        """Sign, store and send every due batch; seconds until the next group falls due."""
        interval, size = self.settings.anchor_interval, self.settings.anchor_batch_size
        now = datetime.now(UTC)
        with self.read_sessions() as session:
            groups = session.execute(
                select(
                    AnchorQueueEntry.organisation_id,
                    AnchorQueueEntry.kind,
                    func.count(),
                    func.min(AnchorQueueEntry.enqueued_at),
                )
                .where(AnchorQueueEntry.batch_id.is_(None))
                .group_by(AnchorQueueEntry.organisation_id, AnchorQueueEntry.kind)
            ).all()
        wait = self.poll
        due: list[_DueGroup] = []
        for organisation_id, kind, count, oldest in groups:
            age = (now - utc(oldest)).total_seconds()
            # Due a poll early, so that no record waits longer than anchor_interval.
            time_due = age >= interval - self.poll
            if count < size and not time_due:
                wait = min(wait, max(interval - self.poll - age, 0.01))
                continue
            account = self._account(organisation_id)
            if not self._backoff.ready(("account", account.address)):
                continue
            due.append(_DueGroup(organisation_id, kind, account, time_due, count // size + 1))
        self._mark_sent(self._sign_store_send(due))
        return wait

    def _sign_store_send(self, due: list[_DueGroup]) -> list[int]:
        """Every due batch: signed here, stored by the store threads, then broadcast; the ids
        of the batches sent.

        A pipeline: while batches are stored (one transaction per group of batches: their rows,
        the claims, their records' `record_anchors` rows; the database works and the GIL is
        free), the next ones are
        selected, hashed and signed here. The batches signed while a store waits go to the
        next store together: under load (on SQLite the API's writers hold the one write lock
        for most of the time) each turn at the lock stores every batch ready, instead of one
        turn per batch. On PostgreSQL two groups are stored at a time (the server updates
        their records on two cores). Groups are broadcast in the order they were signed, each
        once its transaction has committed, so an account's transactions go out in nonce
        order. When a store fails, nothing more is stored this cycle: the batches signed
        meanwhile are dropped and their nonces handed out again; a later group whose store had
        begun may commit, and is then `signed`: step 2 of the cycle (run again right after
        forming) broadcasts or re-signs it in nonce order.
        """
        sent: list[int] = []
        depth = self._store_depth()
        store = self._store_threads(depth)
        signed_batches = self._signed_batches(due)
        inflight: deque[tuple[list[_Signed], Future[list[int] | None]]] = deque()
        waiting: list[_Signed] = []  # signed, not handed to a store thread (yet)
        failed = False
        self._forming = True
        try:
            for batch in signed_batches:
                waiting.append(batch)
                while inflight and inflight[0][1].done() and not failed:
                    failed = not self._finish_and_send(inflight.popleft(), sent)
                if not failed and len(inflight) >= depth and len(waiting) >= MAX_STORE_GROUP:
                    failed = not self._finish_and_send(inflight.popleft(), sent)
                if failed:
                    break
                if len(inflight) < depth:
                    inflight.append((waiting, store.submit(self._store, waiting)))
                    waiting = []
            while (inflight or waiting) and not failed:
                if waiting and len(inflight) < depth:
                    inflight.append((waiting, store.submit(self._store, waiting)))
                    waiting = []
                else:
                    failed = not self._finish_and_send(inflight.popleft(), sent)
        finally:
            self._forming = False
            self._pending_nonces.clear()
            signed_batches.close()
            while inflight:
                # After a failure or an error: let the stores end. A group committed is
                # `signed`, and step 2 broadcasts (or re-signs) it in nonce order.
                with contextlib.suppress(Exception):
                    self._finish_store(*inflight.popleft())
            self._give_back(waiting)
        return sent

    def _give_back(self, batches: Sequence[_Signed]) -> None:
        """Hand the nonces of batches that were signed but not stored out again."""
        for batch in batches:
            self.nonces.reset(batch.account.address, batch.nonce)

    def _finish_and_send(
        self, stored: tuple[list[_Signed], Future[list[int] | None]], sent: list[int]
    ) -> bool:
        """Wait for a group's store and broadcast its batches; False when its entries were
        claimed elsewhere (nothing stored)."""
        batches = self._finish_store(*stored)
        if batches is None:
            return False
        for batch in batches:
            if self._broadcast(batch, defer_status=True):
                sent.append(batch.id)
        return True

    def _signed_batches(self, due: list[_DueGroup]) -> Generator[_Signed, None, None]:
        """The due batches of each group in turn, signed, each with the next nonce of its
        organisation's account (reset by the consumer when the batch is not stored)."""
        size = self.settings.anchor_batch_size
        for group in due:
            after: int | None = None
            for _ in range(group.batches):
                query = (
                    select(
                        AnchorQueueEntry.seq,
                        AnchorQueueEntry.record_id,
                        AnchorQueueEntry.record_hash,
                    )
                    .where(
                        AnchorQueueEntry.organisation_id == group.organisation_id,
                        AnchorQueueEntry.kind == group.kind,
                        AnchorQueueEntry.batch_id.is_(None),
                    )
                    .order_by(AnchorQueueEntry.seq)
                    .limit(size)
                )
                if after is not None:  # the group's previous batch may still be being stored
                    query = query.where(AnchorQueueEntry.seq > after)
                with self.read_sessions() as session:
                    entries = session.connection().execute(query).all()
                if not entries or (len(entries) < size and not group.time_due):
                    break
                yield self._sign(group, entries)
                after = entries[-1].seq

    def _sign(self, group: _DueGroup, entries: Sequence[Row[int, str, str]]) -> _Signed:
        """The batch of these outbox entries: its root, its transaction."""
        tree, _ = batch_tree([hash_ for _, _, hash_ in entries])
        root = HexBytes(tree.root).to_0x_hex()
        address = group.account.address
        with self.nonces.lock(address):
            nonce = self.nonces.allocate(address)
            try:
                transaction_ = self.ledger.build_anchor(
                    group.account,
                    root=root,
                    kind=RECORD_KINDS[group.kind],
                    count=len(entries),
                    nonce=nonce,
                    fees=self._fees_now(),
                    chain_id=self.chain_id,
                    gas=self.settings.anchor_gas_limit,
                )
            except BaseException:
                self.nonces.release(address, nonce)
                raise
        return _Signed(
            group.organisation_id,
            group.kind,
            group.account,
            root,
            nonce,
            transaction_.tx_hash,
            transaction_.raw_tx,
            [seq for seq, _, _ in entries],
            [record_id for _, record_id, _ in entries],
        )

    def _store_depth(self) -> int:
        """How many batches are stored at a time: two on PostgreSQL, one elsewhere."""
        bind = self.sessions.kw.get("bind")
        return 2 if bind is not None and bind.dialect.name == "postgresql" else 1

    def _store_threads(self, depth: int) -> ThreadPoolExecutor:
        if self._store_pool is None:
            self._store_pool = ThreadPoolExecutor(depth, thread_name_prefix="anchoring-store")
        return self._store_pool

    def _store(self, batches: list[_Signed]) -> list[int] | None:
        """(The store thread.) Each batch's row (`signed`, raw tx), the claim of its entries and
        its records' `record_anchors` rows, all in ONE transaction; their ids, or None if any
        batch's entries
        were claimed elsewhere (nothing stored)."""
        try:
            with transaction(self.sessions) as session:
                ids: list[int] = []
                for batch in batches:
                    batch_id: int = session.execute(
                        insert(AnchorBatch)
                        .values(
                            organisation_id=batch.organisation_id,
                            kind=batch.kind,
                            root=batch.root,
                            record_count=len(batch.seqs),
                            status=SIGNED,
                            account_address=batch.account.address,
                            nonce=batch.nonce,
                            tx_hash=batch.tx_hash,
                            raw_tx=batch.raw_tx,
                            attempts=1,
                        )
                        .returning(AnchorBatch.id)
                    ).scalar_one()
                    # The claim: the entries leave the outbox in the transaction that stores
                    # the batch, so no record goes into two batches, whatever else runs.
                    if not claim_entries(session, batch.organisation_id, batch.kind, batch.seqs):
                        raise _ClaimedElsewhereError
                    write_anchors(session, batch_id, batch.record_ids)
                    ids.append(batch_id)
        except _ClaimedElsewhereError:
            return None
        return ids

    def _finish_store(
        self, batches: list[_Signed], stored: Future[list[int] | None]
    ) -> list[_Unmined] | None:
        """Wait for a group's store; the stored batches, or None (their nonces handed out
        again)."""
        try:
            batch_ids = stored.result()
        except BaseException:
            self._give_back(batches)
            raise
        if batch_ids is None:
            self._give_back(batches)
            log.warning(
                "anchoring.entries_claimed_elsewhere",
                organisations=sorted({b.organisation_id for b in batches}),
            )
            return None
        unmined: list[_Unmined] = []
        for batch_id, batch in zip(batch_ids, batches, strict=True):
            log.info(
                "anchoring.signed",
                batch=batch_id,
                root=batch.root,
                records=len(batch.seqs),
                nonce=batch.nonce,
            )
            unmined.append(
                _Unmined(
                    batch_id,
                    batch.organisation_id,
                    batch.kind,
                    batch.root,
                    len(batch.seqs),
                    SIGNED,
                    batch.account.address,
                    batch.nonce,
                    batch.tx_hash,
                    batch.raw_tx,
                )
            )
        return unmined

    def _broadcast(self, batch: _Unmined, *, defer_status: bool = False) -> bool:
        """Send the batch's raw transaction, then mark it `sent` (or leave that to the caller's
        bulk `_mark_sent` with `defer_status`). A refusal is kept, not raised."""
        try:
            self.client.send_raw_transaction(batch.raw_tx)
        except TransactionRejectedError as exc:
            if "nonce too low" in exc.reason.lower():
                # Mined meanwhile, or its nonce went to another transaction: the next cycle's
                # receipt check or nonce resolution tells which.
                log.info("anchoring.nonce_used", batch=batch.id, nonce=batch.nonce)
                return False
            delay = self._backoff.fail(("account", batch.account_address))
            self._note_batch_error(batch.id, exc.message)
            log.warning("anchoring.rejected", batch=batch.id, error=exc.reason, retry_in=delay)
            return False
        self._backoff.clear(("account", batch.account_address))
        self._broadcast_at[batch.id] = now = time.monotonic()
        if self._waiting_since.get(batch.id, ("", 0.0))[0] != batch.tx_hash:
            self._waiting_since[batch.id] = (batch.tx_hash, now)
        self.state.batches_sent += 1
        if not defer_status:
            self._mark_sent([batch.id])
        return True

    def _mark_sent(self, batch_ids: list[int]) -> None:
        """Broadcast: `signed` → `sent` (a crash before this only means one more broadcast)."""
        if not batch_ids:
            return
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id.in_(batch_ids), AnchorBatch.status == SIGNED)
                .values(status=SENT)
            )

    def _resign(self, batch: _Unmined) -> None:
        """Sign the batch again with a fresh nonce (caller holds the account's nonce lock)."""
        account = self._account(batch.organisation_id)
        nonce = self.nonces.allocate(account.address)
        try:
            signed = self.ledger.build_anchor(
                account,
                root=batch.root,
                kind=RECORD_KINDS[batch.kind],
                count=batch.record_count,
                nonce=nonce,
                fees=self._fees_now(),
                chain_id=self.chain_id,
                gas=self.settings.anchor_gas_limit,
            )
            with transaction(self.sessions) as session:
                session.execute(
                    update(AnchorBatch)
                    .where(AnchorBatch.id == batch.id)
                    .values(
                        status=SIGNED,
                        nonce=nonce,
                        tx_hash=signed.tx_hash,
                        raw_tx=signed.raw_tx,
                        attempts=AnchorBatch.attempts + 1,
                        block_number=None,
                        block_hash=None,
                        gas_used=None,
                        mined_at=None,
                        confirmed_at=None,
                    )
                )
        except BaseException:
            self.nonces.release(account.address, nonce)
            raise
        log.info("anchoring.resigned", batch=batch.id, root=batch.root, nonce=nonce)
        self._broadcast(
            _Unmined(
                batch.id,
                batch.organisation_id,
                batch.kind,
                batch.root,
                batch.record_count,
                SIGNED,
                account.address,
                nonce,
                signed.tx_hash,
                signed.raw_tx,
            )
        )

    @property
    def _look_again_after(self) -> float:
        """Seconds before an unmined transaction is looked at again (re-broadcast, replaced)."""
        bump_after = self.settings.fee_bump_after
        return min(REBROADCAST_AFTER, bump_after) if bump_after > 0 else REBROADCAST_AFTER

    def _replacement_due(self, batch: _Unmined) -> bool:
        """Whether the batch's transaction waited longer than `fee_bump_after` since this worker
        first broadcast it, or first looked at it (a new leader gives it that time again)."""
        if self.settings.fee_bump_after <= 0:
            return False
        tx_hash, since = self._waiting_since.get(batch.id, ("", 0.0))
        if tx_hash != batch.tx_hash:  # never broadcast by this worker (refused): the clock starts
            self._waiting_since[batch.id] = (batch.tx_hash, time.monotonic())
            return False
        return time.monotonic() - since > self.settings.fee_bump_after

    def _replace(self, batch: _Unmined) -> None:
        """Replace the batch's waiting transaction: same nonce, fees 12.5 % higher and at least
        what a new transaction pays now (caller holds the account's nonce lock).

        If the replaced transaction is mined after all, the replacement's nonce is used: the next
        look finds the root anchored and adopts that transaction (`_resolve_account`)."""
        old = fees_of(HexBytes(batch.raw_tx))
        fees = replacement_fees(old, self._fees_now(), cap=self.settings.max_fee_per_gas_cap)
        if fees is None:
            error = (
                f"transaction {batch.tx_hash} waits unmined and HALLMARK_MAX_FEE_GWEI leaves no "
                "room for a replacement with higher fees"
            )
            self._note_batch_error(batch.id, error)
            log.warning("anchoring.fee_cap_reached", batch=batch.id, fees=old._asdict())
            self._waiting_since[batch.id] = (batch.tx_hash, time.monotonic())  # said again later
            self._broadcast(batch)
            return
        account = self._account(batch.organisation_id)
        signed = self.ledger.build_anchor(
            account,
            root=batch.root,
            kind=RECORD_KINDS[batch.kind],
            count=batch.record_count,
            nonce=batch.nonce,
            fees=fees,
            chain_id=self.chain_id,
            gas=self.settings.anchor_gas_limit,
        )
        with transaction(self.sessions) as session:
            stored: int = session.execute(  # type: ignore[attr-defined]
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id, AnchorBatch.tx_hash == batch.tx_hash)
                .values(
                    status=SIGNED,
                    tx_hash=signed.tx_hash,
                    raw_tx=signed.raw_tx,
                    attempts=AnchorBatch.attempts + 1,
                )
            ).rowcount
        if stored != 1:  # the batch moved on meanwhile: the next look sees how
            log.warning("anchoring.replacement_dropped", batch=batch.id, replaced=batch.tx_hash)
            return
        log.info(
            "anchoring.fees_raised",
            batch=batch.id,
            nonce=batch.nonce,
            replaced=batch.tx_hash,
            tx=signed.tx_hash,
            fees=fees._asdict(),
        )
        self._broadcast(replace(batch, status=SIGNED, tx_hash=signed.tx_hash, raw_tx=signed.raw_tx))

    # --- receipts, recovery ----------------------------------------------------------------
    def _advance_unmined(self, *, recover: bool, accounts: frozenset[str] = frozenset()) -> None:
        """Receipts for signed/sent batches; resolve the accounts whose batches need it."""
        with self.read_sessions() as session:
            rows = [
                _Unmined.of(b)
                for b in session.scalars(
                    select(AnchorBatch).where(AnchorBatch.status.in_(UNMINED))
                ).all()
            ]
        if not rows:
            return
        receipts = self.client.retrieve_receipts([b.tx_hash for b in rows])
        waiting: dict[str, list[_Unmined]] = defaultdict(list)
        needs_resolve: set[str] = set(accounts)
        now = time.monotonic()
        mined: list[_Mined] = []
        for batch in rows:
            receipt = receipts[batch.tx_hash]
            if receipt is not None:
                if receipt.status == 1:
                    mined.append(
                        _Mined(
                            batch.id,
                            receipt.tx_hash,
                            receipt.block_number,
                            receipt.block_hash,
                            receipt.gas_used,
                        )
                    )
                else:
                    self._on_reverted(batch, receipt)
                continue
            waiting[batch.account_address].append(batch)
            sent_at = self._broadcast_at.get(batch.id)
            stale = sent_at is None or now - sent_at > self._look_again_after
            if recover or batch.status == SIGNED or stale:
                needs_resolve.add(batch.account_address)
        # One transaction for every batch mined since the last look: on SQLite each write
        # transaction waits its turn at the one write lock.
        self._mark_mined(mined)
        for address in needs_resolve & waiting.keys():
            if self._backoff.ready(("account", address)):
                self._resolve_account(address, sorted(waiting[address], key=lambda b: b.nonce))

    def _resolve_account(self, address: str, batches: list[_Unmined]) -> None:
        """Re-broadcast in nonce order; re-sign what lost its nonce or sits behind a gap."""
        with self.nonces.lock(address):
            latest = self.client.retrieve_nonce(address, "latest")
            expected = latest
            resign: list[_Unmined] = []
            for batch in batches:
                if batch.nonce < latest:
                    # Its nonce was consumed: by this very transaction (the root is anchored),
                    # or by another one.
                    if self.ledger.retrieve_batch(batch.root).anchored:
                        self._adopt(batch)
                    else:
                        resign.append(batch)
                elif batch.nonce == expected:
                    if self._replacement_due(batch):
                        self._replace(batch)
                    else:
                        self._broadcast(batch)
                    expected += 1
                else:  # behind a nonce gap (the chain lost an earlier one): never mined as is
                    resign.append(batch)
            self.nonces.reset(address, expected)
            for batch in resign:
                self._resign(batch)

    def _on_reverted(self, batch: _Unmined, receipt: Receipt) -> None:
        """A mined transaction that reverted: anchored meanwhile by another (adopt it), or
        failed."""
        try:
            self.ledger.retrieve_anchor_check(
                batch.account_address,
                root=batch.root,
                kind=RECORD_KINDS[batch.kind],
                count=batch.record_count,
                block=receipt.block_number,
            )
        except RootAlreadyAnchoredError:
            self._adopt(batch)
            return
        except ContractRevertError as exc:
            error = exc.signature
        else:
            error = f"reverted without a custom error (gas used {receipt.gas_used})"
        self._mark_failed(batch.id, error, gas_used=receipt.gas_used)

    def _adopt(self, batch: _Unmined) -> None:
        """The root is anchored on chain: take that anchoring as the batch's."""
        found = self.ledger.retrieve_anchor_log(
            batch.root,
            from_block=self.deployment_block,
            block_range=self.settings.log_block_range,
        )
        if found is None:
            raise HallmarkError(f"root {batch.root} is anchored but its BatchAnchored log is gone")
        if found.anchorer != Web3.to_checksum_address(batch.account_address):
            log.warning("anchoring.root_anchored_by_other", batch=batch.id, anchorer=found.anchorer)
        self._mark_mined([_Mined(batch.id, found.tx_hash, found.block_number, found.block_hash)])

    def _mark_mined(self, batches: Sequence[_Mined]) -> None:
        """Mined, in one transaction: each batch's block and gas (its records are in
        `record_anchors` since it was formed).

        Entries still in the outbox for a batch were claimed by an earlier version of the
        worker, which kept them until the receipt: they join `record_anchors` here, in the same
        transaction.
        """
        if not batches:
            return
        now = datetime.now(UTC)
        confirmed = self.settings.confirmations == 0
        ids = [batch.batch_id for batch in batches]
        with transaction(self.sessions) as session:
            legacy: dict[int, list[tuple[str, str]]] = defaultdict(list)
            for batch_id, record_id, record_hash in session.execute(
                select(
                    AnchorQueueEntry.batch_id,
                    AnchorQueueEntry.record_id,
                    AnchorQueueEntry.record_hash,
                ).where(AnchorQueueEntry.batch_id.in_(ids))
            ):
                if batch_id is not None:
                    legacy[batch_id].append((record_id, record_hash))
            for batch_id, entries in legacy.items():
                _adopt_legacy_entries(session, batch_id, entries)
            session.execute(
                update(AnchorBatch),
                [
                    {
                        "id": batch.batch_id,
                        "status": CONFIRMED if confirmed else MINED,
                        "tx_hash": batch.tx_hash,
                        "block_number": batch.block_number,
                        "block_hash": batch.block_hash,
                        "gas_used": batch.gas_used,
                        "mined_at": now,
                        "confirmed_at": now if confirmed else None,
                        "last_error": None,
                    }
                    for batch in batches
                ],
            )
        for batch in batches:
            self._broadcast_at.pop(batch.batch_id, None)
            self._waiting_since.pop(batch.batch_id, None)
            self._backoff.clear(("batch", batch.batch_id))
            log.info(
                "anchoring.mined", batch=batch.batch_id, block=batch.block_number, tx=batch.tx_hash
            )

    def _mark_failed(self, batch_id: int, error: str, *, gas_used: int | None = None) -> None:
        delay = self._backoff.fail(("batch", batch_id))
        values: dict[str, Any] = {"status": FAILED, "last_error": error}
        if gas_used is not None:
            values["gas_used"] = gas_used
        with transaction(self.sessions) as session:
            session.execute(update(AnchorBatch).where(AnchorBatch.id == batch_id).values(values))
        self._broadcast_at.pop(batch_id, None)
        self._waiting_since.pop(batch_id, None)
        self.state.last_error, self.state.last_error_at = error, datetime.now(UTC)
        log.warning("anchoring.failed", batch=batch_id, error=error, retry_in=round(delay, 2))

    def _note_batch_error(self, batch_id: int, error: str) -> None:
        self.state.last_error, self.state.last_error_at = error, datetime.now(UTC)
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch).where(AnchorBatch.id == batch_id).values(last_error=error)
            )

    def _retry_failed(self) -> None:
        """Failed batches whose backoff elapsed: anchor again once a simulation passes."""
        with self.read_sessions() as session:
            failed = [
                _Unmined.of(b)
                for b in session.scalars(
                    select(AnchorBatch).where(AnchorBatch.status == FAILED).order_by(AnchorBatch.id)
                ).all()
            ]
        for batch in failed:
            if not self._backoff.ready(("batch", batch.id)):
                continue
            try:
                self.ledger.retrieve_anchor_check(
                    batch.account_address,
                    root=batch.root,
                    kind=RECORD_KINDS[batch.kind],
                    count=batch.record_count,
                )
            except RootAlreadyAnchoredError:
                self._adopt(batch)
                continue
            except ContractRevertError as exc:
                self._mark_failed(batch.id, exc.signature)
                continue
            with self.nonces.lock(batch.account_address):
                self._resign(batch)

    # --- confirmations and reorgs ----------------------------------------------------------
    def _confirm(self, head: int) -> None:
        if self.settings.confirmations == 0:
            return
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(
                    AnchorBatch.status == MINED,
                    AnchorBatch.block_number <= head - self.settings.confirmations,
                )
                .values(status=CONFIRMED, confirmed_at=datetime.now(UTC))
            )

    def _check_reorgs(self, head: int, *, full: bool) -> frozenset[str]:
        """Send batches whose block left the chain back to `signed`; their accounts."""
        query = select(
            AnchorBatch.id,
            AnchorBatch.block_number,
            AnchorBatch.block_hash,
            AnchorBatch.tx_hash,
            AnchorBatch.account_address,
        ).where(AnchorBatch.status.in_(ON_CHAIN))
        if not full:
            query = query.where(AnchorBatch.block_number >= head - self.settings.reorg_depth)
        with self.read_sessions() as session:
            rows = session.execute(query).all()
        if not rows:
            return frozenset()
        canonical = self.client.retrieve_block_hashes(sorted({r.block_number for r in rows}))
        gone = [r for r in rows if canonical.get(r.block_number) != r.block_hash]
        if not gone:
            return frozenset()
        receipts = self.client.retrieve_receipts([r.tx_hash for r in gone])
        accounts: set[str] = set()
        for row in gone:
            receipt = receipts[row.tx_hash]
            if receipt is not None and receipt.status == 1:
                # Re-mined in another block (the transaction survived the reorg).
                self._move_block(row.id, receipt.tx_hash, receipt.block_number, receipt.block_hash)
                continue
            with self.sessions() as session:
                batch = session.get(AnchorBatch, row.id)
                assert batch is not None
                unmined = _Unmined.of(batch)
            if self.ledger.retrieve_batch(unmined.root).anchored:
                found = self.ledger.retrieve_anchor_log(
                    unmined.root,
                    from_block=self.deployment_block,
                    block_range=self.settings.log_block_range,
                )
                if found is not None:
                    self._move_block(row.id, found.tx_hash, found.block_number, found.block_hash)
                    continue
            self._back_to_signed(unmined, lost_at=row.block_number)
            accounts.add(unmined.account_address)
        return frozenset(accounts)

    def _move_block(self, batch_id: int, tx_hash: str, block_number: int, block_hash: str) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch_id)
                .values(
                    tx_hash=tx_hash,
                    block_number=block_number,
                    block_hash=block_hash,
                    status=MINED if self.settings.confirmations else CONFIRMED,
                )
            )
        log.warning("anchoring.batch_moved", batch=batch_id, block=block_number)

    def _back_to_signed(self, batch: _Unmined, *, lost_at: int) -> None:
        """The chain lost the anchoring: anchor the same batch again (its records keep their
        batch, so their proofs)."""
        error = f"anchoring lost from the chain at block {lost_at} (reorg or restored node)"
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id)
                .values(
                    status=SIGNED,
                    tx_hash=HexBytes(Web3.keccak(HexBytes(batch.raw_tx))).to_0x_hex(),
                    block_number=None,
                    block_hash=None,
                    gas_used=None,
                    mined_at=None,
                    confirmed_at=None,
                    last_error=error,
                )
            )
        self._broadcast_at.pop(batch.id, None)
        self._waiting_since.pop(batch.id, None)
        self.state.last_error, self.state.last_error_at = error, datetime.now(UTC)
        log.warning("anchoring.batch_lost", batch=batch.id, root=batch.root, block=lost_at)


class _ClaimedElsewhereError(Exception):
    """Some entries of a batch being formed were claimed by another batch meanwhile."""


# --- status for the provenance view -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnchoringStatus:
    """Where a record stands on its way to the chain.

    status: `pending` (waiting for a batch, or its batch was refused: see `last_error`),
    `anchoring` (its batch is signed or sent, not mined yet), `anchored` (mined) or `confirmed`
    (`confirmations` blocks on top). `proof` (with `leaf_index`) proves `record_hash` under
    `root` with the ledger's `verifyRecord(root, recordHash, proof)` or
    `StandardMerkleTree.verify`; `tx_hash` and `block_number` say where `root` was anchored.
    """

    record_id: str
    record_hash: str
    status: str
    batch_id: int | None = None
    root: str | None = None
    anchorer: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    block_hash: str | None = None
    leaf_index: int | None = None
    proof: list[str] | None = field(default=None)
    last_error: str | None = None


_STATUS_OF_BATCH = {
    SIGNED: "anchoring",
    SENT: "anchoring",
    MINED: "anchored",
    CONFIRMED: "confirmed",
    FAILED: "pending",
}


def records_status(*, session: Session, record_ids: Sequence[str]) -> dict[str, AnchoringStatus]:
    """The anchoring status of each known record id (unknown ids are left out)."""
    rows = session.execute(
        select(Record.id, Record.record_hash, RecordAnchor.batch_id, AnchorQueueEntry.batch_id)
        .outerjoin(RecordAnchor, RecordAnchor.record_id == Record.id)
        .outerjoin(AnchorQueueEntry, AnchorQueueEntry.record_id == Record.id)
        .where(Record.id.in_(list(record_ids)))
    ).all()
    batch_ids = {r[2] if r[2] is not None else r[3] for r in rows} - {None}
    batches = {
        b.id: b for b in session.scalars(select(AnchorBatch).where(AnchorBatch.id.in_(batch_ids)))
    }
    result: dict[str, AnchoringStatus] = {}
    for record_id, record_hash, anchored_batch, queued_batch in rows:
        batch_id = anchored_batch if anchored_batch is not None else queued_batch
        batch = batches.get(batch_id) if batch_id is not None else None
        if batch is None:
            result[record_id] = AnchoringStatus(record_id, record_hash, "pending")
            continue
        status = _STATUS_OF_BATCH.get(batch.status, "pending")
        on_chain = status in ("anchored", "confirmed")
        leaf_index: int | None = None
        proof: list[str] | None = None
        if on_chain:  # a record's batch is final once formed; its proof counts once on chain
            leaf_index, nodes = batch_proofs(session, batch.id, batch.root)[record_hash.lower()]
            proof = list(nodes)
        result[record_id] = AnchoringStatus(
            record_id=record_id,
            record_hash=record_hash,
            status=status,
            batch_id=batch.id,
            root=batch.root,
            anchorer=batch.account_address,
            tx_hash=batch.tx_hash if status != "pending" else None,
            block_number=batch.block_number if on_chain else None,
            block_hash=batch.block_hash if on_chain else None,
            leaf_index=leaf_index,
            proof=proof,
            last_error=batch.last_error,
        )
    return result


def batch_proofs(
    session: Session, batch_id: int, root: str
) -> Mapping[str, tuple[int, tuple[str, ...]]]:
    """Each record of a batch, by its hash (lower case): its leaf index and its proof.

    The tree is built again from the hashes of the batch's records (a set of hashes makes one
    tree: `batch_tree`) and must give the batch's root. A formed batch never changes, so the
    proofs of the batches read last are kept (`_PROOFS`).

    Raises:
        HallmarkError: the batch's records do not make its root.
    """
    key = (batch_id, root.lower())
    with _PROOFS_LOCK:
        found = _PROOFS.get(key)
        if found is not None:
            _PROOFS.move_to_end(key)
            return found
    hashes = session.scalars(
        select(Record.record_hash)
        .join(RecordAnchor, RecordAnchor.record_id == Record.id)
        .where(RecordAnchor.batch_id == batch_id)
    ).all()
    tree, ordered = batch_tree(hashes)
    if HexBytes(tree.root).to_0x_hex() != root.lower():
        raise HallmarkError(f"batch {batch_id}: its records do not make its root")
    hexed = {node: "0x" + node.hex() for node in tree.nodes}
    proofs = {
        value: (index, tuple(hexed[node] for node in proof))
        for index, (value, proof) in enumerate(zip(ordered, tree.proofs(), strict=True))
    }
    with _PROOFS_LOCK:
        _PROOFS[key] = proofs
        while len(_PROOFS) > _PROOFS_KEPT:
            _PROOFS.popitem(last=False)
    return proofs


#: Proofs of the batches read last, newest at the end (hand-written: functools.lru_cache
#: would key on the session too).
_PROOFS: OrderedDict[tuple[int, str], dict[str, tuple[int, tuple[str, ...]]]] = OrderedDict()
_PROOFS_KEPT = 32
_PROOFS_LOCK = threading.Lock()


def record_status(*, session: Session, record_id: str) -> AnchoringStatus:
    """The anchoring status of one record.

    Raises:
        NotFoundError: no record has this id.
    """
    found = records_status(session=session, record_ids=[record_id]).get(record_id)
    if found is None:
        raise NotFoundError("record", record_id)
    return found


# --- readiness --------------------------------------------------------------------------------


class WorkerReport(Protocol):
    """A worker as /readyz sees it: a thread of this process (`AnchorWorker`) or a child
    process (`hallmark.services.worker_process.WorkerProcess`)."""

    def report(self) -> dict[str, Any]:
        """`WorkerState.to_json()`: role, lock, since, last cycle, last error, batches sent."""
        ...


def anchoring_report(
    *, sessions: sessionmaker[Session], worker: WorkerReport | None
) -> dict[str, Any]:
    """The outbox and the worker, for /readyz; pending records never make Hallmark unready.

    The outbox comes from the database, so it is the same whichever process runs the worker.
    """
    report: dict[str, Any] = (
        worker.report() if worker is not None else {"role": "none (no worker here)"}
    )
    try:
        with sessions() as session:
            waiting, oldest_waiting = session.execute(
                select(
                    func.count().filter(AnchorQueueEntry.batch_id.is_(None)),
                    func.min(AnchorQueueEntry.enqueued_at),
                )
            ).one()
            in_batches, failed = session.execute(
                select(
                    func.coalesce(func.sum(AnchorBatch.record_count), 0),
                    func.count().filter(AnchorBatch.status == FAILED),
                ).where(AnchorBatch.status.in_((*UNMINED, FAILED)))
            ).one()
            oldest_in_batch = session.scalar(
                select(func.min(Record.created_at))
                .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
                .where(AnchorBatch.status.in_((*UNMINED, FAILED)))
            )
    except SQLAlchemyError:
        report["outbox"] = None  # the database section of the report says why
        return report
    oldest = min((utc(t) for t in (oldest_waiting, oldest_in_batch) if t is not None), default=None)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
    report["outbox"] = {
        "pending": int(waiting) + int(in_batches),
        "in_batches": int(in_batches),
        "oldest_pending_age_seconds": round(age, 3) if age is not None else None,
        "failed_batches": int(failed or 0),
    }
    return report
