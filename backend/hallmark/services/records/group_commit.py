"""Group commit: the single-record creates of many concurrent requests, stored together.

A request that creates one lot, product or step hands its validated item and the API key it
presented to the process's `GroupCommitter` and awaits its answer. The committer takes every
create waiting (up to `max_group`) and stores them in one transaction: the keys checked in one
query, those the process's `keys.KeyCache` does not hold (a revoked key is refused as
everywhere); then per caller and kind, one context
load, each item planned against the ones before it (exactly as if they had come one after
another), the accepted ones written with bulk inserts, one audit entry per created item, the
Idempotency-Key answers. After the commit, each request gets its own answer: created, replayed,
or its own domain error (a refused item never refuses its neighbours).

Why: every write takes the database's write lock (SQLite) or the audit chain's lock
(PostgreSQL), so one writer at a time is what the database does anyway, and one commit and a
few bulk statements cost far less than one transaction per request. Durability is unchanged: no
request is answered before its transaction committed, and a commit is synced to disk (SQLite
`synchronous=FULL`, PostgreSQL's default): one fsync serves the whole group.

Where it runs: on the event loop, between requests. A group runs when the loop has read the
requests that arrived meanwhile (they queue in the socket buffers while a group is stored), so
groups grow with the load. A committing thread would have to win Python's GIL back from the
busy event loop after each database call (docs/BENCHMARKS.md says what that cost); on the loop
there is no such hand-over. Several API processes scale it out.

On PostgreSQL (`in_thread`) every statement is a round trip to a server, and a loaded machine
makes each one wait for the server's turn at a core: a group on the loop froze the process for
its dozen round trips and its commit. There, one thread commits the groups, one at a time,
while the loop reads and validates the requests that form the next group; its answers come
back to the loop.

On SQLite a group takes its turn at the write lock without waiting on the loop: while another
writer (the anchoring worker's store, a batch request, another API process) holds it, the loop
goes on reading requests, which join the group, and tries again every `LOCK_RETRY` seconds.
After `LOCK_PATIENCE` seconds the group is handed to a thread that keeps trying (the lock is not
fair, and a group must not starve) and commits it there, while the loop goes on answering
everything else (`/healthz`, reads); the creates that arrive meanwhile wait for the next group.
A create that has waited `write_wait` seconds (a writer of another process holding the lock
that long) is answered 503 with Retry-After, never stored later: the loop never waits for the
lock, and no request waits without bound.

If a group's transaction fails as a whole (a database error, a bug), nothing of it is stored and
each of its creates is retried alone, so one bad create fails only its own request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hallmark.core.errors import (
    DatabaseUnavailableError,
    HallmarkError,
    ServiceUnavailableError,
    UniqueViolationError,
)
from hallmark.services.access import audit, authorisation, idempotency, keys
from hallmark.services.access.keys import Actor
from hallmark.services.records import kinds
from hallmark.store.db import transaction
from hallmark.store.models import IdempotentResponse
from hallmark.store.sqlite import WriteLock

log = structlog.get_logger(__name__)

#: Seconds between two tries at a write lock another writer holds.
LOCK_RETRY = 0.002
#: Seconds of tries before a group waits for the write lock like any writer.
LOCK_PATIENCE = 0.1

#: (HTTP status, JSON body, replayed): a create's answer.
Answer = tuple[int, Any, bool]


@dataclass(slots=True)
class CreateJob:
    """One request's create: the key it presented, the kind, the validated item, its
    Idempotency-Key; `actor` is set once the key is found valid."""

    presented: str
    kind: kinds.Kind[Any, Any, Any]
    item: Any
    key: str | None
    fingerprint: str
    #: Settled with the answer or the error: an asyncio future when created on the event loop
    #: (`GroupCommitter.create`), a thread-safe one otherwise (a group committed directly).
    future: Future[Answer] | asyncio.Future[Answer] = field(default_factory=Future)
    actor: Actor | None = None
    #: When the job was queued (`time.monotonic()`): it waits `write_wait` seconds at most.
    queued_at: float = field(default_factory=time.monotonic)


class GroupCommitter:
    """Commits waiting creates together on the event loop (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_group: int = 256,
        write_lock: WriteLock | None = None,
        write_wait: float = 5.0,
        idempotency_ttl: timedelta = idempotency.DEFAULT_TTL,
        in_thread: bool = False,
        key_cache: keys.KeyCache | None = None,
    ) -> None:
        self._key_cache = key_cache
        self._sessions = sessions
        self._in_thread = in_thread
        #: A group being committed in the committing thread (`in_thread`): the next waits.
        self._committing = False
        self._ttl = idempotency_ttl
        self._max_group = max_group
        self._write_lock = write_lock
        self._write_wait = write_wait
        self._queue: deque[CreateJob] = deque()
        self._scheduled = False
        self._stopping = False
        self._lock_wait_since: float | None = None
        #: The thread waiting for the write lock with a group (at most one at a time).
        self._waiter: threading.Thread | None = None
        self._thread_pool: ThreadPoolExecutor | None = None
        #: Groups that found the write lock taken and tried again (for tests and profiling).
        self.lock_retries = 0

    async def create(self, job: CreateJob) -> Answer:
        """Queue a create, and wait for its group's commit; its answer, or its error."""
        if self._stopping:
            raise ServiceUnavailableError("Hallmark is shutting down; retry shortly")
        loop = asyncio.get_running_loop()
        job.future = loop.create_future()
        job.queued_at = time.monotonic()
        self._queue.append(job)
        if not self._scheduled:
            self._scheduled = True
            # After the callbacks already due: requests read in this pass join the group.
            loop.call_soon(self._next_group)
        return await job.future

    def stop(self) -> None:
        """Refuse new creates (503); store what is queued."""
        self._stopping = True
        waiter = self._waiter
        if waiter is not None:
            waiter.join(self._write_wait + 30)
        if self._thread_pool is not None:
            self._thread_pool.shutdown(wait=True)  # the group under way is stored and answered
            self._thread_pool = None
        while self._queue:
            self.commit(self._take())

    def _next_group(self) -> None:
        self._scheduled = False
        if self._waiter is not None:  # a thread holds a group; it schedules the next one
            return
        loop = asyncio.get_running_loop()
        if self._in_thread:
            self._commit_in_thread(loop)
            return
        locked = False
        if self._queue and self._write_lock is not None:
            locked = self._write_lock.try_acquire()
            now = loop.time()
            if not locked:
                if self._lock_wait_since is None:
                    self._lock_wait_since = now
                self.lock_retries += 1
                if now - self._lock_wait_since < LOCK_PATIENCE:
                    self._scheduled = True
                    loop.call_later(LOCK_RETRY, self._next_group)
                    return
                self._lock_wait_since = None
                self._wait_in_thread(loop, self._take())
                return
        self._lock_wait_since = None
        try:
            group = self._take()
            if group:
                self.commit(group)  # takes (or, holding it already, re-enters) the write lock
        finally:
            if locked:
                assert self._write_lock is not None
                self._write_lock.release()
        if self._queue and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._next_group)

    def _commit_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """`in_thread`: hand the waiting creates to the committing thread, one group at a time;
        the loop reads and validates the next requests while this group's statements wait for
        the server."""
        if self._committing or not self._queue:
            return
        self._committing = True
        group = self._take()
        done = loop.run_in_executor(self._executor(), self.commit, group)
        done.add_done_callback(self._committed)

    def _committed(self, done: asyncio.Future[None]) -> None:
        self._committing = False
        if not done.cancelled() and done.exception() is not None:  # commit settles its own
            log.error("group_commit.thread_failed", error=repr(done.exception()))
        if self._queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_group)

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread_pool is None:
            self._thread_pool = ThreadPoolExecutor(1, thread_name_prefix="group-commit")
        return self._thread_pool

    def _wait_in_thread(self, loop: asyncio.AbstractEventLoop, group: list[CreateJob]) -> None:
        """Hand a group to a thread that waits for the write lock and commits it there."""
        self._waiter = threading.Thread(
            target=self._commit_when_free, args=(loop, group), name="group-commit", daemon=True
        )
        self._waiter.start()

    def _commit_when_free(self, loop: asyncio.AbstractEventLoop, group: list[CreateJob]) -> None:
        """The waiting thread: the group committed once the lock is free, or each create
        answered 503 when the oldest has waited `write_wait` seconds (and nothing stored)."""
        assert self._write_lock is not None
        deadline = min(job.queued_at for job in group) + self._write_wait
        try:
            while True:
                if self._write_lock.try_acquire():
                    try:
                        self.commit(group)
                    finally:
                        self._write_lock.release()
                    return
                if time.monotonic() >= deadline:
                    log.warning("group_commit.write_lock_busy", size=len(group))
                    refused = ServiceUnavailableError(
                        f"the database is busy with another writer for over {self._write_wait:g}"
                        " s; nothing was stored, retry shortly",
                        details={"retry_after_seconds": 1},
                    )
                    for job in group:
                        _settle(job, refused)
                    return
                time.sleep(LOCK_RETRY)
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._waiter_done)

    def _waiter_done(self) -> None:
        self._waiter = None
        if self._queue and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._next_group)

    def _take(self) -> list[CreateJob]:
        """Waiting jobs in arrival order; a second use of an Idempotency-Key waits for the next
        group (which finds the first one's stored answer)."""
        group: list[CreateJob] = []
        keys: set[tuple[str, str]] = set()
        later: list[CreateJob] = []
        while self._queue and len(group) < self._max_group:
            job = self._queue.popleft()
            if job.key is not None:
                slot = (job.presented, job.key)
                if slot in keys:
                    later.append(job)
                    continue
                keys.add(slot)
            group.append(job)
        self._queue.extendleft(reversed(later))
        return group

    def commit(self, group: list[CreateJob]) -> None:
        """Store a group of creates together and settle each one's future (a group's unit of
        work; callable directly, e.g. to commit a known group)."""
        try:
            outcomes = self._store(group)
        except Exception as exc:
            if _unavailable(exc):
                # Retrying create by create would only wait on the database again, on the loop.
                log.error("group_commit.database_unavailable", size=len(group), error=repr(exc))
                refused = DatabaseUnavailableError("the database does not answer; retry shortly")
                for job in group:
                    _settle(job, refused)
                return
            if len(group) > 1:
                log.warning("group_commit.retrying_alone", size=len(group), error=repr(exc))
                for job in group:
                    self.commit([job])
                return
            job = group[0]
            # A unique value stored meanwhile by another process: the same Idempotency-Key (its
            # stored answer is replayed), else the same serial or number (409).
            replay = self._replay(job) if isinstance(exc, UniqueViolationError) else None
            if replay is None and not isinstance(exc, UniqueViolationError):
                log.error("group_commit.failed", error=repr(exc))
            _settle(job, replay or exc)
            return
        for job, outcome in zip(group, outcomes, strict=True):
            _settle(job, outcome)

    def _replay(self, job: CreateJob) -> Answer | None:
        """The answer another process stored for the same Idempotency-Key meanwhile."""
        with self._sessions() as session:
            return _stored(session, job, self._ttl)

    def _store(self, group: list[CreateJob]) -> list[Answer | HallmarkError]:
        """Store a group in one transaction; every job's answer or domain error."""
        outcomes: list[Answer | HallmarkError | None] = [None] * len(group)
        with transaction(self._sessions) as session:
            actors = keys.authenticate_many_cached(
                self._key_cache, session, [job.presented for job in group]
            )
            by_caller: dict[tuple[str, str], list[int]] = {}
            for index, job in enumerate(group):
                actor = actors[job.presented]
                if isinstance(actor, HallmarkError):
                    outcomes[index] = actor
                    continue
                job.actor = actor
                try:
                    # Authorised before a stored answer is replayed to it.
                    authorisation.require_role(actor, job.kind.permission)
                    stored = _stored(session, job, self._ttl, forget=True)
                except HallmarkError as exc:
                    outcomes[index] = exc
                    continue
                if stored is not None:
                    outcomes[index] = stored
                    continue
                by_caller.setdefault((actor.api_key_id, job.kind.permission), []).append(index)
            events: list[audit.AuditEvent] = []
            answers: list[dict[str, Any]] = []
            for indexes in by_caller.values():
                self._create(
                    session, group, indexes, outcomes=outcomes, events=events, answers=answers
                )
            audit.append_many(session, events)
            if answers:
                session.execute(insert(IdempotentResponse), answers)
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _create(
        session: Session,
        group: list[CreateJob],
        indexes: list[int],
        *,
        outcomes: list[Answer | HallmarkError | None],
        events: list[audit.AuditEvent],
        answers: list[dict[str, Any]],
    ) -> None:
        """One caller's creates of one kind: planned in order, written in bulk."""
        actor, kind = group[indexes[0]].actor, group[indexes[0]].kind
        assert actor is not None
        try:
            created = kinds.create_items(
                session=session, actor=actor, kind=kind, items=[group[i].item for i in indexes]
            )
        except HallmarkError as exc:  # the role check: the same for all of them
            for index in indexes:
                outcomes[index] = exc
            return
        for index, outcome in zip(indexes, created, strict=True):
            job = group[index]
            if isinstance(outcome, HallmarkError):
                outcomes[index] = outcome
                continue
            plan, record = outcome
            body = kind.answer(session, actor, plan, record).model_dump(mode="json")
            outcomes[index] = (201, body, False)
            events.append(kinds.created_event(actor, kind, job.item, record))
            if job.key is not None:
                answers.append(
                    {
                        "principal_id": actor.principal_id,
                        "key": job.key,
                        "request_hash": job.fingerprint,
                        "status_code": 201,
                        "body": body,
                    }
                )


def _unavailable(exc: Exception) -> bool:
    """The database is unreachable or busy (not this group's fault)."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _stored(
    session: Session, job: CreateJob, ttl: timedelta, *, forget: bool = False
) -> Answer | None:
    if job.key is None or job.actor is None:
        return None
    stored = idempotency.stored_answer(
        session, job.actor.principal_id, job.key, job.fingerprint, ttl=ttl, forget=forget
    )
    return None if stored is None else (stored[0], stored[1], True)


def _settle(job: CreateJob, outcome: Answer | BaseException) -> None:
    future = job.future
    if isinstance(future, asyncio.Future):
        loop = future.get_loop()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:  # settled from another thread (a shutdown's last groups)
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future, outcome)
            return
    _resolve(future, outcome)


def _resolve(
    future: Future[Answer] | asyncio.Future[Answer], outcome: Answer | BaseException
) -> None:
    if future.done():  # the request went away (its task was cancelled); the write stands
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
