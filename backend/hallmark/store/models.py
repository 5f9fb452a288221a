"""Tables (SQLAlchemy 2 typed mappings). Every change comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
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


# --- organisations, principals, keys, audit ---------------------------------------------------


class Organisation(Base):
    """A brand, supplier, factory or legal team; writes to the chain with its own account."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # brand | supplier | factory | legal
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    account_address: Mapped[str] = mapped_column(String(42), unique=True)
    #: The organisation's Ethereum key as an encrypted V3 keystore (passphrase from settings).
    keystore: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Principal(Base):
    """A person or machine acting for an organisation; named in the audit log, never on chain."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # machine | person
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A machine client's key: shown once, stored as a SHA-256 hash, one organisation and role."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # supplier | factory | brand | legal | reader
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Append-only, hash-chained log of every write and every denial."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    organisation_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    principal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    api_key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | denied | rejected
    object_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(66))
    entry_hash: Mapped[str] = mapped_column(String(66), unique=True)


class IdempotentResponse(Base):
    """The first answer to a write sent with an Idempotency-Key; replays get it back."""

    __tablename__ = "idempotency_keys"

    principal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --- records and their anchoring ---------------------------------------------------------------


class Record(Base):
    """One canonical JSON document (RFC 8785); its keccak-256 is its Merkle leaf value.

    Records are never edited: a correction is a new record whose `corrects_id` names the old one.
    """

    __tablename__ = "records"
    __table_args__ = (Index("ix_records_org_kind", "organisation_id", "kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # material_lot | product | production_step | ...
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    principal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    record_hash: Mapped[str] = mapped_column(String(66), unique=True)
    #: The document exactly as hashed: canonical JSON text.
    canonical: Mapped[str] = mapped_column(Text)
    corrects_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Filled by the anchoring worker once the record's batch is on chain.
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("anchor_batches.id"), nullable=True, index=True
    )
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    proof: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class AnchorQueueEntry(Base):
    """Outbox: a record waiting to be anchored, written in the same transaction as the record."""

    __tablename__ = "anchor_queue"
    __table_args__ = (Index("ix_anchor_queue_pick", "organisation_id", "kind", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), unique=True)
    record_hash: Mapped[str] = mapped_column(String(66))
    organisation_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Set when the worker puts the record in a batch (the batch may still be unconfirmed).
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("anchor_batches.id"), nullable=True, index=True
    )


class AnchorBatch(Base):
    """A Merkle root of records of one kind and organisation, and its anchoring transaction."""

    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    root: Mapped[str] = mapped_column(String(66), unique=True)
    record_count: Mapped[int] = mapped_column(Integer)
    #: signed → sent → mined → confirmed; back to signed when the chain loses it (reorg)
    status: Mapped[str] = mapped_column(String(16), index=True)
    account_address: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    raw_tx: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    mined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
