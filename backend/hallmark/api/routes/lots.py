"""Material lots: create, list, read, batch import, split, transfer, correct."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from hallmark.api.deps import (
    CreateCallDep,
    CurrentActor,
    ReadSessionsDep,
    WriteCallDep,
)
from hallmark.api.routes import batches
from hallmark.api.writes import (
    Limit,
    Skip,
    create_single,
    idempotent,
)
from hallmark.services.records import lots
from hallmark.services.records.schemas import (
    LotCorrection,
    LotCreate,
    LotPublic,
    LotSplit,
    LotsPublic,
    LotTransfer,
)

router = APIRouter(prefix="/api/v1/lots", tags=["lots"])

LotId = Annotated[str, Path(description="The lot's id (its first record's id)")]


@router.post("", status_code=201, response_model=LotPublic)
async def create_lot(
    *,
    lot: LotCreate,
    call: CreateCallDep,
) -> object:
    """Create a material lot of the caller's supplier organisation.

    \f
    Served by `hallmark.api.single_creates.SingleCreates` before the router, with the same
    steps and answers; declared here for the OpenAPI document and for an app without that
    middleware.
    """
    return await create_single(call, kind=lots.KIND, item=lot)


batches.add_route(router, "lots")


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
    call: WriteCallDep,
) -> object:
    """Split child lots off a lot (their quantities count against its remainder)."""
    return await idempotent(
        call,
        permission="lot.split",
        status=201,
        write=lambda session: lots.split_lot(
            session=session, actor=call.actor, lot_id=lot_id, split=split
        ),
    )


@router.post("/{lot_id}/transfer", response_model=LotPublic)
async def transfer_lot(
    *,
    lot_id: LotId,
    transfer: LotTransfer,
    call: WriteCallDep,
) -> object:
    """Hand a lot to another organisation, its new custodian."""
    return await idempotent(
        call,
        permission="lot.transfer",
        status=200,
        write=lambda session: lots.transfer_lot(
            session=session, actor=call.actor, lot_id=lot_id, transfer=transfer
        ),
    )


@router.post("/{lot_id}/corrections", status_code=201, response_model=LotPublic)
async def correct_lot(
    *,
    lot_id: LotId,
    correction: LotCorrection,
    call: WriteCallDep,
) -> object:
    """Correct a lot with a new record that names the one it corrects."""
    return await idempotent(
        call,
        permission="lot.correct",
        status=201,
        write=lambda session: lots.correct_lot(
            session=session, actor=call.actor, lot_id=lot_id, correction=correction
        ),
    )
