"""The console's assignments and licences in a real browser, at phone and laptop width,
JavaScript off, on a design filed on chain and final: a legal team member grants a licence and
ends it, proposes an assignment to another legal organisation, whose member accepts it; each
step is checked with the chain, sent by the worker and shown done; the section in Chinese."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from hallmark.services.access.organisations import create_api_key, create_organisation
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.store.models import DesignRegistration, DesignRightsAction
from tests.conftest import anchor_worker
from tests.designs.corpus import draw_design, encode
from tests.pages.conftest import Served, Visit, first_sign_in

HOLDER = "Lune Legal Rights"
TAKER = "Rival Legal Rights"
PASSWORD = "moonlit lotus on jade water"
SEEDS = {"laptop": 741, "phone": 742}
DAY = 24 * 3600
FAST = {"anchor_interval": 0.2, "anchor_retry_max": 0.5, "worker_standby_interval": 0.2}


@pytest.fixture(scope="module")
def worker(served: Served) -> Iterator[AnchorWorker]:
    """The two legal organisations, and an anchoring worker (with the filing and rights steps)
    stepped by the tests."""
    runtime = served.runtime
    assert runtime.sessions is not None and runtime.engine is not None
    assert runtime.deployment is not None and runtime.chain is not None
    for name in (HOLDER, TAKER):
        create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name=name, kind="legal"
        )
    made = anchor_worker(runtime, **FAST)
    runtime.add_design_filer(made, runtime.chain)
    yield made
    made.stop()
    made.leader.release()


def _settle(served: Served, worker: AnchorWorker, timeout: float = 60.0) -> None:
    """Step the worker until no design is being filed and no rights action is on its way."""
    assert served.runtime.sessions is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        with served.runtime.sessions() as session:
            busy = session.scalar(
                select(DesignRegistration.id).where(
                    DesignRegistration.status.in_(("committed", "filing"))
                )
            ) or session.scalar(
                select(DesignRightsAction.id).where(
                    DesignRightsAction.status.in_(("requested", "sending"))
                )
            )
        if busy is None:
            return
    raise AssertionError(f"not settled in {timeout} s: {worker.report()}")


def _filed_and_final(served: Served, worker: AnchorWorker, seed: int) -> str:
    """A design registered over the API by HOLDER, filed on chain, and final (the chain's clock
    moved past the day in which an earlier commitment could displace it); its number."""
    runtime = served.runtime
    assert runtime.sessions is not None and runtime.chain is not None
    _, key = create_api_key(
        sessions=runtime.sessions,
        organisation_ref=HOLDER,
        principal_name=f"registrar {seed}",
        role="legal",
    )
    answer = httpx.post(
        f"{served.url}/api/v1/designs",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("ring.png", encode(draw_design(seed)), "application/octet-stream")},
        data={"metadata": '{"title": "Jade ring", "owner_ref": "CUST-7"}'},
        timeout=120,
    )
    assert answer.status_code == 201, answer.text
    _settle(served, worker)
    runtime.chain.retrieve("evm_increaseTime", [DAY + 60])
    runtime.chain.retrieve("evm_mine", [])
    return str(answer.json()["design"]["number"])


def _sign_in_first_time(visit: Visit, served: Served, organisation: str, username: str) -> None:
    """Sign in for the first time at the current page; back at the page asked for."""
    first_sign_in(
        visit,
        served,
        organisation=organisation,
        username=username,
        name=f"{username} ({visit.viewport})",
        password=PASSWORD,
    )


def _actions(visit: Visit) -> list[str]:
    return [item.inner_text() for item in visit.page.locator("#rights ol.actions li").all()]


def test_licences_and_an_assignment_from_the_console(
    visit: Visit, served: Served, worker: AnchorWorker
) -> None:
    page = visit.page
    number = _filed_and_final(served, worker, SEEDS[visit.viewport])
    detail = f"/console/designs/{number}"
    visit.goto(detail)
    _sign_in_first_time(visit, served, HOLDER, f"li.na.{visit.viewport}")
    assert visit.path() == detail
    rights = page.locator("#rights")
    assert "No assignment or licence yet." in rights.inner_text()

    # A licence, granted and ended.
    licence = hashlib.sha256(f"licence {number}".encode()).hexdigest()
    rights.get_by_text("Grant a licence").click()  # <details> opens without JavaScript
    page.fill("#licensee_ref", "LICENSEE-Atelier-9")
    page.fill("#licence_document", licence)
    page.fill("#valid_from", datetime.now(UTC).date().isoformat())
    page.wait_for_load_state("load")
    visit.shot("licence-form")
    assert visit.fits_width()
    rights.get_by_role("button", name="Grant the licence").click()
    assert "?done=rights" in visit.path(), rights.inner_text()[:500]
    assert "Licence granted · Requested" in _actions(visit)[0]
    _settle(served, worker)
    visit.goto(detail)
    [granted] = _actions(visit)
    assert "Licence granted · Done on chain" in granted and "LICENSEE-Atelier-9" in granted
    assert licence in granted
    ending = rights.locator("form", has_text="End the licence of LICENSEE-Atelier-9")
    ending.get_by_label("Reason").select_option("mutual_agreement")
    ending.get_by_role("button", name="End the licence").click()
    _settle(served, worker)
    visit.goto(detail)
    assert any("Licence ended · Done on chain" in a for a in _actions(visit))
    assert rights.locator("form", has_text="End the licence of").count() == 0

    # An assignment to the other legal organisation: proposed here, accepted there.
    document = hashlib.sha256(f"assignment {number}".encode()).hexdigest()
    rights.get_by_text("Propose an assignment").click()
    page.locator("#new_registrant").select_option(label=TAKER)
    page.fill("#new_owner_ref", "CUST-8")
    page.fill("#assignment_document", document)
    rights.get_by_role("button", name="Propose the assignment").click()
    _settle(served, worker)
    visit.goto(detail)
    assert any("Assignment proposed · Done on chain" in a for a in _actions(visit))
    assert rights.get_by_role("button", name="Cancel the proposed assignment").count() == 1
    page.wait_for_load_state("load")
    visit.shot("assignment-proposed")
    assert visit.fits_width()

    page.get_by_role("button", name="Sign out").click()
    visit.goto(detail)
    _sign_in_first_time(visit, served, TAKER, f"zhao.lei.{visit.viewport}")
    assert visit.path() == detail
    # Accepting another document is refused with the registry's reason; nothing is recorded.
    visit.expect_error("status of 409")
    page.fill("#accept_document", "ab" * 32)
    rights.get_by_role("button", name="Accept the assignment").click()
    assert rights.locator(".error, [role=alert]").count() >= 1
    page.fill("#accept_document", document)
    rights.get_by_role("button", name="Accept the assignment").click()
    assert "?done=rights" in visit.path(), rights.inner_text()[:500]
    _settle(served, worker)
    visit.goto(detail)
    assert any("Assignment accepted · Done on chain" in a for a in _actions(visit))
    assert TAKER in rights.locator("dl.facts").inner_text()
    page.wait_for_load_state("load")
    visit.shot("assigned")
    assert visit.fits_width()

    page.get_by_role("link", name="中文").click()
    assert page.locator("#rights h2").inner_text() != "Assignments and licences"
    page.wait_for_load_state("load")
    visit.shot("assigned-zh")
    page.get_by_role("link", name="English").click()
