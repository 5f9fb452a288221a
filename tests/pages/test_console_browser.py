"""The console in a real browser, at phone and laptop width, JavaScript off: a legal team
member's first sign-in (authenticator enrolment with a code computed by pyotp, a new password),
signing out and in again with a TOTP code, the language switch, and an administrator's staff
list in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from hallmark.services.access.organisations import create_organisation
from tests.pages.conftest import Served, Visit, new_staff

NEW_PASSWORD = "gold leaf on a quiet river"


@pytest.fixture(scope="module")
def organisations(served: Served) -> None:
    runtime = served.runtime
    assert runtime.sessions is not None
    for name, kind in (("Lune Legal", "legal"), ("Maison Lune 月光珠宝", "brand")):
        create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name=name, kind=kind
        )


def _sign_in(visit: Visit, username: str, password: str) -> None:
    page = visit.page
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()


def _new_password(visit: Visit, temporary: str) -> None:
    page = visit.page
    page.fill("#current_password", temporary)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm_password", NEW_PASSWORD)


@pytest.mark.usefixtures("organisations")
def test_legal_staff_sign_in_with_totp_switch_language_and_sign_out(
    visit: Visit, served: Served
) -> None:
    username = f"li.wei.{visit.viewport}"
    temporary = new_staff(
        served, "Lune Legal", username, f"李伟 Li Wei ({visit.viewport})", "legal"
    )
    page = visit.page

    visit.goto("/console/account")
    assert visit.path() == "/console/sign-in?next=/console/account"
    assert visit.fits_width()
    visit.shot("sign-in")
    _sign_in(visit, username, temporary)

    assert visit.path().startswith("/console/sign-in/authenticator")
    assert page.locator(".qr svg").is_visible()
    secret = page.locator(".secret code").inner_text().replace(" ", "")
    assert visit.fits_width()
    visit.shot("enrol")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Finish set-up").click()

    assert visit.path().startswith("/console/sign-in/password")
    visit.shot("new-password")
    _new_password(visit, temporary)
    page.get_by_role("button", name="Save and continue").click()

    assert visit.path() == "/console/account"
    assert page.locator("h1").inner_text() == "My account"
    assert "Lune Legal" in page.locator(".who").inner_text()
    assert "Legal" in page.locator(".who .role").inner_text()
    assert visit.fits_width()
    visit.shot("account")

    page.get_by_role("button", name="Sign out").click()
    assert visit.path() == "/console/sign-in?done=signed_out"
    assert page.get_by_role("status").inner_text() == "You have signed out."

    _sign_in(visit, username, NEW_PASSWORD)
    assert visit.path().startswith("/console/sign-in/code")
    visit.shot("code")
    # The enrolment used this step's code: a code is accepted once, so the next step's.
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30)))
    page.get_by_role("button", name="Continue").click()
    assert visit.path() == "/console/account"

    page.get_by_role("link", name="中文").click()
    assert visit.path() == "/console/account"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "我的账户"
    assert "法务" in page.locator(".who .role").inner_text()
    assert visit.fits_width()
    visit.shot("account-zh")

    page.get_by_role("button", name="退出登录").click()
    assert page.get_by_role("status").inner_text() == "您已退出登录。"
    visit.shot("signed-out-zh")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Sign in to the console"


@pytest.mark.usefixtures("organisations")
def test_an_administrator_sees_the_staff_list_in_chinese(visit: Visit, served: Served) -> None:
    organisation = "Maison Lune 月光珠宝"
    admin = f"marie.{visit.viewport}"
    temporary = new_staff(served, organisation, admin, f"Marie Dubois {visit.viewport}", "admin")
    for number, role in enumerate(("issuer", "designer", "viewer")):
        new_staff(
            served,
            organisation,
            f"staff{number}.{visit.viewport}",
            f"王芳 {number} {visit.viewport}",
            role,
        )
    page = visit.page

    visit.goto("/console/sign-in")
    page.get_by_role("link", name="中文").click()
    assert page.locator("h1").inner_text() == "登录控制台"
    page.fill("#username", admin)
    page.fill("#password", temporary)
    page.get_by_role("button", name="登录").click()
    _new_password(visit, temporary)
    page.get_by_role("button", name="保存并继续").click()
    assert visit.path() == "/console/account"

    page.get_by_role("link", name="员工").click()
    assert visit.path() == "/console/staff"
    assert organisation in page.locator("h1").inner_text()
    assert page.locator("tbody tr", has_text=f".{visit.viewport}").count() == 4
    assert visit.fits_width()
    visit.shot("staff-zh")

    page.get_by_role("row", name=f"staff0.{visit.viewport}").get_by_role(
        "button", name="停用"
    ).click()
    assert visit.path() == "/console/staff?done=disabled"
    assert "已停用" in page.get_by_role("row", name=f"staff0.{visit.viewport}").inner_text()
    visit.shot("staff-disabled-zh")


def test_long_names_without_a_space_fit_the_width(visit: Visit, served: Served) -> None:
    """An organisation, a name and a username of the longest kind, none with a space to wrap
    at: the header, the account and the staff list wrap them instead of widening the page."""
    runtime = served.runtime
    assert runtime.sessions is not None
    organisation = f"MaisonDeLaLuneEtDesEtoiles{visit.viewport}" * 3
    create_organisation(
        sessions=runtime.sessions, chain=runtime.chain_access(), name=organisation, kind="brand"
    )
    admin = f"{visit.viewport}." + "a" * (64 - len(visit.viewport) - 1)
    temporary = new_staff(served, organisation, admin, "Wolfeschlegelsteinhausen" * 8, "admin")
    other = f"{visit.viewport}-" + "b" * (64 - len(visit.viewport) - 1)
    new_staff(served, organisation, other, "月光珠宝设计师王芳" * 20, "viewer")
    page = visit.page

    visit.goto("/console/sign-in")
    _sign_in(visit, admin, temporary)
    _new_password(visit, temporary)
    page.get_by_role("button", name="Save and continue").click()
    assert visit.path() == "/console/account"
    assert visit.fits_width()
    visit.shot("long-account")

    page.get_by_role("link", name="Staff").click()
    assert visit.path() == "/console/staff"
    assert page.locator("tbody tr", has_text=other).count() == 1
    assert visit.fits_width()
    visit.shot("long-staff")

    page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert visit.fits_width()
    page.get_by_role("link", name="我的账户").click()
    assert visit.fits_width()


def test_the_width_check_sees_a_page_wider_than_a_phone(visit: Visit) -> None:
    visit.page.set_content('<div style="width: 900px">wide</div>')
    assert visit.fits_width() is (visit.viewport == "laptop")
