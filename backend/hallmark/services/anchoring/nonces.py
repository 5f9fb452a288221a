"""Nonces for the organisations' accounts: one allocator per process, one lock per account.

The next nonce of an account is the larger of the node's pending transaction count and the
highest nonce this process handed out plus one, so transactions signed but not yet visible to
the node (signed, committed, broadcast later; or a load-balanced node that lags) never share a
nonce. Allocation happens under the account's lock; callers that sign and store a transaction
hold `lock(address)` across allocate → sign → commit and `release` the nonce if the commit
fails, so a nonce is never skipped. Accounts are independent: organisations never collide.

`reset` forgets what was handed out above a floor, for when the chain lost transactions (a
reorg, a node restored from an older state): the node's count is the truth again.

Raises:
    ChainUnavailableError: the node does not answer (from `fetch_pending`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class NonceAllocator:
    """Hands out nonces per account; `fetch_pending(address)` asks the node for its count."""

    def __init__(self, *, fetch_pending: Callable[[str], int]) -> None:
        self._fetch_pending = fetch_pending
        self._next: dict[str, int] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()

    def lock(self, address: str) -> threading.RLock:
        """The account's lock (re-entrant: `allocate` takes it too)."""
        with self._guard:
            return self._locks.setdefault(address, threading.RLock())

    def allocate(self, address: str) -> int:
        """The next nonce of `address`: max(node pending count, highest handed out + 1)."""
        with self.lock(address):
            nonce = max(self._fetch_pending(address), self._next.get(address, 0))
            self._next[address] = nonce + 1
            return nonce

    def release(self, address: str, nonce: int) -> None:
        """Give back the last nonce handed out (its transaction was never stored)."""
        with self.lock(address):
            if self._next.get(address) == nonce + 1:
                self._next[address] = nonce

    def reset(self, address: str, floor: int = 0) -> None:
        """Forget nonces handed out at or above `floor` (the chain lost their transactions)."""
        with self.lock(address):
            self._next[address] = min(self._next.get(address, 0), floor)
