"""Deployment records in the database (the newest row is current)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.store.models import Deployment


def current(session: Session) -> dict[str, Any] | None:
    """The current deployment record as JSON, or None."""
    row = session.scalars(select(Deployment).order_by(Deployment.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {
        "chain_id": row.chain_id,
        "deployment_block": row.deployment_block,
        "admin_address": row.admin_address,
        "service_address": row.service_address,
        "contracts": row.contracts,
        "deployed_at": row.deployed_at_iso,
    }


def add(session: Session, record: dict[str, Any], record_hash: str) -> None:
    """Store a deployment as the current one (idempotent for the same record)."""
    exists = session.scalars(
        select(Deployment).where(Deployment.record_hash == record_hash)
    ).first()
    if exists is not None:
        return
    session.add(
        Deployment(
            chain_id=record["chain_id"],
            deployment_block=record["deployment_block"],
            admin_address=record["admin_address"],
            service_address=record["service_address"],
            contracts=record["contracts"],
            deployed_at_iso=record["deployed_at"],
            record_hash=record_hash,
        )
    )
