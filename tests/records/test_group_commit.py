"""Group commit: single creates of many requests stored in one transaction, each answered alone."""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import hashlib
import itertools
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from hallmark.core.errors import (
    AuthenticationError,
    DatabaseUnavailableError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    StepOrderError,
)
from hallmark.services.access import audit
from hallmark.services.access.organisations import create_api_key, revoke_api_key
from hallmark.services.records import kinds
from hallmark.services.records import steps as steps_service
from hallmark.services.records.group_commit import CreateJob, GroupCommitter
from hallmark.services.records.schemas import StepCreate
from hallmark.store.models import AuditEntry, IdempotentResponse, Product
from hallmark.store.sqlite import write_lock
from tests.conftest import World
from tests.records.factories import (
    FACTORY,
    FACTORY_2,
    SUPPLIER,
    create_product,
    step_body,
    unique,
)


def _job(
    world: World,
    body: dict[str, Any],
    *,
    org: str = FACTORY,
    role: str = "factory",
    key: str | None = None,
    kind: kinds.Kind[Any, Any, Any] = steps_service.KIND,
    presented: str | None = None,
) -> CreateJob:
    return CreateJob(
        presented=presented or world.keys[f"{org}/{role}"],
        kind=kind,
        item=StepCreate.model_validate(body),
        key=key,
        fingerprint=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
    )


def _committer(world: World) -> GroupCommitter:
    assert world.runtime.sessions is not None
    return GroupCommitter(world.runtime.sessions)


def _audit_count(world: World, action: str) -> int:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


def test_a_group_answers_each_create_on_its_own(world: World) -> None:
    first = create_product(world)["serial"]
    second = create_product(world)["serial"]
    foreign = create_product(world, factory=FACTORY_2)["serial"]
    assert world.runtime.sessions is not None
    _, revoked = create_api_key(
        sessions=world.runtime.sessions,
        organisation_ref=FACTORY,
        principal_name="retired line",
        role="factory",
    )
    revoke_api_key(sessions=world.runtime.sessions, key_ref=revoked.split("_")[1])
    group = [
        _job(world, step_body(first, "wax_3d_print")),
        _job(world, step_body(second, "casting")),
        _job(world, step_body(first, "shipping")),  # no passing QC yet: 409
        _job(world, step_body(foreign, "polishing")),  # another factory's product: 404
        _job(world, step_body(first, "casting")),
        _job(world, step_body(second, "polishing"), presented=revoked),  # revoked: 401
        _job(world, step_body(first, "polishing"), org=SUPPLIER, role="supplier"),  # 403
        _job(world, step_body(first, "qc_inspection")),
        _job(world, step_body(first, "shipping")),  # after the QC of the same group: accepted
    ]
    created_before = _audit_count(world, "step.create")
    _committer(world).commit(group)

    outcomes = [job.future.exception() or job.future.result() for job in group]
    errors = {i: type(o) for i, o in enumerate(outcomes) if isinstance(o, Exception)}
    assert errors == {
        2: StepOrderError,
        3: NotFoundError,
        5: AuthenticationError,
        6: PermissionDeniedError,
    }
    created = [o for o in outcomes if not isinstance(o, Exception)]
    assert [status for status, _, replayed in created] == [201] * 5
    assert not any(replayed for _, _, replayed in created)
    bodies = [body for _, body, _ in created]
    # The chain runs through the group in arrival order, as if the steps came one by one.
    by_first = [b for b in bodies if b["product_serial"] == first]
    assert [b["kind"] for b in by_first] == ["wax_3d_print", "casting", "qc_inspection", "shipping"]
    assert [b["sequence"] for b in by_first] == [1, 2, 3, 4]
    for before, after in itertools.pairwise(by_first):
        assert after["previous_step"] == before["record"]["record_hash"]
    # Each create's job knows its caller (a denial is audited in its name); 401 knows none.
    assert group[0].actor is not None and group[5].actor is None
    with world.runtime.sessions() as session:
        for serial in (first, second):
            product = session.scalars(select(Product).where(Product.serial == serial)).one()
            assert steps_service.verify_chain(session, product).intact
        assert audit.verify_chain(session) is None
    assert _audit_count(world, "step.create") == created_before + 5


def test_a_replayed_key_waits_for_the_first_answer(world: World) -> None:
    serial = create_product(world)["serial"]
    committer = _committer(world)
    body = step_body(serial, "polishing")
    k1, k2 = unique("K"), unique("K")
    first, again = _job(world, body, key=k1), _job(world, body, key=k1)
    other = _job(world, step_body(serial, "casting"), key=k2)

    async def arrive_together() -> list[Any]:
        # Queued in one pass of the loop: the first group takes k1 and k2, the second k1 waits
        # for the next group.
        return await asyncio.gather(*(committer.create(job) for job in (first, again, other)))

    answers = asyncio.run(arrive_together())
    assert [replayed for _, _, replayed in answers] == [False, True, False]
    status, answer, replayed = again.future.result()
    assert (status, replayed) == (201, True)
    assert answer == first.future.result()[1]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(IdempotentResponse)
                .where(IdempotentResponse.key.in_([k1, k2]))
            )
            == 2
        )
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        assert product.step_count == 2  # k1 stored once

    reused = _job(world, step_body(serial, "repair"), key=k1)
    committer.commit([reused])
    with pytest.raises(IdempotencyKeyReusedError):
        reused.future.result()


def test_a_failing_group_is_retried_create_by_create(world: World) -> None:
    serial = create_product(world)["serial"]

    def plan(ctx: Any, item: StepCreate) -> Any:
        if item.responsible == "boom":
            raise RuntimeError("planner bug")
        return steps_service.KIND.plan(ctx, item)

    broken = dataclasses.replace(steps_service.KIND, plan=plan)
    group = [
        _job(world, step_body(serial, "casting"), kind=broken),
        _job(world, step_body(serial, "polishing", responsible="boom"), kind=broken),
        _job(world, step_body(serial, "polishing"), kind=broken),
    ]
    _committer(world).commit(group)

    assert group[0].future.result()[1]["sequence"] == 1
    with pytest.raises(RuntimeError, match="planner bug"):
        group[1].future.result()
    assert group[2].future.result()[1]["sequence"] == 2
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        assert steps_service.verify_chain(session, product).intact
        assert product.step_count == 2


def test_concurrent_requests_share_transactions_and_keep_the_chain(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    serials = [create_product(world)["serial"] for _ in range(4)]
    start = threading.Barrier(24)
    committer = world.runtime.committer
    assert committer is not None
    # Groups form only once all 24 creates are queued (however the threads are scheduled), and
    # each group's size is recorded: the creates must share transactions, not merely succeed.
    sizes: list[int] = []
    commit, next_group = committer.commit, committer._next_group
    everyone_by = time.monotonic() + 30

    def counted(group: list[CreateJob]) -> None:
        sizes.append(len(group))
        commit(group)

    def when_all_queued() -> None:
        if len(committer._queue) < 24 and time.monotonic() < everyone_by:
            asyncio.get_running_loop().call_later(0.01, when_all_queued)
            return
        next_group()

    monkeypatch.setattr(committer, "commit", counted)
    monkeypatch.setattr(committer, "_next_group", when_all_queued)

    def post(i: int) -> int:
        start.wait()
        response = world.http.post(
            "/api/v1/steps",
            json=step_body(serials[i % 4], "polishing", responsible=f"emp-{i}"),
            headers=world.headers(FACTORY),
        )
        return response.status_code

    with ThreadPoolExecutor(24) as pool:
        codes = list(pool.map(post, range(24)))
    assert codes == [201] * 24
    assert sizes == [24], sizes  # one transaction stored all 24
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        for serial in serials:
            product = session.scalars(select(Product).where(Product.serial == serial)).one()
            assert product.step_count == 6
            assert steps_service.verify_chain(session, product).intact
        assert audit.verify_chain(session) is None


def test_a_stopped_committer_stores_what_is_queued_and_refuses_new_creates(world: World) -> None:
    committer = _committer(world)
    serial = create_product(world)["serial"]
    queued = _job(world, step_body(serial))
    committer._queue.append(queued)  # arrived, its group not run yet
    committer.stop()
    assert queued.future.result()[0] == 201
    with pytest.raises(ServiceUnavailableError, match="shutting down"):
        asyncio.run(committer.create(_job(world, step_body(serial))))


def test_a_request_that_went_away_is_still_stored_and_breaks_nothing(world: World) -> None:
    serial = create_product(world)["serial"]
    committer = _committer(world)
    gone, staying = _job(world, step_body(serial, "casting")), _job(world, step_body(serial))

    async def one_client_disconnects() -> Any:
        task = asyncio.ensure_future(committer.create(gone))
        await asyncio.sleep(0)  # queued, its group not run yet
        task.cancel()  # what uvicorn does when the client disconnects
        return await committer.create(staying)

    status, body, _ = asyncio.run(one_client_disconnects())
    assert status == 201 and body["sequence"] == 2  # the cancelled create was stored first
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        product = session.scalars(select(Product).where(Product.serial == serial)).one()
        assert product.step_count == 2
        assert steps_service.verify_chain(session, product).intact


def test_an_unreachable_database_refuses_the_group_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = create_product(world)["serial"]
    committer = _committer(world)
    attempts: list[int] = []

    def unreachable(group: list[CreateJob]) -> Any:
        attempts.append(len(group))
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(committer, "_store", unreachable)
    group = [_job(world, step_body(serial)) for _ in range(5)]
    committer.commit(group)
    assert attempts == [5]  # not retried create by create: that would wait again, five times
    for job in group:
        with pytest.raises(DatabaseUnavailableError):
            job.future.result()


def test_a_group_reads_on_while_another_writer_holds_the_write_lock(world: World) -> None:
    """SQLite: while another process holds the write lock, the loop keeps running (requests
    join the group), and the group is committed once the lock is free."""
    engine, sessions = world.runtime.engine, world.runtime.sessions
    assert engine is not None and sessions is not None
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    committer = GroupCommitter(sessions, write_lock=write_lock(engine))
    serial = create_product(world)["serial"]
    jobs = [_job(world, step_body(serial, responsible=f"emp-{i}")) for i in range(3)]
    with Path(f"{engine.url.database}.lock").open("a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # as another Hallmark process's writer does
        # Should the loop block on the lock after all, the test fails instead of hanging: the
        # lock is freed, the first group stored before the loop runs the checks below.
        safety = threading.Timer(4.0, fcntl.flock, (other, fcntl.LOCK_UN))
        safety.start()

        async def scenario() -> list[Any]:
            first = asyncio.create_task(committer.create(jobs[0]))
            await asyncio.sleep(0.01)
            later = [asyncio.create_task(committer.create(job)) for job in jobs[1:]]
            await asyncio.sleep(0.03)  # the loop ran meanwhile; nothing is stored yet
            assert not first.done() and committer.lock_retries > 0
            fcntl.flock(other, fcntl.LOCK_UN)
            return await asyncio.gather(first, *later)

        try:
            answers = asyncio.run(scenario())
        finally:
            safety.cancel()
    assert [code for code, _, _ in answers] == [201, 201, 201]
    assert [body["sequence"] for _, body, _ in answers] == [1, 2, 3]


def test_postgresql_groups_wait_for_the_server_off_the_event_loop(world: World) -> None:
    """PostgreSQL: a group waiting for the server (here for the audit chain's lock, held by
    another connection) waits in the committing thread; the loop goes on running, and the
    creates that arrive meanwhile form the next group once the first is stored."""
    committer, engine = world.runtime.committer, world.runtime.engine
    assert committer is not None and engine is not None
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite groups take their turn at the write lock on the loop (test above)")
    serial = create_product(world)["serial"]
    jobs = [_job(world, step_body(serial, responsible=f"emp-{i}")) for i in range(3)]
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_lock(:id)"), {"id": audit._AUDIT_LOCK})
        # Should the loop block on the lock after all, the test fails instead of hanging: the
        # lock is freed, the first group stored before the loop ticks again. Well within the
        # lock's timeout (`write_wait`, 5 s: a 503 would end the wait as well).
        safety = threading.Timer(
            4.0, lambda: other.execute(text("SELECT pg_advisory_unlock_all()"))
        )

        async def scenario() -> list[Any]:
            first = asyncio.create_task(committer.create(jobs[0]))
            # The loop runs while the group waits: ten turns, however slowly a loaded machine
            # gives them (a blocked loop gives none before the lock is free).
            for _ in range(10):
                await asyncio.sleep(0.01)
            later = [asyncio.create_task(committer.create(job)) for job in jobs[1:]]
            await asyncio.sleep(0.05)
            assert not first.done() and not any(t.done() for t in later)
            safety.cancel()
            await asyncio.to_thread(other.execute, text("SELECT pg_advisory_unlock_all()"))
            return await asyncio.gather(first, *later)

        safety.start()
        try:
            answers = asyncio.run(scenario())
        finally:
            safety.cancel()
            other.rollback()
    assert [code for code, _, _ in answers] == [201, 201, 201]
    assert [body["sequence"] for _, body, _ in answers] == [1, 2, 3]
