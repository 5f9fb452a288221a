"""The audit log: every write and every denial, append-only and hash-chained.

Each entry's hash is the keccak-256 of the canonical JSON of its content and the previous entry's
hash, so removing, reordering or editing any entry breaks every hash after it. Appending takes a
lock (PostgreSQL advisory transaction lock; SQLite's write lock, taken at BEGIN) so two writers
never chain onto the same predecessor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hallmark.core.canonical import canonical_bytes
from hallmark.core.hashing import keccak256 as keccak
from hallmark.core.times import utc
from hallmark.store.bulk import bulk_insert
from hallmark.store.models import AuditEntry, Base

GENESIS = "0x" + "00" * 32
_AUDIT_TABLE = Base.metadata.tables[AuditEntry.__tablename__]
#: Advisory lock id of the audit chain ("hallmark.audit" as a 63-bit number).
_AUDIT_LOCK = int.from_bytes(keccak(b"hallmark.audit")[:8], "big") >> 1


#: PostgreSQL: the last entry, and the id sequence moved past the `count` entries to append.
_PG_LAST_AND_SETVAL = text(
    "SELECT last.id, last.entry_hash, "
    "setval(pg_get_serial_sequence('audit_log', 'id'), last.id + :count) AS moved "
    "FROM (SELECT id, entry_hash FROM audit_log ORDER BY id DESC LIMIT 1) AS last"
)


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
    return _row_content(
        {
            "at": entry.at,
            "organisation_id": entry.organisation_id,
            "principal_id": entry.principal_id,
            "api_key_id": entry.api_key_id,
            "action": entry.action,
            "outcome": entry.outcome,
            "object_kind": entry.object_kind,
            "object_id": entry.object_id,
            "details": entry.details,
        }
    )


def _row_content(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": utc(row["at"]).astimezone(UTC).isoformat(),
        "organisation": row["organisation_id"],
        "principal": row["principal_id"],
        "apiKey": row["api_key_id"],
        "action": row["action"],
        "outcome": row["outcome"],
        "objectKind": row["object_kind"],
        "objectId": row["object_id"],
        "details": row["details"],
    }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry to append: who did what to which object, and how it ended."""

    actor: AuditActor
    action: str
    outcome: str = "ok"
    object_kind: str | None = None
    object_id: str | None = None
    details: dict[str, Any] | None = None


def append(
    session: Session,
    *,
    actor: AuditActor,
    action: str,
    outcome: str = "ok",
    object_kind: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction (call it last, right before commit)."""
    append_many(session, [AuditEvent(actor, action, outcome, object_kind, object_id, details)])


def append_many(session: Session, events: Sequence[AuditEvent]) -> None:
    """Append entries, chained in order, in the caller's transaction (last, before commit).

    The chain is read back by id, so ids follow the order the entries were hashed in: under the
    audit lock each entry gets the next id explicitly (and PostgreSQL's sequence is moved past
    them), then all go in with one bulk insert.
    """
    if not events:
        return
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql:
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _AUDIT_LOCK})
    session.flush()  # entries appended earlier in this transaction are part of the chain
    if postgresql:
        # After the lock (a statement of its own: this one's snapshot shows every entry the
        # lock's last holder committed). The sequence moves past the ids taken here in the
        # same round trip.
        last = session.execute(_PG_LAST_AND_SETVAL, {"count": len(events)}).first()
    else:
        last = session.execute(
            select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
    last_id, prev = (last.id, last.entry_hash) if last is not None else (0, GENESIS)
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for number, event in enumerate(events, start=last_id + 1):
        row: dict[str, Any] = {
            "id": number,
            "at": now,
            "organisation_id": event.actor.organisation_id,
            "principal_id": event.actor.principal_id,
            "api_key_id": event.actor.api_key_id,
            "action": event.action,
            "outcome": event.outcome,
            "object_kind": event.object_kind,
            "object_id": event.object_id,
            "details": event.details or {},
            "prev_hash": prev,
        }
        row["entry_hash"] = prev = _entry_hash(prev, _row_content(row))
        rows.append(row)
    bulk_insert(session, _AUDIT_TABLE, rows)
    if postgresql and last is None:  # the first entries: no row above to move the sequence
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), :id)"),
            {"id": last_id + len(rows)},
        )


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
