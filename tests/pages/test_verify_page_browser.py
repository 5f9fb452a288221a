"""The customer's verify page in a real browser, at phone and laptop width, JavaScript off, no
other origin, no console error: a genuine certificate (verdict, facts, timeline, the "how this
was checked" disclosures), the language switch to Chinese and back, a revoked one and a
superseded one with the link to its successor; screenshots of each."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from hallmark.api.app import create_app
from hallmark.core.ports import free_port
from tests.certificates.builders import ToVerify, issue_to_verify
from tests.conftest import World
from tests.pages.conftest import Served, Visit
from tests.records.conftest import module_database_url, world
from tests.records.factories import BRAND

__all__ = ["module_database_url", "world"]


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[Served]:
    """The module's world, answering over HTTP on a free port (the pages' `served` replaced)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(world.runtime), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, name="verify-page-hallmark", daemon=True)
    thread.start()
    deadline = time.monotonic() + 90
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "Hallmark did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{port}", world.runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def pieces(world: World) -> ToVerify:
    """The verification tests' certificates (builders), one of them revoked for fraud."""
    made = issue_to_verify(world, engraving="a crescent moon")
    answer = world.http.post(
        f"/api/v1/certificates/{made.to_revoke}/revocation",
        json={"reason": "fraud"},
        headers=world.headers(BRAND),
    )
    assert answer.status_code == 200, answer.text
    return made


def test_genuine_certificate_in_both_languages(visit: Visit, pieces: ToVerify) -> None:
    page = visit.page
    visit.goto(f"/v/{pieces.genuine}")
    verdict = page.get_by_role("status")
    assert verdict.locator("h1").inner_text() == "Genuine"
    assert verdict.is_visible()
    assert page.get_by_role("heading", name="Production timeline").is_visible()
    steps = page.locator("ol.timeline > li")
    assert steps.count() == 4
    assert steps.first.locator(".step").inner_text() == "Casting"
    assert "Quality inspection" in steps.nth(2).inner_text()
    assert page.get_by_text("a crescent moon").is_visible()
    assert page.get_by_text("No registered design is linked to this piece.").is_visible()
    assert visit.fits_width()
    visit.shot("genuine-en")
    # A disclosure opens without JavaScript and says how the fact was checked.
    disclosure = steps.first.locator("details.how")
    assert not disclosure.locator("ul").is_visible()
    disclosure.locator("summary").click()
    evidence = disclosure.locator("ul").inner_text()
    assert "Hash matched" in evidence and "which held its role then" in evidence
    assert "Shenzhen Atelier" in evidence
    assert visit.fits_width()
    visit.shot("genuine-en-disclosure")

    page.get_by_role("link", name="中文").click()
    assert visit.path() == f"/v/{pieces.genuine}"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("status").locator("h1").inner_text() == "真实有效"
    assert page.get_by_role("heading", name="生产时间线").is_visible()
    assert page.locator("ol.timeline > li").first.locator(".step").inner_text() == "铸造"
    assert visit.fits_width()
    visit.shot("genuine-zh")
    # What each check found, in Chinese too.
    checks = page.locator("ul.checks > li")
    signature = checks.nth(2).locator("details")
    signature.locator("summary").click()
    assert "EIP-712 签名" in signature.inner_text()
    assert "signature by" not in signature.inner_text()
    visit.shot("genuine-zh-check")
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("status").locator("h1").inner_text() == "Genuine"


def test_revoked_and_superseded_certificates(visit: Visit, pieces: ToVerify) -> None:
    page = visit.page
    visit.goto(f"/v/{pieces.to_revoke}")
    verdict = page.get_by_role("status")
    assert verdict.locator("h1").inner_text() == "Revoked"
    assert "for fraud" in verdict.inner_text()
    assert "The brand revoked this certificate." in verdict.inner_text()
    visit.shot("revoked-en")

    visit.goto(f"/v/{pieces.superseded}")
    assert page.get_by_role("status").locator("h1").inner_text() == "Superseded"
    visit.shot("superseded-en")
    page.locator("a.successor").click()
    assert visit.path() == f"/v/{pieces.successor}"
    assert page.get_by_role("status").locator("h1").inner_text() == "Genuine"
    steps = page.locator("ol.timeline > li .step")
    assert "Repair" in steps.all_inner_texts()

    page.get_by_role("link", name="中文").click()
    visit.goto(f"/v/{pieces.to_revoke}")
    assert page.get_by_role("status").locator("h1").inner_text() == "已撤销"
    assert visit.fits_width()
    visit.shot("revoked-zh")


def test_unknown_certificate_page(visit: Visit) -> None:
    visit.expect_error("404")
    visit.goto("/v/HM-00000000-NOSUCH")
    assert visit.page.get_by_role("status").locator("h1").inner_text() == "Unknown"
    visit.shot("unknown-en")


def test_unknown_digital_link_page_in_both_languages(visit: Visit) -> None:
    """A scanned GS1 Digital Link no certificate has: the verify page, not an error body."""
    page = visit.page
    visit.expect_error("404")
    link = "/01/09506000134352/21/SN-NO-SUCH-PIECE"
    visit.goto(link)
    verdict = page.get_by_role("status")
    assert verdict.locator("h1").inner_text() == "Unknown"
    assert "No certificate has this number or link." in verdict.inner_text()
    assert "SN-NO-SUCH-PIECE" in verdict.inner_text()
    assert visit.fits_width()
    visit.shot("unknown-link-en")
    page.get_by_role("link", name="中文").click()
    assert visit.path() == link
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("status").locator("h1").inner_text() == "无法确认"
    assert "没有证书使用这个编号或链接" in page.get_by_role("status").inner_text()
    assert visit.fits_width()
    visit.shot("unknown-link-zh")
    page.get_by_role("link", name="English").click()
