"""Server-rendered pages (Jinja2): the staff console's sign-in, shell and account pages, and
the foundation later pages build on (layout, languages, sessions, CSRF, security headers).

`install(app)` mounts them: the routers, `/static` (one hand-written style sheet), and the
answers to what page dependencies raise (a redirect to sign in, a refused form). Adding a page:
a router module here, a template extending `base.html`, its strings in both catalogues
(docs/CONSOLE.md).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from hallmark.api.pages import account, language, messages, signin, staff
from hallmark.api.pages.auth import CsrfRejectedError, PageRedirect, get_sessions, redirect
from hallmark.api.pages.rendering import STATIC_DIR, render, secure
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
    await run_in_threadpool(
        logins.record_denial,
        sessions=sessions,
        staff=exc.staff,
        action=f"{request.method} {request.url.path}"[:64],
        details={"status": 403, "reason": f"csrf_{exc.reason}"},
    )
    return render(
        request,
        "error.html",
        status_code=403,
        staff=exc.staff if exc.staff is not None and exc.staff.active else None,
        title=messages.CSRF_REJECTED,
        message=messages.PageMessage(messages.CSRF_REJECTED),
    )


def _not_found(request: Request) -> Response:
    return render(
        request,
        "error.html",
        status_code=404,
        title=messages.NOT_FOUND,
        message=messages.PageMessage(messages.NOT_FOUND),
    )


def install(app: FastAPI) -> None:
    """Mount the pages on the app."""
    app.include_router(signin.router)
    app.include_router(account.router)
    app.include_router(staff.router)
    app.include_router(language.router)
    # Any other console path: the page saying so, not the API's JSON.
    app.add_api_route("/console/{rest:path}", _not_found, methods=["GET"], include_in_schema=False)
    app.mount("/static", _StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(PageRedirect, _redirect)
    app.add_exception_handler(CsrfRejectedError, _csrf_rejected)
