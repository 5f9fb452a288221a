"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from hallmark.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Say the process is alive."""
    return {"status": "alive"}


@router.get(
    "/readyz", responses={503: {"description": "Not ready: the report names what is wrong"}}
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Check the chain, the deployed contracts and the database now."""
    ready, report = await run_in_threadpool(runtime.readiness)
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", **report}
    return JSONResponse(body, status_code=200 if ready else 503)
