"""The OpenAPI document as the API answers: every error an operation can give is documented,
in the one error envelope, and `OPTIONS` (and a 405) names every method a path serves.

FastAPI documents only a route's success and its request validation (in its own 422 shape);
the error answers Hallmark gives on every route (`api/errors.py`) are added here, by method.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


def error_doc(description: str) -> dict[str, Any]:
    """An operation's own error answer for its `responses`, in the one error envelope."""
    return {
        "description": description + ' (body: {"error": {"code", "message", "details"}})',
        "content": {"application/json": {}},
    }


#: The errors any API operation may answer, and those only writes give.
COMMON_ERRORS = {
    401: "No API key, or one that is unknown, revoked or of a disabled organisation",
    404: "No such object, or one the caller may not see",
    422: "The request is not valid: `details.fields` names each field",
    500: "An unexpected error: `details.request_id` names it in the server's log",
    503: "The database or the chain does not answer, or the server is shutting down",
}
WRITE_ERRORS = {
    400: "The body cannot be read (a malformed multipart upload)",
    403: "The caller's role may not perform this write",
    409: "A conflict with stored records, or an Idempotency-Key reused for another request",
    413: "The body is over the size limit, or has more rows than allowed",
}
_WRITES = frozenset({"post", "put", "patch", "delete"})
#: What a path or query text may hold when its own rule says nothing: any character but NUL,
#: which `guards` refuses in every URL (PostgreSQL text cannot hold it).
NO_NUL = "^[^\\x00]*$"


def install(app: FastAPI) -> None:
    """Document the error answers of every `/api/v1` operation in the app's OpenAPI document."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def with_errors(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("path", "query"):
                    _refuse_nul(parameter.get("schema", {}))
            errors = dict(COMMON_ERRORS)
            if method in _WRITES:
                errors.update(WRITE_ERRORS)
            responses = operation.setdefault("responses", {})
            for status, description in errors.items():
                documented = responses.get(str(status), {})
                responses[str(status)] = {
                    "description": documented.get("description", description),
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _refuse_nul(schema: dict[str, Any]) -> None:
    """Say in a URL parameter's schema that it holds no NUL (unless its pattern says more)."""
    for member in [schema, *schema.get("anyOf", [])]:
        if member.get("type") == "array" and isinstance(member.get("items"), dict):
            _refuse_nul(member["items"])
        elif member.get("type") == "string" and "pattern" not in member:
            member["pattern"] = NO_NUL


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with the models it nests written in place: for a schema given in a
    route's `openapi_extra` (a multipart part's JSON), which cannot add components of its own.
    The models are not recursive."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method the app's OpenAPI document has at this path (with HEAD for GET, and
    OPTIONS), sorted; empty for a path it does not document."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "allowed_methods", None
    )
    if table is None:
        table = [
            (
                re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"),
                frozenset(method.upper() for method in operations),
            )
            for template, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.allowed_methods = table
    methods: set[str] = set()
    for pattern, served in table:
        if pattern.match(path):
            methods |= served
    if methods:
        methods.add("OPTIONS")
        if "GET" in methods:
            methods.add("HEAD")
    return sorted(methods)


class AllowedMethods:
    """Middleware: `OPTIONS` on a path answers 204 with `Allow` naming every method its routes
    serve; a 405 names them all too (Starlette names only the first route's). The routes are
    looked at only for those two answers, never on the way of any other request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and not _preflight(scope):
            allowed = allowed_methods(scope["app"], scope["path"])
            if allowed:
                response = Response(status_code=204, headers={"Allow": ", ".join(allowed)})
                await response(scope, receive, send)
                return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = allowed_methods(scope["app"], scope["path"])
                if allowed:
                    headers = [
                        (k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(allowed).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_allow)


def _preflight(scope: Scope) -> bool:
    """A CORS preflight (left to the app)."""
    return any(name == b"access-control-request-method" for name, _ in scope.get("headers", []))
