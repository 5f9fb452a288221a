"""The console's pages over HTTP: CSRF on every state-changing form, the account page (password,
authenticator replaced and removed), the administrator's staff list, languages, headers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hallmark.store.models import StaffSession
from tests.console.conftest import PASSWORD, Console, code, csrf, post_sign_in

#: Every state-changing form of the console, with what else it sends.
FORMS = [
    ("/console/sign-out", {}),
    ("/console/account/password", {"current_password": PASSWORD}),
    ("/console/account/authenticator/start", {"current_password": PASSWORD}),
    ("/console/account/authenticator/replace", {"code": "000000"}),
    ("/console/account/authenticator/confirm", {"code": "000000"}),
    ("/console/account/authenticator/cancel", {}),
    ("/console/account/authenticator/remove", {"code": "000000"}),
]


def _alert(page: Any) -> str:
    start = page.text.index('role="alert">') + len('role="alert">')
    return str(page.text[start : page.text.index("</p>", start)])


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_csrf_missing_or_wrong_is_refused_and_audited(
    console: Console, path: str, fields: dict[str, str]
) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    token = csrf(client.get("/console/account"))
    for presented in (None, "not-the-token", token[:-1]):
        data = dict(fields) if presented is None else {**fields, "csrf_token": presented}
        answer = client.post(path, data=data)
        assert answer.status_code == 403, (path, presented)
        assert "This form expired or was not sent from this site" in answer.text
    reasons = [e.details["reason"] for e in console.audit(f"POST {path}")]
    assert reasons == ["csrf_missing", "csrf_wrong", "csrf_wrong"]
    assert client.get("/console/account").status_code == 200  # still signed in


def test_a_form_sent_from_another_site_is_refused(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    token = csrf(client.get("/console/account"))
    answer = client.post(
        "/console/sign-out", data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert answer.status_code == 403
    assert console.audit("POST /console/sign-out")[-1].details["reason"] == "csrf_cross_site"


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.client()
    data = {"username": account.username, "password": account.password}
    assert client.post("/console/sign-in", data=data).status_code == 403  # no cookie, no field
    client.get("/console/sign-in")
    assert client.post("/console/sign-in", data={**data, "csrf_token": "x"}).status_code == 403
    assert not console.audit("staff.sign_in")  # refused before any password was checked


def test_changing_the_password_signs_out_other_sessions(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    here, elsewhere = console.sign_in(account), console.sign_in(account)
    page = here.get("/console/account")
    fields = {"csrf_token": csrf(page), "confirm_password": "a brand new passphrase"}
    wrong = here.post(
        "/console/account/password",
        data={**fields, "current_password": "nope", "new_password": "a brand new passphrase"},
    )
    assert wrong.status_code == 401 and _alert(wrong) == "The username or the password is wrong."
    named = here.post(
        "/console/account/password",
        data={
            "csrf_token": csrf(page),
            "current_password": PASSWORD,
            "new_password": "ana.silva",
            "confirm_password": "ana.silva",
        },
    )
    assert named.status_code == 422
    done = here.post(
        "/console/account/password",
        data={**fields, "current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    assert done.headers["location"] == "/console/account?done=password"
    assert "Your password has been changed." in here.get(done.headers["location"]).text
    assert elsewhere.get("/console/account").status_code == 303
    assert post_sign_in(console.client(), account.username, PASSWORD).status_code == 401
    assert console.audit("staff.password_change")[-1].details["sessions_ended"] == 1


def test_replacing_the_authenticator_needs_a_current_code(console: Console) -> None:
    account = console.account("Lune Legal", "li.wei", "legal")
    assert account.secret is not None
    client = console.sign_in(account)
    page = client.get("/console/account")
    refused = client.post(
        "/console/account/authenticator/replace",
        data={"code": "000000", "csrf_token": csrf(page)},
    )
    assert refused.status_code == 401
    started = client.post(
        "/console/account/authenticator/replace",
        data={"code": code(account.secret, steps=1), "csrf_token": csrf(page)},
    )
    assert started.status_code == 303
    page = client.get("/console/account")
    new_secret = page.text.split("secret=")[1].split("&")[0]
    assert new_secret != account.secret
    confirmed = client.post(
        "/console/account/authenticator/confirm",
        data={"code": code(new_secret), "csrf_token": csrf(page)},
    )
    assert confirmed.headers["location"] == "/console/account?done=authenticator"
    # The old app's codes no longer sign in; the new one's do.
    other = console.client()
    post_sign_in(other, account.username, account.password)
    token = csrf(other.get("/console/sign-in/code"))
    old = other.post(
        "/console/sign-in/code", data={"code": code(account.secret), "csrf_token": token}
    )
    assert old.status_code == 401
    new = other.post(
        "/console/sign-in/code", data={"code": code(new_secret, steps=1), "csrf_token": token}
    )
    assert new.headers["location"] == "/console/account"


def test_legal_staff_cannot_remove_the_authenticator_others_can(console: Console) -> None:
    legal = console.account("Lune Legal", "li.wei", "legal")
    client = console.sign_in(legal)
    page = client.get("/console/account")
    assert "Turn off two-step sign-in" not in page.text
    assert legal.secret is not None
    refused = client.post(
        "/console/account/authenticator/remove",
        data={"code": code(legal.secret, steps=1), "csrf_token": csrf(page)},
    )
    assert refused.status_code == 403
    assert console.user(legal).totp_secret is not None

    issuer = console.account("Maison Lune", "ana.silva", "issuer", totp_enrolled=True)
    assert issuer.secret is not None
    client = console.sign_in(issuer)
    page = client.get("/console/account")
    assert "Turn off two-step sign-in" in page.text
    removed = client.post(
        "/console/account/authenticator/remove",
        data={"code": code(issuer.secret, steps=1), "csrf_token": csrf(page)},
    )
    assert removed.headers["location"] == "/console/account?done=authenticator_removed"
    assert console.user(issuer).totp_secret is None
    console.sign_in(issuer)  # password alone now


def test_optional_enrolment_from_the_account_page(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    page = client.get("/console/account")
    start = {"csrf_token": csrf(page), "current_password": PASSWORD}
    refused = client.post(
        "/console/account/authenticator/start", data={**start, "current_password": "wrong"}
    )
    assert refused.status_code == 401 and "secret=" not in refused.text
    assert console.audit("staff.totp_begin")[-1].details["reason"] == "credentials"
    client.post("/console/account/authenticator/start", data=start)
    page = client.get("/console/account")
    secret = page.text.split("secret=")[1].split("&")[0]
    assert "<svg" in page.text
    client.post("/console/account/authenticator/cancel", data={"csrf_token": csrf(page)})
    assert "secret=" not in client.get("/console/account").text
    client.post("/console/account/authenticator/start", data=start)
    page = client.get("/console/account")
    secret = page.text.split("secret=")[1].split("&")[0]
    client.post(
        "/console/account/authenticator/confirm",
        data={"code": code(secret), "csrf_token": csrf(page)},
    )
    assert console.user(account).totp_secret is not None
    account.secret = secret
    console.sign_in(account)


def test_the_staff_list_is_for_administrators_of_the_organisation(console: Console) -> None:
    admin = console.account("Maison Lune", "marie.admin", "admin")
    issuer = console.account("Maison Lune", "ana.silva", "issuer")
    outsider = console.account("Atelier Rivoli", "paul.roux", "issuer")
    client = console.sign_in(admin)
    page = client.get("/console/staff")
    assert page.status_code == 200
    assert "ana.silva" in page.text and "marie.admin" in page.text
    assert "paul.roux" not in page.text
    assert f"/console/staff/{admin.id}/disable" not in page.text  # not itself

    issuer_client = console.sign_in(issuer)
    assert issuer_client.get("/console/staff").status_code == 403
    assert console.audit("GET /console/staff")[-1].outcome == "denied"
    assert 'href="/console/staff"' not in issuer_client.get("/console/account").text

    token = csrf(page)
    disabled = client.post(f"/console/staff/{issuer.id}/disable", data={"csrf_token": token})
    assert disabled.headers["location"] == "/console/staff?done=disabled"
    assert issuer_client.get("/console/account").status_code == 303
    entry = console.audit("staff.disable")[-1]
    assert entry.principal_id == console.user(admin).principal_id
    assert entry.details["sessions_ended"] == 1
    enabled = client.post(f"/console/staff/{issuer.id}/enable", data={"csrf_token": token})
    assert enabled.status_code == 303
    console.sign_in(issuer)
    other = client.post(f"/console/staff/{outsider.id}/disable", data={"csrf_token": token})
    assert other.status_code == 404
    itself = client.post(f"/console/staff/{admin.id}/disable", data={"csrf_token": token})
    assert itself.status_code == 403
    assert console.user(outsider).status == "active" and console.user(admin).status == "active"
    by_issuer = issuer_client.post(
        f"/console/staff/{admin.id}/disable",
        data={"csrf_token": csrf(console.sign_in(issuer, issuer_client).get("/console/account"))},
    )
    assert by_issuer.status_code == 403


def test_language_follows_accept_language_and_the_switch(console: Console) -> None:
    client = console.client()
    english = client.get("/console/sign-in")
    assert '<html lang="en">' in english.text and "Sign in to the console" in english.text
    chinese = client.get("/console/sign-in", headers={"accept-language": "zh-TW,zh;q=0.9,en;q=0.5"})
    assert '<html lang="zh-CN">' in chinese.text and "登录控制台" in chinese.text
    assert chinese.headers["content-language"] == "zh-CN"
    assert "Sign in to the console" not in chinese.text
    switched = client.get("/language/zh?next=/console/sign-in")
    assert switched.status_code == 303 and switched.headers["location"] == "/console/sign-in"
    assert "hallmark_lang=zh" in switched.headers["set-cookie"]
    assert "登录控制台" in client.get("/console/sign-in", headers={"accept-language": "en"}).text
    assert client.get("/language/fr").status_code == 404


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil", "x"])
def test_language_switch_and_sign_in_never_redirect_elsewhere(
    console: Console, target: str
) -> None:
    client = console.client()
    assert client.get("/language/en", params={"next": target}).headers["location"] == (
        "/console/account"
    )
    account = console.account("Maison Lune", "ana.silva", "issuer")
    page = client.get("/console/sign-in", params={"next": target})
    answer = client.post(
        "/console/sign-in",
        data={
            "username": account.username,
            "password": account.password,
            "csrf_token": csrf(page),
            "next": target,
        },
    )
    assert answer.headers["location"] == "/console/account"


def test_sign_in_goes_on_to_the_page_asked_for(console: Console) -> None:
    admin = console.account("Maison Lune", "marie.admin", "admin")
    client = console.client()
    first = client.get("/console/staff")
    assert first.headers["location"] == "/console/sign-in?next=/console/staff"
    page = client.get(first.headers["location"])
    answer = client.post(
        "/console/sign-in",
        data={
            "username": admin.username,
            "password": admin.password,
            "csrf_token": csrf(page),
            "next": "/console/staff",
        },
    )
    assert answer.headers["location"] == "/console/staff"


def test_pages_forbid_scripts_frames_and_other_origins(console: Console) -> None:
    account = console.account("Maison Lune", "marie.admin", "admin")
    client = console.sign_in(account)
    anonymous = console.client()
    for path in ("/console/sign-in", "/console/account", "/console/staff", "/console/nowhere"):
        page = (anonymous if path == "/console/sign-in" else client).get(path)
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text.lower() and " style=" not in page.text
        assert "http://" not in page.text and "https://" not in page.text
    missing = client.get("/console/nowhere")
    assert missing.status_code == 404 and "There is no such page." in missing.text
    stylesheet = client.get("/console/account").text.split('rel="stylesheet" href="')[1]
    css = client.get(stylesheet.split('"')[0])
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["x-content-type-options"] == "nosniff"
    assert "@import" not in css.text and "url(" not in css.text


def test_only_hashes_of_session_tokens_are_stored(console: Console) -> None:
    account = console.account("Maison Lune", "ana.silva", "issuer")
    client = console.sign_in(account)
    token = client.cookies["hallmark_session"]
    with console.sessions() as session:
        rows = session.scalars(select(StaffSession)).all()
    assert len(rows) == 1 and rows[0].token_hash != token and len(rows[0].token_hash) == 64
