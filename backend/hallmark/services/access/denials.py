"""Denials, audited without holding up anyone: queued by the request, written in batches by a
thread of their own, rate-limited per source.

A denied request (a bad key, a missing role, an object that is not the caller's) is answered at
once; its audit entry joins a queue. A thread appends what is queued every `interval` seconds in
one transaction (one turn at the audit lock for many denials, where each denial used to take
one, before its answer, so a flood of bad keys queued behind every writer). Each source (the
caller's principal when known, else the client's address) gets `burst` entries, refilled at
`rate` per second; the denials over that are counted, and the count is audited as one
`audit.denials_suppressed` entry per source and flush. At most `max_queue` entries wait; past
that, they too are counted (memory stays bounded whatever the flood).

Hand-written: the token bucket is a few lines, and the queue must flush into the audit chain's
own transaction, which no rate-limiting library offers.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from hallmark.services.access import audit
from hallmark.store.db import transaction

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    suppressed: int = 0


class DenialLog:
    """The audit entries of denials, queued and written in batches (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        interval: float = 0.2,
        burst: int = 20,
        rate: float = 1.0,
        max_queue: int = 10_000,
    ) -> None:
        self._sessions = sessions
        self.interval = interval
        self.burst = burst
        self.rate = rate
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._queue: deque[audit.AuditEvent] = deque()
        self._buckets: dict[str, _Bucket] = {}
        self._due = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Serialises flushes (the thread's and `flush()` callers').
        self._flushing = threading.Lock()

    def record(self, event: audit.AuditEvent, *, source: str) -> None:
        """Queue a denial's entry (never waits for the database)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(source)
            if bucket is None:
                bucket = self._buckets[source] = _Bucket(tokens=float(self.burst), at=now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens < 1 or len(self._queue) >= self.max_queue:
                bucket.suppressed += 1
            else:
                bucket.tokens -= 1
                self._queue.append(event)
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="denials", daemon=True)
                self._thread.start()
        self._due.set()

    def flush(self) -> int:
        """Write every queued entry and the counts of suppressed ones now; how many entries."""
        with self._flushing:
            with self._lock:
                events = list(self._queue)
                self._queue.clear()
                for source, bucket in list(self._buckets.items()):
                    if bucket.suppressed:
                        events.append(
                            audit.AuditEvent(
                                audit.SYSTEM,
                                "audit.denials_suppressed",
                                outcome="denied",
                                details={"source": source, "count": bucket.suppressed},
                            )
                        )
                        bucket.suppressed = 0
                    elif bucket.tokens >= self.burst:
                        del self._buckets[source]  # full again: forget the source
            if not events:
                return 0
            try:
                with transaction(self._sessions) as session:
                    audit.append_many(session, events)
            except Exception as exc:  # the database is away: keep them for the next flush
                log.warning("denials.flush_failed", entries=len(events), error=repr(exc))
                with self._lock:
                    self._queue.extendleft(reversed(events))
                    while len(self._queue) > self.max_queue:
                        self._queue.pop()
                return 0
            return len(events)

    def stop(self) -> None:
        """Stop the thread, after a last flush."""
        self._stopping.set()
        self._due.set()
        thread = self._thread
        if thread is not None:
            thread.join(30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._due.wait()
            self._due.clear()
            self._stopping.wait(self.interval)  # what arrives meanwhile joins this flush
            self.flush()
