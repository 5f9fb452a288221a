"""Organisations, keys and the audit log, through the service layer and the API boundary."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update
from tests.conftest import World

from hallmark.chain.ledger import ORG_KIND_ROLES, role_id
from hallmark.core.errors import ChainUnavailableError, InvalidInputError
from hallmark.services.access import audit
from hallmark.services.access.organisations import (
    apply_grants,
    create_api_key,
    create_organisation,
    organisation_account,
    revoke_api_key,
    set_organisation_enabled,
)
from hallmark.store.models import ApiKey, AuditEntry, Organisation, OrganisationGrant


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


class _Crash(BaseException):
    """A process dying at this point (nothing after it runs, no handler catches it)."""


def _role_holders(world: World, role: str) -> set[str]:
    """Every account the ledger ever granted `role` to (its RoleGranted logs)."""
    ledger = world.runtime.ledger
    logs = ledger.contract.events.RoleGranted.get_logs(
        argument_filters={"role": role_id(role)}, from_block=0
    )
    return {str(log["args"]["account"]) for log in logs}


def test_a_crash_while_storing_an_organisation_leaves_no_role_on_chain(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, durability 4: nothing is granted on chain before the key is stored."""
    runtime = world.runtime
    assert runtime.sessions is not None
    before = _role_holders(world, "SUPPLIER_ROLE")

    def crash(*args: object, **kwargs: object) -> None:
        raise _Crash

    monkeypatch.setattr(audit, "append", crash)  # dies inside the transaction that stores it
    with pytest.raises(_Crash):
        create_organisation(
            sessions=runtime.sessions,
            chain=runtime.chain_access(),
            name="Crashing Refinery",
            kind="supplier",
        )
    monkeypatch.undo()
    with runtime.sessions() as session:
        stored = set(session.scalars(select(Organisation.account_address)).all())
        assert (
            session.scalars(
                select(Organisation).where(Organisation.name == "Crashing Refinery")
            ).first()
            is None
        )
    granted = _role_holders(world, "SUPPLIER_ROLE") - before
    assert granted <= stored, f"a role for a key never stored: {granted - stored}"
    assert granted == set()


def test_a_crash_after_storing_an_organisation_is_finished_by_org_sync(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.sessions is not None
    chain = runtime.chain_access()

    def crash(*args: object, **kwargs: object) -> None:
        raise _Crash

    monkeypatch.setattr(type(chain.ledger), "send_grant_role", crash)  # dies sending the grant
    with pytest.raises(_Crash):
        create_organisation(
            sessions=runtime.sessions, chain=chain, name="Half Done Refinery", kind="supplier"
        )
    monkeypatch.undo()
    with runtime.sessions() as session:
        organisation = session.scalars(
            select(Organisation).where(Organisation.name == "Half Done Refinery")
        ).one()
        grant = session.scalars(
            select(OrganisationGrant).where(OrganisationGrant.organisation_id == organisation.id)
        ).one()
    assert grant.status == "pending" and grant.wanted
    ledger = runtime.ledger
    # The key was stored first: its account is bound (version 2) but holds no role yet.
    assert ledger.retrieve_account(organisation.account_address).bound
    assert not ledger.retrieve_has_role("SUPPLIER_ROLE", organisation.account_address)
    assert organisation_account(organisation, runtime.settings.passphrase).address == (
        organisation.account_address
    )

    assert apply_grants(sessions=runtime.sessions, chain=chain) == 1
    assert ledger.retrieve_has_role("SUPPLIER_ROLE", organisation.account_address)
    binding = ledger.retrieve_account(organisation.account_address)
    assert binding.organisation == uuid.UUID(organisation.id).bytes
    with runtime.sessions() as session:
        assert session.get(OrganisationGrant, grant.id).status == "applied"  # type: ignore[union-attr]
    assert apply_grants(sessions=runtime.sessions, chain=chain) == 0  # nothing left, nothing sent


def test_a_refused_grant_stays_pending_with_its_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = world.runtime
    assert runtime.sessions is not None
    chain = runtime.chain_access()

    def refuse(*args: object, **kwargs: object) -> None:
        raise ChainUnavailableError(chain.ledger.client.url, "connection refused")

    monkeypatch.setattr(type(chain.ledger), "send_grant_role", refuse)
    with pytest.raises(ChainUnavailableError):
        create_organisation(
            sessions=runtime.sessions, chain=chain, name="Offline Refinery", kind="supplier"
        )
    monkeypatch.undo()
    with runtime.sessions() as session:
        grant = session.scalars(
            select(OrganisationGrant)
            .join(Organisation, Organisation.id == OrganisationGrant.organisation_id)
            .where(Organisation.name == "Offline Refinery")
        ).one()
    assert grant.status == "pending"
    assert grant.last_error is not None and "connection refused" in grant.last_error
    assert apply_grants(sessions=runtime.sessions, chain=chain) == 1
