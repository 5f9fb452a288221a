"""One started Hallmark per test module and database (SQLite, and PostgreSQL when configured).

Tests share the module's world, so each one makes its own lots and products (unique numbers and
serials) and never relies on what another test did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from tests.conftest import DATABASES, World, fresh_postgres_database, populate_world


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'hallmark.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The conftest world (every organisation kind, writer and reader keys), once per module."""
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = Settings(
        environment="test",  # type: ignore[arg-type]
        data_dir=data_dir,
        anvil_port=0,
        keystore_scrypt_n=1024,
        database_url=module_database_url,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = Runtime(settings)
    runtime.start()
    try:
        with TestClient(create_app(runtime)) as http:
            yield populate_world(runtime, http)
    finally:
        runtime.stop()
