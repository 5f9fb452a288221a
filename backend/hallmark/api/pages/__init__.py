"""Server-rendered pages (Jinja2): the staff console's sign-in, shell and account pages, and
the foundation later pages build on (layout, languages, sessions, CSRF, security headers).

`install(app)` mounts them: the routers, `/static` (one hand-written style sheet), and the
answers to what page dependencies raise (a redirect to sign in, a refused form, a busy
database: the error page, 503 with Retry-After). Adding a page:
a router module here, a template extending `base.html`, its strings in both catalogues
(docs/CONSOLE.md).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from hallmark.api.errors import hallmark_error_response
from hallmark.api.pages import account, designs, language, messages, signin, staff, verify
from hallmark.api.pages.auth import (
    CsrfRejectedError,
    PageRedirect,
    get_policy,
    get_sessions,
    redirect,
)
from hallmark.api.pages.rendering import STATIC_DIR, not_found, render, secure
from hallmark.core.errors import ServiceUnavailableError
from hallmark.services.access import logins


class _StaticFiles(StaticFiles):
    """Static files with the pages' security headers; cached, as their URLs carry a hash."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        secure(response, private=False)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


async def _redirect(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRedirect)
    return redirect(exc.location)


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfRejectedError)
    sessions = await get_sessions(request)
    policy = await get_policy(request)
    await run_in_threadpool(
        logins.record_denial,
        sessions=sessions,
        staff=exc.staff,
        action=f"{request.method} {request.url.path}"[:64],
        details={"status": 403, "reason": f"csrf_{exc.reason}"},
        wait=policy.write_wait,
    )
    return render(
        request,
        "error.html",
        status_code=403,
        staff=exc.staff if exc.staff is not None and exc.staff.active else None,
        title=messages.CSRF_REJECTED,
        message=messages.PageMessage(messages.CSRF_REJECTED),
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    """A console page whose write waited too long for the database: the error page in the
    page's language, 503 with Retry-After (nothing was changed); the API answers in JSON."""
    assert isinstance(exc, ServiceUnavailableError)
    if not request.url.path.startswith("/console"):
        return await hallmark_error_response(request, exc)
    return render(
        request,
        "error.html",
        status_code=503,
        headers={"Retry-After": str(exc.details.get("retry_after_seconds", 1))},
        title=messages.BUSY,
        message=messages.PageMessage(messages.BUSY),
    )


def install(app: FastAPI) -> None:
    """Mount the pages on the app."""
    app.include_router(signin.router)
    app.include_router(account.router)
    app.include_router(staff.router)
    app.include_router(designs.router)
    app.include_router(language.router)
    app.include_router(verify.router)
    # Any other console path: the page saying so, not the API's JSON.
    app.add_api_route("/console/{rest:path}", not_found, methods=["GET"], include_in_schema=False)
    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(PageRedirect, _redirect)
    app.add_exception_handler(CsrfRejectedError, _csrf_rejected)
    app.add_exception_handler(ServiceUnavailableError, _unavailable)
