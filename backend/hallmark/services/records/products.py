"""Products: create (one or a batch), read by serial, add consumed material lots.

Flow of a write: check the role, resolve the brand and the assigned factory, lock every lot the
rows draw from (one query, in id order), check serial and edition uniqueness and mass balance,
then write the records (`add_records`), the projection rows, the draws, and one audit entry.

Rules:
- a brand creates products for itself and names `assigned_factory` (an active factory); a
  factory creates products for itself, optionally naming a brand;
- serials are globally unique; an edition number n of N is unique within the series of its brand
  (or, without a brand, of its factory);
- materials (input lots → output product, an EPCIS TransformationEvent) are drawn at creation or
  later by the assigned factory; only the lot's owner or current custodian may draw from it, in
  the lot's unit, never more than it holds (quantity + process loss count);
- the recycled share (by mass, over draws in g) and the carbon total (Σ lot carbon * drawn /
  lot quantity, drawn including process loss) are computed from the lots, never typed in;
- a product is visible to its assigned factory, and to its brand once the brand accepted it (a
  brand's own products at creation; one a factory names a brand in, `accept_product`).

Raises:
    PermissionDeniedError: the role may not do this (e.g. the brand adding materials).
    NotFoundError: unknown or invisible product, lot or organisation.
    ConflictError: duplicate serial or edition number. MassBalanceError: a lot over-drawn.
    InvalidInputError: unit mismatch, a brand/factory field that does not fit the caller.
    BatchRejectedError: an all-or-nothing batch with bad rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Row, and_, func, insert, select
from sqlalchemy.orm import Session

from hallmark.core.errors import (
    ConflictError,
    MassBalanceError,
    NotFoundError,
    PermissionDeniedError,
    for_field,
    invalid_field,
)
from hallmark.core.fields import plain
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.records import kinds, lots, views, visibility
from hallmark.services.records.schemas import (
    MaterialsAdd,
    MaterialUse,
    ProductCreate,
    ProductPublic,
    ProductsPublic,
)
from hallmark.store.models import LotDraw, MaterialLot, Organisation, Product, Record
from hallmark.store.records import StoredRecord, add_records, check_record_size

PRODUCT_SCHEMA = "hallmark/product@1"
MATERIALS_SCHEMA = "hallmark/product-materials@1"
ACCEPTANCE_SCHEMA = "hallmark/product-acceptance@1"

_PRODUCTS = TypeAdapter(list[ProductCreate])
_PRODUCT = TypeAdapter(ProductCreate)


@dataclass
class PlannedProduct:
    item: ProductCreate
    brand_id: str | None
    factory_id: str
    data: dict[str, Any]
    draws: list[tuple[MaterialLot, MaterialUse]]


@dataclass
class _Context:
    actor: Actor
    organisations: dict[str, Organisation]
    lots: dict[str, MaterialLot]
    lot_hashes: dict[str, str]
    taken_serials: set[str]
    taken_editions: set[tuple[str, str, int]]
    seen_serials: set[str] = field(default_factory=set)


def _edition_key(owner: str, item: ProductCreate) -> tuple[str, str, int] | None:
    if item.edition is None:
        return None
    return owner, item.edition.series, item.edition.number


def _lock_lots(session: Session, actor: Actor, ids: set[str]) -> dict[str, MaterialLot]:
    """Lock the lots the caller may draw from (owner or custodian), in id order."""
    found: dict[str, MaterialLot] = {}
    for chunk in views.chunks(sorted(ids)):
        found.update(
            (lot.id, lot)
            for lot in session.scalars(
                select(MaterialLot)
                .where(MaterialLot.id.in_(chunk), visibility.lot_visible(actor.organisation_id))
                .order_by(MaterialLot.id)
                .with_for_update()
            )
        )
    return found


def _current_hashes(session: Session, lots_: dict[str, MaterialLot]) -> dict[str, str]:
    records = views.records_by_id(session, [lot.record_id for lot in lots_.values()])
    return {lot.id: records[lot.record_id].record_hash for lot in lots_.values()}


def _context(session: Session, actor: Actor, items: Sequence[ProductCreate | None]) -> _Context:
    valid = [i for i in items if i is not None]
    org_ids = {i.brand for i in valid if i.brand} | {
        i.assigned_factory for i in valid if i.assigned_factory
    }
    organisations = {
        o.id: o for o in session.scalars(select(Organisation).where(Organisation.id.in_(org_ids)))
    }
    lot_ids = {m.lot for i in valid for m in i.materials}
    locked = _lock_lots(session, actor, lot_ids) if lot_ids else {}
    serials = sorted({i.serial for i in valid})
    taken: set[str] = set()
    for chunk in views.chunks(serials):
        taken.update(session.scalars(select(Product.serial).where(Product.serial.in_(chunk))))
    series = {i.edition.series for i in valid if i.edition}
    editions: set[tuple[str, str, int]] = set()
    if series:
        editions = {
            (owner, s, n)
            for owner, s, n in session.execute(
                select(
                    Product.edition_owner_id, Product.edition_series, Product.edition_number
                ).where(Product.edition_series.in_(series))
            ).all()
            if owner is not None and s is not None and n is not None
        }
    return _Context(
        actor=actor,
        organisations=organisations,
        lots=locked,
        lot_hashes=_current_hashes(session, locked),
        taken_serials=taken,
        taken_editions=editions,
    )


def _organisation(ctx: _Context, org_id: str, kind: str, where: str) -> Organisation:
    org = ctx.organisations.get(org_id)
    if org is None or org.kind != kind or org.status != "active":
        raise for_field(where, NotFoundError(kind, org_id))
    return org


def _plan_draws(
    ctx: _Context, materials: Sequence[MaterialUse], prefix: str
) -> tuple[list[tuple[MaterialLot, MaterialUse]], list[dict[str, Any]]]:
    """Check every draw (units, mass balance) and make the record's materials list; nothing is
    drawn until `_apply_draws`."""
    planned: list[tuple[MaterialLot, MaterialUse]] = []
    taken: dict[str, Decimal] = {}
    for index, use in enumerate(materials):
        lot = ctx.lots.get(use.lot)
        if lot is None:
            raise for_field(f"{prefix}.{index}.lot", NotFoundError("lot", use.lot))
        if use.unit != lot.unit:
            raise invalid_field(
                f"{prefix}.{index}.unit",
                f"lot {lot.lot_number} is measured in {lot.unit}, not {use.unit}",
                lot=lot.id,
            )
        amount = use.quantity + use.process_loss
        already = taken.get(lot.id, Decimal(0))
        if already + amount > lots.remaining(lot):
            left = lots.remaining(lot) - already
            raise for_field(
                f"{prefix}.{index}.quantity",
                MassBalanceError(
                    lot_id=lot.id,
                    lot_number=lot.lot_number,
                    requested=plain(amount),
                    remaining=plain(left),
                    unit=lot.unit,
                ),
            )
        taken[lot.id] = already + amount
        planned.append((lot, use))
    documents = [
        {
            "lot": lot.id,
            "lotRecord": ctx.lot_hashes[lot.id],
            **use.model_dump(mode="json", exclude={"lot"}),
        }
        for lot, use in planned
    ]
    return planned, documents


def _apply_draws(draws: Sequence[tuple[MaterialLot, MaterialUse]]) -> None:
    for lot, use in draws:
        lots.draw(lot, use.quantity + use.process_loss)


def _plan_product(ctx: _Context, item: ProductCreate) -> PlannedProduct:
    actor = ctx.actor
    if actor.role == "brand":
        if item.brand is not None and item.brand != actor.organisation_id:
            raise invalid_field("brand", "a brand creates products for itself only")
        if item.assigned_factory is None:
            raise invalid_field("assigned_factory", "a brand must name the assigned factory")
        brand_id: str | None = actor.organisation_id
        factory_id = _organisation(ctx, item.assigned_factory, "factory", "assigned_factory").id
    else:
        if item.assigned_factory not in (None, actor.organisation_id):
            raise invalid_field(
                "assigned_factory", "a factory creates products assigned to itself only"
            )
        factory_id = actor.organisation_id
        brand_id = _organisation(ctx, item.brand, "brand", "brand").id if item.brand else None
    if item.serial in ctx.taken_serials or item.serial in ctx.seen_serials:
        raise ConflictError(
            f"serial {item.serial} exists already",
            details={"field": "serial", "serial": item.serial},
        )
    edition = _edition_key(brand_id or factory_id, item)
    if edition is not None and edition in ctx.taken_editions:
        raise ConflictError(
            f"edition {edition[2]} of series {edition[1]!r} exists already",
            details={"field": "edition.number", "series": edition[1], "number": edition[2]},
        )
    draws, documents = _plan_draws(ctx, item.materials, "materials")
    payload = item.model_dump(
        mode="json", exclude_none=True, exclude={"materials", "brand", "assigned_factory"}
    )
    data = {
        "schema": PRODUCT_SCHEMA,
        **payload,
        "brand": brand_id,
        "assigned_factory": factory_id,
        "materials": documents,
    }
    check_record_size("product", data)
    _apply_draws(draws)
    ctx.seen_serials.add(item.serial)
    if edition is not None:
        ctx.taken_editions.add(edition)
    return PlannedProduct(
        item=item, brand_id=brand_id, factory_id=factory_id, data=data, draws=draws
    )


def _draw_rows(
    product_id: str, record: StoredRecord, draws: Sequence[tuple[MaterialLot, MaterialUse]]
) -> list[dict[str, Any]]:
    """LotDraw rows of a product's draws, recorded by `record`."""
    return [
        {
            "lot_id": lot.id,
            "product_id": product_id,
            "child_lot_id": None,
            "quantity": use.quantity,
            "process_loss": use.process_loss,
            "record_id": record.id,
            "created_at": record.recorded_at,
        }
        for lot, use in draws
    ]


def _write_products(
    session: Session, actor: Actor, plans: Sequence[PlannedProduct]
) -> list[StoredRecord]:
    stored = add_records(session, [views.new_record(actor, "product", plan.data) for plan in plans])
    product_rows: list[dict[str, Any]] = []
    draw_rows: list[dict[str, Any]] = []
    for plan, record in zip(plans, stored, strict=True):
        edition = plan.item.edition
        product_rows.append(
            {
                "id": record.id,
                "serial": plan.item.serial,
                "brand_id": plan.brand_id,
                # A brand's own product is its own; one a factory names it in waits for it.
                "brand_accepted_at": record.recorded_at if actor.role == "brand" else None,
                "factory_id": plan.factory_id,
                "category": plan.item.category,
                "edition_owner_id": (plan.brand_id or plan.factory_id) if edition else None,
                "edition_series": edition.series if edition else None,
                "edition_number": edition.number if edition else None,
                "record_id": record.id,
                "certified_at": None,
                "last_step_hash": None,
                "step_count": 0,
                "qc_state": None,
                "created_at": record.recorded_at,
            }
        )
        draw_rows.extend(_draw_rows(record.id, record, plan.draws))
    session.execute(insert(Product), product_rows)
    if draw_rows:
        session.execute(insert(LotDraw), draw_rows)
    _store_allocations(session, [lot for plan in plans for lot, _ in plan.draws])
    return stored


def _store_allocations(session: Session, drawn: Sequence[MaterialLot]) -> None:
    """The lots' new `allocated` totals (rows locked by _lock_lots) are flushed by the ORM."""
    if drawn:
        session.flush()


#: Products as a record kind (`kinds.run_batch`, `kinds.create_items`).
KIND: kinds.Kind[ProductCreate, _Context, PlannedProduct] = kinds.Kind(
    permission="product.create",
    batch_action="product.batch",
    object_kind="product",
    list_adapter=_PRODUCTS,
    item_adapter=_PRODUCT,
    make_context=_context,
    plan=_plan_product,
    write=_write_products,
    answer=lambda session, actor, plan, _record: get_product(
        session=session, actor=actor, serial=plan.item.serial
    ),
    audit_details=lambda item: {"serial": item.serial},
)


# --- use cases ---------------------------------------------------------------------------------


def add_materials(
    *, session: Session, actor: Actor, serial: str, materials: MaterialsAdd
) -> ProductPublic:
    """Record lots consumed by a product, by its assigned factory."""
    authorisation.require_role(actor, "product.materials")
    product = visibility.visible(session, actor, visibility.PRODUCT, serial, lock=True)
    if product.factory_id != actor.organisation_id:
        raise PermissionDeniedError(
            "only the product's assigned factory may add materials",
            details={"kind": "product", "id": serial},
        )
    locked = _lock_lots(session, actor, {m.lot for m in materials.materials})
    ctx = _Context(
        actor=actor,
        organisations={},
        lots=locked,
        lot_hashes=_current_hashes(session, locked),
        taken_serials=set(),
        taken_editions=set(),
    )
    draws, documents = _plan_draws(ctx, materials.materials, "materials")
    _apply_draws(draws)
    product_record = session.get(Record, product.record_id)
    assert product_record is not None
    data = {
        "schema": MATERIALS_SCHEMA,
        "product": product.id,
        "serial": product.serial,
        "productRecord": product_record.record_hash,
        "materials": documents,
    }
    record = add_records(session, [views.new_record(actor, "product", data)])[0]
    session.execute(insert(LotDraw), _draw_rows(product.id, record, draws))
    _store_allocations(session, [lot for lot, _ in draws])
    audit.append(
        session,
        actor=actor.audit,
        action="product.materials",
        object_kind="product",
        object_id=product.id,
        details={"record_hash": record.record_hash, "lots": [lot.id for lot, _ in draws]},
    )
    return get_product(session=session, actor=actor, serial=serial)


def drawn_lots(session: Session, product_id: str) -> Sequence[Row[LotDraw, MaterialLot]]:
    """The product's draws with their lots, in the order they were recorded."""
    return session.execute(
        select(LotDraw, MaterialLot)
        .join(MaterialLot, MaterialLot.id == LotDraw.lot_id)
        .where(LotDraw.product_id == product_id)
        .order_by(LotDraw.id)
    ).all()


def material_totals(
    draws: Sequence[tuple[LotDraw, MaterialLot]],
) -> tuple[str | None, str | None]:
    """The recycled share by mass (over draws in g; None without any) and the carbon total
    (the sum of each lot's carbon x drawn share; None when no lot states carbon) of a product's
    draws with their lots, in the order they were recorded."""
    grams = recycled_grams = carbon = Decimal(0)
    has_carbon = False
    for draw, lot in draws:
        if lot.unit == "g":
            grams += Decimal(draw.quantity)
            if lot.recycled:
                recycled_grams += Decimal(draw.quantity)
        if lot.carbon_kg is not None:
            has_carbon = True
            carbon += (
                Decimal(lot.carbon_kg)
                * (Decimal(draw.quantity) + Decimal(draw.process_loss))
                / Decimal(lot.quantity)
            )
    share = plain((recycled_grams / grams).quantize(Decimal("0.0001"))) if grams else None
    return share, plain(carbon.quantize(lots.QUANT)) if has_carbon else None


def product_public(session: Session, product: Product) -> ProductPublic:
    record = session.get(Record, product.record_id)
    assert record is not None
    acceptance = (
        session.get(Record, product.acceptance_record_id) if product.acceptance_record_id else None
    )
    refs = views.record_refs(session, [record] if acceptance is None else [record, acceptance])
    data = views.document(record)["data"]
    rows = drawn_lots(session, product.id)
    materials = [
        {
            "lot": lot.id,
            "lot_number": lot.lot_number,
            "quantity": plain(draw.quantity),
            "unit": lot.unit,
            "process_loss": plain(draw.process_loss),
            "record_id": draw.record_id,
        }
        for draw, lot in rows
    ]
    share, carbon = material_totals([(draw, lot) for draw, lot in rows])
    return ProductPublic.model_validate(
        {
            "id": product.id,
            "serial": product.serial,
            "name": data["name"],
            "category": data["category"],
            "gtin": data.get("gtin"),
            "design_reference": data.get("design_reference"),
            "edition": data.get("edition"),
            "brand": product.brand_id,
            "brand_accepted_at": product.brand_accepted_at,
            "assigned_factory": product.factory_id,
            "materials": materials,
            "recycled_share": share,
            "carbon_kg_co2e": carbon,
            "certified_at": product.certified_at,
            "step_count": product.step_count,
            "last_step_hash": product.last_step_hash,
            "record": refs[record.id],
            "acceptance_record": refs[acceptance.id] if acceptance is not None else None,
        }
    )


def get_product(*, session: Session, actor: Actor, serial: str) -> ProductPublic:
    """A visible product by serial, with its materials, recycled share and carbon total."""
    return product_public(session, visibility.visible(session, actor, visibility.PRODUCT, serial))


def list_products(*, session: Session, actor: Actor, skip: int, limit: int) -> ProductsPublic:
    """The products of the caller's organisation (as brand or assigned factory), oldest first."""
    visible = visibility.product_visible(actor.organisation_id)
    return _listed(session, visible, skip=skip, limit=limit)


def list_offers(*, session: Session, actor: Actor, skip: int, limit: int) -> ProductsPublic:
    """Products a factory made naming the caller's brand, not accepted yet, oldest first."""
    offered = and_(Product.brand_id == actor.organisation_id, Product.brand_accepted_at.is_(None))
    return _listed(session, offered, skip=skip, limit=limit)


def _listed(
    session: Session, where: ColumnElement[bool], *, skip: int, limit: int
) -> ProductsPublic:
    """One page of the products `where` holds for, oldest first, and how many there are."""
    count = session.scalar(select(func.count()).select_from(Product).where(where)) or 0
    rows = session.scalars(
        select(Product)
        .where(where)
        .order_by(Product.created_at, Product.id)
        .offset(skip)
        .limit(limit)
    ).all()
    return ProductsPublic(data=[product_public(session, p) for p in rows], count=count)


def accept_product(*, session: Session, actor: Actor, serial: str) -> ProductPublic:
    """The caller's brand accepts a product a factory made naming it: from then on the product
    is the brand's (it sees it, its provenance and its steps). Accepting twice is a no-op.

    The acceptance is a record the brand writes and anchors (`hallmark/product-acceptance@1`,
    kind Product): what the brand vouches for is on chain, like what the factory recorded."""
    authorisation.require_role(actor, "product.accept")
    product = session.scalars(
        select(Product)
        .where(Product.serial == serial, Product.brand_id == actor.organisation_id)
        .with_for_update()
    ).first()
    if product is None:
        raise NotFoundError("product", serial)
    if product.brand_accepted_at is None:
        product_record = session.get(Record, product.record_id)
        assert product_record is not None
        data = {
            "schema": ACCEPTANCE_SCHEMA,
            "product": product.id,
            "serial": product.serial,
            "productRecord": product_record.record_hash,
            "brand": actor.organisation_id,
            "assigned_factory": product.factory_id,
        }
        record = add_records(session, [views.new_record(actor, "product", data)])[0]
        product.brand_accepted_at = record.recorded_at
        product.acceptance_record_id = record.id
        audit.append(
            session,
            actor=actor.audit,
            action="product.accept",
            outcome="ok",
            object_kind="product",
            object_id=product.id,
            details={
                "serial": serial,
                "factory": product.factory_id,
                "record_hash": record.record_hash,
            },
        )
        session.flush()
    return product_public(session, product)
