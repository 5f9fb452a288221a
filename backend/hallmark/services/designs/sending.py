"""Sending a design transaction durably: signed, recorded, and only then broadcast.

The filer (`filing`) and the rights sender (`rights`) send from the anchoring worker's cycle
with the organisation accounts' nonces (the worker's allocator, handed in by the runtime as a
`NonceSource`), so filings, rights actions and anchorings of one account never share a nonce.
`send_recorded` holds the account's nonce lock while it allocates a nonce, signs, and commits
the signed transaction with the row it belongs to (the intent); the nonce goes back when either
fails. Only then is the transaction broadcast, so a sender killed at any point finds in the
database what to broadcast again. `put_back_reorged` moves the rows whose block the chain no
longer has back to their sending status (their recorded transaction is broadcast again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import ChainClient
from hallmark.chain.ledger import SignedTransaction
from hallmark.core.errors import HallmarkError, TransactionRejectedError
from hallmark.store.models import DesignRegistration, DesignRightsAction

log = structlog.get_logger(__name__)

#: Blocks behind the head within which sent transactions are checked for reorgs.
REORG_DEPTH = 64


class Nonces(Protocol):
    """A nonce allocator for organisation accounts (the anchoring worker's)."""

    def lock(self, address: str) -> threading.RLock: ...
    def allocate(self, address: str) -> int: ...
    def release(self, address: str, nonce: int) -> None: ...


@dataclass(frozen=True)
class NonceSource:
    """The anchoring worker's current nonce allocator (`current()`: it is replaced when the
    worker takes the lead), handed in by the runtime so filings and anchorings of one account
    never share a nonce."""

    current: Callable[[], Nonces]

    def lock(self, address: str) -> threading.RLock:
        return self.current().lock(address)

    def allocate(self, address: str) -> int:
        return self.current().allocate(address)

    def release(self, address: str, nonce: int) -> None:
        self.current().release(address, nonce)


def send_recorded(
    *,
    sessions: sessionmaker[Session],
    nonces: Nonces,
    account: LocalAccount,
    sign: Callable[[int], SignedTransaction],
    model: type[DesignRegistration] | type[DesignRightsAction],
    row_id: str,
    moves: tuple[str, str],
    also: dict[str, Any] | None = None,
    what: str,
    broadcast: Callable[[str], None],
) -> SignedTransaction:
    """Under the account's nonce lock: a nonce, `sign(nonce)`, and the signed transaction stored
    in row `row_id` of `model` as it moves from one status to the next (`moves`), its last error
    cleared and the columns of `also` set, committed; then `broadcast(raw_tx)`.

    Raises:
        HallmarkError: the row is not in the first status (`what` changed meanwhile); the nonce
            is released, as it is on any other failure before the commit.
    """
    before, after = moves
    with nonces.lock(account.address):
        nonce = nonces.allocate(account.address)
        try:
            signed = sign(nonce)
            record = (
                update(model)
                .where(model.id == row_id, model.status == before)
                .values(
                    status=after,
                    nonce=signed.nonce,
                    raw_tx=signed.raw_tx,
                    tx_hash=signed.tx_hash,
                    last_error=None,
                    **(also or {}),
                )
            )
            with sessions() as session, session.begin():
                updated = session.execute(record)
                if updated.rowcount != 1:  # type: ignore[attr-defined]
                    raise HallmarkError(f"the {what} changed meanwhile")
        except BaseException:
            nonces.release(account.address, nonce)
            raise
        broadcast(signed.raw_tx)
    return signed


def broadcast_once(client: ChainClient, raw_tx: str, *, refused_event: str) -> None:
    """Broadcast a recorded transaction; a refusal is logged as `refused_event`, not raised."""
    try:
        client.send_raw_transaction(raw_tx)
    except TransactionRejectedError as exc:
        # Known already, or its nonce is used: the receipt step sorts it out.
        log.info(refused_event, error=exc.message)


def put_back_reorged(
    *,
    sessions: sessionmaker[Session],
    client: ChainClient,
    model: type[DesignRegistration] | type[DesignRightsAction],
    moves: tuple[str, str],
    head: int,
    also: dict[str, Any] | None = None,
) -> list[str]:
    """The `model` rows in the first status of `moves`, sent from here (a recorded transaction)
    and mined within REORG_DEPTH blocks of `head`, whose block the chain no longer has: moved
    to the second status, their block cleared and the columns of `also` set. Their ids."""
    status, back = moves
    with sessions() as session:
        rows = session.execute(
            select(model.id, model.block_number, model.block_hash).where(
                model.status == status,
                model.block_number >= max(0, head - REORG_DEPTH),
                model.raw_tx.is_not(None),
            )
        ).all()
    if not rows:
        return []
    hashes = client.retrieve_block_hashes([int(r.block_number) for r in rows])
    lost = [
        r.id
        for r in rows
        if (hashes.get(int(r.block_number)) or "").lower() != (r.block_hash or "").lower()
    ]
    if lost:
        with sessions() as session, session.begin():
            session.execute(
                update(model)
                .where(model.id.in_(lost))
                .values(status=back, block_number=None, block_hash=None, **(also or {}))
            )
    return lost
