"""Forming batches: the outbox's due groups, signed, stored and broadcast as a pipeline.

Pending entries are grouped per (organisation, kind); a group is due at `anchor_batch_size`
entries or when its oldest entry is about `anchor_interval` old. The batch's record hashes, sorted
ascending, make a StandardMerkleTree (`batch_tree`); its `anchor(root, kind, count)` transaction
is signed (`Transactions.sign`), then ONE transaction stores the batch row (`signed`, raw tx, tx
hash, nonce), takes the batch's entries out of the outbox (all of them or none: no record goes
into two batches) and puts each record in the batch (`record_anchors`). Batches signed while a
store waits for the database are stored together. Then the raw transactions are broadcast
(`sent`). Every due batch is signed and sent before any receipt is awaited.

Raises:
    ChainError, SQLAlchemyError: the node or the database failed (ends the worker's cycle; what
    was stored stays `signed` and is sent by the next look at unmined batches).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Generator, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, sessionmaker

from hallmark.config import Settings
from hallmark.core.backoff import Backoff
from hallmark.core.times import utc
from hallmark.services.anchoring import outbox
from hallmark.services.anchoring.batches import BatchRow, BatchStatus, batch_tree, root_hex
from hallmark.services.anchoring.transactions import Transactions
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch

log = structlog.get_logger(__name__)

#: At most this many batches are stored in one transaction.
MAX_STORE_GROUP = 16


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


class _ClaimedElsewhereError(Exception):
    """Some entries of a batch being formed were claimed by another batch meanwhile."""


class BatchFormer:
    """Forms, stores and sends the due batches of one worker (see the module docstring)."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        read_sessions: sessionmaker[Session],
        transactions: Transactions,
        settings: Settings,
        backoff: Backoff,
        poll: float,
        isolated: Callable[[Hashable, str, Callable[[], object]], bool],
    ) -> None:
        self.sessions = sessions
        #: The worker's isolation: one organisation's failure backs it off, not the others.
        self.isolated = isolated
        self.read_sessions = read_sessions
        self.transactions = transactions
        self.settings = settings
        self.backoff = backoff
        self.poll = poll
        #: Stores signed batches while the next one is signed (see `_sign_store_send`).
        self._store_pool: ThreadPoolExecutor | None = None

    def stop(self) -> None:
        """Let the store threads end."""
        if self._store_pool is not None:
            self._store_pool.shutdown(wait=True)
            self._store_pool = None

    def form(self) -> float:
        """Sign, store and send every due batch; seconds until the next group falls due."""
        interval, size = self.settings.anchor_interval, self.settings.anchor_batch_size
        now = datetime.now(UTC)
        with self.read_sessions() as session:
            groups = outbox.waiting_groups(session)
        wait = self.poll
        due: list[_DueGroup] = []
        for organisation_id, kind, count, oldest in groups:
            age = (now - utc(oldest)).total_seconds()
            # Due a poll early, so that no record waits longer than anchor_interval.
            time_due = age >= interval - self.poll
            if count < size and not time_due:
                wait = min(wait, max(interval - self.poll - age, 0.01))
                continue
            key = ("organisation", organisation_id)
            accounts: list[LocalAccount] = []
            if not self.backoff.ready(key) or not self.isolated(
                key,
                f"organisation {organisation_id}",
                partial(self._account_into, organisation_id, accounts),
            ):
                continue  # its key does not decrypt (or it is gone): the others go on
            account = accounts[0]
            if not self.backoff.ready(("account", account.address)):
                continue
            due.append(_DueGroup(organisation_id, kind, account, time_due, count // size + 1))
        self.transactions.mark_sent(self._sign_store_send(due))
        return wait

    def _account_into(self, organisation_id: str, accounts: list[LocalAccount]) -> None:
        accounts.append(self.transactions.account(organisation_id))

    def _sign_store_send(self, due: list[_DueGroup]) -> list[int]:
        """Every due batch: signed here, stored by the store threads, then broadcast; the ids
        of the batches sent.

        A pipeline: while batches are stored (one transaction per group of batches: their rows,
        the claims, their records' `record_anchors` rows; the database works and the GIL is
        free), the next ones are selected, hashed and signed here. The batches signed while a
        store waits go to the next store together: under load (on SQLite the API's writers hold
        the one write lock for most of the time) each turn at the lock stores every batch
        ready, instead of one turn per batch. On PostgreSQL two groups are stored at a time
        (the server updates their records on two cores). Groups are broadcast in the order they
        were signed, each once its transaction has committed, so an account's transactions go
        out in nonce order. When a store fails, nothing more is stored this cycle: the batches
        signed meanwhile are dropped and their nonces handed out again; a later group whose
        store had begun may commit, and is then `signed`: the look at unmined batches (run
        again right after forming) broadcasts or re-signs it in nonce order.
        """
        sent: list[int] = []
        depth = self._store_depth()
        store = self._store_threads(depth)
        signed_batches = self._signed_batches(due)
        inflight: deque[tuple[list[_Signed], Future[list[int] | None]]] = deque()
        waiting: list[_Signed] = []  # signed, not handed to a store thread (yet)
        failed = False
        try:
            with self.transactions.pending_nonces_once():
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
            signed_batches.close()
            while inflight:
                # After a failure or an error: let the stores end. A group committed is
                # `signed`, and the look at unmined batches broadcasts (or re-signs) it in
                # nonce order.
                with contextlib.suppress(Exception):
                    self._finish_store(*inflight.popleft())
            self._give_back(waiting)
        return sent

    def _give_back(self, batches: Sequence[_Signed]) -> None:
        """Hand the nonces of batches that were signed but not stored out again."""
        for batch in batches:
            self.transactions.nonces.reset(batch.account.address, batch.nonce)

    def _finish_and_send(
        self, stored: tuple[list[_Signed], Future[list[int] | None]], sent: list[int]
    ) -> bool:
        """Wait for a group's store and broadcast its batches; False when its entries were
        claimed elsewhere (nothing stored)."""
        batches = self._finish_store(*stored)
        if batches is None:
            return False
        for batch in batches:
            if self.transactions.broadcast(batch, defer_status=True):
                sent.append(batch.id)
        return True

    def _signed_batches(self, due: list[_DueGroup]) -> Generator[_Signed, None, None]:
        """The due batches of each group in turn, signed, each with the next nonce of its
        organisation's account (reset by the consumer when the batch is not stored)."""
        size = self.settings.anchor_batch_size
        for group in due:
            after: int | None = None
            for _ in range(group.batches):
                # `after`: the group's previous batch may still be being stored.
                with self.read_sessions() as session:
                    entries = outbox.first_entries(
                        session, group.organisation_id, group.kind, limit=size, after=after
                    )
                if not entries or (len(entries) < size and not group.time_due):
                    break
                yield self._sign(group, entries)
                after = entries[-1].seq

    def _sign(self, group: _DueGroup, entries: Sequence[Row[int, str, str]]) -> _Signed:
        """The batch of these outbox entries: its root, its transaction."""
        tree, _ = batch_tree([hash_ for _, _, hash_ in entries])
        root = root_hex(tree)
        address = group.account.address
        nonces = self.transactions.nonces
        with nonces.lock(address):
            nonce = nonces.allocate(address)
            try:
                transaction_ = self.transactions.sign(
                    group.account, root=root, kind=group.kind, count=len(entries), nonce=nonce
                )
            except BaseException:
                nonces.release(address, nonce)
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
        batch's entries were claimed elsewhere (nothing stored)."""
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
                            status=BatchStatus.SIGNED,
                            account_address=batch.account.address,
                            nonce=batch.nonce,
                            tx_hash=batch.tx_hash,
                            raw_tx=batch.raw_tx,
                            attempts=1,
                            deployment_id=self.transactions.deployment_id,
                        )
                        .returning(AnchorBatch.id)
                    ).scalar_one()
                    # The claim: the entries leave the outbox in the transaction that stores
                    # the batch, so no record goes into two batches, whatever else runs.
                    if not outbox.claim_entries(
                        session, batch.organisation_id, batch.kind, batch.seqs
                    ):
                        raise _ClaimedElsewhereError
                    outbox.write_anchors(session, batch_id, batch.record_ids)
                    ids.append(batch_id)
        except _ClaimedElsewhereError:
            return None
        return ids

    def _finish_store(
        self, batches: list[_Signed], stored: Future[list[int] | None]
    ) -> list[BatchRow] | None:
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
        rows: list[BatchRow] = []
        for batch_id, batch in zip(batch_ids, batches, strict=True):
            log.info(
                "anchoring.signed",
                batch=batch_id,
                root=batch.root,
                records=len(batch.seqs),
                nonce=batch.nonce,
            )
            rows.append(
                BatchRow(
                    batch_id,
                    batch.organisation_id,
                    batch.kind,
                    batch.root,
                    len(batch.seqs),
                    BatchStatus.SIGNED,
                    batch.account.address,
                    batch.nonce,
                    batch.tx_hash,
                    batch.raw_tx,
                    self.transactions.deployment_id,
                )
            )
        return rows
