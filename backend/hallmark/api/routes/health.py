"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
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
async def readyz(runtime: RuntimeDep, request: Request) -> JSONResponse:
    """Check the chain, the deployed contracts and the database now; say too how many
    verifications of stored certificates this process has reused at a new block and how many
    it checked whole (informational)."""
    ready, report = await run_in_threadpool(runtime.readiness)
    body: dict[str, Any] = {"status": "ready" if ready else "not ready", **report}
    cache = getattr(request.app.state, "verification_cache", None)
    body["verifications"] = cache.counts() if cache is not None else {"reused": 0, "whole": 0}
    return JSONResponse(body, status_code=200 if ready else 503)
