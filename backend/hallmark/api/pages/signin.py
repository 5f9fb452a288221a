"""Signing in and out: password, TOTP code, authenticator enrolment, new password.

Each step's form posts back to its own page; a refused step shows the form again with the
reason (401 wrong password or code, 422 a password rule, 429 throttled). A finished step sets
the session's new cookie and goes on to the next step's page (303), the last one to `next`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from hallmark.api.pages import messages
from hallmark.api.pages.auth import (
    HOME_PATH,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_PATH,
    STAGE_PATHS,
    ConsoleDep,
    CsrfField,
    EnrolStaff,
    MaybeStaff,
    NewPasswordStaff,
    SecondFactorStaff,
    check_csrf,
    check_sign_in_token,
    clear_cookie,
    new_sign_in_token,
    redirect,
    safe_next,
    set_cookie,
    sign_in_token,
    with_next,
)
from hallmark.api.pages.rendering import qr_svg, refused, render
from hallmark.core.errors import (
    HallmarkError,
    InvalidInputError,
    SignInRefusedError,
    TooManyAttemptsError,
)
from hallmark.services.access import logins, totp
from hallmark.services.access.logins import Issued, Staff

router = APIRouter(include_in_schema=False)

NextField = Annotated[str, Form(alias="next")]
Text = Annotated[str, Form()]


def _continue(request: Request, issued: Issued, target: str | None) -> Response:
    """Set the session's new cookie and go on to its next step (or, done, to `target`)."""
    stage = issued.staff.stage
    location = (
        safe_next(target) or HOME_PATH
        if stage == logins.ACTIVE
        else with_next(STAGE_PATHS[stage], target)
    )
    response = redirect(location)
    set_cookie(request, response, SESSION_COOKIE, issued.token)
    return response


def _pending_step(
    request: Request,
    staff: Staff,
    csrf_token: str,
    next_: str,
    *,
    run: Callable[[], Issued],
    refused_page: Callable[[HallmarkError], Response],
    refusals: tuple[type[HallmarkError], ...] = (SignInRefusedError, TooManyAttemptsError),
) -> Response:
    """A step of a session still signing in: check the form's CSRF token, `run` the step and
    continue; a session that expired meanwhile starts again at the password, another of the
    `refusals` shows the step's form again (`refused_page`)."""
    check_csrf(request, staff, csrf_token)
    try:
        issued = run()
    except refusals as exc:
        if isinstance(exc, SignInRefusedError) and exc.reason == "expired":
            return redirect(with_next(SIGN_IN_PATH, next_))
        return refused_page(exc)
    return _continue(request, issued, next_)


@router.get("/console/sign-in")
def sign_in_page(
    request: Request,
    staff: MaybeStaff,
    next_: Annotated[str | None, Query(alias="next")] = None,
    done: str | None = None,
) -> Response:
    if staff is not None and staff.active:
        return redirect(safe_next(next_) or HOME_PATH)
    token = sign_in_token(request) or new_sign_in_token()
    response = render(
        request,
        "sign_in.html",
        sign_in_token=token,
        next=safe_next(next_) or "",
        username="",
        notice=messages.notice(done),
    )
    set_cookie(request, response, SIGN_IN_COOKIE, token)
    return response


@router.post("/console/sign-in")
def sign_in(
    request: Request,
    console: ConsoleDep,
    *,
    username: Text = "",
    password: Text = "",
    csrf_token: CsrfField = "",
    next_: NextField = "",
) -> Response:
    check_sign_in_token(request, csrf_token)
    try:
        issued = logins.sign_in(console, username=username, password=password)
    except (SignInRefusedError, TooManyAttemptsError) as exc:
        return refused(
            request,
            "sign_in.html",
            exc,
            sign_in_token=csrf_token,
            next=safe_next(next_) or "",
            username=username[:64],
            notice=None,
        )
    return _continue(request, issued, next_)


@router.get("/console/sign-in/code")
def code_page(
    request: Request,
    staff: SecondFactorStaff,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    return render(request, "sign_in_code.html", pending=staff, next=safe_next(next_) or "")


@router.post("/console/sign-in/code")
def code(
    request: Request,
    staff: SecondFactorStaff,
    console: ConsoleDep,
    *,
    code: Text = "",
    csrf_token: CsrfField = "",
    next_: NextField = "",
) -> Response:
    return _pending_step(
        request,
        staff,
        csrf_token,
        next_,
        run=lambda: logins.second_factor(console, code=code),
        refused_page=lambda exc: refused(
            request, "sign_in_code.html", exc, pending=staff, next=safe_next(next_) or ""
        ),
    )


def enrolment(staff: logins.Staff, secret: str) -> dict[str, object]:
    """What the authenticator set-up shows: the QR code, the URI and the secret itself."""
    uri = totp.provisioning_uri(
        secret, username=staff.username, organisation=staff.organisation_name
    )
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"qr": qr_svg(uri), "uri": uri, "secret": grouped}


def _first_enrolment(console: ConsoleDep, staff: logins.Staff) -> dict[str, object]:
    """The set-up of a user who must enrol: its pending secret is created on the first view and
    kept, the same on every reload, until a code from it is confirmed."""
    secret = logins.pending_secret(
        sessions=console.sessions, policy=console.policy, staff=staff, create=True
    )
    assert secret is not None
    return enrolment(staff, secret)


@router.get("/console/sign-in/authenticator")
def enrol_page(
    request: Request,
    staff: EnrolStaff,
    console: ConsoleDep,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    # Shown at once: a user who must enrol has nothing else to do.
    return render(
        request,
        "sign_in_enrol.html",
        pending=staff,
        enrolment=_first_enrolment(console, staff),
        next=safe_next(next_) or "",
    )


@router.post("/console/sign-in/authenticator")
def enrol(
    request: Request,
    staff: EnrolStaff,
    console: ConsoleDep,
    *,
    code: Text = "",
    csrf_token: CsrfField = "",
    next_: NextField = "",
) -> Response:
    def refused_page(exc: HallmarkError) -> Response:
        return refused(
            request,
            "sign_in_enrol.html",
            exc,
            pending=staff,
            enrolment=_first_enrolment(console, staff),
            next=safe_next(next_) or "",
        )

    return _pending_step(
        request,
        staff,
        csrf_token,
        next_,
        run=lambda: logins.confirm_enrolment(console, code=code),
        refused_page=refused_page,
    )


@router.get("/console/sign-in/password")
def new_password_page(
    request: Request,
    staff: NewPasswordStaff,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    return render(request, "sign_in_password.html", pending=staff, next=safe_next(next_) or "")


@router.post("/console/sign-in/password")
def new_password(
    request: Request,
    staff: NewPasswordStaff,
    console: ConsoleDep,
    *,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
    csrf_token: CsrfField = "",
    next_: NextField = "",
) -> Response:
    return _pending_step(
        request,
        staff,
        csrf_token,
        next_,
        run=lambda: logins.change_password(
            console,
            current=current_password,
            new=new_password,
            confirm=confirm_password,
        ),
        refused_page=lambda exc: refused(
            request, "sign_in_password.html", exc, pending=staff, next=safe_next(next_) or ""
        ),
        refusals=(SignInRefusedError, TooManyAttemptsError, InvalidInputError),
    )


@router.post("/console/sign-out")
def sign_out(
    request: Request,
    staff: MaybeStaff,
    console: ConsoleDep,
    csrf_token: CsrfField = "",
) -> Response:
    if staff is not None and console.token:
        check_csrf(request, staff, csrf_token)
        logins.sign_out(
            sessions=console.sessions,
            token=console.token,
            address=console.address,
            wait=console.policy.write_wait,
        )
    response = redirect(f"{SIGN_IN_PATH}?done=signed_out")
    clear_cookie(request, response, SESSION_COOKIE)
    return response
