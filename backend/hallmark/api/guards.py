"""ASGI middleware in front of the routes: request ids and a catch-all error answer
(`RequestContext`), and authentication before any API body is parsed (`AuthenticatedBodies`).

FastAPI parses a route's JSON body before it resolves the route's dependencies, so without
`AuthenticatedBodies` an unauthenticated caller's body would be parsed, however large or deeply
nested. Here every API write is authenticated first (401 without reading the body), the body is
bounded (413), and a JSON body FastAPI is about to parse is checked by a parser with a nesting
limit (422 beyond it) before the route sees it.
"""

from __future__ import annotations

import re
import uuid

import pydantic_core
import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hallmark.api.deps import authenticate_request
from hallmark.api.errors import error_body, hallmark_error_response
from hallmark.api.responses import FastJSONResponse
from hallmark.api.writes import read_bounded
from hallmark.core.errors import HallmarkError, invalid_field
from hallmark.runtime import Runtime
from hallmark.services.certificates import verification

log = structlog.get_logger("hallmark.api")

#: The nesting limit of the bounded JSON parser (pydantic-core's): deeper bodies are refused.
MAX_BODY_DEPTH = 200

#: A request id a client may choose (`X-Request-ID`); anything else is replaced by our own.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The writes anyone may send (no API key), and the largest body each reads.
PUBLIC_WRITES = {"/api/v1/verify": verification.MAX_BODY_BYTES}


def request_id(scope: Scope) -> str:
    """The request's id (set by `RequestContext`)."""
    return str(scope.get("state", {}).get("request_id", ""))


class RequestContext:
    """Outermost middleware: gives each HTTP request an id (the client's `X-Request-ID` when it
    is a plain token, else a new one), answers it in `X-Request-ID`, and turns any exception that
    escapes the app into a 500 in the error envelope with the request id, its traceback logged
    under the same id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
                break
        rid = offered if _CLIENT_REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            where = _nul_in_url(scope)
            if where is not None:
                refused = invalid_field(where, "a NUL character is not allowed in a URL")
                response = await hallmark_error_response(Request(scope, receive), refused)
                await response(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "request.failed",
                request_id=rid,
                method=scope.get("method"),
                path=scope.get("path"),
            )
            if started:  # the answer is under way: all that is left is to end it
                raise
            response = FastJSONResponse(
                error_body(
                    "internal_error",
                    "an unexpected error occurred; quote the request id when reporting it",
                    {"request_id": rid},
                ),
                status_code=500,
            )
            await response(scope, receive, send_with_id)


def _nul_in_url(scope: Scope) -> str | None:
    """ "path" or "query" when the URL holds a NUL character, which no id, reference or filter
    of ours can hold (PostgreSQL text cannot store one: a lookup with it would fail there)."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        return "query"
    return None


class AuthenticatedBodies:
    """Middleware for API writes (not the single creates, which `SingleCreates` answers before
    this): authenticate (not the `PUBLIC_WRITES`), then bound the body, then check a JSON
    body's nesting."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in _READS
            or not scope["path"].startswith("/api/v1/")
        ):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        public_limit = PUBLIC_WRITES.get(scope["path"])
        try:
            if public_limit is None:
                await authenticate_request(request)
            if _parsed_by_fastapi(scope["path"], request.headers.get("content-type")):
                runtime: Runtime = request.app.state.runtime
                limit = public_limit or runtime.settings.batch_max_bytes
                body = await read_bounded(request, limit)
                check_nesting(body)
                receive = _replay(body, receive)
        except HallmarkError as exc:
            response = await hallmark_error_response(request, exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _parsed_by_fastapi(path: str, content_type: str | None) -> bool:
    """Whether FastAPI parses this request's body as JSON: a route with a body model (batches
    and attachments read their own, bounded), and a JSON media type or none (as FastAPI)."""
    if path.endswith("/batch") or path.startswith("/api/v1/attachments"):
        return False
    if not content_type:
        return True
    subtype = content_type.split(";", 1)[0].strip().lower().rpartition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


def check_nesting(body: bytes) -> None:
    """Refuse JSON nested deeper than `MAX_BODY_DEPTH` (422); other malformed JSON is left to
    the route, which names the fault."""
    if not body:
        return
    try:
        pydantic_core.from_json(body, cache_strings=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise invalid_field(
                "body", f"JSON nested deeper than {MAX_BODY_DEPTH} levels"
            ) from None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read already, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
