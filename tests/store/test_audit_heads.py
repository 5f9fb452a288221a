"""The audit log's head is anchored on chain from time to time, and `hallmark admin audit verify`
checks the log from the database alone and its heads against the chain: deleting the last
entries, or editing one and recomputing every later hash, no longer passes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update
from typer.testing import CliRunner, Result

from hallmark.api.app import create_app
from hallmark.cli import app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access import audit
from hallmark.services.access.audit_heads import anchor_head, current_head
from hallmark.services.access.organisations import create_api_key
from hallmark.store.models import AuditEntry, AuditHead
from tests.conftest import World, cli_environment, populate_world


@pytest.fixture
def audited(world: World) -> tuple[World, AuditHead]:
    """A world whose audit head is anchored, with entries after it."""
    runtime = world.runtime
    assert runtime.sessions is not None and runtime.chain is not None
    assert runtime.keys is not None and runtime.deployment is not None
    head = anchor_head(
        sessions=runtime.sessions,
        chain=runtime.chain,
        account=runtime.keys.service,
        chain_id=runtime.deployment.chain_id,
    )
    assert head is not None
    again = anchor_head(
        sessions=runtime.sessions,
        chain=runtime.chain,
        account=runtime.keys.service,
        chain_id=runtime.deployment.chain_id,
    )
    assert again is None, "the head is anchored already"
    for name in ("after-1", "after-2"):
        create_api_key(
            sessions=runtime.sessions,
            organisation_ref="Lune Legal",
            principal_name=name,
            role="reader",
        )
    return world, head


def _verify(world: World, *args: str, rpc_url: str | None = None) -> Result:
    environment = cli_environment(world, HALLMARK_RPC_URL=rpc_url or "")
    return CliRunner().invoke(app, ["admin", "audit", "verify", *args], env=environment)


def _rewrite(world: World, entry_id: int) -> None:
    """Edit an entry and recompute its hash and every later one (a chain that holds)."""
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.id >= entry_id).order_by(AuditEntry.id)
        ).all()
        prev = entries[0].prev_hash
        entries[0].details = {**entries[0].details, "forged": True}
        for entry in entries:
            entry.prev_hash = prev
            entry.entry_hash = prev = audit._entry_hash(prev, audit._content(entry))
            session.flush()
        assert audit.verify_chain(session) is None, "the forged chain holds together"


def test_an_intact_log_verifies_against_the_database_and_the_chain(
    audited: tuple[World, AuditHead],
) -> None:
    world, _ = audited
    verified = _verify(world)
    assert verified.exit_code == 0, verified.output
    assert "1 anchored heads" in verified.stdout
    assert "anchored heads match the chain" in verified.stdout
    offline = _verify(world, rpc_url="http://127.0.0.1:9")
    assert offline.exit_code == 0, offline.output
    assert "audit log intact" in offline.stdout
    assert "anchored heads not checked: the chain does not answer" in offline.stderr


def test_deleting_the_last_entries_is_caught(audited: tuple[World, AuditHead]) -> None:
    world, head = audited
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.id >= head.entry_id - 1))
    refused = _verify(world, "--no-chain")
    assert refused.exit_code == 1
    assert f"entry {head.entry_id}" in refused.stderr and "deleted" in refused.stderr


def test_an_edit_with_every_later_hash_recomputed_is_caught(
    audited: tuple[World, AuditHead],
) -> None:
    world, head = audited
    _rewrite(world, head.entry_id - 2)
    refused = _verify(world, "--no-chain")
    assert refused.exit_code == 1
    assert f"entry {head.entry_id}" in refused.stderr and "edited" in refused.stderr


def test_a_head_forged_with_the_log_is_caught_by_the_chain(
    audited: tuple[World, AuditHead],
) -> None:
    world, head = audited
    _rewrite(world, head.entry_id - 2)
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session, session.begin():
        forged = session.get(AuditEntry, head.entry_id)
        assert forged is not None
        session.execute(
            update(AuditHead).where(AuditHead.id == head.id).values(entry_hash=forged.entry_hash)
        )
    assert _verify(world, "--no-chain").exit_code == 0, "the database alone cannot tell"
    refused = _verify(world)
    assert refused.exit_code == 1
    assert "carries another head than the database's" in refused.stderr


def test_the_leading_worker_anchors_the_head_periodically(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    runtime = start_runtime(make_settings(audit_anchor_interval=0.2))
    with TestClient(create_app(runtime)) as http:
        populate_world(runtime, http)
    runtime.start_worker()
    sessions = runtime.sessions
    assert sessions is not None

    def heads() -> list[AuditHead]:
        with sessions() as session:
            return list(session.scalars(select(AuditHead).order_by(AuditHead.id)))

    deadline = time.monotonic() + 180
    while not heads() and time.monotonic() < deadline:
        time.sleep(0.1)
    first = heads()
    assert len(first) == 1
    with sessions() as session:
        assert (first[0].entry_id, first[0].entry_hash) == current_head(session)
    create_api_key(
        sessions=sessions,
        organisation_ref="Lune Legal",
        principal_name="later",
        role="reader",
    )
    while len(heads()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(heads()) == 2, "a grown log gets a new head"
