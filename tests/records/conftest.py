"""One started Hallmark per test module and database (SQLite, and PostgreSQL when configured),
on the session's shared chain (reverted after the module) with the world's organisations.

Tests share the module's world, so each one makes its own lots and products (unique numbers and
serials) and never relies on what another test did.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hallmark.api.app import create_app
from hallmark.runtime import Runtime
from tests.conftest import DATABASES, World, install_world
from tests.database_templates import DatabaseTemplates, fresh_postgres_database
from tests.shared_chain import SharedChain, settings_for_tests


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    database_templates: DatabaseTemplates,
) -> Iterator[str]:
    """A fresh database at the migrations' head for the module."""
    if request.param == "sqlite":
        yield database_templates.sqlite_copy(tmp_path_factory.mktemp("db") / "hallmark.sqlite3")
        return
    with fresh_postgres_database(template=database_templates.postgres()) as url:
        yield url


@pytest.fixture(scope="module")
def world(
    module_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    shared_chain: SharedChain,
) -> Iterator[World]:
    """The conftest world (every organisation kind, writer and reader keys), once per module."""
    data_dir = tmp_path_factory.mktemp("data")
    shared_chain.fill_data_dir(data_dir)
    settings = settings_for_tests(
        data_dir=data_dir,
        anvil_port=shared_chain.port,
        anvil_attach=True,
        database_url=module_database_url,
    )
    with shared_chain.checkpoint():
        runtime = Runtime(settings)
        runtime.start()
        try:
            with TestClient(create_app(runtime)) as http:
                yield install_world(runtime, http, shared_chain)
        finally:
            runtime.stop()
