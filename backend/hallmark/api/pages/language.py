"""The language switch: a plain link that sets the `hallmark_lang` cookie and goes back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hallmark.api.pages import i18n
from hallmark.api.pages.auth import HOME_PATH, is_https, redirect, safe_next
from hallmark.api.pages.rendering import not_found

router = APIRouter(include_in_schema=False)
#: A year: the choice outlives sessions.
COOKIE_MAX_AGE = 365 * 24 * 3600


@router.get("/language/{code}")
def switch_language(
    request: Request, code: str, next_: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    if code not in i18n.LANGUAGES:
        return not_found(request)
    response = redirect(safe_next(next_) or HOME_PATH)
    response.set_cookie(
        i18n.COOKIE,
        code,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        secure=is_https(request),
        samesite="lax",
        path="/",
    )
    return response
