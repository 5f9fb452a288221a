"""A departed registrar's registrations handed to another registrar of its organisation: over
the API (a registrar of that organisation only) and from the command line; audited; refused
for an active principal, a target outside the organisation or without the registrar role. And
on chain, what the contract allows the ledger admin: proposing the design of a registrant that
lost its role to another registrar organisation, which must accept."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from hallmark.chain.registry import DesignRights
from hallmark.cli.app import app
from hallmark.services.access.organisations import create_api_key, set_organisation_enabled
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.models import AuditEntry, DesignRegistration, Principal
from tests.conftest import World
from tests.designs.corpus import draw_design, encode
from tests.designs.test_registry import LEGAL, register, workers
from tests.designs.test_rights import (
    DOCUMENT,
    RIVAL,
    THIRD,
    filed,
    pass_finality,
    post,
    registrar,
    settle,
)

__all__ = ["workers"]  # a fixture, shared with the registry's tests

PATH = "/api/v1/designs/reassignments"


def _key(world: World, name: str, role: str, slot: str, org: str = LEGAL) -> str:
    """A new principal of `org` with an API key of `role`; its key prefix (a principal ref)."""
    assert world.runtime.sessions is not None
    _, key = create_api_key(
        sessions=world.runtime.sessions, organisation_ref=org, principal_name=name, role=role
    )
    world.keys[f"{org}/{slot}"] = key
    return key.split("_")[1]


def _registered_by(world: World, number: str) -> str:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        name = session.scalar(
            select(Principal.name)
            .join(DesignRegistration, DesignRegistration.principal_id == Principal.id)
            .where(DesignRegistration.number == number)
        )
    assert name is not None
    return name


def test_a_departed_registrars_registrations_go_to_another_registrar_of_its_organisation(
    world: World,
) -> None:
    departing = _key(world, "A. Chen", "legal", "departing")
    successor = _key(world, "B. Li", "legal", "successor")
    reader = _key(world, "C. Wu", "reader", "reader")
    made = [
        register(world, encode(draw_design(seed)), role="departing", title=f"ring {seed}")
        for seed in (641, 642)
    ]
    kept = register(world, encode(draw_design(643)), title="not theirs")
    assert all(answer.status_code == 201 for answer in [*made, kept])
    numbers = [answer.json()["design"]["number"] for answer in made]

    # An active registrar keeps its registrations.
    early = post(world, PATH, LEGAL, {"principal": departing, "to": successor})
    assert early.status_code == 409, early.text
    assert "active" in early.json()["error"]["message"]
    gone = post(world, "/api/v1/designs/departures", LEGAL, {"principal": departing})
    assert gone.status_code == 200, gone.text

    # Another organisation's registrar finds neither principal; nor can it hand them to its own.
    registrar(world, RIVAL)
    rival_principal = _key(world, "R. Roe", "legal", "rival2", org=RIVAL)
    for target in (successor, rival_principal):
        hostile = post(world, PATH, RIVAL, {"principal": departing, "to": target})
        assert hostile.status_code == 404, hostile.text
    # A role that may not register cannot reassign; the target must be an active registrar.
    assert (
        post(world, PATH, LEGAL, {"principal": departing, "to": successor}, "reader").status_code
        == 403
    )
    not_registrar = post(world, PATH, LEGAL, {"principal": departing, "to": reader})
    assert not_registrar.status_code == 422, not_registrar.text
    itself = post(world, PATH, LEGAL, {"principal": departing, "to": departing})
    assert itself.status_code == 422
    not_theirs = post(
        world,
        PATH,
        LEGAL,
        {
            "principal": departing,
            "to": successor,
            "registrations": [kept.json()["design"]["number"]],
        },
    )
    assert not_theirs.status_code == 404, not_theirs.text
    assert [_registered_by(world, n) for n in numbers] == ["A. Chen", "A. Chen"]

    moved = post(
        world, PATH, LEGAL, {"principal": departing, "to": successor, "registrations": numbers[:1]}
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["registrations"] == numbers[:1] and body["count"] == 1
    assert body["principal"]["name"] == "A. Chen" and body["to"]["name"] == "B. Li"
    assert body["on_chain"].startswith("unchanged")
    rest = post(world, PATH, LEGAL, {"principal": departing, "to": successor})
    assert rest.status_code == 200 and rest.json()["registrations"] == numbers[1:]
    assert [_registered_by(world, n) for n in numbers] == ["B. Li", "B. Li"]
    assert _registered_by(world, kept.json()["design"]["number"]) != "B. Li"

    # The successor's departure report now holds them; the moves are audited.
    report = world.http.get(
        f"/api/v1/designs/departures/{successor}/report", headers=world.headers(LEGAL)
    ).json()
    assert {r["registration"] for r in report["registrations"]} == set(numbers)
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        audited = [
            entry.details["registrations"]
            for entry in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "design.reassign", AuditEntry.outcome == "ok")
                .order_by(AuditEntry.id)
            )
        ]
    assert audited == [numbers[:1], numbers[1:]]


def test_reassign_from_the_command_line(world: World) -> None:
    runtime = world.runtime
    assert runtime.chain is not None
    departing = _key(world, "D. Ma", "legal", "departing")
    successor = _key(world, "E. Xu", "legal", "successor")
    made = register(world, encode(draw_design(651)), role="departing", title="A brooch")
    assert made.status_code == 201, made.text
    assert post(world, "/api/v1/designs/departures", LEGAL, {"principal": departing}).is_success
    registrar(world, RIVAL)
    outsider = _key(world, "F. Qi", "legal", "outsider", org=RIVAL)
    settings = runtime.settings
    environment = {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_DATABASE_URL": settings.effective_database_url,
        "HALLMARK_ANVIL_PORT": runtime.chain.url.rsplit(":", 1)[1],
        "HALLMARK_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
    }

    def reassign(*args: str) -> Any:
        return CliRunner().invoke(app, ["designs", "reassign", *args], env=environment)

    refused = reassign(departing, "--to", outsider)
    assert refused.exit_code == 1
    assert "within their organisation" in refused.output
    assert _registered_by(world, made.json()["design"]["number"]) == "D. Ma"
    done = reassign(departing, "--to", successor)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    assert answer["registrations"] == [made.json()["design"]["number"]]
    assert _registered_by(world, made.json()["design"]["number"]) == "E. Xu"


def test_the_ledger_admin_proposes_a_disabled_registrars_design_and_another_accepts(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 661)
    number, fingerprint = design["number"], design["fingerprint"]
    rival = registrar(world, RIVAL)
    registrar(world, THIRD)
    pass_finality(world)
    runtime = world.runtime
    assert runtime.chain is not None and runtime.sessions is not None
    settings = runtime.settings
    environment = {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_DATABASE_URL": settings.effective_database_url,
        "HALLMARK_ANVIL_PORT": runtime.chain.url.rsplit(":", 1)[1],
        "HALLMARK_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
    }
    rescue = ["designs", "rescue", number, "--to", RIVAL, "--owner", "brand:rival"]

    # While the registrant holds its role, the admin may not take its design away.
    early = CliRunner().invoke(app, [*rescue, "--document", DOCUMENT], env=environment)
    assert early.exit_code == 1, early.output
    assert "RegistrantStillActive" in early.output
    pending = DesignRights(runtime.registry).retrieve_pending_assignment(fingerprint)
    assert not pending.pending

    set_organisation_enabled(
        sessions=runtime.sessions, chain=runtime.chain_access(), ref=LEGAL, enabled=False
    )
    done = CliRunner().invoke(app, [*rescue, "--document", DOCUMENT], env=environment)
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout[done.stdout.index("{") :])
    assert answer["proposed_by"].lower() == runtime.keys.admin.address.lower()  # type: ignore[union-attr]
    pending = DesignRights(runtime.registry).retrieve_pending_assignment(fingerprint)
    admin = runtime.keys.admin.address.lower()  # type: ignore[union-attr]
    assert pending.pending and pending.new_registrant.lower() == rival.account_address.lower()
    assert pending.proposed_by.lower() == admin

    # Only the organisation it names accepts, with the same document.
    path = f"/api/v1/designs/{number}/assignments/accept"
    third = post(world, path, THIRD, {"document_sha256": DOCUMENT})
    assert third.status_code == 403, third.text
    assert third.json()["error"]["details"]["contract_error"] == "NotProposedRegistrant"
    accepted = post(world, path, RIVAL, {"document_sha256": DOCUMENT})
    assert accepted.status_code == 202, accepted.text
    settle(world, workers)
    registrant = runtime.registry.retrieve_design(fingerprint).registrant
    assert registrant.lower() == rival.account_address.lower()
    shown = world.http.get(f"/api/v1/designs/{number}", headers=world.headers(RIVAL)).json()
    assert shown["owner_ref"] == "brand:rival"
    with runtime.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "design.rights.propose")
        ).all()
    assert [entry["by"] for entry in audited] == ["ledger admin"]
