"""Idempotent writes: a replayed Idempotency-Key gets the first answer back, never a second write.

The write and its stored answer commit in one transaction, so a crash can't leave one without
the other. Two concurrent requests with the same key: one commits, the other hits the primary
key, rolls back and returns the stored answer.

Raises:
    IdempotencyKeyReusedError: the key came back with a different request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import (
    IdempotencyKeyReusedError,
    InvalidInputError,
    UniqueViolationError,
)
from hallmark.store.db import transaction
from hallmark.store.models import IdempotentResponse

MAX_KEY_LENGTH = 200


def run(
    *,
    sessions: sessionmaker[Session],
    principal_id: str,
    key: str | None,
    fingerprint: str,
    write: Callable[[Session], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run `write` once per key; returns (status, JSON body, replayed)."""
    if key is None:
        with transaction(sessions) as session:
            status, body = write(session)
        return status, body, False
    check_key(key)
    stored = _stored(sessions, principal_id, key, fingerprint)
    if stored is not None:
        return stored[0], stored[1], True
    try:
        with transaction(sessions) as session:
            status, body = write(session)
            session.add(
                IdempotentResponse(
                    principal_id=principal_id,
                    key=key,
                    request_hash=fingerprint,
                    status_code=status,
                    body=body,
                )
            )
    except UniqueViolationError:  # the same key stored meanwhile (or the write's own conflict)
        stored = _stored(sessions, principal_id, key, fingerprint)
        if stored is None:
            raise
        return stored[0], stored[1], True
    return status, body, False


def check_key(key: str | None) -> None:
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH):
        raise InvalidInputError(f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters")


def stored_answer(
    session: Session, principal_id: str, key: str, fingerprint: str
) -> tuple[int, Any] | None:
    """The stored (status, body) of a key, None when unused; refuses a different request."""
    row = session.get(IdempotentResponse, (principal_id, key))
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReusedError(key)
    return row.status_code, row.body


def _stored(
    sessions: sessionmaker[Session], principal_id: str, key: str, fingerprint: str
) -> tuple[int, Any] | None:
    with sessions() as session:
        return stored_answer(session, principal_id, key, fingerprint)
