"""Anchoring batches: their statuses, their Merkle tree, and a batch row as the worker handles it.

A batch's status moves `signed` → `sent` → `mined` → `confirmed`; a reverted transaction makes it
`failed` until a retry signs it again, and a reorg that loses its block sends it back to
`signed`. A formed batch never changes its records, so neither its root nor their proofs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from hexbytes import HexBytes

from hallmark.core.merkle import StandardMerkleTree
from hallmark.store.models import AnchorBatch


class BatchStatus(StrEnum):
    """Where an anchoring batch stands (the `anchor_batches.status` column)."""

    #: Signed and stored; not broadcast yet, or to be broadcast again.
    SIGNED = "signed"
    #: Broadcast, not mined yet.
    SENT = "sent"
    #: Mined, fewer than `confirmations` blocks on top.
    MINED = "mined"
    #: Mined with `confirmations` blocks on top (at once with 0 confirmations).
    CONFIRMED = "confirmed"
    #: The transaction reverted; retried with backoff while its records stay pending.
    FAILED = "failed"


UNMINED = (BatchStatus.SIGNED, BatchStatus.SENT)
ON_CHAIN = (BatchStatus.MINED, BatchStatus.CONFIRMED)


def batch_tree(
    record_hashes: Sequence[str], salt: str | None = None
) -> tuple[StandardMerkleTree, list[str]]:
    """The batch's tree over its record hashes (and its salt leaf, if it has one) sorted
    ascending, and that order (leaf index).

    Sorting makes the tree a function of the set of records alone, so a batch rebuilt after a
    crash or a reorg has the same root and the same proofs. A batch formed again because its
    root was anchored by another account (or as another kind or count) gets a random salt leaf,
    so its root differs.
    """
    leaves = [*record_hashes, salt] if salt is not None else record_hashes
    ordered = sorted(h.lower() for h in leaves)
    return StandardMerkleTree.of(ordered), ordered


def root_hex(tree: StandardMerkleTree) -> str:
    """The tree's root as stored and anchored: 0x-prefixed lower-case hex."""
    return HexBytes(tree.root).to_0x_hex()


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A batch row, detached from its session, with its current transaction."""

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
    #: The deployment whose ledger the transaction is signed for (None: before histories).
    deployment_id: int | None = None
    salt: str | None = None

    @classmethod
    def of(cls, batch: AnchorBatch) -> BatchRow:
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
            batch.deployment_id,
            batch.salt,
        )
