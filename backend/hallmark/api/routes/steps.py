"""Production steps: append, batch import, read, correct."""

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
    batch_openapi,
    created,
    idempotent,
)
from hallmark.services.records import imports, steps
from hallmark.services.records.schemas import (
    BatchResult,
    StepCorrection,
    StepCreate,
    StepPublic,
)

router = APIRouter(prefix="/api/v1/steps", tags=["steps"])

StepId = Annotated[str, Path(description="The step's id (any of its versions' record ids)")]

CSV_COLUMNS = (
    "Columns: product_serial, kind, occurred_at (RFC 3339 with offset), result, responsible, "
    "previous_step_hash, attachments (JSON array or SHA-256 values separated by ';'), and "
    "parameters / measurements as JSON cells or dotted columns (parameters.layer_height_mm). "
    "See docs/RECORDS.md."
)


@router.post("", status_code=201, response_model=StepPublic)
async def create_step(
    *,
    step: StepCreate,
    call: CreateCallDep,
) -> object:
    """Append a production step to its product's hash chain (assigned factory only)."""
    return await created(call, kind=steps.BATCH, item=step)


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchResult,
    responses=BATCH_RESPONSES,
    openapi_extra=batch_openapi("StepCreate", CSV_COLUMNS),
)
async def create_steps_batch(
    *,
    actor: CurrentActor,
    payload: BatchPayload,
    sessions: SessionsDep,
    runtime: RuntimeDep,
    fingerprint: FingerprintDep,
    mode: BatchMode = "all_or_nothing",
    key: IdempotencyKey = None,
) -> object:
    """Append up to 10,000 steps from a JSON array or a CSV table."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=201 if mode == "all_or_nothing" else 200,
        write=lambda session: imports.ingest(
            session=session,
            actor=actor,
            kind="steps",
            body=payload.data,
            content_type=payload.media_type,
            mode=mode,
            max_rows=runtime.settings.batch_max_rows,
            snapshot=runtime.read_sessions,
        ),
    )


@router.get("/{step_id}")
def get_step(step_id: StepId, actor: CurrentActor, sessions: ReadSessionsDep) -> StepPublic:
    """Read a step (its current version and history)."""
    with sessions() as session:
        return steps.get_step(session=session, actor=actor, step_id=step_id)


@router.post("/{step_id}/corrections", status_code=201, response_model=StepPublic)
async def correct_step(
    *,
    step_id: StepId,
    correction: StepCorrection,
    actor: CurrentActor,
    sessions: SessionsDep,
    fingerprint: FingerprintDep,
    key: IdempotencyKey = None,
) -> object:
    """Correct a step with a new chain link that names the version it corrects."""
    return await idempotent(
        sessions=sessions,
        actor=actor,
        key=key,
        fingerprint=fingerprint,
        status=201,
        write=lambda session: steps.correct_step(
            session=session, actor=actor, step_id=step_id, correction=correction
        ),
    )
