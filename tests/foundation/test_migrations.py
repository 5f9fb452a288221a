"""Migrations: they build exactly the tables the models describe, and 0003 keeps the rows of a
populated SQLite database whose tables refer to `records`."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hallmark.store.db import alembic_config, make_engine, migrate
from hallmark.store.models import Base

ORG = "00000000-0000-4000-8000-000000000001"
HASH = "0x" + "ab" * 32


def test_migrations_build_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []
    finally:
        engine.dispose()


def test_0003_keeps_rows_and_foreign_keys_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.upgrade(alembic_config(engine), "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, status, account_address, "
                    "keystore, created_at) VALUES (:id, 'Old Factory', 'factory', 'active', "
                    ":address, '{}', '2026-11-01 00:00:00')"
                ),
                {"id": ORG, "address": "0x" + "11" * 20},
            )
            for number in (1, 2):
                connection.execute(
                    text(
                        "INSERT INTO records (id, kind, organisation_id, record_hash, canonical, "
                        "created_at) VALUES (:id, 'product', :org, :hash, '{}', "
                        "'2026-11-01 00:00:00')"
                    ),
                    {"id": f"record-{number}", "org": ORG, "hash": f"{HASH[:-1]}{number}"},
                )
            connection.execute(
                text(
                    "INSERT INTO anchor_queue (record_id, record_hash, organisation_id, kind, "
                    "enqueued_at) VALUES ('record-1', :hash, :org, 'product', "
                    "'2026-11-01 00:00:00')"
                ),
                {"hash": f"{HASH[:-1]}1", "org": ORG},
            )

        migrate(engine)

        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            assert connection.execute(text("SELECT count(*) FROM records")).scalar() == 2
            queued = connection.execute(text("SELECT record_id FROM anchor_queue")).scalars()
            assert list(queued) == ["record-1"]
            # The hash is no longer a unique key; the foreign keys are still enforced.
            connection.execute(
                text(
                    "INSERT INTO records (id, kind, organisation_id, record_hash, canonical, "
                    "created_at) VALUES ('record-3', 'product', :org, :hash, '{}', "
                    "'2026-11-01 00:00:00')"
                ),
                {"org": ORG, "hash": f"{HASH[:-1]}1"},
            )
        with engine.connect() as connection, pytest.raises(IntegrityError, match="FOREIGN KEY"):
            connection.execute(
                text(
                    "INSERT INTO anchor_queue (record_id, record_hash, organisation_id, "
                    "kind, enqueued_at) VALUES ('no-such-record', :hash, :org, 'product', "
                    "'2026-11-01 00:00:00')"
                ),
                {"hash": HASH, "org": ORG},
            )
    finally:
        engine.dispose()
