"""Reorgs: batches whose block left the chain are found, and moved or anchored again.

Batches mined within `reorg_depth` blocks of the head — every batch on chain after a start, an
error, or when the head went backwards — are compared with the chain's block hashes. A batch
whose block is gone is looked up again (its receipt, then `batchOf` and its BatchAnchored
log): re-mined elsewhere by its own account as its kind and count, it moves to that block;
otherwise it goes back
to `signed`: same batch, same root, same records and proofs — only the transaction may change.

Raises:
    ChainError, SQLAlchemyError: the node or the database failed (ends the worker's cycle).
"""

from __future__ import annotations

import structlog
from hexbytes import HexBytes
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

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
    ) -> None:
        self.sessions = sessions
        self.read_sessions = read_sessions
        self.transactions = transactions
        self.client = transactions.client
        self.ledger = transactions.ledger
        self.settings = settings
        self.state = state

    def check(self, head: int, *, full: bool) -> frozenset[str]:
        """Move or send back to `signed` the batches whose block left the chain; the accounts
        of the batches sent back (their nonces need resolving)."""
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
                lost = BatchRow.of(batch)
            if self.transactions.is_anchored(lost):
                found = self.transactions.find_anchoring(lost)
                # Only the batch's own anchoring (anchorer, kind, count) is moved to; another
                # one is met again, and formed around, when the batch is resolved.
                if found is not None and self.transactions.owns(lost, found):
                    self._move_block(row.id, found.tx_hash, found.block_number, found.block_hash)
                    continue
            self._back_to_signed(lost, lost_at=row.block_number)
            accounts.add(lost.account_address)
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
