"""Material lots: create (one or a batch), read, correct, split into child lots, transfer custody.

Flow of a write: check the caller's role, load what the rows refer to (locking the lots whose
quantities change), check the rules, then write the records with `add_records` (record and
anchoring outbox entry in this transaction), the projection rows, and one audit entry last.

Rules:
- lot numbers are unique per owner;
- private fields are kept in the projection only; the record holds their salted commitment
  `privateCommitment = SHA-256(salt ‖ canonical JSON of the private fields)` (hex);
- mass balance: remaining = quantity - allocated, where allocated = Σ consumed + Σ process loss
  + Σ child lot quantities; a split or a draw beyond the remainder is refused (MassBalanceError),
  a correction may not bring the quantity below what is allocated;
- children inherit the parent's material, grade, unit, origin, certificates, recycling, refining,
  transport and ethics, and its carbon footprint pro rata;
- a lot is visible to (and split or transferred by) its owner and its current custodian; only
  the owner corrects it.

Raises:
    PermissionDeniedError: the role may not do this (e.g. a reader, or a custodian correcting).
    NotFoundError: unknown or invisible lot or organisation.
    ConflictError: duplicate lot number. MassBalanceError: more than the lot holds.
    InvalidInputError: unit change, attachment not uploaded by the caller, transfer to oneself.
    BatchRejectedError: an all-or-nothing batch with bad rows.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from hallmark.core.canonical import canonical_bytes
from hallmark.core.errors import (
    ConflictError,
    MassBalanceError,
    NotFoundError,
    PermissionDeniedError,
    for_field,
    invalid_field,
)
from hallmark.core.fields import decimal_text, plain
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records import kinds, views, visibility
from hallmark.services.records.schemas import (
    LotCorrection,
    LotCreate,
    LotFields,
    LotPublic,
    LotSplit,
    LotsPublic,
    LotTransfer,
    RecordRef,
)
from hallmark.store.models import (
    Attachment,
    AttachmentLink,
    LotDraw,
    LotEvent,
    MaterialLot,
    Organisation,
    Product,
    Record,
)
from hallmark.store.records import StoredRecord, add_records, check_record_size

LOT_SCHEMA = "hallmark/material-lot@1"
TRANSFER_SCHEMA = "hallmark/lot-transfer@1"

#: Bytes `"parentLot"` (an id) and `"parentRecord"` (a record hash) take in a record's text.
_PARENT_LINKS = 160
QUANT = Decimal("0.000001")

_LOTS = TypeAdapter(list[LotCreate])
_LOT = TypeAdapter(LotCreate)


# --- mass balance (pure) -----------------------------------------------------------------------


def remaining(lot: MaterialLot) -> Decimal:
    return Decimal(lot.quantity) - Decimal(lot.allocated)


def draw(lot: MaterialLot, amount: Decimal, *, unit: str | None = None) -> None:
    """Take `amount` from the lot (in memory; the caller holds the row lock) or refuse."""
    if unit is not None and unit != lot.unit:
        raise invalid_field(
            "unit",
            f"lot {lot.lot_number} is measured in {lot.unit}, not {unit}",
            lot=lot.id,
            lot_unit=lot.unit,
        )
    left = remaining(lot)
    if amount > left:
        raise MassBalanceError(
            lot_id=lot.id,
            lot_number=lot.lot_number,
            requested=plain(amount),
            remaining=plain(left),
            unit=lot.unit,
        )
    lot.allocated = Decimal(lot.allocated) + amount


# --- documents ---------------------------------------------------------------------------------


def private_commitment(private: dict[str, Any], salt: str) -> str:
    """SHA-256 of the salt (hex text, UTF-8) followed by the canonical JSON of the fields."""
    return hashlib.sha256(salt.encode() + canonical_bytes(private)).hexdigest()


def lot_payload(fields: LotFields) -> dict[str, Any]:
    payload = fields.model_dump(mode="json", exclude_none=True, by_alias=True, exclude={"private"})
    return payload


@dataclass
class PlannedLot:
    record_id: str | None
    owner_id: str
    custodian_id: str
    data: dict[str, Any]
    fields: LotFields
    private: dict[str, Any] | None
    salt: str | None
    attachments: list[str]
    parent: MaterialLot | None = None
    carbon: Decimal | None = None


@dataclass
class _LotContext:
    actor: Actor
    taken_numbers: set[str]
    uploaded: set[str]
    visible_sources: set[str]
    known_products: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)


def _attachment_refs(fields: LotFields) -> list[str]:
    refs = [c.document for c in fields.certificates if c.document]
    return list(dict.fromkeys(refs))


def uploaded_by(session: Session, organisation_id: str, shas: set[str]) -> set[str]:
    if not shas:
        return set()
    return set(
        session.scalars(
            select(Attachment.sha256).where(
                Attachment.organisation_id == organisation_id, Attachment.sha256.in_(shas)
            )
        )
    )


def _plan_lot(ctx: _LotContext, fields: LotFields) -> PlannedLot:
    if fields.lot_number in ctx.taken_numbers or fields.lot_number in ctx.seen:
        raise ConflictError(
            f"lot number {fields.lot_number} exists already for your organisation",
            details={"field": "lot_number", "lot_number": fields.lot_number},
        )
    for index, source in enumerate(fields.recycled_from):
        if source.lot is not None and source.lot not in ctx.visible_sources:
            raise for_field(f"recycled_from.{index}.lot", NotFoundError("lot", source.lot))
        if source.product is not None and source.product not in ctx.known_products:
            raise for_field(
                f"recycled_from.{index}.product", NotFoundError("product", source.product)
            )
    for index, cert in enumerate(fields.certificates):
        if cert.document and cert.document not in ctx.uploaded:
            raise invalid_field(
                f"certificates.{index}.document",
                f"attachment {cert.document} was not uploaded by your organisation "
                "(POST /api/v1/attachments first)",
            )
    data = {"schema": LOT_SCHEMA, "owner": ctx.actor.organisation_id, **lot_payload(fields)}
    private = fields.private
    salt = None
    if private is not None:
        salt = secrets.token_hex(16)
        data["privateCommitment"] = private_commitment(private, salt)
    # A correction also names the record it corrects and keeps its parent links.
    check_record_size("material_lot", data, corrects=True, reserve=_PARENT_LINKS)
    ctx.seen.add(fields.lot_number)
    return PlannedLot(
        record_id=None,
        owner_id=ctx.actor.organisation_id,
        custodian_id=ctx.actor.organisation_id,
        data=data,
        fields=fields,
        private=private,
        salt=salt,
        attachments=_attachment_refs(fields),
        carbon=fields.carbon_kg_co2e,
    )


def _context(session: Session, actor: Actor, items: Sequence[LotFields | None]) -> _LotContext:
    numbers = {i.lot_number for i in items if i is not None}
    taken: set[str] = set()
    for chunk in views.chunks(sorted(numbers)):
        taken.update(
            session.scalars(
                select(MaterialLot.lot_number).where(
                    MaterialLot.owner_id == actor.organisation_id,
                    MaterialLot.lot_number.in_(chunk),
                )
            )
        )
    shas = {sha for i in items if i is not None for sha in _attachment_refs(i)}
    sources = {s.lot for i in items if i is not None for s in i.recycled_from if s.lot}
    visible: set[str] = set()
    if sources:
        visible = set(
            session.scalars(
                select(MaterialLot.id).where(
                    MaterialLot.id.in_(sources), visibility.lot_visible(actor.organisation_id)
                )
            )
        )
    # A recycled product is named by the serial read off the piece, which its recycler holds
    # but need not see in Hallmark: the serial must exist (all the check reveals).
    serials = sorted(
        {s.product for i in items if i is not None for s in i.recycled_from if s.product}
    )
    known: set[str] = set()
    for chunk in views.chunks(serials):
        known.update(session.scalars(select(Product.serial).where(Product.serial.in_(chunk))))
    return _LotContext(
        actor=actor,
        taken_numbers=taken,
        uploaded=uploaded_by(session, actor.organisation_id, shas),
        visible_sources=visible,
        known_products=known,
    )


def _write_lots(
    session: Session, actor: Actor, plans: Sequence[PlannedLot], *, event: str = "create"
) -> list[StoredRecord]:
    stored = add_records(
        session, [views.new_record(actor, "material_lot", plan.data) for plan in plans]
    )
    lot_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    link_rows: list[dict[str, Any]] = []
    draw_rows: list[dict[str, Any]] = []
    for plan, record in zip(plans, stored, strict=True):
        lot_rows.append(
            {
                "id": record.id,
                "owner_id": plan.owner_id,
                "custodian_id": plan.custodian_id,
                "lot_number": plan.fields.lot_number,
                "material": plan.fields.material,
                "unit": plan.fields.unit,
                "quantity": plan.fields.quantity,
                "allocated": Decimal(0),
                "carbon_kg": plan.carbon,
                "recycled": plan.fields.recycled,
                "parent_id": plan.parent.id if plan.parent else None,
                "record_id": record.id,
                "private": plan.private,
                "private_salt": plan.salt,
                "created_at": record.recorded_at,
            }
        )
        event_rows.append(
            {
                "lot_id": record.id,
                "event": "create",
                "record_id": record.id,
                "created_at": record.recorded_at,
            }
        )
        link_rows.extend(
            {"sha256": sha, "record_id": record.id, "lot_id": record.id, "product_id": None}
            for sha in plan.attachments
        )
        if plan.parent is not None:
            draw_rows.append(
                {
                    "lot_id": plan.parent.id,
                    "product_id": None,
                    "child_lot_id": record.id,
                    "quantity": plan.fields.quantity,
                    "process_loss": Decimal(0),
                    "record_id": record.id,
                    "created_at": record.recorded_at,
                }
            )
            event_rows.append(
                {
                    "lot_id": plan.parent.id,
                    "event": "split",
                    "record_id": record.id,
                    "created_at": record.recorded_at,
                }
            )
    session.execute(insert(MaterialLot), lot_rows)
    session.execute(insert(LotEvent), event_rows)
    if link_rows:
        session.execute(insert(AttachmentLink), link_rows)
    if draw_rows:
        session.execute(insert(LotDraw), draw_rows)
    return stored


#: Lots as a record kind (`kinds.run_batch`, `kinds.create_items`).
KIND: kinds.Kind[LotCreate, _LotContext, PlannedLot] = kinds.Kind(
    permission="lot.create",
    batch_action="lot.batch",
    object_kind="lot",
    list_adapter=_LOTS,
    item_adapter=_LOT,
    make_context=_context,
    plan=_plan_lot,
    write=_write_lots,
    answer=lambda session, actor, _plan, record: get_lot(
        session=session, actor=actor, lot_id=record.id
    ),
    audit_details=lambda item: {"lot_number": item.lot_number},
)


# --- use cases ---------------------------------------------------------------------------------


def _public(
    lot: MaterialLot,
    record: Record,
    actor: Actor,
    refs: Mapping[str, RecordRef],
    history: list[Record] | None = None,
) -> LotPublic:
    data = views.document(record)["data"]
    owner = lot.owner_id == actor.organisation_id
    return LotPublic.model_validate(
        {
            "id": lot.id,
            "owner": lot.owner_id,
            "custodian": lot.custodian_id,
            "lot_number": lot.lot_number,
            "material": data["material"],
            "grade": data.get("grade"),
            "quantity": data["quantity"],
            "unit": lot.unit,
            "remaining": plain(remaining(lot)),
            "origin": data["origin"],
            "certificates": data.get("certificates", []),
            "recycled": data.get("recycled", False),
            "recycled_from": data.get("recycled_from", []),
            "refining": data.get("refining", []),
            "transport": data.get("transport", []),
            "carbon_kg_co2e": data.get("carbon_kg_co2e"),
            "ethics": data.get("ethics", {}),
            "extra": data.get("extra", {}),
            "parent_lot": data.get("parentLot"),
            "private_commitment": data.get("privateCommitment"),
            "private": lot.private if owner else None,
            "private_salt": lot.private_salt if owner else None,
            "record": refs[record.id],
            "history": [refs[r.id] for r in history] if history is not None else None,
        }
    )


def _public_with_history(session: Session, actor: Actor, lot: MaterialLot) -> LotPublic:
    """The lot's view with its record history (creation, corrections, transfers, splits)."""
    events = session.scalars(
        select(LotEvent.record_id).where(LotEvent.lot_id == lot.id).order_by(LotEvent.id)
    ).all()
    records = views.records_by_id(session, [lot.record_id, *events])
    history = [records[r] for r in dict.fromkeys(events)]
    refs = views.record_refs(session, [records[lot.record_id], *history])
    return _public(lot, records[lot.record_id], actor, refs, history)


def get_lot(*, session: Session, actor: Actor, lot_id: str) -> LotPublic:
    """One visible lot with its record history (creation, corrections, transfers, splits)."""
    return _public_with_history(
        session, actor, visibility.visible(session, actor, visibility.LOT, lot_id)
    )


def list_lots(*, session: Session, actor: Actor, skip: int, limit: int) -> LotsPublic:
    """The lots the caller's organisation owns or holds, oldest first."""
    visible = visibility.lot_visible(actor.organisation_id)
    count = session.scalar(select(func.count()).select_from(MaterialLot).where(visible)) or 0
    lots = session.scalars(
        select(MaterialLot)
        .where(visible)
        .order_by(MaterialLot.created_at, MaterialLot.id)
        .offset(skip)
        .limit(limit)
    ).all()
    records = views.records_by_id(session, [lot.record_id for lot in lots])
    refs = views.record_refs(session, list(records.values()))
    return LotsPublic(
        data=[_public(lot, records[lot.record_id], actor, refs) for lot in lots], count=count
    )


def correct_lot(
    *, session: Session, actor: Actor, lot_id: str, correction: LotCorrection
) -> LotPublic:
    """Record a correction (a new record naming the current one); it becomes the lot's view."""
    authorisation.require_role(actor, "lot.correct")
    lot = visibility.visible(session, actor, visibility.LOT, lot_id, lock=True)
    if lot.owner_id != actor.organisation_id:
        raise PermissionDeniedError(
            "only the lot's owner may correct it", details={"kind": "lot", "id": lot.id}
        )
    if correction.unit != lot.unit:
        raise invalid_field(
            "unit", f"a correction cannot change the unit ({lot.unit}); record a new lot instead"
        )
    if correction.quantity < Decimal(lot.allocated):
        raise ConflictError(
            f"lot {lot.lot_number} has {plain(Decimal(lot.allocated))} {lot.unit} drawn already; "
            f"its quantity cannot become {plain(correction.quantity)}",
            details={
                "field": "quantity",
                "lot": lot.id,
                "allocated": plain(Decimal(lot.allocated)),
                "unit": lot.unit,
            },
        )
    ctx = _context(session, actor, [correction])
    ctx.taken_numbers.discard(lot.lot_number)
    plan = _plan_lot(ctx, correction)
    current = session.get(Record, lot.record_id)
    assert current is not None
    previous = views.document(current)["data"]
    for key in ("parentLot", "parentRecord"):
        if key in previous:
            plan.data[key] = previous[key]
    plan.data["owner"] = lot.owner_id
    record = add_records(
        session,
        [views.new_record(actor, "material_lot", plan.data, corrects_id=lot.record_id)],
    )[0]
    lot.lot_number = correction.lot_number
    lot.material = correction.material
    lot.quantity = correction.quantity
    lot.carbon_kg = correction.carbon_kg_co2e
    lot.recycled = correction.recycled
    lot.record_id = record.id
    lot.private = plan.private
    lot.private_salt = plan.salt
    session.add(
        LotEvent(lot_id=lot.id, event="correct", record_id=record.id, created_at=record.recorded_at)
    )
    if plan.attachments:
        session.execute(
            insert(AttachmentLink),
            [{"sha256": s, "record_id": record.id, "lot_id": lot.id} for s in plan.attachments],
        )
    session.flush()
    audit.append(
        session,
        actor=actor.audit,
        action="lot.correct",
        object_kind="lot",
        object_id=lot.id,
        details={"record_hash": record.record_hash, "corrects": current.record_hash},
    )
    return get_lot(session=session, actor=actor, lot_id=lot.id)


def split_lot(*, session: Session, actor: Actor, lot_id: str, split: LotSplit) -> LotsPublic:
    """Split child lots off a lot; their quantities count against the parent's remainder."""
    authorisation.require_role(actor, "lot.split")
    parent = visibility.visible(session, actor, visibility.LOT, lot_id, lock=True)
    parent_record = session.get(Record, parent.record_id)
    assert parent_record is not None
    base = views.document(parent_record)["data"]
    existing = (
        session.scalar(
            select(func.count()).select_from(MaterialLot).where(MaterialLot.parent_id == parent.id)
        )
        or 0
    )
    total = sum((child.quantity for child in split.children), Decimal(0))
    draw(parent, total)
    numbers = [
        child.lot_number or f"{parent.lot_number}-{existing + i + 1}"
        for i, child in enumerate(split.children)
    ]
    taken = set(
        session.scalars(
            select(MaterialLot.lot_number).where(
                MaterialLot.owner_id == parent.owner_id, MaterialLot.lot_number.in_(numbers)
            )
        )
    )
    plans: list[PlannedLot] = []
    parent_quantity = Decimal(parent.quantity)
    for index, (child, number) in enumerate(zip(split.children, numbers, strict=True)):
        if number in taken or numbers.index(number) != index:
            raise ConflictError(
                f"lot number {number} exists already for the lot's owner",
                details={"field": f"children.{index}.lot_number", "lot_number": number},
            )
        carbon = None
        if parent.carbon_kg is not None:
            share = Decimal(parent.carbon_kg) * child.quantity / parent_quantity
            carbon = Decimal(plain(share.quantize(QUANT)))
        inherited = {
            k: base[k]
            for k in (
                "material",
                "grade",
                "unit",
                "origin",
                "certificates",
                "recycled",
                "recycled_from",
                "refining",
                "transport",
                "ethics",
            )
            if k in base
        }
        fields = LotFields.model_validate(
            {
                **inherited,
                "lot_number": number,
                "quantity": child.quantity,
                "carbon_kg_co2e": carbon,
                "extra": child.extra,
            }
        )
        data = {
            "schema": LOT_SCHEMA,
            "owner": parent.owner_id,
            **lot_payload(fields),
            "parentLot": parent.id,
            "parentRecord": parent_record.record_hash,
        }
        plans.append(
            PlannedLot(
                record_id=None,
                owner_id=parent.owner_id,
                custodian_id=parent.custodian_id,
                data=data,
                fields=fields,
                private=None,
                salt=None,
                attachments=[],
                parent=parent,
                carbon=carbon,
            )
        )
    stored = _write_lots(session, actor, plans)
    session.flush()
    audit.append(
        session,
        actor=actor.audit,
        action="lot.split",
        object_kind="lot",
        object_id=parent.id,
        details={"children": [r.id for r in stored], "quantity": decimal_text(total)},
    )
    children = [get_lot(session=session, actor=actor, lot_id=r.id) for r in stored]
    return LotsPublic(data=children, count=len(children))


#: The organisation kinds that can hold material (a lot's custodian).
MATERIAL_HOLDERS = frozenset({"supplier", "factory", "brand"})


def transfer_lot(
    *, session: Session, actor: Actor, lot_id: str, transfer: LotTransfer
) -> LotPublic:
    """Hand a lot to another organisation (its new custodian), by its owner or custodian."""
    authorisation.require_role(actor, "lot.transfer")
    lot = visibility.visible(session, actor, visibility.LOT, lot_id, lock=True)
    target = session.get(Organisation, transfer.to_organisation)
    if target is None or target.status != "active":
        raise NotFoundError("organisation", transfer.to_organisation)
    if target.kind not in MATERIAL_HOLDERS:
        raise invalid_field(
            "to_organisation",
            f"{target.name} is a {target.kind} organisation, which cannot hold material "
            f"(lots go to {', '.join(sorted(MATERIAL_HOLDERS))} organisations)",
        )
    if target.id == lot.custodian_id:
        raise invalid_field("to_organisation", f"{target.name} holds lot {lot.lot_number} already")
    current = session.get(Record, lot.record_id)
    assert current is not None
    data: dict[str, Any] = {
        "schema": TRANSFER_SCHEMA,
        "lot": lot.id,
        "lotRecord": current.record_hash,
        "from": lot.custodian_id,
        "to": target.id,
    }
    if transfer.note:
        data["note"] = transfer.note
    record = add_records(session, [views.new_record(actor, "material_lot", data)])[0]
    session.add(
        LotEvent(
            lot_id=lot.id,
            event="transfer",
            record_id=record.id,
            from_organisation_id=lot.custodian_id,
            to_organisation_id=target.id,
            created_at=record.recorded_at,
        )
    )
    lot.custodian_id = target.id
    session.flush()
    audit.append(
        session,
        actor=actor.audit,
        action="lot.transfer",
        object_kind="lot",
        object_id=lot.id,
        details={"record_hash": record.record_hash, "to": target.id},
    )
    # The caller may no longer see the lot; answer with the view they had a moment ago.
    return _public_with_history(session, actor, lot)
