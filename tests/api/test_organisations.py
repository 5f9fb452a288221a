"""Organisations, keys and the audit log, through the service layer and the API boundary."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from tests.conftest import World

from hallmark.chain.ledger import ORG_KIND_ROLES
from hallmark.core.errors import InvalidInputError
from hallmark.services.access import audit
from hallmark.services.access.organisations import (
    create_api_key,
    organisation_account,
    revoke_api_key,
    set_organisation_enabled,
)
from hallmark.store.models import ApiKey, AuditEntry


def test_each_organisation_has_its_own_account_holding_its_role(world: World) -> None:
    ledger = world.runtime.ledger
    addresses = {org.account_address for org in world.organisations.values()}
    assert len(addresses) == len(world.organisations)
    for org in world.organisations.values():
        assert ledger.retrieve_has_role(ORG_KIND_ROLES[org.kind], org.account_address)
        other_roles = set(ORG_KIND_ROLES.values()) - {ORG_KIND_ROLES[org.kind]}
        assert not any(ledger.retrieve_has_role(r, org.account_address) for r in other_roles)
        account = organisation_account(org, world.runtime.settings.passphrase)
        assert account.address == org.account_address


def test_api_key_is_stored_hashed_and_checked(world: World) -> None:
    secret = world.keys["Shenzhen Atelier/factory"]
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        stored = session.scalars(select(ApiKey.secret_hash)).all()
    assert secret not in stored
    assert all(len(h) == 64 for h in stored)
    bad = world.http.get("/api/v1/whoami", headers={"Authorization": "Bearer hm_nope_nope"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthenticated"
    ok = world.http.get("/api/v1/whoami", headers=world.headers("Shenzhen Atelier"))
    assert ok.status_code == 200
    assert ok.json()["organisation"]["name"] == "Shenzhen Atelier"
    assert ok.json()["role"] == "factory"


def test_revoked_key_is_refused_at_once(world: World) -> None:
    headers = world.headers("Lotus Gold Refinery")
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 200
    assert world.runtime.sessions is not None
    prefix = world.keys["Lotus Gold Refinery/supplier"].split("_")[1]
    revoke_api_key(sessions=world.runtime.sessions, key_ref=prefix)
    refused = world.http.get("/api/v1/whoami", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "this API key has been revoked"


def test_disabling_a_factory_revokes_keys_and_role_in_one_step(world: World) -> None:
    sessions = world.runtime.sessions
    assert sessions is not None
    factory = world.organisations["Antwerp Setters"]
    set_organisation_enabled(
        sessions=sessions, chain=world.runtime.chain_access(), ref=factory.name, enabled=False
    )
    assert not world.runtime.ledger.retrieve_has_role("FACTORY_ROLE", factory.account_address)
    with sessions() as session:
        statuses = session.scalars(
            select(ApiKey.status).where(ApiKey.organisation_id == factory.id)
        ).all()
    assert statuses
    assert set(statuses) == {"revoked"}
    assert world.http.get("/api/v1/whoami", headers=world.headers(factory.name)).status_code == 401
    set_organisation_enabled(
        sessions=sessions, chain=world.runtime.chain_access(), ref=factory.name, enabled=True
    )
    assert world.runtime.ledger.retrieve_has_role("FACTORY_ROLE", factory.account_address)


def test_roles_must_fit_the_organisation_kind(world: World) -> None:
    assert world.runtime.sessions is not None
    with pytest.raises(InvalidInputError, match="a factory organisation cannot hold the supplier"):
        create_api_key(
            sessions=world.runtime.sessions,
            organisation_ref="Shenzhen Atelier",
            principal_name="x",
            role="supplier",
        )


def test_audit_log_is_a_hash_chain_that_detects_tampering(world: World) -> None:
    world.http.get("/api/v1/whoami", headers={"Authorization": "Bearer hm_bad_key"})  # a denial
    denials = world.runtime.denial_log()
    assert denials is not None
    denials.flush()  # denials are queued, then written in batches
    sessions = world.runtime.sessions
    assert sessions is not None
    with sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert audit.verify_chain(session) is None
    actions = [e.action for e in entries]
    assert actions.count("organisation.create") == len(world.organisations)
    assert entries[-1].outcome == "denied"
    assert entries[-1].action == "GET /api/v1/whoami"
    victim = entries[len(entries) // 2]
    with sessions() as session, session.begin():
        session.execute(
            update(AuditEntry).where(AuditEntry.id == victim.id).values(action="organisation.x")
        )
    with sessions() as session:
        assert audit.verify_chain(session) == victim.id
