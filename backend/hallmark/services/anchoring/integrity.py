"""Stored records checked before they are shown: text → hash → proof → root.

A record is only ever presented as what was anchored after its stored canonical text hashed to
its record hash, its hash is one of its batch's leaves, and its proof leads to the batch's root
(`status.records_status`). Whatever fails is a `RecordIntegrityError`: logged at once,
remembered by this process (/readyz checks it again until it clears), and answered in the error
envelope. `scan` checks every stored record and every anchored batch (`hallmark admin
check`, which also asks the ledger for each batch's root); /readyz scans the newest records
and batches (`readiness_scan`).

Raises:
    RecordIntegrityError: from `check_text`, `check_batch` and `check_proof`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hallmark.chain.ledger import Ledger
from hallmark.core.errors import RecordIntegrityError
from hallmark.core.merkle import MerkleError, StandardMerkleTree
from hallmark.services.anchoring.batches import ON_CHAIN, batch_tree, root_hex
from hallmark.store.models import AnchorBatch, Record, RecordAnchor
from hallmark.store.records import RECORD_KINDS, record_text_hash

log = structlog.get_logger(__name__)

#: Records (newest first) and anchored batches (newest first) /readyz checks on each call.
READY_RECORDS = 1000
READY_BATCHES = 3
#: Scan chunk: rows read per query by `scan`.
SCAN_CHUNK = 2000


def text_hash(canonical: str) -> str:
    """The record hash of a canonical text: 0x-prefixed keccak-256 of its UTF-8 bytes (a design
    commitment's: its commitment hash, `store.records.record_text_hash`)."""
    return record_text_hash(canonical)


def failed(error: RecordIntegrityError) -> RecordIntegrityError:
    """Log an integrity failure, remember it for /readyz, and hand it back to be raised."""
    log.error(
        "record_integrity_failed",
        record=error.record_id,
        batch=error.batch_id,
        reason=error.reason,
    )
    with _SEEN_LOCK:
        _SEEN[(error.record_id, error.batch_id)] = error.message
        _SEEN.move_to_end((error.record_id, error.batch_id))
        while len(_SEEN) > _SEEN_KEPT:
            _SEEN.popitem(last=False)
    return error


def check_text(record_id: str, canonical: str, record_hash: str) -> None:
    """The stored text hashes to the stored record hash.

    Raises:
        RecordIntegrityError: it does not.
    """
    if text_hash(canonical) != record_hash.lower():
        raise failed(
            RecordIntegrityError(record_id, "its canonical text does not hash to its record hash")
        )


def check_batch(
    batch_id: int, root: str, record_hashes: Sequence[str], salt: str | None = None
) -> tuple[StandardMerkleTree, list[str]]:
    """The batch's records (and its salt leaf, if it has one) make its root; its tree and leaf
    order (`batch_tree`), for proofs.

    Raises:
        RecordIntegrityError: they do not.
    """
    try:
        tree, ordered = batch_tree(record_hashes, salt)
    except MerkleError:  # a stored hash that is not 32 bytes of hex
        tree, ordered = None, []
    if tree is None or root_hex(tree) != root.lower():
        raise failed(
            RecordIntegrityError(
                None, "its records' hashes do not make its Merkle root", batch_id=batch_id
            )
        )
    return tree, ordered


def check_proof(record_id: str, record_hash: str, root: str, proof: Iterable[str]) -> None:
    """The proof leads from the record hash to the root (as `StandardMerkleTree.verify`).

    Raises:
        RecordIntegrityError: it does not.
    """
    try:
        valid = StandardMerkleTree.verify(root, record_hash, list(proof))
    except MerkleError:
        valid = False
    if not valid:
        raise failed(RecordIntegrityError(record_id, "its Merkle proof does not lead to its root"))


def check_on_chain(
    ledger: Ledger, batch_id: int, root: str, *, anchorer: str, kind: str, count: int
) -> None:
    """The batch's ledger holds its root, anchored by its account, with its kind and count.

    Raises:
        RecordIntegrityError: it does not.
    """
    held = ledger.retrieve_batch(root, anchorer=anchorer)
    expected = (anchorer.lower(), RECORD_KINDS.get(kind), count)
    if not held.anchored or (held.anchorer.lower(), held.kind, held.record_count) != expected:
        reason = (
            "its root is not anchored on chain"
            if not held.anchored
            else f"the chain holds its root with anchorer {held.anchorer}, kind {held.kind}, "
            f"{held.record_count} records"
        )
        raise failed(RecordIntegrityError(None, reason, batch_id=batch_id))


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What `scan` checked and what failed (each failure's message)."""

    records: int
    batches: int
    failures: list[str]

    @property
    def intact(self) -> bool:
        return not self.failures


def scan(
    session: Session,
    *,
    newest_records: int | None = None,
    newest_batches: int | None = None,
    ledgers: Callable[[int | None], Ledger] | None = None,
) -> ScanReport:
    """Check stored records (text → hash) and anchored batches (records → root), and with
    `ledgers` (a batch's deployment id → its ledger), that the chain holds each batch's root as
    stored (anchorer, kind, record count).

    Every record and every anchored batch, or only the newest `newest_records` records and
    `newest_batches` batches. Failures are logged and remembered like those met on a read.
    """
    failures: list[str] = []
    records = 0
    query = select(Record.id, Record.canonical, Record.record_hash).order_by(Record.id.desc())
    if newest_records is not None:
        query = query.limit(newest_records)
    for rows in session.execute(query.execution_options(yield_per=SCAN_CHUNK)).partitions():
        for record_id, canonical, record_hash in rows:
            records += 1
            try:
                check_text(record_id, canonical, record_hash)
            except RecordIntegrityError as exc:
                failures.append(exc.message)
    batch_query = (
        select(
            AnchorBatch.id,
            AnchorBatch.root,
            AnchorBatch.account_address,
            AnchorBatch.kind,
            AnchorBatch.salt,
            AnchorBatch.record_count,
            AnchorBatch.deployment_id,
        )
        .where(AnchorBatch.status.in_(ON_CHAIN))
        .order_by(AnchorBatch.id.desc())
    )
    if newest_batches is not None:
        batch_query = batch_query.limit(newest_batches)
    batches = session.execute(batch_query).all()
    for batch_id, root, anchorer, kind, salt, count, deployment_id in batches:
        try:
            check_batch(batch_id, root, _batch_hashes(session, batch_id), salt)
            if ledgers is not None:
                check_on_chain(
                    ledgers(deployment_id),
                    batch_id,
                    root,
                    anchorer=anchorer,
                    kind=kind,
                    count=count,
                )
        except RecordIntegrityError as exc:
            failures.append(exc.message)
    return ScanReport(records=records, batches=len(batches), failures=failures)


def readiness_scan(session: Session) -> ScanReport:
    """/readyz's bounded check: the newest records and anchored batches, and again each record
    or batch this process found altered on a read (until it checks out: repaired rows clear)."""
    report = scan(session, newest_records=READY_RECORDS, newest_batches=READY_BATCHES)
    failures = list(report.failures)
    with _SEEN_LOCK:
        seen = list(_SEEN)
    for record_id, batch_id in seen:
        try:
            _recheck(session, record_id, batch_id)
        except RecordIntegrityError as exc:
            if exc.message not in failures:
                failures.append(exc.message)
        else:
            with _SEEN_LOCK:
                _SEEN.pop((record_id, batch_id), None)
    return ScanReport(report.records, report.batches, failures)


def _recheck(session: Session, record_id: str | None, batch_id: int | None) -> None:
    if record_id is not None:
        row = session.execute(
            select(Record.canonical, Record.record_hash).where(Record.id == record_id)
        ).one_or_none()
        if row is not None:
            check_text(record_id, row.canonical, row.record_hash)
    if batch_id is not None:
        batch = session.execute(
            select(AnchorBatch.root, AnchorBatch.salt).where(AnchorBatch.id == batch_id)
        ).one_or_none()
        if batch is not None:
            check_batch(batch_id, batch.root, _batch_hashes(session, batch_id), batch.salt)


def _batch_hashes(session: Session, batch_id: int) -> Sequence[str]:
    return session.scalars(
        select(Record.record_hash)
        .join(RecordAnchor, RecordAnchor.record_id == Record.id)
        .where(RecordAnchor.batch_id == batch_id)
    ).all()


#: Integrity failures met by this process, by (record, batch), newest at the end (hand-written:
#: a bounded, ordered set of messages for /readyz).
_SEEN: OrderedDict[tuple[str | None, int | None], str] = OrderedDict()
_SEEN_KEPT = 100
_SEEN_LOCK = threading.Lock()
