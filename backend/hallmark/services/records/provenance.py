"""A product's provenance: its materials tree, its steps timeline, and how each record is anchored.

Flow: load the product (visible to its brand and assigned factory), its records (creation, later
material additions), the lots it drew from and, for each, the lot it was split from and the lots
it was recycled from (recursively, each lot once), then the step timeline and the chain check.
Every record comes with its hash and anchoring status (pending | anchoring | anchored |
confirmed, with root, transaction, block and proof once the anchoring worker filled them in).
Lots are shown with their public fields; private fields appear only to the lot's owner, never to
anyone else (the commitment is always there).

Raises:
    NotFoundError: unknown product, or one the caller may not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.errors import NotFoundError
from hallmark.core.fields import plain
from hallmark.services.access.keys import Actor
from hallmark.services.records import products, steps, views, visibility
from hallmark.services.records.schemas import (
    LotView,
    MaterialNode,
    Provenance,
    ProvenanceRecord,
    RecordPublic,
    TimelineStep,
)
from hallmark.store.models import LotDraw, LotEvent, MaterialLot, Product, ProductionStep, Record

#: How deep parent and recycling links are followed.
MAX_DEPTH = 32


@dataclass
class _Lots:
    """Lots and their current records, loaded level by level (one query per level)."""

    session: Session
    lots: dict[str, MaterialLot] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    anchoring: dict[str, ProvenanceRecord] = field(default_factory=dict)
    #: Each lot's record data, checked and parsed once (a lot is read for every product that
    #: drew from it, several times each).
    parsed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load(self, ids: Iterable[str]) -> None:
        wanted = set(ids) - set(self.lots)
        depth = 0
        while wanted and depth < MAX_DEPTH:
            found = list(
                self.session.scalars(select(MaterialLot).where(MaterialLot.id.in_(wanted)))
            )
            self.lots.update((lot.id, lot) for lot in found)
            self.records.update(views.records_by_id(self.session, [lot.record_id for lot in found]))
            following: set[str] = set()
            for lot in found:
                if lot.parent_id:
                    following.add(lot.parent_id)
                following.update(self.sources(lot.id))
            wanted = following - set(self.lots)
            depth += 1
        records = [self.records[lot.record_id] for lot in self.lots.values()]
        pending = [r for r in records if r.id not in self.anchoring]
        self.anchoring.update((r.id, r) for r in views.provenance_records(self.session, pending))

    def data(self, lot_id: str) -> dict[str, Any]:
        record_id = self.lots[lot_id].record_id
        if record_id not in self.parsed:
            self.parsed[record_id] = views.document(self.records[record_id])["data"]
        return self.parsed[record_id]

    def sources(self, lot_id: str) -> list[str]:
        return [s["lot"] for s in self.data(lot_id).get("recycled_from", []) if s.get("lot")]

    def products(self, lot_id: str) -> list[str]:
        return [
            s["product"] for s in self.data(lot_id).get("recycled_from", []) if s.get("product")
        ]

    def view(self, lot_id: str, viewer: str) -> LotView:
        lot = self.lots[lot_id]
        data = self.data(lot_id)
        return LotView(
            id=lot.id,
            owner=lot.owner_id,
            lot_number=lot.lot_number,
            material=data["material"],
            grade=data.get("grade"),
            quantity=data["quantity"],
            unit=lot.unit,
            origin=data["origin"],
            certificates=data.get("certificates", []),
            recycled=data.get("recycled", False),
            ethics=data.get("ethics", {}),
            carbon_kg_co2e=data.get("carbon_kg_co2e"),
            private_commitment=data.get("privateCommitment"),
            private=lot.private if lot.owner_id == viewer else None,
            record=self.anchoring[lot.record_id],
        )

    def node(self, lot_id: str, viewer: str, trail: frozenset[str], **drawn: Any) -> MaterialNode:
        if lot_id not in self.lots or lot_id in trail or len(trail) >= MAX_DEPTH:
            return MaterialNode(lot=None, lot_id=lot_id, **drawn)
        lot = self.lots[lot_id]
        inner = trail | {lot_id}
        return MaterialNode(
            lot=self.view(lot_id, viewer),
            lot_id=lot_id,
            parent=self.node(lot.parent_id, viewer, inner) if lot.parent_id else None,
            recycled_from=[self.node(s, viewer, inner) for s in self.sources(lot_id)],
            recycled_products=self.products(lot_id),
            **drawn,
        )


def product_provenance(*, session: Session, actor: Actor, serial: str) -> Provenance:
    """Materials tree with origins, steps timeline, record hashes, anchoring, chain check."""
    product = visibility.visible(session, actor, visibility.PRODUCT, serial)
    return build(session, product, actor.organisation_id)


@dataclass(frozen=True, slots=True)
class ProductMaterials:
    """A product's draws (in the order they were recorded), each with its lot (None: the lot is
    no longer known), its materials tree, and the records of its later material additions."""

    draws: list[tuple[LotDraw, MaterialLot | None]]
    materials: list[MaterialNode]
    material_record_ids: list[str]


def materials_of(
    session: Session, products: Sequence[Product], viewer: str
) -> dict[str, ProductMaterials]:
    """The materials of several products, by product id: their draws in one query per
    `views.CHUNK` products, and the lots they drew from (with the lots those came from) read
    once for all of them (`provenance.build` of each product shows the same trees)."""
    draws: dict[str, list[LotDraw]] = {p.id: [] for p in products}
    for chunk in views.chunks(list(draws)):
        for draw in session.scalars(
            select(LotDraw).where(LotDraw.product_id.in_(chunk)).order_by(LotDraw.id)
        ):
            if draw.product_id is not None:  # always, by the query
                draws[draw.product_id].append(draw)
    lots = _Lots(session)
    lots.load(d.lot_id for found in draws.values() for d in found)
    # A lot's tree with the amounts drawn is the same for every draw of those amounts: built
    # once (the products of an order draw alike), never changed afterwards.
    nodes: dict[tuple[str, str, str, str | None], MaterialNode] = {}

    def node(draw: LotDraw) -> MaterialNode:
        unit = lots.lots[draw.lot_id].unit if draw.lot_id in lots.lots else None
        key = (draw.lot_id, plain(draw.quantity), plain(draw.process_loss), unit)
        if key not in nodes:
            nodes[key] = lots.node(
                draw.lot_id, viewer, frozenset(), quantity=key[1], process_loss=key[2], unit=unit
            )
        return nodes[key]

    return {
        product.id: ProductMaterials(
            draws=[(d, lots.lots.get(d.lot_id)) for d in draws[product.id]],
            materials=[node(d) for d in draws[product.id]],
            material_record_ids=list(
                dict.fromkeys(d.record_id for d in draws[product.id] if d.record_id != product.id)
            ),
        )
        for product in products
    }


def build(session: Session, product: Product, viewer: str) -> Provenance:
    found = materials_of(session, [product], viewer)[product.id]
    material_record_ids, materials = found.material_record_ids, found.materials
    accepted = [product.acceptance_record_id] if product.acceptance_record_id else []
    own = views.records_by_id(session, [product.record_id, *accepted, *material_record_ids])
    own_views = {r.id: r for r in views.provenance_records(session, [own[i] for i in own])}
    timeline = steps.timeline(session, product)
    step_records = views.provenance_records(
        session, [record for _, history in timeline for record in history]
    )
    by_id = {r.id: r for r in step_records}
    chain = steps.verify_chain(session, product)
    return Provenance(
        product=products.product_public(session, product),
        record=own_views[product.record_id],
        acceptance_record=own_views[accepted[0]] if accepted else None,
        material_records=[own_views[i] for i in material_record_ids],
        materials=materials,
        steps=[
            TimelineStep(step=step, records=[by_id[r.id] for r in history])
            for step, history in timeline
        ],
        chain_intact=chain.intact,
        chain=chain,
    )


def record_of(
    *, session: Session, actor: Actor, record_id: str, product: str | None = None
) -> RecordPublic:
    """A record the caller's organisation can see, with its canonical text and anchoring.

    It can see the records it wrote; every record of a lot it owns or holds; the creation,
    materials and step records of a product it is the brand or assigned factory of; and every
    record that product's provenance shows: the current record of each lot drawn into it and of
    the lots those were split from (found here by following `parent_id`), and, with `product`
    (the serial of a product whose provenance shows it), also those of lots recycled into them.

    Raises:
        NotFoundError: unknown record, or one the caller cannot see (existence does not leak).
        RecordIntegrityError: the record's text, hash, proof and root do not agree.
    """
    record = session.get(Record, record_id)
    if record is None or not (
        _reachable(session, actor, record)
        or (product is not None and _in_provenance(session, actor, record.id, product))
    ):
        raise NotFoundError("record", record_id)
    (view,) = views.provenance_records(session, [record])
    return RecordPublic(
        **view.model_dump(),
        organisation=record.organisation_id,
        document=views.document(record),
    )


def _reachable(session: Session, actor: Actor, record: Record) -> bool:
    """The caller wrote the record, holds its lot, sees its product, or sees a product that drew
    its lot (or a lot split off it)."""
    org = actor.organisation_id
    if record.organisation_id == org:
        return True
    lot_ids = set(
        session.scalars(select(LotEvent.lot_id).where(LotEvent.record_id == record.id))
    ) | set(session.scalars(select(MaterialLot.id).where(MaterialLot.record_id == record.id)))
    if lot_ids and session.scalar(
        select(MaterialLot.id).where(MaterialLot.id.in_(lot_ids), visibility.lot_visible(org))
    ):
        return True
    product_ids = {
        *session.scalars(select(Product.id).where(Product.record_id == record.id)),
        *session.scalars(select(Product.id).where(Product.acceptance_record_id == record.id)),
        *session.scalars(select(LotDraw.product_id).where(LotDraw.record_id == record.id)),
        *session.scalars(select(ProductionStep.product_id).where(ProductionStep.id == record.id)),
    } - {None}
    if product_ids and session.scalar(
        select(Product.id).where(Product.id.in_(product_ids), visibility.product_visible(org))
    ):
        return True
    # A lot's current record is in the provenance of every product drawn from it or from a lot
    # split off it (descendants by parent_id, each level one query).
    current = set(session.scalars(select(MaterialLot.id).where(MaterialLot.record_id == record.id)))
    seen: set[str] = set()
    depth = 0
    while current and depth < MAX_DEPTH:
        seen |= current
        drawn_by_visible = session.scalar(
            select(LotDraw.id)
            .join(Product, Product.id == LotDraw.product_id)
            .where(LotDraw.lot_id.in_(current), visibility.product_visible(org))
            .limit(1)
        )
        if drawn_by_visible is not None:
            return True
        current = (
            set(session.scalars(select(MaterialLot.id).where(MaterialLot.parent_id.in_(current))))
            - seen
        )
        depth += 1
    return False


def _in_provenance(session: Session, actor: Actor, record_id: str, serial: str) -> bool:
    """The record is shown in the provenance of product `serial`, which the caller can see."""
    try:
        product = visibility.visible(session, actor, visibility.PRODUCT, serial)
    except NotFoundError:
        return False
    lots = _Lots(session)
    lots.load(session.scalars(select(LotDraw.lot_id).where(LotDraw.product_id == product.id)).all())
    return any(lot.record_id == record_id for lot in lots.lots.values())
