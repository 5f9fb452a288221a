"""Who may do what with records, and how stored records are read back.

Visibility: a material lot is visible to its owner and its current custodian; a product to its
brand and its assigned factory. Anyone else gets NotFoundError (existence must not leak). A role
that may never perform an action (a supplier posting steps, any reader writing) gets
PermissionDeniedError before anything is looked up.

Raises:
    PermissionDeniedError: the caller's role may not perform the action at all.
    NotFoundError: the object does not exist or is not visible to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from hallmark.core.errors import NotFoundError, PermissionDeniedError
from hallmark.core.times import utc
from hallmark.schemas import Anchoring, ProvenanceRecord, RecordRef
from hallmark.services.anchoring.status import AnchoringStatus, records_status
from hallmark.services.auth import Actor
from hallmark.store.models import MaterialLot, Product, Record
from hallmark.store.records import NewRecord

T = TypeVar("T")
#: Values per `IN (...)` list: large batches are looked up in chunks of this many.
CHUNK = 5000

#: Roles allowed to perform each write (other roles: 403).
WRITE_ROLES: dict[str, frozenset[str]] = {
    "lot.create": frozenset({"supplier"}),
    "lot.correct": frozenset({"supplier"}),
    "lot.split": frozenset({"supplier", "factory", "brand"}),
    "lot.transfer": frozenset({"supplier", "factory", "brand"}),
    "product.create": frozenset({"brand", "factory"}),
    "product.materials": frozenset({"factory"}),
    "step.create": frozenset({"factory"}),
    "step.correct": frozenset({"factory"}),
    "attachment.upload": frozenset({"supplier", "factory", "brand"}),
}


def require_role(actor: Actor, action: str) -> None:
    """Refuse an action the caller's role may never perform."""
    allowed = WRITE_ROLES[action]
    if actor.role not in allowed:
        raise PermissionDeniedError(
            f"the {actor.role} role may not {action.replace('.', ' ')} "
            f"(allowed: {', '.join(sorted(allowed))})",
            details={"role": actor.role, "action": action},
        )


def lot_visible(organisation_id: str) -> ColumnElement[bool]:
    return or_(MaterialLot.owner_id == organisation_id, MaterialLot.custodian_id == organisation_id)


def product_visible(organisation_id: str) -> ColumnElement[bool]:
    return or_(Product.brand_id == organisation_id, Product.factory_id == organisation_id)


def visible_lot(session: Session, actor: Actor, lot_id: str, *, lock: bool = False) -> MaterialLot:
    stmt = select(MaterialLot).where(MaterialLot.id == lot_id, lot_visible(actor.organisation_id))
    if lock:
        stmt = stmt.with_for_update()
    lot = session.scalars(stmt).first()
    if lot is None:
        raise NotFoundError("lot", lot_id)
    return lot


def visible_product(session: Session, actor: Actor, serial: str, *, lock: bool = False) -> Product:
    stmt = select(Product).where(Product.serial == serial, product_visible(actor.organisation_id))
    if lock:
        stmt = stmt.with_for_update()
    product = session.scalars(stmt).first()
    if product is None:
        raise NotFoundError("product", serial)
    return product


# --- stored records ----------------------------------------------------------------------------


def document(record: Record) -> dict[str, Any]:
    """The stored canonical document, parsed."""
    parsed: dict[str, Any] = json.loads(record.canonical)
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


def record_ref(record: Record) -> RecordRef:
    return RecordRef(
        id=record.id,
        record_hash=record.record_hash,
        recorded_at=utc(record.created_at),
        corrects=record.corrects_id,
    )


def anchoring_of(session: Session, records: Collection[Record]) -> dict[str, Anchoring]:
    """Anchoring status of records (`anchoring.status`): pending, anchoring (its batch signed or
    sent), anchored (mined) or confirmed, with root, transaction, block and proof once known."""
    ids = [r.id for r in records]
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
        )
    return result


def provenance_records(session: Session, records: Collection[Record]) -> list[ProvenanceRecord]:
    anchoring = anchoring_of(session, records)
    return [
        ProvenanceRecord(
            id=r.id,
            kind=r.kind,
            record_hash=r.record_hash,
            recorded_at=utc(r.created_at),
            corrects=r.corrects_id,
            anchoring=anchoring[r.id],
        )
        for r in records
    ]
