"""Deployment records in the database: one row per deployment, the newest row is current."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.store.models import Deployment


def _as_json(row: Deployment) -> dict[str, Any]:
    record: dict[str, Any] = {
        "chain_id": row.chain_id,
        "deployment_block": row.deployment_block,
        "admin_address": row.admin_address,
        "service_address": row.service_address,
        "contracts": row.contracts,
        "deployed_at": row.deployed_at_iso,
    }
    if row.version != "1.0.0":  # version 1 records were written without it (see the record)
        record["version"] = row.version
    return record


def current(session: Session) -> dict[str, Any] | None:
    """The current deployment record as JSON, or None."""
    row = session.scalars(select(Deployment).order_by(Deployment.id.desc()).limit(1)).first()
    return None if row is None else _as_json(row)


def history(session: Session) -> list[tuple[int, dict[str, Any]]]:
    """Every deployment (row id, record as JSON), oldest first: the last is current."""
    rows = session.scalars(select(Deployment).order_by(Deployment.id)).all()
    return [(row.id, _as_json(row)) for row in rows]


def id_of(session: Session, record_hash: str) -> int | None:
    """The row id of a deployment record, by its hash."""
    return session.scalars(
        select(Deployment.id).where(Deployment.record_hash == record_hash)
    ).first()


def add(session: Session, record: dict[str, Any], record_hash: str) -> int:
    """Store a deployment as the current one (idempotent for the same record); its row id."""
    exists = id_of(session, record_hash)
    if exists is not None:
        return exists
    row = Deployment(
        chain_id=record["chain_id"],
        deployment_block=record["deployment_block"],
        admin_address=record["admin_address"],
        service_address=record["service_address"],
        contracts=record["contracts"],
        deployed_at_iso=record["deployed_at"],
        version=record.get("version", "1.0.0"),
        record_hash=record_hash,
    )
    session.add(row)
    session.flush()
    return row.id
