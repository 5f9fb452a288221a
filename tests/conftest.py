"""Shared fixtures: settings in a temporary data directory, databases (SQLite and, when
HALLMARK_TEST_DATABASE_URL is set, a fresh PostgreSQL database per test), started runtimes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_api_key, create_organisation
from hallmark.store.models import Organisation

POSTGRES_URL = os.environ.get("HALLMARK_TEST_DATABASE_URL")

DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)"
        ),
    ),
]


def _admin_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped on exit."""
    assert POSTGRES_URL, "HALLMARK_TEST_DATABASE_URL is required for PostgreSQL tests"
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


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hallmark.sqlite3'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: own data directory, a free anvil port, fast keystores."""

    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path / "data",
            "anvil_port": 0,
            "keystore_scrypt_n": 1024,
            "_env_file": None,
        }
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture
def start_runtime() -> Iterator[Callable[[Settings], Runtime]]:
    """Start runtimes for a test; every one started is stopped at the end."""
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


#: name → kind of the organisations every World has.
WORLD_ORGANISATIONS = {
    "Maison Lune": "brand",
    "Atelier Rivoli": "brand",
    "Lotus Gold Refinery": "supplier",
    "Cape Diamonds": "supplier",
    "Shenzhen Atelier": "factory",
    "Antwerp Setters": "factory",
    "Lune Legal": "legal",
}


@pytest.fixture
def world(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    database_url: str,
) -> Iterator[World]:
    """Every organisation kind twice (brand, supplier, factory), with a writer and a reader key."""
    runtime = start_runtime(make_settings(database_url=database_url))
    with TestClient(create_app(runtime)) as http:
        yield populate_world(runtime, http)


def populate_world(runtime: Runtime, http: TestClient) -> World:
    """Create the WORLD_ORGANISATIONS with a key of their kind's role and a reader key each."""
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
                sessions=runtime.sessions, organisation_ref=name, principal_name=role, role=role
            )
            keys[f"{name}/{role}"] = secret
    return World(runtime=runtime, http=http, organisations=organisations, keys=keys)
