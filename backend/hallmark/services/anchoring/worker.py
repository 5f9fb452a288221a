"""The anchoring worker: drains the records outbox into Merkle roots anchored on chain, durably.

Accepting a record commits it and its outbox entry in one transaction (`outbox`). The worker
turns the outbox into anchored batches. Only the leader anchors (`leadership`); every step below
starts from what the database says, so a worker killed at any point resumes where it stopped.

Flow of one cycle (`AnchorWorker.run_once`):
1. Reorgs (`reorgs`): batches whose block left the chain — found by block hash, from the tip the
   last check saw, never by the head's height alone — are moved to their new block or sent back
   to `signed` (same batch, same root, same records and proofs).
2. Unmined batches (`signed`, `sent`): receipts are fetched in one JSON-RPC batch. A batch
   never broadcast, or unmined for long, or any batch after a restart is resolved per account
   in nonce order: re-broadcast the same raw transaction (idempotent) while its nonce is the
   account's next one; re-sign it with a fresh nonce when its nonce was consumed without it
   (and the ledger holds no batch of its account and root) or sits behind a nonce gap; replace
   it with higher fees when it waited unmined longer than `fee_bump_after` (`transactions`).
   Whichever transaction of a nonce is mined, the batch adopts it (the adoption rule of step
   5). A batch is looked up on the ledger of its own deployment.
3. Failed batches whose backoff elapsed are simulated (`eth_call`); once `anchor` would pass
   they are re-signed with a fresh nonce and sent again.
4. Form (`forming`): every due group of the outbox is signed, stored and broadcast as batches.
5. Receipts (`mined`): block number and hash, gas used — one transaction for all the batches
   mined. (Entries claimed by an earlier version of the worker, which kept them in the outbox
   until the receipt, join `record_anchors` and leave the outbox then.) A reverted receipt
   is replayed with `eth_call` and decoded: RootAlreadyAnchored means the root is on chain
   already, and the batch adopts that anchoring only when its anchorer, kind and count are what
   the batch signed; otherwise (a root copied from the mempool by another account, or anchored
   as another kind or count) the batch is formed again with a random salt leaf, so its root
   differs, and `last_error` and the log (`anchoring.reformed`) say so. Anything else marks the
   batch `failed` with the error's name and arguments in `last_error`, retried with capped
   exponential backoff while its records stay pending.
6. `confirmed` once `confirmations` blocks are on top (at once with 0, the local default).

Failures are isolated: what goes wrong with one batch (a log the node pruned, a revert that
cannot be decoded) or one organisation (a key that does not decrypt, an account the node
refuses) backs that batch or organisation off with capped exponential backoff and is noted in
`last_error`; the cycle goes on and forming always runs. A node or database error ends the
cycle; the worker backs off exponentially (capped at `anchor_retry_max`, at least what a
rate-limited node asked) and the next cycle resolves every account's unmined batches again (the
reorg check keeps its tip: an error costs no history). Writes are accepted meanwhile and shown
as pending. The records' anchoring status is read by `status`, the worker's part of
/readyz by `readiness`.

Raises:
    Nothing: errors are logged, kept in `state.last_error` and retried.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import Receipt
from hallmark.chain.ledger import Ledger
from hallmark.config import Settings
from hallmark.core.backoff import Backoff
from hallmark.core.errors import (
    ChainError,
    ChainRateLimitedError,
    ChainUnavailableError,
    ContractRevertError,
    HallmarkError,
    RootAlreadyAnchoredError,
    first_line,
)
from hallmark.services.anchoring import outbox
from hallmark.services.anchoring.batches import UNMINED, BatchRow, BatchStatus
from hallmark.services.anchoring.forming import BatchFormer
from hallmark.services.anchoring.leadership import LeaderLock
from hallmark.services.anchoring.readiness import WorkerState
from hallmark.services.anchoring.reorgs import ReorgCheck
from hallmark.services.anchoring.transactions import Transactions
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch

log = structlog.get_logger(__name__)

#: Longest pause between two cycles (new records, receipts and reorgs are noticed this fast).
MAX_POLL = 0.5
#: Failures of the node or the database as a whole: they end the cycle (everything waits).
CYCLE_ERRORS: tuple[type[Exception], ...] = (ChainUnavailableError, SQLAlchemyError)


@dataclass(frozen=True, slots=True)
class _Mined:
    """A batch's mining, as its receipt (or its BatchAnchored log) tells it."""

    batch_id: int
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int | None = None
    #: The deployment whose ledger holds the anchoring.
    deployment_id: int | None = None


class AnchorWorker:
    """Drains the outbox into anchored batches; `start()` runs it in a thread.

    Collaborators: `sessions` (the database; `read_sessions` for reads), `ledger` (on a chain
    client of its own), `leader` (the lock only one process holds), `settings` (intervals,
    sizes, confirmations, passphrase), `chain_id` and `deployment_block` from the deployment
    record; `deployment_id` (the current deployment, whose `ledger` new batches use) and
    `ledgers` (the ledger of an earlier deployment, by id: its batches are looked up there).
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
        deployment_id: int | None = None,
        ledgers: Callable[[int], Ledger] | None = None,
    ) -> None:
        self.sessions = sessions
        #: Sessions for reads that precede no write of theirs (SQLite: a snapshot that does not
        #: queue for the write lock while the store thread writes).
        self.read_sessions = read_sessions or sessions
        self.ledger = ledger
        self.client = ledger.client
        self.leader = leader
        self.settings = settings
        self.state = WorkerState(lock=leader.kind)
        self.poll = min(settings.anchor_interval / 4, MAX_POLL)
        self._backoff = Backoff(base=0.5, cap=settings.anchor_retry_max)
        self.transactions = Transactions(
            sessions=sessions,
            ledger=ledger,
            settings=settings,
            chain_id=chain_id,
            deployment_block=deployment_block,
            state=self.state,
            backoff=self._backoff,
            deployment_id=deployment_id,
            ledgers=ledgers,
        )
        self.former = BatchFormer(
            sessions=sessions,
            read_sessions=self.read_sessions,
            transactions=self.transactions,
            settings=settings,
            backoff=self._backoff,
            poll=self.poll,
            isolated=self.isolated,
        )
        self.reorgs = ReorgCheck(
            sessions=sessions,
            read_sessions=self.read_sessions,
            transactions=self.transactions,
            settings=settings,
            state=self.state,
            isolated=self.isolated,
        )
        self._last_head: int | None = None
        #: Resolve every account's unmined batches in the next cycle (start, new lead, error).
        self._recover = True
        #: Batches `failed` at the last look (their errors are not history yet).
        self._failed_batches = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Steps other domains run after each cycle while this worker leads (e.g. filing
        #: designs once their commitments are anchored), each isolated like a batch.
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def add_step(self, name: str, step: Callable[[], object]) -> None:
        """Run `step` after each cycle while leading (its failures back it off alone)."""
        self._steps.append((name, step))

    def report(self) -> dict[str, Any]:
        """What /readyz shows of this worker (`WorkerState.to_json()`)."""
        return self.state.to_json()

    # --- process ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run the worker in a daemon thread until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.state.role, self.state.since = "starting", datetime.now(UTC)
        self._thread = threading.Thread(target=self.run, name="anchoring-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> bool:
        """Finish the current cycle, give up the lead, stop; whether the loop ended within
        `timeout` seconds (if not, it still ends after its cycle, and says so in the log)."""
        self._stop.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            if not stopped:
                log.warning("anchoring.stop_timed_out", seconds=timeout)
            self._thread = None
        self.former.stop()
        return stopped

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
            if not self.leader.acquire() and not self._take_over_stalled():
                if self.state.role != "standby":
                    self.state.role, self.state.since = "standby", datetime.now(UTC)
                    log.info("anchoring.standby", lock=self.leader.kind)
                return self.settings.worker_standby_interval
            self.state.role, self.state.since = "leader", datetime.now(UTC)
            # Another leader may have used nonces and mined batches meanwhile: start afresh.
            self.transactions.new_lead()
            self.reorgs.forget_tip()
            self._recover = True
            log.info("anchoring.leader", lock=self.leader.kind)
        self.leader.beat()
        try:
            wait = self.run_once()
        except (HallmarkError, SQLAlchemyError) as exc:
            return self._cycle_failed(exc)
        except Exception as exc:  # the worker must outlive any bug in one cycle
            log.exception("anchoring.cycle_crashed")
            return self._cycle_failed(exc)
        self._backoff.clear("cycle")
        return wait

    def _take_over_stalled(self) -> bool:
        """A holder of the lock that no longer leads (no heartbeat for worker_takeover_after
        seconds) is ended and the lead taken; whether it was."""
        stalled = self.leader.stalled_holder(self.settings.worker_takeover_after)
        if stalled is None:
            return False
        log.error("anchoring.leader_stalled", holder=stalled, lock=self.leader.kind)
        taken = self.leader.take_over()
        if taken:
            log.warning("anchoring.took_over", replaced=stalled)
        return taken

    def isolated(self, key: Hashable, what: str, work: Callable[[], object]) -> bool:
        """Run `work` for one batch or organisation (`key` its backoff key); False when it
        failed on its own: `key` backs off, the error is noted, the cycle goes on. Node and
        database failures (`CYCLE_ERRORS`) end the cycle. Work that succeeds without counting a
        failure of `key` itself clears `key`'s backoff."""
        failures = self._backoff.failures(key)
        try:
            work()
        except CYCLE_ERRORS:
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, HallmarkError) else first_line(exc)
            delay = self._backoff.fail(key)
            self.state.failed(f"{what}: {message}")
            if not isinstance(exc, HallmarkError):  # a bug: keep its traceback
                log.exception("anchoring.isolated_crash", what=what)
            log.warning("anchoring.isolated", what=what, error=message, retry_in=round(delay, 2))
            return False
        if failures and self._backoff.failures(key) == failures:
            self._backoff.clear(key)
        return True

    def _cycle_failed(self, exc: Exception) -> float:
        message = exc.message if isinstance(exc, HallmarkError) else first_line(exc)
        delay = self._backoff.fail("cycle")
        if isinstance(exc, ChainRateLimitedError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)  # what the endpoint asked for, at least
        self.state.failed(message)
        self._recover = True
        log.warning("anchoring.cycle_failed", error=message, retry_in=round(delay, 2))
        return delay

    # --- one cycle -------------------------------------------------------------------------
    def run_once(self) -> float:
        """One cycle (see the module docstring); seconds until the next one is useful."""
        self.transactions.new_cycle()
        failures = self.state.failures
        checked: list[tuple[int, frozenset[str]]] = []
        # Each step before forming is isolated too: whatever it meets, forming runs.
        self.isolated("reorgs", "reorg check", lambda: checked.append(self.reorgs.check()))
        head, lost_accounts = checked[0] if checked else (None, frozenset[str]())
        recover = self._recover or (
            head is not None and self._last_head is not None and head < self._last_head
        )
        self.isolated(
            "unmined",
            "unmined batches",
            partial(self._advance_unmined, recover=recover, accounts=lost_accounts),
        )
        self._retry_failed()
        wait = self.former.form()
        self._advance_unmined(recover=False)
        head = self.client.retrieve_block_number()
        self._confirm(head)
        for name, step in self._steps:
            if self._backoff.ready(("step", name)):
                self.isolated(("step", name), name, step)
        self._last_head = head
        self._recover = not checked  # a failed check: every account is resolved next time
        self.state.last_cycle_at = datetime.now(UTC)
        if (
            self.state.failures == failures
            and not self._failed_batches
            and not self._backoff.failing(but="cycle")
        ):
            self.state.recovered()  # nothing fails any more: /readyz shows no stale error
        return wait

    # --- receipts, recovery ----------------------------------------------------------------
    def _advance_unmined(self, *, recover: bool, accounts: frozenset[str] = frozenset()) -> None:
        """Receipts for signed/sent batches; resolve the accounts whose batches need it."""
        with self.read_sessions() as session:
            rows = [
                BatchRow.of(b)
                for b in session.scalars(
                    select(AnchorBatch).where(AnchorBatch.status.in_(UNMINED))
                ).all()
            ]
        if not rows:
            return
        receipts = self.client.retrieve_receipts([b.tx_hash for b in rows])
        waiting: dict[str, list[BatchRow]] = defaultdict(list)
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
                            batch.deployment_id,
                        )
                    )
                elif self._backoff.ready(("batch", batch.id)):
                    self.isolated(
                        ("batch", batch.id),
                        f"batch {batch.id}",
                        partial(self._on_reverted, batch, receipt),
                    )
                continue
            waiting[batch.account_address].append(batch)
            stale = self.transactions.waited_long(batch.id, now)
            if recover or batch.status == BatchStatus.SIGNED or stale:
                needs_resolve.add(batch.account_address)
        # One transaction for every batch mined since the last look: on SQLite each write
        # transaction waits its turn at the one write lock.
        self._mark_mined(mined)
        for address in needs_resolve & waiting.keys():
            if self._backoff.ready(("account", address)):
                batches = sorted(waiting[address], key=lambda b: b.nonce)
                self.isolated(
                    ("account", address),
                    f"account {address}",
                    partial(self._resolve_account, address, batches),
                )

    def _resolve_account(self, address: str, batches: list[BatchRow]) -> None:
        """Re-broadcast in nonce order; re-sign what lost its nonce; fill a nonce gap.

        A nonce below the account's waiting transactions that no batch holds (handed out, its
        batch never stored) is filled with a transfer of nothing to the account itself, so the
        transactions queued behind it are mined as they are. Re-signing them with fresh nonces
        instead would leave the queued copies in the node's pool, mineable as duplicates once
        the gap closes."""
        transactions = self.transactions
        with transactions.nonces.lock(address):
            latest = self.client.retrieve_nonce(address, "latest")
            expected = latest
            resign: list[BatchRow] = []
            adopt: list[BatchRow] = []
            for batch in batches:
                if batch.nonce < latest:
                    # Its nonce was consumed: by this very transaction (the root is anchored),
                    # or by another one.
                    if transactions.is_anchored(batch):
                        adopt.append(batch)
                    else:
                        resign.append(batch)
                else:
                    while expected < batch.nonce:  # a gap: no batch holds this nonce
                        transactions.fill_gap(batch.organisation_id, expected)
                        expected += 1
                    if transactions.replacement_due(batch):
                        transactions.replace(batch)
                    else:
                        transactions.broadcast(batch)
                    expected += 1
            transactions.nonces.reset(address, expected)
            for batch in resign:
                transactions.resign(batch)
            # After the nonces are settled: an anchoring that is not the batch's own makes it
            # formed again, with a fresh nonce.
            for batch in adopt:
                if self._backoff.ready(("batch", batch.id)):
                    self.isolated(
                        ("batch", batch.id), f"batch {batch.id}", partial(self._adopt, batch)
                    )

    def _on_reverted(self, batch: BatchRow, receipt: Receipt) -> None:
        """A mined transaction that reverted: anchored meanwhile by another (adopt it), or
        failed."""
        try:
            self.transactions.check_anchor(batch, block=receipt.block_number)
        except RootAlreadyAnchoredError:
            self._adopt(batch)
            return
        except ContractRevertError as exc:
            error = exc.signature
        except CYCLE_ERRORS:
            raise
        except ChainError as exc:  # the replay fails as the transaction did (e.g. out of gas)
            error = exc.message
        else:
            error = f"reverted without a custom error (gas used {receipt.gas_used})"
        self._mark_failed(batch.id, error, gas_used=receipt.gas_used)

    def _adopt(self, batch: BatchRow) -> None:
        """The root is anchored on chain: take that anchoring as the batch's if its anchorer,
        kind and count are the batch's; otherwise form the batch again (its root changes)."""
        found = self.transactions.find_anchoring(batch)
        if found is None:
            raise HallmarkError(f"root {batch.root} is anchored but its BatchAnchored log is gone")
        if not self.transactions.owns(batch, found):
            with self.transactions.nonces.lock(batch.account_address):
                self.transactions.reform(batch, found)
            return
        self._mark_mined(
            [
                _Mined(
                    batch.id,
                    found.tx_hash,
                    found.block_number,
                    found.block_hash,
                    deployment_id=batch.deployment_id,
                )
            ]
        )

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
        with transaction(self.sessions) as session:
            outbox.adopt_legacy_entries(session, [batch.batch_id for batch in batches])
            session.execute(
                update(AnchorBatch),
                [
                    {
                        "id": batch.batch_id,
                        "status": BatchStatus.CONFIRMED if confirmed else BatchStatus.MINED,
                        "tx_hash": batch.tx_hash,
                        "block_number": batch.block_number,
                        "block_hash": batch.block_hash,
                        "gas_used": batch.gas_used,
                        "deployment_id": batch.deployment_id,
                        "mined_at": now,
                        "confirmed_at": now if confirmed else None,
                    }
                    for batch in batches
                ],
            )
            # The error is over, except a re-forming's note (why its root is not the first).
            session.execute(
                update(AnchorBatch)
                .where(
                    AnchorBatch.id.in_([batch.batch_id for batch in batches]),
                    AnchorBatch.salt.is_(None),
                    AnchorBatch.last_error.is_not(None),
                )
                .values(last_error=None)
            )
        self.reorgs.note_mined([batch.batch_id for batch in batches])
        for batch in batches:
            self.transactions.forget(batch.batch_id)
            self._backoff.clear(("batch", batch.batch_id))
            log.info(
                "anchoring.mined", batch=batch.batch_id, block=batch.block_number, tx=batch.tx_hash
            )

    def _mark_failed(self, batch_id: int, error: str, *, gas_used: int | None = None) -> None:
        delay = self._backoff.fail(("batch", batch_id))
        values: dict[str, Any] = {"status": BatchStatus.FAILED, "last_error": error}
        if gas_used is not None:
            values["gas_used"] = gas_used
        with transaction(self.sessions) as session:
            session.execute(update(AnchorBatch).where(AnchorBatch.id == batch_id).values(values))
        self.transactions.forget(batch_id)
        self.state.failed(error)
        log.warning("anchoring.failed", batch=batch_id, error=error, retry_in=round(delay, 2))

    def _retry_failed(self) -> None:
        """Failed batches whose backoff elapsed: anchor again once a simulation passes."""
        with self.read_sessions() as session:
            failed = [
                BatchRow.of(b)
                for b in session.scalars(
                    select(AnchorBatch)
                    .where(AnchorBatch.status == BatchStatus.FAILED)
                    .order_by(AnchorBatch.id)
                ).all()
            ]
        self._failed_batches = len(failed)
        for failed_batch in failed:
            if self._backoff.ready(("batch", failed_batch.id)):
                # Signed again, it goes to the current deployment: simulate (and adopt) there.
                batch = replace(failed_batch, deployment_id=self.transactions.deployment_id)
                self.isolated(("batch", batch.id), f"batch {batch.id}", partial(self._retry, batch))

    def _retry(self, batch: BatchRow) -> None:
        try:
            self.transactions.check_anchor(batch)
        except RootAlreadyAnchoredError:
            self._adopt(batch)
            return
        except ContractRevertError as exc:
            self._mark_failed(batch.id, exc.signature)
            return
        except CYCLE_ERRORS:
            raise
        except ChainError as exc:  # the simulation fails without a custom error (out of gas)
            self._mark_failed(batch.id, exc.message)
            return
        with self.transactions.nonces.lock(batch.account_address):
            self.transactions.resign(batch)

    # --- confirmations ---------------------------------------------------------------------
    def _confirm(self, head: int) -> None:
        if self.settings.confirmations == 0:
            return
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(
                    AnchorBatch.status == BatchStatus.MINED,
                    AnchorBatch.block_number <= head - self.settings.confirmations,
                )
                .values(status=BatchStatus.CONFIRMED, confirmed_at=datetime.now(UTC))
            )
