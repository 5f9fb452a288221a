"""Records as anchored: canonical text, hash, and anchoring (root, transaction, block, proof)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from hallmark.api.deps import CurrentActor, ReadSessionsDep
from hallmark.services.records import provenance
from hallmark.services.records.schemas import RecordPublic

router = APIRouter(prefix="/api/v1/records", tags=["records"])

RecordId = Annotated[str, Path(max_length=36, description="The record's id")]


ViaProduct = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Serial of a product whose provenance shows the record (needed only for "
        "lots reached through recycling)",
    ),
]


@router.get("/{record_id}")
def get_record(
    record_id: RecordId, actor: CurrentActor, sessions: ReadSessionsDep, product: ViaProduct = None
) -> RecordPublic:
    """Read a record your organisation can see (its own, its lots' and products', and those its
    products' provenance shows) with its canonical text and anchoring proof."""
    with sessions() as session:
        return provenance.record_of(
            session=session, actor=actor, record_id=record_id, product=product
        )
