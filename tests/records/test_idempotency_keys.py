"""Idempotency-Key under pressure: copies sent at once get the one stored answer, a replay is
authorised first, and stored answers expire."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from hallmark.core.times import utcnow
from hallmark.services.access import idempotency
from hallmark.services.access.organisations import create_api_key
from hallmark.store.models import IdempotentResponse, MaterialLot
from tests.conftest import World
from tests.records.factories import FACTORY, SUPPLIER, create_lot, lot_body, unique

COPIES = 12


def _lots_numbered(world: World, numbers: list[str]) -> int:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(MaterialLot).where(MaterialLot.lot_number.in_(numbers))
        )
    return int(count or 0)


def _all_at_once(send: Any, copies: int = COPIES) -> list[Any]:
    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(lambda _: send(), range(copies)))


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_copies_of_a_batch_get_the_one_stored_answer(world: World, round_: int) -> None:
    rows = [lot_body() for _ in range(50)]
    headers = world.headers(SUPPLIER, **{"Idempotency-Key": unique(f"batch-{round_}")})
    answers = _all_at_once(
        lambda: world.http.post("/api/v1/lots/batch", json=rows, headers=headers)
    )
    assert [a.status_code for a in answers] == [201] * COPIES, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == COPIES - 1
    assert _lots_numbered(world, [row["lot_number"] for row in rows]) == 50


def test_concurrent_copies_of_a_transfer_get_the_one_stored_answer(world: World) -> None:
    lot = create_lot(world)
    headers = world.headers(SUPPLIER, **{"Idempotency-Key": unique("transfer")})
    body = {"to_organisation": world.organisations[FACTORY].id}
    answers = _all_at_once(
        lambda: world.http.post(f"/api/v1/lots/{lot['id']}/transfer", json=body, headers=headers)
    )
    assert [a.status_code for a in answers] == [200] * COPIES, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1


def _same_principal_reader(world: World) -> str:
    assert world.runtime.sessions is not None
    _, secret = create_api_key(
        sessions=world.runtime.sessions,
        organisation_ref=SUPPLIER,
        principal_name="supplier",
        role="reader",
    )
    return secret


@pytest.mark.parametrize("path", ["/api/v1/lots", "/api/v1/lots/batch"])
def test_a_replay_is_authorised_first(world: World, path: str) -> None:
    key = unique("idem")
    body: Any = lot_body() if path == "/api/v1/lots" else [lot_body()]
    first = world.http.post(
        path, json=body, headers=world.headers(SUPPLIER, **{"Idempotency-Key": key})
    )
    assert first.status_code == 201, first.text
    reader = _same_principal_reader(world)
    replay = world.http.post(
        path,
        json=body,
        headers={"Authorization": f"Bearer {reader}", "Idempotency-Key": key},
    )
    assert replay.status_code == 403, replay.text
    assert replay.json()["error"]["code"] == "forbidden"
    assert "idempotent-replayed" not in replay.headers


def _age(world: World, key: str, hours: float) -> None:
    assert world.runtime.sessions is not None
    with world.runtime.sessions.begin() as session:
        session.execute(
            update(IdempotentResponse)
            .where(IdempotentResponse.key == key)
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


@pytest.mark.parametrize("path", ["/api/v1/lots", "/api/v1/lots/batch"])
def test_a_stored_answer_expires(world: World, path: str) -> None:
    key = unique("idem")
    headers = world.headers(SUPPLIER, **{"Idempotency-Key": key})
    body: Any = lot_body() if path == "/api/v1/lots" else [lot_body()]
    first = world.http.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    _age(world, key, 23)
    replay = world.http.post(path, json=body, headers=headers)
    assert replay.headers.get("idempotent-replayed") == "true"
    _age(world, key, 25)
    body = lot_body() if path == "/api/v1/lots" else [lot_body()]  # a new request, same key
    fresh = world.http.post(path, json=body, headers=headers)
    assert fresh.status_code == 201, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.content != first.content


def test_expired_answers_are_deleted(world: World) -> None:
    old = unique("old")
    world.http.post(
        "/api/v1/lots", json=lot_body(), headers=world.headers(SUPPLIER, **{"Idempotency-Key": old})
    ).raise_for_status()
    _age(world, old, 48)
    idempotency.purges.reset()
    world.http.post(
        "/api/v1/lots/batch",
        json=[lot_body()],
        headers=world.headers(SUPPLIER, **{"Idempotency-Key": unique("new")}),
    ).raise_for_status()
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        assert (
            session.scalar(select(IdempotentResponse).where(IdempotentResponse.key == old)) is None
        )
