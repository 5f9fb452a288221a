"""The anchoring outbox: records accepted and waiting for a batch, and how they leave it.

Accepting a record commits it and its outbox entry (`AnchorQueueEntry`) in one transaction
(`hallmark.store.records`). The entries of one organisation and record kind wait in `seq` order;
the worker reads them in groups, and the transaction that stores a batch takes its entries out of
the outbox (`claim_entries`, all of them or none) and puts its records in the batch
(`write_anchors`, one `record_anchors` row each).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, any_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from hallmark.core.errors import HallmarkError
from hallmark.services.anchoring.batches import batch_tree, root_hex
from hallmark.store.bulk import bulk_insert
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Base, RecordAnchor

_RECORD_ANCHORS = Base.metadata.tables[RecordAnchor.__tablename__]


def waiting_groups(session: Session) -> Sequence[Row[str, str, int, datetime]]:
    """Each (organisation, kind) with entries waiting: how many, and when the oldest came."""
    return session.execute(
        select(
            AnchorQueueEntry.organisation_id,
            AnchorQueueEntry.kind,
            func.count(),
            func.min(AnchorQueueEntry.enqueued_at),
        )
        .where(AnchorQueueEntry.batch_id.is_(None))
        .group_by(AnchorQueueEntry.organisation_id, AnchorQueueEntry.kind)
    ).all()


def first_entries(
    session: Session, organisation_id: str, kind: str, *, limit: int, after: int | None = None
) -> Sequence[Row[int, str, str]]:
    """The first `limit` waiting entries of one organisation and kind (seq, record id, record
    hash), by ascending `seq`; with `after`, those beyond that seq."""
    query = (
        select(AnchorQueueEntry.seq, AnchorQueueEntry.record_id, AnchorQueueEntry.record_hash)
        .where(
            AnchorQueueEntry.organisation_id == organisation_id,
            AnchorQueueEntry.kind == kind,
            AnchorQueueEntry.batch_id.is_(None),
        )
        .order_by(AnchorQueueEntry.seq)
        .limit(limit)
    )
    if after is not None:
        query = query.where(AnchorQueueEntry.seq > after)
    return session.connection().execute(query).all()


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


def adopt_legacy_entries(session: Session, batch_ids: Sequence[int]) -> None:
    """Batches whose entries an earlier version of the worker left in the outbox (claimed, kept
    until the receipt): their records join `record_anchors` now, and the entries leave the
    outbox, in the caller's transaction.

    Raises:
        HallmarkError: a batch's records do not make its root.
    """
    legacy: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for batch_id, record_id, record_hash in session.execute(
        select(
            AnchorQueueEntry.batch_id, AnchorQueueEntry.record_id, AnchorQueueEntry.record_hash
        ).where(AnchorQueueEntry.batch_id.in_(batch_ids))
    ):
        if batch_id is not None:
            legacy[batch_id].append((record_id, record_hash))
    for batch_id, entries in legacy.items():
        root = session.scalar(select(AnchorBatch.root).where(AnchorBatch.id == batch_id))
        tree, ordered = batch_tree([h for _, h in entries])
        if len(ordered) != len(entries) or root_hex(tree) != root:
            raise HallmarkError(f"batch {batch_id}: its records do not make its root")
        write_anchors(session, batch_id, [record_id for record_id, _ in entries])
        session.execute(delete(AnchorQueueEntry).where(AnchorQueueEntry.batch_id == batch_id))
