"""The legal console's design registry in a real browser, at phone and laptop width, JavaScript
off: a legal team member signs in with a TOTP code, registers a design, registers a rotated copy
(flagged), searches with a copy and sees the match beside it, decides the review entry, looks a
registration up, and reads the pages in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyotp
import pytest

from hallmark.services.access.organisations import create_organisation
from tests.designs.corpus import draw_design, encode, image_variant
from tests.pages.conftest import Served, Visit, first_sign_in

ORGANISATION = "Lune Legal Registry"
PASSWORD = "moonlit lotus on jade water"
SEEDS = {"laptop": 721, "phone": 722}


@pytest.fixture(scope="module")
def organisation(served: Served) -> None:
    runtime = served.runtime
    assert runtime.sessions is not None
    create_organisation(
        sessions=runtime.sessions, chain=runtime.chain_access(), name=ORGANISATION, kind="legal"
    )


def _first_sign_in(visit: Visit, served: Served, username: str) -> str:
    """Sign in for the first time from the registry's address; the authenticator's secret."""
    visit.goto("/console/designs")
    assert visit.path() == "/console/sign-in?next=/console/designs"
    return first_sign_in(
        visit,
        served,
        organisation=ORGANISATION,
        username=username,
        name=f"王芳 Wang Fang ({visit.viewport})",
        password=PASSWORD,
    )


def _sign_in_with_code(visit: Visit, username: str, secret: str) -> None:
    page = visit.page
    page.get_by_role("button", name="Sign out").click()
    visit.goto("/console/designs/reviews")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert visit.path().startswith("/console/sign-in/code")
    # The enrolment used this step's code: a code is accepted once, so the next step's.
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
    page.get_by_role("button", name="Continue").click()
    assert visit.path() == "/console/designs/reviews"


def _register(
    visit: Visit, name: str, data: bytes, title: str, owner: str, shot: str | None = None
) -> None:
    page = visit.page
    visit.goto("/console/designs/register")
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    page.fill("#title", title)
    page.fill("#owner_ref", owner)
    page.fill("#designers", "Ana Lima")
    if shot is not None:
        visit.shot(shot)
        assert visit.fits_width()
    page.get_by_role("button", name="Register", exact=True).click()


@pytest.mark.usefixtures("organisation")
def test_legal_registers_searches_and_decides_a_review(visit: Visit, served: Served) -> None:
    page = visit.page
    username = f"wang.fang.{visit.viewport}"
    secret = _first_sign_in(visit, served, username)
    assert visit.path() == "/console/designs"
    assert page.get_by_role("note").first.inner_text().startswith("Similarity is a prompt")
    page.wait_for_load_state("load")
    visit.shot("designs")
    assert visit.fits_width()

    drawing = draw_design(SEEDS[visit.viewport])
    _register(visit, "lotus.png", encode(drawing), "Lotus pendant", "CUST-0042", "register-form")
    assert "?done=registered" in visit.path(), page.locator("main").inner_text()[:500]
    number = visit.path().split("/")[-1].split("?")[0]
    assert page.locator("h1").inner_text() == "Lotus pendant"
    page.wait_for_load_state("load")
    assert page.locator(".thumb img").first.evaluate("i => i.naturalWidth") > 0
    page.wait_for_load_state("load")
    visit.shot("registered")
    assert visit.fits_width()

    rotated = image_variant(drawing, "rotation", np.random.default_rng(9), 9)
    # A title and an owner's reference without a space to wrap at: the queue shows them.
    long_title = "LotusPendantRotatedCopy" * 12
    _register(visit, "lotus-rotated.png", rotated, long_title, "CUST-" + "0099" * 15)
    assert "?done=flagged" in visit.path()
    assert "review queue" in page.get_by_role("status").inner_text()
    copy = visit.path().split("/")[-1].split("?")[0]

    # Search with a mirrored copy: the registered design ranked first, side by side.
    visit.goto("/console/designs")
    mirrored = image_variant(drawing, "mirror", np.random.default_rng(4), 4)
    page.set_input_files(
        "#search_file", files=[{"name": "mirror.png", "mimeType": "image/png", "buffer": mirrored}]
    )
    page.get_by_role("button", name="Search", exact=True).click()
    assert page.locator("h1").inner_text() == "Search results"
    assert "This exact file is not registered." in page.locator("#exact").inner_text()
    matches = page.locator("#similar .match")
    assert matches.count() >= 1
    numbers = [matches.nth(i).locator(".thumb figcaption").nth(1).inner_text() for i in range(2)]
    assert number in numbers and copy in numbers
    first = matches.first
    page.wait_for_load_state("load")
    for image in first.locator("img").all():
        assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    page.wait_for_load_state("load")
    visit.shot("search")
    assert visit.fits_width()

    # Signed out and in again with a code, straight back to the queue.
    _sign_in_with_code(visit, username, secret)
    entry = page.locator(".review", has=page.locator(f"text={copy}"))
    assert entry.locator("img").count() == 2
    page.wait_for_load_state("load")
    visit.shot("queue")
    assert visit.fits_width()
    entry.get_by_label("Infringing").check()
    entry.get_by_label("Note (why)").fill("Same lotus, turned; no licence")
    entry.get_by_role("button", name="Record the decision").click()
    assert page.get_by_role("status").inner_text() == "The decision is recorded."
    assert page.locator(".review", has=page.locator(f"text={copy}")).count() == 0

    # Look up by registration number, then the detail with lineage and chain facts.
    visit.goto("/console/designs")
    page.fill("#ref", copy)
    page.get_by_role("button", name="Open").click()
    assert visit.path() == f"/console/designs/{copy}"
    assert "Infringing" in page.locator("dl.facts").first.inner_text()
    page.wait_for_load_state("load")
    visit.shot("detail")
    assert visit.fits_width(), page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth).map(e => e.tagName + '.' + e.className + ' '"
        " + e.textContent.slice(0, 60))"
    )

    page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#lineage h2").inner_text() == "谱系"
    page.wait_for_load_state("load")
    visit.shot("detail-zh")
    sections = page.get_by_role("navigation", name="控制台")
    sections.get_by_role("link", name="审查队列").click()
    assert page.locator("h1").inner_text() == "审查队列"
    page.locator(".tabs").get_by_role("link", name="侵权").click()
    assert page.locator(".review", has=page.locator(f"text={copy}")).count() == 1
    page.wait_for_load_state("load")
    visit.shot("queue-zh")
    assert visit.fits_width()
    sections.get_by_role("link", name="设计", exact=True).click()
    assert "相似只是提示" in page.get_by_role("note").first.inner_text()
    page.wait_for_load_state("load")
    visit.shot("designs-zh")
    page.get_by_role("link", name="English").click()
