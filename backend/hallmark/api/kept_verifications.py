"""The verification reads' request path when their answer is already made: `GET
/api/v1/certificates/{id}/verification` and the verify page `GET /v/{id}`.

A certificate's verification, its JSON and its page in each language are made once per block
(`services.certificates.verification`; at a block where nothing it read changed, put together
from the previous block's with the new block number) and then kept; what remained of a request
was FastAPI's routing, its dependency solving and the hop to a worker thread, more than the
answer itself.
`KeptVerifications` answers these requests from the ASGI scope, before the router, when all of
this holds, and passes every other request on unchanged:

1. the block watcher's reading of the latest block is fresh (no question to the node needed);
2. the certificate's verification for that block is kept;
3. the answer asked for (the JSON, or the page in the request's language at that address) is
   kept with it: the very bytes and headers the route answered.

Each request answered here is counted against its client address's verification budget
(`api.ratelimit`), as the routes count theirs; one over its budget goes to its route, which
refuses it. Anything else (the first request of a block, an unknown certificate, a stale
reading, a page not made yet) goes to the routes, which stay the only place answers are made:
the OpenAPI document, the errors and the headers are theirs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hallmark.api.pages.verify import page_answer, page_rendition
from hallmark.api.ratelimit import count_before_router
from hallmark.api.routes.verification import JSON_RENDITION, MAX_REF_LENGTH, json_answer
from hallmark.services.certificates.verification import VerificationCache

API_PREFIX, API_SUFFIX = "/api/v1/certificates/", "/verification"
PAGE_PREFIX = "/v/"


class KeptVerifications:
    """ASGI middleware: answers `GET` on the verification API and the verify page from what is
    kept for the latest block; passes the rest on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = kept_answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def kept_answer(scope: Scope) -> Response | None:
    """The kept answer to this request, or None when the routes must answer it."""
    path: str = scope["path"]
    if path.startswith(API_PREFIX) and path.endswith(API_SUFFIX):
        ref, page = path[len(API_PREFIX) : -len(API_SUFFIX)], False
    elif path.startswith(PAGE_PREFIX):
        ref, page = path[len(PAGE_PREFIX) :], True
    else:
        return None
    if not ref or len(ref) > MAX_REF_LENGTH or "/" in ref:
        return None
    # Public reads: a kept answer costs its address one request of its budget as a routed one does.
    if not count_before_router(scope):
        return None
    cache: VerificationCache | None = getattr(scope["app"].state, "verification_cache", None)
    block = cache.fresh_block() if cache is not None else None
    if cache is None or block is None:
        return None
    found = cache.get(ref, block)
    if found is None:
        return None
    if not page:
        body = found.renditions.get(JSON_RENDITION)
        return json_answer(body[0]) if body is not None else None
    kept = found.renditions.get(page_rendition(Request(scope)))
    return page_answer(kept) if kept is not None else None
