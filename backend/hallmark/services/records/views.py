"""Stored records read back: their documents, references, and where each stands on chain.

Records are looked up by id in chunks (`IN (...)` lists of at most `CHUNK` values); their
anchoring status comes from the anchoring read model (`hallmark.services.anchoring.status`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.errors import RecordIntegrityError
from hallmark.core.times import utc
from hallmark.services.access.keys import Actor
from hallmark.services.anchoring import integrity
from hallmark.services.anchoring.flags import REASON_NAMES
from hallmark.services.anchoring.status import AnchoringStatus, records_status
from hallmark.services.records.schemas import (
    Anchoring,
    AnchoringFlag,
    ProvenanceRecord,
    RecordRef,
)
from hallmark.store.models import Record
from hallmark.store.records import NewRecord

T = TypeVar("T")
#: Values per `IN (...)` list: large batches are looked up in chunks of this many.
CHUNK = 5000


def document(record: Record) -> dict[str, Any]:
    """The stored canonical document, parsed, once its text hashed to its record hash.

    Raises:
        RecordIntegrityError: the stored text no longer hashes to the record hash, or is not a
            record document (a JSON object with its `data`).
    """
    integrity.check_text(record.id, record.canonical, record.record_hash)
    try:
        parsed = json.loads(record.canonical)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
        raise integrity.failed(
            RecordIntegrityError(record.id, "its canonical text is not a record document")
        )
    return parsed


def chunks(values: Sequence[T], size: int = CHUNK) -> list[Sequence[T]]:
    """`values` in consecutive slices of at most `size` (for `IN (...)` lists)."""
    return [values[i : i + size] for i in range(0, len(values), size)]


def new_record(
    actor: Actor, kind: str, data: Mapping[str, Any], *, corrects_id: str | None = None
) -> NewRecord:
    """A record of `kind` written by the caller (its organisation and principal)."""
    return NewRecord(
        kind=kind,
        organisation_id=actor.organisation_id,
        principal_id=actor.principal_id,
        data=data,
        corrects_id=corrects_id,
    )


def records_by_id(session: Session, ids: Iterable[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        found.update((r.id, r) for r in session.scalars(select(Record).where(Record.id.in_(chunk))))
    return found


def record_ref(record: Record, anchoring: Anchoring) -> RecordRef:
    return RecordRef(
        id=record.id,
        record_hash=record.record_hash,
        recorded_at=utc(record.created_at),
        corrects=record.corrects_id,
        canonical=record.canonical,
        anchoring=anchoring,
    )


def record_refs(session: Session, records: Collection[Record]) -> dict[str, RecordRef]:
    """References to records with their canonical text and anchoring (one lookup), by id."""
    anchoring = anchoring_of(session, records)
    return {r.id: record_ref(r, anchoring[r.id]) for r in records}


def anchoring_of(session: Session, records: Collection[Record]) -> dict[str, Anchoring]:
    """Anchoring status of records (`anchoring.status`): pending, anchoring (its batch signed or
    sent), anchored (mined) or confirmed, with root, transaction, block and proof once known.

    Raises:
        RecordIntegrityError: a record's text, hash, proof and root do not agree.
    """
    ids = [r.id for r in records]
    kinds = {r.id: r.kind for r in records}
    found: dict[str, AnchoringStatus] = {}
    for chunk in chunks(ids):
        found.update(records_status(session=session, record_ids=chunk))
    result: dict[str, Anchoring] = {}
    for record_id in ids:
        status = found.get(record_id)
        if status is None:
            result[record_id] = Anchoring(status="pending")
            continue
        result[record_id] = Anchoring(
            status=status.status,
            batch_id=status.batch_id,
            root=status.root,
            transaction=status.tx_hash,
            block=status.block_number,
            leaf_index=status.leaf_index,
            proof=status.proof,
            anchorer=status.anchorer if status.status != "pending" else None,
            ledger=status.ledger,
            contracts_version=status.contracts_version,
            flag=_flag_of(status, kinds[record_id]),
        )
    return result


def _flag_of(status: AnchoringStatus, kind: str) -> AnchoringFlag | None:
    """The batch's flag as the record views show it (a certificate's reads `revoked`)."""
    if status.flag_cause not in ("flagged", "compromised") or status.flag_reason is None:
        return None
    return AnchoringFlag(
        state="revoked" if kind == "certificate" else "flagged",
        cause="flagged" if status.flag_cause == "flagged" else "compromised",
        reason=REASON_NAMES.get(status.flag_reason, str(status.flag_reason)),
        reason_code=status.flag_reason,
        at=status.flagged_at,
    )


def provenance_records(session: Session, records: Collection[Record]) -> list[ProvenanceRecord]:
    anchoring = anchoring_of(session, records)
    return [
        ProvenanceRecord(
            id=r.id,
            kind=r.kind,
            record_hash=r.record_hash,
            recorded_at=utc(r.created_at),
            corrects=r.corrects_id,
            canonical=r.canonical,
            anchoring=anchoring[r.id],
        )
        for r in records
    ]
