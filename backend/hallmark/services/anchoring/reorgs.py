"""Reorgs: batches whose block left the chain are found, and moved or anchored again.

Found by block hash, whatever the head's height does (a node catching up from a minority fork
only ever grows its head). A block hash commits to every block below it, so the check keeps the
tip it last checked, `(height, hash)`, and each cycle:

* the chain still holds that tip (one `eth_getBlockByNumber`): every batch at or below it is
  still on the chain; only batches mined above it, or recorded since, are compared;
* it does not (a reorg, a node restored from an older state): the batches above the old tip are
  compared, then those at or below it, newest first, in pages that double in size, until a
  height whose batches are all still on the chain: below it nothing moved;
* no tip yet (a new leader, a check that failed half-way): the batches above the node's
  `finalized` block (or `reorg_depth` below the head, where the node knows no finalized block)
  are compared, then older ones newest first until one is still on the chain.

So the check costs one request a cycle when nothing moved and grows with the depth of a reorg,
never with the history. A batch whose block is gone is looked up again on its deployment's
ledger (its receipt, then `batchOf` and its BatchAnchored log): re-mined elsewhere by its own
account as its kind and count, it moves to that block; otherwise it goes back to `signed`: same
batch, same root, same records and proofs — only the transaction may change.

Raises:
    ChainError, SQLAlchemyError: the node or the database failed (ends the worker's cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any

import structlog
from hexbytes import HexBytes
from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from hallmark.chain.client import RPC_BATCH_SIZE, BlockRef
from hallmark.config import Settings
from hallmark.services.anchoring.batches import ON_CHAIN, BatchRow, BatchStatus
from hallmark.services.anchoring.readiness import WorkerState
from hallmark.services.anchoring.transactions import Transactions
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch

log = structlog.get_logger(__name__)


class ReorgCheck:
    """Finds the batches a reorg (or a node restored from an older state) took off the chain."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        read_sessions: sessionmaker[Session],
        transactions: Transactions,
        settings: Settings,
        state: WorkerState,
        isolated: Callable[[Hashable, str, Callable[[], object]], bool],
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.transactions = transactions
        self.client = transactions.client
        self.ledger = transactions.ledger
        self.settings = settings
        self.state = state
        #: The worker's isolation: one lost batch's failure backs it off, not the others.
        self.isolated = isolated
        #: The head when the last check began; every batch at or below it was on its chain.
        self._tip: BlockRef | None = None
        self._recent: set[int] = set()

    def forget_tip(self) -> None:
        """Check as a new leader does next time (another process may have anchored meanwhile)."""
        self._tip = None

    def note_mined(self, batch_ids: Sequence[int]) -> None:
        """Batches recorded as mined since the last check: compared next time, whatever their
        height."""
        self._recent.update(batch_ids)

    def check(self) -> tuple[int, frozenset[str]]:
        """Move or send back to `signed` the batches whose block left the chain; the head's
        height and the accounts of the batches sent back (their nonces need resolving)."""
        head = self.client.retrieve_block_ref("latest")
        if head is None:
            return 0, frozenset()
        tip, self._tip = self._tip, None  # set again once this check has finished
        recent, self._recent = self._recent, set()
        try:
            if (
                tip is not None
                and self.client.retrieve_block_hashes([tip.number]).get(tip.number) == tip.hash
            ):
                gone = self._compare(self._rows(above=tip.number, ids=recent))
            else:
                if tip is not None:
                    log.warning("anchoring.fork_seen", tip=tip.number, head=head.number)
                gone = self._walk(head, tip)
            accounts = self._handle_gone(gone)
        except BaseException:
            self._recent |= recent
            raise
        self._tip = head
        return head.number, accounts

    # --- finding what left the chain -------------------------------------------------------
    def _query(self) -> Any:
        return select(
            AnchorBatch.id,
            AnchorBatch.block_number,
            AnchorBatch.block_hash,
            AnchorBatch.tx_hash,
            AnchorBatch.account_address,
        ).where(AnchorBatch.status.in_(ON_CHAIN))

    def _rows(self, *, above: int, ids: set[int] | None = None) -> list[Row[Any]]:
        """Batches on chain above `above`, and those of `ids` wherever they are."""
        condition = AnchorBatch.block_number > above
        if ids:
            condition = condition | AnchorBatch.id.in_(sorted(ids))
        with self.read_sessions() as session:
            return list(session.execute(self._query().where(condition)).all())

    def _compare(self, rows: Sequence[Row[Any]]) -> list[Row[Any]]:
        """The rows whose block hash the chain no longer holds at their height."""
        if not rows:
            return []
        canonical = self.client.retrieve_block_hashes(sorted({r.block_number for r in rows}))
        return [r for r in rows if canonical.get(r.block_number) != r.block_hash]

    def _walk(self, head: BlockRef, tip: BlockRef | None) -> list[Row[Any]]:
        """Batches above the last tip (or the safe height) compared, then older ones newest
        first until a height whose batches are all still on the chain."""
        if tip is not None:
            above = tip.number
        else:
            finalized = self.client.retrieve_block_ref("finalized")
            above = (
                finalized.number
                if finalized is not None
                else max(head.number - self.settings.reorg_depth, 0)
            )
        gone = self._compare(self._rows(above=above))
        upper, page = above, 1
        while True:
            with self.read_sessions() as session:
                heights = [
                    height
                    for height in session.scalars(
                        select(AnchorBatch.block_number)
                        .where(AnchorBatch.status.in_(ON_CHAIN), AnchorBatch.block_number <= upper)
                        .distinct()
                        .order_by(AnchorBatch.block_number.desc())
                        .limit(page)
                    ).all()
                    if height is not None
                ]
                if not heights:
                    return gone
                rows = session.execute(
                    self._query().where(AnchorBatch.block_number.in_(heights))
                ).all()
            canonical = self.client.retrieve_block_hashes(heights)
            for height in heights:  # newest first
                at_height = [r for r in rows if r.block_number == height]
                lost = [r for r in at_height if canonical.get(height) != r.block_hash]
                if not lost:
                    return gone  # this block is on the chain, and so is every block below it
                gone += lost
            upper, page = heights[-1] - 1, min(page * 2, RPC_BATCH_SIZE)

    def _handle_gone(self, gone: Sequence[Row[Any]]) -> frozenset[str]:
        """Move each lost batch to where its root is anchored now, or back to `signed`."""
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
            if not self.isolated(
                ("batch", row.id),
                f"batch {row.id}",
                partial(self._relocate, row, accounts),
            ):
                self._recent.add(row.id)  # looked at again next cycle, whatever the tip
        return frozenset(accounts)

    def _relocate(self, row: Row[Any], accounts: set[str]) -> None:
        """A lost batch: to the block its root is anchored in now, or back to `signed`."""
        with self.sessions() as session:
            batch = session.get(AnchorBatch, row.id)
            assert batch is not None
            lost = BatchRow.of(batch)
        if self.transactions.is_anchored(lost):
            found = self.transactions.find_anchoring(lost)
            # Only the batch's own anchoring (anchorer, kind, count) is moved to; another one is
            # met again, and formed around, when the batch is resolved.
            if found is not None and self.transactions.owns(lost, found):
                self._move_block(row.id, found.tx_hash, found.block_number, found.block_hash)
                return
        self._back_to_signed(lost, lost_at=row.block_number)
        accounts.add(lost.account_address)

    def _move_block(self, batch_id: int, tx_hash: str, block_number: int, block_hash: str) -> None:
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch_id)
                .values(
                    tx_hash=tx_hash,
                    block_number=block_number,
                    block_hash=block_hash,
                    status=(
                        BatchStatus.MINED if self.settings.confirmations else BatchStatus.CONFIRMED
                    ),
                )
            )
        log.warning("anchoring.batch_moved", batch=batch_id, block=block_number)

    def _back_to_signed(self, batch: BatchRow, *, lost_at: int) -> None:
        """The chain lost the anchoring: anchor the same batch again (its records keep their
        batch, so their proofs)."""
        error = f"anchoring lost from the chain at block {lost_at} (reorg or restored node)"
        with transaction(self.sessions) as session:
            session.execute(
                update(AnchorBatch)
                .where(AnchorBatch.id == batch.id)
                .values(
                    status=BatchStatus.SIGNED,
                    tx_hash=HexBytes(Web3.keccak(HexBytes(batch.raw_tx))).to_0x_hex(),
                    block_number=None,
                    block_hash=None,
                    gas_used=None,
                    mined_at=None,
                    confirmed_at=None,
                    last_error=error,
                )
            )
        self.transactions.forget(batch.id)
        self.state.failed(error)
        log.warning("anchoring.batch_lost", batch=batch.id, root=batch.root, block=lost_at)
