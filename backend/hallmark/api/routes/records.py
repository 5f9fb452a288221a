"""Records as anchored: canonical text, hash, and anchoring (root, transaction, block, proof)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hallmark.api.deps import CurrentActor, ReadSessionsDep
from hallmark.services.records import provenance
from hallmark.services.records.schemas import RecordPublic

router = APIRouter(prefix="/api/v1/records", tags=["records"])

RecordId = Annotated[str, Path(max_length=36, description="The record's id")]


@router.get("/{record_id}")
def get_record(record_id: RecordId, actor: CurrentActor, sessions: ReadSessionsDep) -> RecordPublic:
    """Read one of your organisation's records with its anchoring proof."""
    with sessions() as session:
        return provenance.record_of(session=session, actor=actor, record_id=record_id)
