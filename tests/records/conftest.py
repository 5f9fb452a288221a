"""One started Hallmark per test module and database (SQLite, and PostgreSQL when configured).

Tests share the module's world, so each one makes its own lots and products (unique numbers and
serials) and never relies on what another test did.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.services.organisations import create_api_key, create_organisation
from hallmark.services.runtime import Runtime
from hallmark.store.models import Organisation
from tests.conftest import DATABASES, POSTGRES_URL, WORLD_ORGANISATIONS, World, _admin_dsn


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'hallmark.sqlite3'}"
        return
    assert POSTGRES_URL
    name = f"hallmark_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_dsn(POSTGRES_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
        assert runtime.sessions is not None
        chain = runtime.chain_access()
        organisations: dict[str, Organisation] = {}
        keys: dict[str, str] = {}
        for name, kind in WORLD_ORGANISATIONS.items():
            organisations[name] = create_organisation(
                sessions=runtime.sessions, chain=chain, name=name, kind=kind
            )
            for role in (kind, "reader"):
                _, secret = create_api_key(
                    sessions=runtime.sessions,
                    organisation_ref=name,
                    principal_name=role,
                    role=role,
                )
                keys[f"{name}/{role}"] = secret
        with TestClient(create_app(runtime)) as http:
            yield World(runtime=runtime, http=http, organisations=organisations, keys=keys)
    finally:
        runtime.stop()
