"""API keys: issue (shown once), authenticate, revoke.

A key reads `hm_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys are 256-bit random secrets, so a fast hash is enough (a slow
password hash protects guessable passwords, which these are not).

A process keeps the keys it found valid for `KeyCache.ttl` seconds (`HALLMARK_KEY_CACHE_SECONDS`,
default 1; 0: every request looks its key up), so a busy caller's key is not read again for
every group of creates or every request. A revocation or a disabled organisation is refused at
once by the process that made it (`forget_cached_keys`), and by every other process within
that many seconds. A refused key is never kept: it is looked up again each time.

Raises:
    AuthenticationError: missing, malformed, unknown or revoked key; disabled organisation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from hallmark.core.errors import AuthenticationError, InvalidInputError
from hallmark.services.access.audit import AuditActor
from hallmark.store.models import ApiKey, Organisation, Principal

#: API roles, and the organisation kinds that may hold each.
ROLE_ORG_KINDS: dict[str, frozenset[str]] = {
    "supplier": frozenset({"supplier"}),
    "factory": frozenset({"factory"}),
    "brand": frozenset({"brand"}),
    "legal": frozenset({"legal"}),
    "reader": frozenset({"brand", "supplier", "factory", "legal"}),
}
KEY_PREFIX = "hm"


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a request."""

    organisation_id: str
    organisation_kind: str
    principal_id: str
    api_key_id: str
    role: str

    @property
    def audit(self) -> AuditActor:
        return AuditActor(self.organisation_id, self.principal_id, self.api_key_id)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(session: Session, *, principal: Principal, role: str) -> tuple[ApiKey, str]:
    """Create a key for a principal; returns the row and the key (never stored, shown once)."""
    organisation = session.get(Organisation, principal.organisation_id)
    assert organisation is not None
    if role not in ROLE_ORG_KINDS:
        raise InvalidInputError(
            f"unknown role {role!r}; one of {', '.join(sorted(ROLE_ORG_KINDS))}",
            details={"role": role},
        )
    if organisation.kind not in ROLE_ORG_KINDS[role]:
        raise InvalidInputError(
            f"a {organisation.kind} organisation cannot hold the {role} role",
            details={"role": role, "organisation_kind": organisation.kind},
        )
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        id=str(uuid.uuid4()),
        organisation_id=organisation.id,
        principal_id=principal.id,
        role=role,
        prefix=prefix,
        secret_hash=_digest(key),
        status="active",
    )
    session.add(row)
    session.flush()
    return row, key


def key_prefix(presented: str | None) -> str:
    """The lookup prefix of a presented key; refuses a missing or malformed one."""
    if not presented:
        raise AuthenticationError("an API key is required (Authorization: Bearer <key>)")
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        raise AuthenticationError("malformed API key")
    return parts[1]


def authenticate(session: Session | Connection, presented: str | None) -> Actor:
    """The actor behind a presented key; refuses anything not currently valid."""
    prefix = key_prefix(presented)
    assert presented is not None
    return _actor(session.execute(_KEY_LOOKUP, {"prefix": prefix}).first(), presented)


def authenticate_many(
    session: Session | Connection, presented: Sequence[str]
) -> dict[str, Actor | AuthenticationError]:
    """Several presented keys at once (one query): each key's actor, or why it is refused."""
    outcomes: dict[str, Actor | AuthenticationError] = {}
    prefixes: dict[str, str] = {}
    for key in set(presented):
        try:
            prefixes[key] = key_prefix(key)
        except AuthenticationError as exc:
            outcomes[key] = exc
    rows = {
        row.prefix: row
        for row in session.execute(_KEYS_LOOKUP, {"prefixes": sorted(set(prefixes.values()))})
    }
    for key, prefix in prefixes.items():
        try:
            outcomes[key] = _actor(rows.get(prefix), key)
        except AuthenticationError as exc:
            outcomes[key] = exc
    return outcomes


def _actor(row: Any, presented: str) -> Actor:
    """The actor of a key row (None: no such key), or why the presented key is refused."""
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(presented)):
        raise AuthenticationError("unknown API key")
    if row.key_status != "active":
        raise AuthenticationError("this API key has been revoked")
    if row.organisation_status != "active":
        raise AuthenticationError("this organisation is disabled")
    return Actor(
        organisation_id=row.organisation_id,
        organisation_kind=row.organisation_kind,
        principal_id=row.principal_id,
        api_key_id=row.key_id,
        role=row.role,
    )


#: The key lookups, built once (columns, not ORM objects: nothing to track).
_KEY_COLUMNS = select(
    ApiKey.id.label("key_id"),
    ApiKey.secret_hash,
    ApiKey.status.label("key_status"),
    ApiKey.role,
    ApiKey.principal_id,
    Organisation.id.label("organisation_id"),
    Organisation.kind.label("organisation_kind"),
    Organisation.status.label("organisation_status"),
    ApiKey.prefix,
).join(Organisation, Organisation.id == ApiKey.organisation_id)
_KEY_LOOKUP = _KEY_COLUMNS.where(ApiKey.prefix == bindparam("prefix"))
_KEYS_LOOKUP = _KEY_COLUMNS.where(ApiKey.prefix.in_(bindparam("prefixes", expanding=True)))


class _Revocations:
    """How many revocations this process made (`forget_cached_keys`): caches drop their keys."""

    count = 0


def forget_cached_keys() -> None:
    """A key was revoked or an organisation disabled (call it after the commit): every cache of
    this process forgets what it holds, and a lookup under way when this happened is not kept."""
    _Revocations.count += 1


class KeyCache:
    """The actors of keys found valid, kept `ttl` seconds (see the module docstring).

    Hand-written: an entry must be dropped on a revocation in this process, and a lookup that
    raced with that revocation must not be kept, which a plain TTL cache does not offer. Keyed
    by the SHA-256 of the presented key (the key itself is never kept); bounded to `max_size`
    entries (full: emptied)."""

    def __init__(self, ttl: float = 1.0, *, max_size: int = 10_000) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._generation = _Revocations.count
        self._lock = threading.Lock()

    def generation(self) -> int:
        """Mark taken before a lookup; hand it back to `keep`."""
        return _Revocations.count

    def get(self, presented: str) -> Actor | None:
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            if self._generation != _Revocations.count:
                self._entries.clear()
                self._generation = _Revocations.count
                return None
            entry = self._entries.get(_digest(presented))
        if entry is None or entry[1] <= now:
            return None
        return entry[0]

    def keep(self, presented: str, actor: Actor, generation: int) -> None:
        """Keep a key found valid by a lookup that started at `generation`."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != _Revocations.count or self._generation != _Revocations.count:
                return  # revoked meanwhile: the lookup may have read the key before it
            if len(self._entries) >= self.max_size:
                self._entries.clear()
            self._entries[_digest(presented)] = (actor, time.monotonic() + self.ttl)


def authenticate_cached(
    cache: KeyCache | None, session: Session | Connection, presented: str | None
) -> Actor:
    """`authenticate`, answered from the cache when it holds the key."""
    if cache is None:
        return authenticate(session, presented)
    if presented and (actor := cache.get(presented)) is not None:
        return actor
    generation = cache.generation()
    actor = authenticate(session, presented)
    assert presented is not None
    cache.keep(presented, actor, generation)
    return actor


def authenticate_many_cached(
    cache: KeyCache | None, session: Session | Connection, presented: Sequence[str]
) -> dict[str, Actor | AuthenticationError]:
    """`authenticate_many`: the keys the cache holds from it, the others in one query."""
    if cache is None:
        return authenticate_many(session, presented)
    outcomes: dict[str, Actor | AuthenticationError] = {}
    missing: list[str] = []
    for key in set(presented):
        actor = cache.get(key)
        if actor is None:
            missing.append(key)
        else:
            outcomes[key] = actor
    if missing:
        generation = cache.generation()
        looked_up = authenticate_many(session, missing)
        for key, outcome in looked_up.items():
            if isinstance(outcome, Actor):
                cache.keep(key, outcome, generation)
        outcomes.update(looked_up)
    return outcomes


def revoke_key(session: Session, key: ApiKey) -> None:
    if key.status != "revoked":
        key.status = "revoked"
        key.revoked_at = datetime.now(UTC)
