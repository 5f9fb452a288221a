"""Design rights end to end on the shared chain: two-step assignments, licences and their
termination, through the API, the worker and the DesignRegistry; hostile members; resuming
after a crash; a designer's departure."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hallmark.chain.registry import RIGHTS_GAS, DesignRights
from hallmark.cli.app import app
from hallmark.core.errors import ContractRevertError
from hallmark.services.access.organisations import (
    create_api_key,
    organisation_account,
    set_organisation_enabled,
)
from hallmark.services.access.staff import StaffPolicy, create_staff
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.models import (
    AuditEntry,
    DesignRegistration,
    DesignRightsAction,
    Organisation,
    StaffSession,
    StaffUser,
)
from tests.conftest import World
from tests.designs.corpus import draw_design, encode
from tests.designs.test_registry import (
    LEGAL,
    api_url,
    crash_before_broadcast,
    file_all,
    make_worker,
    register,
    workers,
)
from tests.shared_chain import create_organisations

__all__ = ["api_url", "workers"]  # fixtures, shared with the registry's tests

RIVAL = "Rival Legal"
THIRD = "Third Legal"
DAY = 24 * 3600
DOCUMENT = hashlib.sha256(b"assignment agreement, signed 2026-12-04").hexdigest()
LICENCE = hashlib.sha256(b"licence agreement, signed 2026-12-04").hexdigest()
PROPOSAL = {"new_registrant": RIVAL, "new_owner_ref": "brand:rival", "document_sha256": DOCUMENT}


# --- helpers -----------------------------------------------------------------------------------


def registrar(world: World, name: str) -> Organisation:
    """Another legal organisation (a registrar on the ledger) with a legal key."""
    create_organisations(world.runtime, {name: "legal"})
    assert world.runtime.sessions is not None
    _, key = create_api_key(
        sessions=world.runtime.sessions,
        organisation_ref=name,
        principal_name="registrar",
        role="legal",
    )
    with world.runtime.sessions() as session:
        organisation = session.scalar(select(Organisation).where(Organisation.name == name))
        assert organisation is not None
        session.expunge(organisation)
    world.keys[f"{name}/legal"] = key
    world.organisations[name] = organisation
    return organisation


def filed(world: World, workers: list[AnchorWorker], seed: int) -> dict[str, Any]:
    answer = register(world, encode(draw_design(seed)), title=f"design {seed}")
    assert answer.status_code == 201, answer.text
    file_all(world, workers)
    shown = world.http.get(
        f"/api/v1/designs/{answer.json()['design']['number']}", headers=world.headers(LEGAL)
    ).json()
    assert shown["status"] == "registered", shown
    return dict(shown)


def pass_finality(world: World) -> None:
    """Move the chain's clock past the one-day finality of every filing so far."""
    chain = world.runtime.chain
    assert chain is not None
    chain.retrieve("evm_increaseTime", [DAY + 60])
    chain.retrieve("evm_mine", [])


def post(world: World, path: str, org: str, body: Any = None, role: str = "legal") -> Any:
    return world.http.post(path, json=body, headers=world.headers(org, role))


def settle(world: World, workers: list[AnchorWorker], timeout: float = 30.0) -> None:
    """Step a worker until no rights action is requested or sending."""
    if workers:
        worker = workers[-1]  # the leading worker (a second one would stand by)
    else:
        worker = make_worker(world)
        workers.append(worker)
    assert world.runtime.sessions is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        with world.runtime.sessions() as session:
            busy = session.scalar(
                select(DesignRightsAction.id).where(
                    DesignRightsAction.status.in_(("requested", "sending"))
                )
            )
        if busy is None:
            return
    raise AssertionError(f"rights actions not settled in {timeout} s: {worker.report()}")


def action(world: World, action_id: str) -> dict[str, Any]:
    shown = world.http.get(
        f"/api/v1/designs/rights/actions/{action_id}", headers=world.headers(LEGAL)
    )
    assert shown.status_code == 200, shown.text
    return dict(shown.json())


def account(world: World, name: str) -> Any:
    return organisation_account(world.organisations[name], world.runtime.settings.passphrase)


def rights_client(world: World) -> DesignRights:
    return DesignRights(world.runtime.registry)


# --- assignments -------------------------------------------------------------------------------


def test_assignment_two_steps_moves_the_design_to_the_accepting_registrar(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 601)
    number, fingerprint = design["number"], design["fingerprint"]
    rival = registrar(world, RIVAL)
    registrar(world, THIRD)
    proposal = {
        "new_registrant": RIVAL,
        "new_owner_ref": "brand:rival",
        "document_sha256": DOCUMENT,
    }

    # Not final yet: refused with the time it becomes final; nothing recorded.
    early = post(world, f"/api/v1/designs/{number}/assignments", LEGAL, proposal)
    assert early.status_code == 409, early.text
    error = early.json()["error"]
    assert error["code"] == "design_not_final"
    assert error["details"]["contract_error"] == "DesignNotFinal"
    assert error["details"]["final_at"] == design["chain"]["final_at"]
    assert "a day after its commitment" in error["message"]

    pass_finality(world)
    # Another organisation cannot propose an assignment of our design.
    hostile = post(world, f"/api/v1/designs/{number}/assignments", RIVAL, proposal)
    assert hostile.status_code == 403, hostile.text
    brand = post(world, f"/api/v1/designs/{number}/assignments", "Maison Lune", proposal, "brand")
    assert brand.status_code == 403
    with pytest.raises(ContractRevertError) as directly:  # nor with its own account on chain
        rights_client(world).send_action(
            account(world, RIVAL),
            "propose",
            fingerprint,
            {
                "new_registrant": rival.account_address,
                "new_owner_ref": "0x" + "33" * 32,
                "document_hash": "0x" + DOCUMENT,
            },
        )
    assert directly.value.error_name == "NotActiveRegistrant"

    proposed = post(world, f"/api/v1/designs/{number}/assignments", LEGAL, proposal)
    assert proposed.status_code == 202, proposed.text
    assert proposed.json()["status"] == "requested"
    settle(world, workers)
    done = action(world, proposed.json()["id"])
    assert done["status"] == "done" and done["tx_hash"] and done["block_number"]
    pending = rights_client(world).retrieve_pending_assignment(fingerprint)
    assert pending.new_registrant == rival.account_address
    assert pending.document_hash == "0x" + DOCUMENT
    assert pending.new_owner_ref == done["new_owner_ref_hash"]
    salted = bytes.fromhex(done["new_owner_salt"]) + b"brand:rival"
    assert done["new_owner_ref_hash"] == "0x" + hashlib.sha256(salted).hexdigest()

    accept = f"/api/v1/designs/{number}/assignments/accept"
    # Only the named registrant accepts, and only the same document.
    third = post(world, accept, THIRD, {"document_sha256": DOCUMENT})
    assert third.status_code == 403, third.text
    assert third.json()["error"]["details"]["contract_error"] == "NotProposedRegistrant"
    other_document = post(world, accept, RIVAL, {"document_sha256": "ab" * 32})
    assert other_document.status_code == 409, other_document.text
    assert other_document.json()["error"]["details"]["contract_error"] == (
        "AssignmentDocumentMismatch"
    )
    with pytest.raises(ContractRevertError) as on_chain:
        rights_client(world).send_action(
            account(world, THIRD), "accept", fingerprint, {"document_hash": "0x" + DOCUMENT}
        )
    assert on_chain.value.error_name == "NotProposedRegistrant"

    accepted = post(world, accept, RIVAL, {"document_sha256": DOCUMENT.upper()})
    assert accepted.status_code == 202, accepted.text
    settle(world, workers)
    assert action(world, accepted.json()["id"])["status"] == "done"
    gas = [action(world, a.json()["id"])["gas_used"] for a in (proposed, accepted)]
    assert all(0 < used < RIGHTS_GAS for used in gas), gas
    on = world.runtime.registry.retrieve_design(fingerprint)
    assert on.registrant == rival.account_address
    assert on.owner_ref == done["new_owner_ref_hash"]
    assert on.filed_block == design["chain"]["filed_block"]  # priority is unchanged
    rights = world.http.get(f"/api/v1/designs/{number}/rights", headers=world.headers(RIVAL))
    view = rights.json()
    assert view["holder_organisation"] == rival.id
    assert view["on_chain"]["registrant"] == rival.account_address
    assert view["on_chain"]["pending_assignment"] is None
    assert [a["action"] for a in view["actions"]] == ["propose", "accept"]
    shown = world.http.get(f"/api/v1/designs/{number}", headers=world.headers(LEGAL)).json()
    assert shown["owner_ref"] == "brand:rival"

    # The design is the rival's now: we no longer licence or assign it.
    licence = {
        "licensee_ref": "atelier:9",
        "document_sha256": LICENCE,
        "valid_from": "2027-01-01T00:00:00Z",
    }
    ours = post(world, f"/api/v1/designs/{number}/licences", LEGAL, licence)
    assert ours.status_code == 403, ours.text
    audited = _audited(world)
    assert "design.rights.propose" in audited and "design.rights.accept" in audited


def _audited(world: World) -> list[str]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return list(session.scalars(select(AuditEntry.action)))


def test_cancel_by_proposer_and_refused_to_others(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 602)
    number, fingerprint = design["number"], design["fingerprint"]
    registrar(world, RIVAL)
    registrar(world, THIRD)
    pass_finality(world)
    proposal = {
        "new_registrant": RIVAL,
        "new_owner_ref": "brand:rival",
        "document_sha256": DOCUMENT,
    }
    assert post(world, f"/api/v1/designs/{number}/assignments", LEGAL, proposal).status_code == 202
    settle(world, workers)

    cancel = f"/api/v1/designs/{number}/assignments/cancel"
    hostile = post(world, cancel, THIRD)
    assert hostile.status_code == 403, hostile.text
    assert hostile.json()["error"]["details"]["contract_error"] == "UnauthorisedCancellation"
    cancelled = post(world, cancel, LEGAL)
    assert cancelled.status_code == 202, cancelled.text
    settle(world, workers)
    assert action(world, cancelled.json()["id"])["status"] == "done"
    assert not rights_client(world).retrieve_pending_assignment(fingerprint).pending
    late = post(
        world, f"/api/v1/designs/{number}/assignments/accept", RIVAL, {"document_sha256": DOCUMENT}
    )
    assert late.status_code == 409
    assert late.json()["error"]["details"]["contract_error"] == "NoPendingAssignment"


# --- licences ----------------------------------------------------------------------------------


def test_licence_grant_and_termination_with_a_reason(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 603)
    number, fingerprint = design["number"], design["fingerprint"]
    registrar(world, RIVAL)
    pass_finality(world)
    licence = {
        "licensee_ref": "atelier:9",
        "document_sha256": LICENCE,
        "valid_from": "2027-01-01T00:00:00Z",
        "valid_until": "2028-01-01T00:00:00Z",
    }
    backwards = post(
        world,
        f"/api/v1/designs/{number}/licences",
        LEGAL,
        licence | {"valid_until": "2026-01-01T00:00:00Z"},
    )
    assert backwards.status_code == 422
    hostile = post(world, f"/api/v1/designs/{number}/licences", RIVAL, licence)
    assert hostile.status_code == 403
    once = world.headers(LEGAL, **{"Idempotency-Key": "grant-603"})
    path = f"/api/v1/designs/{number}/licences"
    granted = world.http.post(path, json=licence, headers=once)
    assert granted.status_code == 202, granted.text
    settle(world, workers)
    done = action(world, granted.json()["id"])
    assert done["status"] == "done"
    assert 0 < done["gas_used"] < RIGHTS_GAS
    # A retried request answers as the first time (the chain is not asked again).
    replayed = world.http.post(path, json=licence, headers=once)
    assert replayed.status_code == 202 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == granted.json()["id"]
    on = rights_client(world).retrieve_licence(fingerprint, "0x" + LICENCE)
    assert on.licensee_ref == done["licensee_ref_hash"]
    assert on.valid_from == 1798761600 and on.valid_until == 1830297600
    assert on.granted_by == world.organisations[LEGAL].account_address
    again = post(world, f"/api/v1/designs/{number}/licences", LEGAL, licence)
    assert again.status_code == 409
    assert again.json()["error"]["details"]["contract_error"] == "LicenceAlreadyGranted"

    terminate = f"/api/v1/designs/{number}/licences/{LICENCE}/terminate"
    assert post(world, terminate, RIVAL, {"reason": "breach"}).status_code == 403
    with pytest.raises(ContractRevertError) as on_chain:
        rights_client(world).send_action(
            account(world, RIVAL),
            "terminate",
            fingerprint,
            {"document_hash": "0x" + LICENCE, "reason": 1},
        )
    assert on_chain.value.error_name == "NotActiveRegistrant"
    assert post(world, terminate, LEGAL, {"reason": "bored"}).status_code == 422
    unknown = f"/api/v1/designs/{number}/licences/{'cd' * 32}/terminate"
    assert post(world, unknown, LEGAL, {"reason": 1}).status_code == 404
    ended = post(world, terminate, LEGAL, {"reason": "breach"})
    assert ended.status_code == 202, ended.text
    settle(world, workers)
    assert action(world, ended.json()["id"])["status"] == "done"
    on = rights_client(world).retrieve_licence(fingerprint, "0x" + LICENCE)
    assert on.terminated_at and on.termination_reason == 1
    final = post(world, terminate, LEGAL, {"reason": 3})
    assert final.status_code == 409
    assert final.json()["error"]["details"]["contract_error"] == "LicenceAlreadyTerminated"
    view = world.http.get(f"/api/v1/designs/{number}/rights", headers=world.headers(LEGAL)).json()
    [shown] = view["on_chain"]["licences"]
    assert shown["termination_reason"] == 1 and shown["valid_until"].startswith("2028-01-01")
    assert view["actions"][0]["licensee_ref"] == "atelier:9"
    # Other organisations see the hashes, not the off-chain references or their salts.
    outside = world.http.get(
        f"/api/v1/designs/{number}/rights", headers=world.headers("Maison Lune", "reader")
    ).json()
    first = outside["actions"][0]
    assert first["licensee_ref"] is None and first["licensee_salt"] is None
    assert first["licensee_ref_hash"] == done["licensee_ref_hash"]


# --- a disabled registrar ----------------------------------------------------------------------


def test_a_disabled_registrar_can_neither_assign_nor_licence(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 604)
    number, fingerprint = design["number"], design["fingerprint"]
    rival = registrar(world, RIVAL)
    pass_finality(world)
    proposal = {
        "new_registrant": RIVAL,
        "new_owner_ref": "brand:rival",
        "document_sha256": DOCUMENT,
    }
    assert post(world, f"/api/v1/designs/{number}/assignments", LEGAL, proposal).status_code == 202
    settle(world, workers)

    assert world.runtime.sessions is not None
    set_organisation_enabled(
        sessions=world.runtime.sessions,
        chain=world.runtime.chain_access(),
        ref=LEGAL,
        enabled=False,
    )
    # Through the API: its keys are revoked.
    licence = {
        "licensee_ref": "x",
        "document_sha256": LICENCE,
        "valid_from": "2027-01-01T00:00:00Z",
    }
    assert post(world, f"/api/v1/designs/{number}/licences", LEGAL, licence).status_code == 401
    # On chain: its account lost REGISTRAR_ROLE, so the registry refuses it too.
    lune = account(world, LEGAL)
    rights = rights_client(world)
    with pytest.raises(ContractRevertError) as grant:
        rights.send_action(
            lune,
            "grant",
            fingerprint,
            {
                "licensee_ref": "0x" + "11" * 32,
                "document_hash": "0x" + LICENCE,
                "valid_from": 0,
                "valid_until": 0,
            },
        )
    assert grant.value.error_name == "NotActiveRegistrant"
    with pytest.raises(ContractRevertError) as propose:
        rights.send_action(
            lune,
            "propose",
            fingerprint,
            {
                "new_registrant": rival.account_address,
                "new_owner_ref": "0x" + "22" * 32,
                "document_hash": "0x" + DOCUMENT,
            },
        )
    assert propose.value.error_name == "NotActiveRegistrant"
    # Its pending proposal can no longer be accepted.
    accepted = post(
        world, f"/api/v1/designs/{number}/assignments/accept", RIVAL, {"document_sha256": DOCUMENT}
    )
    assert accepted.status_code == 403, accepted.text
    assert accepted.json()["error"]["details"]["contract_error"] == "AssignmentNoLongerAuthorised"
    assert world.runtime.registry.retrieve_design(fingerprint).registrant == lune.address


# --- crash recovery ----------------------------------------------------------------------------


def test_crash_between_recording_and_sending_resumes_with_the_same_transaction(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 605)
    number, fingerprint = design["number"], design["fingerprint"]
    pass_finality(world)
    licence = {
        "licensee_ref": "atelier:9",
        "document_sha256": LICENCE,
        "valid_from": "2027-01-01T00:00:00Z",
    }
    granted = post(world, f"/api/v1/designs/{number}/licences", LEGAL, licence)
    assert granted.status_code == 202, granted.text

    crashing = workers[-1]  # the leading worker, which filed the design
    crash_before_broadcast(crashing, "design rights")
    recorded = action(world, granted.json()["id"])
    assert recorded["status"] == "sending"
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        row = session.get(DesignRightsAction, granted.json()["id"])
        assert row is not None and row.raw_tx and row.tx_hash
        tx_hash = row.tx_hash
    assert world.runtime.chain is not None
    assert world.runtime.chain.retrieve_receipt(tx_hash) is None  # never sent
    assert rights_client(world).retrieve_licence(fingerprint, "0x" + LICENCE).granted_at == 0
    crashing.leader.release()

    workers.append(make_worker(world))  # a fresh process takes the lead and resumes
    settle(world, workers)
    done = action(world, granted.json()["id"])
    assert done["status"] == "done" and done["tx_hash"] == tx_hash  # the recorded one, once
    assert rights_client(world).retrieve_licence(fingerprint, "0x" + LICENCE).granted_at > 0


# --- a designer's departure --------------------------------------------------------------------


def test_departure_revokes_at_once_and_reports_every_registration(
    world: World, workers: list[AnchorWorker]
) -> None:
    runtime = world.runtime
    assert runtime.sessions is not None
    user, _ = create_staff(
        sessions=runtime.sessions,
        policy=StaffPolicy.from_settings(runtime.settings),
        organisation_ref=LEGAL,
        username="achen",
        name="A. Chen",
        role="legal",
    )
    _, key = create_api_key(
        sessions=runtime.sessions, organisation_ref=LEGAL, principal_name="A. Chen", role="legal"
    )
    world.keys[f"{LEGAL}/designer"] = key
    with runtime.sessions() as session, session.begin():
        session.add(
            StaffSession(
                token_hash="ab" * 32,
                staff_user_id=user.id,
                stage="active",
                csrf_token="c" * 32,
                **_session_times(),
            )
        )
    by_designer = register(world, encode(draw_design(606)), role="designer", title="Own work")
    assert by_designer.status_code == 201, by_designer.text
    named = register(world, encode(draw_design(607)), designers=["a. chen", "B. Li"])
    other = register(world, encode(draw_design(608)), designers=["B. Li"])
    assert named.status_code == other.status_code == 201

    # Another organisation's registrar cannot deactivate our designer, nor see it.
    registrar(world, RIVAL)
    hostile = post(world, "/api/v1/designs/departures", RIVAL, {"principal": "achen"})
    assert hostile.status_code == 404
    # The designer's key is in use (and kept by the key cache) up to the moment it leaves.
    assert world.http.get("/api/v1/designs", headers=world.headers(LEGAL, "designer")).is_success
    gone = post(world, "/api/v1/designs/departures", LEGAL, {"principal": "achen"})
    assert gone.status_code == 200, gone.text
    report = gone.json()
    assert report["principal"]["name"] == "A. Chen" and report["principal"]["status"] == "disabled"
    assert report["deactivated"]["keys_revoked"] == 1
    assert report["deactivated"]["staff_disabled"] == 1
    assert report["deactivated"]["sessions_ended"] == 1
    numbers = {r["registration"]: r for r in report["registrations"]}
    assert set(numbers) == {
        by_designer.json()["design"]["number"],
        named.json()["design"]["number"],
    }
    assert numbers[by_designer.json()["design"]["number"]]["registered_by_principal"] is True
    assert numbers[named.json()["design"]["number"]]["named_as_designer"] is True
    # At once: the designer's key is refused on its next request, its console sessions end.
    refused = world.http.get("/api/v1/designs", headers=world.headers(LEGAL, "designer"))
    assert refused.status_code == 401
    with runtime.sessions() as session:
        assert session.scalar(select(StaffUser.status).where(StaffUser.id == user.id)) == "disabled"
        assert (
            session.scalar(select(StaffSession).where(StaffSession.staff_user_id == user.id))
            is None
        )
    assert "principal.deactivate" in _audited(world)
    # The report can be fetched again later (nothing more changes).
    again = world.http.get(
        f"/api/v1/designs/departures/{report['principal']['id']}/report",
        headers=world.headers(LEGAL),
    )
    assert again.status_code == 200 and again.json()["count"] == 2
    with runtime.sessions() as session:
        assert session.scalar(select(DesignRegistration.id).limit(1)) is not None


def _session_times() -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {"created_at": now, "last_seen_at": now, "expires_at": now + timedelta(hours=8)}


# --- the command line ----------------------------------------------------------------------------


def test_command_line_assigns_and_licences_through_the_api(
    world: World, workers: list[AnchorWorker], api_url: str
) -> None:
    design = filed(world, workers, 609)
    number = design["number"]
    registrar(world, RIVAL)
    ours = {"HALLMARK_API_KEY": world.keys[f"{LEGAL}/legal"]}
    theirs = {"HALLMARK_API_KEY": world.keys[f"{RIVAL}/legal"]}
    runner = CliRunner()

    def run(env: dict[str, str], *args: str) -> Any:
        return runner.invoke(app, ["designs", *args, "--api-url", api_url], env=env)

    early = run(
        ours,
        *("assign", "propose", number, "--to", RIVAL, "--owner", "brand:rival"),
        *("--document", DOCUMENT, "--wait", "0"),
    )
    assert early.exit_code == 1
    assert "design_not_final" in early.output and "a day after its commitment" in early.output

    pass_finality(world)
    grant = ("licence", "grant", number, "--licensee", "atelier:9", "--document", LICENCE)
    hostile = run(theirs, *grant, "--from", "2027-01-01", "--wait", "0")
    assert hostile.exit_code == 1
    assert "another organisation may not assign or licence it" in hostile.output
    granted = run(ours, *grant, "--from", "2027-01-01", "--wait", "0")
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.stdout)["status"] == "requested"
    settle(world, workers)
    shown = run(ours, "rights", number)
    assert shown.exit_code == 0, shown.output
    [licence] = json.loads(shown.stdout)["on_chain"]["licences"]
    assert licence["document_sha256"] == LICENCE and licence["valid_from"].startswith("2027-01-01")
    bad_reason = run(ours, "licence", "terminate", number, "--document", LICENCE, "--reason", "x")
    assert bad_reason.exit_code == 1 and "reason" in bad_reason.output


def test_an_action_reorganised_away_is_sent_again(
    world: World, workers: list[AnchorWorker]
) -> None:
    design = filed(world, workers, 610)
    number, fingerprint = design["number"], design["fingerprint"]
    pass_finality(world)
    chain = world.runtime.chain
    assert chain is not None
    before = chain.retrieve("evm_snapshot", [])
    licence = {"licensee_ref": "x", "document_sha256": LICENCE, "valid_from": "2027-01-01T00:00Z"}
    granted = post(world, f"/api/v1/designs/{number}/licences", LEGAL, licence)
    assert granted.status_code == 202, granted.text
    settle(world, workers)
    first = action(world, granted.json()["id"])
    assert first["status"] == "done"

    # The block holding the grant is replaced by others: the licence is gone from the chain.
    chain.retrieve("evm_revert", [before])
    for _ in range(3):
        chain.retrieve("evm_mine", [])
    rights = rights_client(world)
    assert rights.retrieve_licence(fingerprint, "0x" + LICENCE).granted_at == 0

    worker = workers[-1]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        again = action(world, granted.json()["id"])
        if again["status"] == "done" and again["block_number"] != first["block_number"]:
            break
    assert again["status"] == "done" and again["tx_hash"] == first["tx_hash"]
    assert again["block_number"] != first["block_number"]
    assert rights.retrieve_licence(fingerprint, "0x" + LICENCE).granted_at > 0


def test_departure_from_the_command_line(world: World) -> None:
    runtime = world.runtime
    assert runtime.sessions is not None and runtime.chain is not None
    _, key = create_api_key(
        sessions=runtime.sessions, organisation_ref=LEGAL, principal_name="B. Li", role="legal"
    )
    world.keys[f"{LEGAL}/designer"] = key
    made = register(world, encode(draw_design(611)), role="designer", title="A ring")
    assert made.status_code == 201, made.text
    settings = runtime.settings
    environment = {
        "HALLMARK_ENVIRONMENT": "test",
        "HALLMARK_DATA_DIR": str(settings.data_dir),
        "HALLMARK_DATABASE_URL": settings.effective_database_url,
        "HALLMARK_ANVIL_PORT": runtime.chain.url.rsplit(":", 1)[1],
        "HALLMARK_KEYSTORE_SCRYPT_N": str(settings.keystore_scrypt_n),
    }
    prefix = key.split("_")[1]

    def departure(*args: str) -> Any:
        result = CliRunner().invoke(app, ["designs", "departure", *args], env=environment)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout[result.stdout.index("{") :])

    report = departure(prefix, "--report-only")
    assert report["deactivated"] is None and report["principal"]["status"] == "active"
    assert [r["registration"] for r in report["registrations"]] == [made.json()["design"]["number"]]
    assert world.http.get("/api/v1/designs", headers=world.headers(LEGAL, "designer")).is_success
    gone = departure(prefix)
    assert gone["deactivated"]["keys_revoked"] == 1 and gone["count"] == 1
    refused = world.http.get("/api/v1/designs", headers=world.headers(LEGAL, "designer"))
    assert refused.status_code == 401
    unknown = CliRunner().invoke(app, ["designs", "departure", "nobody"], env=environment)
    assert unknown.exit_code == 1 and "nobody" in unknown.output
