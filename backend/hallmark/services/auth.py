"""API keys: issue (shown once), authenticate, revoke.

A key reads `hm_<prefix>_<secret>`: the prefix finds the row, the SHA-256 of the whole key is
compared in constant time. Keys are 256-bit random secrets, so a fast hash is enough (a slow
password hash protects guessable passwords, which these are not). Every request looks the key
up in the database: a revoked key or a disabled organisation is refused at once, everywhere.

Raises:
    AuthenticationError: missing, malformed, unknown or revoked key; disabled organisation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.core.errors import AuthenticationError, ValidationError
from hallmark.services.audit import AuditActor
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
        raise ValidationError(
            f"unknown role {role!r}; one of {', '.join(sorted(ROLE_ORG_KINDS))}",
            details={"role": role},
        )
    if organisation.kind not in ROLE_ORG_KINDS[role]:
        raise ValidationError(
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


def authenticate(session: Session, presented: str | None) -> Actor:
    """The actor behind a presented key; refuses anything not currently valid."""
    if not presented:
        raise AuthenticationError("an API key is required (Authorization: Bearer <key>)")
    parts = presented.split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        raise AuthenticationError("malformed API key")
    row = session.execute(
        select(ApiKey, Organisation)
        .join(Organisation, Organisation.id == ApiKey.organisation_id)
        .where(ApiKey.prefix == parts[1])
    ).first()
    if row is None or not hmac.compare_digest(row[0].secret_hash, _digest(presented)):
        raise AuthenticationError("unknown API key")
    key, organisation = row
    if key.status != "active":
        raise AuthenticationError("this API key has been revoked")
    if organisation.status != "active":
        raise AuthenticationError("this organisation is disabled")
    return Actor(
        organisation_id=organisation.id,
        organisation_kind=organisation.kind,
        principal_id=key.principal_id,
        api_key_id=key.id,
        role=key.role,
    )


def revoke_key(session: Session, key: ApiKey) -> None:
    if key.status != "revoked":
        key.status = "revoked"
        key.revoked_at = datetime.now(UTC)
