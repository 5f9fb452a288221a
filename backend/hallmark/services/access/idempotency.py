"""Idempotent writes: a replayed Idempotency-Key gets the first answer back, never a second write.

- The caller is authorised for the write before anything else: a replay answers only a caller
  who may make the request (another key of the same principal with a lesser role gets 403).
- The write and its stored answer commit in one transaction, so a crash can't leave one without
  the other.
- Copies of one request sent at once get the one stored answer: inside the write's transaction
  the key is locked (PostgreSQL: a transaction advisory lock on the principal and key; SQLite:
  every write transaction holds the database's write lock) and the stored answer is looked up
  again, so a copy waits for the first and replays its answer. Should a copy still fail (a
  unique violation, or a domain error the first copy's rows caused), the stored answer, if one
  is there by then, is its answer.
- A stored answer expires `ttl` after it was stored (the `idempotency_key_hours` setting, 24 h
  by default): the key may then be used for a new request. Expired answers are deleted by the
  next keyed write, at most once a minute per process.

Raises:
    IdempotencyKeyReusedError: the key came back with a different request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import HallmarkError, IdempotencyKeyReusedError, InvalidInputError
from hallmark.core.times import utc, utcnow
from hallmark.services.access import authorisation
from hallmark.services.access.keys import Actor
from hallmark.store.db import transaction
from hallmark.store.models import IdempotentResponse

MAX_KEY_LENGTH = 200
#: How long a stored answer is kept unless the settings say otherwise.
DEFAULT_TTL = timedelta(hours=24)
#: The least time between two purges of expired answers by one process.
PURGE_INTERVAL_SECONDS = 60.0


class Every:
    """`due()` is true at most once per `seconds` (thread-safe)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last = -seconds
        self._lock = threading.Lock()

    def due(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.seconds:
                return False
            self._last = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._last = -self.seconds


#: When this process last deleted expired answers.
purges = Every(PURGE_INTERVAL_SECONDS)


def run(
    *,
    sessions: sessionmaker[Session],
    actor: Actor,
    permission: str,
    key: str | None,
    fingerprint: str,
    write: Callable[[Session], tuple[int, Any]],
    ttl: timedelta = DEFAULT_TTL,
) -> tuple[int, Any, bool]:
    """Run `write` once per key; returns (status, JSON body, replayed)."""
    authorisation.require_role(actor, permission)
    if key is None:
        with transaction(sessions) as session:
            status, body = write(session)
        return status, body, False
    check_key(key)
    principal_id = actor.principal_id
    with sessions() as session:
        stored = stored_answer(session, principal_id, key, fingerprint, ttl=ttl)
    if stored is not None:
        return stored[0], stored[1], True
    try:
        with transaction(sessions) as session:
            now = utcnow()
            _purge(session, now - ttl)
            lock_key(session, principal_id, key)
            stored = stored_answer(
                session, principal_id, key, fingerprint, ttl=ttl, now=now, forget=True
            )
            if stored is not None:
                return stored[0], stored[1], True
            status, body = write(session)
            session.add(
                IdempotentResponse(
                    principal_id=principal_id,
                    key=key,
                    request_hash=fingerprint,
                    status_code=status,
                    body=body,
                    created_at=now,
                )
            )
    except (IntegrityError, HallmarkError) as exc:
        # The same key stored meanwhile (a unique violation), or a domain error the first
        # copy's rows caused: the stored answer, if there is one by now.
        if isinstance(exc, IdempotencyKeyReusedError):
            raise
        with sessions() as session:
            stored = stored_answer(session, principal_id, key, fingerprint, ttl=ttl)
        if stored is None:
            raise
        return stored[0], stored[1], True
    return status, body, False


def check_key(key: str | None) -> None:
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
        raise InvalidInputError(f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters")


def stored_answer(
    session: Session,
    principal_id: str,
    key: str,
    fingerprint: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
    forget: bool = False,
) -> tuple[int, Any] | None:
    """The stored (status, body) of a key, None when unused or expired; refuses a different
    request. `forget` (in a write transaction): delete an expired answer, so the key can store
    a new one."""
    row = session.get(IdempotentResponse, (principal_id, key), populate_existing=True)
    if row is None:
        return None
    if utc(row.created_at) <= (now or utcnow()) - ttl:
        if forget:
            session.delete(row)
            session.flush()
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReusedError(key)
    return row.status_code, row.body


def lock_key(session: Session, principal_id: str, key: str) -> None:
    """Hold the key until the transaction ends (PostgreSQL; SQLite's write transactions are
    serialised already)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"idempotency\n{principal_id}\n{key}".encode()).digest()
    session.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], signed=True))))


def _purge(session: Session, cutoff: datetime) -> None:
    """Delete every expired answer, at most once per `PURGE_INTERVAL_SECONDS` per process."""
    if not purges.due():
        return
    session.execute(delete(IdempotentResponse).where(IdempotentResponse.created_at <= cutoff))
