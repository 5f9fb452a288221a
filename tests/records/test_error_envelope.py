"""Unexpected failures: every one answers the error envelope with a request id (the single
creates too), and its traceback is logged, with no key or passphrase in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from hallmark.core.logging import configure_logging
from hallmark.services.records import lots
from tests.conftest import World
from tests.records.factories import SUPPLIER, lot_body

PASSPHRASE = "correct horse battery staple 42"


@pytest.fixture
def logs_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _failing(world: World, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make listing lots fail with an error quoting the caller's key and the passphrase."""
    key = world.keys[f"{SUPPLIER}/supplier"]

    def boom(**_kwargs: Any) -> None:
        secret_in_a_local = key  # noqa: F841  (a traceback with locals would show it)
        raise RuntimeError(f"storage failed for {key} with {PASSPHRASE}")

    monkeypatch.setattr(lots, "list_lots", boom)
    return key


def _internal(response: Any) -> dict[str, Any]:
    assert response.status_code == 500, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["details"]["request_id"] == response.headers["x-request-id"]
    return error


def test_an_unexpected_error_is_a_500_envelope_with_the_request_id(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing(world, monkeypatch)
    response = world.http.get("/api/v1/lots", headers=world.headers(SUPPLIER))
    assert "storage failed" not in _internal(response)["message"]


def test_a_single_create_failing_unexpectedly_is_a_500_envelope(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_job: Any) -> Any:
        raise RuntimeError("group commit broke")

    committer = world.runtime.committer
    assert committer is not None
    monkeypatch.setattr(committer, "create", broken)
    response = world.http.post("/api/v1/lots", json=lot_body(), headers=world.headers(SUPPLIER))
    _internal(response)


def test_request_ids_are_answered_and_a_plain_client_id_is_kept(world: World) -> None:
    response = world.http.get("/healthz", headers={"X-Request-ID": "client-42"})
    assert response.headers["x-request-id"] == "client-42"
    response = world.http.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["x-request-id"] not in ("", "bad id <script>")


@pytest.mark.parametrize("json_logs", [False, True])
def test_tracebacks_are_logged_without_secrets(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    logs_restored: None,
    json_logs: bool,
) -> None:
    configure_logging("INFO", json=json_logs, secrets=[PASSPHRASE])
    key = _failing(world, monkeypatch)
    response = world.http.get("/api/v1/lots", headers=world.headers(SUPPLIER))
    request_id = _internal(response)["details"]["request_id"]
    logged = capsys.readouterr().err
    assert "Traceback" in logged and "RuntimeError" in logged
    assert request_id in logged
    assert "storage failed for hm_" in logged
    for secret in (*world.keys.values(), key.split("_", 2)[2], PASSPHRASE):
        assert secret not in logged


def test_answers_encode_integers_beyond_64_bits() -> None:
    """A record stored before such numbers were refused is still answered, not a 500."""
    from hallmark.api.responses import FastJSONResponse

    response = FastJSONResponse({"extra": {"v": 10**20, "w": [1.5, "x"]}})
    assert response.body == b'{"extra":{"v":100000000000000000000,"w":[1.5,"x"]}}'
