"""The single-create endpoints' request path: `POST /api/v1/lots`, `/products`, `/steps`.

These are the endpoints factory systems call once per piece and per step, hundreds of times a
second. FastAPI's routing and dependency solving took more of such a request than storing it
(the group commit): `SingleCreates` answers them straight from the ASGI scope, before the
router, with the same steps and the same answers as the FastAPI routes, which stay declared for
the OpenAPI document and serve the app when it runs without this middleware:

1. the caller's key, checked for form (looked up with the group's other keys at commit);
2. the body, bounded by `batch_max_bytes` (413), validated from its bytes by the kind's item
   adapter (422, fields named `body.<field>` as FastAPI names them);
3. the Idempotency-Key, and the request's fingerprint;
4. the group commit, and its answer (`writes.create_single`).

Errors go through the app's own handlers, so a denial is audited as on every other route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hallmark.api.deps import create_call, presented_key
from hallmark.api.errors import hallmark_error_response, validation_error_response
from hallmark.api.writes import create_single, read_bounded
from hallmark.core.errors import HallmarkError
from hallmark.runtime import Runtime
from hallmark.services.access.keys import key_prefix
from hallmark.services.records import imports
from hallmark.services.records.kinds import Kind

#: The paths answered here, and the kind of record each one creates.
SINGLE_CREATES: dict[str, Kind[Any, Any, Any]] = {
    f"/api/v1/{name}": kind for name, kind in imports.KINDS.items()
}


class SingleCreates:
    """ASGI middleware: answers `POST` on the single-create paths, passes the rest on."""

    def __init__(
        self, app: ASGIApp, kinds: Mapping[str, Kind[Any, Any, Any]] = SINGLE_CREATES
    ) -> None:
        self.app = app
        self.kinds = dict(kinds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.kinds.get(scope["path"]) if scope["type"] == "http" else None
        if kind is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await answer_single_create(request, kind)
        await response(scope, receive, send)


async def answer_single_create(request: Request, kind: Kind[Any, Any, Any]) -> Response:
    """The answer to one single-create request (errors included)."""
    runtime: Runtime = request.app.state.runtime
    try:
        key_prefix(presented_key(request))  # a missing or malformed key: 401 before the body
        body = await read_bounded(request, runtime.settings.batch_max_bytes)
        try:
            item = _item(request, kind, body)
        except pydantic.ValidationError as exc:  # the body's fault; one raised later would be ours
            return validation_error_response(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            )
        # The routes' own dependency, called as FastAPI would (the body is read already).
        call = await create_call(request, request.headers.get("idempotency-key"))
        return await create_single(call, kind=kind, item=item)
    except HallmarkError as exc:
        return await hallmark_error_response(request, exc)


def _item(request: Request, kind: Kind[Any, Any, Any], body: bytes) -> Any:
    """The body as the kind's item. As FastAPI does, a body sent without a JSON media type is
    not parsed as JSON (and is refused as not an object)."""
    media_type = request.headers.get("content-type", "application/json")
    subtype = media_type.split(";", 1)[0].strip().lower().rpartition("/")[2]
    if subtype != "json" and not subtype.endswith("+json"):
        return kind.item_adapter.validate_python(body, from_attributes=True)
    return kind.item_adapter.validate_json(body)
