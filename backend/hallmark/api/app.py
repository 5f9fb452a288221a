"""The FastAPI application: routes, error handlers, and the runtime it serves."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from hallmark import __version__
from hallmark.api import openapi, pages, reference
from hallmark.api.errors import install_error_handlers
from hallmark.api.guards import AuthenticatedBodies, RequestContext
from hallmark.api.kept_verifications import KeptVerifications
from hallmark.api.ratelimit import ClientRateLimit
from hallmark.api.responses import FastJSONResponse
from hallmark.api.routes import (
    anchor_batches,
    attachments,
    certificate_prints,
    certificates,
    design_evidence,
    design_rights,
    designs,
    health,
    lots,
    me,
    products,
    records,
    steps,
    verification,
)
from hallmark.api.single_creates import SingleCreates
from hallmark.config import Settings
from hallmark.runtime import Runtime


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around a runtime; one not started yet is started with the app and stopped
    with it (`uvicorn --factory hallmark.api.app:create_app` works)."""
    runtime = runtime if runtime is not None else Runtime(Settings())
    owns_runtime = not runtime.started

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owns_runtime:
            await run_in_threadpool(runtime.start)
            gc.freeze()  # what start-up loaded lives as long as the process (see `hallmark serve`)
        if runtime.sessions is not None and runtime.deployment is not None:
            runtime.resume_certificate_orders()
        try:
            yield
        finally:
            kept = getattr(_app.state, "verification_cache", None)
            if kept is not None:  # its block watcher's thread
                await run_in_threadpool(kept.close)
            await run_in_threadpool(runtime.stop_resuming_orders)
            if owns_runtime:
                await run_in_threadpool(runtime.stop)

    app = FastAPI(
        title="Hallmark",
        version=__version__,
        summary="Provenance and certificates for fine jewellery, anchored on an EVM chain.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        docs_url=None,  # served by `reference` with Swagger UI's assets from Hallmark itself
        redoc_url=None,  # ReDoc loads its script from a CDN
    )
    app.state.runtime = runtime
    app.state.verify_rate_limit = ClientRateLimit(runtime.settings.verify_rate_limit)
    install_error_handlers(app)
    # Outermost last: request ids and the catch-all around everything, kept verifications
    # answered first, the single creates before the other writes are authenticated and their
    # bodies checked.
    app.add_middleware(AuthenticatedBodies)
    app.add_middleware(SingleCreates)
    app.add_middleware(openapi.AllowedMethods)
    app.add_middleware(KeptVerifications)
    app.add_middleware(RequestContext)
    app.include_router(health.router)
    app.include_router(me.router)
    app.include_router(lots.router)
    app.include_router(products.router)
    app.include_router(steps.router)
    app.include_router(attachments.router)
    app.include_router(records.router)
    app.include_router(anchor_batches.router)
    app.include_router(designs.router)
    app.include_router(design_evidence.router)
    app.include_router(design_rights.router)
    app.include_router(certificates.router)
    app.include_router(certificates.orders)
    app.include_router(verification.router)
    app.include_router(certificate_prints.router)
    app.include_router(certificate_prints.links)
    pages.install(app)
    reference.install(app)
    openapi.install(app)
    return app
