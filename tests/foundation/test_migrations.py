"""Migrations: they build exactly the tables the models describe; 0003 keeps the rows of a
populated SQLite database whose tables refer to `records`, moves the records' batches into
`record_anchors`, and its downgrade gives the records their leaf indexes and proofs back; 0013
moves certificate orders' JSON lists of outcomes into rows, and its downgrade puts them back."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, column, inspect, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hallmark.core.errors import UniqueViolationError
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.certificates import issuance
from hallmark.store.db import alembic_config, make_engine, make_read_engine, migrate
from hallmark.store.models import Base, CertificateOrder

ORG = "00000000-0000-4000-8000-000000000001"
ORG2 = "00000000-0000-4000-8000-000000000002"
HASH = "0x" + "ab" * 32
HASHES = [f"{HASH[:-1]}{number}" for number in (1, 2, 3)]
ROOT = "0x" + StandardMerkleTree.of(sorted(HASHES[1:])).root.hex()


def test_migrations_build_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
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
            for number in (1, 2, 3):
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
                    "INSERT INTO anchor_batches (id, organisation_id, kind, root, record_count, "
                    "status, account_address, nonce, tx_hash, raw_tx, attempts, created_at) "
                    "VALUES (7, :org, 'product', :root, 2, 'mined', :address, 0, :tx, '0x', 1, "
                    "'2026-11-01 00:00:00')"
                ),
                {"org": ORG, "root": ROOT, "address": "0x" + "11" * 20, "tx": "0x" + "22" * 32},
            )
            connection.execute(
                text(
                    "UPDATE records SET batch_id = 7, leaf_index = 0, proof = '[]' "
                    "WHERE id IN ('record-2', 'record-3')"
                )
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
            assert connection.execute(text("SELECT count(*) FROM records")).scalar() == 3
            anchors = connection.execute(
                text("SELECT record_id, batch_id FROM record_anchors ORDER BY record_id")
            ).all()
            assert [tuple(a) for a in anchors] == [("record-2", 7), ("record-3", 7)]
            queued = connection.execute(text("SELECT record_id FROM anchor_queue")).scalars()
            assert list(queued) == ["record-1"]
            # The hash is no longer a unique key; the foreign keys are still enforced.
            connection.execute(
                text(
                    "INSERT INTO records (id, kind, organisation_id, record_hash, canonical, "
                    "created_at) VALUES ('record-4', 'product', :org, :hash, '{}', "
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

        with engine.begin() as connection:  # the unique index comes back: no duplicate hash
            connection.execute(text("DELETE FROM records WHERE id = 'record-4'"))
        command.downgrade(alembic_config(engine), "0002")
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, batch_id, leaf_index, proof FROM records "
                    "WHERE batch_id IS NOT NULL ORDER BY id"
                )
            ).all()
        tree = StandardMerkleTree.of(sorted(HASHES[1:]))
        assert [(r.id, r.batch_id) for r in rows] == [("record-2", 7), ("record-3", 7)]
        for row, record_hash in zip(rows, HASHES[1:], strict=True):
            proof = ["0x" + node.hex() for node in tree.proof(record_hash)]
            assert (row.leaf_index, json.loads(row.proof)) == (tree.index_of(record_hash), proof)
    finally:
        engine.dispose()


def test_0006_gives_existing_batches_their_deployment_and_organisations_their_grants(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        command.upgrade(alembic_config(engine), "0005")
        with engine.begin() as connection:
            for row_id, at in ((1, "2026-10-01 00:00:00"), (2, "2026-11-15 00:00:00")):
                connection.execute(
                    text(
                        "INSERT INTO deployments (id, chain_id, deployment_block, admin_address, "
                        "service_address, contracts, record_hash, deployed_at_iso, created_at) "
                        "VALUES (:id, 31337, 1, :a, :s, '{}', :hash, :iso, :at)"
                    ),
                    {
                        "id": row_id,
                        "a": "0x" + "33" * 20,
                        "s": "0x" + "44" * 20,
                        "hash": f"0x{row_id:064x}",
                        "iso": at,
                        "at": at,
                    },
                )
            for org_id, kind, status in ((ORG, "factory", "active"), (ORG2, "brand", "disabled")):
                connection.execute(
                    text(
                        "INSERT INTO organisations (id, name, kind, status, account_address, "
                        "keystore, created_at) VALUES (:id, :id, :kind, :status, :address, "
                        "'{}', '2026-11-01 00:00:00')"
                    ),
                    {"id": org_id, "kind": kind, "status": status, "address": org_id[-12:]},
                )
            for batch_id, at in ((7, "2026-11-01 00:00:00"), (8, "2026-11-20 00:00:00")):
                connection.execute(
                    text(
                        "INSERT INTO anchor_batches (id, organisation_id, kind, root, "
                        "record_count, status, account_address, nonce, tx_hash, raw_tx, "
                        "attempts, created_at) VALUES (:id, :org, 'product', :root, 2, "
                        "'confirmed', :address, 0, :tx, '0x', 1, :at)"
                    ),
                    {
                        "id": batch_id,
                        "org": ORG,
                        "root": f"0x{batch_id:064x}",
                        "address": "0x" + "11" * 20,
                        "tx": "0x" + "22" * 32,
                        "at": at,
                    },
                )

        migrate(engine)

        with engine.connect() as connection:
            batches = connection.execute(
                text("SELECT id, deployment_id, salt FROM anchor_batches ORDER BY id")
            ).all()
            assert [tuple(b) for b in batches] == [(7, 1, None), (8, 2, None)]
            versions = connection.execute(text("SELECT version FROM deployments")).scalars()
            assert set(versions) == {"1.0.0"}
            grants = connection.execute(
                text(
                    "SELECT organisation_id, deployment_id, role, wanted, status "
                    "FROM organisation_grants ORDER BY role"
                )
            ).all()
            assert [tuple(g) for g in grants] == [
                (ORG, 2, "FACTORY_ROLE", True, "applied"),
                (ORG2, 2, "ISSUER_ROLE", False, "applied"),
            ]
        command.downgrade(alembic_config(engine), "0005")
        command.upgrade(alembic_config(engine), "head")
    finally:
        engine.dispose()


ORDER_RESULTS = [
    {
        "row": 1,
        "serial": "SN-1",
        "status": "issued",
        "certificate": "0190c3a0-0000-7000-8000-000000000001",
        "number": "HM-20261204-0A1B2C3D4E",
        "certificate_hash": HASH,
    },
    {
        "row": 2,
        "serial": "SN-2",
        "status": "refused",
        "error": {"code": "production_incomplete", "message": "the final QC did not pass"},
    },
    {
        "row": 3,
        "serial": "SN-3",
        "status": "refused",
        "error": {"code": "not_found", "message": "product SN-3 not found"},
    },
]


def test_0013_moves_order_outcomes_into_rows_and_back(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    orders = table(
        "certificate_orders",
        *(column(name) for name in ("id", "organisation_id", "issuance_id", "status")),
        *(column(name) for name in ("total", "processed", "issued", "failed", "created_at")),
        column("serials", JSON()),
        column("results", JSON()),
    )
    try:
        command.upgrade(alembic_config(engine), "0012")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, status, account_address, "
                    "keystore, created_at) VALUES (:id, 'Old Brand', 'brand', 'active', "
                    ":address, '{}', '2026-11-01 00:00:00')"
                ),
                {"id": ORG, "address": "0x" + "11" * 20},
            )
            for order_id, results in (("order-1", ORDER_RESULTS), ("order-2", [])):
                connection.execute(
                    orders.insert().values(
                        id=order_id,
                        organisation_id=ORG,
                        issuance_id=f"0x{len(results):064x}",
                        status="running" if results else "done",
                        total=4,
                        processed=len(results),
                        issued=1 if results else 0,
                        failed=2 if results else 0,
                        created_at=datetime(2026, 11, 1, tzinfo=UTC),
                        serials=["SN-1", "SN-2", "SN-3", "SN-4"],
                        results=results,
                    )
                )

        migrate(engine)

        with Session(engine) as session:
            moved = issuance.outcomes(session, "order-1")
            assert [outcome.as_result() for outcome in moved] == ORDER_RESULTS
            page = issuance.outcomes(session, "order-1", 1, 1)
            assert [outcome.as_result() for outcome in page] == ORDER_RESULTS[1:2]
            assert issuance.outcomes(session, "order-2") == []
            order = session.get(CertificateOrder, "order-1")
            assert order is not None and order.serials == ["SN-1", "SN-2", "SN-3", "SN-4"]
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("certificate_orders")}
            assert "results" not in columns
            # An outcome already recorded for a position cannot be recorded twice.
            with pytest.raises(UniqueViolationError, match="pk_certificate_order_outcomes"):
                connection.execute(
                    text(
                        "INSERT INTO certificate_order_outcomes (order_id, position, serial, "
                        "status) VALUES ('order-1', 0, 'SN-1', 'issued')"
                    )
                )

        command.downgrade(alembic_config(engine), "0012")
        with engine.connect() as connection:
            query = select(orders.c.id, orders.c.results).order_by(orders.c.id)
            back = {order_id: results for order_id, results in connection.execute(query)}
            assert back == {"order-1": ORDER_RESULTS, "order-2": []}
            assert "certificate_order_outcomes" not in inspect(connection).get_table_names()
        migrate(engine)
        with Session(engine) as session:
            again = [outcome.as_result() for outcome in issuance.outcomes(session, "order-1")]
            assert again == ORDER_RESULTS
    finally:
        engine.dispose()


def test_migrating_a_current_sqlite_database_takes_no_write_lock(tmp_path: Path) -> None:
    # A process starting (a standby worker) while another holds the write lock (a worker frozen
    # inside a transaction) must get through its start-up without waiting for it.
    url = f"sqlite:///{tmp_path / 'hallmark.sqlite3'}"
    holder, starting = make_engine(url), make_engine(url)
    reads = make_read_engine(url)
    assert reads is not None
    try:
        migrate(holder)
        done = threading.Event()
        with holder.begin():  # holds the write lock until the block ends
            migration = threading.Thread(
                target=lambda: (migrate(starting, reads=reads), done.set()), daemon=True
            )
            migration.start()
            migration.join(60)
            assert done.is_set(), "the migration of a current database waited for the lock"
        migrate(starting)  # without a reading engine it takes the lock (now free)
    finally:
        for engine in (holder, starting, reads):
            engine.dispose()
