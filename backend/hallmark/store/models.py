"""Tables (SQLAlchemy 2 typed mappings). Every change comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Deployment(Base):
    """A deployment of Hallmark's contracts on one chain; the newest row is the current one."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger, index=True)
    deployment_block: Mapped[int] = mapped_column(BigInteger)
    admin_address: Mapped[str] = mapped_column(String(42))
    service_address: Mapped[str] = mapped_column(String(42))
    #: {contract name: {address, code_hash, artifact_hash, transaction}}
    contracts: Mapped[dict[str, Any]] = mapped_column(JSON)
    record_hash: Mapped[str] = mapped_column(String(66), unique=True)
    #: The record's own ISO-8601 timestamp, kept verbatim so the record hash can be recomputed.
    deployed_at_iso: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
