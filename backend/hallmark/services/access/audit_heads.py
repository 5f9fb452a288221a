"""The audit log's head on chain, and the checks of the log against it.

The hash chain of `audit` shows any edit of an entry, unless whoever edits it also recomputes
every later hash, or deletes the last entries: both leave a chain that holds together. So from
time to time (`AuditHeadAnchorer`, in the process whose anchoring worker leads) the head, the
last entry's id and hash, goes on chain in a transaction of the service account to itself whose
data is `HEAD_PREFIX`, the id (8 bytes) and the hash (32 bytes), and is kept in `audit_heads`.
A head is only sent when the log grew; no database transaction is held across the chain call.

`verify` needs only the database for the log itself: the hash chain from the first entry, and
each anchored head still in the log (an entry rewritten or deleted before a head is caught).
With a chain client it also checks each head against its transaction (who sent it, its data,
that it is mined), so a head rewritten in the database along with the log is caught too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import ChainClient
from hallmark.core.errors import first_line
from hallmark.services.access import audit
from hallmark.store.db import transaction
from hallmark.store.models import AuditEntry, AuditHead

log = structlog.get_logger(__name__)

#: What a head's transaction data starts with.
HEAD_PREFIX = b"hallmark.audit-head\x00"


def head_data(entry_id: int, entry_hash: str) -> bytes:
    """The data of a head's transaction."""
    return HEAD_PREFIX + entry_id.to_bytes(8, "big") + bytes.fromhex(entry_hash.removeprefix("0x"))


def current_head(session: Session) -> tuple[int, str] | None:
    """The last entry's (id, hash); None for an empty log."""
    row = session.execute(
        select(AuditEntry.id, AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    return None if row is None else (int(row.id), str(row.entry_hash))


def anchor_head(
    *,
    sessions: sessionmaker[Session],
    chain: ChainClient,
    account: LocalAccount,
    chain_id: int,
) -> AuditHead | None:
    """Put the log's head on chain and keep it; None when it is anchored already (or empty)."""
    with sessions() as session:
        head = current_head(session)
        last = session.scalars(select(AuditHead).order_by(AuditHead.id.desc()).limit(1)).first()
    if head is None or (last is not None and last.entry_id == head[0]):
        return None
    sent = chain.send_data(account, head_data(*head))  # outside any database transaction
    row = AuditHead(
        entry_id=head[0],
        entry_hash=head[1],
        chain_id=chain_id,
        account_address=account.address,
        tx_hash=sent.tx_hash,
        block_number=sent.block_number,
    )
    with transaction(sessions) as session:
        session.add(row)
    log.info("audit.head_anchored", entry=head[0], tx=sent.tx_hash, block=sent.block_number)
    return row


@dataclass
class AuditReport:
    """What `verify` found: problems is empty when the log is intact."""

    entries: int = 0
    heads: int = 0
    #: Whether the heads were checked against the chain (and why not, when not).
    chain_checked: bool = False
    chain_note: str | None = None
    problems: list[str] = field(default_factory=list)


def verify(
    session: Session,
    *,
    chain: ChainClient | None = None,
    chain_id: int | None = None,
    account_address: str | None = None,
) -> AuditReport:
    """Check the log (database alone), and its anchored heads against `chain` when given."""
    report = AuditReport(entries=session.scalar(select(func.count(AuditEntry.id))) or 0)
    broken = audit.verify_chain(session)
    if broken is not None:
        report.problems.append(f"the hash chain breaks at entry {broken}")
    heads = list(session.scalars(select(AuditHead).order_by(AuditHead.id)))
    report.heads = len(heads)
    for head in heads:
        entry = session.get(AuditEntry, head.entry_id)
        where = f"entry {head.entry_id} (anchored as the head in block {head.block_number})"
        if entry is None:
            report.problems.append(f"{where} is missing: entries were deleted")
        elif entry.entry_hash != head.entry_hash:
            report.problems.append(f"{where} differs from its anchored hash: entries were edited")
    if chain is None:
        report.chain_note = "no chain given"
        return report
    for head in heads:
        if chain_id is not None and head.chain_id != chain_id:
            report.chain_note = f"heads anchored on chain {head.chain_id}, not on {chain_id}"
            return report
    for head in heads:
        found = chain.retrieve_transaction(head.tx_hash)
        where = f"head of entry {head.entry_id} (transaction {head.tx_hash})"
        if found is None or found[2] is None:
            report.problems.append(f"{where} is not on chain")
            continue
        sender, data, _block = found
        if account_address is not None and sender.lower() != account_address.lower():
            report.problems.append(f"{where} was sent by {sender}, not the service account")
        if data != head_data(head.entry_id, head.entry_hash):
            report.problems.append(f"{where} carries another head than the database's")
    report.chain_checked = True
    return report


class AuditHeadAnchorer:
    """Anchors the head every `interval` seconds while `leads()` (the anchoring worker of this
    process leads: one process anchors heads at a time)."""

    def __init__(
        self,
        anchor: Callable[[], AuditHead | None],
        *,
        interval: float,
        leads: Callable[[], bool],
    ) -> None:
        self._anchor = anchor
        self.interval = interval
        self._leads = leads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="audit-heads", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._leads():
                continue
            try:
                self._anchor()
                self.last_error = None
            except Exception as exc:  # the chain or the database away: next interval
                self.last_error = first_line(exc)
                log.warning("audit.head_anchor_failed", error=self.last_error)
