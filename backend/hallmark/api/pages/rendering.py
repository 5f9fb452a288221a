"""Rendering pages: the Jinja2 environment, its per-request translations, security headers.

Templates live in `api/templates/` and extend `base.html`. Every visible string is in
`{% trans %}` or `_()` (jinja2.ext.i18n, new-style gettext: autoescaped, `%(name)s` filled from
keyword arguments). The translations are chosen per request: the template's `lang` variable
names the catalogue. Responses forbid scripts, framing and other origins by their
Content-Security-Policy; every page works without JavaScript.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import qrcode
import qrcode.constants
import qrcode.image.svg
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from hallmark.api.pages import i18n, messages
from hallmark.core.errors import HallmarkError, TooManyAttemptsError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

#: No script of any origin, no frames, nothing from another origin; forms post here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.translations(context["lang"]).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, number: int) -> str:
    return i18n.translations(context["lang"]).ngettext(singular, plural, number)


@pass_context
def _datetime(context: Context, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return i18n.format_datetime(moment, language=context["lang"], timezone=context["timezone"])


@pass_context
def _number(context: Context, number: float) -> str:
    return i18n.format_number(number, language=context["lang"])


@cache
def static_url(name: str) -> str:
    """A static file's path with its content's hash: a changed file is fetched anew."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def make_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Added by the i18n extension; new style: autoescaped, formatted with keyword arguments.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    environment.filters["datetime"] = _datetime
    environment.filters["number"] = _number
    environment.globals["static_url"] = static_url
    environment.globals["languages"] = i18n.LANGUAGES
    environment.globals["html_lang"] = i18n.HTML_LANG
    environment.globals["role_names"] = messages.ROLE_NAMES
    environment.globals["kind_names"] = messages.KIND_NAMES
    environment.globals["status_names"] = messages.STATUS_NAMES
    return environment


ENVIRONMENT = make_environment()


R = TypeVar("R", bound=Response)


def secure(response: R, *, private: bool = True) -> R:
    """Add the security headers; a private answer is never stored by a cache."""
    response.headers.update(SECURITY_HEADERS)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the request's language (`staff`: who is signed in, if anyone)."""
    runtime = request.app.state.runtime
    context.setdefault("staff", None)
    context.setdefault("error", None)
    language = i18n.negotiate(request)
    html = ENVIRONMENT.get_template(template).render(
        lang=language,
        timezone=runtime.settings.display_timezone,
        path=request.url.path,
        query=request.url.query,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    response.headers["Content-Language"] = i18n.HTML_LANG[language]
    response.headers["Vary"] = "Accept-Language, Cookie"
    return secure(response)


def qr_svg(text: str) -> Markup:
    """A QR code of `text` as inline SVG markup (no script, no style: allowed by the CSP)."""
    image = qrcode.make(
        text,
        image_factory=qrcode.image.svg.SvgPathImage,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
    )
    svg = image.to_string(encoding="unicode")
    # Generated here from our own text, never from markup a user sent.
    return Markup(svg)  # noqa: S704


def refused(
    request: Request,
    template: str,
    exc: HallmarkError,
    **context: Any,
) -> HTMLResponse:
    """The form again, saying why the step was refused, with the matching status."""
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyAttemptsError):
        headers["Retry-After"] = str(exc.retry_after)
    error = messages.refusal(
        exc,
        language=i18n.negotiate(request),
        timezone=request.app.state.runtime.settings.display_timezone,
    )
    status = exc.http_status if 400 <= exc.http_status < 500 else 400
    return render(request, template, status_code=status, headers=headers, error=error, **context)


def not_found(request: Request) -> Response:
    """The console's 404 page."""
    return render(
        request,
        "error.html",
        status_code=404,
        title=messages.NOT_FOUND,
        message=messages.PageMessage(messages.NOT_FOUND),
    )
