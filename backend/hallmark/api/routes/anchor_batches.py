"""Anchored batches of the caller's organisation: read one as its ledger holds it now, flag one
(withdraw it on chain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from hallmark.api.deps import CurrentActor, RuntimeDep
from hallmark.services.access.authorisation import require_role
from hallmark.services.anchoring import flags
from hallmark.services.anchoring.schemas import BatchPublic, FlagCreate, FlagPublic

router = APIRouter(prefix="/api/v1/anchor-batches", tags=["anchoring"])

#: Batch ids are 32-bit integers in the database: a larger one names no batch (422, never a 500).
BatchId = Annotated[
    int,
    Path(ge=1, le=2**31 - 1, description="The batch's id (a record's anchoring.batch_id)"),
]


@router.get("/{batch_id}", responses={404: {"description": "No such batch of your organisation"}})
async def get_batch(batch_id: BatchId, actor: CurrentActor, runtime: RuntimeDep) -> BatchPublic:
    """Read one of your organisation's batches, checked now on the ledger it is anchored on."""

    def read() -> flags.Standing:  # asks the node: off the event loop
        assert runtime.read_sessions is not None
        return flags.batch_standing(
            sessions=runtime.read_sessions,
            ledger_of=lambda batch: runtime.ledger_for(batch.deployment_id),
            organisation_id=actor.organisation_id,
            batch_id=batch_id,
        )

    standing = await run_in_threadpool(read)
    return BatchPublic(
        batch_id=standing.batch_id,
        kind=standing.kind,
        root=standing.root,
        record_count=standing.record_count,
        status=standing.status,
        anchorer=standing.anchorer,
        transaction=standing.transaction,
        block=standing.block,
        ledger=standing.ledger,
        contracts_version=standing.contracts_version,
        anchored=standing.anchored,
        state=standing.state,
        cause=standing.cause,
        reason=standing.reason,
        at=standing.at,
    )


@router.post(
    "/{batch_id}/flag",
    responses={
        404: {"description": "No such batch of your organisation"},
        409: {"description": "Not anchored yet, or anchored on a version 1 ledger"},
    },
)
async def flag_batch(
    batch_id: BatchId, body: FlagCreate, actor: CurrentActor, runtime: RuntimeDep
) -> FlagPublic:
    """Flag one of your organisation's anchored batches on chain, with a reason."""
    require_role(actor, "batch.flag")
    assert runtime.sessions is not None

    def flag() -> flags.Flagged:  # waits for the chain's receipt: off the event loop
        assert runtime.sessions is not None
        return flags.flag_batch(
            sessions=runtime.sessions,
            ledger_of=lambda batch: runtime.ledger_for(batch.deployment_id),
            passphrase=runtime.settings.passphrase,
            actor=actor.audit,
            organisation_id=actor.organisation_id,
            batch_id=batch_id,
            reason=body.reason,
        )

    flagged = await run_in_threadpool(flag)
    return FlagPublic(
        batch_id=flagged.batch_id,
        root=flagged.root,
        anchorer=flagged.anchorer,
        cause=flagged.cause,
        reason=flagged.reason,
        reason_code=flagged.reason_code,
        transaction=flagged.tx_hash,
    )
