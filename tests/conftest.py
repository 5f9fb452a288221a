"""Shared fixtures: settings in a temporary data directory, databases (SQLite and, when
HALLMARK_TEST_DATABASE_URL is set, a fresh PostgreSQL database per test), started runtimes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from hallmark.config import Settings
from hallmark.services.runtime import Runtime

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


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
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
