"""Driver-level bulk inserts: same stored values as SQLAlchemy's, same error classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from hallmark.core.errors import UniqueViolationError
from hallmark.store.bulk import bulk_insert
from hallmark.store.db import transaction
from hallmark.store.models import AuditEntry, Base
from tests.conftest import World

_AUDIT = Base.metadata.tables["audit_log"]


def _row(at: datetime, entry_hash: str, details: dict[str, object]) -> dict[str, object]:
    return {
        "at": at,
        "organisation_id": None,
        "principal_id": None,
        "api_key_id": None,
        "action": "bulk.test",
        "outcome": "ok",
        "object_kind": None,
        "object_id": entry_hash,
        "details": details,
        "prev_hash": "0x" + "00" * 32,
        "entry_hash": entry_hash,
    }


def test_bulk_rows_read_back_as_written(world: World) -> None:
    assert world.runtime.sessions is not None
    utc = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    # The same instant at another offset: processed on its own, not mistaken for the first.
    shanghai = utc.astimezone(timezone(timedelta(hours=8)))
    hashes = [f"0x{i:064x}" for i in range(1, 4)]
    rows = [
        _row(utc, hashes[0], {"n": 1, "nested": {"a": [1, "two", None]}}),
        _row(shanghai, hashes[1], {}),
        _row(utc, hashes[2], {"text": "Ünïcødé ✓"}),
    ]
    with transaction(world.runtime.sessions) as session:
        bulk_insert(session, _AUDIT, rows)
    with world.runtime.sessions() as session:
        stored = {
            e.entry_hash: e
            for e in session.scalars(select(AuditEntry).where(AuditEntry.entry_hash.in_(hashes)))
        }
    assert [stored[h].details for h in hashes] == [row["details"] for row in rows]
    for h, row in zip(hashes, rows, strict=True):
        at = stored[h].at
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        assert at == row["at"]


def test_bulk_insert_raises_a_named_conflict_and_stores_nothing(world: World) -> None:
    assert world.runtime.sessions is not None
    at = datetime.now(UTC)
    duplicate = "0x" + "ee" * 32
    with (
        pytest.raises(UniqueViolationError) as raised,
        transaction(world.runtime.sessions) as session,
    ):
        bulk_insert(session, _AUDIT, [_row(at, duplicate, {}), _row(at, duplicate, {})])
    assert raised.value.constraint == "uq_audit_log_entry_hash"
    with world.runtime.sessions() as session:
        assert (
            session.scalars(select(AuditEntry).where(AuditEntry.entry_hash == duplicate)).first()
            is None
        )
