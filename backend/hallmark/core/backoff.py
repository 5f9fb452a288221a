"""Capped exponential backoff: how long to wait after the n-th failure in a row.

One instance counts failures per key (an account, a batch) or for one thing alone (the default
key): the n-th failure in a row waits `base * 2**(n - 1)` seconds, at most `cap`; `clear` after a
success starts again from `base`. Callers that sleep use the delay `fail` returns; callers that
keep running and skip what is backing off ask `ready`.

Hand-written: retry libraries (tenacity, backoff) wrap one call in a retry loop, while the
anchoring worker and the supervisors keep running and only skip or delay what failed.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

#: The key of a backoff that counts the failures of one thing only.
ONE: Hashable = "one"


class Backoff:
    """Capped exponential backoff per key (see the module docstring)."""

    def __init__(self, *, base: float, cap: float) -> None:
        self.base = min(base, cap)
        self.cap = cap
        self._failures: dict[Hashable, int] = {}
        self._until: dict[Hashable, float] = {}

    def ready(self, key: Hashable = ONE) -> bool:
        """Whether the delay after `key`'s last failure has elapsed (no failure: ready)."""
        return time.monotonic() >= self._until.get(key, 0.0)

    def fail(self, key: Hashable = ONE) -> float:
        """Count a failure of `key`; the seconds before it is ready again."""
        failures = self._failures.get(key, 0)
        delay = min(self.base * (1 << min(failures, 30)), self.cap)
        self._failures[key] = failures + 1
        self._until[key] = time.monotonic() + delay
        return delay

    def failures(self, key: Hashable = ONE) -> int:
        """How many times in a row `key` failed."""
        return self._failures.get(key, 0)

    def failing(self, *, but: Hashable | None = None) -> bool:
        """Whether any key (other than `but`) failed since its last success."""
        return any(key != but for key in self._failures)

    def clear(self, key: Hashable = ONE) -> None:
        """A success: the next failure of `key` waits `base` again."""
        self._failures.pop(key, None)
        self._until.pop(key, None)
