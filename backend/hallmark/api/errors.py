"""The one place domain errors become HTTP responses: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hallmark.core.errors import HallmarkError
from hallmark.services.access import audit

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


#: Answers that deny access; each is written to the audit log.
DENIALS = frozenset({401, 403, 404})


async def _hallmark_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HallmarkError)
    return await hallmark_error_response(request, exc)


async def hallmark_error_response(request: Request, exc: HallmarkError) -> JSONResponse:
    """A domain error's answer; a denial's audit entry is queued (`DenialLog`)."""
    if exc.http_status in DENIALS:
        _audit_denial(request, exc)
    headers = None
    if exc.http_status in (429, 503):  # refused or unavailable for now: when to try again
        retry_after = exc.details.get("retry_after_seconds", exc.details.get("retry_after", 1))
        headers = {"Retry-After": str(retry_after)}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details),
        status_code=exc.http_status,
        headers=headers,
    )


def _audit_denial(request: Request, exc: HallmarkError) -> None:
    """Queue a denial's audit entry (written apart from the request's own, rolled-back work,
    rate-limited per caller, or per client address when the caller is unknown)."""
    runtime = getattr(request.app.state, "runtime", None)
    denials = runtime.denial_log() if runtime is not None else None
    if denials is None:
        return
    actor = getattr(request.state, "actor", None)
    client = request.client.host if request.client is not None else "unknown"
    source = f"principal {actor.principal_id}" if actor is not None else f"client {client}"
    denials.record(
        audit.AuditEvent(
            actor.audit if actor is not None else audit.SYSTEM,
            _action(request),
            outcome="denied",
            object_kind=str(exc.details.get("kind")) if exc.details.get("kind") else None,
            object_id=str(exc.details.get("id")) if exc.details.get("id") else None,
            details={"status": exc.http_status, "code": exc.code},
        ),
        source=source,
    )


def _action(request: Request) -> str:
    """`METHOD /path`, with the route's template when there is one (ids make paths too long
    for the audit log's action column)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return f"{request.method} {path}"[:64]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc.errors())


def validation_error_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """422 naming each invalid field (`body.kind`, `query.mode`) with pydantic's message."""
    fields = [
        {
            "field": ".".join(str(p) for p in err["loc"]),
            "message": err["msg"],
            "type": err["type"],
        }
        for err in errors
    ]
    return JSONResponse(
        error_body("validation_error", "the request is not valid", {"fields": fields}),
        status_code=422,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HallmarkError, _hallmark_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
