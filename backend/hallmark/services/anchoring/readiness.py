"""Anchoring's part of /readyz: the worker's state and the outbox.

Pending records never make Hallmark unready: this part of the report informs, it does not judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.times import utc
from hallmark.services.anchoring.batches import UNMINED, BatchStatus
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor


@dataclass
class WorkerState:
    """What the worker reports to /readyz."""

    role: str = "stopped"  # starting | leader | standby | stopped
    lock: str | None = None
    since: datetime | None = None
    last_cycle_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    batches_sent: int = 0
    #: Errors noted since the worker started (a cycle without new ones clears `last_error`).
    failures: int = 0

    def failed(self, error: str) -> None:
        """Remember `error` as the last one, now."""
        self.last_error, self.last_error_at = error, datetime.now(UTC)
        self.failures += 1

    def recovered(self) -> None:
        """Nothing fails any more (a clean cycle, no failed batch, nothing backing off): the
        last error is history, not the present."""
        self.last_error = self.last_error_at = None

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "lock": self.lock,
            "since": self.since.isoformat() if self.since else None,
            "last_cycle_at": self.last_cycle_at.isoformat() if self.last_cycle_at else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "batches_sent": self.batches_sent,
        }


class WorkerReport(Protocol):
    """A worker as /readyz sees it: a thread of this process (`AnchorWorker`) or a child
    process (`hallmark.runtime.worker_process.WorkerProcess`)."""

    def report(self) -> dict[str, Any]:
        """`WorkerState.to_json()`: role, lock, since, last cycle, last error, batches sent."""
        ...


def anchoring_report(
    *, sessions: sessionmaker[Session], worker: WorkerReport | None
) -> dict[str, Any]:
    """The outbox and the worker, for /readyz; pending records never make Hallmark unready.

    The outbox comes from the database, so it is the same whichever process runs the worker.
    """
    report: dict[str, Any] = (
        worker.report() if worker is not None else {"role": "none (no worker here)"}
    )
    waiting_or_failed = (*UNMINED, BatchStatus.FAILED)
    try:
        with sessions() as session:
            waiting, oldest_waiting = session.execute(
                select(
                    func.count().filter(AnchorQueueEntry.batch_id.is_(None)),
                    func.min(AnchorQueueEntry.enqueued_at),
                )
            ).one()
            in_batches, failed = session.execute(
                select(
                    func.coalesce(func.sum(AnchorBatch.record_count), 0),
                    func.count().filter(AnchorBatch.status == BatchStatus.FAILED),
                ).where(AnchorBatch.status.in_(waiting_or_failed))
            ).one()
            oldest_in_batch = session.scalar(
                select(func.min(Record.created_at))
                .join(RecordAnchor, RecordAnchor.record_id == Record.id)
                .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
                .where(AnchorBatch.status.in_(waiting_or_failed))
            )
    except SQLAlchemyError:
        report["outbox"] = None  # the database section of the report says why
        return report
    oldest = min((utc(t) for t in (oldest_waiting, oldest_in_batch) if t is not None), default=None)
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else None
    report["outbox"] = {
        "pending": int(waiting) + int(in_batches),
        "in_batches": int(in_batches),
        "oldest_pending_age_seconds": round(age, 3) if age is not None else None,
        "failed_batches": int(failed or 0),
    }
    return report
