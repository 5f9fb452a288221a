"""Records: canonical JSON documents, stored once, queued for anchoring in the same transaction.

Every record is wrapped in an envelope that makes it unique and self-describing:
`{"type", "id", "organisation", "recordedAt", "corrects"?, "data"}`. The keccak-256 of its RFC 8785
canonical bytes is the record hash, the value of its Merkle leaf.

One kind is hashed otherwise: a `design_commitment` record's hash is the commitment the
DesignRegistry contract checks, `keccak256(abi.encode(fingerprint, registrant, salt))` of its
data (bytes32, address, bytes32), so the registration proves it in its batch
(`record_text_hash`). Its text is still the full envelope, so it reads like any other record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uuid_utils
from sqlalchemy.orm import Session

from hallmark.core.canonical import canonical_bytes
from hallmark.core.hashing import design_commitment
from hallmark.core.hashing import keccak256 as keccak
from hallmark.store.bulk import bulk_insert
from hallmark.store.models import AnchorQueueEntry, Base, Record

#: Record kinds and their on-chain RecordKind value (IRecordAnchor.RecordKind).
RECORD_KINDS: dict[str, int] = {
    "material_lot": 0,
    "product": 1,
    "production_step": 2,
    "certificate": 3,
    "other": 4,
    "design_commitment": 5,
}

#: The end of a design commitment's canonical text ("type" is the envelope's last key).
_COMMITMENT_TAIL = '"type":"design_commitment"}'


def record_text_hash(canonical: str) -> str:
    """The record hash of a record's canonical text: keccak-256 of its UTF-8 bytes, or for a
    design commitment the commitment hash of its data (see the module docstring)."""
    if canonical.endswith(_COMMITMENT_TAIL):
        try:
            data = json.loads(canonical)["data"]
            return design_commitment(data["fingerprint"], data["registrant"], data["salt"])
        except (ValueError, KeyError, TypeError):
            pass  # not a commitment document after all: hashed as text, so it fails its check
    return "0x" + keccak(canonical.encode()).hex()


_RECORDS = Base.metadata.tables[Record.__tablename__]
_QUEUE = Base.metadata.tables[AnchorQueueEntry.__tablename__]


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to store: what it is, who records it, and its data."""

    kind: str
    organisation_id: str
    data: Mapping[str, Any]
    principal_id: str | None = None
    corrects_id: str | None = None
    record_id: str | None = None
    #: A ready document hashed as it is, instead of the envelope around `data` (certificates:
    #: the document names its own id, issuer and time, and `record_id` must be given).
    document: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: str
    kind: str
    record_hash: str
    canonical: str
    recorded_at: datetime


def envelope(record: NewRecord, record_id: str, recorded_at: datetime) -> dict[str, Any]:
    """The document that is hashed."""
    document: dict[str, Any] = {
        "type": record.kind,
        "id": record_id,
        "organisation": record.organisation_id,
        "recordedAt": recorded_at.isoformat().replace("+00:00", "Z"),
        "data": dict(record.data),
    }
    if record.corrects_id is not None:
        document["corrects"] = record.corrects_id
    return document


def new_record_id() -> str:
    """A new record id: a UUIDv7 (RFC 9562), which begins with its millisecond timestamp.

    Ids made one after another sort one after another, so the indexes keyed by record id
    (records, steps, the outbox) take new rows at their end instead of on random pages: an
    insert dirties a few pages instead of one page per row. The timestamp reveals nothing the
    record's `recordedAt` does not.
    """
    return str(uuid_utils.uuid7())


@dataclass(frozen=True, slots=True)
class PreparedRecords:
    """Records made (ids, canonical text, hashes) but not stored yet: `insert_records` stores
    them. Preparing is the costly part, and needs no database."""

    stored: list[StoredRecord]
    record_rows: list[dict[str, Any]]
    queue_rows: list[dict[str, Any]]


def prepare_records(records: Sequence[NewRecord]) -> PreparedRecords:
    """Each record's id, canonical document and hash, and the rows that store it."""
    now = datetime.now(UTC)
    prepared = PreparedRecords([], [], [])
    for record in records:
        if record.kind not in RECORD_KINDS:
            raise ValueError(f"unknown record kind {record.kind!r}")
        record_id = record.record_id or new_record_id()
        if record.document is not None:
            if record.record_id is None:
                raise ValueError("a ready document is stored under the id it names")
            canonical = canonical_bytes(record.document)
        else:
            canonical = canonical_bytes(envelope(record, record_id, now))
        text = canonical.decode("utf-8")
        record_hash = (
            record_text_hash(text)
            if record.kind == "design_commitment"
            else "0x" + keccak(canonical).hex()
        )
        prepared.record_rows.append(
            {
                "id": record_id,
                "kind": record.kind,
                "organisation_id": record.organisation_id,
                "principal_id": record.principal_id,
                "record_hash": record_hash,
                "canonical": text,
                "corrects_id": record.corrects_id,
                "created_at": now,
            }
        )
        prepared.queue_rows.append(
            {
                "record_id": record_id,
                "record_hash": record_hash,
                "organisation_id": record.organisation_id,
                "kind": record.kind,
                "enqueued_at": now,
            }
        )
        prepared.stored.append(StoredRecord(record_id, record.kind, record_hash, text, now))
    return prepared


def insert_records(session: Session, prepared: Sequence[PreparedRecords]) -> None:
    """Store prepared records and their anchoring queue entries (bulk; the caller commits)."""
    bulk_insert(session, _RECORDS, [row for p in prepared for row in p.record_rows])
    bulk_insert(session, _QUEUE, [row for p in prepared for row in p.queue_rows])


def add_records(session: Session, records: Sequence[NewRecord]) -> list[StoredRecord]:
    """Insert records and their anchoring queue entries (bulk; the caller commits)."""
    if not records:
        return []
    prepared = prepare_records(records)
    insert_records(session, [prepared])
    return prepared.stored
