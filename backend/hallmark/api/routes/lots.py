"""Material lots: create, list, read, batch import, split, transfer, correct."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hallmark.api.deps import (
    CreateCallDep,
    CurrentActor,
    FingerprintDep,
    IdempotencyKey,
    ReadSessionsDep,
    RuntimeDep,
    SessionsDep,
)
from hallmark.api.writes import (
    BATCH_RESPONSES,
    BatchMode,
    BatchPayload,
    Limit,
    Skip,
    batch_openapi,
    created,
    idempotent,
)
from hallmark.services.records import imports, lots
from hallmark.services.records.schemas import (
    BatchResult,
    LotCorrection,
    LotCreate,
    LotPublic,
    LotSplit,
    LotsPublic,
    LotTransfer,
)

router = APIRouter(prefix="/api/v1/lots", tags=["lots"])

LotId = Annotated[str, Path(description="The lot's id (its first record's id)")]

CSV_COLUMNS = (
    "Columns: lot_number, material, grade, quantity, unit, origin.name, origin.country, "
    "origin.latitude, origin.longitude, recycled, carbon_kg_co2e, "
    "ethics.conflict_free, ethics.fair_trade, ethics.wage_disclosure, and JSON cells (or "
    "dotted columns) for certificates, recycled_from, refining, transport, extra, private. "
    "See docs/RECORDS.md."
)


@router.post("", status_code=201, response_model=LotPublic)
async def create_lot(
    *,
    lot: LotCreate,
    call: CreateCallDep,
) -> object:
    """Create a material lot of the caller's supplier organisation."""
    return await created(call, kind=lots.BATCH, item=lot)


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchResult,
    responses=BATCH_RESPONSES,
    openapi_extra=batch_openapi("LotCreate", CSV_COLUMNS),
)
async def create_lots_batch(
    *,
    actor: CurrentActor,
    payload: BatchPayload,
    sessions: SessionsDep,
    runtime: RuntimeDep,
    fingerprint: FingerprintDep,
    mode: BatchMode = "all_or_nothing",
    key: IdempotencyKey = None,
) -> object:
    """Create up to 10,000 lots from a JSON array or a CSV table."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=201 if mode == "all_or_nothing" else 200,
        write=lambda session: imports.ingest(
            session=session,
            actor=actor,
            kind="lots",
            body=payload.data,
            content_type=payload.media_type,
            mode=mode,
            max_rows=runtime.settings.batch_max_rows,
            snapshot=runtime.read_sessions,
        ),
    )


@router.get("")
def list_lots(
    *, actor: CurrentActor, sessions: ReadSessionsDep, skip: Skip = 0, limit: Limit = 100
) -> LotsPublic:
    """List the lots the caller's organisation owns or holds."""
    with sessions() as session:
        return lots.list_lots(session=session, actor=actor, skip=skip, limit=limit)


@router.get("/{lot_id}")
def get_lot(lot_id: LotId, actor: CurrentActor, sessions: ReadSessionsDep) -> LotPublic:
    """Read a lot with its record history."""
    with sessions() as session:
        return lots.get_lot(session=session, actor=actor, lot_id=lot_id)


@router.post("/{lot_id}/split", status_code=201, response_model=LotsPublic)
async def split_lot(
    *,
    lot_id: LotId,
    split: LotSplit,
    actor: CurrentActor,
    sessions: SessionsDep,
    fingerprint: FingerprintDep,
    key: IdempotencyKey = None,
) -> object:
    """Split child lots off a lot (their quantities count against its remainder)."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=201,
        write=lambda session: lots.split_lot(
            session=session, actor=actor, lot_id=lot_id, split=split
        ),
    )


@router.post("/{lot_id}/transfer", response_model=LotPublic)
async def transfer_lot(
    *,
    lot_id: LotId,
    transfer: LotTransfer,
    actor: CurrentActor,
    sessions: SessionsDep,
    fingerprint: FingerprintDep,
    key: IdempotencyKey = None,
) -> object:
    """Hand a lot to another organisation, its new custodian."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=200,
        write=lambda session: lots.transfer_lot(
            session=session, actor=actor, lot_id=lot_id, transfer=transfer
        ),
    )


@router.post("/{lot_id}/corrections", status_code=201, response_model=LotPublic)
async def correct_lot(
    *,
    lot_id: LotId,
    correction: LotCorrection,
    actor: CurrentActor,
    sessions: SessionsDep,
    fingerprint: FingerprintDep,
    key: IdempotencyKey = None,
) -> object:
    """Correct a lot with a new record that names the one it corrects."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=201,
        write=lambda session: lots.correct_lot(
            session=session, actor=actor, lot_id=lot_id, correction=correction
        ),
    )
