"""Shared fixtures: settings in a temporary data directory, databases (SQLite and, when
HALLMARK_TEST_DATABASE_URL is set, a fresh PostgreSQL database per test), started runtimes.

A test's database is a copy of one migrated once per session (`tests.database_templates`);
`world` and `harness` run on the session's one anvil and deployment, reverted after each test
(`tests.shared_chain`). Under pytest-xdist (`./scripts/test`) every worker process builds its
own: session fixtures are per process, temporary folders are per worker, and PostgreSQL
databases have unique names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import faiss
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.anchoring.leadership import leader_lock
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.models import Organisation
from tests.database_templates import POSTGRES_URL, DatabaseTemplates, fresh_postgres_database
from tests.shared_chain import (
    NODE_SETTINGS,
    WORLD_ORGANISATIONS,
    SharedChain,
    create_world_organisations,
)

__all__ = ["POSTGRES_URL", "WORLD_ORGANISATIONS", "fresh_postgres_database"]

# The command line's output (rich) wraps at the terminal's width, which a pytest-xdist worker
# does not have (it falls back to 80 columns): every test sees the same wide terminal.
os.environ["COLUMNS"] = "400"

# The workers already keep every core busy: the threads of the similarity search (faiss's OpenMP,
# OpenCV) would only contend with the other workers, and OpenMP's spin while waiting costs a
# fifth of the similarity goals' CPU time. One thread each, here and in the processes started.
os.environ["OMP_NUM_THREADS"] = "1"
faiss.omp_set_num_threads(1)
cv2.setNumThreads(1)

DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)"
        ),
    ),
]


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_Scheduling(), "hallmark-scheduling")


class _Scheduling:
    """`--dist loadscope` shares the tests out by `tests.scheduling` (xdist's own otherwise)."""

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "loadscope":
            return None
        from tests.scheduling import UnitScheduling

        return UnitScheduling(config, log)


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplates]:
    """The session's databases at the migrations' head, to copy."""
    templates = DatabaseTemplates.build(tmp_path_factory.mktemp("templates"))
    try:
        yield templates
    finally:
        templates.close()


@pytest.fixture(scope="session")
def shared_chain(
    tmp_path_factory: pytest.TempPathFactory, database_templates: DatabaseTemplates
) -> Iterator[SharedChain]:
    """The session's anvil, with Hallmark deployed and the world's and harness's organisations
    created on it (see `tests.shared_chain`)."""
    chain = SharedChain.build(tmp_path_factory.mktemp("shared-chain"), database_templates)
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture
def chain_checkpoint(shared_chain: SharedChain) -> Iterator[SharedChain]:
    """The shared chain, reverted after the test to what it was before (fixtures that start
    runtimes or processes on it depend on this one, so they stop before it reverts)."""
    with shared_chain.checkpoint():
        yield shared_chain


def uses_shared_chain(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> bool:
    """Whether a world or harness runs on the shared chain: unless the test is marked
    `private_chain` or asks for node settings of its own."""
    return request.node.get_closest_marker("private_chain") is None and not (
        NODE_SETTINGS & overrides.keys()
    )


@pytest.fixture
def postgres_database(database_templates: DatabaseTemplates) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, at the migrations' head."""
    with fresh_postgres_database(template=database_templates.postgres()) as url:
        yield url


@pytest.fixture(params=DATABASES)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: DatabaseTemplates
) -> str:
    """Each database test runs on SQLite and on PostgreSQL: a fresh database at the
    migrations' head."""
    if request.param == "sqlite":
        return database_templates.sqlite_copy(tmp_path / "hallmark.sqlite3")
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database (SQLite and PostgreSQL), for tests of the migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: own data directory, a free anvil port, fast keystores."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path / "data",
            "anvil_port": 0,
            "keystore_scrypt_n": 1024,
            "verify_rate_limit": "off",  # as `settings_for_tests`
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def start_runtime(
    chain_checkpoint: SharedChain,
) -> Iterator[Callable[[Settings], Runtime]]:
    """Start runtimes for a test; every one started is stopped at the end (before the shared
    chain is reverted)."""
    started: list[Runtime] = []

    def factory(settings: Settings) -> Runtime:
        runtime = Runtime(settings)
        started.append(runtime)
        runtime.start()
        return runtime

    yield factory
    for runtime in started:
        runtime.stop()


@dataclass
class World:
    """A started Hallmark with organisations of every kind, their API keys and an HTTP client."""

    runtime: Runtime
    http: TestClient
    organisations: dict[str, Organisation]
    keys: dict[str, str]  # "<org name>/<role>" → API key

    def headers(self, org: str, role: str | None = None, **extra: str) -> dict[str, str]:
        """Authorization headers for an organisation's key (its own kind's role by default)."""
        role = role or self.organisations[org].kind
        return {"Authorization": f"Bearer {self.keys[f'{org}/{role}']}", **extra}


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    database_url: str,
    chain_checkpoint: SharedChain,
) -> Iterator[World]:
    """Every organisation kind twice (brand, supplier, factory), with a writer and a reader key."""
    if not uses_shared_chain(request, {}):
        runtime = start_runtime(make_settings(database_url=database_url))
        with TestClient(create_app(runtime)) as http:
            yield populate_world(runtime, http)
        return
    settings = make_settings(
        database_url=database_url, anvil_port=chain_checkpoint.port, anvil_attach=True
    )
    chain_checkpoint.fill_data_dir(settings.data_dir)
    runtime = start_runtime(settings)
    with TestClient(create_app(runtime)) as http:
        yield install_world(runtime, http, chain_checkpoint)


def anchor_worker(runtime: Runtime, **overrides: Any) -> AnchorWorker:
    """An anchoring worker of `runtime`, with the settings `overrides` (not started: drive it
    with `step()`/`run_once()`, or start it)."""
    assert runtime.sessions is not None and runtime.engine is not None
    assert runtime.deployment is not None
    settings = runtime.settings.model_copy(update=overrides) if overrides else runtime.settings
    return AnchorWorker(
        sessions=runtime.sessions,
        ledger=runtime.ledger,
        leader=leader_lock(runtime.engine, settings.data_dir),
        settings=settings,
        chain_id=runtime.deployment.chain_id,
        deployment_block=runtime.deployment.deployment_block,
        deployment_id=runtime.deployment_id,
        ledgers=runtime.ledger_for,
    )


def cli_environment(world: World, **extra: str) -> dict[str, str]:
    """The environment of a `hallmark` command on the world's data directory, database and
    chain (test keystores, wide output), with `extra` variables."""
    settings = world.runtime.settings
    assert world.runtime.chain is not None
    return {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_DATABASE_URL": settings.effective_database_url,
        "HALLMARK_ANVIL_PORT": world.runtime.chain.url.rsplit(":", 1)[1],
        "HALLMARK_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
        "COLUMNS": "250",
        **extra,
    }


def populate_world(runtime: Runtime, http: TestClient) -> World:
    """Create the WORLD_ORGANISATIONS with a key of their kind's role and a reader key each."""
    keys = create_world_organisations(runtime)
    return World(runtime=runtime, http=http, organisations=_world_organisations(runtime), keys=keys)


def install_world(runtime: Runtime, http: TestClient, chain: SharedChain) -> World:
    """The WORLD_ORGANISATIONS and their keys as the shared chain's session created them, put
    into the runtime's database (the runtime must run on that chain)."""
    assert runtime.engine is not None
    chain.world.install(runtime.engine)
    return World(
        runtime=runtime,
        http=http,
        organisations=_world_organisations(runtime),
        keys=dict(chain.world_keys),
    )


def _world_organisations(runtime: Runtime) -> dict[str, Organisation]:
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        found = session.scalars(
            select(Organisation).where(Organisation.name.in_(WORLD_ORGANISATIONS))
        ).all()
    return {organisation.name: organisation for organisation in found}
