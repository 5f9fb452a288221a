"""The audit log: every write and every denial, append-only and hash-chained.

Each entry's hash is the keccak-256 of the canonical JSON of its content and the previous entry's
hash, so removing, reordering or editing any entry breaks every hash after it. Appending takes a
lock (PostgreSQL advisory transaction lock; SQLite's write lock, taken at BEGIN) so two writers
never chain onto the same predecessor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hallmark.core.canonical import canonical_bytes
from hallmark.core.hashing import keccak256 as keccak
from hallmark.store.models import AuditEntry

GENESIS = "0x" + "00" * 32
#: Advisory lock id of the audit chain ("hallmark.audit" as a 63-bit number).
_AUDIT_LOCK = int.from_bytes(keccak(b"hallmark.audit")[:8], "big") >> 1


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who did it: an API key's principal, or an operator at the command line (all None)."""

    organisation_id: str | None = None
    principal_id: str | None = None
    api_key_id: str | None = None


SYSTEM = AuditActor()


def _entry_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return "0x" + keccak(canonical_bytes({"prev": prev_hash, **content})).hex()


def _content(entry: AuditEntry) -> dict[str, Any]:
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)  # SQLite drops the zone
    return {
        "at": at.astimezone(UTC).isoformat(),
        "organisation": entry.organisation_id,
        "principal": entry.principal_id,
        "apiKey": entry.api_key_id,
        "action": entry.action,
        "outcome": entry.outcome,
        "objectKind": entry.object_kind,
        "objectId": entry.object_id,
        "details": entry.details,
    }


def append(
    session: Session,
    *,
    actor: AuditActor,
    action: str,
    outcome: str = "ok",
    object_kind: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (call it last, right before commit)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _AUDIT_LOCK})
    prev = session.scalars(
        select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    entry = AuditEntry(
        at=datetime.now(UTC),
        organisation_id=actor.organisation_id,
        principal_id=actor.principal_id,
        api_key_id=actor.api_key_id,
        action=action,
        outcome=outcome,
        object_kind=object_kind,
        object_id=object_id,
        details=details or {},
        prev_hash=prev or GENESIS,
        entry_hash="",
    )
    entry.entry_hash = _entry_hash(entry.prev_hash, _content(entry))
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session, *, batch_size: int = 5000) -> int | None:
    """The id of the first entry that breaks the chain, or None when the log is intact."""
    prev = GENESIS
    last_id = 0
    while True:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.id > last_id)
            .order_by(AuditEntry.id)
            .limit(batch_size)
        ).all()
        if not entries:
            return None
        for entry in entries:
            if entry.prev_hash != prev or entry.entry_hash != _entry_hash(prev, _content(entry)):
                return entry.id
            prev = entry.entry_hash
            last_id = entry.id
