"""The console shell and the signed-in user's own account: password, authenticator app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from hallmark.api.pages import messages
from hallmark.api.pages.auth import (
    HOME_PATH,
    SESSION_COOKIE,
    ActiveStaff,
    Console,
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
from hallmark.services.access.logins import Issued, Staff

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


@dataclass(frozen=True, slots=True)
class AccountPage:
    """What a form of the account page needs besides its fields: the request, the signed-in
    user and the console."""

    request: Request
    staff: Staff
    console: Console

    def step(
        self, csrf_token: str, section: str, run: Callable[[], Issued | None], then: str
    ) -> Response:
        """Check the form's CSRF token, `run` the step, and go on to `then` (with the new
        session cookie when the step issued one); a refusal shows the page's `section` again."""
        check_csrf(self.request, self.staff, csrf_token)
        try:
            issued = run()
        except STEP_ERRORS as exc:
            return _refused(self.request, self.staff, self.console, exc, section)
        response = redirect(then)
        if issued is not None:
            set_cookie(self.request, response, SESSION_COOKIE, issued.token)
        return response


def _account_page(request: Request, staff: ActiveStaff, console: ConsoleDep) -> AccountPage:
    return AccountPage(request, staff, console)


AccountPageDep = Annotated[AccountPage, Depends(_account_page)]


@router.post("/console/account/password")
def change_password(
    page: AccountPageDep,
    *,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
    csrf_token: CsrfField = "",
) -> Response:
    console = page.console
    return page.step(
        csrf_token,
        "password",
        lambda: logins.change_password(
            console,
            current=current_password,
            new=new_password,
            confirm=confirm_password,
        ),
        then=f"{HOME_PATH}?done=password",
    )


@router.post("/console/account/authenticator/start")
def start_enrolment(
    page: AccountPageDep, *, current_password: Text = "", csrf_token: CsrfField = ""
) -> Response:
    console = page.console
    return page.step(
        csrf_token,
        "authenticator",
        lambda: logins.begin_enrolment(console, password=current_password),
        then=f"{HOME_PATH}#authenticator",
    )


@router.post("/console/account/authenticator/replace")
def replace_authenticator(
    page: AccountPageDep, *, code: Text = "", csrf_token: CsrfField = ""
) -> Response:
    return page.step(
        csrf_token,
        "authenticator",
        lambda: logins.replace_authenticator(page.console, code=code),
        then=f"{HOME_PATH}#authenticator",
    )


@router.post("/console/account/authenticator/confirm")
def confirm_enrolment(
    page: AccountPageDep, *, code: Text = "", csrf_token: CsrfField = ""
) -> Response:
    return page.step(
        csrf_token,
        "authenticator",
        lambda: logins.confirm_enrolment(page.console, code=code),
        then=f"{HOME_PATH}?done=authenticator",
    )


@router.post("/console/account/authenticator/cancel")
def cancel_enrolment(
    request: Request, staff: ActiveStaff, console: ConsoleDep, csrf_token: CsrfField = ""
) -> Response:
    check_csrf(request, staff, csrf_token)
    logins.cancel_enrolment(sessions=console.sessions, staff=staff, wait=console.policy.write_wait)
    return redirect(f"{HOME_PATH}#authenticator")


@router.post("/console/account/authenticator/remove")
def remove_authenticator(
    page: AccountPageDep, *, code: Text = "", csrf_token: CsrfField = ""
) -> Response:
    return page.step(
        csrf_token,
        "authenticator",
        lambda: logins.remove_authenticator(page.console, code=code),
        then=f"{HOME_PATH}?done=authenticator_removed",
    )
