"""Dependencies shared by the routes, as Annotated aliases."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hallmark.runtime import Runtime
from hallmark.services.access.keys import Actor, authenticate_cached, key_prefix


async def get_runtime(request: Request) -> Runtime:
    # Dependencies are `async def` when they do not block: FastAPI runs a plain `def` one in a
    # worker thread, a hop that costs more than the dependency itself.
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_sessions(runtime: RuntimeDep) -> sessionmaker[Session]:
    assert runtime.sessions is not None
    return runtime.sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


async def get_read_sessions(runtime: RuntimeDep) -> sessionmaker[Session]:
    """Sessions for routes that only read: they never wait for a writer."""
    assert runtime.read_sessions is not None
    return runtime.read_sessions


ReadSessionsDep = Annotated[sessionmaker[Session], Depends(get_read_sessions)]


def presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>`, else from `X-API-Key: <key>`."""
    authorization = request.headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate_request(request: Request) -> Actor:
    """The caller, from `Authorization: Bearer <key>` or `X-API-Key: <key>`, once per request
    (an API write is authenticated before its body is read: `guards.AuthenticatedBodies`).

    A key the process found valid within `key_cache_seconds` is not looked up again
    (`keys.KeyCache`). SQLite: looked up on the event loop itself, on a plain connection of the
    read engine: one indexed read of a local snapshot (it never waits for a writer) costs less
    than a worker-thread hop. PostgreSQL: in a worker thread, since a round trip to a server (or
    a wait for a pooled connection) must never stall the loop.
    """
    known: Actor | None = getattr(request.state, "actor", None)
    if known is not None:
        return known
    runtime: Runtime = request.app.state.runtime
    presented = presented_key(request)

    cache = runtime.key_cache
    if presented and cache is not None and (actor := cache.get(presented)) is not None:
        request.state.actor = actor
        return actor

    def lookup(engine: Engine) -> Actor:
        with engine.connect() as connection:
            return authenticate_cached(cache, connection, presented)

    if runtime.read_engine is not None:
        actor = lookup(runtime.read_engine)
    else:
        assert runtime.engine is not None
        actor = await run_in_threadpool(lookup, runtime.engine)
    request.state.actor = actor
    return actor


async def get_actor(request: Request) -> Actor:
    """The caller (`authenticate_request`)."""
    return await authenticate_request(request)


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


@dataclass(frozen=True, slots=True)
class WriteCall:
    """What an idempotent write needs from its request (`writes.idempotent`): the caller, the
    sessions, the request's fingerprint and its Idempotency-Key."""

    actor: Actor
    sessions: sessionmaker[Session]
    fingerprint: str
    key: str | None
    #: How long the key's first answer is kept.
    ttl: timedelta


async def write_call(
    actor: CurrentActor,
    runtime: RuntimeDep,
    sessions: SessionsDep,
    fingerprint: FingerprintDep,
    key: IdempotencyKey = None,
) -> WriteCall:
    # The caller first (no body is read for an unauthenticated request); a route that reads a
    # bounded body declares the caller, then the body, then this (dependencies run in order).
    return WriteCall(actor, sessions, fingerprint, key, runtime.settings.idempotency_ttl)


WriteCallDep = Annotated[WriteCall, Depends(write_call)]


@dataclass(frozen=True, slots=True)
class CreateCall:
    """What a single-create endpoint hands to the group commit. The key is checked for form
    only: the group commit looks it up with the other waiting creates' keys, in one query."""

    request: Request
    runtime: Runtime
    presented: str
    fingerprint: str
    idempotency_key: str | None


async def create_call(request: Request, key: IdempotencyKey = None) -> CreateCall:
    # One dependency for all of it: each one FastAPI resolves costs about as much as its work.
    presented = presented_key(request)
    key_prefix(presented)
    assert presented is not None
    runtime: Runtime = request.app.state.runtime
    fingerprint = await request_fingerprint(request)
    return CreateCall(request, runtime, presented, fingerprint, key)


CreateCallDep = Annotated[CreateCall, Depends(create_call)]
