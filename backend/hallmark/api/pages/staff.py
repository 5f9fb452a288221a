"""An organisation administrator's page: its organisation's staff, disabled and enabled here
(disabling ends the account's sessions at once). Other roles get 403."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from hallmark.api.pages import messages
from hallmark.api.pages.auth import (
    ActiveStaff,
    ConsoleDep,
    CsrfField,
    check_csrf,
    forbidden,
    redirect,
)
from hallmark.api.pages.rendering import render
from hallmark.core.errors import NotFoundError, PermissionDeniedError
from hallmark.services.access import staff as staff_accounts
from hallmark.services.access.logins import Staff

router = APIRouter(include_in_schema=False)
STAFF_PATH = "/console/staff"


def _admin(request: Request, staff: Staff, console: ConsoleDep) -> Response | None:
    """The 403 page (audited) for anyone but an organisation administrator."""
    if staff.role == "admin":
        return None
    return forbidden(
        request, staff, console, messages.FORBIDDEN, action=f"{request.method} {STAFF_PATH}"
    )


def _show_staff(
    request: Request, staff: Staff, console: ConsoleDep, done: str | None = None
) -> Response:
    with console.reads() as session:
        members = staff_accounts.list_staff(session, organisation_id=staff.organisation_id)
    return render(request, "staff.html", staff=staff, members=members, notice=messages.notice(done))


@router.get(STAFF_PATH)
def staff_page(
    request: Request, staff: ActiveStaff, console: ConsoleDep, done: str | None = None
) -> Response:
    return _admin(request, staff, console) or _show_staff(request, staff, console, done)


def _set_enabled(
    request: Request, staff: Staff, console: ConsoleDep, user_id: str, *, enabled: bool
) -> Response:
    refusal = _admin(request, staff, console)
    if refusal is not None:
        return refusal
    try:
        staff_accounts.set_staff_enabled(
            sessions=console.sessions,
            ref=user_id,
            enabled=enabled,
            by=staff_accounts.ConsoleAdmin(staff.user_id, staff.organisation_id, staff.audit),
            wait=console.policy.write_wait,
        )
    except (NotFoundError, PermissionDeniedError) as exc:
        return render(
            request,
            "error.html",
            status_code=exc.http_status,
            staff=staff,
            title=messages.UNEXPECTED,
            message=messages.PageMessage(
                messages.NOT_FOUND if exc.http_status == 404 else messages.FORBIDDEN
            ),
        )
    return redirect(f"{STAFF_PATH}?done={'enabled' if enabled else 'disabled'}")


@router.post(STAFF_PATH + "/{user_id}/disable")
def disable(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    user_id: str,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    return _set_enabled(request, staff, console, user_id, enabled=False)


@router.post(STAFF_PATH + "/{user_id}/enable")
def enable(
    request: Request,
    staff: ActiveStaff,
    console: ConsoleDep,
    user_id: str,
    csrf_token: CsrfField = "",
) -> Response:
    check_csrf(request, staff, csrf_token)
    return _set_enabled(request, staff, console, user_id, enabled=True)
