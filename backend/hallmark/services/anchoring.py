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
   (and `batchOf(root)` is empty) or sits behind a nonce gap.
3. Failed batches whose backoff elapsed are simulated (`eth_call`); once `anchor` would pass
   they are re-signed with a fresh nonce and sent again.
4. Form: pending entries are grouped per (organisation, kind); a group is due at
   `anchor_batch_size` entries or when its oldest entry is about `anchor_interval` old. The
   batch's record hashes, sorted ascending, make a StandardMerkleTree; `anchor(root, kind,
   count)` is signed with the organisation's own key (fixed gas limit, EIP-1559 fees read once
   per cycle, a nonce from the per-account `NonceAllocator`), then the batch row (`signed`,
   raw tx, tx hash, nonce) and the entries' batch_id are committed in ONE transaction; then
   the raw transaction is broadcast (`sent`). Every due batch is signed and sent before any
   receipt is awaited.
5. Receipts (`mined`): block number and hash, gas used; each record gets its batch id, leaf
   index (its position among the batch's sorted record hashes) and proof; the outbox entries
   are deleted — one transaction. A reverted receipt is replayed with `eth_call` and decoded:
   RootAlreadyAnchored counts as success (the batch adopts the anchoring log); anything else
   marks the batch `failed` with the error's name and arguments in `last_error`, retried with
   capped exponential backoff while its records stay pending.
6. `confirmed` once `confirmations` blocks are on top (at once with 0, the local default).

A node or database error ends the cycle; the worker backs off exponentially (capped at
`anchor_retry_max`) and the next cycle starts with a full check. Writes are accepted meanwhile
and shown as pending.

`record_status`/`records_status` give the provenance view a record's anchoring status;
`anchoring_report` is the worker's part of /readyz.

Raises:
    NotFoundError: `record_status` for an unknown record.
    (The worker itself raises nothing: errors are logged, kept in `state.last_error` and
    retried.)
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark.chain.client import Fees, Receipt
from hallmark.chain.ledger import Ledger
from hallmark.config import Settings
from hallmark.core.errors import (
    ContractRevertError,
    HallmarkError,
    NotFoundError,
    RootAlreadyAnchoredError,
    TransactionRejectedError,
)
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.leadership import LeaderLock
from hallmark.services.nonces import NonceAllocator
from hallmark.services.organisations import organisation_account
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Organisation, Record
from hallmark.store.records import RECORD_KINDS

log = structlog.get_logger(__name__)

SIGNED, SENT, MINED, CONFIRMED, FAILED = "signed", "sent", "mined", "confirmed", "failed"
UNMINED = (SIGNED, SENT)
ON_CHAIN = (MINED, CONFIRMED)

#: Seconds a broadcast transaction may stay unmined before it is checked and re-broadcast.
REBROADCAST_AFTER = 30.0
#: Longest pause between two cycles (new records, receipts and reorgs are noticed this fast).
MAX_POLL = 0.5


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything Hallmark stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def batch_tree(record_hashes: Sequence[str]) -> tuple[StandardMerkleTree, list[str]]:
    """The batch's tree over its record hashes sorted ascending, and that order (leaf index).

    Sorting makes the tree a function of the set of records alone, so a batch rebuilt after a
    crash or a reorg has the same root and the same proofs.
    """
    ordered = sorted(h.lower() for h in record_hashes)
    return StandardMerkleTree.of(ordered), ordered


class Backoff:
    """Capped exponential backoff per key.

    Hand-written: retry libraries (tenacity, backoff) wrap one call in a retry loop, while the
    worker keeps running and only skips what is backing off.
    """

    def __init__(self, *, base: float, cap: float) -> None:
        self.base = min(base, cap)
        self.cap = cap
        self._failures: dict[Hashable, int] = {}
        self._until: dict[Hashable, float] = {}

    def ready(self, key: Hashable) -> bool:
        return time.monotonic() >= self._until.get(key, 0.0)

    def fail(self, key: Hashable) -> float:
        """Count a failure; the delay before `key` is ready again."""
        failures = self._failures.get(key, 0)
        delay = min(self.base * (1 << min(failures, 30)), self.cap)
        self._failures[key] = failures + 1
        self._until[key] = time.monotonic() + delay
        return delay

    def clear(self, key: Hashable) -> None:
        self._failures.pop(key, None)
        self._until.pop(key, None)


@dataclass
class WorkerState:
    """What the worker reports to /readyz."""

    role: str = "stopped"  # leader | standby | stopped
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


class AnchorWorker:
    """Drains the outbox into anchored batches; `start()` runs it in a thread.

    Collaborators: `sessions` (the database), `ledger` (on a chain client of its own), `leader`
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
    ) -> None:
        self.sessions = sessions
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
        #: Trees of batches formed by this process, so mining does not hash them again.
        self._trees: dict[int, tuple[StandardMerkleTree, list[str]]] = {}
        self._last_head: int | None = None
        self._full_check = True
        self._fees: Fees | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _new_allocator(self) -> NonceAllocator:
        return NonceAllocator(fetch_pending=lambda a: self.client.retrieve_nonce(a, "pending"))

    # --- process ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run the worker in a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="anchoring-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the current cycle, give up the lead, stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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
        message = exc.message if isinstance(exc, HallmarkError) else _first_line(exc)
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
        with self.sessions() as session:
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
        sent: list[int] = []
        for organisation_id, kind, count, oldest in groups:
            age = (now - _utc(oldest)).total_seconds()
            # Due a poll early, so that no record waits longer than anchor_interval.
            time_due = age >= interval - self.poll
            if count < size and not time_due:
                wait = min(wait, max(interval - self.poll - age, 0.01))
                continue
            account = self._account(organisation_id)
            if not self._backoff.ready(("account", account.address)):
                continue
            for _ in range(count // size + 1):
                if not self._form_one(organisation_id, kind, account, time_due=time_due, sent=sent):
                    break
        self._mark_sent(sent)
        return wait

    def _form_one(
        self,
        organisation_id: str,
        kind: str,
        account: LocalAccount,
        *,
        time_due: bool,
        sent: list[int],
    ) -> bool:
        """Sign and store one batch of the group, then send it; False when none was due."""
        size = self.settings.anchor_batch_size
        with self.sessions() as session:
            entries = session.execute(
                select(AnchorQueueEntry.seq, AnchorQueueEntry.record_hash)
                .where(
                    AnchorQueueEntry.organisation_id == organisation_id,
                    AnchorQueueEntry.kind == kind,
                    AnchorQueueEntry.batch_id.is_(None),
                )
                .order_by(AnchorQueueEntry.seq)
                .limit(size)
            ).all()
        if not entries or (len(entries) < size and not time_due):
            return False
        tree, ordered = batch_tree([hash_ for _, hash_ in entries])
        root = HexBytes(tree.root).to_0x_hex()
        seqs = [seq for seq, _ in entries]
        address = account.address
        with self.nonces.lock(address):
            nonce = self.nonces.allocate(address)
            try:
                signed = self.ledger.build_anchor(
                    account,
                    root=root,
                    kind=RECORD_KINDS[kind],
                    count=len(entries),
                    nonce=nonce,
                    fees=self._fees_now(),
                    chain_id=self.chain_id,
                    gas=self.settings.anchor_gas_limit,
                )
                with transaction(self.sessions) as session:
                    batch = AnchorBatch(
                        organisation_id=organisation_id,
                        kind=kind,
                        root=root,
                        record_count=len(entries),
                        status=SIGNED,
                        account_address=address,
                        nonce=nonce,
                        tx_hash=signed.tx_hash,
                        raw_tx=signed.raw_tx,
                        attempts=1,
                    )
                    session.add(batch)
                    session.flush()
                    claimed = session.execute(
                        update(AnchorQueueEntry)
                        .where(AnchorQueueEntry.seq.in_(seqs), AnchorQueueEntry.batch_id.is_(None))
                        .values(batch_id=batch.id)
                    )
                    if claimed.rowcount != len(seqs):  # type: ignore[attr-defined]
                        # Ensure that no record goes into two batches, whatever else runs.
                        raise _ClaimedElsewhereError
                    unmined = _Unmined.of(batch)
                self._trees[unmined.id] = (tree, ordered)
            except _ClaimedElsewhereError:
                self.nonces.release(address, nonce)
                log.warning("anchoring.entries_claimed_elsewhere", organisation=organisation_id)
                return False
            except BaseException:
                self.nonces.release(address, nonce)
                raise
        log.info("anchoring.signed", batch=unmined.id, root=root, records=len(entries), nonce=nonce)
        if self._broadcast(unmined, defer_status=True):
            sent.append(unmined.id)
        return True

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
        self._broadcast_at[batch.id] = time.monotonic()
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

    # --- receipts, recovery ----------------------------------------------------------------
    def _advance_unmined(self, *, recover: bool, accounts: frozenset[str] = frozenset()) -> None:
        """Receipts for signed/sent batches; resolve the accounts whose batches need it."""
        with self.sessions() as session:
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
        for batch in rows:
            receipt = receipts[batch.tx_hash]
            if receipt is not None:
                self._on_receipt(batch, receipt)
                continue
            waiting[batch.account_address].append(batch)
            sent_at = self._broadcast_at.get(batch.id)
            stale = sent_at is None or now - sent_at > REBROADCAST_AFTER
            if recover or batch.status == SIGNED or stale:
                needs_resolve.add(batch.account_address)
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
                    self._broadcast(batch)
                    expected += 1
                else:  # behind a nonce gap (the chain lost an earlier one): never mined as is
                    resign.append(batch)
            self.nonces.reset(address, expected)
            for batch in resign:
                self._resign(batch)

    def _on_receipt(self, batch: _Unmined, receipt: Receipt) -> None:
        if receipt.status == 1:
            self._mark_mined(
                batch.id,
                receipt.tx_hash,
                receipt.block_number,
                receipt.block_hash,
                gas_used=receipt.gas_used,
            )
            return
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
        found = self.ledger.retrieve_anchor_log(batch.root, from_block=self.deployment_block)
        if found is None:
            raise HallmarkError(f"root {batch.root} is anchored but its BatchAnchored log is gone")
        if found.anchorer != Web3.to_checksum_address(batch.account_address):
            log.warning("anchoring.root_anchored_by_other", batch=batch.id, anchorer=found.anchorer)
        self._mark_mined(batch.id, found.tx_hash, found.block_number, found.block_hash)

    def _mark_mined(
        self,
        batch_id: int,
        tx_hash: str,
        block_number: int,
        block_hash: str,
        *,
        gas_used: int | None = None,
    ) -> None:
        """Mined: block, proofs onto the records, outbox entries gone — one transaction."""
        now = datetime.now(UTC)
        with transaction(self.sessions) as session:
            batch = session.get(AnchorBatch, batch_id)
            assert batch is not None
            entries = session.execute(
                select(AnchorQueueEntry.record_id, AnchorQueueEntry.record_hash).where(
                    AnchorQueueEntry.batch_id == batch_id
                )
            ).all()
            if entries:
                tree, ordered = self._trees.get(batch_id) or batch_tree([h for _, h in entries])
                if len(ordered) != len(entries) or HexBytes(tree.root).to_0x_hex() != batch.root:
                    raise HallmarkError(f"batch {batch_id}: its records do not make its root")
                by_hash = {hash_.lower(): record_id for record_id, hash_ in entries}
                proofs = tree.proofs()
                session.execute(
                    update(Record),
                    [
                        {
                            "id": by_hash[hash_],
                            "batch_id": batch_id,
                            "leaf_index": index,
                            "proof": ["0x" + node.hex() for node in proofs[index]],
                        }
                        for index, hash_ in enumerate(ordered)
                    ],
                )
                session.execute(
                    delete(AnchorQueueEntry).where(AnchorQueueEntry.batch_id == batch_id)
                )
            confirmed = self.settings.confirmations == 0
            batch.status = CONFIRMED if confirmed else MINED
            batch.tx_hash = tx_hash
            batch.block_number = block_number
            batch.block_hash = block_hash
            batch.gas_used = gas_used
            batch.mined_at = now
            batch.confirmed_at = now if confirmed else None
            batch.last_error = None
        self._broadcast_at.pop(batch_id, None)
        self._trees.pop(batch_id, None)
        self._backoff.clear(("batch", batch_id))
        log.info("anchoring.mined", batch=batch_id, block=block_number, tx=tx_hash)

    def _mark_failed(self, batch_id: int, error: str, *, gas_used: int | None = None) -> None:
        delay = self._backoff.fail(("batch", batch_id))
        values: dict[str, Any] = {"status": FAILED, "last_error": error}
        if gas_used is not None:
            values["gas_used"] = gas_used
        with transaction(self.sessions) as session:
            session.execute(update(AnchorBatch).where(AnchorBatch.id == batch_id).values(values))
        self._broadcast_at.pop(batch_id, None)
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
        with self.sessions() as session:
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
        with self.sessions() as session:
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
                    unmined.root, from_block=self.deployment_block
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
        """The chain lost the anchoring: anchor the same batch again (records keep proofs)."""
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
        self.state.last_error, self.state.last_error_at = error, datetime.now(UTC)
        log.warning("anchoring.batch_lost", batch=batch.id, root=batch.root, block=lost_at)


class _ClaimedElsewhereError(Exception):
    """Some entries of a batch being formed were claimed by another batch meanwhile."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


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
        select(
            Record.id,
            Record.record_hash,
            Record.batch_id,
            Record.leaf_index,
            Record.proof,
            AnchorQueueEntry.batch_id,
        )
        .outerjoin(AnchorQueueEntry, AnchorQueueEntry.record_id == Record.id)
        .where(Record.id.in_(list(record_ids)))
    ).all()
    batch_ids = {r[2] if r[2] is not None else r[5] for r in rows} - {None}
    batches = {
        b.id: b for b in session.scalars(select(AnchorBatch).where(AnchorBatch.id.in_(batch_ids)))
    }
    result: dict[str, AnchoringStatus] = {}
    for record_id, record_hash, record_batch, leaf_index, proof, queued_batch in rows:
        batch_id = record_batch if record_batch is not None else queued_batch
        batch = batches.get(batch_id) if batch_id is not None else None
        if batch is None:
            result[record_id] = AnchoringStatus(record_id, record_hash, "pending")
            continue
        status = _STATUS_OF_BATCH.get(batch.status, "pending")
        on_chain = status in ("anchored", "confirmed")
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
            proof=list(proof) if proof is not None else None,
            last_error=batch.last_error,
        )
    return result


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


def anchoring_report(
    *, sessions: sessionmaker[Session], worker: AnchorWorker | None
) -> dict[str, Any]:
    """The outbox and the worker, for /readyz; pending records never make Hallmark unready."""
    report: dict[str, Any] = (
        worker.state.to_json() if worker is not None else {"role": "none (no worker here)"}
    )
    try:
        with sessions() as session:
            pending, in_batches, oldest = session.execute(
                select(
                    func.count(),
                    func.count(AnchorQueueEntry.batch_id),
                    func.min(AnchorQueueEntry.enqueued_at),
                )
            ).one()
            failed = session.scalar(
                select(func.count()).select_from(AnchorBatch).where(AnchorBatch.status == FAILED)
            )
    except SQLAlchemyError:
        report["outbox"] = None  # the database section of the report says why
        return report
    age = (datetime.now(UTC) - _utc(oldest)).total_seconds() if oldest is not None else None
    report["outbox"] = {
        "pending": int(pending),
        "in_batches": int(in_batches),
        "oldest_pending_age_seconds": round(age, 3) if age is not None else None,
        "failed_batches": int(failed or 0),
    }
    return report
