"""Unique violations are conflicts (409) named by their constraint, at the store boundary: the
same serial created by two processes at once answers 201 to one and 409 to the other, never 500."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import uuid
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from hallmark.core.errors import HallmarkError, UniqueViolationError
from hallmark.services.records import products
from hallmark.services.records.group_commit import CreateJob, GroupCommitter
from hallmark.services.records.schemas import ProductCreate
from hallmark.store import db
from hallmark.store.models import IdempotentResponse, Principal
from tests.conftest import World
from tests.records.factories import BRAND, FACTORY

ROUNDS = 40


def test_a_duplicate_primary_key_is_a_named_conflict(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine)
        sessions = db.session_factory(engine)
        row = {"principal_id": "p", "key": "k", "request_hash": "h", "status_code": 201}
        with db.transaction(sessions) as session:
            session.add(IdempotentResponse(**row, body={}))
        with pytest.raises(UniqueViolationError) as raised, db.transaction(sessions) as session:
            session.add(IdempotentResponse(**row, body={}))
        assert raised.value.constraint == "pk_idempotency_keys"
        assert raised.value.http_status == 409
        assert raised.value.code == "conflict"
    finally:
        engine.dispose()


def test_other_integrity_errors_stay_errors(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        db.migrate(engine)
        orphan = Principal(
            id=str(uuid.uuid4()), organisation_id=str(uuid.uuid4()), name="x", kind="machine"
        )
        with pytest.raises(IntegrityError), db.transaction(db.session_factory(engine)) as session:
            session.add(orphan)
    finally:
        engine.dispose()


def _create_products(url: str, key: str, body: dict[str, Any], barrier: Any, out: Any) -> None:
    """One process: create each serial of the rounds, in step with the other process."""
    engine = db.make_engine(url)
    committer = GroupCommitter(db.session_factory(engine))
    try:
        for round_ in range(ROUNDS):
            item = {**body, "serial": f"{body['serial']}-{round_}"}
            job = CreateJob(
                presented=key,
                kind=products.KIND,
                item=ProductCreate.model_validate(item),
                key=None,
                fingerprint=hashlib.sha256(json.dumps(item).encode()).hexdigest(),
            )
            barrier.wait(30)
            committer.commit([job])
            try:
                status: Any = job.future.result(30)[0]
            except HallmarkError as exc:
                status = (exc.http_status, exc.details.get("field"))
            except Exception as exc:  # what the request would have answered with 500
                status = (500, type(exc).__name__)
            out.put((item["serial"], status))
    finally:
        engine.dispose()


def test_two_processes_creating_the_same_serials(world: World) -> None:
    url = world.runtime.settings.effective_database_url
    body = {
        "serial": f"SN-{uuid.uuid4().hex[:8]}",
        "name": "Lune ring",
        "category": "ring",
        "assigned_factory": world.organisations[FACTORY].id,
    }
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    out = context.Queue()
    processes = [
        context.Process(
            target=_create_products,
            args=(url, world.keys[f"{BRAND}/brand"], body, barrier, out),
        )
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    answers: dict[str, list[Any]] = {}
    for _ in range(2 * ROUNDS):
        serial, status = out.get(timeout=120)
        answers.setdefault(serial, []).append(status)
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0]
    assert len(answers) == ROUNDS
    for serial, statuses in answers.items():
        assert sorted(statuses, key=str) == [(409, "serial"), 201], serial
