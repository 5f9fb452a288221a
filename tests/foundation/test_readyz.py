"""Readiness names what is wrong: the chain node, or the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from tests.conftest import POSTGRES_URL
from tests.tcp_proxy import TcpProxy

from hallmark.api.app import create_app
from hallmark.chain.node import AnvilNode, find_anvil
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.store import db


def test_healthz_and_openapi(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    with TestClient(create_app(start_runtime(make_settings()))) as http:
        assert http.get("/healthz").json() == {"status": "alive"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["chain"]["chain_id"] == 31337
        assert body["chain"]["latest_block"] >= 4
        assert set(body["chain"]["contracts"]) == {"ProvenanceLedger", "DesignRegistry"}
        assert body["database"]["migrations_current"] is True
        assert "/readyz" in http.get("/openapi.json").json()["paths"]
        assert http.get("/docs").status_code == 200
        missing = http.get("/no-such-thing")
        assert missing.status_code == 404
        assert missing.json() == {
            "error": {"code": "not_found", "message": "Not Found", "details": {}}
        }


def test_readyz_does_not_read_the_migration_scripts_each_time(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding the newest migration compiles every migration script: CPU a probe called every
    few seconds need not spend, read once per process."""
    with TestClient(create_app(start_runtime(make_settings()))) as http:
        assert http.get("/readyz").json()["database"]["migrations_current"] is True
        read: list[str] = []

        class Counted(ScriptDirectory):
            def __init__(self, directory: str, *args: Any, **kwargs: Any) -> None:
                read.append(directory)
                super().__init__(directory, *args, **kwargs)

        monkeypatch.setattr(db, "ScriptDirectory", Counted)
        for _ in range(3):
            assert http.get("/readyz").json()["database"]["migrations_current"] is True
        assert read == []


def test_readyz_with_the_node_down(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A configured node (HALLMARK_RPC_URL, not supervised by Hallmark) that goes away.
    node = AnvilNode(
        binary=find_anvil(), state_path=tmp_path_factory.mktemp("node") / "s.json", port=0
    )
    node.start()
    settings = make_settings(rpc_url=node.url)
    deployer = Runtime(settings)
    deployer.start_for_deploy()
    assert deployer.chain is not None
    assert deployer.keys is not None
    deployer.chain.set_local_balance(deployer.keys.admin.address, 10**20)
    deployer.deploy()
    deployer.stop()
    runtime = start_runtime(settings)
    try:
        with TestClient(create_app(runtime)) as http:
            assert http.get("/readyz").status_code == 200
            node.stop()
            down = http.get("/readyz")
    finally:
        node.stop()
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "not ready"
    assert body["chain"]["reachable"] is False
    assert body["problems"] == [
        f"chain: chain node at {node.url} is unreachable: [Errno 111] Connection refused"
    ]
    assert body["database"]["reachable"] is True


@pytest.mark.skipif(not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)")
def test_readyz_with_the_database_down(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    postgres_database: str,
) -> None:
    url = make_url(postgres_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    runtime = start_runtime(make_settings(database_url=through_proxy))
    with TestClient(create_app(runtime)) as http:
        assert http.get("/readyz").status_code == 200
        proxy.cut()
        down = http.get("/readyz")
    assert down.status_code == 503
    body = down.json()
    assert body["database"]["reachable"] is False
    assert [p for p in body["problems"] if p.startswith("database:")] == body["problems"]
    assert body["problems"][0].startswith("database: database unreachable:")
    assert body["chain"]["reachable"] is True
