"""The public verification's rate limit: `POST /api/v1/verify`, the verify page `/v/{id}` and
the GS1 Digital Link resolver are open to anyone and may each call the chain, so each client
address gets `verify_rate_limit` requests (one budget for the three), counted in a sliding
window by the `limits` library in this process's memory.

Over the limit: 429 with Retry-After (the API and the resolver answer the error shape
`rate_limited`, the page a page in its language). The limit holds per API process: with
`api_processes` N an address may get up to N times it. The client address is the connection's,
or the X-Forwarded-For of a proxy uvicorn trusts (FORWARDED_ALLOW_IPS; the same machine's).
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.types import Scope

from hallmark.core.errors import RateLimitedError


class ClientRateLimit:
    """Requests per client address under one or more limits (`"20/second;600/minute"`)."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.items: list[RateLimitItem] = [] if spec == "off" else parse_many(spec)
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, client: str) -> None:
        """Count one request of `client`.

        Raises:
            RateLimitedError: one of the limits is used up.
        """
        for item in self.items:
            if not self._limiter.hit(item, "verify", client):
                reset_at = self._limiter.get_window_stats(item, "verify", client).reset_time
                wait = max(1, math.ceil(reset_at - time.time()))
                raise RateLimitedError(wait, limit=str(item))


#: The request state's flag of a request already counted before the router (kept answers).
COUNTED = "verify_rate_counted"


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def check_verify_rate(request: Request) -> None:
    """A FastAPI dependency: count this request against its address's verification budget,
    unless it was counted before the router (`count_before_router`).

    Raises:
        RateLimitedError: the address used up its budget for now.
    """
    if getattr(request.state, COUNTED, False):
        return
    limit: ClientRateLimit = request.app.state.verify_rate_limit
    limit.hit(client_address(request))


def count_before_router(scope: Scope) -> bool:
    """Count a request answered before the router (a kept verification) against its address's
    budget, marking it counted so the route does not count it again.

    Returns False when the budget is used up: the request must then go to its route, whose
    dependency refuses it in the route's own shape (the error, or the page in its language).
    """
    limit: ClientRateLimit = scope["app"].state.verify_rate_limit
    client = scope.get("client")
    try:
        limit.hit(client[0] if client else "unknown")
    except RateLimitedError:
        return False
    scope.setdefault("state", {})[COUNTED] = True
    return True
