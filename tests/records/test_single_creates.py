"""The single-create request path (`api/single_creates.py`) answers exactly as the FastAPI routes
it stands in front of: the same requests sent through both give the same answers, denials are
audited by both, and a body over the size limit is refused before it is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hallmark.api.app import create_app
from hallmark.api.single_creates import SingleCreates
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.store.models import AuditEntry
from tests.conftest import World
from tests.records.factories import (
    FACTORY,
    FACTORY_2,
    SUPPLIER,
    create_product,
    lot_body,
    product_body,
    step_body,
)

#: Fields that differ between two creates of the same body (new ids, hashes, times, texts).
FRESH = {"id", "record_hash", "recorded_at", "created_at", "previous_step", "sequence", "canonical"}


@pytest.fixture(scope="module")
def routed(world: World) -> Iterator[TestClient]:
    """A client of the same runtime whose app has no SingleCreates: FastAPI's routes answer."""
    app = create_app(world.runtime)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not SingleCreates]
    with TestClient(app) as client:
        yield client


def _denials(world: World) -> int:
    assert world.runtime.sessions is not None
    denials = world.runtime.denial_log()
    assert denials is not None
    denials.flush()  # denials are queued, then written in batches
    with world.runtime.sessions() as session:
        count = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
        )
    return int(count or 0)


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k not in FRESH}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


def test_the_fast_path_is_installed(world: World) -> None:
    app = world.http.app
    assert any(m.cls is SingleCreates for m in app.user_middleware)  # type: ignore[attr-defined]


def test_valid_creates_answer_alike(world: World, routed: TestClient) -> None:
    for path, org, make in (
        ("/api/v1/lots", SUPPLIER, lot_body),
        ("/api/v1/products", FACTORY, lambda: {**product_body(world), "serial": "S"}),
    ):
        body = make()
        if path == "/api/v1/products":
            body.pop("assigned_factory")
        answers = []
        for client, suffix in ((world.http, "-fast"), (routed, "-routed")):
            sent = dict(body)
            for unique_field in ("lot_number", "serial"):
                if unique_field in sent:
                    sent[unique_field] = f"{sent[unique_field]}{suffix}"
            response = client.post(path, json=sent, headers=world.headers(org))
            assert response.status_code == 201, response.text
            answer = response.json()
            for unique_field in ("lot_number", "serial"):
                if unique_field in answer:
                    answer[unique_field] = answer[unique_field].removesuffix(suffix)
            answers.append(_stable(answer))
        assert answers[0] == answers[1]
    product = create_product(world, org=FACTORY)
    steps = [
        client.post(
            "/api/v1/steps", json=step_body(product["serial"]), headers=world.headers(FACTORY)
        )
        for client in (world.http, routed)
    ]
    assert [s.status_code for s in steps] == [201, 201]
    first, second = (s.json() for s in steps)
    assert second["previous_step"] == first["record"]["record_hash"], "one chain, both paths"
    assert second["sequence"] == first["sequence"] + 1
    assert _stable(first) == _stable(second)


Request = tuple[str, dict[str, Any]]


def _refused_requests(world: World) -> list[tuple[str, Callable[[], Request]]]:
    foreign = create_product(world, org=FACTORY_2, factory=FACTORY_2)
    key = {"Authorization": world.headers(FACTORY)["Authorization"]}
    return [
        ("no key", lambda: ("/api/v1/steps", {"json": step_body("x")})),
        (
            "malformed key",
            lambda: (
                "/api/v1/steps",
                {"json": step_body("x"), "headers": {"Authorization": "Bearer nope"}},
            ),
        ),
        ("missing field", lambda: ("/api/v1/steps", {"json": {"kind": "casting"}, "headers": key})),
        (
            "wrong type",
            lambda: (
                "/api/v1/lots",
                {"json": lot_body(quantity="lots"), "headers": world.headers(SUPPLIER)},
            ),
        ),
        (
            "not JSON",
            lambda: (
                "/api/v1/steps",
                {
                    "content": b"kind=casting",
                    "headers": {**key, "Content-Type": "text/plain"},
                },
            ),
        ),
        (
            "foreign product",
            lambda: ("/api/v1/steps", {"json": step_body(foreign["serial"]), "headers": key}),
        ),
        (
            "unknown product",
            lambda: ("/api/v1/steps", {"json": step_body("SN-none"), "headers": key}),
        ),
        (
            "wrong role",
            lambda: ("/api/v1/lots", {"json": lot_body(), "headers": key}),
        ),
    ]


def test_refusals_answer_alike_and_denials_are_audited(world: World, routed: TestClient) -> None:
    for name, make in _refused_requests(world):
        answers = []
        for client in (world.http, routed):
            path, kwargs = make()
            denied = _denials(world)
            response = client.post(path, **kwargs)
            answers.append((response.status_code, response.json()))
            if response.status_code in (401, 403, 404):
                assert _denials(world) == denied + 1, name
        assert answers[0] == answers[1], name
        assert 400 <= answers[0][0] < 500 and set(answers[0][1]["error"]) == {
            "code",
            "message",
            "details",
        }, name


def test_invalid_json_names_the_body(world: World, routed: TestClient) -> None:
    for client in (world.http, routed):
        response = client.post(
            "/api/v1/steps",
            content=b'{"kind": ',
            headers={**world.headers(FACTORY), "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        fields = response.json()["error"]["details"]["fields"]
        assert [f["type"] for f in fields] == ["json_invalid"]
        assert fields[0]["field"].startswith("body")


def test_replays_answer_alike(world: World, routed: TestClient) -> None:
    product = create_product(world, org=FACTORY)
    for client in (world.http, routed):
        key = {**world.headers(FACTORY), "Idempotency-Key": f"replay-{id(client)}"}
        body = step_body(product["serial"], kind="casting")
        first = client.post("/api/v1/steps", json=body, headers=key)
        again = client.post("/api/v1/steps", json=body, headers=key)
        other = client.post("/api/v1/steps", json={**body, "kind": "polishing"}, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert other.status_code == 409, other.text


def test_an_oversize_body_is_refused_unread(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
) -> None:
    runtime = start_runtime(make_settings(batch_max_bytes=2048))
    with TestClient(create_app(runtime)) as http:
        key = "hm_abcdefgh_" + "a" * 40
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        big = b'{"kind": "casting", "parameters": {"pad": "' + b"x" * 4096 + b'"}}'
        response = http.post("/api/v1/steps", content=big, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["details"]["max_bytes"] == 2048
