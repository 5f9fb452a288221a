"""The legal console on a real chain: a filed registration's page shows its chain facts and
offers the evidence report (bilingual PDF, JSON bundle) and the comparison evidence for a
suspect file (a registration not filed yet offers none); licences are granted and ended from
the page, refused before the filing is final."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import update

from hallmark.services.access import staff as staff_accounts
from hallmark.services.access import totp
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store import db
from hallmark.store.models import StaffUser
from tests.conftest import World
from tests.console.conftest import csrf
from tests.designs.corpus import draw_design, encode, image_variant
from tests.designs.test_registry import LEGAL, file_all, register, workers
from tests.designs.test_rights import pass_finality, rights_client, settle

__all__ = ["workers"]  # the fixture, used by name
PASSWORD = "correct horse battery staple"


def legal_console(world: World) -> TestClient:
    """A browser signed in to the console as legal staff (password, then a TOTP code)."""
    runtime = world.runtime
    assert runtime.sessions is not None
    policy = staff_accounts.StaffPolicy.from_settings(runtime.settings)
    user, _ = staff_accounts.create_staff(
        sessions=runtime.sessions,
        policy=policy,
        organisation_ref=LEGAL,
        username="li.wei",
        name="Li Wei",
        role="legal",
    )
    secret = pyotp.random_base32()
    with db.transaction(runtime.sessions) as session:
        session.execute(
            update(StaffUser)
            .where(StaffUser.id == user.id)
            .values(
                password_hash=policy.passwords.hash(PASSWORD),
                must_change_password=False,
                totp_secret=totp.seal(policy.totp_key, user.id, secret),
            )
        )
    client = TestClient(world.http.app, follow_redirects=False)
    page = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"username": "li.wei", "password": PASSWORD, "csrf_token": csrf(page)},
    )
    assert answer.headers["location"].startswith("/console/sign-in/code")
    page = client.get("/console/sign-in/code")
    answer = client.post(
        "/console/sign-in/code",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf(page)},
    )
    assert answer.headers["location"] == "/console/account"
    return client


def test_a_filed_registration_offers_its_evidence_in_the_console(
    world: World, workers: list[AnchorWorker]
) -> None:
    drawing = draw_design(7411)
    pending = register(world, encode(draw_design(7412)), title="Not filed yet")
    assert pending.status_code == 201
    client = legal_console(world)
    waiting = client.get(f"/console/designs/{pending.json()['design']['number']}")
    assert "can be downloaded once the registration is filed on chain" in waiting.text
    assert "/evidence?format=pdf" not in waiting.text  # no button that cannot work yet

    answer = register(world, encode(drawing), title="Moon pendant")
    number = answer.json()["design"]["number"]
    file_all(world, workers)
    page = client.get(f"/console/designs/{number}")
    assert page.status_code == 200
    assert "Registered on chain" in page.text
    chain = page.text.split('id="chain"')[1].split("</section>")[0]
    [tx] = re.findall(
        r"<dt>Registration transaction</dt><dd><code class=\"hash\">(0x[0-9a-f]+)", chain
    )
    assert len(tx) == 66

    bundle = client.get(f"/console/designs/{number}/evidence?format=json")
    assert bundle.status_code == 200, bundle.text
    assert bundle.headers["content-disposition"] == f'attachment; filename="{number}-evidence.json"'
    facts = bundle.json()
    assert facts["registration"]["number"] == number
    assert tx in bundle.text
    pdf = client.get(f"/console/designs/{number}/evidence?format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    suspect = image_variant(drawing, "rotation", np.random.default_rng(12), 12)
    compared = client.post(
        f"/console/designs/{number}/evidence/compare",
        data={"csrf_token": csrf(page), "format": "json"},
        files={"file": ("suspect.png", suspect, "image/png")},
    )
    assert compared.status_code == 200, compared.text
    comparison = compared.json()
    assert comparison["kind"] == "comparison"
    assert comparison["comparison"]["suspect"]["sha256"] == hashlib.sha256(suspect).hexdigest()
    assert "never a verdict" in comparison["comparison"]["note"]["en"]
    forged = client.post(
        f"/console/designs/{number}/evidence/compare",
        data={"csrf_token": "forged", "format": "json"},
        files={"file": ("suspect.png", suspect, "image/png")},
    )
    assert forged.status_code == 403


def test_licences_are_granted_and_ended_from_the_console(
    world: World, workers: list[AnchorWorker]
) -> None:
    answer = register(world, encode(draw_design(7421)), title="Licensed pendant")
    number, fingerprint = answer.json()["design"]["number"], answer.json()["design"]["fingerprint"]
    file_all(world, workers)
    client = legal_console(world)
    page = client.get(f"/console/designs/{number}")
    assert "Grant a licence" in page.text
    licence = hashlib.sha256(b"signed licence 7421").hexdigest()
    form = {
        "csrf_token": csrf(page),
        "licensee_ref": "licensee:Atelier Rivoli",
        "document_sha256": licence,
        "valid_from": "2027-01-01",
        "valid_until": "2028-12-31",
    }
    early = client.post(f"/console/designs/{number}/licences", data=form)
    assert early.status_code == 409
    assert "Not yet: a filing is assigned or licensed only once final" in early.text
    assert 'value="licensee:Atelier Rivoli"' in early.text  # the form keeps what was typed
    bad = client.post(f"/console/designs/{number}/licences", data=form | {"document_sha256": "x"})
    assert bad.status_code == 422

    pass_finality(world)
    granted = client.post(f"/console/designs/{number}/licences", data=form)
    assert granted.status_code == 303, granted.text
    assert granted.headers["location"] == f"/console/designs/{number}?done=rights#rights"
    shown = client.get(f"/console/designs/{number}?done=rights")
    assert "Licence granted" in shown.text and "Requested" in shown.text
    settle(world, workers)
    shown = client.get(f"/console/designs/{number}")
    rights_part = shown.text.split('id="rights"')[1]
    assert "Done on chain" in rights_part
    assert "End the licence of licensee:Atelier Rivoli" in rights_part
    on_chain = rights_client(world).retrieve_licence(fingerprint, "0x" + licence)
    assert on_chain.granted_at > 0

    ended = client.post(
        f"/console/designs/{number}/licences/{licence}/terminate",
        data={"csrf_token": csrf(shown), "reason": "mutual_agreement"},
    )
    assert ended.status_code == 303, ended.text
    settle(world, workers)
    after = client.get(f"/console/designs/{number}").text.split('id="rights"')[1]
    assert "Licence ended" in after
    assert "End the licence of" not in after  # an ended licence offers no button
