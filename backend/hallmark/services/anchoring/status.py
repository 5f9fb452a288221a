"""The anchoring read model: where each record stands on its way to the chain, and its proof.

A record is `pending` while it waits in the outbox (or its batch was refused: see `last_error`),
`anchoring` while its batch is signed or sent, `anchored` once mined and `confirmed` with
`confirmations` blocks on top. Each batch names the ledger it is anchored on (its deployment's
address and contracts' version) and, once flagged on chain, the cause and reason. Its proof is
given only once its batch is on chain; it is computed from the batch's record hashes when read
(`batch_proofs`), never stored.

Every record on chain is checked before it is reported: its stored text hashes to its record
hash, its hash is one of its batch's leaves, and its proof leads to its batch's root
(`integrity`).

Raises:
    NotFoundError: `record_status` for an unknown record.
    RecordIntegrityError: a record or batch that fails those checks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.errors import NotFoundError, RecordIntegrityError
from hallmark.services.anchoring import integrity
from hallmark.services.anchoring.batches import BatchStatus
from hallmark.store.models import (
    AccountCompromise,
    AnchorBatch,
    AnchorQueueEntry,
    Deployment,
    Record,
    RecordAnchor,
)


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
    #: The ledger (address, contracts' version) the batch is anchored (or to be anchored) on:
    #: verify there, with `anchorer` and the record's kind on version 2.
    ledger: str | None = None
    contracts_version: str | None = None
    #: Flagged on chain: `flagged` (by its organisation) or `compromised` (its account), the
    #: reason code and when it was recorded.
    flag_cause: str | None = None
    flag_reason: int | None = None
    flagged_at: datetime | None = None


#: A record's status, by its batch's status.
_STATUS_OF_BATCH: dict[str, str] = {
    BatchStatus.SIGNED: "anchoring",
    BatchStatus.SENT: "anchoring",
    BatchStatus.MINED: "anchored",
    BatchStatus.CONFIRMED: "confirmed",
    BatchStatus.FAILED: "pending",
}


def records_status(*, session: Session, record_ids: Sequence[str]) -> dict[str, AnchoringStatus]:
    """The anchoring status of each known record id (unknown ids are left out)."""
    rows = session.execute(
        select(
            Record.id,
            Record.record_hash,
            RecordAnchor.batch_id,
            AnchorQueueEntry.batch_id,
            Record.canonical,
        )
        .outerjoin(RecordAnchor, RecordAnchor.record_id == Record.id)
        .outerjoin(AnchorQueueEntry, AnchorQueueEntry.record_id == Record.id)
        .where(Record.id.in_(list(record_ids)))
    ).all()
    batch_ids = {r[2] if r[2] is not None else r[3] for r in rows} - {None}
    batches = {
        b.id: b for b in session.scalars(select(AnchorBatch).where(AnchorBatch.id.in_(batch_ids)))
    }
    deployment_ids = {b.deployment_id for b in batches.values()} - {None}
    ledgers = {
        d.id: (str(d.contracts["ProvenanceLedger"]["address"]), d.version)
        for d in session.scalars(select(Deployment).where(Deployment.id.in_(deployment_ids)))
    }
    accounts = {b.account_address for b in batches.values()}
    compromises = {
        (c.deployment_id, c.account_address): c
        for c in session.scalars(
            select(AccountCompromise).where(AccountCompromise.account_address.in_(accounts))
        )
    }
    statuses: dict[str, AnchoringStatus] = {}
    for record_id, record_hash, anchored_batch, queued_batch, canonical in rows:
        integrity.check_text(record_id, canonical, record_hash)
        batch_id = anchored_batch if anchored_batch is not None else queued_batch
        batch = batches.get(batch_id) if batch_id is not None else None
        if batch is None:
            statuses[record_id] = AnchoringStatus(record_id, record_hash, "pending")
            continue
        status = _STATUS_OF_BATCH.get(batch.status, "pending")
        on_chain = status in ("anchored", "confirmed")
        leaf_index: int | None = None
        proof: list[str] | None = None
        if on_chain:  # a record's batch is final once formed; its proof counts once on chain
            found = batch_proofs(session, batch.id, batch.root).get(record_hash.lower())
            if found is None:
                raise integrity.failed(
                    RecordIntegrityError(
                        record_id, f"its hash is not a leaf of batch {batch.id}", batch_id=batch.id
                    )
                )
            leaf_index, proof = found[0], list(found[1])
            integrity.check_proof(record_id, record_hash, batch.root, proof)
        ledger: str | None = None
        version: str | None = None
        if batch.deployment_id is not None and batch.deployment_id in ledgers:
            ledger, version = ledgers[batch.deployment_id]
        flag_cause, flag_reason, flagged_at = batch.flag_cause, batch.flag_reason, batch.flagged_at
        compromise = compromises.get((batch.deployment_id or 0, batch.account_address))
        if (
            flag_cause is None
            and compromise is not None
            and on_chain
            and (batch.block_number or 0) >= compromise.from_block
        ):
            flag_cause, flag_reason = "compromised", compromise.reason
            flagged_at = compromise.marked_at
        statuses[record_id] = AnchoringStatus(
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
            ledger=ledger,
            contracts_version=version,
            flag_cause=flag_cause,
            flag_reason=flag_reason,
            flagged_at=flagged_at,
        )
    return statuses


def record_status(*, session: Session, record_id: str) -> AnchoringStatus:
    """The anchoring status of one record.

    Raises:
        NotFoundError: no record has this id.
    """
    found = records_status(session=session, record_ids=[record_id]).get(record_id)
    if found is None:
        raise NotFoundError("record", record_id)
    return found


def batch_proofs(
    session: Session, batch_id: int, root: str
) -> Mapping[str, tuple[int, tuple[str, ...]]]:
    """Each record of a batch, by its hash (lower case): its leaf index and its proof.

    The tree is built again from the hashes of the batch's records (a set of hashes makes one
    tree: `batch_tree`) and must give the batch's root. A formed batch never changes, so the
    proofs of the batches read last are kept (`_PROOFS`).

    Raises:
        RecordIntegrityError: the batch's records do not make its root.
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
    salt = session.scalar(select(AnchorBatch.salt).where(AnchorBatch.id == batch_id))
    tree, ordered = integrity.check_batch(batch_id, root, hashes, salt)
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
