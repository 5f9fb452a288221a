"""Who is signed in to the console, and what a state-changing form must carry.

The session cookie holds a random token (the database keeps only its SHA-256): HttpOnly,
SameSite=Lax, Path=/, and over https Secure with the `__Host-` prefix (no other host or path
can set it). It has no Max-Age: the server ends sessions (idle and absolute expiry, sign-out,
a disabled account), the browser forgets the cookie when it closes.

Every state-changing form carries the session's CSRF token (a synchronizer token, stored with
the session and replaced at every sign-in step); the sign-in form, before any session exists,
carries the value of a random `hallmark_signin` cookie (double submit). A form sent from
another site (`Sec-Fetch-Site: cross-site`) is refused whatever it carries.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import RedirectResponse, Response

from hallmark.api.pages import messages
from hallmark.api.pages.rendering import render, secure
from hallmark.services.access import logins
from hallmark.services.access.logins import Caller, Staff
from hallmark.services.access.staff import StaffPolicy

SESSION_COOKIE = "hallmark_session"
SIGN_IN_COOKIE = "hallmark_signin"
SIGN_IN_PATH = "/console/sign-in"
HOME_PATH = "/console/account"
#: Where a session short of `active` continues.
STAGE_PATHS = {
    logins.SECOND_FACTOR: "/console/sign-in/code",
    logins.ENROL: "/console/sign-in/authenticator",
    logins.NEW_PASSWORD: "/console/sign-in/password",
    logins.ACTIVE: HOME_PATH,
}


class PageRedirect(Exception):  # noqa: N818 - not an error: the answer is elsewhere
    """Answer with a redirect (303: the browser follows with GET)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


class CsrfRejectedError(Exception):
    """A state-changing form without the right CSRF token, or sent from another site."""

    def __init__(self, staff: Staff | None, reason: str) -> None:
        super().__init__(reason)
        self.staff = staff
        self.reason = reason


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    return f"__Host-{base}" if is_https(request) else base


def set_cookie(request: Request, response: Response, base: str, value: str) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        httponly=True,
        secure=is_https(request),
        samesite="lax",
        path="/",
    )


def clear_cookie(request: Request, response: Response, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        httponly=True,
        secure=is_https(request),
        samesite="lax",
        path="/",
    )


def client_address(request: Request) -> str:
    """The caller's address (behind a proxy: run uvicorn with --proxy-headers and
    --forwarded-allow-ips so that this is the client's, not the proxy's)."""
    return request.client.host if request.client is not None else "unknown"


def safe_next(target: str | None) -> str | None:
    """A path on this site to go on to after signing in; anything else is dropped."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in target):
        return None
    return target


def with_next(path: str, target: str | None) -> str:
    target = safe_next(target)
    return f"{path}?next={quote(target, safe='/')}" if target else path


async def get_policy(request: Request) -> StaffPolicy:
    """The staff rules of this process's settings, built once."""
    policy: StaffPolicy | None = getattr(request.app.state, "staff_policy", None)
    if policy is None:
        policy = StaffPolicy.from_settings(request.app.state.runtime.settings)
        request.app.state.staff_policy = policy
    return policy


PolicyDep = Annotated[StaffPolicy, Depends(get_policy)]


async def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] | None = request.app.state.runtime.sessions
    assert sessions is not None
    return sessions


SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]


async def get_read_sessions(request: Request) -> sessionmaker[Session]:
    """Sessions for reads (on SQLite they never queue for the write lock)."""
    sessions: sessionmaker[Session] | None = request.app.state.runtime.read_sessions
    assert sessions is not None
    return sessions


ReadSessionsDep = Annotated[sessionmaker[Session], Depends(get_read_sessions)]


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


#: What a sign-in step needs from its request (`logins.Caller`): the database (`sessions` to
#: write, `reads` to read), the rules, the session's token and the caller's address.
Console = Caller


async def get_console(
    request: Request, sessions: SessionsDep, reads: ReadSessionsDep, policy: PolicyDep
) -> Console:
    return Console(sessions, policy, session_token(request) or "", client_address(request), reads)


ConsoleDep = Annotated[Console, Depends(get_console)]


def get_staff(
    request: Request, sessions: SessionsDep, reads: ReadSessionsDep, policy: PolicyDep
) -> Staff | None:
    """Whoever the session cookie names, at any stage; None without a live session (a sync
    dependency: its database work runs in the threadpool, never on the event loop)."""
    return logins.current(
        sessions=sessions, policy=policy, token=session_token(request), reads=reads
    )


MaybeStaff = Annotated[Staff | None, Depends(get_staff)]


def get_active_staff(request: Request, staff: MaybeStaff) -> Staff:
    """A fully signed-in user; others are sent to the sign-in step they are at."""
    if staff is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageRedirect(with_next(SIGN_IN_PATH, target if request.method == "GET" else None))
    if not staff.active:
        raise PageRedirect(STAGE_PATHS[staff.stage])
    return staff


ActiveStaff = Annotated[Staff, Depends(get_active_staff)]


def _at_stage(stage: str) -> Callable[[Staff | None], Staff]:
    def dependency(staff: MaybeStaff) -> Staff:
        if staff is None:
            raise PageRedirect(SIGN_IN_PATH)
        if staff.stage != stage:
            raise PageRedirect(STAGE_PATHS[staff.stage])
        return staff

    return dependency


#: A session at a given sign-in step (others are sent to the step they are at).
SecondFactorStaff = Annotated[Staff, Depends(_at_stage(logins.SECOND_FACTOR))]
EnrolStaff = Annotated[Staff, Depends(_at_stage(logins.ENROL))]
NewPasswordStaff = Annotated[Staff, Depends(_at_stage(logins.NEW_PASSWORD))]


def check_origin(request: Request, staff: Staff | None) -> None:
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise CsrfRejectedError(staff, "cross_site")


def check_csrf(request: Request, staff: Staff | None, presented: str) -> None:
    """Refuse a form without the session's CSRF token."""
    check_origin(request, staff)
    if staff is None:
        raise PageRedirect(SIGN_IN_PATH)
    if not presented:
        raise CsrfRejectedError(staff, "missing")
    if not hmac.compare_digest(presented.encode(), staff.csrf_token.encode()):
        raise CsrfRejectedError(staff, "wrong")


CsrfField = Annotated[str, Form(alias="csrf_token", max_length=200)]


def sign_in_token(request: Request) -> str | None:
    """The pre-session token of the sign-in form (its cookie), if the browser has one."""
    return request.cookies.get(cookie_name(request, SIGN_IN_COOKIE))


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(32)


def check_sign_in_token(request: Request, presented: str) -> None:
    check_origin(request, None)
    expected = sign_in_token(request)
    if not presented or not expected:
        raise CsrfRejectedError(None, "missing")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRejectedError(None, "wrong")


def redirect(location: str) -> RedirectResponse:
    """See other (303: the browser follows with GET), with the pages' headers."""
    return secure(RedirectResponse(location, status_code=303))


def forbidden(
    request: Request, staff: Staff, console: Console, text: str, *, action: str | None = None
) -> Response:
    """The 403 page saying `text`, the denial audited (`action`: what was refused; by default
    the request's method and path)."""
    logins.record_denial(
        sessions=console.sessions,
        staff=staff,
        action=action or f"{request.method} {request.url.path}"[:64],
        details={"status": 403, "role": staff.role},
        wait=console.policy.write_wait,
    )
    return render(
        request,
        "error.html",
        status_code=403,
        staff=staff,
        title=messages.FORBIDDEN,
        message=messages.PageMessage(text),
    )
