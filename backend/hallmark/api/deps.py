"""Dependencies shared by the routes, as Annotated aliases."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from hallmark.services.auth import Actor, authenticate
from hallmark.services.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_sessions(runtime: RuntimeDep) -> sessionmaker[Session]:
    assert runtime.sessions is not None
    return runtime.sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


def get_actor(
    request: Request,
    sessions: SessionsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key", include_in_schema=False)] = None,
) -> Actor:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    presented = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        presented = authorization[7:].strip()
    with sessions() as session:
        actor = authenticate(session, presented)
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Replaying a write with the same key returns the first answer",
    ),
]


async def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path, query and body: what an Idempotency-Key is bound to."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}?{request.url.query}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()


FingerprintDep = Annotated[str, Depends(request_fingerprint)]
