"""A product's history as an EPCIS 2.0 JSON-LD document (GS1 EPCIS/CBV 2.0).

Mapping:
- the product's identifier: with a GTIN, the GS1 Digital Link URI
  `https://id.gs1.org/01/<GTIN-14>/21/<serial>` (a valid EPCIS 2.0 identifier that needs no GS1
  company prefix length); without, `urn:hallmark:product:<serial>`;
- lots: `urn:hallmark:lot:<lot id>` (lots have no GS1 key);
- one ObjectEvent ADD, bizStep `commissioning`, when the product record was made;
- one TransformationEvent per materials record (creation, later additions): inputEPCList = the
  lots, inputQuantityList = what was drawn (uom GRM for grams, CTM for carats, none for
  pieces), outputEPCList = the product, ilmd = the product's master data;
- one ObjectEvent OBSERVE per production step (its current version), bizStep from the CBV where
  one fits (inspecting, packing, shipping, repairing, assembling for stone setting), disposition
  conformant/non_conformant for inspections and in_transit for shipping, and our own fields
  under the `hm:` extension namespace (step kind, parameters, measurements, result, record hash);
- eventID: `urn:uuid:<record id>` (commissioning: a UUIDv5 of the product's identifier);
  times with their offset (a step keeps the offset it was sent with).

Raises:
    NotFoundError: unknown product, or one the caller may not see.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from hallmark.core.times import utc
from hallmark.services.access.keys import Actor
from hallmark.services.records import products, steps, views, visibility
from hallmark.services.records.schemas import (
    ProductPublic,
    StepPublic,
)
from hallmark.store.models import LotDraw, MaterialLot, Product, Record

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


def _time(value: datetime) -> tuple[str, str]:
    """eventTime (ISO 8601 with offset) and eventTimeZoneOffset (±hh:mm)."""
    aware = utc(value)
    offset = aware.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return aware.isoformat(), f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


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


def _step_event(step: StepPublic, epc: str) -> dict[str, Any]:
    event_time, offset = _time(step.occurred_at)
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{step.record.id}",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "recordTime": step.record.recorded_at.astimezone(UTC).isoformat(),
        "epcList": [epc],
        "action": "OBSERVE",
    }
    if step.kind in BIZ_STEPS:
        event["bizStep"] = BIZ_STEPS[step.kind]
    if step.kind == "qc_inspection":
        event["disposition"] = "conformant" if step.result == "pass" else "non_conformant"
    elif step.kind == "shipping":
        event["disposition"] = "in_transit"
    event["hm:stepKind"] = step.kind
    event["hm:sequence"] = step.sequence
    event["hm:recordHash"] = step.record.record_hash
    if step.parameters:
        event["hm:parameters"] = step.parameters
    if step.measurements:
        event["hm:measurements"] = step.measurements
    if step.result:
        event["hm:result"] = step.result
    if step.attachments:
        event["hm:attachments"] = step.attachments
    if step.record.corrects:
        event["hm:corrects"] = step.record.corrects
    return event


def product_epcis(*, session: Session, actor: Actor, serial: str) -> dict[str, Any]:
    """The EPCIS 2.0 document of a visible product."""
    product_row = visibility.visible(session, actor, visibility.PRODUCT, serial)
    return build(session, product_row)


def build(session: Session, product_row: Product) -> dict[str, Any]:
    product = products.product_public(session, product_row)
    epc = product_epc(product)
    events: list[dict[str, Any]] = []
    created, offset = _time(product.record.recorded_at)
    events.append(
        {
            "type": "ObjectEvent",
            "eventID": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, epc)}",
            "eventTime": created,
            "eventTimeZoneOffset": offset,
            "epcList": [epc],
            "action": "ADD",
            "bizStep": "commissioning",
            "disposition": "active",
            "hm:recordHash": product.record.record_hash,
        }
    )
    draws = products.drawn_lots(session, product.id)
    by_record: dict[str, list[tuple[LotDraw, MaterialLot]]] = {}
    for draw, lot in draws:
        by_record.setdefault(draw.record_id, []).append((draw, lot))
    records = views.records_by_id(session, by_record)
    for record_id, group in by_record.items():
        record: Record = records[record_id]
        event_time, offset = _time(record.created_at)
        quantities = []
        for draw, lot in group:
            entry: dict[str, Any] = {
                "epcClass": lot_epc(lot.id),
                "quantity": float(draw.quantity + draw.process_loss),
            }
            if lot.unit in UOM:
                entry["uom"] = UOM[lot.unit]
            quantities.append(entry)
        events.append(
            {
                "type": "TransformationEvent",
                "eventID": f"urn:uuid:{record_id}",
                "eventTime": event_time,
                "eventTimeZoneOffset": offset,
                "inputEPCList": list(dict.fromkeys(lot_epc(lot.id) for _, lot in group)),
                "inputQuantityList": quantities,
                "outputEPCList": [epc],
                "ilmd": _ilmd(product),
                "hm:recordHash": record.record_hash,
            }
        )
    events.extend(_step_event(step, epc) for step, _ in steps.timeline(session, product_row))
    return {
        "@context": [EPCIS_CONTEXT, {"hm": HALLMARK_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"eventList": events},
    }
