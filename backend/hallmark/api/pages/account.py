"""The console shell and the signed-in user's own account: password, authenticator app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from hallmark.api.pages import messages
from hallmark.api.pages.auth import (
    HOME_PATH,
    SESSION_COOKIE,
    ActiveStaff,
    ConsoleDep,
    CsrfField,
    check_csrf,
    redirect,
    set_cookie,
)
from hallmark.api.pages.rendering import refused, render
from hallmark.api.pages.signin import enrolment
from hallmark.core.errors import (
    InvalidInputError,
    PermissionDeniedError,
    SignInRefusedError,
    TooManyAttemptsError,
)
from hallmark.services.access import logins
from hallmark.services.access.logins import Staff

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form()]
STEP_ERRORS = (SignInRefusedError, TooManyAttemptsError, InvalidInputError, PermissionDeniedError)


def _account(staff: Staff, console: ConsoleDep) -> dict[str, Any]:
    """The account page's content: who, and an authenticator being set up, if any."""
    secret = (
        logins.pending_secret(
            sessions=console.sessions,
            policy=console.policy,
            staff=staff,
            create=False,
            reads=console.reads,
        )
        if staff.totp_pending
        else None
    )
    return {"staff": staff, "enrolment": enrolment(staff, secret) if secret else None}


def _refused(
    request: Request, staff: Staff, console: ConsoleDep, exc: Exception, section: str
) -> Response:
    assert isinstance(exc, STEP_ERRORS)
    if isinstance(exc, SignInRefusedError) and exc.reason == "expired":
        return redirect("/console/sign-in?done=ended")
    return refused(
        request, "account.html", exc, section=section, notice=None, **_account(staff, console)
    )


@router.get("/console")
def console_home() -> Response:
    return redirect(HOME_PATH)


@router.get("/console/account")
def account_page(
    request: Request, staff: ActiveStaff, console: ConsoleDep, done: str | None = None
) -> Response:
    return render(
        request,
        "account.html",
        section=None,
        notice=messages.notice(done),
        **_account(staff, console),
    )


@router.post("/console/account/password")
def change_password(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    *,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    try:
        issued = logins.change_password(
            sessions=console.sessions,
            policy=console.policy,
            token=console.token,
            current=current_password,
            new=new_password,
            confirm=confirm_password,
            address=console.address,
            reads=console.reads,
        )
    except STEP_ERRORS as exc:
        return _refused(request, staff, console, exc, "password")
    response = redirect(f"{HOME_PATH}?done=password")
    set_cookie(request, response, SESSION_COOKIE, issued.token)
    return response


@router.post("/console/account/authenticator/start")
def start_enrolment(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    *,
    current_password: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    try:
        logins.begin_enrolment(
            sessions=console.sessions,
            policy=console.policy,
            token=console.token,
            password=current_password,
            address=console.address,
            reads=console.reads,
        )
    except STEP_ERRORS as exc:
        return _refused(request, staff, console, exc, "authenticator")
    return redirect(f"{HOME_PATH}#authenticator")


@router.post("/console/account/authenticator/replace")
def replace_authenticator(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    *,
    code: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    try:
        logins.replace_authenticator(
            sessions=console.sessions,
            policy=console.policy,
            token=console.token,
            code=code,
            address=console.address,
        )
    except STEP_ERRORS as exc:
        return _refused(request, staff, console, exc, "authenticator")
    return redirect(f"{HOME_PATH}#authenticator")


@router.post("/console/account/authenticator/confirm")
def confirm_enrolment(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    *,
    code: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    try:
        issued = logins.confirm_enrolment(
            sessions=console.sessions,
            policy=console.policy,
            token=console.token,
            code=code,
            address=console.address,
        )
    except STEP_ERRORS as exc:
        return _refused(request, staff, console, exc, "authenticator")
    response = redirect(f"{HOME_PATH}?done=authenticator")
    set_cookie(request, response, SESSION_COOKIE, issued.token)
    return response


@router.post("/console/account/authenticator/cancel")
def cancel_enrolment(
    request: Request, staff: ActiveStaff, console: ConsoleDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, staff, csrf_token)
    logins.cancel_enrolment(sessions=console.sessions, staff=staff, wait=console.policy.write_wait)
    return redirect(f"{HOME_PATH}#authenticator")


@router.post("/console/account/authenticator/remove")
def remove_authenticator(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    *,
    code: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    try:
        logins.remove_authenticator(
            sessions=console.sessions,
            policy=console.policy,
            token=console.token,
            code=code,
            address=console.address,
        )
    except STEP_ERRORS as exc:
        return _refused(request, staff, console, exc, "authenticator")
    return redirect(f"{HOME_PATH}?done=authenticator_removed")
