"""Signing in over HTTP: passwords, TOTP codes (wrong, old, replayed), first sign-in with
enrolment and a new password, sessions (cookie, rotation, expiry, sign-out), disabled accounts
and organisations, throttling per account and per address, every step audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select, update

from hallmark.services.access import staff as staff_accounts
from hallmark.store import db
from hallmark.store.models import Organisation, StaffLoginFailure, StaffSession, StaffUser
from tests.console.conftest import (
    PASSWORD,
    Console,
    code,
    csrf,
    post_sign_in,
)


def _alert(page: Any) -> str:
    start = page.text.index('role="alert">') + len('role="alert">')
    return str(page.text[start : page.text.index("</p>", start)])


def _sessions(console: Console, user_id: str) -> int:
    with console.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(StaffSession)
                .where(StaffSession.staff_user_id == user_id)
            )
            or 0
        )


def test_sign_in_wrong_password_and_unknown_user_get_one_answer(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.client()
    wrong = post_sign_in(client, account.username, "not the password")
    unknown = post_sign_in(client, "nobody.here", "not the password")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert _alert(answer) == "The username or the password is wrong."
        assert "hallmark_session" not in answer.headers.get("set-cookie", "")
    denied = console.audit("staff.sign_in")
    assert [(e.outcome, e.details["reason"], e.object_id) for e in denied] == [
        ("denied", "credentials", account.id),
        ("denied", "credentials", None),
    ]
    assert denied[0].principal_id == console.user(account).principal_id
    assert client.get("/console/account").status_code == 303


def test_sign_in_without_second_factor_for_an_optional_role(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    page = client.get("/console/account")
    assert page.status_code == 200
    assert "Maison Lune" in page.text and "Certificate issuer" in page.text
    assert console.audit("staff.sign_in")[-1].details["stage"] == "active"
    assert console.user(account).last_login_at is not None


def test_first_sign_in_of_legal_staff_enrols_totp_and_replaces_the_password(
    console: Console,
) -> None:
    user, temporary = staff_accounts.create_staff(
        sessions=console.sessions,
        policy=console.policy,
        organisation_ref="Lune Legal",
        username="Li.Wei",
        name="Li Wei",
        role="legal",
    )
    assert user.username == "li.wei"
    client = console.client()
    answer = post_sign_in(client, "LI.WEI", temporary)
    assert answer.headers["location"] == "/console/sign-in/authenticator"
    # A session short of active reaches no console page.
    assert client.get("/console/account").headers["location"] == "/console/sign-in/authenticator"
    page = client.get("/console/sign-in/authenticator")
    assert page.status_code == 200
    assert "<svg" in page.text and "otpauth://totp/Hallmark:" in page.text
    secret = page.text.split("secret=")[1].split("&")[0]
    assert client.get("/console/sign-in/authenticator").text.count(secret) >= 1  # same on reload
    wrong = client.post(
        "/console/sign-in/authenticator", data={"code": "000000", "csrf_token": csrf(page)}
    )
    assert wrong.status_code == 401
    assert "The code is wrong" in _alert(wrong)
    answer = client.post(
        "/console/sign-in/authenticator", data={"code": code(secret), "csrf_token": csrf(page)}
    )
    assert answer.headers["location"] == "/console/sign-in/password"
    page = client.get("/console/sign-in/password")
    fields = {"current_password": temporary, "csrf_token": csrf(page)}
    short = client.post(
        "/console/sign-in/password",
        data={**fields, "new_password": "too short", "confirm_password": "too short"},
    )
    assert short.status_code == 422
    assert _alert(short) == "A password needs at least 12 characters."
    differ = client.post(
        "/console/sign-in/password",
        data={**fields, "new_password": PASSWORD, "confirm_password": PASSWORD + "!"},
    )
    assert differ.status_code == 422 and _alert(differ) == "The two new passwords differ."
    done = client.post(
        "/console/sign-in/password",
        data={**fields, "new_password": PASSWORD, "confirm_password": PASSWORD},
    )
    assert done.headers["location"] == "/console/account"
    account_page = client.get("/console/account")
    assert account_page.status_code == 200 and "Li Wei" in account_page.text
    with console.sessions() as session:
        row = session.scalars(select(StaffUser).where(StaffUser.username == "li.wei")).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert row.totp_secret is not None and secret not in row.totp_secret
    assert not row.must_change_password
    assert [e.outcome for e in console.audit("staff.totp_enrol")] == ["denied", "ok"]
    assert [e.outcome for e in console.audit("staff.password_change")] == ["ok"]


def test_totp_code_wrong_old_and_replayed_are_refused(console: Console) -> None:
    account = console.account("Lune Legal", "li.wei", "legal")
    assert account.secret is not None
    client = console.client()
    answer = post_sign_in(client, account.username, account.password)
    assert answer.headers["location"] == "/console/sign-in/code"
    page = client.get("/console/sign-in/code")
    token = csrf(page)

    def submit(value: str) -> Any:
        return client.post("/console/sign-in/code", data={"code": value, "csrf_token": token})

    assert submit("123456").status_code == 401
    assert submit(code(account.secret, steps=-3)).status_code == 401  # 90 s old
    good = code(account.secret)
    accepted = submit(good)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/console/account"

    # The same code again, in a second sign-in within its window: refused.
    other = console.client()
    post_sign_in(other, account.username, account.password)
    replay = other.post(
        "/console/sign-in/code",
        data={"code": good, "csrf_token": csrf(other.get("/console/sign-in/code"))},
    )
    assert replay.status_code == 401
    assert "already used" in _alert(replay)
    reasons = [e.details.get("reason") for e in console.audit("staff.second_factor")]
    assert reasons == ["code", "code", None, "code"]


def test_session_cookie_is_http_only_lax_and_secure_over_https(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    plain = console.client()
    answer = post_sign_in(plain, account.username, account.password)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("hallmark_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie and "Max-Age" not in cookie

    secure = console.client(base_url="https://testserver")
    answer = post_sign_in(secure, account.username, account.password)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-hallmark_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert secure.get("/console/account").status_code == 200


def test_each_step_gives_the_session_a_new_token(console: Console) -> None:
    account = console.account("Lune Legal", "li.wei", "legal")
    assert account.secret is not None
    client = console.client()
    post_sign_in(client, account.username, account.password)
    before = client.cookies["hallmark_session"]
    page = client.get("/console/sign-in/code")
    client.post(
        "/console/sign-in/code", data={"code": code(account.secret), "csrf_token": csrf(page)}
    )
    after = client.cookies["hallmark_session"]
    assert after != before
    stale = console.client()
    stale.cookies.set("hallmark_session", before)
    assert stale.get("/console/account").headers["location"].startswith("/console/sign-in")
    assert client.get("/console/account").status_code == 200
    with console.sessions() as session:
        stored = session.scalars(select(StaffSession.token_hash)).all()
    assert after not in stored and before not in stored  # only hashes are kept


@pytest.mark.parametrize("limit", ["idle", "absolute"])
def test_expired_session_is_ended_and_audited(console: Console, limit: str) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    past = datetime.now(UTC) - timedelta(minutes=31)
    values = {"last_seen_at": past} if limit == "idle" else {"expires_at": past}
    with db.transaction(console.sessions) as session:
        session.execute(update(StaffSession).values(**values))
    answer = client.get("/console/account")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/account"
    assert _sessions(console, account.id) == 0
    ended = console.audit("staff.session_end")
    assert [e.details["reason"] for e in ended] == ["idle" if limit == "idle" else "expired"]


def test_sign_out_ends_the_session(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    token = client.cookies["hallmark_session"]
    page = client.get("/console/account")
    answer = client.post("/console/sign-out", data={"csrf_token": csrf(page)})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?done=signed_out"
    assert 'hallmark_session=""' in answer.headers["set-cookie"]
    assert "You have signed out." in client.get(answer.headers["location"]).text
    assert _sessions(console, account.id) == 0
    replayed = console.client()
    replayed.cookies.set("hallmark_session", token)
    assert replayed.get("/console/account").status_code == 303
    assert [e.outcome for e in console.audit("staff.sign_out")] == ["ok"]


def test_disabling_a_user_ends_its_sessions_at_once(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    assert client.get("/console/account").status_code == 200
    staff_accounts.set_staff_enabled(sessions=console.sessions, ref=account.username, enabled=False)
    assert _sessions(console, account.id) == 0
    assert client.get("/console/account").status_code == 303
    refused = post_sign_in(console.client(), account.username, account.password)
    assert refused.status_code == 401
    assert "disabled" in _alert(refused)
    assert console.audit("staff.disable")[-1].details["sessions_ended"] == 1
    staff_accounts.set_staff_enabled(sessions=console.sessions, ref=account.username, enabled=True)
    console.sign_in(account)


def test_a_disabled_organisation_ends_its_staff_sessions(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    with db.transaction(console.sessions) as session:
        session.execute(
            update(Organisation).where(Organisation.name == "Maison Lune").values(status="disabled")
        )
    assert client.get("/console/account").status_code == 303
    assert console.audit("staff.session_end")[-1].details["reason"] == "organisation_disabled"


def test_sign_in_is_throttled_per_account(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.client()
    for _ in range(3):  # the account's limit in these tests
        assert post_sign_in(client, account.username, "wrong password").status_code == 401
    throttled = post_sign_in(client, account.username, account.password)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    assert _alert(throttled).startswith("Too many failed attempts. Try again after ")
    assert console.audit("staff.sign_in")[-1].details["reason"] == "throttled"
    # Once the failures leave the window, the right password works and clears them.
    with db.transaction(console.sessions) as session:
        session.execute(
            update(StaffLoginFailure).values(at=datetime.now(UTC) - timedelta(minutes=16))
        )
    console.sign_in(account, client)
    with console.sessions() as session:
        assert not session.scalars(
            select(StaffLoginFailure).where(StaffLoginFailure.username == account.username)
        ).all()


def test_sign_in_is_throttled_per_address(console: Console) -> None:
    victim = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.client()
    for number in range(6):  # the address's limit, spread over usernames
        assert post_sign_in(client, f"guess.{number % 2}", "wrong password").status_code in (
            401,
            429,
        )
    throttled = post_sign_in(client, victim.username, victim.password)
    assert throttled.status_code == 429
    assert console.audit("staff.sign_in")[-1].details["address"] == "192.0.2.1"
    # From another address the account itself is not throttled.
    console.sign_in(victim, console.client(address="198.51.100.7"))


def test_wrong_totp_codes_count_towards_the_throttle(console: Console) -> None:
    account = console.account("Lune Legal", "li.wei", "legal")
    assert account.secret is not None
    client = console.client()
    post_sign_in(client, account.username, account.password)
    token = csrf(client.get("/console/sign-in/code"))
    for _ in range(3):
        wrong = client.post("/console/sign-in/code", data={"code": "000000", "csrf_token": token})
        assert wrong.status_code == 401
    right = client.post(
        "/console/sign-in/code", data={"code": code(account.secret), "csrf_token": token}
    )
    assert right.status_code == 429
    assert pyotp.TOTP(account.secret).verify(code(account.secret))
