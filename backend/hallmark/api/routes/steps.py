"""Production steps: append, batch import, read, correct."""

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
    create_single,
    idempotent,
)
from hallmark.services.records import steps
from hallmark.services.records.schemas import (
    StepCorrection,
    StepCreate,
    StepPublic,
)

router = APIRouter(prefix="/api/v1/steps", tags=["steps"])

StepId = Annotated[str, Path(description="The step's id (any of its versions' record ids)")]


@router.post("", status_code=201, response_model=StepPublic)
async def create_step(
    *,
    step: StepCreate,
    call: CreateCallDep,
) -> object:
    """Append a production step to its product's hash chain (assigned factory only).

    \f
    Served by `hallmark.api.single_creates.SingleCreates` before the router, with the same
    steps and answers; declared here for the OpenAPI document and for an app without that
    middleware.
    """
    return await create_single(call, kind=steps.KIND, item=step)


batches.add_route(router, "steps")


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
    call: WriteCallDep,
) -> object:
    """Correct a step with a new chain link that names the version it corrects."""
    return await idempotent(
        call,
        permission="step.correct",
        status=201,
        write=lambda session: steps.correct_step(
            session=session, actor=call.actor, step_id=step_id, correction=correction
        ),
    )
