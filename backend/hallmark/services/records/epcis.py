"""A product's history as an EPCIS 2.0 JSON-LD document (GS1 EPCIS/CBV 2.0).

One event per record, `eventID` `urn:uuid:<record id>`, `recordTime` the record's time:
- the product's identifier: with a GTIN, the GS1 Digital Link URI
  `https://id.gs1.org/01/<GTIN-14>/21/<serial>` (a valid EPCIS 2.0 identifier that needs no GS1
  company prefix length); without, `urn:hallmark:product:<serial>`;
- lots: `urn:hallmark:lot:<lot id>`, a class of material (lots have no GS1 key). A draw takes
  part of a lot, so lots appear only in quantity lists with what was drawn (process loss
  included; uom GRM for grams, CTM for carats, none for pieces), never as whole objects;
- the product record: a TransformationEvent, bizStep `commissioning`, when materials came with
  it (inputQuantityList: the draws; outputEPCList: the product; ilmd: the product's master
  data); without materials, an ObjectEvent ADD, bizStep `commissioning`, with the same ilmd;
- a later materials record: a TransformationEvent, bizStep `assembling`;
- every version of every production step: an ObjectEvent OBSERVE, bizStep from the CBV where one
  fits (inspecting, packing, shipping, repairing, assembling for stone setting; `other` for the
  rest), disposition conformant/non_conformant for inspections and in_transit for shipping, and
  our own fields under the `hm:` extension namespace (step kind, sequence, parameters,
  measurements, result, attachments, record hash). A version that was corrected carries an
  `errorDeclaration` (`declarationTime`: the correction's time, `reason` incorrect_data,
  `correctiveEventIDs`: the correcting version's event);
- `readPoint` (and, except for shipping, `bizLocation`): the GLN of the organisation that wrote
  the record as `https://id.gs1.org/414/<GLN>`, when it has one;
- times keep their offset (a step keeps the offset it was sent with).

Raises:
    NotFoundError: unknown product, or one the caller may not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.times import utc
from hallmark.services.access.keys import Actor
from hallmark.services.records import products, steps, views, visibility
from hallmark.services.records.schemas import ProductPublic
from hallmark.store.models import LotDraw, MaterialLot, Organisation, Product, Record

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
HALLMARK_NS = "urn:hallmark:epcis:"

BIZ_STEPS: dict[str, str] = {
    "stone_setting": "assembling",
    "qc_inspection": "inspecting",
    "packaging": "packing",
    "shipping": "shipping",
    "repair": "repairing",
}
UOM = {"g": "GRM", "ct": "CTM"}


def product_epc(product: ProductPublic) -> str:
    if product.gtin:
        return f"https://id.gs1.org/01/{product.gtin}/21/{quote(product.serial, safe='')}"
    return f"urn:hallmark:product:{quote(product.serial, safe='')}"


def lot_epc(lot_id: str) -> str:
    return f"urn:hallmark:lot:{lot_id}"


def location(gln: str) -> str:
    """A GLN as an EPCIS 2.0 location identifier (GS1 Digital Link, AI 414)."""
    return f"https://id.gs1.org/414/{gln}"


def _time(value: datetime) -> tuple[str, str]:
    """eventTime (ISO 8601 with offset) and eventTimeZoneOffset (±hh:mm)."""
    aware = utc(value)
    offset = aware.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return aware.isoformat(), f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _recorded(record: Record) -> str:
    return utc(record.created_at).astimezone(UTC).isoformat()


def _ilmd(product: ProductPublic) -> dict[str, Any]:
    ilmd: dict[str, Any] = {"hm:name": product.name, "hm:category": product.category}
    if product.design_reference:
        ilmd["hm:designReference"] = product.design_reference
    if product.edition:
        ilmd["hm:edition"] = product.edition.model_dump()
    if product.recycled_share is not None:
        ilmd["hm:recycledShare"] = product.recycled_share
    if product.carbon_kg_co2e is not None:
        ilmd["hm:carbonKgCO2e"] = product.carbon_kg_co2e
    return ilmd


class _Places:
    """The GLN of each organisation that wrote a record (one query)."""

    def __init__(self, session: Session, records: Sequence[Record]) -> None:
        ids = {r.organisation_id for r in records}
        rows = session.execute(
            select(Organisation.id, Organisation.gln).where(Organisation.id.in_(ids))
        )
        self._gln: dict[str, str | None] = {org_id: gln for org_id, gln in rows}

    def add(self, event: dict[str, Any], record: Record, *, arrived: bool = True) -> None:
        """readPoint (and bizLocation, unless the object left: `arrived` False) from the
        writer's GLN."""
        gln = self._gln.get(record.organisation_id)
        if gln:
            event["readPoint"] = {"id": location(gln)}
            if arrived:
                event["bizLocation"] = {"id": location(gln)}


def _step_event(
    record: Record, data: Mapping[str, Any], epc: str, places: _Places, corrected_by: Record | None
) -> dict[str, Any]:
    """One step version's ObjectEvent, from its record's data as hashed."""
    kind = data["kind"]
    event_time, offset = _time(datetime.fromisoformat(data["occurred_at"]))
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{record.id}",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "recordTime": _recorded(record),
        "epcList": [epc],
        "action": "OBSERVE",
        "bizStep": BIZ_STEPS.get(kind, "other"),
    }
    if kind == "qc_inspection":
        event["disposition"] = "conformant" if data.get("result") == "pass" else "non_conformant"
    elif kind == "shipping":
        event["disposition"] = "in_transit"
    places.add(event, record, arrived=kind != "shipping")
    if corrected_by is not None:
        event["errorDeclaration"] = {
            "declarationTime": _recorded(corrected_by),
            "reason": "incorrect_data",
            "correctiveEventIDs": [f"urn:uuid:{corrected_by.id}"],
        }
    event["hm:stepKind"] = kind
    event["hm:sequence"] = data["sequence"]
    event["hm:recordHash"] = record.record_hash
    for key, name in (
        ("parameters", "hm:parameters"),
        ("measurements", "hm:measurements"),
        ("result", "hm:result"),
        ("attachments", "hm:attachments"),
    ):
        if data.get(key):
            event[name] = data[key]
    return event


def _transformation(
    record: Record,
    draws: Sequence[tuple[LotDraw, MaterialLot]],
    epc: str,
    biz_step: str,
    places: _Places,
) -> dict[str, Any]:
    """Lots drawn (quantities of a lot class) → the product."""
    event_time, offset = _time(record.created_at)
    drawn: dict[str, tuple[Decimal, str]] = {}
    for draw, lot in draws:  # several draws of one lot in one record add up
        before = drawn.get(lot.id, (Decimal(0), lot.unit))[0]
        drawn[lot.id] = (before + Decimal(draw.quantity) + Decimal(draw.process_loss), lot.unit)
    quantities = []
    for lot_id, (amount, unit) in drawn.items():
        entry: dict[str, Any] = {"epcClass": lot_epc(lot_id), "quantity": float(amount)}
        if unit in UOM:
            entry["uom"] = UOM[unit]
        quantities.append(entry)
    event: dict[str, Any] = {
        "type": "TransformationEvent",
        "eventID": f"urn:uuid:{record.id}",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "recordTime": _recorded(record),
        "inputQuantityList": quantities,
        "outputEPCList": [epc],
        "bizStep": biz_step,
    }
    places.add(event, record)
    return event


def product_epcis(*, session: Session, actor: Actor, serial: str) -> dict[str, Any]:
    """The EPCIS 2.0 document of a visible product."""
    product_row = visibility.visible(session, actor, visibility.PRODUCT, serial)
    return build(session, product_row)


def build(session: Session, product_row: Product) -> dict[str, Any]:
    product = products.product_public(session, product_row)
    epc = product_epc(product)
    by_record: dict[str, list[tuple[LotDraw, MaterialLot]]] = {}
    for draw, lot in products.drawn_lots(session, product.id):
        by_record.setdefault(draw.record_id, []).append((draw, lot))
    records = views.records_by_id(session, [product_row.record_id, *by_record])
    timeline = steps.timeline(session, product_row)
    places = _Places(session, [*records.values(), *(r for _, history in timeline for r in history)])
    creation = records[product_row.record_id]
    ilmd = _ilmd(product)
    if product_row.record_id in by_record:
        first = _transformation(
            creation, by_record[product_row.record_id], epc, "commissioning", places
        )
    else:
        created, offset = _time(creation.created_at)
        first = {
            "type": "ObjectEvent",
            "eventID": f"urn:uuid:{creation.id}",
            "eventTime": created,
            "eventTimeZoneOffset": offset,
            "recordTime": _recorded(creation),
            "epcList": [epc],
            "action": "ADD",
            "bizStep": "commissioning",
            "disposition": "active",
        }
        places.add(first, creation)
    first["ilmd"] = ilmd
    first["hm:recordHash"] = creation.record_hash
    events: list[dict[str, Any]] = [first]
    for record_id, group in by_record.items():
        if record_id == product_row.record_id:
            continue
        event = _transformation(records[record_id], group, epc, "assembling", places)
        event["hm:recordHash"] = records[record_id].record_hash
        events.append(event)
    for _step, history in timeline:
        for version, later in zip(history, [*history[1:], None], strict=True):
            data = views.document(version)["data"]
            events.append(_step_event(version, data, epc, places, later))
    return {
        "@context": [EPCIS_CONTEXT, {"hm": HALLMARK_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"eventList": events},
    }
