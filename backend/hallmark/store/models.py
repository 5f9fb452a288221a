"""Tables (SQLAlchemy 2 typed mappings). Every change comes with an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from hallmark.core.times import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, stored and read back in UTC on every database.

    SQLite has no time zones: SQLAlchemy stores an aware datetime's wall clock and drops its
    offset, so 09:30+08:00 would read back as 09:30 UTC. Normalising to UTC on the way in, and
    marking UTC on the way out, keeps the instant on SQLite as PostgreSQL's timestamptz does. A
    naive datetime is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Deployment(Base):
    """A deployment of Hallmark's contracts on one chain; the newest row is the current one, the
    others stay: batches anchored on them are read and verified there."""

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
    #: The contracts' `version()` ("1.0.0", "2.0.0").
    version: Mapped[str] = mapped_column(String(16), default="1.0.0", server_default="1.0.0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- organisations, principals, keys, audit ---------------------------------------------------


class Organisation(Base):
    """A brand, supplier, factory or legal team; writes to the chain with its own account."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # brand | supplier | factory | legal
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    account_address: Mapped[str] = mapped_column(String(42), unique=True)
    #: GS1 Global Location Number (13 digits, check digit valid), when the organisation has one.
    gln: Mapped[str | None] = mapped_column(String(13), nullable=True)
    #: The organisation's Ethereum key as an encrypted V3 keystore (passphrase from settings).
    keystore: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AccountCompromise(Base):
    """An account declared compromised on a deployment's ledger from a block on: every batch it
    anchored there from that block reads Flagged (certificates: Revoked)."""

    __tablename__ = "account_compromises"
    __table_args__ = (UniqueConstraint("deployment_id", "account_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    account_address: Mapped[str] = mapped_column(String(42), index=True)
    from_block: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrganisationGrant(Base):
    """What an organisation's account should hold on one deployment's ledger, and whether the
    chain holds it yet: the intent is committed before any transaction is sent, the outcome
    recorded after (`pending` → `applied`; a failure stays `pending` with `last_error` and is
    sent again)."""

    __tablename__ = "organisation_grants"
    __table_args__ = (UniqueConstraint("organisation_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    account_address: Mapped[str] = mapped_column(String(42))
    role: Mapped[str] = mapped_column(String(32))
    #: Whether the account should hold `role` (false: disabled organisation).
    wanted: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | applied
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Principal(Base):
    """A person or machine acting for an organisation; named in the audit log, never on chain."""

    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # machine | person
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """Append-only, hash-chained log of every write and every denial."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
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


class AuditHead(Base):
    """A head of the audit log (its last entry then), anchored on chain: a transaction of the
    service account whose data is the head (`services.access.audit_heads`). `audit verify`
    checks the log against every head, and the heads against the chain."""

    __tablename__ = "audit_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    entry_hash: Mapped[str] = mapped_column(String(66))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    account_address: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    anchored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotentResponse(Base):
    """The first answer to a write sent with an Idempotency-Key; replays get it back."""

    __tablename__ = "idempotency_keys"

    principal_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    #: Answers expire (`idempotency_key_hours`); the index finds the expired ones to delete.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class StaffUser(Base):
    """A person who signs in to the console: one organisation, one role, a person principal
    (named in the audit log), an argon2id password hash and an optional TOTP second factor
    (its secret AES-256-GCM encrypted, bound to the user's id)."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), unique=True)
    #: Lower case; unique across Hallmark.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | disabled
    password_hash: Mapped[str] = mapped_column(String(200))
    #: Set by an administrator's reset (and at creation): the next sign-in must choose one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: A new secret shown for enrolment, in force once a code from it is confirmed.
    totp_pending: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The time step of the last code accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class StaffSession(Base):
    """A signed-in browser: the SHA-256 of its cookie's token (the token itself is never
    stored), the sign-in step it has reached, its CSRF token, and its idle and absolute ends."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    #: second_factor | enrol | new_password | active
    stage: Mapped[str] = mapped_column(String(16))
    csrf_token: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class StaffLoginFailure(Base):
    """A failed staff sign-in step, counted per username and per address for throttling."""

    __tablename__ = "staff_login_failures"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)


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
    #: Not a unique column: the hashed document holds the record's id, unique by the primary
    #: key, so two records cannot share a hash short of a keccak-256 collision; an index of
    #: random 32-byte values dirties one page per row, a large part of storing a batch.
    record_hash: Mapped[str] = mapped_column(String(66))
    #: The document exactly as hashed: canonical JSON text.
    canonical: Mapped[str] = mapped_column(Text)
    corrects_id: Mapped[str | None] = mapped_column(ForeignKey("records.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecordAnchor(Base):
    """A record's batch: written by the anchoring worker in the transaction that forms the
    batch (final from then on; the primary key keeps a record out of a second batch). The
    record counts as anchored once that batch is mined. Its leaf index and proof follow from
    the hashes of the batch's records (`services.anchoring.status.batch_proofs`): a narrow row to
    insert costs the worker far less than rewriting every record with its proof.
    """

    __tablename__ = "record_anchors"

    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("anchor_batches.id"), index=True)


class AnchorQueueEntry(Base):
    """Outbox: a record waiting to be anchored, written in the same transaction as the record."""

    __tablename__ = "anchor_queue"
    __table_args__ = (Index("ix_anchor_queue_pick", "organisation_id", "kind", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), unique=True)
    record_hash: Mapped[str] = mapped_column(String(66))
    organisation_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    mined_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The deployment whose ledger the batch's transaction is signed for (and, once mined, the
    #: one it is anchored on).
    deployment_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id"), nullable=True, index=True
    )
    #: A random extra leaf (0x-hex), set when the batch was formed again because its root was
    #: anchored by another account, as another kind or count: the root then differs.
    salt: Mapped[str | None] = mapped_column(String(66), nullable=True)
    #: Flagged on chain: `flagged` (by its organisation) or `compromised` (its account was
    #: declared compromised from a block at or before the batch's), the reason code, when.
    flag_cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    flag_reason: Mapped[int | None] = mapped_column(Integer, nullable=True)
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- records domain: material lots, products, production steps, attachments ----------------------
#
# These tables are projections of the records (the canonical documents stay the truth): they make
# lookups, visibility checks, mass balance and the step hash chain cheap. Quantities are exact
# decimals; at most 15 significant digits so SQLite's REAL storage round-trips them exactly.

QUANTITY = Numeric(24, 6)


class MaterialLot(Base):
    """A supplier's lot of material; `allocated` = consumed + process loss + child lots."""

    __tablename__ = "material_lots"
    __table_args__ = (UniqueConstraint("owner_id", "lot_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # its first record's id
    owner_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    custodian_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    lot_number: Mapped[str] = mapped_column(String(64))
    material: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    allocated: Mapped[Decimal] = mapped_column(QUANTITY)
    carbon_kg: Mapped[Decimal | None] = mapped_column(QUANTITY, nullable=True)
    recycled: Mapped[bool] = mapped_column(Boolean)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("material_lots.id"), nullable=True, index=True
    )
    #: The record holding the current view (the creation record or its latest correction).
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    #: Owner-only fields; the records hold only their salted SHA-256 commitment.
    private: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    private_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LotEvent(Base):
    """What happened to a lot, in order: created, corrected, transferred, split (a record each)."""

    __tablename__ = "lot_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("material_lots.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # create | correct | transfer | split
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    from_organisation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    to_organisation_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Product(Base):
    """A piece of jewellery, by serial; made by its assigned factory, for its brand (if any)."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("edition_owner_id", "edition_series", "edition_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # its first record's id
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    brand_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    #: When the brand accepted the product as its own (at creation when the brand created it);
    #: until then the brand neither sees it nor counts it as its own.
    brand_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The brand's anchored acceptance record (`hallmark/product-acceptance@1`) of a product a
    #: factory named it in; None for a brand's own products and for products accepted before
    #: acceptances were recorded.
    acceptance_record_id: Mapped[str | None] = mapped_column(
        ForeignKey("records.id"), nullable=True
    )
    factory_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    category: Mapped[str] = mapped_column(String(16))
    #: The brand (or, without one, the factory) whose series numbers editions.
    edition_owner_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    edition_series: Mapped[str | None] = mapped_column(String(100), nullable=True)
    edition_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    #: Set by the certificates feature; only repair steps are accepted while set.
    certified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Head of the per-product step hash chain.
    last_step_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Result of the latest qc_inspection since the last repair: pass | fail | None.
    qc_state: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LotDraw(Base):
    """Material drawn from a lot: consumed by a product (with process loss) or split off."""

    __tablename__ = "lot_draws"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("material_lots.id"), index=True)
    product_id: Mapped[str | None] = mapped_column(
        ForeignKey("products.id"), nullable=True, index=True
    )
    child_lot_id: Mapped[str | None] = mapped_column(ForeignKey("material_lots.id"), nullable=True)
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    process_loss: Mapped[Decimal] = mapped_column(QUANTITY)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProductionStep(Base):
    """One link of a product's step hash chain (an original step or a correction of one)."""

    __tablename__ = "production_steps"
    __table_args__ = (UniqueConstraint("product_id", "sequence"),)

    id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    #: The original step this row is (itself) or corrects.
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(String(8), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    record_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Attachment(Base):
    """A file in the encrypted store (addressed by the SHA-256 of its plaintext), per uploader."""

    __tablename__ = "attachments"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AttachmentLink(Base):
    """A record that names an attachment: whoever may see the product or lot may download it."""

    __tablename__ = "attachment_links"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    lot_id: Mapped[str | None] = mapped_column(ForeignKey("material_lots.id"), nullable=True)


# --- designs: the copyright registry -------------------------------------------------------------


class DesignRegistration(Base):
    """A design filed in the registry (`services.designs.registry`).

    `status`: `committed` (its commitment record waits for its batch) → `filing` (the `register`
    transaction is signed and recorded, about to be or being sent) → `registered` (the chain
    holds the filing); or `failed` with `failure`. The fingerprint and the file's codes are kept
    as the index needs them (`fingerprint_data`: `DesignFingerprint.to_dict`), so the index is
    rebuilt from the chain's logs and these rows alone. The metadata document
    (`metadata_canonical`, canonical JSON) hashes with SHA-256 to the on-chain `metadataHash`.
    """

    __tablename__ = "design_registrations"
    __table_args__ = (Index("ix_design_registrations_org_status", "organisation_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    #: "D-" and the year and a sequence: D-2026-000001.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    #: SHA-256 of the file (64 hex, lower case): the on-chain key. One live registration per
    #: fingerprint; a failed one frees it (`active_fingerprint` is NULL once failed).
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    active_fingerprint: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    file_kind: Mapped[str] = mapped_column(String(8))
    file_size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    instance_code: Mapped[str] = mapped_column(String(80))
    data_code: Mapped[str] = mapped_column(String(80))
    #: The Image-Code of the picture as filed (first of its 8 orientations), None for others.
    image_code: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: The 64-bit body of `image_code` as sent on chain (`perceptualCode`), 16 lowercase hex
    #: digits ("0" * 16 when none): text, since no portable integer column holds 2**64 - 1.
    perceptual_code: Mapped[str] = mapped_column(String(16), default="0" * 16)
    #: Everything the index needs (orientation codes, local features, shape descriptor).
    fingerprint_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(300))
    #: [{"name", "ref"?}] designers' names or references (off chain only).
    designers: Mapped[list[Any]] = mapped_column(JSON)
    #: The owner's off-chain reference (company, customer or co-owners), and its on-chain hash.
    owner_ref: Mapped[str] = mapped_column(String(200), index=True)
    owner_ref_hash: Mapped[str] = mapped_column(String(66))
    #: The Hallmark organisation that owns the design, when the owner is one (it may download
    #: the original besides legal).
    owner_organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    authorization: Mapped[str] = mapped_column(String(24))  # simple | signed_confirmation
    #: SHA-256 of the signed copyright confirmation (signed_confirmation only).
    authorization_document: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: {"inspiration": [...], "notes": "..."}
    creative_source: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: [{"ref", "document_sha256"}] licences the design depends on.
    licences: Mapped[list[Any]] = mapped_column(JSON)
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("design_registrations.id"), nullable=True, index=True
    )
    #: The metadata document exactly as hashed, and its SHA-256 (0x-hex, the on-chain value).
    metadata_canonical: Mapped[str] = mapped_column(Text)
    metadata_hash: Mapped[str] = mapped_column(String(66))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    principal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: The account that commits and files (the organisation's account): the registrant.
    registrant: Mapped[str] = mapped_column(String(42))
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Near-duplicates found at registration: a review entry is open or was decided.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The commitment: its secret salt (0x-hex), its hash, and the record that anchors it.
    salt: Mapped[str] = mapped_column(String(66))
    commitment: Mapped[str] = mapped_column(String(66))
    commitment_record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), unique=True)
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"), nullable=True)
    #: The filing transaction, signed before it is sent (resumable), and where it was mined.
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    raw_tx: Mapped[str | None] = mapped_column(Text, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Priority evidence: the commitment batch's anchoring time and block (the filing time and
    #: block the contract records), and the time the filing is final.
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    filed_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The original, AES-256-GCM encrypted in the file store under its SHA-256; the thumbnail
    #: (PNG, watermarked) beside it, None for files that have no picture.
    thumbnail_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DesignReview(Base):
    """A near-duplicate found when a design was registered: a prompt for a person, never a
    verdict. `state`: open → distinct | infringing | derived, by a reviewer."""

    __tablename__ = "design_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("design_registrations.id"), unique=True)
    #: [{"registration", "number", "kind", "distance", "coverage", "inliers", "stage"}]
    matches: Mapped[list[Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DesignRightsAction(Base):
    """An assignment or licence action on a registered design (`services.designs.rights`),
    recorded before it is sent: `requested` (checked against the chain, waiting for the worker)
    → `sending` (signed; the raw transaction recorded before the broadcast) → `done` (mined) or
    `failed` (`failure`: the contract's reason). `action`: propose | accept | cancel | grant |
    terminate. References (owner, licensee) are on chain only as salted hashes; the salt is kept
    here so the hash can be shown to match."""

    __tablename__ = "design_rights_actions"
    __table_args__ = (Index("ix_design_rights_actions_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    registration_id: Mapped[str] = mapped_column(ForeignKey("design_registrations.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    #: The organisation whose account sends the transaction, and that account.
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    sender: Mapped[str] = mapped_column(String(42))
    principal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    #: SHA-256 (64 hex) of the signed assignment or licence document.
    document_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: Assignments: the new registrant's organisation and account, the new owner and its hash.
    new_organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True
    )
    new_registrant: Mapped[str | None] = mapped_column(String(42), nullable=True)
    owner_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    owner_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    owner_ref_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    owner_organisation_id: Mapped[str | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True
    )
    #: Licences: the licensee and its hash, the validity (Unix seconds; 0 until: open-ended).
    licensee_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    licensee_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    licensee_ref_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    valid_from: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Terminations: the reason code (1-65535).
    reason: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    raw_tx: Mapped[str | None] = mapped_column(Text, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- certificates ------------------------------------------------------------------------------


class CertificateOrder(Base):
    """A B2B order: one call issuing certificates for many products, processed in chunks.

    `issuance_id` (0x-hex bytes32) is named by every certificate of the order, so the brand can
    revoke them all on chain at once (`revokeIssuance`). Each product's outcome (issued with the
    certificate id, or refused with the reason) is a row of `certificate_order_outcomes`,
    inserted with the chunk that processed it.
    """

    __tablename__ = "certificate_orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    principal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True)
    issuance_id: Mapped[str] = mapped_column(String(66), unique=True)
    #: running | done
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: The serials asked for, in order (written once, with the order).
    serials: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CertificateOrderOutcome(Base):
    """One product's outcome in an order: `position` is its index in the order's serials (the
    API's `row` is `position + 1`). Issued: the certificate's id, number and hash; refused: the
    error's code and message. A chunk's outcomes are inserted in the transaction that issues
    the chunk and never rewritten; pages of them are read by position range.
    """

    __tablename__ = "certificate_order_outcomes"

    order_id: Mapped[str] = mapped_column(ForeignKey("certificate_orders.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64))
    #: issued | refused
    status: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    certificate_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)

    def as_result(self) -> dict[str, Any]:
        """The outcome as the API answers it (the same keys, in the same order)."""
        head: dict[str, Any] = {
            "row": self.position + 1,
            "serial": self.serial,
            "status": self.status,
        }
        if self.status == "issued":
            return head | {
                "certificate": self.certificate_id,
                "number": self.number,
                "certificate_hash": self.certificate_hash,
            }
        return head | {"error": {"code": self.error_code, "message": self.error_message}}


class Certificate(Base):
    """A certificate issued by a brand for one product: its signed document is a record of kind
    `certificate` (the canonical text and hash live in `records`; the record is anchored through
    the outbox like any other). The chain is the truth of its status; `status` here is the cache
    the service keeps after each revocation or supersession it sent.
    """

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    order_id: Mapped[str | None] = mapped_column(
        ForeignKey("certificate_orders.id"), nullable=True, index=True
    )
    #: 0x-hex bytes32 shared by the certificates of one order (zero hash when none).
    issuance_id: Mapped[str] = mapped_column(String(66))
    certificate_hash: Mapped[str] = mapped_column(String(66))
    signer: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(String(132))
    #: The personal data committed to in the document (owner, engraving naming people) and the
    #: salt of the commitment: kept here, handed to the owner, never in the signed document.
    personal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    personal_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: valid | revoked | superseded (as last sent to the chain by Hallmark)
    status: Mapped[str] = mapped_column(String(16), default="valid")
    revoke_reason: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    supersedes_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    superseded_by_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
